"""The Monte Carlo simulator: both paths agree, every scheme obeys its definition, and the
orderings the theory predicts hold pathwise."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gclib
from gclib import ModelSample, RuntimeModel, Scheme, parse_schemes
from gclib.schemes import (
    GradientCodingScheme,
    IgnoreStragglersScheme,
    NestedScheme,
    StreamingScheme,
)

S_MAX = 3
N = 7
ALL = "uncoded,gc:1,gc:2,gc:3,nested,ignore:1,ignore:3,streaming"

MODELS = [
    RuntimeModel(1.0, 1.0, straggler_prob=0.3, slowdown=5.0),
    RuntimeModel(0.5, 2.0, stragglers=2, slowdown=math.inf),
    RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=4.0, crash_prob=0.1),
    RuntimeModel(1.0, math.inf, straggler_prob=0.4, slowdown=2.0),  # many exact ties
    RuntimeModel(0.0, 1.0, straggler_prob=0.2, slowdown=3.0, upload_cost=0.4, signal_cost=0.2),
]


def schemes(levels=None):
    return parse_schemes(ALL, S_MAX, levels, N)


# -------------------------------------------------------------------- the two paths agree
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.describe())
def test_vectorized_equals_event_driven(model):
    sample = model.sample(N, S_MAX + 1, np.random.default_rng(7), size=150)
    for levels in ([0, 1, 2, 3], [1, 3]):
        fast = gclib.simulate_sample(schemes(levels), sample, model=model)
        slow = gclib.simulate_sample(schemes(levels), sample, model=model, method="events")
        for name in fast:
            assert np.array_equal(fast[name].latency, slow[name].latency), name
            assert np.array_equal(fast[name].level, slow[name].level), name
            assert np.array_equal(fast[name].tasks, slow[name].tasks), name
            assert np.array_equal(fast[name].uploads, slow[name].uploads), name
            assert np.array_equal(fast[name].signals, slow[name].signals), name


def test_simulate_paths_agree_and_are_reproducible():
    model = MODELS[2]
    a = gclib.simulate(N, ALL, model, 300, rng=3, s_max=S_MAX)
    b = gclib.simulate(N, ALL, model, 300, rng=np.random.default_rng(3), s_max=S_MAX)
    c = gclib.simulate(N, ALL, model, 300, rng=3, s_max=S_MAX, method="events")
    for name in a:
        assert np.array_equal(a[name].latency, b[name].latency)
        assert np.array_equal(a[name].latency, c[name].latency)
        assert a[name].iterations == 300


# -------------------------------------------------------------------- definitions, brute force
def brute_force(scheme: Scheme, finish: np.ndarray) -> float:
    """The latency of one iteration (no costs) straight from the definitions, with loops."""
    n = finish.shape[0]

    def kth_time(task: int, count: int) -> float:
        return sorted(finish[i, task] for i in range(n))[count - 1]

    if isinstance(scheme, GradientCodingScheme | NestedScheme):
        return min(kth_time(s, n - s) for s in scheme.levels)
    if isinstance(scheme, IgnoreStragglersScheme):
        return kth_time(0, n - scheme.levels[0])
    # streaming: a partition is covered by the first worker to compute it
    covered = {}
    for i in range(n):
        for k in range(scheme.s_max + 1):
            j = (i + k) % n
            covered[j] = min(covered.get(j, math.inf), finish[i, k])
    return max(covered.values())


@pytest.mark.parametrize("model", MODELS[:4], ids=lambda m: m.describe())
def test_latency_matches_definitions(model):
    sample = model.sample(N, S_MAX + 1, np.random.default_rng(1), size=60)
    result = gclib.simulate_sample(schemes([0, 2, 3]), sample)
    finish = np.cumsum(sample.task_times, axis=-1)
    for name, sim in result.items():
        for it in range(60):
            assert sim.latency[it] == brute_force(sim.scheme, finish[it]), (name, it)


def test_pathwise_orderings():
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.25, slowdown=6.0, crash_prob=0.03)
    result = gclib.simulate(N, ALL, model, 20_000, rng=5, s_max=S_MAX)
    nested = result["nested"].latency
    coverage = result["streaming"].latency
    for s in range(S_MAX + 1):
        gc = result["uncoded" if s == 0 else f"gc:{s}"].latency
        assert np.all(nested <= gc)
        assert np.all(coverage <= gc)
    assert np.all(coverage <= nested)
    # with crashes some iterations never finish: latency inf, level -1
    failed = np.isinf(result["uncoded"].latency)
    assert failed.any()
    assert np.all(result["uncoded"].level[failed] == -1)
    assert result["uncoded"].failed == int(failed.sum())


def test_coverage_bound_with_costs_stays_below_exact_schemes():
    model = MODELS[4]
    result = gclib.simulate(N, ALL, model, 5000, rng=2, s_max=S_MAX)
    for name, sim in result.items():
        if sim.scheme.exact and name != "streaming":
            assert np.all(result["streaming"].latency <= sim.latency), name


def test_deterministic_closed_form_from_chosen_task_times():
    """Unit tasks, σ unresponsive workers: nested needs s*+1 tasks, GC(s) s+1 or never."""
    n, levels = 8, (0, 2, 3, 5)
    for sigma in range(0, 7):
        times = np.ones((n, 6))
        times[:sigma] = np.inf
        sample = ModelSample.from_task_times(times)
        result = gclib.simulate_sample(
            [NestedScheme(levels, 5)] + [GradientCodingScheme(s, 5) for s in levels], sample
        )
        assert result["nested"].latency[0] == gclib.deterministic_latency(n, levels, sigma)
        for s in levels:
            expected = s + 1.0 if sigma <= s else math.inf
            assert result[f"gc:{s}"].latency[0] == expected


def test_activity_counts_on_a_hand_made_iteration():
    # worker i finishes task k at (k+1)·(i+1): worker 0 is the fastest
    n = 4
    times = np.array([[i + 1.0] * 3 for i in range(n)])
    sample = ModelSample.from_task_times(times)
    nested = NestedScheme((0, 1, 2), 2)
    result = gclib.simulate_sample([nested, GradientCodingScheme(1, 2), StreamingScheme(2)], sample)
    # level 0 needs all 4 first tasks: t = 4; level 1 needs 3 workers with 2 tasks: t = 6;
    # level 2 needs 2 workers with 3 tasks: t = 6 → nested stops at 4 with level 0
    assert result["nested"].latency[0] == 4.0
    assert result["nested"].level[0] == 0
    # by t = 4 worker 0 has 3 tasks (capped), worker 1 two, workers 2 and 3 one
    assert list(result["nested"].tasks[0]) == [3, 2, 1, 1]
    assert result["nested"].uploads[0] == 4
    assert result["nested"].signals[0] == 7
    # GC(1) finishes at 6: workers 0, 1, 2 have two tasks by then and uploaded
    assert result["gc:1"].latency[0] == 6.0
    assert list(result["gc:1"].tasks[0]) == [2, 2, 2, 1]
    assert result["gc:1"].uploads[0] == 3
    # streaming: partition 3 comes first from worker 3 (t = 4), before workers 2 and 1 (t = 6)
    assert result["streaming"].latency[0] == 4.0
    assert result["streaming"].uploads[0] == int(result["streaming"].tasks[0].sum())


def test_ignore_is_the_first_task_order_statistic():
    model = MODELS[0]
    sample = model.sample(N, 1, np.random.default_rng(4), size=500)
    result = gclib.simulate_sample([IgnoreStragglersScheme(2, S_MAX)], sample)
    first = sample.task_times[:, :, 0]
    assert np.array_equal(result["ignore:2"].latency, np.sort(first, axis=1)[:, N - 3])
    assert np.all(result["ignore:2"].uploads >= N - 2)


def test_monte_carlo_matches_theory_for_each_scheme():
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
    result = gclib.simulate(10, "uncoded,gc:2,nested,ignore:1", model, 100_000, rng=9, s_max=4)
    for name, sim in result.items():
        exact = gclib.expected_latency(10, sim.scheme, model)
        assert abs(sim.mean_latency - exact) <= 5 * sim.latency_stderr, name


def test_summary_helpers():
    sim = gclib.simulate(5, "gc:1", RuntimeModel(1.0, 1.0), 1000, rng=1, s_max=2)["gc:1"]
    values = sim.latency
    assert sim.mean_latency == pytest.approx(values.mean())
    assert sim.latency_stderr == pytest.approx(values.std(ddof=1) / math.sqrt(values.size))
    assert sim.quantile(0.5) == np.sort(values)[499]
    assert sim.cdf(np.median(values)) == pytest.approx(0.5, abs=0.002)
    assert sim.level_frequencies() == {1: 1.0}
    assert sim.mean_tasks_per_worker <= 2.0
    crash = gclib.simulate(
        5, "uncoded", RuntimeModel(1.0, 1.0, crash_prob=0.5), 200, rng=1, s_max=1
    )
    assert crash["uncoded"].mean_latency == math.inf
    assert crash["uncoded"].latency_stderr == math.inf
    assert crash["uncoded"].quantile(1.0) == math.inf


def test_invalid_arguments():
    model = MODELS[0]
    with pytest.raises(ValueError, match="'s_max'"):
        gclib.simulate(N, "nested", model, 10, rng=1)
    with pytest.raises(ValueError, match="'iterations'"):
        gclib.simulate(N, "nested", model, 0, rng=1, s_max=2)
    with pytest.raises(ValueError, match="'n'"):
        gclib.simulate(0, "nested", model, 10, rng=1, s_max=2)
    with pytest.raises(ValueError, match="'method'"):
        gclib.simulate(N, "nested", model, 10, rng=1, s_max=2, method="fast")
    with pytest.raises(ValueError, match="'s_max'"):
        gclib.simulate(N, "nested", model, 10, rng=1, s_max=N)
    with pytest.raises(ValueError, match="scheme"):
        gclib.simulate(N, "fancy", model, 10, rng=1, s_max=2)
    with pytest.raises(ValueError, match="'model'"):
        gclib.simulate(N, "nested", None, 10, rng=1, s_max=2)
    sample = model.sample(N, 2, np.random.default_rng(0), size=3)
    with pytest.raises(ValueError, match="tasks"):
        gclib.simulate_sample([GradientCodingScheme(3, 3)], sample)
    with pytest.raises(ValueError, match="'sample'"):
        gclib.simulate_sample([GradientCodingScheme(1, 3)], np.ones((3, 2)))
