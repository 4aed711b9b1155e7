"""Small argument checkers shared by the public constructors and methods.

Every checker raises ``ValueError`` with a message that names the argument, states what it must be
and shows what it was, e.g. ``Argument 's' must be an integer in [0, 10), not 12.``
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_integer",
    "check_seed",
    "is_integer",
]


def is_integer(value: object) -> bool:
    """Whether ``value`` is an integer (Python or NumPy) and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _interval(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high})"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" < {high}"
    return ""


def check_integer(value: object, name: str, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``[low, high)``; raise otherwise.

    Args:
        value: the argument to check; bools and floats (even integral ones) are rejected.
        name: the argument's name, used in the error message.
        low: inclusive lower bound, or ``None`` for none.
        high: exclusive upper bound, or ``None`` for none.
    """
    expected = f"Argument {name!r} must be an integer{_interval(low, high)}"
    if not is_integer(value):
        raise ValueError(f"{expected}, not {value!r}.")
    result = int(value)  # type: ignore[arg-type]
    if (low is not None and result < low) or (high is not None and result >= high):
        raise ValueError(f"{expected}, not {result}.")
    return result


def check_seed(seed: object, name: str = "seed") -> int | np.random.Generator | None:
    """Accept ``None``, a non-negative integer or a ``numpy.random.Generator``."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if is_integer(seed) and int(seed) >= 0:  # type: ignore[arg-type]
        return int(seed)  # type: ignore[arg-type]
    raise ValueError(
        f"Argument {name!r} must be None, a non-negative integer or a numpy.random.Generator, "
        f"not {seed!r}."
    )
