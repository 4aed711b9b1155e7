"""The worker pool emulates the communication model of the theory: control messages one way, and
uploads on the workers' own links or queued on the master's single link. Wall-clock latencies
can only come out later than the model's (the pool adds its own overhead), never earlier, so the
checks are lower bounds against the simulator on the same task times, and the decisions must be
the simulator's."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gclib
from gclib.training import least_squares_gradient, least_squares_problem

N = 6
UNIT = 0.02  # seconds per model time unit


@pytest.fixture(scope="module")
def partitions():
    return least_squares_problem(N, 8, 3, seed=0)[0]


@pytest.mark.parametrize("shared_link", [False, True])
def test_the_pool_pays_what_the_model_charges(partitions, shared_link):
    model = gclib.RuntimeModel(
        1.0, math.inf, signal_cost=0.5, upload_cost=0.5, shared_link=shared_link
    )
    sample = gclib.ModelSample.from_task_times(np.ones((N, 3)))
    params = np.zeros(3)
    with gclib.WorkerPool(
        partitions, least_squares_gradient, s_max=2, model=model, time_unit=UNIT, seed=1
    ) as pool:
        for name in ["nested", "gc:2", "cover", "uncoded", "streaming", "nested-eager"]:
            scheme = pool.resolve_scheme(name)
            expected = gclib.simulate_sample([scheme], sample, model=model)[name]
            result = pool.run_iteration(params, scheme, sample=sample)
            assert not result.failed, name
            assert result.latency >= float(expected.latency[0]) - 0.05, name
            if scheme.levels:
                assert result.level == int(expected.level[0]), name


def test_a_checked_iteration_measures_against_the_gradient_of_the_master(partitions):
    params = np.array([0.3, -1.0, 2.0])
    partials = [x.T @ (x @ params - y) for x, y in partitions]  # least squares, written out
    model = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.3, slowdown=3.0)
    with gclib.WorkerPool(
        partitions, least_squares_gradient, s_max=2, model=model, time_unit=0.002, seed=3
    ) as pool:
        truth, scale = pool.exact_gradient(params)
        np.testing.assert_allclose(truth, np.sum(partials, axis=0), rtol=1e-12)
        assert scale == pytest.approx(sum(np.linalg.norm(g) for g in partials))
        result = pool.run_iteration(params, "nested", check=True)
        expected = np.linalg.norm(result.gradient - truth) / scale
        assert result.decode_error == pytest.approx(expected, rel=1e-9, abs=1e-18)
        assert result.decode_error < 1e-12
        with pytest.raises(ValueError, match="'check'"):
            pool.run_iteration(params, "nested", check=True, true_gradient=truth)
