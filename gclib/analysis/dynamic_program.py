"""The dynamic program over the counts ``C_m``.

Notation. ``N_i(t)`` is the number of tasks worker ``i`` has finished by time ``t``,
``C_m = #{i : N_i(t) ≥ m}`` and ``D_m = n − C_m = #{i : N_i(t) < m}``. A *filter* says, for each
``m = 1 … K``, which values of ``C_m`` a path may take; the program returns the probability that
``(C_1, …, C_K)`` passes it (for the latency: no condition ``C_m ≥ c`` holds, i.e. ``P(T > t)``).

Chain. For i.i.d. workers ``D_0 = 0`` and, going up ``m = 1 … K``, each of the ``n − D_{m−1}``
workers with at least ``m − 1`` tasks has exactly ``m − 1`` with probability
``h_{m−1} = P(N = m−1) / P(N ≥ m−1)`` (the hazard of the task count), independently, so
``D_m − D_{m−1}`` given the past is ``Bin(n − D_{m−1}, h_{m−1})``: a Markov chain. With a fixed
number of stragglers the workers form two groups of i.i.d. workers; the state is the pair of group
counts and the binomial steps act on each group separately. ``P(N ≥ m)`` is a mixture over the
slowdown ``f`` of the Gamma(``m``, ``μ``) CDF at ``t/f − m a`` (crashed or unresponsive workers
have ``f = ∞`` and never finish a task); the hazards are formed from the lower *and* upper
incomplete gamma functions, so the far tail of ``P(T > t)`` keeps its relative accuracy.

Merged states (exact). ``D_m`` never decreases in ``m``. If every filter is constant, at every
step, on all ``D ≥ L`` (``C ≤ n − L``), the states ``D ≥ L`` can be merged into one: once the
chain is there it stays there and no filter tells its members apart. A condition ``C_m ≥ c``
holds iff ``D_m ≤ n − c``, so for the latency ``L = max(n − c) + 1``, which is ``max S + 1`` for
the nested code and GC(s) (the load and level filters of ``activity`` have the same limit). A
step then costs ``O(L²)`` per time for one group and ``O(L³)`` for two instead of ``O(n²)``
(``O(n⁴)`` for two), independently of ``n``. The merge is exact: it discards no probability.

Discarded mass (rigorous). To keep the arithmetic out of the subnormal range, kernel entries and
state masses below ``flush`` (``1e-150``) are set to 0. Every step is a nonnegative map with
column sums at most 1, so mass removed at some step changes the result by at most itself: the
computed probability ``P̂`` satisfies ``P̂ ≤ P ≤ P̂ + Δ`` with ``Δ`` the sum, along each filter's
path, of the state masses set to 0 and of ``Σ_d mass[d] · loss[d]`` per kernel, ``loss[d]``
bounding the entries of column ``d`` set to 0 (or underflowed; see ``binomial``). The program
returns ``Δ`` per time and filter on request. Rounding errors are not part of ``Δ``: they are
relative, below ``1e-12`` at ``n = 1000``, ``S = {0 … 50}`` (``5e-13`` against 60-digit
arithmetic, from ``P(T > t) ≈ 1`` down to ``6e-8``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gclib.analysis.binomial import _FLUSH, _apply_axis, _axis_loss, _binomial_kernels
from gclib.analysis.problem import _Problem
from gclib.model import RuntimeModel, WorkerGroup

# log-probabilities are clipped here so that 0 · log(0) never produces nan
_LOG_ZERO = -1e30
# time points per chunk are chosen so that a state array holds at most this many elements
_CHUNK_ELEMENTS = 4_000_000


#: the work the programs have done, for the run-time estimates of the command line: binomial
#: kernel entries built (an exp each) and multiply-adds of the state masses with them
WORK = {"kernels": 0, "products": 0}


def _step_work(sizes: Sequence[int], columns: int) -> tuple[int, int]:
    """The work of one step at one time point: a kernel per group (``z (z + 1) / 2`` entries)
    and its product with ``columns`` mass columns of ``prod(sizes)`` states."""
    return sum(z * (z + 1) // 2 for z in sizes), math.prod(sizes) * sum(sizes) * columns


def _count_work(times: int, sizes: Sequence[int], columns: int) -> None:
    """Count one step of a program over ``times`` time points (:data:`WORK`)."""
    kernels, products = _step_work(sizes, columns)
    WORK["kernels"] += times * kernels
    WORK["products"] += times * products


def _state_sizes(counts: Sequence[int], limit: int) -> tuple[int, ...]:
    """The states of each group: its counts below the merge limit and the merged one."""
    return tuple(min(c, limit) + 1 for c in counts)


# ---------------------------------------------------------------------- task-count probabilities
def _task_probabilities(
    model: RuntimeModel, factor: float, t: np.ndarray, max_tasks: int
) -> tuple[np.ndarray, np.ndarray]:
    """``P(N(t) ≥ m)`` and ``P(N(t) < m)`` for ``m = 1 … max_tasks + 1``, each ``(K+1, len(t))``
    (:meth:`~gclib.RuntimeModel.task_count_tails`)."""
    return model.task_count_tails(t, max_tasks + 1, factor)


def _hazard_logs(
    model: RuntimeModel, group: WorkerGroup, t: np.ndarray, max_tasks: int
) -> tuple[np.ndarray, np.ndarray]:
    """``log h_m`` and ``log(1 − h_m)`` for ``m = 0 … K−1`` (rows ``m``), shape ``(K, len(t))``.

    ``h_m = P(N = m) / P(N ≥ m)`` and ``1 − h_m = P(N ≥ m+1) / P(N ≥ m)`` for the group's
    slowdown mixture; ``log(1 − h)`` is taken as ``log1p(−h)`` where ``h < 1/2``.
    """
    K = max_tasks
    at_least = np.zeros((K + 1, t.size))  # P(N ≥ m), m = 0 … K
    exactly = np.zeros((K, t.size))  # P(N = m), m = 0 … K−1
    for weight, factor in zip(group.weights, group.factors, strict=True):
        p, q = _task_probabilities(model, factor, t, K - 1)  # rows m = 1 … K
        at_least[0] += weight
        at_least[1:] += weight * p
        exactly[0] += weight * q[0]
        # P(N = m) from whichever pair of tails is small, to avoid cancellation
        exactly[1:] += weight * np.where(p[:-1] < 0.5, p[:-1] - p[1:], q[1:] - q[:-1])
    denominator = at_least[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_h = np.log(exactly) - np.log(denominator)
        log_ratio = np.log(at_least[1:]) - np.log(denominator)
        log_not_h = np.where(log_h < math.log(0.5), np.log1p(-np.exp(log_h)), log_ratio)
    empty = denominator <= 0.0  # no worker left with m tasks or more: any h will do
    log_h = np.where(empty, 0.0, log_h)
    log_not_h = np.where(empty, _LOG_ZERO, log_not_h)
    log_h = np.clip(np.nan_to_num(log_h, nan=_LOG_ZERO), _LOG_ZERO, 0.0)
    log_not_h = np.clip(np.nan_to_num(log_not_h, nan=_LOG_ZERO), _LOG_ZERO, 0.0)
    return log_h, log_not_h


# ---------------------------------------------------------------------------------- filters
def _merge_limit(keep: np.ndarray) -> int:
    """The least ``L ≥ 1`` such that every filter is constant on ``D ≥ L``, i.e. on
    ``C = 0 … total − L`` (``keep`` of shape ``(B, K, total + 1)`` over ``C``)."""
    total = keep.shape[-1] - 1
    flat = keep.reshape(-1, total + 1)
    differs = np.any(flat != flat[:, :1], axis=0)
    if not differs.any():
        return 1
    return max(1, total - int(np.argmax(differs)) + 1)


@dataclass(frozen=True)
class _Step:
    """What follows the binomial steps ``D_{m−1} → D_m``: the parent of each node (``None``: no
    filter class splits here) and the masks of the states and of the merged state (``None``:
    everything passes)."""

    parent: np.ndarray | None
    states: np.ndarray | None  # (states, nodes)
    merged: np.ndarray | None  # (nodes,)


@dataclass(frozen=True)
class _Plan:
    """The state space (``sizes`` per group, index ``L`` of a group: its merged state) and the
    steps of a batch of filters."""

    sizes: tuple[int, ...]
    beyond: slice | np.ndarray | None  # states merged after every step
    steps: tuple[_Step, ...]
    leaf_of: np.ndarray  # the final node of each filter
    widest: int  # the most nodes at any step


@functools.lru_cache(maxsize=32)
def _plan(counts: tuple[int, ...], limit: int, shape: tuple[int, ...], data: bytes) -> _Plan:
    """The state space and the filter classes for ``keep_d`` (bytes ``data`` of ``shape``),
    where ``keep_d[b, m − 1, d]`` is filter ``b`` on ``D_m = d`` (``d = L``: the merged state).

    Filters that agree on the steps ``1 … m`` share one mass column up to step ``m`` (a tree of
    classes), so a batch of filters that differ only late costs little more than one.
    """
    keep_d = np.frombuffer(data, dtype=bool).reshape(shape)
    sizes = tuple(min(c, limit) + 1 for c in counts)
    grid = sum(
        np.arange(size).reshape([-1 if a == g else 1 for a in range(len(sizes))])
        for g, size in enumerate(sizes)
    ).reshape(-1)
    beyond: slice | np.ndarray | None = grid >= limit
    if not beyond.any():
        beyond = None
    elif len(sizes) == 1:
        beyond = slice(limit, limit + 1)
    position = np.minimum(grid, limit)
    node_of = np.zeros(shape[0], dtype=int)
    steps, widest, previous = [], 1, 1
    for m in range(shape[1]):
        rows = keep_d[:, m]
        _, row_class = np.unique(rows, axis=0, return_inverse=True)
        pairs = np.stack([node_of, row_class.reshape(-1)], axis=1)
        nodes, first, node_of = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
        node_of = node_of.reshape(-1)
        parent = nodes[:, 0]
        split = parent.size != previous or np.any(parent != np.arange(parent.size))
        widest, previous = max(widest, parent.size), parent.size
        mask = rows[first]  # (nodes, L + 1)
        steps.append(
            _Step(
                parent if split else None,
                None if mask[:, :limit].all() else mask[:, position].T.astype(float),
                None if mask[:, limit].all() else mask[:, limit].astype(float),
            )
        )
    return _Plan(sizes, beyond, tuple(steps), node_of, widest)


def _dynamic_program(
    model: RuntimeModel,
    groups: Sequence[WorkerGroup],
    t: np.ndarray,
    max_tasks: int,
    keep: np.ndarray,
    *,
    flush: float = _FLUSH,
    discarded: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The mass of the paths that pass every filter, for several filters at once.

    ``keep[b, m − 1, c]`` says whether a state with ``C_m = c`` (over the workers of ``groups``)
    survives filter ``b``. Returns an array ``(len(t), B)``; with ``discarded``, also the bound
    ``Δ`` of the mass set to 0 below ``flush`` (module documentation), of the same shape.
    """
    t = np.asarray(t, dtype=float).ravel()
    batch = keep.shape[0]
    counts = tuple(g.count for g in groups)
    if not counts:
        # no random worker: C_m = 0 for every m
        value = np.broadcast_to(np.all(keep[:, :, 0], axis=1).astype(float), (t.size, batch))
        return (value.copy(), np.zeros_like(value)) if discarded else value.copy()
    total = sum(counts)
    limit = _merge_limit(keep)
    keep_d = np.ascontiguousarray(keep[:, :, total - np.arange(limit + 1)])
    plan = _plan(counts, limit, keep_d.shape, keep_d.tobytes())
    sizes = plan.sizes
    states = math.prod(sizes)
    chunk = max(1, _CHUNK_ELEMENTS // (states * max(max(sizes), plan.widest)))
    result = np.empty((t.size, batch))
    lost_all = np.empty((t.size, batch))
    for start in range(0, t.size, chunk):
        times = t[start : start + chunk]
        size_t = times.size
        logs = [_hazard_logs(model, g, times, max_tasks) for g in groups]
        mass = np.zeros((size_t, states, 1))
        mass[:, 0] = 1.0
        merged = np.zeros((size_t, 1))
        lost = np.zeros((size_t, 1))
        for m, step in enumerate(plan.steps, start=1):
            _count_work(size_t, sizes, mass.shape[-1])
            # D_{m−1} → D_m, one group after the other
            for axis, (count, (log_h, log_not_h)) in enumerate(
                zip(counts, logs, strict=True), start=1
            ):
                kernel, loss = _binomial_kernels(
                    count, limit, log_h[m - 1], log_not_h[m - 1], flush
                )
                shaped = mass.reshape(size_t, *sizes, -1)
                lost += _axis_loss(shaped, axis, loss)
                mass = _apply_axis(shaped, axis, kernel).reshape(size_t, states, -1)
            if plan.beyond is not None:
                merged = merged + mass[:, plan.beyond].sum(axis=1)
                mass[:, plan.beyond] = 0.0
            flushed = np.where(mass < flush, mass, 0.0)
            lost += flushed.sum(axis=1)
            mass -= flushed
            if step.parent is not None:
                mass, merged, lost = (
                    mass[..., step.parent],
                    merged[:, step.parent],
                    lost[:, step.parent],
                )
            if step.states is not None:
                mass = mass * step.states
            if step.merged is not None:
                merged = merged * step.merged
        survive = mass.sum(axis=1) + merged
        result[start : start + chunk] = survive[:, plan.leaf_of]
        lost_all[start : start + chunk] = lost[:, plan.leaf_of]
    return (result, lost_all) if discarded else result


def _held_dynamic_program(
    model: RuntimeModel,
    groups: Sequence[WorkerGroup],
    t: np.ndarray,
    max_tasks: int,
    held: np.ndarray,
    free: np.ndarray,
    triggers: Sequence[tuple[int, np.ndarray]] = (),
    *,
    flush: float = _FLUSH,
) -> tuple[np.ndarray, np.ndarray]:
    """The filters of the activity, where one further worker is held at ``j`` tasks, for every
    ``j`` at the cost of two passes.

    ``held[m − 1, c]`` is the filter of step ``m`` while the held worker counts among ``C_m``
    (``j ≥ m``), ``free[m − 1, c]`` once it does not; each trigger ``(m, keep)`` replaces the
    filter of step ``m`` by ``keep`` (over ``c``) between ``held`` before and ``free`` after.
    Returns, of shapes ``(len(t), K)`` and ``(len(t), len(triggers))``, the mass of the paths
    that pass ``held`` on the steps ``1 … j`` and ``free`` on ``j + 1 … K`` (column ``j``), and
    of those that pass each trigger.

    Forward–backward. With ``P_m`` the step ``D_{m−1} → D_m`` (merging included) and ``H_m``,
    ``F_m`` the filters as diagonal masks, column ``j`` is ``β_jᵀ H_j P_j ⋯ H_1 P_1 e_0`` with
    ``β_K = 1`` and ``β_{m−1} = P_mᵀ F_m β_m``: one backward pass keeps every ``β_m`` (and the
    kernels) and one forward pass under ``held`` meets them, where :func:`_dynamic_program` would
    run one filter per ``j``. Masses below ``flush`` are set to 0 on the way (without a bound).
    """
    t = np.asarray(t, dtype=float).ravel()
    K = max_tasks
    counts = tuple(g.count for g in groups)
    total = sum(counts)
    limit = _held_limit(held, free, triggers, total)
    sizes = _state_sizes(counts, limit) or (1,)
    grid = sum(
        np.arange(size).reshape([-1 if a == g else 1 for a in range(len(sizes))])
        for g, size in enumerate(sizes)
    ).reshape(-1)
    states = grid.size
    beyond = grid >= limit
    count_of = total - np.minimum(grid, limit)  # C of each state (beyond: that of the merged)
    merged_at = max(total - limit, 0)
    masks = [keep[:, count_of] * ~beyond for keep in (held, free)]  # (K, states)
    merged_keep = [keep[:, merged_at] for keep in (held, free)]  # (K,)
    hit_masks = [(m, keep[count_of] * ~beyond, keep[merged_at]) for m, keep in triggers]
    chunk = max(1, 2 * _CHUNK_ELEMENTS // ((K + 1) * (states + sum(z * z for z in sizes))))
    loads = np.empty((t.size, K))
    hits = np.empty((t.size, len(triggers)))
    for start in range(0, t.size, chunk):
        times = t[start : start + chunk]
        logs = [_hazard_logs(model, g, times, K) for g in groups]
        for _ in range(K):
            _count_work(times.size, sizes, 3)  # kernels once, the two passes and the meeting
        kernels = [
            [
                _binomial_kernels(c, limit, h[m], not_h[m], flush)[0]
                for c, (h, not_h) in zip(counts, logs, strict=True)
            ]
            for m in range(K)
        ]
        # backward: β_m over the states, the beyond states holding the merged state's value
        betas = np.empty((K + 1, times.size, states))
        beta_merged = np.ones((K + 1, times.size))
        betas[K] = 1.0
        for m in range(K, 0, -1):
            merged = beta_merged[m] * merged_keep[1][m - 1]
            filtered = np.where(beyond, merged[:, None], betas[m] * masks[1][m - 1])
            previous = _kernel_step(filtered, sizes, kernels[m - 1], transpose=True)
            previous[previous < flush] = 0.0
            betas[m - 1], beta_merged[m - 1] = previous, merged
        # forward under ``held``, meeting the β on the way
        mass = np.zeros((times.size, states))
        mass[:, 0] = 1.0
        merged = np.zeros(times.size)
        loads[start : start + chunk, 0] = betas[0][:, 0]
        for m in range(1, K + 1):
            moved = _kernel_step(mass, sizes, kernels[m - 1], transpose=False)
            merged = merged + np.sum(moved * beyond, axis=1)
            for r, (at, keep, keep_merged) in enumerate(hit_masks):
                if at == m:
                    hit = np.sum(moved * keep * betas[m], axis=1)
                    hits[start : start + chunk, r] = hit + merged * keep_merged * beta_merged[m]
            if m < K:
                mass = moved * masks[0][m - 1]
                mass[mass < flush] = 0.0
                merged = merged * merged_keep[0][m - 1]
                passed = np.sum(mass * betas[m], axis=1) + merged * beta_merged[m]
                loads[start : start + chunk, m] = passed
    return loads, hits


def _held_limit(
    held: np.ndarray, free: np.ndarray, triggers: Sequence[tuple[int, np.ndarray]], total: int
) -> int:
    """The merge limit of :func:`_held_dynamic_program`'s filters."""
    limits = [_merge_limit(np.stack([held, free]))]
    limits += [_merge_limit(keep[None, None]) for _, keep in triggers]  # the largest of all
    return min(max(limits), total + 1)


def _kernel_step(
    mass: np.ndarray, sizes: tuple[int, ...], kernels: Sequence[np.ndarray], transpose: bool
) -> np.ndarray:
    """One step ``D_{m−1} → D_m`` of the states ``mass`` (``(T, states)``), group after group
    (``transpose``: its adjoint)."""
    shaped = mass.reshape(mass.shape[0], *sizes, 1)
    for axis, kernel in enumerate(kernels, start=1):
        shaped = _apply_axis(shaped, axis, kernel.transpose(0, 2, 1) if transpose else kernel)
    return shaped.reshape(mass.shape)


def _condition_keep(problem: _Problem, random_workers: int, held: int | None) -> np.ndarray:
    """``keep[m − 1, c]``: no condition holds when ``c`` random workers have ``≥ m`` tasks and one
    further worker is held at ``held`` tasks (``None``: no such worker)."""
    return _keep_filter(problem.max_tasks, problem.conditions, random_workers, held)


def _keep_filter(
    max_tasks: int,
    conditions: Sequence[tuple[int, int, int]],
    random_workers: int,
    held: int | None,
) -> np.ndarray:
    """:func:`_condition_keep` of the conditions ``(level, step m, workers needed)``."""
    keep = np.ones((max_tasks, random_workers + 1), dtype=bool)
    c = np.arange(random_workers + 1)
    for _, m, need in conditions:
        extra = 1 if held is not None and held >= m else 0
        keep[m - 1] &= c + extra < need
    return keep


def _survival_raw_bounded(problem: _Problem, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P̂(T > t)`` of the raw latency and the bound ``Δ(t)`` with
    ``P̂ ≤ P(T > t) ≤ P̂ + Δ`` (up to rounding), each of the shape of ``t``."""
    t = np.asarray(t, dtype=float)
    keep = _condition_keep(problem, problem.n, None)[None]
    value, lost = _dynamic_program(
        problem.model, problem.groups, t.ravel(), problem.max_tasks, keep, discarded=True
    )
    return value[:, 0].reshape(t.shape), lost[:, 0].reshape(t.shape)


def _survival_raw(problem: _Problem, t: np.ndarray) -> np.ndarray:
    """``P(T > t)`` of the raw latency, same shape as ``t``."""
    return _survival_raw_bounded(problem, t)[0]


@functools.lru_cache(maxsize=256)
def _never_bounded(problem: _Problem) -> tuple[float, float]:
    """``P(T = ∞)`` (no condition ever holds) and its discarded-mass bound."""
    value, lost = _survival_raw_bounded(problem, np.array([np.inf]))
    return float(value[0]), float(lost[0])


@functools.lru_cache(maxsize=256)
def _never_probability(problem: _Problem) -> float:
    """``P(T = ∞)``: no condition ever holds (the unresponsive workers exceed the tolerance)."""
    never = float(np.clip(_never_bounded(problem)[0], 0.0, 1.0))
    return 1.0 if never > 1.0 - 1e-12 else never  # rounding must not turn "never" into "almost"
