"""What the theory expects of one scheme on the pool: exact where an exact program reaches the
scheme's latency, Monte Carlo (seeded, and said so) elsewhere."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gclib.model import RuntimeModel
from gclib.schemes.base import Scheme

__all__ = ["Prediction", "predict", "has_exact_theory", "has_exact_mean"]

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
