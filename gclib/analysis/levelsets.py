"""Choosing the level set ``S`` of the nested code.

Each level in ``S`` gives the master one more moment at which it may stop, so a larger ``S``
never raises the latency pathwise (``T_S = min_{s∈S} T_s``); with a budget on ``|S|`` (every level
is one more code to build and one more decoding vector to store per responder set) the question
is which levels to keep. The objective is the exact expected latency of
:func:`~gclib.expected_latency`. When unresponsive workers can exceed every tolerance
(``P(T = ∞) > 0``, e.g. with crashes) every set has ``E[T] = ∞``; sets are then compared by the
probability of never finishing first (it depends on ``max S`` only) and by ``E[T | T < ∞]`` next.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from gclib._verify import check_instance, check_integer
from gclib.analysis.latency import expected_latency, failure_probability
from gclib.model import RuntimeModel
from gclib.schemes.coded import NestedScheme

__all__ = ["LevelSetChoice", "best_level_set", "best_level_sets"]

# up to this many candidate sets the search is exhaustive
_EXHAUSTIVE_LIMIT = 256


@dataclass(frozen=True)
class LevelSetChoice:
    """A level set and its exact performance.

    Attributes:
        levels: the level set ``S`` (sorted).
        expected_latency: ``E[T]`` (``inf`` if ``failure_probability > 0``).
        failure_probability: ``P(T = ∞)``.
        conditional_latency: ``E[T | T < ∞]``.
        exhaustive: whether every set of this size was evaluated.
    """

    levels: tuple[int, ...]
    expected_latency: float
    failure_probability: float
    conditional_latency: float
    exhaustive: bool


def _check(n: int, size: int, model: RuntimeModel, s_max: int) -> None:
    n = check_integer(n, "n", 1)
    if isinstance(s_max, bool) or not isinstance(s_max, int | np.integer) or not 0 <= s_max < n:
        raise ValueError(
            f"Argument 's_max' must be an integer in [0, n) = [0, {n}), not {s_max!r}."
        )
    valid_size = isinstance(size, int | np.integer) and not isinstance(size, bool)
    if not valid_size or not 1 <= size <= s_max + 1:
        raise ValueError(
            f"Argument 'size' must be an integer in [1, s_max + 1] = [1, {s_max + 1}], "
            f"not {size!r}."
        )
    check_instance(model, "model", RuntimeModel)
    model.check_workers(n)


class _Objective:
    """Evaluates (and remembers) the key ``(P(T = ∞), E[T | T < ∞])`` of level sets."""

    def __init__(self, n: int, model: RuntimeModel, s_max: int) -> None:
        self.n, self.model, self.s_max = n, model, s_max
        self.cache: dict[tuple[int, ...], tuple[float, float]] = {}

    def __call__(self, levels: tuple[int, ...]) -> tuple[float, float]:
        if levels not in self.cache:
            scheme = NestedScheme(levels, self.s_max)
            never = failure_probability(self.n, scheme, self.model)
            mean = expected_latency(self.n, scheme, self.model, conditional=True)
            # P(T = ∞) depends on max S only; rounding keeps last-bit noise from deciding
            self.cache[levels] = (float(f"{never:.9g}"), mean)
        return self.cache[levels]

    def choice(self, levels: tuple[int, ...], exhaustive: bool) -> LevelSetChoice:
        never, mean = self(levels)
        return LevelSetChoice(levels, mean if never == 0.0 else math.inf, never, mean, exhaustive)


def _local_search(objective: _Objective, start: tuple[int, ...]) -> tuple[int, ...]:
    """Swap one level for one outside the set while that lowers the objective."""
    current = start
    while True:
        swaps = [
            tuple(sorted((set(current) - {out_level}) | {in_level}))
            for out_level in current
            for in_level in range(objective.s_max + 1)
            if in_level not in current
        ]
        best = min(swaps, key=lambda levels: objective(levels), default=current)
        if not objective(best) < objective(current):
            return current
        current = best


_SEARCHES = ("auto", "exhaustive", "greedy")


def _check_search(search: object) -> str:
    if search not in _SEARCHES:
        raise ValueError(
            f"Argument 'search' must be one of {', '.join(map(repr, _SEARCHES))}, not {search!r}."
        )
    return str(search)


def _search(
    objective: _Objective, size: int, previous: tuple[int, ...] | None, search: str = "auto"
) -> tuple[tuple[int, ...], bool]:
    pool = range(objective.s_max + 1)
    small = math.comb(objective.s_max + 1, size) <= _EXHAUSTIVE_LIMIT
    if search == "exhaustive" or (search == "auto" and small):
        best = min(itertools.combinations(pool, size), key=lambda levels: objective(levels))
        return tuple(best), True
    # greedy: extend the previous set by the level that helps most, then improve by swaps
    base = previous if previous is not None and len(previous) == size - 1 else None
    if base is None:
        base = ()
        for _ in range(size - 1):
            base = min(
                (tuple(sorted(base + (s,))) for s in pool if s not in base),
                key=lambda levels: objective(levels),
            )
    start = min(
        (tuple(sorted(base + (s,))) for s in pool if s not in base),
        key=lambda levels: objective(levels),
    )
    # one candidate set of size s_max + 1; a single swap from the best singleton is exhaustive
    return _local_search(objective, start), size in (1, objective.s_max + 1)


def best_level_set(
    n: int, size: int, model: RuntimeModel, s_max: int, *, search: str = "auto"
) -> LevelSetChoice:
    """The level set ``S ⊆ {0, …, s_max}`` of ``size`` levels with the smallest expected latency.

    The search is exhaustive when there are at most 256 candidate sets. Otherwise it is a
    greedy construction (add, one at a time, the level that lowers the expected latency most)
    followed by a local search that swaps one level in ``S`` for one outside while that helps;
    the result is then a local optimum under single swaps (``exhaustive`` is ``False``). The
    greedy start is sound because adding a level never increases the latency pathwise.

    Args:
        n: the number of workers.
        size: ``|S|``, in ``[1, s_max + 1]``.
        model: the runtime and straggler model.
        s_max: the placement's largest tolerance.
        search: ``"auto"`` (exhaustive up to 256 candidate sets, greedy beyond), or
            ``"exhaustive"`` or ``"greedy"`` whatever the number of candidates.

    Returns:
        The best :class:`LevelSetChoice` found (ties go to the lexicographically first set).
    """
    _check(n, size, model, s_max)
    search = _check_search(search)
    objective = _Objective(int(n), model, int(s_max))
    levels, exhaustive = _search(objective, int(size), None, search)
    return objective.choice(levels, exhaustive)


def best_level_sets(
    n: int, model: RuntimeModel, s_max: int, *, search: str = "auto"
) -> dict[int, LevelSetChoice]:
    """:func:`best_level_set` for every size ``1 … s_max + 1`` (``size → choice``).

    The evaluations are shared between sizes, and each greedy search starts from the best set
    one level smaller.
    """
    _check(n, 1, model, s_max)
    search = _check_search(search)
    objective = _Objective(int(n), model, int(s_max))
    result: dict[int, LevelSetChoice] = {}
    previous = None
    for size in range(1, int(s_max) + 2):
        levels, exhaustive = _search(objective, size, previous, search)
        result[size] = objective.choice(levels, exhaustive)
        previous = levels
    return result
