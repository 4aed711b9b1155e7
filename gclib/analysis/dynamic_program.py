"""The dynamic program over the counts ``C_m``.

Dynamic program. Only the counts ``C_m`` matter, and for i.i.d. workers with
``p_m = P(N(t) ≥ m)`` the count ``C_K`` is ``Bin(n, p_K)`` and, going down ``m = K, …, 1``,
``C_m − C_{m+1}`` given ``C_{m+1}`` is binomial on the ``n − C_{m+1}`` remaining workers with
probability ``(p_m − p_{m+1}) / (1 − p_{m+1})``. Carrying only the probability mass of the states
in which no condition holds gives ``P(T > t)`` in ``O(K n²)`` operations per ``t``. With a fixed
number of stragglers the workers form two groups of i.i.d. workers; the state is then the pair of
group counts and the binomial steps act on each group separately. ``p_m`` is a mixture over the
slowdown ``f`` of the Gamma(``m``, ``μ``) CDF at ``t/f − m a`` (crashed or unresponsive workers
have ``f = ∞`` and never finish a task). The transition probabilities are formed from the lower
*and* upper incomplete gamma functions, so the far tail of ``P(T > t)`` keeps its relative
accuracy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from gclib.analysis.problem import _Problem
from gclib.model import RuntimeModel, WorkerGroup

# log-probabilities are clipped here so that 0 · log(0) never produces nan
_LOG_ZERO = -1e30
# time steps above which the transition matrices are built in chunks (memory)
_CHUNK_ELEMENTS = 4_000_000


# ---------------------------------------------------------------------- task-count probabilities
def _task_probabilities(
    model: RuntimeModel, factor: float, t: np.ndarray, max_tasks: int
) -> tuple[np.ndarray, np.ndarray]:
    """``P(N(t) ≥ m)`` and ``P(N(t) < m)`` for ``m = 1 … max_tasks + 1``, each ``(K+1, len(t))``.

    Both come from the regularized incomplete gamma functions directly, so neither loses
    relative accuracy where it is small.
    """
    m = np.arange(1, max_tasks + 2, dtype=float)[:, None]
    shape = (max_tasks + 1, t.size)
    if math.isinf(factor):
        return np.zeros(shape), np.ones(shape)
    with np.errstate(invalid="ignore"):
        x = t[None, :] / factor - m * model.shift
    if math.isinf(model.rate):
        # the same tolerance as RuntimeModel.prob_tasks_done: k·a·f counts as reached
        done = x >= -1e-12 * np.maximum(1.0, m * model.shift)
        return done.astype(float), (~done).astype(float)
    y = model.rate * np.maximum(x, 0.0)
    m = np.broadcast_to(m, shape)
    return special.gammainc(m, y), special.gammaincc(m, y)


def _transition_logs(
    model: RuntimeModel, group: WorkerGroup, t: np.ndarray, max_tasks: int
) -> tuple[np.ndarray, np.ndarray]:
    """``log q_m`` and ``log(1 − q_m)`` for ``m = 1 … K`` (rows ``m − 1``), shape ``(K, len(t))``.

    ``q_m = P(N ≥ m | N < m + 1) = P(N = m) / P(N ≤ m)`` for ``m < K`` and ``q_K = P(N ≥ K)``.
    """
    K = max_tasks
    at_least = np.zeros((K + 1, t.size))
    below = np.zeros((K + 1, t.size))
    exactly = np.zeros((K, t.size))
    for weight, factor in zip(group.weights, group.factors, strict=True):
        p, q = _task_probabilities(model, factor, t, K)
        at_least += weight * p
        below += weight * q
        # P(N = m) from whichever pair of tails is small, to avoid cancellation
        exactly += weight * np.where(p[:-1] < 0.5, p[:-1] - p[1:], q[1:] - q[:-1])
    numerator = exactly
    numerator[K - 1] = at_least[K - 1]
    denominator = below[1:].copy()
    denominator[K - 1] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_q = np.log(numerator) - np.log(denominator)
        log_not_q = np.log(below[:-1]) - np.log(denominator)
    empty = denominator <= 0.0  # no worker left below m + 1: any q will do
    log_q = np.where(empty, 0.0, log_q)
    log_not_q = np.where(empty, _LOG_ZERO, log_not_q)
    log_q = np.clip(np.nan_to_num(log_q, nan=_LOG_ZERO), _LOG_ZERO, 0.0)
    log_not_q = np.clip(np.nan_to_num(log_not_q, nan=_LOG_ZERO), _LOG_ZERO, 0.0)
    return log_q, log_not_q


@functools.lru_cache(maxsize=64)
def _log_binomial_table(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log C(count − j, i − j)`` (``-inf`` for ``i < j``), ``i − j`` and ``count − i``."""
    i = np.arange(count + 1)[:, None]
    j = np.arange(count + 1)[None, :]
    d = i - j
    with np.errstate(invalid="ignore"):
        table = (
            special.gammaln(count - j + 1) - special.gammaln(d + 1) - special.gammaln(count - i + 1)
        )
    table = np.where(d >= 0, table, -np.inf)
    return table, d.astype(float), (count - i).astype(float)


# Up to this group size the binomial steps use scaled factorials in floating point.
_FACTORIAL_LIMIT = 150
# Factors and masses below this are set to 0: they cannot matter for probabilities, and keeping
# every product above the smallest normal number avoids the very slow subnormal arithmetic.
_FLUSH = 1e-150


def _binomial_step(
    mass: np.ndarray, count: int, log_q: np.ndarray, log_not_q: np.ndarray
) -> np.ndarray:
    """One binomial step of a group of ``count`` workers on ``mass`` of shape ``(T, count+1, R)``:
    ``new[t, i] = Σ_j C(count − j, i − j) q^{i−j} (1 − q)^{count−i} mass[t, j]``.

    With ``r = count − j`` and ``d = i − j``, ``C(r, d) q^d (1−q)^{r−d}`` factors as
    ``[r!/c^r] · [(cq)^d/d!] · [(c(1−q))^{r−d}/(r−d)!]`` (``c = count``), each factor within
    ``[e^{−c}, e^{c}]``; the middle one depends on ``i − j`` only, so the sum is a product with a
    Toeplitz matrix (a strided view, no exponential per matrix entry). Larger groups use the full
    matrix of binomial probabilities, formed in logarithms.
    """
    size = count + 1
    if count > _FACTORIAL_LIMIT:
        table, d, rest = _log_binomial_table(count)
        logs = table[None] + d[None] * log_q[:, None, None] + rest[None] * log_not_q[:, None, None]
        matrices = np.exp(logs)
        matrices[matrices < _FLUSH] = 0.0
        mass = np.where(mass < _FLUSH, 0.0, mass)
        return matrices @ mass
    steps = np.arange(size, dtype=float)
    log_factorials = special.gammaln(steps + 1)
    log_count = math.log(count) if count > 0 else 0.0
    kernel = np.exp(steps[None, :] * (log_q[:, None] + log_count) - log_factorials[None, :])
    kernel[kernel < _FLUSH] = 0.0
    padded = np.zeros((log_q.size, 2 * size - 1))
    padded[:, count:] = kernel
    row, col = padded.strides
    toeplitz = np.lib.stride_tricks.as_strided(
        padded[:, count:], shape=(log_q.size, size, size), strides=(row, col, -col), writeable=False
    )
    rest = steps[::-1]  # count − j
    scaled = mass * np.exp(log_factorials[::-1] - rest * log_count)[None, :, None]
    scaled[scaled < _FLUSH] = 0.0
    outer = np.exp(rest[None, :] * (log_not_q[:, None] + log_count) - log_factorials[::-1][None, :])
    outer[outer < _FLUSH] = 0.0
    result = (toeplitz @ scaled) * outer[:, :, None]
    result[result < _FLUSH] = 0.0
    return result


def _apply_axis(
    mass: np.ndarray, axis: int, count: int, log_q: np.ndarray, log_not_q: np.ndarray
) -> np.ndarray:
    """Apply the binomial step of one group to the state axis ``axis`` of ``mass``
    (shape ``(T, *states, B)``)."""
    moved = np.moveaxis(mass, axis, 1)
    shape = moved.shape
    result = _binomial_step(moved.reshape(shape[0], shape[1], -1), count, log_q, log_not_q)
    return np.moveaxis(result.reshape(shape), 1, axis)


def _dynamic_program(
    model: RuntimeModel,
    groups: Sequence[WorkerGroup],
    t: np.ndarray,
    max_tasks: int,
    keep: np.ndarray,
) -> np.ndarray:
    """The mass of the paths that pass every filter, for several filters at once.

    ``keep[b, m − 1, c]`` says whether a state with ``C_m = c`` (over the workers of ``groups``)
    survives filter ``b``. Returns an array ``(len(t), B)``.

    Filters that agree with filter 0 on the steps ``m > m_b`` share its computation down to
    ``m_b`` (the load computation holds one worker at ``j`` tasks, which only matters from step
    ``j`` down), which roughly halves the work for many filters.
    """
    t = np.asarray(t, dtype=float).ravel()
    batch = keep.shape[0]
    counts = [g.count for g in groups]
    if not counts:
        # no random worker: C_m = 0 for every m
        return np.broadcast_to(np.all(keep[:, :, 0], axis=1).astype(float), (t.size, batch)).copy()
    # the step at which each filter leaves filter 0 (0: never)
    differs = np.any(keep != keep[:1], axis=2)  # (B, K)
    split_at = np.array([np.nonzero(row)[0].max() + 1 if row.any() else 0 for row in differs])
    order = [0] + [b for m in range(max_tasks, 0, -1) for b in np.nonzero(split_at == m)[0]]
    followers = np.nonzero((split_at == 0) & (np.arange(batch) > 0))[0]
    states = int(np.prod([c + 1 for c in counts]))
    chunk = max(1, _CHUNK_ELEMENTS // max(states * (max(counts) + 1), states * batch))
    total = sum(
        np.arange(c + 1).reshape([-1 if a == g else 1 for a in range(len(counts))])
        for g, c in enumerate(counts)
    )
    # masks[m − 1][..., position] for the filters in `order`
    masks = [np.moveaxis(keep[order, m - 1][:, total], 0, -1) for m in range(1, max_tasks + 1)]
    result = np.empty((t.size, batch))
    for start in range(0, t.size, chunk):
        times = t[start : start + chunk]
        logs = [_transition_logs(model, g, times, max_tasks) for g in groups]
        mass = np.zeros((times.size, *[c + 1 for c in counts], 1))
        mass[(slice(None),) + (0,) * len(counts)] = 1.0
        for m in range(max_tasks, 0, -1):
            for axis, (count, (log_q, log_not_q)) in enumerate(zip(counts, logs, strict=True)):
                mass = _apply_axis(mass, axis + 1, count, log_q[m - 1], log_not_q[m - 1])
            spawned = int(np.count_nonzero(split_at == m))
            if spawned:
                mass = np.concatenate([mass] + [mass[..., :1]] * spawned, axis=-1)
            mask = masks[m - 1][..., : mass.shape[-1]]
            if not mask.all():
                mass = mass * mask[None]
        sums = mass.reshape(times.size, -1, mass.shape[-1]).sum(axis=1)
        result[start : start + chunk, order] = sums
        result[start : start + chunk, followers] = sums[:, :1]
    return result


def _condition_keep(problem: _Problem, random_workers: int, held: int | None) -> np.ndarray:
    """``keep[m − 1, c]``: no condition holds when ``c`` random workers have ``≥ m`` tasks and one
    further worker is held at ``held`` tasks (``None``: no such worker)."""
    K = problem.max_tasks
    keep = np.ones((K, random_workers + 1), dtype=bool)
    c = np.arange(random_workers + 1)
    for _, m, need in problem.conditions:
        extra = 1 if held is not None and held >= m else 0
        keep[m - 1] &= c + extra < need
    return keep


def _survival_raw(problem: _Problem, t: np.ndarray) -> np.ndarray:
    """``P(T > t)`` of the raw latency, same shape as ``t``."""
    t = np.asarray(t, dtype=float)
    keep = _condition_keep(problem, problem.n, None)[None]
    return _dynamic_program(problem.model, problem.groups, t.ravel(), problem.max_tasks, keep)[
        :, 0
    ].reshape(t.shape)


@functools.lru_cache(maxsize=256)
def _never_probability(problem: _Problem) -> float:
    """``P(T = ∞)``: no condition ever holds (the unresponsive workers exceed the tolerance)."""
    never = float(np.clip(_survival_raw(problem, np.array([np.inf]))[0], 0.0, 1.0))
    return 1.0 if never > 1.0 - 1e-12 else never  # rounding must not turn "never" into "almost"
