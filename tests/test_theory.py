"""The exact latency theory against independent computations.

- brute force: for a few workers the distribution of every worker's task count at time ``t`` is
  enumerated pattern by pattern (with ``RuntimeModel.prob_tasks_done``), no dynamic program;
- Monte Carlo: order statistics of sampled finish times, written out here (not the simulator),
  with tolerances of five standard errors;
- closed forms: the deterministic case, the failure probability, the published reference values.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import stats

import gclib
from gclib import RuntimeModel
from gclib.schemes import IgnoreStragglersScheme, NestedScheme, StreamingScheme

REFERENCE = RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
ALL_LEVELS = [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------ independent helpers
def worker_factor_mixtures(model: RuntimeModel, n: int) -> list[list[tuple[list[float], float]]]:
    """Every straggler assignment (list of per-worker factor mixtures) with its probability."""
    c = model.crash_prob
    if model.stragglers is None:
        p = model.straggler_prob
        mix = [(1.0, (1 - c) * (1 - p)), (model.slowdown, (1 - c) * p), (math.inf, c)]
        return [([mix] * n, 1.0)]
    assignments = []
    subsets = list(itertools.combinations(range(n), model.stragglers))
    for subset in subsets:
        mixtures = [
            [(model.slowdown, 1 - c), (math.inf, c)]
            if i in subset
            else [(1.0, 1 - c), (math.inf, c)]
            for i in range(n)
        ]
        assignments.append((mixtures, 1.0 / len(subsets)))
    return assignments


def brute_force_cdf(t: float, n: int, conditions, model: RuntimeModel) -> float:
    """P(some condition (m, need) has #{i: N_i(t) ≥ m} ≥ need), by enumerating task counts."""
    K = max(m for m, _ in conditions)
    total = 0.0
    for mixtures, weight in worker_factor_mixtures(model, n):
        # per worker: P(N = k) for k < K and P(N ≥ K)
        dists = []
        for mixture in mixtures:
            at_least = [
                sum(w * float(model.prob_tasks_done(t, k, f)) for f, w in mixture)
                for k in range(K + 2)
            ]
            probs = [at_least[k] - at_least[k + 1] for k in range(K)] + [at_least[K]]
            dists.append(probs)
        for counts in itertools.product(range(K + 1), repeat=n):
            prob = math.prod(dists[i][k] for i, k in enumerate(counts))
            if prob == 0.0:
                continue
            if any(sum(k >= m for k in counts) >= need for m, need in conditions):
                total += weight * prob
    return total


def nested_conditions(n: int, levels) -> list[tuple[int, int]]:
    return [(s + 1, n - s) for s in levels]


def sampled_raw_latency(model: RuntimeModel, n: int, levels, size: int, seed: int, kind="gc"):
    """Raw latency min_s T_s from sampled finish times, with T_s from a full sort."""
    K = max(levels) + 1
    finish = np.cumsum(model.sample(n, K, np.random.default_rng(seed), size=size).task_times, -1)
    if kind == "ignore":
        (s,) = levels
        return np.sort(finish[:, :, 0], axis=1)[:, n - s - 1], finish
    per_level = [np.sort(finish[:, :, s], axis=1)[:, n - s - 1] for s in levels]
    return np.min(per_level, axis=0), finish


def assert_close_to_sample(exact: float, values: np.ndarray, sigmas: float = 5.0) -> None:
    mean = float(np.mean(values))
    stderr = float(np.std(values, ddof=1) / math.sqrt(values.size))
    assert abs(exact - mean) <= sigmas * stderr + 1e-12, (exact, mean, stderr)


# ------------------------------------------------------------------------ published reference
@pytest.mark.parametrize(
    ("levels", "published"),
    [([0], 18.36), ([1], 20.50), ([2], 18.28), ([3], 14.63), ([4], 12.68), (ALL_LEVELS, 8.79)],
)
def test_reference_scenario_published_values(levels, published):
    assert gclib.expected_latency(10, levels, REFERENCE) == pytest.approx(published, abs=0.005)


def test_reference_scenario_against_monte_carlo():
    size = 200_000
    finish = np.cumsum(
        REFERENCE.sample(10, 5, np.random.default_rng(11), size=size).task_times, axis=-1
    )
    per_level = {s: np.sort(finish[:, :, s], axis=1)[:, 10 - s - 1] for s in ALL_LEVELS}
    for s in ALL_LEVELS:
        assert_close_to_sample(gclib.expected_latency(10, [s], REFERENCE), per_level[s])
    nested = np.min([per_level[s] for s in ALL_LEVELS], axis=0)
    assert_close_to_sample(gclib.expected_latency(10, ALL_LEVELS, REFERENCE), nested)


# ------------------------------------------------------------------------ CDF: exact vs brute
BRUTE_CASES = [
    (4, [0, 1, 2], RuntimeModel(0.5, 1.5, straggler_prob=0.3, slowdown=3.0)),
    (4, [1, 2], RuntimeModel(0.5, 1.5, straggler_prob=0.3, slowdown=3.0, crash_prob=0.1)),
    (4, [0, 2], RuntimeModel(1.0, 2.0, stragglers=1, slowdown=4.0)),
    (5, [1, 2], RuntimeModel(0.2, 1.0, stragglers=2, slowdown=math.inf)),
    (4, [0, 1, 2], RuntimeModel(0.0, 1.0, straggler_prob=0.5, slowdown=2.0)),
    (4, [0, 1], RuntimeModel(1.0, math.inf, stragglers=1, slowdown=2.0, crash_prob=0.2)),
]


@pytest.mark.parametrize(("n", "levels", "model"), BRUTE_CASES)
def test_cdf_matches_brute_force_enumeration(n, levels, model):
    times = [0.3, 1.0, 1.7, 2.5, 4.0, 6.5, 11.0]
    exact = gclib.latency_cdf(np.array(times), n, levels, model)
    assert exact.shape == (len(times),)
    for t, value in zip(times, exact, strict=True):
        assert value == pytest.approx(
            brute_force_cdf(t, n, nested_conditions(n, levels), model), abs=1e-12
        )


def test_ignore_cdf_matches_brute_force():
    model = RuntimeModel(0.5, 1.0, straggler_prob=0.4, slowdown=5.0)
    scheme = IgnoreStragglersScheme(2, 1)
    for t in [0.7, 1.5, 3.0, 6.0]:
        expected = brute_force_cdf(t, 5, [(1, 3)], model)
        assert float(gclib.latency_cdf(t, 5, scheme, model)) == pytest.approx(expected, abs=1e-12)


def test_cdf_is_zero_before_start_and_monotone():
    t = np.linspace(-1, 150, 600)
    cdf = gclib.latency_cdf(t, 10, ALL_LEVELS, REFERENCE)
    assert np.all(cdf[t < 1.0] == 0.0)
    assert np.all(np.diff(cdf) >= -1e-14)
    assert cdf[-1] == pytest.approx(1.0, abs=1e-6)
    assert gclib.latency_cdf(5.0, 10, ALL_LEVELS, REFERENCE).shape == ()


# ------------------------------------------------------------------------ exact vs Monte Carlo
MC_CASES = [
    ("fixed count", 12, [0, 2, 3, 5], RuntimeModel(0.5, 2.0, stragglers=3, slowdown=6.0)),
    ("heavy tail", 8, [1, 3], RuntimeModel(0.0, 0.5, straggler_prob=0.25, slowdown=10.0)),
    (
        "deterministic",
        9,
        [0, 1, 2, 3],
        RuntimeModel(1.0, math.inf, straggler_prob=0.3, slowdown=2.5),
    ),
    ("gc", 10, [3], RuntimeModel(1.0, 1.0, stragglers=2, slowdown=math.inf)),
]


@pytest.mark.parametrize(("label", "n", "levels", "model"), MC_CASES)
def test_expected_latency_and_cdf_against_monte_carlo(label, n, levels, model):
    size = 100_000
    raw, _ = sampled_raw_latency(model, n, levels, size, seed=len(label))
    assert np.all(np.isfinite(raw))
    assert_close_to_sample(gclib.expected_latency(n, levels, model), raw)
    for q in (0.1, 0.5, 0.9):
        t = float(np.quantile(raw, q))
        exact = float(gclib.latency_cdf(t, n, levels, model))
        empirical = float(np.mean(raw <= t))
        tol = 5 * math.sqrt(max(exact * (1 - exact), 1e-4) / size)
        assert abs(exact - empirical) <= tol, (t, exact, empirical)


def test_crashes_failure_probability_and_conditional_mean():
    n, levels = 8, [1, 2, 3]
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.1, slowdown=3.0, crash_prob=0.08)
    raw, _ = sampled_raw_latency(model, n, levels, 200_000, seed=3)
    assert gclib.expected_latency(n, levels, model) == math.inf
    failure = gclib.failure_probability(n, levels, model)
    # never finishing = more than max S unresponsive workers: a binomial tail
    assert failure == pytest.approx(stats.binom.sf(3, n, 0.08), rel=1e-10)
    observed = np.mean(np.isinf(raw))
    assert abs(failure - observed) <= 5 * math.sqrt(failure * (1 - failure) / raw.size)
    conditional = gclib.expected_latency(n, levels, model, conditional=True)
    assert_close_to_sample(conditional, raw[np.isfinite(raw)])
    # the CDF levels off at 1 − P(T = ∞)
    assert float(gclib.latency_cdf(1e4, n, levels, model)) == pytest.approx(1 - failure)


def test_ignore_stragglers_against_monte_carlo():
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
    raw, _ = sampled_raw_latency(model, 10, [2], 100_000, seed=5, kind="ignore")
    assert_close_to_sample(gclib.expected_latency(10, IgnoreStragglersScheme(2, 4), model), raw)


# ------------------------------------------------------------------------ infinities, closed forms
@pytest.mark.parametrize(
    ("model", "levels", "infinite"),
    [
        (RuntimeModel(1.0, 1.0, straggler_prob=0.1, slowdown=math.inf), [0, 4], True),
        (RuntimeModel(1.0, 1.0, crash_prob=1e-6), [0, 1, 2, 3, 4], True),
        (RuntimeModel(1.0, 1.0, stragglers=4, slowdown=math.inf), [0, 4], False),
        (RuntimeModel(1.0, 1.0, stragglers=5, slowdown=math.inf), [0, 4], True),
        (RuntimeModel(1.0, 1.0, stragglers=5, slowdown=1e6), [0, 4], False),
        (RuntimeModel(1.0, 1.0, straggler_prob=0.9, slowdown=50.0), [0], False),
    ],
)
def test_expected_latency_is_infinite_exactly_when_it_should(model, levels, infinite):
    value = gclib.expected_latency(10, levels, model)
    assert math.isinf(value) == infinite
    assert (gclib.failure_probability(10, levels, model) > 0) == infinite


@pytest.mark.parametrize("sigma", range(0, 7))
@pytest.mark.parametrize("levels", [[0, 1, 2, 3, 4, 5], [1, 4], [2], [0, 3, 5]])
def test_deterministic_unresponsive_closed_form(sigma, levels):
    n, tau = 10, 1.5
    closed = gclib.deterministic_latency(n, levels, sigma, task_time=tau)
    reachable = [s for s in levels if s >= sigma]
    assert closed == ((min(reachable) + 1) * tau if reachable else math.inf)
    model = RuntimeModel(tau, math.inf, stragglers=sigma, slowdown=math.inf)
    assert gclib.expected_latency(n, levels, model) == pytest.approx(closed, rel=1e-12)
    if reachable:
        assert gclib.latency_quantile(0.5, n, levels, model) == pytest.approx(closed)
        s_star = min(reachable)
        # every responsive worker finishes s*+1 tasks, simultaneously, then stops
        load = (n - sigma) * (s_star + 1) / n
        assert gclib.expected_tasks_per_worker(n, levels, model) == pytest.approx(load)
        assert gclib.level_probabilities(n, levels, model)[s_star] == pytest.approx(1.0)


def test_deterministic_tasks_by_enumerating_slowdowns():
    """μ = ∞: the latency is a function of the slowdown pattern; enumerate the patterns."""
    n, levels, kappa, p = 6, [0, 2, 3], 3.0, 0.35
    model = RuntimeModel(1.0, math.inf, straggler_prob=p, slowdown=kappa)
    expected = 0.0
    for slow in range(n + 1):
        prob = stats.binom.pmf(slow, n, p)
        # (n−s)-th smallest finish of task s+1: slow workers finish it at (s+1)κ
        times = [(s + 1) * (1.0 if n - s <= n - slow else kappa) for s in levels]
        expected += prob * min(times)
    assert gclib.expected_latency(n, levels, model) == pytest.approx(expected, rel=1e-12)


def test_communication_costs_shift_the_latency():
    # a scheme that asks pays the signal, the request (one way each) and one upload; one whose
    # uploads come unasked pays the upload alone
    costs = RuntimeModel(
        1.0, 1.0, straggler_prob=0.2, slowdown=8.0, upload_cost=0.4, signal_cost=0.1
    )
    base = gclib.expected_latency(10, ALL_LEVELS, REFERENCE)
    assert gclib.expected_latency(10, ALL_LEVELS, costs) == pytest.approx(base + 0.6)
    assert gclib.expected_latency(10, [2], costs) == pytest.approx(
        gclib.expected_latency(10, [2], REFERENCE) + 0.4
    )
    nested_single = NestedScheme((2,), 4)
    assert gclib.expected_latency(10, nested_single, costs) == pytest.approx(
        gclib.expected_latency(10, [2], REFERENCE) + 0.6
    )
    t = np.array([3.0, 8.0, 12.0])
    assert np.allclose(
        gclib.latency_cdf(t + 0.6, 10, ALL_LEVELS, costs),
        gclib.latency_cdf(t, 10, ALL_LEVELS, REFERENCE),
    )


def test_expected_latency_equals_integral_of_survival():
    t = np.linspace(0, 400, 200_001)
    survival = 1 - gclib.latency_cdf(t, 10, [2], REFERENCE)
    integral = float(np.sum((survival[1:] + survival[:-1]) / 2 * np.diff(t)))
    assert gclib.expected_latency(10, [2], REFERENCE) == pytest.approx(integral, rel=1e-6)


def test_quantiles_invert_the_cdf():
    qs = np.array([0.05, 0.5, 0.95])
    values = gclib.latency_quantile(qs, 10, ALL_LEVELS, REFERENCE)
    assert np.allclose(gclib.latency_cdf(values, 10, ALL_LEVELS, REFERENCE), qs, atol=1e-9)
    crash = RuntimeModel(1.0, 1.0, crash_prob=0.3)
    failure = gclib.failure_probability(10, [1], crash)
    assert gclib.latency_quantile(1 - failure / 2, 10, [1], crash) == math.inf
    assert math.isfinite(gclib.latency_quantile(0.5 * (1 - failure), 10, [1], crash))


def test_large_n_is_accurate():
    """n = 100: uncoded has the closed form E[max] = ∫ 1 − P(F ≤ t)^n dt."""
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.05, slowdown=4.0)
    t = np.linspace(0, 300, 600_001)
    first = 0.95 * (1 - np.exp(-np.clip(t - 1, 0, None))) + 0.05 * (
        1 - np.exp(-np.clip(t / 4 - 1, 0, None))
    )
    survival = 1 - first**100
    integral = float(np.sum((survival[1:] + survival[:-1]) / 2 * np.diff(t)))
    assert gclib.expected_latency(100, [0], model) == pytest.approx(integral, rel=1e-7)


# ------------------------------------------------------------------------ load and communication
def sampled_activity(model, n, levels, scheme_kind, size, seed):
    """Tasks per worker, uploads, signals and level of each sampled iteration (written out)."""
    K = max(levels) + 1
    finish = np.cumsum(model.sample(n, K, np.random.default_rng(seed), size=size).task_times, -1)
    per_level = np.array([np.sort(finish[:, :, s], axis=1)[:, n - s - 1] for s in levels])
    raw = per_level.min(axis=0)
    level = np.array(levels)[np.argmin(per_level, axis=0)]
    # the stop reaches the workers one control message after the master decides: at the
    # decisive signal's arrival (nested) or the decisive upload's (GC)
    if scheme_kind == "nested":
        delay = 2 * model.signal_cost
    else:
        delay = model.upload_cost + model.signal_cost
    stop = raw + delay
    done = (finish <= stop[:, None, None]) & np.isfinite(finish)
    tasks = done.sum(axis=2).mean(axis=1)
    if scheme_kind == "nested":
        uploads = np.where(np.isfinite(raw), n - level, 0)
        signals = done.sum(axis=(1, 2))
    else:
        uploads = done[:, :, K - 1].sum(axis=1)
        signals = np.zeros(size)
    return tasks, uploads, signals, np.where(np.isfinite(raw), level, -1)


ACTIVITY_CASES = [
    (10, [0, 1, 2, 3, 4], REFERENCE),
    (8, [0, 1, 3], RuntimeModel(0.5, 2.0, straggler_prob=0.3, slowdown=4.0, signal_cost=0.3)),
    (8, [2], RuntimeModel(0.5, 2.0, straggler_prob=0.3, slowdown=4.0, upload_cost=0.7)),
    (9, [0, 2, 4], RuntimeModel(0.5, 1.0, stragglers=2, slowdown=5.0, signal_cost=0.2)),
    (8, [1, 2, 3], RuntimeModel(1.0, 1.0, straggler_prob=0.1, slowdown=3.0, crash_prob=0.05)),
    (8, [0, 1, 2], RuntimeModel(1.0, math.inf, straggler_prob=0.3, slowdown=2.0)),
]


@pytest.mark.parametrize(("n", "levels", "model"), ACTIVITY_CASES)
def test_load_uploads_signals_levels_against_monte_carlo(n, levels, model):
    kind = "nested" if len(levels) > 1 else "gc"
    tasks, uploads, signals, level = sampled_activity(model, n, levels, kind, 100_000, seed=n)
    summary = gclib.latency_summary(n, levels, model)
    assert_close_to_sample(summary.tasks_per_worker, tasks)
    assert_close_to_sample(summary.uploads_per_iteration, uploads.astype(float))
    if kind == "nested":
        assert_close_to_sample(summary.signals_per_iteration, signals.astype(float))
        assert summary.signals_per_iteration == pytest.approx(n * summary.tasks_per_worker)
    else:
        assert summary.signals_per_iteration == 0.0
    total = sum(summary.level_probabilities.values())
    assert total == pytest.approx(1 - summary.failure_probability, abs=1e-9)
    for s, prob in summary.level_probabilities.items():
        observed = np.mean(level == s)
        assert abs(prob - observed) <= 5 * math.sqrt(max(prob * (1 - prob), 1e-5) / level.size)


# nearly deterministic tasks: a task's exponential part narrow against its shift or against
# another slowdown's times, which the quadrature must still see
NARROW_CASES = [
    (10, [1], RuntimeModel(1.0, 1e4, straggler_prob=0.2, slowdown=8.0)),
    (10, [0, 1, 2, 3, 4], RuntimeModel(1.0, 1e4, straggler_prob=0.2, slowdown=8.0)),
    (10, [0, 1, 2, 3, 4], RuntimeModel(1.0, 1e8, straggler_prob=0.2, slowdown=8.0)),
    (10, [1], RuntimeModel(1e6, 1.0, straggler_prob=0.2, slowdown=8.0)),
    (10, [0, 1, 2, 3, 4], RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=1e6)),
    (8, [2], RuntimeModel(1.0, 1e2, straggler_prob=0.3, slowdown=2.0, upload_cost=0.5)),
    (8, [0, 1, 3], RuntimeModel(1.0, 1e8, stragglers=2, slowdown=2.0, signal_cost=1.0)),
]


@pytest.mark.parametrize(("n", "levels", "model"), NARROW_CASES)
def test_nearly_deterministic_load_against_monte_carlo(n, levels, model):
    kind = "nested" if len(levels) > 1 else "gc"
    tasks, uploads, _, level = sampled_activity(model, n, levels, kind, 100_000, seed=n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = gclib.latency_summary(n, levels, model)
    for exact, sample in (
        (summary.tasks_per_worker, tasks),
        (summary.uploads_per_iteration, uploads),
    ):
        # the quadrature's relative tolerance (1e-9) where the sample does not vary at all
        stderr = float(np.std(sample, ddof=1)) / math.sqrt(sample.size)
        assert abs(exact - float(np.mean(sample))) <= 5 * stderr + 1e-8 * exact
    for s, prob in summary.level_probabilities.items():
        observed = np.mean(level == s)
        assert abs(prob - observed) <= 5 * math.sqrt(max(prob * (1 - prob), 1e-5) / level.size)


@pytest.mark.parametrize(
    "model",
    [
        RuntimeModel(1.0, rate, straggler_prob=0.2, slowdown=8.0)
        for rate in (1.0, 1e2, 1e4, 1e8, 1e308)
    ]
    + [
        RuntimeModel(1e6, 1.0, straggler_prob=0.2, slowdown=8.0),
        RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=1e6),
        RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0, upload_cost=1e100),
    ],
)
def test_uncoded_load_is_one_task_and_one_upload_per_worker(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gclib.expected_tasks_per_worker(10, [0], model) == pytest.approx(1.0, abs=1e-9)
        assert gclib.expected_uploads(10, [0], model) == pytest.approx(10.0, abs=1e-8)


def test_far_narrower_tasks_than_doubles_resolve_have_their_limit_load():
    """At μ = 1e308 the exponential parts are below the shift's last bit; the load is that of
    every large μ (the events keep their order), here that of μ = 1e8."""
    levels = [0, 1, 2, 3, 4]
    fine = RuntimeModel(1.0, 1e8, straggler_prob=0.2, slowdown=8.0, signal_cost=1.0)
    finest = RuntimeModel(1.0, 1e308, straggler_prob=0.2, slowdown=8.0, signal_cost=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = gclib.latency_summary(10, levels, fine), gclib.latency_summary(10, levels, finest)
    assert b.tasks_per_worker == pytest.approx(a.tasks_per_worker, rel=1e-9)
    assert b.uploads_per_iteration == pytest.approx(a.uploads_per_iteration, rel=1e-9)
    assert b.expected_latency == pytest.approx(a.expected_latency, rel=1e-6)


def test_eager_load_without_stragglers_is_the_full_window():
    model = RuntimeModel(1.0, 1.0)
    assert gclib.expected_tasks_per_worker(6, [3], model) <= 4.0
    assert gclib.expected_uploads(6, [3], model) == pytest.approx(3.0)
    assert gclib.expected_signals(6, [3], model) == 0.0


# ------------------------------------------------------------------------ validation
def test_invalid_arguments_raise_value_error():
    with pytest.raises(ValueError, match="'levels'"):
        gclib.expected_latency(5, [5], REFERENCE)
    with pytest.raises(ValueError, match="'levels'"):
        gclib.expected_latency(5, [], REFERENCE)
    with pytest.raises(ValueError, match="'levels'"):
        gclib.expected_latency(5, "0,1", REFERENCE)
    with pytest.raises(ValueError, match="'n'"):
        gclib.expected_latency(0, [0], REFERENCE)
    with pytest.raises(ValueError, match="'model'"):
        gclib.expected_latency(5, [0], "model")
    with pytest.raises(ValueError, match="stragglers"):
        gclib.expected_latency(3, [0], RuntimeModel(1.0, 1.0, stragglers=4))
    # the coverage schemes' latency has an exact program, their load and uploads do not
    with pytest.raises(ValueError, match="streaming scheme's load"):
        gclib.expected_uploads(5, StreamingScheme(2), REFERENCE)
    with pytest.raises(ValueError, match="'t'"):
        gclib.latency_cdf([1.0, math.nan], 5, [0], REFERENCE)
    with pytest.raises(ValueError, match="'q'"):
        gclib.latency_quantile(1.5, 5, [0], REFERENCE)
    with pytest.raises(ValueError, match="'unresponsive'"):
        gclib.deterministic_latency(5, [0], 6)
    with pytest.raises(ValueError, match="'levels'"):
        gclib.deterministic_latency(5, [7], 1)
    # times beyond double precision: refused, with what to use instead
    with pytest.raises(ValueError, match="'slowdown' inf for unresponsive"):
        RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=1e308)
    with pytest.raises(ValueError, match="mean task time"):
        RuntimeModel(1e308, 1.0)
    with pytest.raises(ValueError, match="mean task time"):
        RuntimeModel(1.0, 1e-308)
    with pytest.raises(ValueError, match="'signal_cost' must be at most"):
        RuntimeModel(1.0, 1.0, signal_cost=1e308)
