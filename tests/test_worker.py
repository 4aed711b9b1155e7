"""The worker loop's timing rules (gclib/runtime/worker.py), seen from the pool.

- A worker that shares the master's clock times its tasks from the iteration's start, however
  late it wakes up to the broadcast; one that does not (a remote worker) from the receipt.
- A task's progress signal leaves when the task ends, before the next task's gradient.
- A requested coded message built ahead of the request decodes exactly like one built on request.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from gclib import ModelSample
from gclib.runtime.pool import WorkerPool
from gclib.runtime.protocol import Go, loads
from gclib.runtime.transports import ProcessBackend
from gclib.training.objectives import least_squares_gradient, least_squares_problem

N = 5
S_MAX = 2
FEATURES = 3
LATE = 0.03  # seconds the broadcast to worker 0 is held back
UNIT = 0.1  # seconds per model time unit: a task of one unit lasts 100 ms


@pytest.fixture(scope="module")
def problem():
    partitions, _ = least_squares_problem(N, rows_per_partition=6, features=FEATURES, seed=3)
    return partitions


class _LateBroadcastBackend(ProcessBackend):
    """Hands worker 0 its start message ``LATE`` seconds after the iteration began, as a
    machine with fewer cores than workers does when worker 0 is the last to be woken."""

    def send(self, worker, payload):
        if worker == 0 and isinstance(loads(payload), Go):
            time.sleep(LATE)
        return super().send(worker, payload)


class _RemoteClockBackend(_LateBroadcastBackend):
    shares_clock = False  # as for workers on other machines


def _uncoded_latency(problem, backend) -> float:
    """Latency, in model units, of an uncoded iteration with one-unit tasks: the master waits
    for every worker, so worker 0's lateness shows in full unless its task is timed from the
    iteration's start."""
    sample = ModelSample.from_task_times(np.ones((N, S_MAX + 1)))
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, time_unit=UNIT, backend=backend
    ) as pool:
        results = [
            pool.run_iteration(np.zeros(FEATURES), "uncoded", sample=sample, check=True)
            for _ in range(3)
        ]
    assert all(not r.failed and r.decode_error < 1e-9 for r in results)
    return min(r.latency for r in results)


def test_tasks_are_timed_from_the_iterations_start(problem):
    """A worker woken 0.3 units late still finishes its one-unit task at 1 unit."""
    latency = _uncoded_latency(problem, _LateBroadcastBackend)
    assert 1.0 <= latency < 1.0 + 0.5 * LATE / UNIT


def test_a_worker_with_its_own_clock_times_tasks_from_the_receipt(problem):
    """Without a shared clock the late worker's task ends a unit after it got the message."""
    latency = _uncoded_latency(problem, _RemoteClockBackend)
    assert latency >= 1.0 + LATE / UNIT


GRADIENT_SECONDS = 0.05


def _slow_gradient(params, partition):
    time.sleep(GRADIENT_SECONDS)
    return least_squares_gradient(params, partition)


def test_a_signal_leaves_before_the_next_tasks_gradient(problem):
    """Tasks shorter than their gradient: each task's signal leaves when the task ends, not after
    the next task's gradient has been computed."""
    sample = ModelSample.from_task_times(np.full((N, S_MAX + 1), 1e-6))
    with WorkerPool(problem, _slow_gradient, s_max=S_MAX, time_unit=0.01) as pool:
        result = pool.run_iteration(
            np.ones(FEATURES), "nested", sample=sample, trace=True, deadline=1000.0
        )
    assert not result.failed
    lags = []
    for worker in range(N):
        mine = [e for e in result.events if e.worker == worker]
        ends = {e.value + 1: e.time for e in mine if e.kind == "task_end"}
        sent = {e.value: e.time for e in mine if e.kind == "send_signal"}
        assert set(sent) == set(ends)  # one signal per task
        lags += [(sent[k] - ends[k]) * 0.01 for k in ends]
    assert max(lags) < GRADIENT_SECONDS / 2


@pytest.mark.parametrize("scheme", ["nested", "cover"])
def test_requested_messages_decode_exactly(problem, scheme):
    """Built ahead (nested) or on request (cover's plain sums), the replies decode to the full
    gradient, whichever level the stragglers leave."""
    rng = np.random.default_rng(5)
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX, time_unit=0.005) as pool:
        for stragglers in range(S_MAX + 1):
            times = np.ones((N, S_MAX + 1))
            times[rng.choice(N, stragglers, replace=False)] = 40.0
            sample = ModelSample.from_task_times(times)
            params = rng.standard_normal(FEATURES)
            result = pool.run_iteration(params, scheme, sample=sample, check=True)
            assert not result.failed and result.decode_error < 1e-9


@pytest.mark.parametrize("fast", [(0, 2), (2, 0), (1, 3)])
def test_plain_sums_of_tasks_after_the_first_decode_exactly(problem, fast):
    """Two fast workers two apart cover the cycle: one of them is asked for a sum of tasks that
    does not start at its first; the gradient is exact."""
    times = np.full((N, S_MAX + 1), 40.0)
    times[list(fast)] = [1.0, 1.0, 1.0]
    times[fast[1]] *= 1.5  # the second arrives later: the first worker is preferred
    sample = ModelSample.from_task_times(times)
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX, time_unit=0.005) as pool:
        result = pool.run_iteration(np.ones(FEATURES), "cover", sample=sample, check=True)
    assert not result.failed and result.decode_error < 1e-9
    assert sorted(result.responders) == sorted(fast)
