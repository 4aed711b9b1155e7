"""The latency distribution: CDF, mean, quantiles and the failure probability, from the dynamic
program or the coverage program; ``E[T] = ∫₀^∞ P(T > t) dt`` by the adaptive quadrature of
:mod:`gclib.analysis.quadrature`, which states the integration limits and the tail bound.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize

from gclib._verify import check_times
from gclib.analysis.coverage import _partial_mean as coverage_partial_mean
from gclib.analysis.coverage import coverage_failure_probability, coverage_survival
from gclib.analysis.dynamic_program import _never_probability, _survival_raw
from gclib.analysis.problem import _Problem, _problem
from gclib.analysis.quadrature import (
    _KINK_ORDERS,
    _breakpoints,
    _earliest,
    _integrate,
    _tail_bound,
    _time_scale,
    _upper_limit,
)
from gclib.model import RuntimeModel
from gclib.schemes.parse import Scheme


# ------------------------------------------------------------------ the two exact programs
def _survival(problem: _Problem, t: np.ndarray) -> np.ndarray:
    """``P(T > t)`` of the raw latency: the coverage program or the dynamic program."""
    if problem.scheme.covers:
        return coverage_survival(t, problem.n, problem.scheme.s_max, problem.model)
    return _survival_raw(problem, t)


def _never(problem: _Problem) -> float:
    """``P(T = ∞)``."""
    if problem.scheme.covers:
        return coverage_failure_probability(problem.n, problem.scheme.s_max, problem.model)
    return _never_probability(problem)


def _partial_mean(problem: _Problem) -> tuple[float, float]:
    """``(E[T ; T < ∞], error bound)`` of the raw latency."""
    if problem.scheme.covers:
        return coverage_partial_mean(problem.n, problem.scheme.s_max, problem.model)
    return _raw_mean(problem)


# ---------------------------------------------------------------------------------- latency
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
        >>> model = gclib.RuntimeModel(
        ...     1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
        >>> float(gclib.latency_cdf(10.0, 10, [0, 1, 2, 3, 4], model)) > 0.5
        True
    """
    problem = _problem(n, levels, model)
    times = check_times(t)
    raw = times - problem.latency_offset
    survival = np.ones_like(raw)
    positive = raw > 0
    if positive.any():
        survival[positive] = _survival(problem, raw[positive])
    return np.clip(1.0 - survival, 0.0, 1.0)


def failure_probability(n: int, levels: Sequence[int] | Scheme, model: RuntimeModel) -> float:
    """``P(latency = ∞)``: the probability that too many workers are unresponsive (slowdown
    ``inf`` or crashed) for any level to be reached."""
    return _never(_problem(n, levels, model))


@functools.lru_cache(maxsize=256)
def _raw_mean(problem: _Problem) -> tuple[float, float]:
    """``(E[T ; T < ∞], error bound)`` of the raw latency.

    ``E[T ; T < ∞] = start · (1 − ν) + ∫_start^X (P(T > t) − ν) dt + ∫_X^∞ P(X < T < ∞) dt``
    with ``ν = P(T = ∞)``. The bound adds the quadrature's error estimate, the closed-form bound
    of the last integral, and the dynamic program's discarded mass: it computes ``P(T > t)`` and
    ``ν`` each too small by at most ``Δ(t)`` and ``Δ_∞``, which moves the result by at most
    ``∫_start^X Δ(t) dt + X · Δ_∞`` (the first integral by quadrature, its own error estimate
    included).
    """
    from gclib.analysis.dynamic_program import _never_bounded, _survival_raw_bounded

    never = _never_probability(problem)
    if never >= 1.0:
        return 0.0, 0.0
    never_lost = _never_bounded(problem)[1]
    start = _earliest(problem)
    if math.isinf(problem.model.rate):
        edges = np.concatenate([[start], _breakpoints(problem, math.inf)])
        edges = np.unique(edges[edges >= start])
        if edges.size < 2:
            return start * (1 - never), start * never_lost
        mids = (edges[:-1] + edges[1:]) / 2
        survival, lost = _survival_raw_bounded(problem, mids)
        pieces = np.maximum(survival - never, 0.0)
        bound = float(np.sum(lost * np.diff(edges)) + edges[-1] * never_lost)
        return start * (1 - never) + float(np.sum(pieces * np.diff(edges))), bound
    scale = _time_scale(problem)
    tail_tol = 1e-13 * scale
    upper = _upper_limit(problem, tail_tol)
    edges = np.concatenate([[start], _breakpoints(problem, upper, _KINK_ORDERS), [upper]])
    edges = edges[edges >= start]

    def integrand(t: np.ndarray) -> np.ndarray:
        survival, lost = _survival_raw_bounded(problem, t)
        return np.stack([np.maximum(survival - never, 0.0), lost])

    value, error = _integrate(integrand, edges, abs_tol=1e-12 * scale)
    discarded = float(value[1] + error[1]) + upper * never_lost
    bound = float(error[0]) + _tail_bound(problem, upper) + discarded
    return start * (1 - never) + float(value[0]), bound


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
        >>> model = gclib.RuntimeModel(
        ...     1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
        >>> round(gclib.expected_latency(10, [0, 1, 2, 3, 4], model), 2)
        8.79
    """
    problem = _problem(n, levels, model)
    never = _never(problem)
    if never >= 1.0 - 1e-12 or (never > 0.0 and not conditional):
        return math.inf
    value, _ = _partial_mean(problem)
    if problem.scheme.latency_offset(model) is None:
        return _queued_mean(problem, value, never, conditional)
    if conditional:
        value /= 1.0 - never
    return value + problem.latency_offset


def _queued_mean(problem: _Problem, partial: float, never: float, conditional: bool) -> float:
    """The mean latency of a scheme that asks for ``k(s)`` uploads at level ``s`` over a shared
    link: ``E[T ; T < ∞] + Σ_s P(L = s) (2c + k(s) u)``, exact from the level probabilities."""
    from gclib.analysis.activity import _activity, _requested_uploads

    scheme, model = problem.scheme, problem.model
    if not scheme.requests or problem.conditions is None:
        raise ValueError(
            f"The {scheme.label} scheme's uploads queue on a shared link in ways no exact program "
            "reaches; gclib.simulate estimates its latency."
        )
    levels = dict(_activity(problem).levels)
    uploads = _requested_uploads(problem)
    extra = sum(
        levels[s] * (2 * model.signal_cost + count * model.upload_cost)
        for (s, _, _), count in zip(problem.conditions, uploads, strict=True)
    )
    value = partial + extra
    return value / (1.0 - never) if conditional else value


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
    finish = 1.0 - _never(problem)
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
        return 1.0 - float(_survival(problem, np.array([t]))[0])

    if math.isinf(problem.model.rate):
        points = np.unique(np.concatenate([[start], _breakpoints(problem, math.inf)]))
        values = 1.0 - _survival(problem, points)
        reached = np.nonzero(values >= p - 1e-14)[0]
        return float(points[reached[0]]) if reached.size else math.inf
    high = max(start, 0.0) + _time_scale(problem)
    while cdf(high) < p:
        high = 2 * high + _time_scale(problem)
        if high > 1e12 * _time_scale(problem):
            return math.inf
    return float(optimize.brentq(lambda t: cdf(t) - p, start, high, xtol=1e-12, rtol=1e-12))
