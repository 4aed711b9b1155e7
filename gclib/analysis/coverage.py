"""The exact coverage bound ``T_cov`` of the cyclic placement.

Setting. Worker ``i`` computes the partitions ``i, i+1, …, i+s_max`` (mod ``n``) in that order.
With ``K = s_max + 1`` and ``N_i(t) ∈ {0, …, K}`` its number of tasks done by time ``t``, its
computed prefix is the arc ``[i, i + N_i)``. Partition ``j`` is covered at ``t`` iff
``(j − i) mod n < N_i(t)`` for some ``i``, and ``T_cov`` is the first time every partition is.
No scheme with this placement and task order can finish earlier (the streaming scheme attains it,
the cover scheme adds its request round).

Transfer matrices. Scan the positions ``j = 0, 1, …, n−1`` with the state ``r_j ∈ {0, …, K−1}``,
how far the prefixes of the workers scanned so far reach past ``j``. Worker ``j`` covers ``j`` iff
``max(r_j, N_j) ≥ 1`` and moves the state to ``r_{j+1} = max(0, max(r_j, N_j) − 1)``. Per worker
two ``K × K`` matrices of probabilities of ``N_j``: ``G[r, r'] = P(max(0, max(r, N) − 1) = r')``
(any outcome) and ``A[r, r'] = P(max(r, N) = r' + 1)`` (partition ``j`` covered). Since a prefix
is shorter than the cycle, the state entering position 0 (the reach of the prefixes that wrap
around) equals the state the scan leaves at position ``n``; summing over it closes the cycle:
``P(T_cov ≤ t) = tr(A_0 A_1 ⋯ A_{n−1})``.

Cutting the cycle. Rather than ``1 − tr(…)`` (a subtraction that loses the tail, and ``K`` start
states), sum over the first uncovered partition ``k``. Partition ``k`` is uncovered iff
``r_k = 0`` and ``N_k = 0``; then ``r_{k+1} = 0`` too, so the cycle opens into a line that starts
at ``k+1`` in state 0, runs freely to ``n−1``, wraps, covers ``0, …, k−1`` and returns to ``k`` in
state 0:

    P(T_cov > t) = Σ_k P(N_k = 0) · e_0ᵀ G_{k+1} ⋯ G_{n−1} A_0 ⋯ A_{k−1} e_0,

a sum of products of non-negative numbers (accurate far into the tail). Both matrices are "a
column sum times a row" plus a subdiagonal, so a vector crosses one worker in ``O(K)``: ``O(n K)``
per time point for independent workers.

Fixed number of stragglers. The ``σ`` stragglers form a uniformly random subset, so the terms are
expectations over their positions. Rotating the cycle puts ``k`` at position 0; conditioning on
the type of worker 0 and on the number ``c`` of stragglers among the ``m = n−1−k`` workers of the
``G`` part (hypergeometric), the positions within the two parts are independent and uniform and
the expectation factors into ``x̄_m^{(c)} · ȳ_k^{(σ'−c)}``, chains averaged over their
arrangements, built by recurrences (the last worker of ``m`` is a straggler with probability
``c/m``). This costs ``O(n σ K)`` per time point.

Expected value. ``E[T_cov] = ∫₀^∞ P(T_cov > t) dt``: ``P(T_cov > t) = 1`` before the fastest
worker can finish a task (``t < a f_min``); from there adaptive Gauss–Kronrod quadrature (the one
of the latency theory) up to a point ``X`` beyond which ``∫_X^∞ P(X < T_cov < ∞) dt ≤
Σ_i E[(F_{i,K} − X)⁺]`` (once every responsive worker has finished its ``K`` tasks the coverage
cannot change any more). ``E[T_cov] = ∞`` as soon as ``K`` consecutive workers can all be
unresponsive (:func:`coverage_failure_probability` ``> 0``). With deterministic tasks
(``μ = ∞``) the survival function is piecewise constant and the integral a finite sum.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from gclib._verify import check_instance, check_integer, check_times
from gclib.analysis.dynamic_program import _task_probabilities
from gclib.analysis.quadrature import _integrate, finish_excess
from gclib.model import RuntimeModel, WorkerGroup

__all__ = [
    "coverage_survival",
    "coverage_failure_probability",
    "expected_coverage_time",
]

# time points per chunk are chosen so that the stored chains stay below this many floats
_CHUNK_ELEMENTS = 2_000_000
# relative tolerance of the quadrature
_REL_TOL = 1e-10
# the integral beyond the quadrature's upper limit is bounded by this fraction of the time scale
_TAIL_TOL = 1e-13
# P(N ≥ k) grows like x^k from k a f on: only the first orders need a quadrature breakpoint
_KINK_ORDERS = 3


# time points at which the expected coverage time evaluates the program, typically (390 to 480
# measured for n = 100 … 10 000): the work estimate assumes the upper end
_TYPICAL_POINTS = 480


def coverage_work(n: int, s_max: int, model: RuntimeModel) -> tuple[int, int]:
    """An estimate of the work of :func:`expected_coverage_time`: the array elements its chains
    process (``n (σ + 1) K²`` per time point, ``σ`` the tracked group's size, ``K = s_max + 1``)
    and its steps weighted by their own cost (two passes of ``n`` steps per chunk of time
    points, each heavier by a third per tracked straggler)."""
    K = s_max + 1
    groups = model.worker_groups(n)
    tracked = 0 if len(groups) == 1 else min(g.count for g in groups)
    chunk = max(1, _CHUNK_ELEMENTS // (n * (tracked + 1) * K))
    chunks = -(-_TYPICAL_POINTS // chunk)
    elements = n * (tracked + 1) * K * K * _TYPICAL_POINTS
    steps = round(2 * n * chunks * (1 + tracked / 3))
    return elements, steps


# ---------------------------------------------------------------------------------- arguments
def _check_arguments(n: object, s_max: object, model: object) -> tuple[int, int]:
    n = check_integer(n, "n", 1)
    s_max = check_integer(s_max, "s_max", 0, n)
    check_instance(model, "model", RuntimeModel)
    model.check_workers(n)
    return n, s_max


# ------------------------------------------------------------------------ task-count laws
def _task_count_law(
    model: RuntimeModel, group: WorkerGroup, t: np.ndarray, K: int
) -> tuple[np.ndarray, np.ndarray]:
    """The law of ``N(t)`` for one worker of ``group``: ``P(N = k)`` for ``k = 0 … K`` (shape
    ``(len(t), K+1)``) and ``P(N ≤ k)`` for ``k = 0 … K−1`` (shape ``(len(t), K)``).

    Each probability comes from whichever incomplete-gamma tail is small, so none loses its
    relative accuracy by cancellation.
    """
    pmf = np.zeros((K + 1, t.size))
    cdf = np.zeros((K, t.size))
    for weight, factor in zip(group.weights, group.factors, strict=True):
        at_least, below = _task_probabilities(model, factor, t, K)  # rows m = 1 … K+1
        pmf[0] += weight * below[0]
        middle = np.where(
            at_least[:-2] < 0.5, at_least[:-2] - at_least[1:-1], below[1:-1] - below[:-2]
        )
        pmf[1:K] += weight * middle
        pmf[K] += weight * at_least[K - 1]
        cdf += weight * below[:K]
    return np.maximum(pmf, 0.0).T, np.minimum(cdf, 1.0).T


# ------------------------------------------------------------------------ one worker's step
def _forward(x: np.ndarray, pmf: np.ndarray, cdf: np.ndarray, *, free: bool) -> np.ndarray:
    """The row vector ``x G`` (``free``) or ``x A`` for the states ``r = 0 … K−1`` on the last axis.

    ``x A`` at ``r'`` is the mass with ``max(r, N) = r' + 1``, that is
    ``x[m] P(N ≤ m) + (Σ_{r<m} x[r]) P(N = m)`` with ``m = r' + 1``; ``x G`` adds to ``r' = 0``
    the mass with ``max(r, N) = 0``, ``x[0] P(N = 0)`` (partition uncovered).
    """
    below = np.cumsum(x, axis=-1)  # below[m − 1] = Σ_{r<m} x[r] for m = 1 … K
    result = below * pmf[..., 1:]
    result[..., :-1] += x[..., 1:] * cdf[..., 1:]
    if free:
        result[..., 0] += x[..., 0] * pmf[..., 0]
    return result


def _backward(y: np.ndarray, pmf: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """The column vector ``A y``:
    ``(A y)[r] = P(N ≤ r) y[r−1] [r ≥ 1] + Σ_{m>r} P(N = m) y[m−1]``."""
    result = np.cumsum((pmf[..., 1:] * y)[..., ::-1], axis=-1)[..., ::-1]
    result[..., 1:] += cdf[..., 1:] * y[..., :-1]
    return result


# ------------------------------------------------------------------------ the cycle
def _mixing_weights(steps: int, tracked: int) -> tuple[np.ndarray, np.ndarray]:
    """For each step ``m = 1 … steps`` and count ``c = 0 … tracked``: the probabilities ``c/m``
    and ``(m−c)/m`` that the newest of ``m`` uniformly arranged workers, ``c`` of them tracked,
    is tracked or not (0 where ``c > m``)."""
    m = np.arange(1, steps + 1, dtype=float)[:, None]
    c = np.arange(tracked + 1, dtype=float)[None, :]
    hit = np.where(c <= m, c / m, 0.0)
    miss = np.where(c <= m, (m - c) / m, 0.0)
    return hit, miss


@functools.lru_cache(maxsize=64)
def _hypergeometric(total: int, tracked: int) -> np.ndarray:
    """``H[m, c]``: the probability that ``c`` of the first ``m`` of ``total`` uniformly arranged
    workers are tracked, ``tracked`` of them in all (``m = 0 … total``, ``c = 0 … tracked``)."""
    m = np.arange(total + 1)[:, None]
    c = np.arange(tracked + 1)[None, :]
    table = stats.hypergeom.pmf(c, total, tracked, m) if tracked else np.ones((total + 1, 1))
    table = np.nan_to_num(table)
    table.flags.writeable = False
    return table


def _survival_chunk(
    n: int, laws: list[tuple[np.ndarray, np.ndarray]], tracked: int, width: int
) -> np.ndarray:
    """``P(T_cov > t)`` for one chunk of times, from the task-count laws of the worker types.

    ``laws[0]`` is the law of the untracked workers and ``laws[1]`` (if any) of the ``tracked``
    workers, whose positions form a uniformly random subset.
    """
    pmf_u, cdf_u = laws[0]
    pmf_t, cdf_t = laws[-1]
    size = pmf_u.shape[0]
    hit, miss = _mixing_weights(n - 1, tracked)
    hit, miss = hit[:, :, None, None], miss[:, :, None, None]

    def mix(vector: np.ndarray, step: Callable[..., np.ndarray], m: int) -> np.ndarray:
        """Average over the type of the ``m``-th worker added to the chains (axis 0: count)."""
        result = miss[m - 1] * step(vector, pmf_u, cdf_u)
        if tracked:
            result[1:] += hit[m - 1, 1:] * step(vector[:-1], pmf_t, cdf_t)
        return result

    # ȳ_k^{(c)} = averaged A-chains of k workers with c tracked, applied to e_0
    chains = np.zeros((n, tracked + 1, size, width))
    chains[0, 0, :, 0] = 1.0
    for k in range(1, n):
        chains[k] = mix(chains[k - 1], _backward, k)

    # for worker 0 (the uncovered partition) of each type: its probability, P(N_0 = 0), and the
    # number σ' of tracked workers among the n − 1 others
    starts = [((n - tracked) / n, pmf_u[:, 0], tracked)]
    if tracked:
        starts.append((tracked / n, pmf_t[:, 0], tracked - 1))
    totals = np.zeros((len(starts), size))
    free_forward = functools.partial(_forward, free=True)
    row = np.zeros((tracked + 1, size, width))
    row[0, :, 0] = 1.0
    for m in range(n):
        if m:
            row = mix(row, free_forward, m)
        k = n - 1 - m
        for index, (_, _, others) in enumerate(starts):
            dots = np.einsum("cij,cij->ci", row[: others + 1], chains[k, others::-1])
            totals[index] += _hypergeometric(n - 1, others)[m] @ dots
    return sum(w * p0 * total for (w, p0, _), total in zip(starts, totals, strict=True))


def _survival(n: int, s_max: int, model: RuntimeModel, t: np.ndarray) -> np.ndarray:
    """``P(T_cov > t)`` for a flat array ``t`` of times (arguments checked)."""
    K = s_max + 1
    groups = model.worker_groups(n)
    if len(groups) == 1:
        ordered, tracked = list(groups), 0
    else:
        # track the smaller group: the chains carry its count
        ordered = sorted(groups, key=lambda g: -g.count)
        tracked = ordered[1].count
    chunk = max(1, _CHUNK_ELEMENTS // (n * (tracked + 1) * K))
    result = np.empty(t.size)
    for begin in range(0, t.size, chunk):
        part = t[begin : begin + chunk]
        laws = [_task_count_law(model, group, part, K) for group in ordered]
        result[begin : begin + chunk] = _survival_chunk(n, laws, tracked, K)
    return np.clip(result, 0.0, 1.0)


def coverage_survival(t: float | np.ndarray, n: int, s_max: int, model: RuntimeModel) -> np.ndarray:
    """The exact survival function ``P(T_cov > t)`` of the coverage time, element-wise over ``t``.

    ``T_cov`` is the first time every partition lies in the computed prefix of some worker, with
    worker ``i`` computing ``i, i+1, …, i+s_max`` (mod ``n``) in that order (see the module
    documentation for the transfer-matrix program). Communication costs are not included.

    Args:
        t: times (any shape; ``inf`` gives the failure probability).
        n: the number of workers (and partitions).
        s_max: the last task of a window is ``s_max`` (``K = s_max + 1`` tasks per worker).
        model: the runtime and straggler model.

    Returns:
        An array of the shape of ``t`` (a 0-d array for a scalar ``t``).

    Examples:
        >>> import gclib
        >>> from gclib.analysis.coverage import coverage_survival
        >>> model = gclib.RuntimeModel(
        ...     1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
        >>> float(coverage_survival(1.0, 10, 4, model))
        1.0
    """
    n, s_max = _check_arguments(n, s_max, model)
    times = check_times(t)
    return _survival(n, s_max, model, times.ravel()).reshape(times.shape)


# ------------------------------------------------------------------------ failure
def _failure_possible(n: int, s_max: int, model: RuntimeModel) -> bool:
    """Whether ``K`` workers can all be unresponsive at once (then ``K`` consecutive ones can,
    the positions of a fixed number of stragglers being uniformly random)."""
    groups = model.worker_groups(n)
    return sum(g.count for g in groups if math.inf in g.factors) >= s_max + 1


def coverage_failure_probability(n: int, s_max: int, model: RuntimeModel) -> float:
    """``P(T_cov = ∞)``: the probability that some partition is never covered.

    That happens iff the ``K = s_max + 1`` workers that hold it, ``j − s_max, …, j``, are all
    unresponsive (slowdown ``inf`` or crashed); it is :func:`coverage_survival` at ``t = ∞``.
    """
    n, s_max = _check_arguments(n, s_max, model)
    if not _failure_possible(n, s_max, model):
        return 0.0
    return float(_survival(n, s_max, model, np.array([math.inf]))[0])


# ------------------------------------------------------------------------ expected value
def _finite_factors(model: RuntimeModel, n: int) -> list[float]:
    return sorted({f for g in model.worker_groups(n) for f in g.factors if math.isfinite(f)})


def _tail_bound(n: int, K: int, model: RuntimeModel, x: float) -> float:
    """An upper bound of ``∫_x^∞ P(x < T_cov < ∞) dt`` (:func:`finish_excess`)."""
    return finish_excess(model, model.worker_groups(n), K, x)


@functools.lru_cache(maxsize=256)
def _expected(n: int, s_max: int, model: RuntimeModel) -> tuple[float, float]:
    """``(E[T_cov], error bound)`` for checked arguments."""
    if _failure_possible(n, s_max, model):
        return math.inf, 0.0
    return _partial_mean(n, s_max, model)


@functools.lru_cache(maxsize=256)
def _partial_mean(n: int, s_max: int, model: RuntimeModel) -> tuple[float, float]:
    """``(E[T_cov ; T_cov < ∞], error bound)``: ``∫ (P(T_cov > t) − ν) dt`` with
    ``ν = P(T_cov = ∞)``."""
    never = coverage_failure_probability(n, s_max, model)
    if never >= 1.0:
        return 0.0, 0.0
    K, a = s_max + 1, model.shift
    factors = _finite_factors(model, n)
    start = a * factors[0]  # no task is finished before a · f_min
    scale = factors[-1] * model.mean_task_time

    def survival(t: np.ndarray) -> np.ndarray:
        return np.maximum(_survival(n, s_max, model, t) - never, 0.0)

    if math.isinf(model.rate):
        # piecewise constant between the task completions k a f
        points = np.unique([k * a * f for f in factors for k in range(1, K + 1)])
        points = points[points >= start]
        if points.size < 2:
            return start * (1 - never), 0.0
        middles = (points[:-1] + points[1:]) / 2
        return start * (1 - never) + float(np.sum(survival(middles) * np.diff(points))), 0.0

    tolerance = _TAIL_TOL * scale
    upper = max(K * a * factors[-1], start) + scale
    while _tail_bound(n, K, model, upper) > tolerance:
        upper = 1.5 * upper + scale
    kinks = [k * a * f for f in factors for k in range(1, min(K, _KINK_ORDERS) + 1)]
    edges = np.array(sorted({start, upper, *(x for x in kinks if start < x < upper)}))
    value, error = _integrate(
        lambda t: survival(t)[None], edges, abs_tol=1e-12 * scale, rel_tol=_REL_TOL
    )
    bound = float(error[0] + _tail_bound(n, K, model, upper))
    return start * (1 - never) + float(value[0]), bound


def expected_coverage_time(n: int, s_max: int, model: RuntimeModel) -> tuple[float, float]:
    """The exact mean coverage time ``E[T_cov] = ∫₀^∞ P(T_cov > t) dt`` and an error bound.

    Args:
        n: the number of workers (and partitions).
        s_max: each worker computes ``K = s_max + 1`` tasks at most.
        model: the runtime and straggler model (its communication costs are ignored).

    Returns:
        ``(value, error)``: the expected coverage time in model time units and a bound of its
        numerical error (the quadrature's error estimate plus a bound of the truncated tail; 0
        for deterministic tasks). ``(inf, 0.0)`` when some partition is never covered with
        positive probability (see :func:`coverage_failure_probability`).

    Examples:
        >>> import gclib
        >>> from gclib.analysis.coverage import expected_coverage_time
        >>> model = gclib.RuntimeModel(
        ...     1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
        >>> value, error = expected_coverage_time(10, 4, model)
        >>> round(value, 2), error < 1e-8
        (4.86, True)
    """
    n, s_max = _check_arguments(n, s_max, model)
    return _expected(n, s_max, model)
