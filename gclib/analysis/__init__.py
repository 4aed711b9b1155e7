"""Exact theory (the dynamic program of the level schemes, the coverage program of the cover and
streaming schemes), Monte Carlo simulation and level-set search."""

from gclib.analysis.activity import (
    deterministic_latency,
    expected_signals,
    expected_tasks_per_worker,
    expected_uploads,
    level_probabilities,
)
from gclib.analysis.coverage import (
    coverage_failure_probability,
    coverage_survival,
    expected_coverage_time,
)
from gclib.analysis.latency import (
    expected_latency,
    failure_probability,
    latency_cdf,
    latency_quantile,
)
from gclib.analysis.levelsets import LevelSetChoice, best_level_set, best_level_sets
from gclib.analysis.monte_carlo import MonteCarloSummary, monte_carlo
from gclib.analysis.prediction import (
    Prediction,
    has_exact_mean,
    has_exact_theory,
    predict,
    predict_within,
)
from gclib.analysis.simulate import SchemeSimulation, simulate, simulate_sample
from gclib.analysis.summary import LatencySummary, latency_summary

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
    "coverage_survival",
    "coverage_failure_probability",
    "expected_coverage_time",
    "latency_summary",
    "LatencySummary",
    "has_exact_theory",
    "has_exact_mean",
    "predict",
    "predict_within",
    "Prediction",
    "simulate",
    "simulate_sample",
    "SchemeSimulation",
    "monte_carlo",
    "MonteCarloSummary",
    "best_level_set",
    "best_level_sets",
    "LevelSetChoice",
]
