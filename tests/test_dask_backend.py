"""The worker pool on a Dask cluster: the same protocol, exact gradients, the levels the theory
predicts, lost Dask workers, authentication and a clean cluster after close, errors and Ctrl-C.

Two clusters: a ``LocalCluster`` of single-threaded processes started in this process, and a
cluster started from the command line on 127.0.0.1 (``dask scheduler`` and two ``dask worker``
processes of four threads each), as a user would run one. Every expected gradient is computed
here from the data, every expected level from the deterministic analysis (DESIGN.md section 4).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client as connect
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from _processes import running  # noqa: E402

from gclib import ModelSample, RuntimeModel, parse_scheme  # noqa: E402
from gclib.runtime.pool import WorkerPool  # noqa: E402
from gclib.runtime.transports import DaskBackend, DaskClusterError  # noqa: E402
from gclib.training.objectives import least_squares_gradient, least_squares_problem  # noqa: E402

N = 6
S_MAX = 2
FEATURES = 4
GCLIB = [sys.executable, "-m", "gclib"]
DASK = str(Path(sys.executable).parent / "dask")


@pytest.fixture(scope="module")
def problem():
    partitions, _ = least_squares_problem(N, rows_per_partition=8, features=FEATURES, seed=11)
    return partitions


@pytest.fixture(scope="module")
def client():
    """A local cluster of ``N`` single-threaded worker processes."""
    with (
        distributed.LocalCluster(
            n_workers=N,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def true_gradient(partitions, params):
    features = np.vstack([x for x, _ in partitions])
    targets = np.concatenate([y for _, y in partitions])
    return features.T @ (features @ params - targets)


def unit_tasks(unresponsive=(), slow=(), tasks=S_MAX + 1, slow_time=50.0):
    times = np.ones((N, tasks))
    times[list(slow)] = slow_time
    times[list(unresponsive)] = np.inf
    return ModelSample.from_task_times(times)


def gclib_tasks(client) -> dict[str, list[str]]:
    """The gclib worker tasks the scheduler has on each Dask worker."""
    return {
        worker: [key for key in keys if str(key).startswith("gclib-worker")]
        for worker, keys in client.processing().items()
    }


def assert_cluster_clean(client, patience: float = 10.0) -> None:
    """No gclib task on the scheduler and no task executing on any Dask worker."""
    end = time.monotonic() + patience
    while True:
        tasks = [key for keys in gclib_tasks(client).values() for key in keys]
        executing = client.run(lambda dask_worker: dask_worker.state.executing_count)
        if not tasks and not any(executing.values()):
            return
        assert time.monotonic() < end, (tasks, executing)
        time.sleep(0.1)


# ---------------------------------------------------------------------- exact decoding
def test_every_exact_scheme_decodes_the_true_gradient_under_stragglers_and_crashes(client, problem):
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.3, slowdown=4.0, crash_prob=0.08)
    rng = np.random.default_rng(5)
    finished = dict.fromkeys(["nested", "uncoded", "gc:2", "streaming"], 0)
    lost = respawned = 0
    with WorkerPool(
        problem,
        least_squares_gradient,
        s_max=S_MAX,
        model=model,
        time_unit=0.003,
        seed=2,
        backend=DaskBackend(client),
    ) as pool:
        for _ in range(6):
            for name in finished:
                params = rng.standard_normal(FEATURES)
                truth = true_gradient(problem, params)
                result = pool.run_iteration(params, name, true_gradient=truth)
                lost += len(result.lost)
                respawned += len(result.respawned)
                assert set(result.respawned) >= set(result.lost)
                if result.failed:
                    assert result.lost and "lost" in result.reason
                    continue
                finished[name] += 1
                np.testing.assert_allclose(result.gradient, truth, rtol=1e-9, atol=1e-9)
                assert not set(result.responders) & set(result.lost)
    assert all(count > 0 for count in finished.values()), finished
    assert lost > 0 and respawned >= lost
    assert_cluster_clean(client)


def test_levels_and_responders_are_the_ones_the_theory_says(client, problem):
    params = np.linspace(-1.0, 1.0, FEATURES)
    truth = true_gradient(problem, params)
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, time_unit=0.02, backend=DaskBackend(client)
    ) as pool:
        # nested: s* = min{s ∈ S : s ≥ σ} with σ unresponsive workers
        for levels, unresponsive in [((0, 1, 2), (3,)), ((0, 1, 2), (0, 4)), ((0, 2), (5,))]:
            sigma = len(unresponsive)
            level = min(s for s in levels if s >= sigma)
            scheme = parse_scheme("nested", S_MAX, levels, N)
            result = pool.run_iteration(
                params, scheme, sample=unit_tasks(unresponsive), true_gradient=truth, deadline=20
            )
            assert not result.failed and result.level == level
            assert len(result.responders) == N - level
            assert not set(result.responders) & set(unresponsive)
            assert result.decode_error < 1e-9 and result.uploads == N - level
        # GC(s) does not wait for s slow workers
        for s in (1, 2):
            slow = tuple(range(s))
            result = pool.run_iteration(
                params, f"gc:{s}", sample=unit_tasks(slow=slow), true_gradient=truth, deadline=30
            )
            assert not result.failed and result.level == s
            assert set(result.responders) == set(range(N)) - set(slow)
            assert result.decode_error < 1e-9
        # streaming covers the partitions of S_MAX unresponsive neighbours
        result = pool.run_iteration(
            params, "streaming", sample=unit_tasks((1, 2)), true_gradient=truth, deadline=20
        )
        assert not result.failed and result.decode_error < 1e-9


def test_an_injected_crash_ends_the_loop_not_the_dask_worker(client, problem):
    params = np.full(FEATURES, 0.3)
    truth = true_gradient(problem, params)
    victim = 3
    pids_before = client.run(os.getpid)
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, time_unit=0.05, backend=DaskBackend(client)
    ) as pool:
        backend = pool.backend
        where, incarnation = backend.location(victim), pool.pids[victim]
        sample = unit_tasks()
        crashed = np.zeros(N, dtype=bool)
        crashed[victim] = True
        sample = dataclasses.replace(sample, crashed=crashed, crash_fraction=np.full(N, 0.3))
        result = pool.run_iteration(params, "nested", sample=sample, true_gradient=truth)
        assert not result.failed
        assert result.lost == (victim,) and result.respawned == (victim,)
        assert result.level == 1 and victim not in result.responders
        assert result.decode_error < 1e-9
        # a new incarnation, on the same (healthy) Dask worker, with its data: uncoded needs all
        assert pool.pids[victim] != incarnation and backend.location(victim) == where
        again = pool.run_iteration(params, "uncoded", sample=unit_tasks(), true_gradient=truth)
        assert not again.failed and again.decode_error < 1e-9 and victim in again.responders
    assert client.run(os.getpid) == pids_before  # no Dask worker died


# ---------------------------------------------------------------------- authentication
def test_a_connection_with_a_wrong_key_is_refused_and_changes_nothing(client, problem):
    params = np.full(FEATURES, -0.4)
    truth = true_gradient(problem, params)
    with WorkerPool(
        problem, least_squares_gradient, s_max=S_MAX, time_unit=0.05, backend=DaskBackend(client)
    ) as pool:
        backend = pool.backend
        with pytest.raises(AuthenticationError):
            connect(backend.address, authkey=b"not the key")
        assert _wait_for(lambda: backend.refused == 1)

        # and during an iteration (unit tasks of 50 ms): the impostor cannot join
        def impostor():
            time.sleep(0.05)
            with pytest.raises(AuthenticationError):
                connect(backend.address, authkey=os.urandom(32))

        thread = threading.Thread(target=impostor)
        thread.start()
        result = pool.run_iteration(params, "nested", sample=unit_tasks(), true_gradient=truth)
        thread.join()
        assert not result.failed and result.level == 0 and result.decode_error < 1e-9
        assert not result.lost and not result.respawned
        assert _wait_for(lambda: backend.refused == 2)


def _wait_for(condition, patience: float = 5.0) -> bool:
    end = time.monotonic() + patience
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


# ---------------------------------------------------------------------- lifecycle
def test_nothing_of_gclib_is_left_on_the_cluster_after_close_or_an_exception(client, problem):
    keys_before = set(client.who_has())
    with WorkerPool(problem, least_squares_gradient, s_max=S_MAX, backend=DaskBackend(client)):
        assert sum(len(keys) for keys in gclib_tasks(client).values()) == N
    assert_cluster_clean(client)
    with pytest.raises(KeyError, match="inside"):
        with WorkerPool(problem, least_squares_gradient, s_max=S_MAX, backend=DaskBackend(client)):
            raise KeyError("inside")
    assert_cluster_clean(client)
    assert _wait_for(lambda: set(client.who_has()) <= keys_before)  # the windows are released


def test_arguments_are_checked(client, problem):
    with pytest.raises(TypeError, match="Argument 'client' must be a distributed.Client"):
        DaskBackend("tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="Argument 'address'"):
        DaskBackend(client, address=("127.0.0.1", "80"))
    with pytest.raises(DaskClusterError, match="one thread each"):
        WorkerPool(problem * 2, least_squares_gradient, s_max=1, backend=DaskBackend(client))
    assert_cluster_clean(client)


# ---------------------------------------------------------------------- a real cluster
class CommandLineCluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, each in its own session."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen] = []
        file = folder / "scheduler.json"
        self.scheduler = self._start(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(file)]
        )
        assert _wait_for(file.exists, patience=30.0), "the scheduler did not start"
        self.address = json.loads(file.read_text())["address"]
        self.workers = [self.add_worker() for _ in range(2)]

    def _start(self, command: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"process-{len(self.processes)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes.append(process)
        return process

    def add_worker(self) -> subprocess.Popen:
        return self._start(
            [DASK, "worker", self.address, "--nthreads", "4", "--nworkers", "1"]
            + ["--no-dashboard", "--host", "127.0.0.1"]
        )

    def kill(self, process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Signal the process's whole session (a worker and its nanny, as a lost machine)."""
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for process in reversed(self.processes):
            self.kill(process, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(process)
                process.wait(timeout=10)
            self.kill(process)  # whatever is left of its session


@pytest.fixture(scope="module")
def real_cluster(tmp_path_factory):
    cluster = CommandLineCluster(tmp_path_factory.mktemp("dask"))
    try:
        with distributed.Client(cluster.address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            cluster.client = client
            yield cluster
    finally:
        cluster.stop()
    assert not any(running(process.pid) for process in cluster.processes)


def _demo(address: str, *options: str) -> list[str]:
    return [*GCLIB, "demo", "--backend", "dask", "--scheduler", address, "--json", *options]


DEMO_OPTIONS = ("-n", "4", "--smax", "2", "--schemes", "nested,gc:2", "--time-unit", "0.01")


def test_demo_runs_end_to_end_on_a_cluster_started_from_the_command_line(real_cluster):
    completed = subprocess.run(
        _demo(real_cluster.address, *DEMO_OPTIONS, "--iterations", "8", "--crash-prob", "0.1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    schemes = json.loads(completed.stdout)["schemes"]
    assert set(schemes) == {"nested", "gc:2"}
    for summary in schemes.values():
        assert summary["iterations"] == 8 and summary["max_decode_error"] < 1e-9
    assert_cluster_clean(real_cluster.client)


def test_a_lost_dask_worker_costs_nothing_within_tolerance(real_cluster):
    client = real_cluster.client
    demo = subprocess.Popen(
        _demo(real_cluster.address, *DEMO_OPTIONS, "--iterations", "60"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # round-robin: two gclib workers on each Dask worker; the second one dies mid-run
        assert _wait_for(lambda: sorted(map(len, gclib_tasks(client).values())) == [2, 2], 60)
        time.sleep(0.5)
        victim = real_cluster.workers[1]
        sessions = client.run(os.getsid, 0)  # each worker runs in the session of its command
        [survivor] = [address for address, sid in sessions.items() if sid != victim.pid]
        real_cluster.kill(victim)
        victim.wait(timeout=10)
        # the lost gclib workers are respawned on the surviving Dask worker
        assert _wait_for(
            lambda: {a: len(k) for a, k in gclib_tasks(client).items() if k} == {survivor: 4},
            patience=30,
        ), gclib_tasks(client)
        stdout, stderr = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 0, stderr
    schemes = json.loads(stdout)["schemes"]
    # two lost gclib workers, within the tolerance s_max = 2 of both schemes: nothing failed
    assert sum(summary["respawns"] for summary in schemes.values()) == 2
    for summary in schemes.values():
        assert summary["failed"] == 0 and summary["max_decode_error"] < 1e-9
    assert_cluster_clean(client)
    # the cluster is the user's: bring it back to two workers for the next tests
    real_cluster.workers[1] = real_cluster.add_worker()
    client.wait_for_workers(2, timeout=60)


def test_ctrl_c_leaves_nothing_on_the_cluster(real_cluster):
    client = real_cluster.client
    demo = subprocess.Popen(
        _demo(real_cluster.address, *DEMO_OPTIONS, "--iterations", "1000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert _wait_for(lambda: sum(map(len, gclib_tasks(client).values())) == 4, 60)
    time.sleep(0.5)
    demo.send_signal(signal.SIGINT)
    stdout, stderr = demo.communicate(timeout=30)
    assert demo.returncode == 130, stderr
    assert json.loads(stdout)["interrupted"] is True
    assert_cluster_clean(client)
    cluster_processes = [real_cluster.scheduler, *real_cluster.workers]
    assert all(running(process.pid) for process in cluster_processes)  # the cluster stays up


@pytest.mark.parametrize(
    "address",
    ["tcp://127.0.0.1:{closed}", "nonsense", "http://127.0.0.1:8786", "tcp://127.0.0.1:port"],
)
def test_bad_scheduler_addresses_fail_in_one_line_within_seconds(address, unused_port):
    began = time.monotonic()
    completed = subprocess.run(
        _demo(address.format(closed=unused_port), "-n", "4", "--smax", "1", "--schemes", "nested"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2 and completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gclib demo: error: "), completed.stderr
    assert time.monotonic() - began < 30  # Python starting on a busy machine, then 5 s at most


def test_too_few_dask_workers_fail_in_one_line(real_cluster):
    completed = subprocess.run(
        _demo(real_cluster.address, "-n", "9", "--smax", "1", "--iterations", "1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "8 worker thread(s) on 2 worker(s)" in lines[0], completed.stderr


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ctrl_c_on_a_local_cluster_leaves_no_process():
    demo = subprocess.Popen(
        [*GCLIB, "demo", "--backend", "dask", "-n", "3", "--smax", "1", "--iterations", "1000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    end = time.monotonic() + 60
    while len(_session(demo.pid)) < 4 and time.monotonic() < end:  # the master and 3 workers
        time.sleep(0.2)
    time.sleep(3.0)  # the workers start, then the pool
    os.killpg(demo.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
    _, stderr = demo.communicate(timeout=60)
    assert demo.returncode == 130, stderr
    assert _wait_for(lambda: not _session(demo.pid), patience=10), _session(demo.pid)


def _session(sid: int) -> list[int]:
    """The live processes of session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[3]) == sid:
                found.append(int(entry.name))
    return found
