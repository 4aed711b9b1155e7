"""The master's one-sided reads (gclib/runtime/one_sided.py) and its reading ahead in a round
(gclib/runtime/round.py), on a scripted backend whose reads are recorded.

- ``read_published`` takes what the master read ahead from there and reads only the rest, whole
  messages and the parts of a sum alike; a message with a part the backend cannot read is asked
  for.
- In a round, the master copies each published message the moment its signal is handled; at the
  decision it reads nothing more, and the messages it decodes with are those copies. Without
  reading ahead it reads the chosen messages at the decision, to the same outcome. A signal of a
  burst that only its last signal decides on is read at the decision; nothing is read once the
  iteration is over.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from gclib import parse_scheme
from gclib.runtime.one_sided import read_published
from gclib.runtime.protocol import RequestCommand, Signal, Upload, dumps, loads
from gclib.runtime.round import Round, SchemePlan
from gclib.runtime.scheduler import Complete, Scheduler
from gclib.runtime.transports import Received, WorkerBackend
from gclib.schemes.base import Coded, Partial, PartitionSum

N = 4
ITERATION = 7


def _message(worker: int, slot: int) -> np.ndarray:
    """A distinct message for each worker and slot (small integers: sums are exact)."""
    return np.array([10.0 * worker + slot + 1.0, -float(worker)])


class _Scripted(WorkerBackend):
    """Delivers the scripted events, one list per wait, and serves one-sided reads of
    ``published`` (``(worker, slot)`` → array), recording each read as ``(waits so far, slot,
    workers)``."""

    shares_clock = True

    def __init__(self, script, published):
        self.n = N
        self.script = list(script)
        self.published = published
        self.waits = 0
        self.reads: list[tuple[int, int, tuple[int, ...]]] = []
        self.sent: list[tuple[int, object]] = []

    def start(self, worker):
        pass

    def send(self, worker, payload):
        self.sent.append((worker, loads(payload)))
        return True

    def wait(self, timeout):
        if not self.script:
            time.sleep(min(timeout, 0.01))
            return []
        self.waits += 1
        return self.script.pop(0)

    def alive(self, worker):
        return True

    def respawn(self, worker):
        pass

    def pid(self, worker):
        return worker

    def close(self, grace=1.0):
        pass

    def fetch(self, iteration, slot, workers):
        self.reads.append((self.waits, slot, tuple(workers)))
        if iteration != ITERATION:
            return [None] * len(workers)
        return [self.published.get((worker, slot)) for worker in workers]


def _signals(*reports):
    """One wait's events: ``(worker, tasks done)`` signals."""
    return [Received(worker, dumps(Signal(ITERATION, tasks))) for worker, tasks in reports]


def _every_message():
    return {(worker, slot): _message(worker, slot) for worker in range(N) for slot in (0, 1)}


def _round(script, read_ahead, published=None):
    """A round of the nested code with ``S = {0, 1}`` on ``N`` workers, run on ``script``."""
    scheme = parse_scheme("nested", 1, None, N)
    plan = SchemePlan(1, scheme, scheme.tasks_per_worker, {}, {Coded(0): 0, Coded(1): 1})
    backend = _Scripted(script, _every_message() if published is None else published)
    round_ = Round(
        number=ITERATION,
        plan=plan,
        scheduler=Scheduler(N, scheme),
        backend=backend,
        respawn=lambda worker: None,
        start=time.monotonic(),
        time_unit=1.0,
        events=[],
        progress=[0] * N,
        outstanding=[0] * N,
        read_ahead=read_ahead,
    )
    round_.collect(deadline=5.0)
    return round_, backend


# worker 3 never finishes its first task: level 1 is decided on worker 2's second signal, with
# workers 0, 1 and 2; worker 3's late first signal comes after the end of the iteration
LEVEL_ONE = [
    *[_signals((worker, 1)) for worker in range(3)],
    *[_signals((worker, 2)) for worker in range(3)],
    _signals((3, 1)),
]


def _check_level_one(round_):
    outcome = round_.outcome
    assert isinstance(outcome, Complete)
    assert outcome.level == 1 and outcome.responders == (0, 1, 2)
    for worker in range(3):
        np.testing.assert_array_equal(round_.messages[(worker, Coded(1))], _message(worker, 1))
    assert sorted(e.worker for e in round_.events if e.kind == "message") == [0, 1, 2]


def test_each_published_message_is_read_as_its_signal_arrives_and_not_again():
    round_, backend = _round(LEVEL_ONE, read_ahead=True)
    _check_level_one(round_)
    # one read per signal, right when it was handled; none at the decision (the sixth wait)
    # and none for worker 3's signal, handled once the iteration was over
    assert backend.reads == [
        (1, 0, (0,)),
        (2, 0, (1,)),
        (3, 0, (2,)),
        (4, 1, (0,)),
        (5, 1, (1,)),
        (6, 1, (2,)),
    ]
    assert backend.waits == 7
    for worker in range(3):  # the copies read ahead are the ones decoded with
        assert round_.messages[(worker, Coded(1))] is round_.copies[(worker, 1)]


def test_without_reading_ahead_the_chosen_messages_are_read_at_the_decision():
    round_, backend = _round(LEVEL_ONE, read_ahead=False)
    _check_level_one(round_)
    assert backend.reads == [(6, 1, (0, 1, 2))]
    assert round_.copies == {}


def test_a_signal_passed_over_in_a_burst_is_read_at_the_decision():
    # worker 0's two signals arrive together: the scheduler sees its second only, so only slot 1
    # is read then; level 0 is decided on worker 3's first signal and needs worker 0's slot 0
    script = [_signals((0, 1), (0, 2)), *[_signals((worker, 1)) for worker in (1, 2, 3)]]
    round_, backend = _round(script, read_ahead=True)
    assert isinstance(round_.outcome, Complete) and round_.outcome.level == 0
    assert backend.reads == [(1, 1, (0,)), (2, 0, (1,)), (3, 0, (2,)), (4, 0, (3,)), (4, 0, (0,))]
    for worker in range(N):
        np.testing.assert_array_equal(round_.messages[(worker, Coded(0))], _message(worker, 0))


def test_a_message_neither_read_ahead_nor_readable_is_asked_for():
    published = _every_message()
    del published[(1, 1)]  # worker 1's level-1 message cannot be read: it is asked for
    reply = Upload(ITERATION, 2, Coded(1), _message(1, 1), True)
    script = [*LEVEL_ONE[:6], [Received(1, dumps(reply))]]
    round_, backend = _round(script, read_ahead=True, published=published)
    _check_level_one(round_)
    requests = [(worker, m) for worker, m in backend.sent if isinstance(m, RequestCommand)]
    assert [(worker, m.contribution) for worker, m in requests] == [(1, Coded(1))]
    assert backend.reads[-1] == (6, 1, (1,))  # tried once more at the decision


# ---------------------------------------------------------------------- read_published
def test_what_is_held_is_taken_and_only_the_rest_read():
    backend = _Scripted([], _every_message())
    held = {(0, 1): _message(0, 1) + 100.0, (2, 1): _message(2, 1) + 100.0}
    requests = [(worker, Coded(1)) for worker in (0, 1, 2, 3)]
    read, rest = read_published(backend, ITERATION, {Coded(1): 1}, requests, held)
    assert rest == [] and backend.reads == [(0, 1, (1, 3))]
    assert [(worker, c) for worker, c, _ in read] == requests
    for worker, _, message in read:
        expected = _message(worker, 1) + (100.0 if (worker, 1) in held else 0.0)
        np.testing.assert_array_equal(message, expected)


@pytest.mark.parametrize("held_slots", [(), (0,), (1,), (0, 1)])
def test_a_sum_is_added_from_held_and_read_parts(held_slots):
    backend = _Scripted([], _every_message())
    held = {(2, slot): _message(2, slot) for slot in held_slots}
    slots = {Partial(0): 0, Partial(1): 1}
    read, rest = read_published(backend, ITERATION, slots, [(2, PartitionSum((0, 1)))], held)
    assert rest == []
    ((worker, contribution, message),) = read
    assert (worker, contribution) == (2, PartitionSum((0, 1)))
    np.testing.assert_array_equal(message, [21.0 + 22.0, -4.0])  # 10·2 + 1 and 10·2 + 2
    unheld = [slot for slot in (0, 1) if slot not in held_slots]
    assert sorted(slot for _, slot, _ in backend.reads) == unheld


def test_a_sum_with_an_unreadable_part_is_asked_for():
    published = _every_message()
    del published[(2, 1)]
    backend = _Scripted([], published)
    held = {(2, 0): _message(2, 0)}
    slots = {Partial(0): 0, Partial(1): 1}
    read, rest = read_published(backend, ITERATION, slots, [(2, PartitionSum((0, 1)))], held)
    assert read == [] and rest == [(2, PartitionSum((0, 1)))]
