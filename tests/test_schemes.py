"""The scheme objects: names, and the cover and nested-eager schemes and the shared link, each
against an independent computation (written out here, not taken from the schemes)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gclib
from gclib.schemes import (
    CoverScheme,
    GradientCodingScheme,
    IgnoreStragglersScheme,
    NestedEagerScheme,
    NestedScheme,
    StreamingScheme,
    UncodedScheme,
    parse_scheme,
)

REFERENCE = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
S_MAX = 4


@pytest.mark.parametrize(
    ("name", "cls", "label"),
    [
        ("nested", NestedScheme, "nested"),
        ("nested-eager", NestedEagerScheme, "nested-eager"),
        ("gc:2", GradientCodingScheme, "GC(2)"),
        ("uncoded", UncodedScheme, "uncoded"),
        ("ignore:3", IgnoreStragglersScheme, "ignore(3)"),
        ("streaming", StreamingScheme, "streaming"),
        ("cover", CoverScheme, "cover"),
    ],
)
def test_names_round_trip(name, cls, label):
    scheme = parse_scheme(name, S_MAX)
    assert type(scheme) is cls and scheme.name == name and scheme.label == label
    assert parse_scheme(scheme.name, S_MAX) == scheme
    assert hash(parse_scheme(name, S_MAX)) == hash(scheme)


def test_schemes_of_different_classes_differ():
    assert GradientCodingScheme(0, 4) != UncodedScheme(4)
    assert NestedScheme((0, 1), 1) != NestedEagerScheme((0, 1), 1)
    assert StreamingScheme(2) != CoverScheme(2)


def coverage_time(finish: np.ndarray) -> np.ndarray:
    """``max_j min_k F[(j − k) mod n, k]`` by a plain loop over partitions."""
    iterations, n, window = finish.shape
    result = np.empty(iterations)
    for it in range(iterations):
        result[it] = max(min(finish[it, (j - k) % n, k] for k in range(window)) for j in range(n))
    return result


@pytest.mark.parametrize("method", ["vectorized", "events"])
def test_cover_finishes_at_the_coverage_time_and_never_after_nested(method):
    model = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.3, slowdown=6.0, crash_prob=0.05)
    sample = model.sample(9, S_MAX + 1, np.random.default_rng(4), size=400)
    runs = gclib.simulate_sample(
        [CoverScheme(S_MAX), NestedScheme(tuple(range(S_MAX + 1)), S_MAX)],
        sample,
        model=model,
        method=method,
    )
    finish = np.cumsum(sample.task_times, axis=-1)
    assert np.array_equal(runs["cover"].latency, coverage_time(finish))
    assert np.all(runs["cover"].latency <= runs["nested"].latency)
    # at most one upload per worker, at least the ⌈n/K⌉ windows a cover needs; fewer than the
    # nested code's n − s on average only (a cover drawn early can need more workers)
    finite = np.isfinite(runs["cover"].latency)
    assert np.all(runs["cover"].uploads[finite] <= 9)
    assert np.all(runs["cover"].uploads[finite] >= math.ceil(9 / (S_MAX + 1)))
    assert runs["cover"].uploads[finite].mean() < runs["nested"].uploads[finite].mean()


@pytest.mark.parametrize("method", ["vectorized", "events"])
def test_nested_eager_finishes_with_nested_and_uploads_every_level_reached(method):
    levels = (0, 2, 3)
    model = gclib.RuntimeModel(0.5, 2.0, straggler_prob=0.3, slowdown=4.0)
    sample = model.sample(8, 4, np.random.default_rng(7), size=300)
    runs = gclib.simulate_sample(
        [NestedScheme(levels, 3), NestedEagerScheme(levels, 3)], sample, method=method
    )
    assert np.array_equal(runs["nested"].latency, runs["nested-eager"].latency)
    # written out: every worker uploads after task s + 1 for each s it reached by the stop
    finish = np.cumsum(sample.task_times, axis=-1)
    stop = runs["nested-eager"].latency
    expected = sum(np.sum(finish[:, :, s] <= stop[:, None], axis=1) for s in levels)
    assert np.array_equal(runs["nested-eager"].uploads, expected)


def test_nested_eager_expected_uploads_against_monte_carlo():
    scheme = NestedEagerScheme((0, 1, 2, 3, 4), S_MAX)
    exact = gclib.expected_uploads(10, scheme, REFERENCE)
    runs = gclib.simulate(10, [scheme], REFERENCE, 40_000, rng=3)[scheme.name]
    stderr = np.std(runs.uploads) / math.sqrt(runs.iterations)
    assert abs(exact - runs.mean_uploads) < 5 * stderr


def test_shared_link_by_hand():
    # uncoded, three uploads sent together at t = 1 over one link of 0.5 per upload
    times = gclib.ModelSample.from_task_times(np.ones((3, 1)))
    own = gclib.RuntimeModel(1.0, math.inf, upload_cost=0.5)
    shared = gclib.RuntimeModel(1.0, math.inf, upload_cost=0.5, shared_link=True)
    for method in ("vectorized", "events"):
        run = gclib.simulate_sample([UncodedScheme(0)], times, model=own, method=method)
        assert run["uncoded"].latency[0] == pytest.approx(1.5)
        run = gclib.simulate_sample([UncodedScheme(0)], times, model=shared, method=method)
        assert run["uncoded"].latency[0] == pytest.approx(2.5)
    # nested, S = {0, 1}, worker 2 unresponsive: level 1 at t = 2; the signal and the request take
    # 0.1 each, then the two requested uploads queue: 2.2 + 0.5 + 0.5
    times = gclib.ModelSample.from_task_times([[1.0, 1.0], [1.0, 1.0], [math.inf, math.inf]])
    costs = {"upload_cost": 0.5, "signal_cost": 0.1}
    for method in ("vectorized", "events"):
        for shared_link, expected in ((False, 2.7), (True, 3.2)):
            model = gclib.RuntimeModel(1.0, math.inf, shared_link=shared_link, **costs)
            run = gclib.simulate_sample(
                [NestedScheme((0, 1), 1)], times, model=model, method=method
            )
            assert run["nested"].latency[0] == pytest.approx(expected)


def test_shared_link_exact_mean_against_monte_carlo():
    model = gclib.RuntimeModel(
        1.0,
        1.0,
        straggler_prob=0.2,
        slowdown=8.0,
        upload_cost=0.3,
        signal_cost=0.1,
        shared_link=True,
    )
    scheme = NestedScheme((0, 1, 2, 3, 4), S_MAX)
    exact = gclib.expected_latency(10, scheme, model)
    run = gclib.simulate(10, [scheme], model, 40_000, rng=5)[scheme.name]
    assert abs(exact - run.mean_latency) < 5 * run.latency_stderr
    # queueing uploads that come unasked have no exact program: a clear refusal
    with pytest.raises(ValueError, match="shared link"):
        gclib.expected_latency(10, GradientCodingScheme(2, S_MAX), model)
    with pytest.raises(ValueError, match="shared link"):
        gclib.latency_cdf(5.0, 10, scheme, model)


@pytest.mark.parametrize("name", ["cover", "streaming"])
def test_coverage_schemes_exact_latency_against_monte_carlo(name):
    model = gclib.RuntimeModel(
        0.5, 1.0, straggler_prob=0.25, slowdown=5.0, upload_cost=0.2, signal_cost=0.05
    )
    scheme = parse_scheme(name, 3)
    exact = gclib.expected_latency(9, scheme, model)
    run = gclib.simulate(9, [scheme], model, 40_000, rng=11)[scheme.name]
    assert abs(exact - run.mean_latency) < 5 * run.latency_stderr


def test_cover_replans_when_a_chosen_worker_is_lost():
    from gclib.runtime.scheduler import Complete, Request, Resume, Scheduler

    scheduler = Scheduler(4, CoverScheme(1))
    for worker, tasks in [(1, 1), (3, 1), (0, 1), (0, 2)]:
        assert scheduler.progress(worker, tasks) == []
    # partitions 0, 1 (worker 0), 2 (worker 2), 3 (worker 3): three workers, each once
    request = scheduler.progress(2, 1)[0]
    assert isinstance(request, Request)
    sums = dict(request.requests)
    assert {w: c.tasks for w, c in sums.items()} == {0: (0, 1), 2: (0,), 3: (0,)}
    assert scheduler.message(0, sums[0]) == []
    # worker 3 dies before its sum arrives: nobody else holds partition 3 yet, so the master
    # resumes the workers that can still reach it
    actions = scheduler.lost(3)
    assert isinstance(actions[-1], Resume) and 2 in actions[-1].workers
    # worker 2 reaches partition 3: a cover of two workers; worker 0's sum is reused
    request = scheduler.progress(2, 2)[0]
    assert {w: c.tasks for w, c in request.requests} == {2: (0, 1)}
    done = scheduler.message(2, request.requests[0][1])[-1]
    assert isinstance(done, Complete) and done.responders == (0, 2)
