"""Adaptive quadrature and the integration limits of the exact theory.

Expected latency. ``E[T] = ∫₀^∞ P(T > t) dt``, integrated by adaptive Gauss–Kronrod (7, 15)
quadrature on the pieces between the breakpoints ``k a f`` of the task-time distributions, up to a
point ``X`` beyond which the rest is bounded in closed form: once every responsive worker has
finished its ``K`` tasks nothing changes any more, so ``∫_X^∞ P(X < T < ∞) dt ≤
Σ_i E[(F_{i,K} − X)⁺]`` with ``F_{i,K}`` the time worker ``i`` finishes its ``K``-th task. When
``P(T = ∞) > 0`` (unresponsive workers beyond the tolerance with positive probability) the
expected latency is ``inf``. With deterministic tasks (``μ = ∞``) ``P(T > t)`` is piecewise
constant and the integral is a finite sum.

Work estimate. :func:`theory_work` counts, before anything runs, the steps, states and
quadrature points of the programs of one scheme, in the units the programs count themselves
(:data:`~gclib.analysis.dynamic_program.WORK`); the command line turns it into a run time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import special

from gclib.analysis.problem import _Problem
from gclib.model import RuntimeModel, WorkerGroup
from gclib.schemes.base import Scheme

# relative tolerance of the quadratures
_REL_TOL = 1e-10


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
    # the coverage time needs some task done: one task, like the fastest condition
    first = min(m for _, m, _ in problem.conditions) if problem.conditions else 1
    return first * problem.model.shift * factors[0]


def finish_excess(
    model: RuntimeModel, groups: Sequence[WorkerGroup], tasks: int, x: float
) -> float:
    """``Σ_i E[(F_{i,K} − x)⁺]`` over the responsive workers of ``groups``, ``F_{i,K}`` the time
    worker ``i`` finishes its ``K = tasks``-th task.

    Once every responsive worker has finished its ``K`` tasks nothing changes any more, so this
    bounds ``∫_x^∞ P(x < T < ∞) dt`` for any latency ``T`` decided by ``K`` tasks per worker. For
    ``F = f (K a + Γ)`` with ``Γ ~ Gamma(K, μ)`` and ``y = x/f − K a``,
    ``E[(F − x)⁺] = f E[(Γ − y)⁺] = f [(K/μ) Q(K+1, μy) − y Q(K, μy)]`` for ``y ≥ 0``.
    """
    K, a, mu = tasks, model.shift, model.rate
    bound = 0.0
    for group in groups:
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


def _tail_bound(problem: _Problem, x: float) -> float:
    """An upper bound of ``∫_x^∞ P(x < T < ∞) dt`` (:func:`finish_excess`)."""
    return finish_excess(problem.model, problem.groups, problem.max_tasks, x)


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


# ---------------------------------------------------------------------------- work estimate
# integrand points per quadrature piece (the 15 nodes of the first Gauss–Kronrod rule and those
# of the pieces the adaptive halving adds), and per integral besides (the halving of its first
# few pieces, which dominates on small problems)
_POINTS_PER_PIECE = 18
_POINTS_PER_INTEGRAL = 300
# evaluations of the quantile searches (two quantiles) and of P(T = ∞)
_SEARCH_POINTS = 80


def theory_work(
    n: int, scheme: Scheme, model: RuntimeModel
) -> tuple[tuple[int, int], tuple[int, int], tuple[object, ...] | None]:
    """An estimate of the work of the dynamic programs (in the units of
    :data:`~gclib.analysis.dynamic_program.WORK`: kernel entries, products) for the exact
    summary of ``scheme``: that of its latency, that of its load and communication, and the key
    under which schemes share the latter (``None``: none to share).

    It counts the steps and states the programs run through and the points the quadratures
    evaluate them at, from the breakpoints they start with; the adaptive halving is taken at
    its typical rate. Coverage schemes and schemes without exact theory count as no work.
    """
    from gclib.analysis.activity import _activity_edges, _activity_filters, _resolved_model
    from gclib.analysis.dynamic_program import (
        _condition_keep,
        _held_limit,
        _merge_limit,
        _state_sizes,
        _step_work,
    )
    from gclib.analysis.problem import _problem

    problem = _problem(n, scheme, model)
    if problem.conditions is None:
        return (0, 0), (0, 0), None
    K, groups = problem.max_tasks, problem.groups
    counts = [g.count for g in groups]
    limit = _merge_limit(_condition_keep(problem, n, None)[None])
    step = _step_work(_state_sizes(counts, limit), 1)
    if math.isinf(model.rate):
        points = 2 * len(_breakpoints(problem, math.inf)) + 2
        return (points * K * step[0], points * K * step[1]), (0, 0), None
    upper = _upper_limit(problem, 1e-13 * _time_scale(problem))
    pieces = 1 + len(_breakpoints(problem, upper, _KINK_ORDERS))
    points = _POINTS_PER_PIECE * pieces + _POINTS_PER_INTEGRAL + _SEARCH_POINTS
    latency = (points * K * step[0], points * K * step[1])
    factors = _finite_factors(problem)
    if not factors:
        return latency, (0, 0), None
    resolved, delta = _resolved_model(problem), problem.stop_offset
    held, free, triggers = _activity_filters(n, K, problem.conditions)
    held_limit = _held_limit(held, free, triggers, n - 1)
    calls = 2 if delta > 0 else 1
    pieces = len(_activity_edges(resolved, factors, K, delta)) - 1
    points = calls * (_POINTS_PER_PIECE * pieces + _POINTS_PER_INTEGRAL)
    kernels = products = 0
    for g in range(len(groups)):
        others = [c - (1 if h == g else 0) for h, c in enumerate(counts)]
        sizes = _state_sizes([c for c in others if c > 0], held_limit) or (1,)
        work = _step_work(sizes, 3)
        kernels, products = kernels + work[0], products + work[1]
    key = (n, K, problem.conditions, resolved, delta)
    return latency, (points * K * kernels, points * K * products), key
