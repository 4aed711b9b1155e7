"""Level-set optimisation against brute force over every level set, and its search."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import gclib
from gclib.schemes import NestedScheme

REFERENCE = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
RARE = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.05, slowdown=8.0)
FIXED = gclib.RuntimeModel(0.5, 2.0, stragglers=3, slowdown=6.0)
CRASHES = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.1, slowdown=5.0, crash_prob=0.05)


def brute_force(n: int, size: int, model: gclib.RuntimeModel, s_max: int):
    """Every level set of ``size`` levels, scored directly by the exact theory."""
    scores = {}
    for levels in itertools.combinations(range(s_max + 1), size):
        scheme = NestedScheme(levels, s_max)
        never = gclib.failure_probability(n, scheme, model)
        scores[levels] = (never, gclib.expected_latency(n, scheme, model, conditional=True))
    return scores


@pytest.mark.parametrize(
    ("n", "s_max", "model"),
    [(10, 4, REFERENCE), (10, 4, RARE), (9, 5, FIXED)],
    ids=["reference", "rare", "fixed-count"],
)
def test_best_set_of_each_size_is_the_brute_force_minimum(n, s_max, model):
    best = gclib.best_level_sets(n, model, s_max)
    assert sorted(best) == list(range(1, s_max + 2))
    for size, choice in best.items():
        scores = brute_force(n, size, model, s_max)
        optimum = min(value for _, value in scores.values())
        assert choice.exhaustive
        assert len(choice.levels) == size and choice.levels == tuple(sorted(choice.levels))
        assert choice.expected_latency == pytest.approx(optimum, rel=1e-9)
        assert choice.expected_latency == pytest.approx(scores[choice.levels][1], rel=1e-12)
        assert choice.failure_probability == 0.0
        assert choice.expected_latency == pytest.approx(
            gclib.expected_latency(n, choice.levels, model), rel=1e-12
        )


def test_the_reference_scenario_optimum_of_size_one_is_the_best_classic_code():
    choice = gclib.best_level_set(10, 1, REFERENCE, 4)
    classic = {s: gclib.expected_latency(10, [s], REFERENCE) for s in range(5)}
    assert choice.levels == (min(classic, key=classic.get),)
    assert choice.expected_latency == pytest.approx(min(classic.values()))


def test_more_levels_never_cost_latency_and_all_levels_is_best():
    best = gclib.best_level_sets(12, REFERENCE, 6)
    values = [best[size].expected_latency for size in sorted(best)]
    assert all(later <= earlier * (1 + 1e-12) for earlier, later in itertools.pairwise(values))
    assert best[7].levels == tuple(range(7))
    assert values[0] > 1.2 * values[-1]  # the levels matter in this scenario


@pytest.mark.parametrize(
    ("n", "s_max", "model"),
    [(10, 4, REFERENCE), (12, 6, FIXED), (10, 5, CRASHES)],
    ids=["reference", "fixed-count", "crashes"],
)
def test_greedy_search_finds_the_exhaustive_optimum(n, s_max, model):
    greedy = gclib.best_level_sets(n, model, s_max, search="greedy")
    exhaustive = gclib.best_level_sets(n, model, s_max, search="exhaustive")
    for size in exhaustive:
        assert greedy[size].levels == exhaustive[size].levels
        assert greedy[size].exhaustive == (size in (1, s_max + 1))
        assert exhaustive[size].exhaustive


def test_greedy_is_used_beyond_the_exhaustive_limit_and_is_a_local_optimum():
    n, s_max, size = 14, 9, 5  # C(10, 5) = 252 sets: exhaustive; C(11, 5) = 462 would not be
    choice = gclib.best_level_set(n, size, REFERENCE, s_max, search="greedy")
    assert not choice.exhaustive
    own = gclib.expected_latency(n, choice.levels, REFERENCE)
    assert choice.expected_latency == pytest.approx(own, rel=1e-12)
    for out_level in choice.levels:  # no single swap improves it
        for in_level in set(range(s_max + 1)) - set(choice.levels):
            swapped = sorted(set(choice.levels) - {out_level} | {in_level})
            assert gclib.expected_latency(n, swapped, REFERENCE) >= own * (1 - 1e-9)


def test_with_crashes_sets_are_ranked_by_failure_first_then_conditional_latency():
    n, s_max = 10, 5
    best = gclib.best_level_sets(n, CRASHES, s_max)
    least_failure = gclib.failure_probability(n, [s_max], CRASHES)
    assert least_failure > 0.0
    for size, choice in best.items():
        assert s_max in choice.levels  # P(T = inf) depends on max S only
        assert math.isinf(choice.expected_latency)
        assert choice.failure_probability == pytest.approx(least_failure, rel=1e-9)
        scores = brute_force(n, size, CRASHES, s_max)
        candidates = [
            value for (never, value) in scores.values() if never <= least_failure * 1.0001
        ]
        assert choice.conditional_latency == pytest.approx(min(candidates), rel=1e-9)


def test_the_optimum_beats_its_alternatives_in_monte_carlo():
    n, s_max = 10, 4
    chosen = gclib.best_level_set(n, 2, REFERENCE, s_max).levels
    scores = brute_force(n, 2, REFERENCE, s_max)
    worst = max(scores, key=lambda levels: scores[levels][1])
    rng = np.random.default_rng(5)
    names = [f"gc:{s}" for s in range(s_max + 1)]
    result = gclib.simulate(n, names, REFERENCE, 40_000, rng, s_max=s_max)
    # T_S = min over s in S of T_s, pathwise: compute both sets' latencies from the GC runs
    per_level = {s: result[f"gc:{s}"].latency for s in range(s_max + 1)}
    mean = {
        levels: float(np.mean(np.minimum.reduce([per_level[s] for s in levels])))
        for levels in (chosen, worst)
    }
    assert mean[chosen] < mean[worst]
    assert mean[chosen] == pytest.approx(scores[chosen][1], rel=0.02)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "Argument 'size'"),
        ({"size": 6}, "Argument 'size'"),
        ({"size": True}, "Argument 'size'"),
        ({"s_max": 10}, "Argument 's_max'"),
        ({"n": 0}, "Argument 'n'"),
        ({"model": "fast"}, "Argument 'model'"),
        ({"search": "random"}, "Argument 'search'"),
        ({"model": gclib.RuntimeModel(1.0, 1.0, stragglers=11)}, "Argument 'stragglers'"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs, message):
    arguments = {"n": 10, "size": 2, "model": REFERENCE, "s_max": 4, **kwargs}
    search = arguments.pop("search", "auto")
    with pytest.raises(ValueError, match=message):
        gclib.best_level_set(
            arguments["n"], arguments["size"], arguments["model"], arguments["s_max"], search=search
        )
