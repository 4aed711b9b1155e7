"""Exact latency theory of the nested gradient code, GC(s), uncoded and ignore-stragglers.

Notation. ``N_i(t)`` is the number of tasks worker ``i`` has finished by time ``t`` and
``C_m(t) = #{i : N_i(t) ≥ m}``. A scheme is a list of *conditions* ``(s, m, c)``: the master can
finish at level ``s`` as soon as ``C_m ≥ c``. The nested code with level set ``S`` has the
conditions ``(s, s+1, n−s)`` for ``s ∈ S``; GC(s) has the single one ``(s, s+1, n−s)`` (uncoded is
GC(0)); ignore-stragglers(s) has ``(s, 1, n−s)``. ``T = inf{t : some condition holds}`` is the
*raw* latency.

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

Expected latency. ``E[T] = ∫₀^∞ P(T > t) dt``, integrated by adaptive Gauss–Kronrod (7, 15)
quadrature on the pieces between the breakpoints ``k a f`` of the task-time distributions, up to a
point ``X`` beyond which the rest is bounded in closed form: once every responsive worker has
finished its ``K`` tasks nothing changes any more, so ``∫_X^∞ P(X < T < ∞) dt ≤
Σ_i E[(F_{i,K} − X)⁺]`` with ``F_{i,K}`` the time worker ``i`` finishes its ``K``-th task. When
``P(T = ∞) > 0`` (unresponsive workers beyond the tolerance with positive probability) the
expected latency is ``inf``. With deterministic tasks (``μ = ∞``) ``P(T > t)`` is piecewise
constant and the integral is a finite sum.

Computation load and communication. A worker computes tasks until the master stops it at
``T_stop``; it computes ``min(N_i(T_stop), K)`` tasks. Writing ``F_{i,k}`` for the time worker
``i`` finishes its ``k``-th task,

    E[min(N_i(T_stop), K)] = Σ_{k=1..K} P(F_{i,k} ≤ T_stop)
                          = Σ_k ∫ dens_{F_k}(t) · P(no condition holds by t − δ | F_{i,k} = t) dt,

where ``δ = T_stop − T`` (see below). Given ``F_{i,k} = t`` the other workers are unaffected, and
worker ``i`` has finished ``j`` tasks at ``t − δ`` with a probability that follows from
``Γ_j / Γ_k ~ Beta(j, k − j)`` for the gamma parts of its task times; so the integrand is a mixture
of dynamic programs in which worker ``i`` is held at ``j`` tasks. The level the nested master picks
is ``s`` exactly when some worker's ``(s+1)``-th task completes the condition of level ``s`` while
no condition held before:
``P(level = s) = Σ_i ∫ dens_{F_{i,s+1}}(t) · P(C'_{s+1}(t) = n − s − 1, no condition holds at t |
N_i(t) = s) dt`` (``C'`` counts the other workers). Both are one-dimensional integrals computed
with the same quadrature. With deterministic tasks the workers' progress is a function of their
slowdowns alone and these quantities are sums over the slowdown patterns.

Communication costs (the same conventions as the simulator). A progress signal reaches the master
``signal_cost`` after the task it reports, an upload ``upload_cost`` after it is sent; the
master's messages (request, stop) take no time. The nested master decides at ``T + signal_cost``,
stops every worker then, and the requested messages arrive ``upload_cost`` later: latency
``T + signal_cost + upload_cost``, ``δ = signal_cost``, ``n − s`` uploads and one signal per
computed task. GC(s), uncoded and ignore-stragglers upload eagerly: the master finishes when the
``(n − s)``-th upload arrives, at ``T + upload_cost``, and stops everybody then
(``δ = upload_cost``); every worker that finished its upload task by the stop has uploaded.
Simultaneous events are resolved in favour of the smaller level (the simulator orders
simultaneous events by the task count they report).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from gclib.model import RuntimeModel, WorkerGroup
from gclib.schemes.parse import Scheme

__all__ = [
    "latency_cdf",
    "expected_latency",
    "latency_quantile",
    "failure_probability",
    "level_probabilities",
    "expected_tasks_per_worker",
    "expected_uploads",
    "expected_signals",
    "deterministic_latency",
    "LatencySummary",
    "latency_summary",
]

# log-probabilities are clipped here so that 0 · log(0) never produces nan
_LOG_ZERO = -1e30
# relative tolerance of the quadratures
_REL_TOL = 1e-10
# time steps above which the transition matrices are built in chunks (memory)
_CHUNK_ELEMENTS = 4_000_000


# ---------------------------------------------------------------------------------- problem
@dataclass(frozen=True)
class _Problem:
    """A scheme reduced to what the theory needs.

    ``conditions`` holds ``(s, m, c)``: finish at level ``s`` once ``C_m ≥ c``; sorted by ``m``
    so that ties go to the smaller level.
    """

    n: int
    kind: str  # "nested" or "eager"
    conditions: tuple[tuple[int, int, int], ...]
    model: RuntimeModel

    @property
    def max_tasks(self) -> int:
        return max(m for _, m, _ in self.conditions)

    @property
    def groups(self) -> tuple[WorkerGroup, ...]:
        return self.model.worker_groups(self.n)

    @property
    def latency_offset(self) -> float:
        """Latency minus the raw latency ``T``."""
        cost = self.model.upload_cost
        return cost + self.model.signal_cost if self.kind == "nested" else cost

    @property
    def stop_offset(self) -> float:
        """``δ``: the time from ``T`` to the moment the master stops the workers."""
        return self.model.signal_cost if self.kind == "nested" else self.model.upload_cost


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"Argument 'n' must be a positive integer, not {n!r}.")
    return int(n)


def _problem(n: int, levels: Sequence[int] | Scheme, model: RuntimeModel) -> _Problem:
    n = _check_n(n)
    if not isinstance(model, RuntimeModel):
        raise ValueError(f"Argument 'model' must be a RuntimeModel, not {type(model).__name__}.")
    model.check_workers(n)
    if isinstance(levels, Scheme):
        scheme = levels
        if scheme.kind == "streaming":
            raise ValueError(
                "The streaming scheme has no exact theory here (its latency, the coverage "
                "bound, depends on the cyclic placement); use gclib.simulate."
            )
        values = scheme.levels
        kind = "nested" if scheme.kind == "nested" else "eager"
    else:
        if isinstance(levels, str | bytes) or not isinstance(levels, Sequence | np.ndarray):
            raise ValueError(
                f"Argument 'levels' must be a sequence of integers or a Scheme, not {levels!r}."
            )
        values = tuple(levels)
        if not values:
            raise ValueError("Argument 'levels' must name at least one level.")
        kind = "nested" if len(set(values)) > 1 else "eager"
        scheme = None
    checked = []
    for s in values:
        if isinstance(s, bool) or not isinstance(s, int | np.integer) or not 0 <= s < n:
            raise ValueError(
                f"Argument 'levels' must hold integers in [0, n) = [0, {n}), not {s!r}."
            )
        checked.append(int(s))
    checked = sorted(set(checked))
    if scheme is not None and scheme.kind == "ignore":
        conditions = ((checked[0], 1, n - checked[0]),)
    else:
        conditions = tuple((s, s + 1, n - s) for s in checked)
    return _Problem(n, kind, conditions, model)


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


# ---------------------------------------------------------------------------------- quadrature
# Gauss–Kronrod (7, 15) nodes on [-1, 1] and weights; the Gauss nodes are the odd entries.
_GK_NODES = np.array(
    [
        -0.991455371120812639206854697526329,
        -0.949107912342758524526189684047851,
        -0.864864423359769072789712788640926,
        -0.741531185599394439863864773280788,
        -0.586087235467691130294144838258730,
        -0.405845151377397166906606412076961,
        -0.207784955007898467600689403773245,
        0.0,
        0.207784955007898467600689403773245,
        0.405845151377397166906606412076961,
        0.586087235467691130294144838258730,
        0.741531185599394439863864773280788,
        0.864864423359769072789712788640926,
        0.949107912342758524526189684047851,
        0.991455371120812639206854697526329,
    ]
)
_KRONROD_WEIGHTS = np.array(
    [
        0.022935322010529224963732008058970,
        0.063092092629978553290700663189204,
        0.104790010322250183839876322541518,
        0.140653259715525918745189590510238,
        0.169004726639267902826583426598550,
        0.190350578064785409913256402421014,
        0.204432940075298892414161999234649,
        0.209482141084727828012999174891714,
        0.204432940075298892414161999234649,
        0.190350578064785409913256402421014,
        0.169004726639267902826583426598550,
        0.140653259715525918745189590510238,
        0.104790010322250183839876322541518,
        0.063092092629978553290700663189204,
        0.022935322010529224963732008058970,
    ]
)
_GAUSS_WEIGHTS = np.array(
    [
        0.129484966168869693270611432679082,
        0.279705391489276667901467771423780,
        0.381830050505118944950369775488975,
        0.417959183673469387755102040816327,
        0.381830050505118944950369775488975,
        0.279705391489276667901467771423780,
        0.129484966168869693270611432679082,
    ]
)


def _integrate(
    func: Callable[[np.ndarray], np.ndarray],
    edges: np.ndarray,
    abs_tol: np.ndarray | float,
    rel_tol: float = _REL_TOL,
    max_pieces: int = 4000,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the vector function ``func`` (``t`` of shape ``(N,)`` → ``(C, N)``) over
    ``[edges[0], edges[-1]]``, smooth between consecutive edges.

    Global adaptive Gauss–Kronrod (7, 15): every piece whose error estimate ``|K15 − G7|``
    exceeds its share of the tolerance is halved, until the summed estimate meets
    ``max(abs_tol, rel_tol · |integral|)`` for every component. Returns the integrals and the
    error estimates, each of shape ``(C,)``.
    """
    edges = np.unique(np.asarray(edges, dtype=float))
    lo, hi = edges[:-1], edges[1:]

    def rule(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        half = (hi - lo) / 2
        nodes = ((lo + hi) / 2)[:, None] + half[:, None] * _GK_NODES[None, :]
        values = np.asarray(func(nodes.ravel()))
        values = values.reshape(values.shape[0], lo.size, _GK_NODES.size)
        kronrod = values @ _KRONROD_WEIGHTS * half
        gauss = values[:, :, 1::2] @ _GAUSS_WEIGHTS * half
        return kronrod, np.abs(kronrod - gauss)

    if lo.size == 0:
        zero = np.asarray(func(np.zeros(0))).reshape(-1, 0).sum(axis=1)
        return zero, zero
    values, errors = rule(lo, hi)
    while True:
        total, error = values.sum(axis=1), errors.sum(axis=1)
        tol = np.maximum(abs_tol, rel_tol * np.abs(total))
        if np.all(error <= tol) or lo.size >= max_pieces:
            return total, error
        split = np.any(errors > (tol / lo.size)[:, None], axis=0)
        if not split.any():
            split = np.any(errors >= errors.max(axis=1, keepdims=True), axis=0)
        mid = (lo[split] + hi[split]) / 2
        new_lo = np.concatenate([lo[split], mid])
        new_hi = np.concatenate([mid, hi[split]])
        new_values, new_errors = rule(new_lo, new_hi)
        lo = np.concatenate([lo[~split], new_lo])
        hi = np.concatenate([hi[~split], new_hi])
        values = np.concatenate([values[:, ~split], new_values], axis=1)
        errors = np.concatenate([errors[:, ~split], new_errors], axis=1)


def _finite_factors(problem: _Problem) -> list[float]:
    return sorted({f for g in problem.groups for f in g.factors if math.isfinite(f)})


# P(N ≥ k) grows like x^k from k a f on: only the first orders need a quadrature breakpoint
_KINK_ORDERS = 3


def _breakpoints(problem: _Problem, upper: float, orders: int | None = None) -> np.ndarray:
    """The times ``k a f`` (``k ≤ orders``) where a task-count probability starts to grow."""
    a = problem.model.shift
    last = problem.max_tasks if orders is None else min(orders, problem.max_tasks)
    points = [k * a * f for f in _finite_factors(problem) for k in range(1, last + 1)]
    return np.array(sorted(p for p in points if p < upper))


def _earliest(problem: _Problem) -> float:
    """No condition can hold before this time: the fastest worker needs ``m a f_min``."""
    factors = _finite_factors(problem)
    if not factors:
        return math.inf
    first = min(m for _, m, _ in problem.conditions)
    return first * problem.model.shift * factors[0]


def _tail_bound(problem: _Problem, x: float) -> float:
    """An upper bound of ``∫_x^∞ P(x < T < ∞) dt``: ``Σ_i E[(F_{i,K} − x)⁺]`` over the workers.

    For ``F = f (K a + Γ)`` with ``Γ ~ Gamma(K, μ)`` and ``y = x/f − K a``,
    ``E[(F − x)⁺] = f E[(Γ − y)⁺] = f [(K/μ) Q(K+1, μy) − y Q(K, μy)]`` for ``y ≥ 0``.
    """
    K, a, mu = problem.max_tasks, problem.model.shift, problem.model.rate
    bound = 0.0
    for group in problem.groups:
        for weight, f in zip(group.weights, group.factors, strict=True):
            if math.isinf(f):
                continue
            y = x / f - K * a
            if math.isinf(mu):
                excess = max(0.0, -y)
            elif y <= 0:
                excess = K / mu - y
            else:
                excess = (K / mu) * special.gammaincc(K + 1, mu * y) - y * special.gammaincc(
                    K, mu * y
                )
            bound += group.count * weight * f * max(excess, 0.0)
    return bound


def _time_scale(problem: _Problem) -> float:
    factors = _finite_factors(problem) or [1.0]
    return factors[-1] * problem.model.mean_task_time


def _upper_limit(problem: _Problem, tol: float) -> float:
    """A time ``X`` past every breakpoint with ``_tail_bound(X) ≤ tol``."""
    a = problem.model.shift
    factors = _finite_factors(problem) or [1.0]
    x = max(problem.max_tasks * a * factors[-1], _earliest(problem), 0.0) + _time_scale(problem)
    while _tail_bound(problem, x) > tol:
        x = 1.5 * x + _time_scale(problem)
    return x


# ---------------------------------------------------------------------------------- latency
def _check_times(t: object) -> np.ndarray:
    try:
        times = np.asarray(t, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"Argument 't' must be a real number or an array of them, not {t!r}."
        ) from None
    if np.isnan(times).any():
        raise ValueError("Argument 't' must not contain nan.")
    return times


def latency_cdf(
    t: float | np.ndarray, n: int, levels: Sequence[int] | Scheme, model: RuntimeModel
) -> np.ndarray:
    """The exact distribution function ``P(latency ≤ t)``, element-wise over ``t``.

    Args:
        t: times (any shape).
        n: the number of workers.
        levels: the level set ``S`` of the nested code; ``[s]`` is GC(s) and ``[0]`` uncoded.
            A :class:`~gclib.Scheme` (nested, gc, uncoded or ignore) is accepted too.
        model: the runtime and straggler model; its communication costs shift the latency
            (see the module documentation).

    Returns:
        An array of the shape of ``t`` (a 0-d array for a scalar ``t``).

    Examples:
        >>> import gclib
        >>> model = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
        >>> float(gclib.latency_cdf(10.0, 10, [0, 1, 2, 3, 4], model)) > 0.5
        True
    """
    problem = _problem(n, levels, model)
    times = _check_times(t)
    raw = times - problem.latency_offset
    survival = np.ones_like(raw)
    positive = raw > 0
    if positive.any():
        survival[positive] = _survival_raw(problem, raw[positive])
    return np.clip(1.0 - survival, 0.0, 1.0)


def failure_probability(n: int, levels: Sequence[int] | Scheme, model: RuntimeModel) -> float:
    """``P(latency = ∞)``: the probability that too many workers are unresponsive (slowdown
    ``inf`` or crashed) for any level to be reached."""
    return _never_probability(_problem(n, levels, model))


@functools.lru_cache(maxsize=256)
def _raw_mean(problem: _Problem) -> tuple[float, float]:
    """``(E[T ; T < ∞], error bound)`` of the raw latency."""
    never = _never_probability(problem)
    if never >= 1.0:
        return 0.0, 0.0
    start = _earliest(problem)
    if math.isinf(problem.model.rate):
        edges = np.concatenate([[start], _breakpoints(problem, math.inf)])
        edges = np.unique(edges[edges >= start])
        if edges.size < 2:
            return start * (1 - never), 0.0
        mids = (edges[:-1] + edges[1:]) / 2
        pieces = np.maximum(_survival_raw(problem, mids) - never, 0.0)
        return start * (1 - never) + float(np.sum(pieces * np.diff(edges))), 0.0
    scale = _time_scale(problem)
    tail_tol = 1e-13 * scale
    upper = _upper_limit(problem, tail_tol)
    edges = np.concatenate([[start], _breakpoints(problem, upper, _KINK_ORDERS), [upper]])
    edges = edges[edges >= start]

    def integrand(t: np.ndarray) -> np.ndarray:
        return np.maximum(_survival_raw(problem, t) - never, 0.0)[None]

    value, error = _integrate(integrand, edges, abs_tol=1e-12 * scale)
    return start * (1 - never) + float(value[0]), float(error[0]) + _tail_bound(problem, upper)


def expected_latency(
    n: int,
    levels: Sequence[int] | Scheme,
    model: RuntimeModel,
    *,
    conditional: bool = False,
) -> float:
    """The exact expected latency ``E[T] = ∫₀^∞ P(T > t) dt``.

    Args:
        n: the number of workers.
        levels: the level set ``S``; ``[s]`` is GC(s), ``[0]`` uncoded; or a
            :class:`~gclib.Scheme` (nested, gc, uncoded, ignore).
        model: the runtime and straggler model.
        conditional: return ``E[T | T < ∞]`` instead, the mean over the iterations that finish
            (``inf`` if none does).

    Returns:
        The expected latency in model time units; ``math.inf`` when stragglers exceed the
        tolerance with positive probability (see :func:`failure_probability`).

    Examples:
        >>> import gclib
        >>> model = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
        >>> round(gclib.expected_latency(10, [0, 1, 2, 3, 4], model), 2)
        8.79
    """
    problem = _problem(n, levels, model)
    never = _never_probability(problem)
    if never >= 1.0 - 1e-12 or (never > 0.0 and not conditional):
        return math.inf
    value, _ = _raw_mean(problem)
    if conditional:
        value /= 1.0 - never
    return value + problem.latency_offset


def latency_quantile(
    q: float | Sequence[float] | np.ndarray,
    n: int,
    levels: Sequence[int] | Scheme,
    model: RuntimeModel,
) -> float | np.ndarray:
    """The ``q``-quantile ``inf{t : P(latency ≤ t) ≥ q}`` (``inf`` when ``q`` exceeds the
    probability of finishing at all).

    Args:
        q: a probability in ``[0, 1]``, or an array of them.
        n, levels, model: as in :func:`latency_cdf`.

    Returns:
        A float for a scalar ``q``, else an array of the shape of ``q``.
    """
    problem = _problem(n, levels, model)
    probs = np.asarray(q, dtype=float)
    if np.isnan(probs).any() or (probs < 0).any() or (probs > 1).any():
        raise ValueError(f"Argument 'q' must hold probabilities in [0, 1], not {q!r}.")
    finish = 1.0 - _never_probability(problem)
    start = _earliest(problem)
    result = np.empty(probs.shape)
    for index, p in np.ndenumerate(probs):
        result[index] = _raw_quantile(problem, float(p), finish, start)
    result = result + problem.latency_offset
    return float(result) if result.ndim == 0 else result


def _raw_quantile(problem: _Problem, p: float, finish: float, start: float) -> float:
    if p <= 0.0:
        return start
    if p > finish:
        return math.inf

    def cdf(t: float) -> float:
        return 1.0 - float(_survival_raw(problem, np.array([t]))[0])

    if math.isinf(problem.model.rate):
        points = np.unique(np.concatenate([[start], _breakpoints(problem, math.inf)]))
        values = 1.0 - _survival_raw(problem, points)
        reached = np.nonzero(values >= p - 1e-14)[0]
        return float(points[reached[0]]) if reached.size else math.inf
    high = max(start, 0.0) + _time_scale(problem)
    while cdf(high) < p:
        high = 2 * high + _time_scale(problem)
        if high > 1e12 * _time_scale(problem):
            return math.inf
    return float(optimize.brentq(lambda t: cdf(t) - p, start, high, xtol=1e-12, rtol=1e-12))


# ---------------------------------------------------------------- load, levels, communication
@dataclass(frozen=True)
class _Activity:
    tasks_per_worker: float
    uploads: float
    signals: float
    levels: tuple[tuple[int, float], ...]


def _task_density(model: RuntimeModel, factor: float, k: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Density of ``F_k = f (k a + Gamma(k, μ))`` at ``t``; ``k`` and ``t`` broadcast."""
    y = t / factor - k * model.shift
    mu = model.rate
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log = k * math.log(mu) + special.xlogy(k - 1, y) - mu * y - special.gammaln(k)
        dens = np.where(y >= 0, np.exp(log), 0.0) / factor
    return np.nan_to_num(dens, nan=0.0, posinf=0.0)


def _held_progress(
    model: RuntimeModel, factor: float, k: int, t: np.ndarray, delta: float
) -> np.ndarray:
    """``P(N(t − δ) = j | F_k = t)`` for ``j = 0 … k−1``, shape ``(k, len(t))``.

    ``N(u) ≥ j ⟺ Γ_j ≤ u/f − j a`` and, given ``Γ_k = z``, ``Γ_j / z ~ Beta(j, k − j)``.
    """
    u = t - delta
    z = t / factor - k * model.shift
    at_least = np.ones((k + 1, t.size))
    at_least[k] = 0.0
    for j in range(1, k):
        x = u / factor - j * model.shift
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.clip(np.where(z > 0, x / z, 1.0), 0.0, 1.0)
        at_least[j] = special.betainc(j, k - j, ratio)
    return at_least[:-1] - at_least[1:]


def _reduced_groups(groups: Sequence[WorkerGroup], index: int) -> list[WorkerGroup]:
    """The groups with one worker of group ``index`` taken out."""
    reduced = []
    for g, group in enumerate(groups):
        count = group.count - (1 if g == index else 0)
        if count > 0:
            reduced.append(WorkerGroup(count, group.weights, group.factors))
    return reduced


@functools.lru_cache(maxsize=256)
def _activity(problem: _Problem) -> _Activity:
    if math.isinf(problem.model.rate):
        return _activity_deterministic(problem)
    return _activity_continuous(problem)


def _activity_continuous(problem: _Problem) -> _Activity:
    n, K, model = problem.n, problem.max_tasks, problem.model
    delta = problem.stop_offset
    groups = problem.groups
    conditions = problem.conditions
    # filters: worker i held at j tasks (load) and the trigger of each condition (levels)
    load_keep = np.stack([_condition_keep(problem, n - 1, j) for j in range(K)])
    trigger_keep = []
    for _, m, need in conditions:
        keep = _condition_keep(problem, n - 1, m - 1)
        only = np.zeros(n, dtype=bool)
        if 0 <= need - 1 <= n - 1:
            only[need - 1] = True
        keep[m - 1] &= only
        trigger_keep.append(keep)
    trigger_keep = np.stack(trigger_keep)
    components: list[tuple[int, float, float]] = []  # (group, weight, factor) per block
    for g, group in enumerate(groups):
        for weight, factor in zip(group.weights, group.factors, strict=True):
            if math.isfinite(factor):
                components.append((g, weight, factor))
    block = K + len(conditions)

    def integrand(t: np.ndarray) -> np.ndarray:
        out = np.zeros((len(components) * block, t.size))
        for g in range(len(groups)):
            others = _reduced_groups(groups, g)
            if delta > 0:
                held = _dynamic_program(model, others, t - delta, K, load_keep)
                trig = _dynamic_program(model, others, t, K, trigger_keep)
            else:
                both = _dynamic_program(
                    model, others, t, K, np.concatenate([load_keep, trigger_keep])
                )
                held, trig = both[:, :K], both[:, K:]
            for c, (group_index, _, factor) in enumerate(components):
                if group_index != g:
                    continue
                ks = np.arange(1, K + 1)[:, None]
                dens = _task_density(model, factor, ks, t[None, :])
                if delta > 0:
                    alive = np.empty((K, t.size))
                    for k in range(1, K + 1):
                        weights = _held_progress(model, factor, k, t, delta)
                        alive[k - 1] = np.sum(weights * held[:, :k].T, axis=0)
                    alive = np.where(t[None, :] - delta < 0, 1.0, alive)
                else:
                    alive = held.T
                out[c * block : c * block + K] = dens * alive
                for r, (_, m, _) in enumerate(conditions):
                    out[c * block + K + r] = dens[m - 1] * trig[:, r]
        return out

    # the densities are negligible beyond every factor's Gamma(K) quantile 1 − 1e-16
    a, mu = model.shift, model.rate
    upper = max(f * (K * a + special.gammainccinv(K, 1e-16) / mu) for _, _, f in components)
    upper += delta
    # each density starts at k a f: a breakpoint per task count
    points = [k * a * f for _, _, f in components for k in range(1, K + 1)]
    points += [p + delta for p in points]
    edges = np.array(sorted({0.0, upper, *[p for p in points if p < upper]}))
    if not components:
        return _Activity(0.0, 0.0, 0.0, tuple((s, 0.0) for s, _, _ in conditions))
    values, _ = _integrate(integrand, edges, abs_tol=1e-11, rel_tol=1e-9)
    tasks = 0.0
    eager_uploads = 0.0
    level_probs = np.zeros(len(conditions))
    for c, (g, weight, _) in enumerate(components):
        share = groups[g].count * weight  # expected number of workers of this kind
        part = values[c * block : (c + 1) * block]
        tasks += share * float(np.sum(part[:K]))
        eager_uploads += share * float(part[K - 1])
        level_probs += share * part[K:]
    level_probs = np.clip(level_probs, 0.0, 1.0)
    if problem.kind == "nested":
        uploads = float(
            sum((n - s) * p for (s, _, _), p in zip(conditions, level_probs, strict=True))
        )
        signals = tasks
    else:
        uploads, signals = eager_uploads, 0.0
    levels = tuple((s, float(p)) for (s, _, _), p in zip(conditions, level_probs, strict=True))
    return _Activity(tasks / n, uploads, signals, levels)


def _slowdown_patterns(groups: Sequence[WorkerGroup]):
    """Every assignment of worker counts to the slowdowns of each group, with its probability."""
    per_group = []
    for group in groups:
        options = []
        k = len(group.factors)
        for counts in itertools.product(range(group.count + 1), repeat=k - 1):
            last = group.count - sum(counts)
            if last < 0:
                continue
            full = (*counts, last)
            log_p = special.gammaln(group.count + 1) + sum(
                special.xlogy(c, w) - special.gammaln(c + 1)
                for c, w in zip(full, group.weights, strict=True)
            )
            options.append((math.exp(log_p), list(zip(group.factors, full, strict=True))))
        per_group.append(options)
    for combo in itertools.product(*per_group):
        prob = math.prod(p for p, _ in combo)
        classes: dict[float, int] = {}
        for _, pairs in combo:
            for factor, count in pairs:
                classes[factor] = classes.get(factor, 0) + count
        yield prob, classes


def _activity_deterministic(problem: _Problem) -> _Activity:
    """Deterministic tasks: each slowdown pattern gives one deterministic run."""
    n, K, a = problem.n, problem.max_tasks, problem.model.shift
    tasks = uploads = signals = 0.0
    level_probs = dict.fromkeys((s for s, _, _ in problem.conditions), 0.0)
    for prob, classes in _slowdown_patterns(problem.groups):
        if prob == 0.0:
            continue
        finite = sorted((f, c) for f, c in classes.items() if math.isfinite(f) and c > 0)
        best, level = math.inf, None
        for s, m, need in problem.conditions:  # sorted by m: ties go to the smaller level
            done = 0
            for f, c in finite:
                done += c
                if done >= need:
                    if m * a * f < best:
                        best, level = m * a * f, s
                    break
        stop = best + problem.stop_offset
        computed = sum(c * sum(1 for k in range(1, K + 1) if k * a * f <= stop) for f, c in finite)
        tasks += prob * computed
        if problem.kind == "nested":
            signals += prob * computed
            if level is not None:
                uploads += prob * (n - level)
                level_probs[level] += prob
        else:
            uploads += prob * sum(c for f, c in finite if K * a * f <= stop)
            if level is not None:
                level_probs[level] += prob
    return _Activity(tasks / n, uploads, signals, tuple(level_probs.items()))


def level_probabilities(
    n: int, levels: Sequence[int] | Scheme, model: RuntimeModel
) -> dict[int, float]:
    """``P(the master decodes at level s)`` for each level ``s``; the rest of the probability is
    :func:`failure_probability`. For GC(s) the single entry is ``P(latency < ∞)``."""
    return dict(_activity(_problem(n, levels, model)).levels)


def expected_tasks_per_worker(n: int, levels: Sequence[int] | Scheme, model: RuntimeModel) -> float:
    """The expected number of tasks a worker computes before the master stops it,
    ``E[min(N_i(T_stop), K)]`` averaged over the workers (see the module documentation)."""
    return _activity(_problem(n, levels, model)).tasks_per_worker


def expected_uploads(n: int, levels: Sequence[int] | Scheme, model: RuntimeModel) -> float:
    """The expected number of gradient-sized uploads per iteration."""
    return _activity(_problem(n, levels, model)).uploads


def expected_signals(n: int, levels: Sequence[int] | Scheme, model: RuntimeModel) -> float:
    """The expected number of progress signals per iteration (nested only; eager schemes send
    none): one per task a worker computes before the stop."""
    return _activity(_problem(n, levels, model)).signals


def deterministic_latency(
    n: int, levels: Sequence[int], unresponsive: int, task_time: float = 1.0
) -> float:
    """Closed form for tasks of fixed duration with ``σ`` unresponsive workers.

    Every responsive worker finishes its ``k``-th task at ``k τ``, so level ``s`` is reached at
    ``(s+1) τ`` if ``n − σ ≥ n − s``, i.e. ``s ≥ σ``. The nested code finishes after
    ``s* + 1`` tasks with ``s* = min{s ∈ S : s ≥ σ}``; GC(s) (``S = {s}``) after ``s + 1`` tasks
    if ``σ ≤ s`` and never otherwise (``inf``).
    """
    n = _check_n(n)
    if (
        isinstance(unresponsive, bool)
        or not isinstance(unresponsive, int)
        or not (0 <= unresponsive <= n)
    ):
        raise ValueError(
            f"Argument 'unresponsive' must be an integer in [0, n] = [0, {n}], "
            f"not {unresponsive!r}."
        )
    if not (isinstance(task_time, int | float) and 0 < task_time < math.inf):
        raise ValueError(f"Argument 'task_time' must be positive and finite, not {task_time!r}.")
    values = sorted(set(levels))
    if not values or any(not isinstance(s, int) or not 0 <= s < n for s in values):
        raise ValueError(f"Argument 'levels' must hold integers in [0, n) = [0, {n}).")
    reachable = [s for s in values if s >= unresponsive]
    return (reachable[0] + 1) * task_time if reachable else math.inf


# ---------------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class LatencySummary:
    """The exact theory of one scheme.

    Attributes:
        scheme: the scheme's name.
        levels: its levels.
        expected_latency: ``E[T]`` (``inf`` if ``failure_probability > 0``).
        failure_probability: ``P(T = ∞)``.
        quantiles: ``q → inf{t : P(T ≤ t) ≥ q}``.
        tasks_per_worker: expected tasks a worker computes per iteration.
        uploads_per_iteration: expected gradient-sized uploads per iteration.
        signals_per_iteration: expected progress signals per iteration.
        level_probabilities: ``s → P(decoded at level s)``.
    """

    scheme: str
    levels: tuple[int, ...]
    expected_latency: float
    failure_probability: float
    quantiles: dict[float, float]
    tasks_per_worker: float
    uploads_per_iteration: float
    signals_per_iteration: float
    level_probabilities: dict[int, float]


def latency_summary(
    n: int,
    levels: Sequence[int] | Scheme,
    model: RuntimeModel,
    quantiles: Sequence[float] = (0.5, 0.95),
) -> LatencySummary:
    """Every exact quantity of one scheme at once (see :class:`LatencySummary`)."""
    problem = _problem(n, levels, model)
    if isinstance(levels, Scheme):
        name = levels.name
    else:
        name = "nested" if problem.kind == "nested" else f"gc:{problem.conditions[0][0]}"
    activity = _activity(problem)
    values = latency_quantile(list(quantiles), n, levels, model) if quantiles else []
    return LatencySummary(
        scheme=name,
        levels=tuple(s for s, _, _ in problem.conditions),
        expected_latency=expected_latency(n, levels, model),
        failure_probability=_never_probability(problem),
        quantiles={float(q): float(v) for q, v in zip(quantiles, values, strict=True)},
        tasks_per_worker=activity.tasks_per_worker,
        uploads_per_iteration=activity.uploads,
        signals_per_iteration=activity.signals,
        level_probabilities=dict(activity.levels),
    )
