"""Every exact quantity of one scheme at once, and the deterministic closed form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gclib.analysis.activity import _Activity, _activity
from gclib.analysis.latency import expected_latency, failure_probability, latency_quantile
from gclib.analysis.problem import _Problem, _problem
from gclib.model import RuntimeModel
from gclib.schemes.parse import Scheme


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
        activity_method: how the load, uploads and signals were obtained: ``"exact"``, or
            ``"monte carlo"`` (seed 0, :func:`activity_iterations` iterations) for the schemes
            whose latency is the coverage time, which only the latency program reaches.
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
    activity_method: str = "exact"


#: Monte Carlo iterations (seed 0) of the load and uploads of the coverage schemes
ACTIVITY_ITERATIONS = 20_000
# worker-tasks the Monte Carlo estimate of a load may sample, so that large n stays quick
_ACTIVITY_BUDGET = 20_000_000


def activity_iterations(n: int, tasks: int) -> int:
    """The iterations of the Monte Carlo load estimate: :data:`ACTIVITY_ITERATIONS`, fewer (at
    least 500) where ``n · tasks`` is large."""
    return int(min(ACTIVITY_ITERATIONS, max(500, _ACTIVITY_BUDGET // (n * tasks))))


def _simulated_activity(problem: _Problem) -> _Activity:
    from gclib.analysis.simulate import simulate

    iterations = activity_iterations(problem.n, problem.max_tasks)
    run = simulate(problem.n, [problem.scheme], problem.model, iterations, rng=0)
    result = run[problem.scheme.name]
    return _Activity(result.mean_tasks_per_worker, result.mean_uploads, result.mean_signals, ())


def latency_summary(
    n: int,
    levels: Sequence[int] | Scheme,
    model: RuntimeModel,
    quantiles: Sequence[float] = (0.5, 0.95),
) -> LatencySummary:
    """Every exact quantity of one scheme at once (see :class:`LatencySummary`)."""
    problem = _problem(n, levels, model)
    name = problem.scheme.name
    exact = problem.conditions is not None
    activity = _activity(problem) if exact else _simulated_activity(problem)
    values = latency_quantile(list(quantiles), n, levels, model) if quantiles else []
    return LatencySummary(
        scheme=name,
        levels=problem.scheme.levels,
        expected_latency=expected_latency(n, levels, model),
        failure_probability=failure_probability(n, problem.scheme, model),
        quantiles={float(q): float(v) for q, v in zip(quantiles, values, strict=True)},
        tasks_per_worker=activity.tasks_per_worker,
        uploads_per_iteration=activity.uploads,
        signals_per_iteration=activity.signals,
        level_probabilities=dict(activity.levels),
        activity_method="exact" if exact else "monte carlo",
    )
