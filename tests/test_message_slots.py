"""Prepared messages read one-sided (gclib/runtime/transports/message_slots.py) and the pool's use
of them: the master reads a requested coded message where the worker left it, without a request,
and gets what a request would have brought.

- The slots return exactly the array written, of every shape and type they take, across a fork,
  and nothing for another iteration, level or worker; what they cannot hold is refused.
- In the pool: the nested code's level messages are published before their task's signal, read
  without any request reaching a worker, and decode to the true gradient, computed here straight
  from the data; with one-sided reads off (or a message too large for its slot) the same
  iteration goes through requests and decodes to the same gradient at the same level.
- Cover's sums, chosen only at the decision, are read as their parts (every partial gradient is
  published as it is computed) and added by the master: no worker is asked, and the gradient is
  the true one; without one-sided reads the same sums are asked for.
- The emulated costs of the request and the upload are still paid.
"""

from __future__ import annotations

import math

import multiprocess
import numpy as np
import pytest

from gclib import ModelSample, RuntimeModel, simulate_sample
from gclib.runtime.pool import WorkerPool
from gclib.runtime.transports import ProcessBackend
from gclib.runtime.transports.message_slots import MIN_SLOT, MessageSlots
from gclib.training.objectives import least_squares_gradient, least_squares_problem

N = 6
S_MAX = 2


# ---------------------------------------------------------------------- the slots
ARRAYS = {
    "vector": np.linspace(-1.0, 1.0, 7),
    "scalar": np.array(2.5),
    "empty": np.zeros(0),
    "matrix": np.arange(12.0).reshape(3, 4),
    "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "strided": np.arange(20.0)[::3],
    "float32": np.arange(5, dtype=np.float32) / 3,
    "complex": np.array([1 + 2j, -3j]),
    "int8": np.array([-128, 0, 127], dtype=np.int8),
    "bool": np.array([True, False, True]),
    "big-endian": np.arange(4, dtype=">f8"),
    "eleven-dims": np.ones((1,) * 10 + (2,)),
}


@pytest.mark.parametrize("name", ARRAYS)
def test_a_published_message_reads_back_exactly(name):
    slots = MessageSlots(4, 3)
    array = ARRAYS[name]
    assert slots.publish(2, 7, 1, array)
    (read,) = slots.fetch(7, 1, [2])
    assert read.dtype == array.dtype and read.shape == array.shape
    assert np.array_equal(read, array)
    read[...] = 0  # a copy: the slot keeps the message
    assert np.array_equal(slots.fetch(7, 1, [2])[0], array)


def test_one_slot_rewritten_with_other_types_and_shapes_reads_back_each():
    """A slot written again with an array of another type or shape reads back the new one (its
    header is rewritten), and with the same ones again (its header kept)."""
    slots = MessageSlots(3, 2)
    for iteration, name in enumerate([*ARRAYS, *ARRAYS], start=1):
        assert slots.publish(1, iteration, 1, ARRAYS[name])
        (back,) = slots.fetch(iteration, 1, [1])
        assert back.dtype == ARRAYS[name].dtype and back.shape == ARRAYS[name].shape, name
        np.testing.assert_array_equal(back, ARRAYS[name])


def test_only_the_published_iteration_level_and_worker_read_back():
    slots = MessageSlots(4, 3)
    slots.publish(1, 5, 2, np.ones(3))
    slots.publish(3, 5, 2, np.full(3, 2.0))
    one, none, three = slots.fetch(5, 2, [1, 2, 3])
    assert np.array_equal(one, np.ones(3)) and none is None
    assert np.array_equal(three, np.full(3, 2.0))
    assert slots.fetch(4, 2, [1]) == [None] and slots.fetch(6, 2, [1]) == [None]
    assert slots.fetch(5, 1, [1]) == [None] and slots.fetch(5, 0, [1]) == [None]
    assert slots.fetch(5, 3, [1]) == [None] and slots.fetch(5, 2, [4, -1]) == [None, None]
    slots.publish(1, 6, 2, np.zeros(2))  # the next iteration replaces it
    assert slots.fetch(5, 2, [1]) == [None]
    assert np.array_equal(slots.fetch(6, 2, [1])[0], np.zeros(2))


def test_what_a_slot_cannot_hold_is_refused():
    slots = MessageSlots(2, 2, budget=2 * 2 * MIN_SLOT)
    assert slots.capacity == MIN_SLOT - 128
    assert slots.publish(0, 1, 0, np.zeros(slots.capacity // 8))
    assert not slots.publish(0, 2, 0, np.zeros(slots.capacity // 8 + 1))
    assert not slots.publish(0, 1, 1, np.array(["text"], dtype=object))
    assert not slots.publish(0, 1, 1, np.zeros(1, dtype=[("a", float)]))
    assert not slots.publish(0, 1, 1, np.zeros((1,) * 12))
    assert not slots.publish(0, 0, 1, np.zeros(1))  # iterations count from 1
    assert not slots.publish(2, 1, 1, np.zeros(1)) and not slots.publish(0, 1, 2, np.zeros(1))
    assert slots.fetch(2, 0, [0]) == [None] and slots.fetch(1, 1, [0]) == [None]


def test_slots_that_would_not_fit_the_budget_are_refused():
    with pytest.raises(ValueError, match="at least 512"):
        MessageSlots(100_000, 100)
    with pytest.raises(ValueError, match="must be positive"):
        MessageSlots(0, 3)


def _publish_in_child(slots: MessageSlots, done) -> None:
    slots.publish(1, 3, 0, np.arange(6.0).reshape(2, 3))
    done.set()


def test_a_forked_process_publishes_to_the_master():
    context = multiprocess.get_context("fork")
    slots = MessageSlots(2, 1)
    done = context.Event()
    child = context.Process(target=_publish_in_child, args=(slots, done))
    child.start()
    child.join(10)
    assert done.is_set() and child.exitcode == 0
    assert np.array_equal(slots.fetch(3, 0, [1])[0], np.arange(6.0).reshape(2, 3))


# ---------------------------------------------------------------------- in the pool
@pytest.fixture(scope="module")
def problem():
    return least_squares_problem(N, rows_per_partition=8, features=4, seed=21)[0]


def true_gradient(partitions, params):
    features = np.vstack([x for x, _ in partitions])
    targets = np.concatenate([y for _, y in partitions])
    return features.T @ (features @ params - targets)


class _AskingBackend(ProcessBackend):
    """The process backend without one-sided reads: every requested message is asked for."""

    def fetch(self, iteration, level, workers):
        return [None] * len(workers)


class _SmallSlotsBackend(ProcessBackend):
    """Slots of the smallest size: a gradient of 64 numbers does not fit in one."""

    def reserve_messages(self, levels):
        self._slots = MessageSlots(self.n, levels, budget=self.n * levels * MIN_SLOT)


def _one_slow_worker(tasks=S_MAX + 1):
    """Worker 4 unresponsive, the others' first two tasks of one unit: the nested code decides
    level 1 at t = 2 with the five others (level 0 needs all six). Third tasks of ten units keep
    level 2 out of reach however late a busy machine lets the master read the signals."""
    times = np.ones((N, tasks))
    times[:, 2:] = 10.0
    times[4] = np.inf
    return ModelSample.from_task_times(times)


def _run(problem, scheme, backend=ProcessBackend, params=None):
    params = np.linspace(-0.5, 0.5, problem[0][0].shape[1]) if params is None else params
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, time_unit=0.01, backend=backend
    ) as pool:
        result = pool.run_iteration(
            params, scheme, sample=_one_slow_worker(), trace=True, deadline=100.0
        )
    assert not result.failed, result.reason
    truth = true_gradient(problem, params)
    assert np.linalg.norm(result.gradient - truth) <= 1e-9 * np.linalg.norm(truth)
    return result


def _nested(problem, backend=ProcessBackend, params=None):
    result = _run(problem, "nested", backend, params)
    assert result.level == 1 and sorted(result.responders) == [0, 1, 2, 3, 5]
    return result


def _cover(problem, backend=ProcessBackend):
    result = _run(problem, "cover", backend)
    # partition 4 is held by worker 3 (its second task) or 2 (its third), never by worker 4
    assert 4 not in result.responders and {2, 3} & set(result.responders)
    return result


def _kinds(result, kind):
    return sorted(e.worker for e in result.events if e.kind == kind)


def test_the_master_reads_the_nested_codes_messages_without_asking(problem):
    result = _nested(problem)
    assert _kinds(result, "request") == [0, 1, 2, 3, 5]  # the master's decision, logged
    assert _kinds(result, "got_request") == []  # no worker was asked
    assert _kinds(result, "message") == [0, 1, 2, 3, 5] and result.uploads == 5
    for worker in [0, 1, 2, 3, 5]:
        mine = [e for e in result.events if e.worker == worker]
        published = {e.value: e.time for e in mine if e.kind == "publish"}
        signalled = {e.value - 1: e.time for e in mine if e.kind == "send_signal"}
        assert 1 in published  # the level the master read
        assert all(published[level] <= signalled[level] for level in published)


def test_asking_instead_gives_the_same_gradient(problem):
    read = _nested(problem)
    asked = _nested(problem, _AskingBackend)
    assert _kinds(asked, "got_request") == [0, 1, 2, 3, 5]
    assert np.allclose(asked.gradient, read.gradient, rtol=1e-12, atol=0.0)


def test_a_message_too_large_for_its_slot_is_asked_for(problem):
    large = least_squares_problem(N, rows_per_partition=70, features=64, seed=4)[0]
    result = _nested(large, _SmallSlotsBackend)
    assert _kinds(result, "got_request") == [0, 1, 2, 3, 5]
    assert _kinds(result, "publish") == []


def test_the_master_reads_covers_sums_in_parts_without_asking(problem):
    result = _cover(problem)
    chosen = sorted(result.responders)
    assert _kinds(result, "request") == chosen and _kinds(result, "message") == chosen
    assert _kinds(result, "got_request") == []  # no worker was asked
    assert result.uploads == len(chosen)  # one message per chosen worker, as a request brings
    for worker in range(N):
        mine = [e for e in result.events if e.worker == worker]
        published = {e.value: e.time for e in mine if e.kind == "publish"}
        signalled = {e.value - 1: e.time for e in mine if e.kind == "send_signal"}
        assert set(published) == set(signalled)  # every partial gradient, before its signal
        assert all(published[task] <= signalled[task] for task in published)


def test_covers_sums_asked_for_instead_give_the_same_gradient(problem):
    read = _cover(problem)
    asked = _cover(problem, _AskingBackend)
    assert _kinds(asked, "got_request") == sorted(asked.responders)
    assert np.allclose(asked.gradient, read.gradient, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("shared_link", [False, True])
def test_a_message_read_without_asking_still_pays_for_the_request_and_upload(problem, shared_link):
    model = RuntimeModel(1.0, math.inf, signal_cost=0.5, upload_cost=0.75, shared_link=shared_link)
    sample = _one_slow_worker()
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, model=model, time_unit=0.02, seed=3
    ) as pool:
        scheme = pool.resolve_scheme("nested")
        expected = float(simulate_sample([scheme], sample, model=model)["nested"].latency[0])
        result = pool.run_iteration(np.zeros(4), scheme, sample=sample, trace=True)
    assert not result.failed and _kinds(result, "got_request") == []
    # decided at 2 + 0.5 (the signal); then the request's 0.5 and one upload of 0.75 (own link)
    # or five in a row (shared)
    assert expected == pytest.approx(2.5 + 0.5 + (5 * 0.75 if shared_link else 0.75))
    # paid once: paying the request and upload twice would add at least 1.25 units
    assert expected - 0.05 <= result.latency <= expected + 1.0
