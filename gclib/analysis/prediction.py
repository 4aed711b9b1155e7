"""What the theory expects of one scheme on the pool: exact where an exact program reaches the
scheme's latency, Monte Carlo (seeded, and said so) elsewhere.

Under a per-iteration deadline ``d`` (:func:`predict_within`) an iteration fails when its
latency ``T`` exceeds ``d`` (``T = ∞`` included), so the pool's failure probability is
``P(T > d) = 1 − F(d)`` and the mean latency of the iterations that finish is
``E[T | T ≤ d] = E[T ; T ≤ d] / F(d)`` with ``E[T ; T ≤ d] = ∫₀^d (F(d) − F(t)) dt``, from the
exact distribution function ``F`` (:func:`gclib.latency_cdf`). A scheme whose distribution is out
of the exact theory's reach is predicted by seeded Monte Carlo, its draws above ``d`` counted as
failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate

from gclib.model import RuntimeModel
from gclib.schemes.base import Scheme

__all__ = ["Prediction", "predict", "predict_within", "has_exact_theory", "has_exact_mean"]

# Monte Carlo iterations of a prediction without an exact program
_MONTE_CARLO_ITERATIONS = 20_000


def has_exact_theory(scheme: Scheme, n: int, model: RuntimeModel | None = None) -> bool:
    """Whether the exact theory computes ``scheme``'s latency distribution on ``n`` workers
    under ``model`` (uploads queueing on a shared link are out of its reach)."""
    reached = scheme.conditions(n) is not None or scheme.covers
    return reached and (model is None or scheme.latency_offset(model) is not None)


def has_exact_mean(scheme: Scheme, n: int, model: RuntimeModel) -> bool:
    """Whether the exact theory computes ``scheme``'s mean latency: also on a shared link when
    the master asks for a number of uploads that follows from the level it decodes at."""
    if has_exact_theory(scheme, n, model):
        return True
    return scheme.requests and scheme.conditions(n) is not None


@dataclass(frozen=True)
class Prediction:
    """What the theory expects of a scheme: ``E[T | T < ∞]`` (``None`` when no iteration can
    finish), ``P(T = ∞)``, and how they were obtained (``"exact"`` or ``"monte carlo"``)."""

    mean_latency: float | None
    failure_probability: float
    method: str


def predict(
    n: int,
    scheme: Scheme,
    model: RuntimeModel,
    rng: np.random.Generator | np.random.SeedSequence | int | None = None,
) -> Prediction:
    """The :class:`Prediction` of ``scheme`` on ``n`` workers under ``model``: exact where
    :func:`has_exact_theory`, else by seeded Monte Carlo (``rng``)."""
    if not has_exact_mean(scheme, n, model):
        from gclib.analysis.simulate import simulate

        generator = np.random.default_rng(rng)
        result = simulate(n, [scheme], model, _MONTE_CARLO_ITERATIONS, generator)[scheme.name]
        finite = result.latency[np.isfinite(result.latency)]
        mean = float(finite.mean()) if finite.size else None
        return Prediction(mean, 1.0 - finite.size / result.latency.size, "monte carlo")
    from gclib.analysis.latency import expected_latency, failure_probability

    value = expected_latency(n, scheme, model, conditional=True)
    never = failure_probability(n, scheme, model)
    return Prediction(value if math.isfinite(value) else None, never, "exact")


# Below this chance of finishing by the deadline the conditional mean is not computed: F(d) is
# then within the rounding of the exact program, and E[T ; T ≤ d] / F(d) would be noise.
_MIN_FINISH = 1e-9


def predict_within(
    n: int,
    scheme: Scheme,
    model: RuntimeModel,
    deadline: float | None,
    rng: np.random.Generator | np.random.SeedSequence | int | None = None,
) -> Prediction:
    """The :class:`~gclib.analysis.prediction.Prediction` of ``scheme`` on ``n`` workers under
    ``model`` when iterations longer than ``deadline`` model time units fail: the mean latency
    ``E[T | T ≤ deadline]`` and the failure probability ``P(T > deadline)``. ``deadline=None``
    (or ``inf``) is no deadline: ``E[T | T < ∞]`` and ``P(T = ∞)``."""
    if deadline is None or math.isinf(deadline):
        return predict(n, scheme, model, rng)
    if not deadline > 0.0:
        raise ValueError(f"Argument 'deadline' must be a positive number, not {deadline!r}.")
    if has_exact_theory(scheme, n, model):
        return _exact(n, scheme, model, float(deadline))
    from gclib.analysis.simulate import simulate

    generator = np.random.default_rng(rng)
    result = simulate(n, [scheme], model, _MONTE_CARLO_ITERATIONS, generator)[scheme.name]
    finished = result.latency[result.latency <= deadline]
    mean = float(finished.mean()) if finished.size else None
    return Prediction(mean, 1.0 - finished.size / result.latency.size, "monte carlo")


def _exact(n: int, scheme: Scheme, model: RuntimeModel, deadline: float) -> Prediction:
    from gclib.analysis.latency import latency_cdf

    def cdf(t: float) -> float:
        return float(latency_cdf(t, n, scheme, model))

    finish = min(max(cdf(deadline), 0.0), 1.0)
    if finish < _MIN_FINISH:
        return Prediction(None, 1.0 - finish, "exact")
    # E[T ; T ≤ d] = ∫₀^d (F(d) − F(t)) dt: non-negative, integrated to a relative accuracy
    # far below what the conditional mean is read at, split where F has kinks or steps: where
    # a worker slowed by f can finish its k-th task, k a f after the latency's constant offset
    offset = scheme.latency_offset(model) or 0.0
    factors = [f for f in {1.0, model.slowdown} if math.isfinite(f)]
    kinks = {
        offset + k * model.shift * f for f in factors for k in range(1, scheme.tasks_per_worker + 1)
    }
    points = sorted(t for t in kinks if 0.0 < t < deadline)
    partial, _ = integrate.quad(
        lambda t: finish - cdf(t),
        0.0,
        deadline,
        points=points or None,
        limit=max(500, 4 * len(points)),
        epsabs=1e-11 * finish * deadline,
        epsrel=1e-10,
    )
    return Prediction(partial / finish, 1.0 - finish, "exact")
