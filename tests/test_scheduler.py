"""The master's state machine against a brute-force reading of the protocol.

Without losses the decision is fully determined: the first event after which some level ``s``
has ``n − s`` workers with ``s + 1`` tasks (one task for ignore-stragglers; every partition for
streaming), and ``F`` is the first ``n − s`` of them in arrival order. Losses are checked on
hand-built scenarios and, at random, against invariants computed independently here.
"""

from __future__ import annotations

import random
import zlib

import pytest

from gclib import Scheduler, Scheme
from gclib.runtime.scheduler import Complete, Fail, Request, Resume, Status, Stop
from gclib.schemes import (
    Coded,
    GradientCodingScheme,
    IgnoreStragglersScheme,
    NestedScheme,
    Partial,
    StreamingScheme,
    UncodedScheme,
    parse_scheme,
)

N = 6
S_MAX = 3
SCHEMES = [
    NestedScheme((0, 1, 2, 3), S_MAX),
    NestedScheme((1, 3), S_MAX),
    NestedScheme((2,), S_MAX),
    GradientCodingScheme(2, S_MAX),
    UncodedScheme(S_MAX),
    IgnoreStragglersScheme(2, S_MAX),
    IgnoreStragglersScheme(4, S_MAX),
    StreamingScheme(S_MAX),
]


def RequestLevel(level: int, workers) -> Request:
    """The request of the level-``level`` messages of ``workers``."""
    return Request(level, tuple((w, Coded(level)) for w in workers))


def outcome_of(action: Complete) -> tuple:
    """``(level, responders)`` of a completion."""
    return action.level, action.responders


def sources_of(action: Complete, n: int, s_max: int) -> dict[int, tuple[int, int]]:
    """Partition → (worker, task) of a streaming completion."""
    return {(w + c.task) % n: (w, c.task) for w, c in action.uses if isinstance(c, Partial)}


def random_events(rng: random.Random, n: int, max_tasks: int) -> list[tuple[int, int]]:
    """Each worker reports its tasks one by one (mostly all of them, sometimes fewer: a
    straggler); the reports are interleaved at random."""
    counts = [max_tasks if rng.random() < 0.85 else rng.randint(0, max_tasks) for _ in range(n)]
    queues = {w: list(range(1, counts[w] + 1)) for w in range(n)}
    events = []
    while any(queues.values()):
        w = rng.choice([w for w, q in queues.items() if q])
        events.append((w, queues[w].pop(0)))
    return events


def brute_force_decision(n: int, scheme: Scheme, events):
    """(event index, level, F or sources) of the first decision, or None."""
    arrivals: dict[int, list[int]] = {}
    sources: dict[int, tuple[int, int]] = {}
    for index, (w, k) in enumerate(events):
        arrivals.setdefault(k, []).append(w)
        if isinstance(scheme, StreamingScheme):
            sources.setdefault((w + k - 1) % n, (w, k - 1))
            if len(sources) == n:
                return index, None, dict(sources)
            continue
        for s in sorted(scheme.levels):
            needed = 1 if isinstance(scheme, IgnoreStragglersScheme) else s + 1
            ready = arrivals.get(needed, [])
            if len(ready) >= n - s:
                return index, s, tuple(ready[: n - s])
    return None


@pytest.mark.parametrize("scheme", SCHEMES, ids=str)
def test_decisions_match_brute_force_on_random_orders(scheme):
    rng = random.Random(zlib.crc32(repr(scheme).encode()))
    decided = 0
    for _ in range(300):
        events = random_events(rng, N, scheme.tasks_per_worker)
        expected = brute_force_decision(N, scheme, events)
        scheduler = Scheduler(N, scheme)
        for index, (w, k) in enumerate(events):
            actions = scheduler.progress(w, k)
            if expected is None or index < expected[0]:
                assert actions == []
                continue
            if index > expected[0]:
                assert actions == []  # the decision is taken once
                continue
            decided += 1
            _, level, chosen = expected
            if isinstance(scheme, NestedScheme):
                request, *rest = actions
                assert request == RequestLevel(level, chosen)
                stopped = {v for a in rest if isinstance(a, Stop) for v in a.workers}
                assert stopped == set(range(N)) - set(chosen)
                assert scheduler.status is Status.COLLECTING
                for v in rng.sample(chosen, len(chosen))[:-1]:
                    assert scheduler.message(v, Coded(level)) == []
                last = [v for v in chosen if Coded(level) not in scheduler.received[v]][0]
                final = scheduler.message(last, Coded(level))
                assert outcome_of(final[-1]) == (level, chosen)
            else:
                assert isinstance(actions[-1], Complete)
                if isinstance(scheme, StreamingScheme):
                    assert sources_of(actions[-1], N, S_MAX) == chosen
                else:
                    assert outcome_of(actions[-1]) == (level, chosen)
                stopped = {v for a in actions if isinstance(a, Stop) for v in a.workers}
                assert stopped == set(range(N))
            assert scheduler.status is Status.COMPLETE
        if expected is None:
            assert scheduler.status is Status.RUNNING
    assert decided > 50  # the random orders reach decisions often enough to mean something


def collapse_bursts(events):
    """Consecutive reports of one worker as its last, as the pool's master feeds a burst of
    signals read at once."""
    return [e for i, e in enumerate(events) if i + 1 == len(events) or events[i + 1][0] != e[0]]


@pytest.mark.parametrize("scheme", [s for s in SCHEMES if isinstance(s, NestedScheme)], ids=str)
def test_a_burst_of_one_workers_reports_decides_as_its_first_would(scheme):
    rng = random.Random(zlib.crc32(repr(scheme).encode()) + 1)
    collapsed_any = decided = 0
    for _ in range(300):
        events = random_events(rng, N, scheme.tasks_per_worker)
        # bursts are what collapsing is about: within each run of three reports, one worker's
        # come together (a stable sort keeps each worker's own order)
        position = {e: i for i, e in enumerate(events)}
        events = sorted(events, key=lambda e: (position[e] // 3, e[0]))
        if len(collapse_bursts(events)) < len(events):
            collapsed_any += 1
        expected = brute_force_decision(N, scheme, events)
        scheduler = Scheduler(N, scheme)
        requests = [a for w, k in collapse_bursts(events) for a in scheduler.progress(w, k)]
        requests = [a for a in requests if isinstance(a, Request)]
        if expected is None:
            assert requests == [] and scheduler.status is Status.RUNNING
            continue
        decided += 1
        _, level, chosen = expected
        assert requests == [RequestLevel(level, chosen)]
        # the messages arriving together complete it as they would one by one
        final = scheduler.messages([(w, Coded(level)) for w in chosen])
        assert outcome_of(final[-1]) == (level, chosen)
    assert collapsed_any > 100 and decided > 50


def test_a_report_may_skip_tasks():
    scheduler = Scheduler(4, GradientCodingScheme(1, 1))
    assert scheduler.progress(0, 2) == []
    assert scheduler.arrivals[1] == [0] and scheduler.arrivals[2] == [0]
    scheduler.progress(1, 2)
    actions = scheduler.progress(2, 2)
    assert outcome_of(actions[-1]) == (1, (0, 1, 2))


def test_stale_and_duplicate_events_are_ignored():
    scheduler = Scheduler(3, NestedScheme((0, 1), 1))
    scheduler.progress(0, 2)
    assert scheduler.progress(0, 1) == []  # stale
    assert scheduler.progress(0, 2) == []  # duplicate
    scheduler.progress(1, 1)
    request = scheduler.progress(2, 1)
    assert request[0] == RequestLevel(0, (0, 1, 2))
    assert scheduler.progress(1, 2) == []  # after the decision, but recorded
    # losing a responder re-plans: level 1 from the two workers with two tasks
    assert scheduler.lost(2)[0] == RequestLevel(1, (0, 1))
    assert scheduler.lost(2) == []  # lost twice
    assert scheduler.message(2, Coded(0)) == []  # a message of a lost worker at an old level
    scheduler2 = Scheduler(3, GradientCodingScheme(0, 0))
    for w in range(3):
        scheduler2.progress(w, 1)
    assert scheduler2.done
    assert scheduler2.progress(0, 1) == []
    assert scheduler2.lost(0) == []


def _collecting(n=5, levels=(1, 2)):
    """Workers 0..3 reach 2 tasks (level 1 satisfied at worker 3), worker 4 reaches 1."""
    scheduler = Scheduler(n, NestedScheme(levels, max(levels)))
    for w in range(3):
        scheduler.progress(w, 2)
    scheduler.progress(4, 1)
    actions = scheduler.progress(3, 2)
    assert actions[0] == RequestLevel(1, (0, 1, 2, 3))
    assert actions[1] == Stop((4,))
    return scheduler


def test_replanning_reuses_received_messages():
    scheduler = _collecting()
    assert scheduler.message(1, Coded(1)) == []
    assert scheduler.message(3, Coded(1)) == []
    scheduler.progress(4, 2)  # worker 4 was stopped but its report was on the way
    actions = scheduler.lost(0)
    # same level, the received messages first, then the new worker: only 2 and 4 are asked
    assert actions[0] == RequestLevel(1, (2, 4))
    assert scheduler.responders == (1, 3, 2, 4)
    assert scheduler.message(2, Coded(1)) == []
    assert outcome_of(scheduler.message(4, Coded(1))[-1]) == (1, (1, 3, 2, 4))


def test_losing_a_worker_whose_message_arrived_changes_nothing():
    scheduler = _collecting()
    scheduler.message(0, Coded(1))
    assert scheduler.lost(0) == []
    assert scheduler.status is Status.COLLECTING
    for w in (1, 2):
        assert scheduler.message(w, Coded(1)) == []
    assert outcome_of(scheduler.message(3, Coded(1))[-1]) == (1, (0, 1, 2, 3))


def test_resume_when_nothing_is_reachable_then_decide_again():
    scheduler = _collecting()
    actions = scheduler.lost(2)
    # level 1 needs 4 of {0, 1, 3} (4 has one task), level 2 needs 3 workers with 3 tasks
    assert actions == [Resume((0, 1, 3, 4))]
    assert scheduler.status is Status.RUNNING
    assert scheduler.progress(4, 2)[0] == RequestLevel(1, (0, 1, 3, 4))


def test_fail_when_no_level_can_be_reached():
    scheduler = Scheduler(5, NestedScheme((1, 2), 2))
    assert scheduler.lost(0) == []
    assert scheduler.lost(1) == []  # 3 live workers can still reach level 2
    actions = scheduler.lost(2)
    assert isinstance(actions[-1], Fail)
    assert scheduler.status is Status.FAILED
    assert scheduler.progress(3, 1) == []
    collecting = _collecting()
    collecting.lost(4)
    collecting.lost(0)  # now 3 workers remain: level 2 is still possible → resume
    assert collecting.status is Status.RUNNING
    assert isinstance(collecting.lost(1)[-1], Fail)


@pytest.mark.parametrize("name", ["nested", "gc:1", "streaming"])
def test_abort_fails_once_and_later_reports_change_nothing(name):
    scheme = parse_scheme(name, 1)
    scheduler = Scheduler(4, scheme)
    scheduler.progress(0, 1)
    scheduler.progress(1, 2)  # worker 1 is done computing and stopped by nobody yet
    actions = scheduler.abort("the deadline passed")
    assert actions == [Stop((0, 1, 2, 3)), Fail("the deadline passed")]
    assert scheduler.status is Status.FAILED and scheduler.result == Fail("the deadline passed")
    for worker in range(4):  # reports that would have completed the iteration
        assert scheduler.progress(worker, 2) == []
    assert scheduler.abort("again") == [] and scheduler.result == Fail("the deadline passed")
    done = Scheduler(4, GradientCodingScheme(0, 1))
    for worker in range(4):
        done.progress(worker, 1)
    assert done.status is Status.COMPLETE and done.abort("late") == []


def test_streaming_fails_only_when_a_partition_is_out_of_reach():
    scheduler = Scheduler(5, StreamingScheme(1))
    assert scheduler.lost(0) == []  # partition 0 is also in worker 4's window
    assert isinstance(scheduler.lost(4)[-1], Fail)
    scheduler = Scheduler(5, StreamingScheme(1))
    scheduler.progress(0, 1)  # partition 0 arrived from worker 0
    scheduler.lost(0)
    assert scheduler.lost(4) == []


def usable_count(n, scheme, progress, alive, received, level):
    needed = 1 if isinstance(scheme, IgnoreStragglersScheme) else level + 1
    return sum(
        1 for w in range(n) if progress[w] >= needed and (alive[w] or received.get(w) == level)
    )


@pytest.mark.parametrize("scheme", SCHEMES[:6], ids=str)
def test_random_runs_with_losses_keep_the_invariants(scheme):
    rng = random.Random(17)
    outcomes = set()
    for _ in range(400):
        scheduler = Scheduler(N, scheme)
        progress = [0] * N
        alive = [True] * N
        received: dict[int, int] = {}
        requested: dict[int, int] = {}
        for _step in range(60):
            if scheduler.done:
                break
            w = rng.randrange(N)
            roll = rng.random()
            if roll < 0.1:
                actions = scheduler.lost(w)
                alive[w] = False
            elif roll < 0.3 and requested:
                w = rng.choice(sorted(requested))
                level = requested.pop(w)
                if alive[w]:
                    received[w] = level
                    actions = scheduler.message(w, Coded(level))
                else:
                    actions = []
            else:
                if not alive[w] or progress[w] >= scheme.tasks_per_worker:
                    continue
                progress[w] += 1
                actions = scheduler.progress(w, progress[w])
            for action in actions:
                if isinstance(action, Request):
                    assert len(set(action.workers)) == len(action.workers)
                    for v in action.workers:
                        assert alive[v] and received.get(v) != action.level
                        requested[v] = action.level
                elif isinstance(action, Complete):
                    level, chosen = action.level, action.responders
                    assert len(chosen) == N - level
                    needed = 1 if isinstance(scheme, IgnoreStragglersScheme) else level + 1
                    assert all(progress[v] >= needed for v in chosen)
                    if isinstance(scheme, NestedScheme):
                        assert all(received.get(v) == level for v in chosen)
                    outcomes.add("complete")
                elif isinstance(action, Fail):
                    # brute force: even with every live worker finishing its window, no level
                    # has enough usable workers
                    full = [scheme.tasks_per_worker if alive[v] else progress[v] for v in range(N)]
                    assert all(
                        usable_count(N, scheme, full, alive, received, s) < N - s
                        for s in scheme.levels
                    )
                    outcomes.add("fail")
                elif isinstance(action, Resume):
                    assert isinstance(scheme, NestedScheme)
                    assert all(
                        usable_count(N, scheme, progress, alive, received, s) < N - s
                        for s in scheme.levels
                    )
                    outcomes.add("resume")
    assert "complete" in outcomes and "fail" in outcomes
    if isinstance(scheme, NestedScheme):
        assert "resume" in outcomes


def test_error_paths():
    with pytest.raises(ValueError, match="'n'"):
        Scheduler(0, UncodedScheme(0))
    with pytest.raises(ValueError, match="below n"):
        Scheduler(3, GradientCodingScheme(3, 3))
    with pytest.raises(ValueError, match="below n"):
        Scheduler(3, IgnoreStragglersScheme(3, 1))
    with pytest.raises(ValueError, match="'s_max'"):
        Scheduler(3, StreamingScheme(3))
    scheduler = Scheduler(4, GradientCodingScheme(1, 2))
    with pytest.raises(ValueError, match="'worker'"):
        scheduler.progress(4, 1)
    with pytest.raises(ValueError, match="'worker'"):
        scheduler.lost(-1)
    with pytest.raises(ValueError, match="'tasks_done'"):
        scheduler.progress(0, 3)
    with pytest.raises(ValueError, match="'tasks_done'"):
        scheduler.progress(0, 0)
    with pytest.raises(ValueError, match="coded messages"):
        scheduler.message(0, Coded(1))
