"""The argument checks of every public constructor and function, in one place.

Every checker names the argument, states what it must be and shows what it was, e.g.
``Argument 's' must be an integer in [0, 10), not 12.``. A value of the wrong type raises
:class:`ArgumentTypeError`, which is a ``TypeError`` and, so that ``except ValueError`` keeps
catching every bad argument, also a ``ValueError``; a value of the right type but out of range
raises ``ValueError``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "ArgumentTypeError",
    "check_integer",
    "check_real",
    "check_probability",
    "check_instance",
    "check_seed",
    "check_times",
    "is_integer",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (both a ``TypeError`` and a ``ValueError``)."""


def is_integer(value: object) -> bool:
    """Whether ``value`` is an integer (Python or NumPy) and not a bool."""
    if type(value) is int:  # the common case, without the abstract class's slower check
        return True
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
        raise ArgumentTypeError(f"{expected}, not {value!r}.")
    result = int(value)  # type: ignore[arg-type]
    if (low is not None and result < low) or (high is not None and result >= high):
        raise ValueError(f"{expected}, not {result}.")
    return result


def check_seed(
    seed: object, name: str = "seed", *, high: int | None = None
) -> int | np.random.Generator | None:
    """Accept ``None``, an integer in ``[0, high)`` (any ``>= 0`` without ``high``) or a
    ``numpy.random.Generator``."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if is_integer(seed) and 0 <= int(seed) and (high is None or int(seed) < high):  # type: ignore[arg-type]
        return int(seed)  # type: ignore[arg-type]
    integers = "a non-negative integer" if high is None else f"an integer in [0, {high})"
    raise ValueError(
        f"Argument {name!r} must be None, {integers} or a numpy.random.Generator, not {seed!r}."
    )


def check_real(
    value: object,
    name: str,
    *,
    low: float = -math.inf,
    allow_inf: bool = False,
    positive: bool = False,
) -> float:
    """``value`` as a float in ``[low, inf)`` (``(0, inf)`` if ``positive``), finite unless
    ``allow_inf``; nan is refused."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"Argument {name!r} must be a real number, not {value!r}.")
    result = float(value)
    too_small = result <= 0.0 if positive else result < low
    if math.isnan(result) or (math.isinf(result) and not allow_inf) or too_small:
        bound = "positive" if positive else f"at least {low:g}"
        bound += " (inf allowed)" if allow_inf else " and finite"
        raise ValueError(f"Argument {name!r} must be {bound}, not {value!r}.")
    return result


def check_probability(value: object, name: str) -> float:
    """``value`` as a probability in ``[0, 1]``."""
    result = check_real(value, name, low=0.0)
    if result > 1.0:
        raise ValueError(f"Argument {name!r} must be a probability in [0, 1], not {value!r}.")
    return result


def check_instance(value: object, name: str, kind: type, description: str | None = None) -> None:
    """Refuse ``value`` unless it is an instance of ``kind``."""
    if not isinstance(value, kind):
        what = description or kind.__name__
        raise ArgumentTypeError(f"Argument {name!r} must be a {what}, not {type(value).__name__}.")


def check_times(t: object, name: str = "t") -> np.ndarray:
    """``t`` as a float array (any shape) without nan."""
    try:
        times = np.asarray(t, dtype=float)
    except (TypeError, ValueError):
        raise ArgumentTypeError(
            f"Argument {name!r} must be a real number or an array of them, not {t!r}."
        ) from None
    if np.isnan(times).any():
        raise ValueError(f"Argument {name!r} must not contain nan.")
    return times
