"""The nested gradient code: one cyclic code per level, with nested supports."""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping

import numpy as np

from gclib._verify import check_integer, check_seed, is_integer
from gclib.codes.base import GradientCode
from gclib.codes.cyclic_repetition import CyclicRepetitionCode
from gclib.codes.placement import cyclic_window
from gclib.codes.uncoded import UncodedCode

__all__ = ["NestedGradientCode"]


def _level_seed(seed: int | np.random.Generator | None, s: int) -> int | None:
    """A seed for level ``s`` that depends on ``seed`` and ``s`` only (not on the other levels)."""
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**63))
    return int(np.random.SeedSequence([seed, s]).generate_state(1, dtype=np.uint64)[0])


class NestedGradientCode:
    r"""A nested gradient code: codes ``B^{(s)}`` for the levels ``s ∈ S`` with nested supports.

    Worker ``i`` stores the cyclic window ``W_i = (i, i+1, …, i+s_max) mod n`` and computes its
    partitions in that order. The level-``s`` code (:meth:`code`) is a cyclic code whose row
    ``i`` is supported on the first ``s + 1`` entries of ``W_i``, so the partial gradients
    computed for a low level are reused unchanged by every higher level: after ``k`` tasks a
    worker can send the level-``s`` message of every ``s < k``.

    Level 0 is the uncoded code; every other level is a :class:`CyclicRepetitionCode` with the
    default construction (the candidate of smallest worst decoding growth), so the numerical
    accuracy of each level is that of the cyclic repetition code of the same ``(n, s)``. The
    level-``s`` code depends on ``n``, ``s`` and an integer ``seed`` only, not on the other
    levels. Measured by
    ``benchmarks/bench_codes.py``: every level of the tested nested codes up to ``n = 60``
    decodes every sampled responder set with relative error below 1e-9.

    Args:
        n: the number of workers (and partitions), ``n >= 1``.
        levels: the level set ``S``, distinct integers in ``[0, n)`` (any order, at least one).
        seed: ``None``, an integer or a ``numpy.random.Generator`` for the random candidates of
            the level codes; ``None`` means a fixed seed.
    """

    def __init__(
        self, n: int, levels: Iterable[int], seed: int | np.random.Generator | None = None
    ) -> None:
        self._n = check_integer(n, "n", 1)
        seed = check_seed(seed)
        if isinstance(levels, str | bytes) or not isinstance(levels, Iterable):
            raise ValueError(f"Argument 'levels' must be an iterable of integers, not {levels!r}.")
        checked = [check_integer(s, "levels' entry", 0, self._n) for s in levels]
        if not checked:
            raise ValueError("Argument 'levels' must not be empty.")
        if len(set(checked)) != len(checked):
            raise ValueError(f"Argument 'levels' must hold distinct integers, not {checked}.")
        self._levels = tuple(sorted(checked))
        codes: dict[int, GradientCode] = {}
        for s in self._levels:
            if s == 0:
                codes[s] = UncodedCode(self._n)
            else:
                codes[s] = CyclicRepetitionCode(self._n, s, seed=_level_seed(seed, s))
        self._codes = types.MappingProxyType(codes)

    @property
    def n(self) -> int:
        """The number of workers, equal to the number of data partitions."""
        return self._n

    @property
    def levels(self) -> tuple[int, ...]:
        """The level set ``S``, sorted."""
        return self._levels

    @property
    def s_max(self) -> int:
        """The largest level: every worker stores ``s_max + 1`` partitions."""
        return self._levels[-1]

    @property
    def codes(self) -> Mapping[int, GradientCode]:
        """Read-only mapping level ``s`` -> the level-``s`` code."""
        return self._codes

    def support(self, i: int) -> tuple[int, ...]:
        """Worker ``i``'s window ``(i, i+1, …, i+s_max) mod n``, in computation order."""
        return cyclic_window(check_integer(i, "i", 0, self._n), self._n, self.s_max + 1)

    def code(self, s: int) -> GradientCode:
        """The level-``s`` code; its ``support(i)`` is a prefix of :meth:`support` ``(i)``."""
        if not is_integer(s) or s not in self._codes:
            raise ValueError(f"Argument 's' must be one of the levels {self._levels}, not {s!r}.")
        return self._codes[int(s)]

    def __repr__(self) -> str:
        return f"NestedGradientCode(n={self._n}, levels={self._levels})"
