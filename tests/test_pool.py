"""The multiprocess worker pool: exact gradients under stragglers and crashes, the levels the
theory predicts for deterministic straggler patterns, failures, respawns and a clean lifecycle.

Every expected gradient is computed here, in the test process, straight from the data; every
expected level follows from the deterministic analysis of DESIGN.md section 4, not from gclib.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from gclib import ModelSample, RuntimeModel
from gclib.runtime.pool import WorkerError, WorkerPool
from gclib.runtime.protocol import Go, RequestCommand, Signal, Upload, dumps, loads
from gclib.runtime.transports import ProcessBackend, Received
from gclib.schemes import Coded
from gclib.training.objectives import least_squares_gradient, least_squares_problem

N = 6
S_MAX = 2
FEATURES = 4


@pytest.fixture(scope="module")
def problem():
    partitions, _ = least_squares_problem(N, rows_per_partition=8, features=FEATURES, seed=11)
    return partitions


def true_gradient(partitions, params):
    """``Xᵀ (X w − y)`` on the whole data set at once."""
    features = np.vstack([x for x, _ in partitions])
    targets = np.concatenate([y for _, y in partitions])
    return features.T @ (features @ params - targets)


def partial_gradient(partition, params):
    features, targets = partition
    return features.T @ (features @ params - targets)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def unit_tasks(unresponsive=(), slow=(), tasks=S_MAX + 1, slow_time=50.0):
    times = np.ones((N, tasks))
    times[list(slow)] = slow_time
    times[list(unresponsive)] = np.inf
    return ModelSample.from_task_times(times)


# ---------------------------------------------------------------------- exact decoding
def test_every_exact_scheme_decodes_the_true_gradient_under_stragglers_and_crashes(problem):
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.3, slowdown=4.0, crash_prob=0.08)
    rng = np.random.default_rng(5)
    names = ["nested", "uncoded", "gc:1", "gc:2", "streaming", "cover", "nested-eager"]
    finished = dict.fromkeys(names, 0)
    lost = respawned = 0
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, model=model, time_unit=0.003, seed=2
    ) as pool:
        for _ in range(8):
            for name in finished:
                params = rng.standard_normal(FEATURES)  # new parameters every iteration
                truth = true_gradient(problem, params)
                result = pool.run_iteration(params, name, true_gradient=truth)
                lost += len(result.lost)
                respawned += len(result.respawned)
                assert set(result.respawned) >= set(result.lost)
                if result.failed:
                    # with finite slowdowns only lost workers can make an iteration fail
                    assert result.lost and "lost" in result.reason
                    assert result.gradient is None and result.latency == np.inf
                    continue
                finished[name] += 1
                np.testing.assert_allclose(result.gradient, truth, rtol=1e-9, atol=1e-9)
                assert result.decode_error < 1e-9
                assert not set(result.responders) & set(result.lost)
                assert np.all(result.tasks_done <= pool.resolve_scheme(name).tasks_per_worker)
    assert all(count > 0 for count in finished.values()), finished
    assert lost > 0 and respawned >= lost


def test_ignore_stragglers_reports_its_error_honestly(problem):
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.3, slowdown=4.0)
    rng = np.random.default_rng(8)
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, model=model, time_unit=0.003, seed=4
    ) as pool:
        for s in (1, 2):
            params = rng.standard_normal(FEATURES)
            truth = true_gradient(problem, params)
            result = pool.run_iteration(params, f"ignore:{s}", true_gradient=truth)
            assert not result.failed and result.level == s
            assert len(result.responders) == N - s
            # worker i's first task is partition i: rescaled sum of the responders' partials
            kept = sum(partial_gradient(problem[i], params) for i in result.responders)
            expected = kept * N / (N - s)
            np.testing.assert_allclose(result.gradient, expected, rtol=1e-9)
            error = np.linalg.norm(expected - truth) / np.linalg.norm(truth)
            assert result.decode_error == pytest.approx(error, rel=1e-9)
            assert result.decode_error > 1e-6  # dropping partitions is not exact
        # relative to the partial gradients instead of their (possibly tiny) sum
        scale = sum(np.linalg.norm(partial_gradient(part, params)) for part in problem)
        again = pool.run_iteration(params, "ignore:2", true_gradient=truth, error_scale=scale)
        kept = sum(partial_gradient(problem[i], params) for i in again.responders)
        error = np.linalg.norm(kept * N / (N - 2) - truth) / scale
        assert again.decode_error == pytest.approx(error, rel=1e-9)
        for bad in (0.0, -1.0, math.inf, "1"):
            with pytest.raises(ValueError, match="Argument 'error_scale'"):
                pool.run_iteration(params, "uncoded", true_gradient=truth, error_scale=bad)


# ---------------------------------------------------------------------- deterministic levels
@pytest.mark.parametrize(
    ("levels", "unresponsive"),
    [((0, 1, 2), (3,)), ((0, 1, 2), (0, 4)), ((0, 1, 2), ()), ((0, 2), (5,)), ((1, 2), ())],
)
def test_nested_level_is_the_smallest_tolerated_one(problem, levels, unresponsive):
    sigma = len(unresponsive)
    level = min(s for s in levels if s >= sigma)  # s* = min{s ∈ S : s ≥ σ}
    others = set(range(N)) - set(unresponsive)
    params = np.linspace(-1.0, 1.0, FEATURES)
    truth = true_gradient(problem, params)
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, levels=levels, time_unit=0.02
    ) as pool:
        result = pool.run_iteration(
            params, "nested", sample=unit_tasks(unresponsive), true_gradient=truth, deadline=20.0
        )
    assert not result.failed
    assert result.level == level
    assert len(result.responders) == N - level and set(result.responders) <= others
    if sigma == level:
        assert set(result.responders) == others
    assert result.decode_error < 1e-9
    assert all(result.tasks_done[w] == 0 for w in unresponsive)
    assert result.uploads == N - level  # one upload per responder, nothing else


@pytest.mark.parametrize("s", [1, 2])
def test_gc_finishes_at_its_level_with_slow_workers(problem, s):
    slow = tuple(range(s))  # σ = s slow (not unresponsive) workers: GC(s) does not wait for them
    params = np.linspace(1.0, -2.0, FEATURES)
    truth = true_gradient(problem, params)
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX, time_unit=0.02) as pool:
        result = pool.run_iteration(
            params, f"gc:{s}", sample=unit_tasks(slow=slow), true_gradient=truth, deadline=30.0
        )
    assert not result.failed and result.level == s
    assert set(result.responders) == set(range(N)) - set(slow)
    assert result.decode_error < 1e-9
    assert all(result.tasks_done[w] < s + 1 for w in slow)  # stopped before their last task


def test_streaming_covers_every_partition(problem):
    params = np.linspace(0.5, 1.5, FEATURES)
    truth = true_gradient(problem, params)
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX, time_unit=0.02) as pool:
        # S_MAX unresponsive neighbours: their partitions come from the windows of others
        result = pool.run_iteration(
            params,
            "streaming",
            sample=unit_tasks(unresponsive=(1, 2)),
            true_gradient=truth,
            deadline=20.0,
        )
    assert not result.failed and result.decode_error < 1e-9
    assert result.tasks_done[1] == result.tasks_done[2] == 0


# ---------------------------------------------------------------------- failures and recovery
def test_too_many_unresponsive_workers_fail_at_the_deadline_and_the_pool_recovers(problem):
    params = np.ones(FEATURES)
    truth = true_gradient(problem, params)
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX, time_unit=0.01) as pool:
        for name, unresponsive in [("gc:1", (0, 3)), ("nested", (0, 1, 2)), ("uncoded", (5,))]:
            failed = pool.run_iteration(
                params, name, sample=unit_tasks(unresponsive), true_gradient=truth, deadline=6.0
            )
            assert failed.failed and "deadline" in failed.reason
            assert failed.gradient is None and failed.decode_error is None
            assert failed.latency == np.inf
            recovered = pool.run_iteration(
                params, name, sample=unit_tasks(), true_gradient=truth, deadline=30.0
            )
            assert not recovered.failed and recovered.decode_error < 1e-9
            assert recovered.level == min(pool.resolve_scheme(name).levels)


def test_worker_killed_mid_iteration_is_replaced(problem):
    params = np.full(FEATURES, 0.3)
    truth = true_gradient(problem, params)
    time_unit = 0.3
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX, time_unit=time_unit) as pool:
        victim = 3
        old_pid = pool.pids[victim]
        # every task lasts one unit: without the kill the master decodes at level 0 at t = 1
        killer = threading.Timer(0.3 * time_unit, os.kill, (old_pid, signal.SIGKILL))
        killer.start()
        try:
            result = pool.run_iteration(
                params, "nested", sample=unit_tasks(), true_gradient=truth, deadline=20.0
            )
        finally:
            killer.join()
        assert not result.failed
        assert result.lost == (victim,) and result.respawned == (victim,)
        assert result.level == 1 and victim not in result.responders
        assert result.decode_error < 1e-9
        new_pid = pool.pids[victim]
        assert new_pid != old_pid and process_alive(new_pid) and not process_alive(old_pid)
        # the new worker holds its data: uncoded needs every worker
        again = pool.run_iteration(
            params, "uncoded", sample=unit_tasks(), true_gradient=truth, deadline=20.0
        )
        assert not again.failed and again.decode_error < 1e-9 and victim in again.responders


class _KillOnRequestBackend(ProcessBackend):
    """Kills worker ``victim`` the moment the master requests its coded message (every message is
    requested: no one-sided reads, as on a backend without shared memory)."""

    victim = 2

    def fetch(self, iteration, level, workers):
        return [None] * len(workers)

    def send(self, worker, payload):
        if worker == self.victim and isinstance(loads(payload), RequestCommand):
            process = self._processes[worker]
            os.kill(process.pid, signal.SIGKILL)
            process.join()
        return super().send(worker, payload)


def test_responder_lost_before_replying_makes_the_master_replan(problem):
    params = np.full(FEATURES, -0.4)
    truth = true_gradient(problem, params)
    victim = _KillOnRequestBackend.victim
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, time_unit=0.02, backend=_KillOnRequestBackend
    ) as pool:
        # level 0 is requested from everybody at t = 1; the victim dies instead of replying.
        # Second tasks last 10 units, so no other level is reachable yet however late the
        # master reacts on a busy machine: the others resume, and level 1 follows
        times = np.ones((N, S_MAX + 1))
        times[:, 1] = 10.0
        result = pool.run_iteration(
            params,
            "nested",
            sample=ModelSample.from_task_times(times),
            true_gradient=truth,
            deadline=60.0,
        )
    assert not result.failed and result.lost == (victim,)
    assert result.level == 1 and set(result.responders) == set(range(N)) - {victim}
    assert result.decode_error < 1e-9
    kinds = [event.kind for event in result.events]
    assert kinds.count("resume") == N - 1


class _RecordingBackend(ProcessBackend):
    """Keeps every broadcast message it sends, decoded."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.broadcast: list[tuple[int, Go]] = []

    def send(self, worker, payload):
        message = loads(payload)
        if isinstance(message, Go):
            self.broadcast.append((worker, message))
        return super().send(worker, payload)


@pytest.mark.parametrize("ahead", [True, False], ids=["encoded-ahead", "one-by-one"])
def test_the_broadcast_carries_each_workers_times_and_crash(problem, monkeypatch, ahead):
    """Encoded all at once or, for a model too large to hold n times, worker by worker, each
    worker's ``Go`` carries its own task times and crash moment (here worker 3 crashes half-way
    through its first task, in seconds), and the iteration decodes exactly without it."""
    import gclib.runtime.pool as pool_module

    if not ahead:
        monkeypatch.setattr(pool_module, "_AHEAD", 0)
    unit = 0.01
    times = np.ones((N, S_MAX + 1)) + np.arange(N)[:, None] * 0.125
    crashed = np.zeros(N, dtype=bool)
    crashed[3] = True
    sample = ModelSample(times, np.ones(N), crashed, np.full(N, 0.5))
    params = np.full(FEATURES, 0.3)
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, time_unit=unit, backend=_RecordingBackend
    ) as pool:
        result = pool.run_iteration(
            params, "gc:1", sample=sample, true_gradient=true_gradient(problem, params)
        )
        sent = dict(pool.backend.broadcast)
    assert not result.failed and result.decode_error < 1e-9 and 3 not in result.responders
    assert sorted(sent) == list(range(N))
    for worker, go in sent.items():
        assert go.times == pytest.approx(tuple(times[worker, :2] * unit), rel=1e-15)
        assert go.crash_after == (0.5 * unit if worker == 3 else None)
        assert go.iteration == 1 and go.origin is not None


def test_worker_killed_between_iterations_is_replaced_before_the_next(problem):
    params = np.full(FEATURES, -0.7)
    truth = true_gradient(problem, params)
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX, time_unit=0.005) as pool:
        old_pid = pool.pids[0]
        os.kill(old_pid, signal.SIGKILL)
        while process_alive(old_pid):
            time.sleep(0.01)
        result = pool.run_iteration(
            params, "uncoded", sample=unit_tasks(), true_gradient=truth, deadline=30.0
        )
        assert not result.failed and result.decode_error < 1e-9
        assert pool.pids[0] != old_pid and pool.respawns == 1


def test_the_process_backend_finds_every_ended_worker_at_one_look(problem):
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX) as pool:
        backend = pool.backend
        assert backend.not_running() == []
        victims = [1, 4]
        pids = [pool.pids[worker] for worker in victims]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            while process_alive(pid):
                time.sleep(0.01)
        assert backend.not_running() == victims
        assert [worker for worker in range(N) if not backend.alive(worker)] == victims


def test_gradient_errors_surface_and_the_pool_stays_usable(problem):
    def picky(params, partition):
        if params[0] < 0:
            raise ArithmeticError("negative first parameter")
        return least_squares_gradient(params, partition)

    with WorkerPool(problem, picky, s_max=S_MAX, time_unit=0.005) as pool:
        with pytest.raises(WorkerError, match="negative first parameter"):
            pool.run_iteration(-np.ones(FEATURES), "gc:1", sample=unit_tasks(), deadline=30.0)
        params = np.ones(FEATURES)
        result = pool.run_iteration(
            params,
            "gc:1",
            sample=unit_tasks(),
            true_gradient=true_gradient(problem, params),
            deadline=30.0,
        )
        assert not result.failed and result.decode_error < 1e-9


class _StaleInjectingBackend(ProcessBackend):
    """Delivers, before anything else of the next wait, a forged upload of an old iteration."""

    forged: list[bytes] = []

    def wait(self, timeout):
        events = super().wait(timeout)
        while self.forged:
            events.insert(0, Received(0, self.forged.pop()))
        return events


class _LateReaderBackend(ProcessBackend):
    """Delivers worker ``late``'s reports only ``hold`` seconds after each broadcast, as a master
    too busy to read that pipe would see them."""

    late, hold = 1, 0.3

    def __init__(self, *args):
        super().__init__(*args)
        self.held: list[Received] = []
        self.release_at = 0.0

    def send(self, worker, payload):
        if worker == 0 and isinstance(loads(payload), Go):
            self.release_at = time.monotonic() + self.hold
        return super().send(worker, payload)

    def wait(self, timeout):
        if self.held:
            remaining = max(0.0, self.release_at - time.monotonic())
            timeout = remaining if timeout is None else min(timeout, remaining)
        events = []
        for event in super().wait(timeout):
            holding = time.monotonic() < self.release_at
            if isinstance(event, Received) and event.worker == self.late and holding:
                self.held.append(event)
            else:
                events.append(event)
        if self.held and time.monotonic() >= self.release_at:
            events, self.held = events + self.held, []
        return events


def test_reports_arriving_after_the_deadline_do_not_complete_the_iteration(problem):
    params = np.full(FEATURES, 0.3)
    truth = true_gradient(problem, params)
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, time_unit=0.01, backend=_LateReaderBackend
    ) as pool:
        # every upload is done at t = 1 (10 ms), but worker 1's reaches the master only after
        # 300 ms, beyond the deadline of 5 units (50 ms): uncoded fails, even though the late
        # upload would have completed it
        late = pool.run_iteration(
            params, "uncoded", sample=unit_tasks(tasks=1), true_gradient=truth, deadline=5.0
        )
        assert late.failed and "deadline" in late.reason
        assert late.gradient is None and late.level is None and late.latency == math.inf
        # the pool stays usable, and the same iteration with a generous deadline completes
        done = pool.run_iteration(
            params, "uncoded", sample=unit_tasks(tasks=1), true_gradient=truth, deadline=100.0
        )
    assert not done.failed and done.decode_error < 1e-9
    assert done.latency >= 100 * _LateReaderBackend.hold  # 300 ms in units of 10 ms


class _UnreadBackend(ProcessBackend):
    """Once an iteration runs, leaves worker ``unread``'s messages unread by every wait that
    blocks, as a master busy with the other pipes would; a wait that does not block reads them."""

    unread = 5

    def __init__(self, *args):
        super().__init__(*args)
        self.waiting: list = []
        self.running = False

    def send(self, worker, payload):
        self.running = self.running or isinstance(loads(payload), Go)
        return super().send(worker, payload)

    def wait(self, timeout):
        events = super().wait(timeout)
        if not self.running:
            return events
        if timeout is not None and timeout <= 0.0:
            events, self.waiting = self.waiting + events, []
            return events
        self.waiting += [e for e in events if e.worker == self.unread]
        return [e for e in events if e.worker != self.unread]


def test_a_worker_whose_last_report_waits_unread_is_not_stopped(problem):
    """At the iteration's end the master reads the reports already there before it stops the
    busy workers: worker 5, done with every task (its reports unread until then), is not woken by
    a stop it would have to acknowledge; worker 4, still in its first task, is stopped.

    Seen by the master: workers 0-3 finish their third task at t = 3 (level 2: ``c_3 ≥ 4``),
    worker 4 takes 50 units per task and worker 5's reports are not read."""
    times = np.ones((N, S_MAX + 1))
    times[4], times[5] = 50.0, 0.01
    params = np.full(FEATURES, 0.5)
    truth = true_gradient(problem, params)
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, time_unit=0.01, backend=_UnreadBackend
    ) as pool:
        result = pool.run_iteration(
            params,
            "nested",
            sample=ModelSample.from_task_times(times),
            true_gradient=truth,
            deadline=200.0,
        )
    assert not result.failed and result.level == 2 and result.decode_error < 1e-9
    assert [e.worker for e in result.events if e.kind == "stop"] == [4]
    assert result.tasks_done[5] == S_MAX + 1 and result.tasks_done[4] == 0
    assert [e.kind for e in result.events if e.worker == 5] == ["signal"] * (S_MAX + 1)


def test_messages_of_an_earlier_iteration_are_never_used(problem):
    params = np.full(FEATURES, 0.25)
    truth = true_gradient(problem, params)
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, time_unit=0.01, backend=_StaleInjectingBackend
    ) as pool:
        first = pool.run_iteration(params, "uncoded", sample=unit_tasks(), deadline=30.0)
        # a late upload of iteration 1 (and a late signal), arriving during iteration 2
        garbage = np.full(FEATURES, 1e6)
        _StaleInjectingBackend.forged[:] = [
            dumps(Upload(first.iteration, 1, Coded(0), garbage, False)),
            dumps(Signal(first.iteration, 1)),
        ]
        second = pool.run_iteration(
            params, "uncoded", sample=unit_tasks(), true_gradient=truth, deadline=30.0
        )
        assert not _StaleInjectingBackend.forged  # they were delivered
    assert second.iteration == first.iteration + 1
    assert not second.failed and second.decode_error < 1e-9
    assert second.uploads == N and second.signals == 0


# ---------------------------------------------------------------------- event log
def test_trace_records_the_timeline_of_a_nested_iteration(problem):
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX, time_unit=0.01) as pool:
        result = pool.run_iteration(
            np.ones(FEATURES), "nested", sample=unit_tasks((4,)), deadline=20.0, trace=True
        )
    assert result.level == 1
    times = [event.time for event in result.events]
    assert times == sorted(times) and result.events[0].kind == "broadcast"
    kinds = [event.kind for event in result.events]
    assert kinds.count("complete") == 1 and kinds.count("request") == N - 1
    for worker in range(N):
        mine = [e for e in result.events if e.worker == worker]
        ends = [e for e in mine if e.kind == "task_end"]
        assert len(ends) == result.tasks_done[worker]
        assert sum(e.kind == "signal" for e in mine) == result.tasks_done[worker]
        assert sum(e.kind == "task_start" for e in mine) >= len(ends)
    assert [e.kind for e in result.events if e.worker == 4] == [
        "receive",
        "task_start",
        "stop",
        "got_stop",
        "task_abandon",
        "stopped",
    ]


# ---------------------------------------------------------------------- lifecycle
def test_no_worker_survives_close_or_an_exception(problem):
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX) as pool:
        pids = pool.pids
        assert all(process_alive(pid) for pid in pids)
    assert pool.closed and not any(process_alive(pid) for pid in pids)
    with pytest.raises(RuntimeError, match="closed"):
        pool.run_iteration(np.ones(FEATURES), "nested", sample=unit_tasks())

    with pytest.raises(KeyError, match="inside"):
        with WorkerPool(problem, least_squares_gradient, s_max=S_MAX) as pool:
            pids = pool.pids
            raise KeyError("inside")
    assert not any(process_alive(pid) for pid in pids)


_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from gclib import RuntimeModel
    from gclib.training.objectives import least_squares_gradient, least_squares_problem
    from gclib.runtime.pool import WorkerPool

    partitions, _ = least_squares_problem(5, 4, 3, seed=1)
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.5, slowdown=20.0)
    with WorkerPool(partitions, least_squares_gradient, s_max=1, model=model,
                    time_unit=0.01, seed=0) as pool:
        print(" ".join(map(str, pool.pids)), flush=True)
        while True:
            pool.run_iteration(np.zeros(3), "nested")
    """
)


def _start_script():
    process = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # signals below reach the master alone, not its workers
    )
    line = process.stdout.readline()
    assert line, process.stderr.read()
    pids = [int(pid) for pid in line.split()]
    assert len(pids) == 5 and all(process_alive(pid) for pid in pids)
    time.sleep(0.3)  # let it run some iterations
    return process, pids


def _wait_gone(pids, patience=15.0):
    end = time.monotonic() + patience
    while time.monotonic() < end and any(process_alive(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if process_alive(pid)]


def test_ctrl_c_leaves_no_orphan():
    process, pids = _start_script()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr
    assert _wait_gone(pids, patience=0.0) == []  # gone by the time the master exited


def test_workers_exit_when_the_master_is_killed():
    process, pids = _start_script()
    process.kill()
    process.communicate(timeout=30)
    assert _wait_gone(pids) == []  # they notice the closed pipe and exit on their own


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal of Linux")
def test_a_stopped_worker_dies_with_its_master():
    process, pids = _start_script()
    left = pids
    try:
        os.kill(pids[0], signal.SIGSTOP)  # a stopped process reads no pipe: only SIGKILL ends it
        process.kill()
        process.wait(timeout=30)  # not communicate(): a surviving worker holds the output pipes
        left = _wait_gone(pids, patience=5.0)
    finally:
        for pid in left:  # leave no stopped orphan behind, whatever the outcome
            os.kill(pid, signal.SIGKILL)
        process.stdout.close()
        process.stderr.close()
    assert left == []


# ---------------------------------------------------------------------- validation
def test_invalid_arguments_raise_value_errors(problem):
    with pytest.raises(ValueError, match="'s_max'"):
        WorkerPool(problem, least_squares_gradient, s_max=N)
    with pytest.raises(ValueError, match="'time_unit'"):
        WorkerPool(problem, least_squares_gradient, s_max=1, time_unit=0.0)
    with WorkerPool(problem, least_squares_gradient, s_max=1) as pool:
        with pytest.raises(ValueError, match="'sample' is required"):
            pool.run_iteration(np.ones(FEATURES), "nested")
        with pytest.raises(ValueError, match="'sample' must have task times"):
            pool.run_iteration(np.ones(FEATURES), "nested", sample=unit_tasks(tasks=1))
        with pytest.raises(ValueError, match="'scheme'"):
            pool.run_iteration(np.ones(FEATURES), "gc:5", sample=unit_tasks())
        with pytest.raises(ValueError, match="'deadline'"):
            pool.run_iteration(np.ones(FEATURES), "nested", sample=unit_tasks(), deadline=-1)


# ---------------------------------------------------------------------- gradient functions
@pytest.mark.parametrize("name", ["least_squares", "logistic", "softmax"])
def test_gradient_functions_match_finite_differences_of_their_losses(name):
    from gclib.training import objectives as _gradients

    rng = np.random.default_rng(3)
    features = rng.standard_normal((7, 4))
    if name == "least_squares":
        labels, params = rng.standard_normal(7), rng.standard_normal(4)
    elif name == "logistic":
        labels, params = rng.integers(0, 2, 7).astype(float), rng.standard_normal(4)
    else:
        labels, params = rng.integers(0, 3, 7), rng.standard_normal((4, 3))
    loss = getattr(_gradients, f"{name}_loss")
    gradient = getattr(_gradients, f"{name}_gradient")(params, (features, labels))
    assert gradient.shape == params.shape
    step = 1e-6
    numeric = np.zeros_like(params)
    for index in np.ndindex(params.shape):
        shift = np.zeros_like(params)
        shift[index] = step
        up = loss(params + shift, (features, labels))
        down = loss(params - shift, (features, labels))
        numeric[index] = (up - down) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-7)


def test_partitions_split_the_rows_evenly():
    from gclib.training.objectives import split_partitions

    features, targets = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    parts = split_partitions(features, targets, 4)
    sizes = [len(y) for _, y in parts]
    assert len(sizes) == 4 and max(sizes) - min(sizes) <= 1
    np.testing.assert_array_equal(np.concatenate([y for _, y in parts]), targets)
    with pytest.raises(ValueError, match="'n'"):
        split_partitions(features, targets, 11)
