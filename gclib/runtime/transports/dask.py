"""The Dask backend: gclib workers as long-running tasks on a Dask cluster, over direct sockets.

Dask places and supervises the worker loops and holds their data; the protocol's messages go over
direct TCP connections, authenticated with a fresh key per pool, as in ``xgboost.dask`` (a signal
per task through Dask's scheduler would cost more than the tasks). Worker ``i``'s data is scattered
once to the Dask worker that runs it; the loop, a task pinned there, connects back and runs the
unchanged :func:`~gclib.runtime.worker.worker_main`. A lost Dask worker shows as a closed
connection, an ended task or a worker gone from the scheduler; the gclib worker is then respawned
on a live Dask worker with a free thread. An injected crash cuts the loop's connection without a
reply, as a dead process would, rather than kill the Dask worker (which holds other loops). Close
cuts every connection (a loop ends on end-of-file: ``Client.cancel`` does not stop a running task)
and releases every task and scattered window; the cluster stays up. Dask's statistical profiler
delays the loops by milliseconds: ``distributed.worker.profile.enabled: false`` on the workers.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import queue
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge
from multiprocessing.connection import wait as wait_ready
from typing import Any

from gclib.runtime.transports.base import BackendEvent, Died, Received, WorkerBackend
from gclib.runtime.transports.framing import FramedPipe

__all__ = ["DaskBackend", "DaskClusterError"]

logger = logging.getLogger(__name__)

_HANDSHAKE_TIMEOUT = 10.0  # seconds a connecting peer has to authenticate and say who it is
_HEALTH_INTERVAL = 1.0  # seconds between two looks at the scheduler's list of workers
_RETIRE_GRACE = 0.5  # seconds a loop has to end after its connection closed
_DASK_TIMEOUT = 10.0  # seconds the requests to the cluster may take while closing
_RESPAWN_PATIENCE = 10.0  # seconds a respawn waits for a free thread (a nanny restarting a worker)
_KEY_PREFIX = "gclib-worker"
_UNREACHABLE = "no connection to the master at"


class DaskClusterError(RuntimeError):
    """The Dask cluster cannot host the workers (too few threads, no live worker)."""


class _InjectedCrash(Exception):
    """Raised by a loop's crash hook once its connection is cut."""


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        message = "DaskBackend needs the 'distributed' package: pip install 'gclib[dask]'."
        raise ImportError(message) from error
    return distributed


def _socket_options(fd: int, timeout: float | None = None) -> None:
    """No Nagle delay and keep-alive on ``fd``; with ``timeout``, bound every blocking read and
    write (``0``: no bound)."""
    sock = socket.socket(fileno=fd)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # signals leave at once
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if timeout is not None:
            value = struct.pack("ll", int(timeout), int((timeout % 1) * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    finally:
        sock.detach()


def _serve(target: Callable[..., Any], payload: tuple, worker: int, token: str) -> str:
    """The Dask task of one worker incarnation: connect back, then run the worker loop.

    Returns how the loop ended. A master that cannot be reached (or closed meanwhile) is a result,
    not an error, so that a closing pool leaves no failed task behind on the cluster."""
    args, address, authkey = payload
    connection = None
    try:
        sock = socket.create_connection(address, timeout=_HANDSHAKE_TIMEOUT)
        sock.settimeout(None)
        connection = Connection(sock.detach())
        _socket_options(connection.fileno(), _HANDSHAKE_TIMEOUT)
        answer_challenge(connection, authkey)
        deliver_challenge(connection, authkey)
        connection.send_bytes(pickle.dumps((worker, token, os.getpid())))
        _socket_options(connection.fileno(), 0.0)
    except (OSError, EOFError, AuthenticationError) as error:
        if connection is not None:
            connection.close()
        return f"{_UNREACHABLE} {address[0]}:{address[1]}: {error!r}"

    def crash() -> None:
        connection.close()  # cut without a word, as a dead process would
        raise _InjectedCrash

    try:
        target(FramedPipe(connection), *args, crash=crash)
    except _InjectedCrash:
        return "crashed"
    finally:
        connection.close()
    return "exited"


class _Incarnation:
    """One run of a worker: its Dask task, where it runs, and its connection once made."""

    def __init__(self, token: str, number: int, address: str, future: Any) -> None:
        self.token, self.number, self.address, self.future = token, number, address, future
        self.launched = time.monotonic()
        self.connection: Connection | None = None


class DaskBackend(WorkerBackend):
    """Workers as long-running tasks on a Dask cluster, talking to the master over direct sockets.

    Pass it to the pool: ``WorkerPool(partitions, gradient, s_max=1, backend=DaskBackend(client))``.
    The pool calls it with ``(n, target, args_of)`` and gets a backend bound to that pool, with
    its own listener and key; one ``DaskBackend`` can serve several pools.

    Args:
        client: a connected ``distributed.Client``; the cluster stays the caller's.
        workers: the Dask worker addresses to use (default: every worker of the cluster). The
            gclib workers are spread round-robin over their threads; each loop holds one thread
            for the pool's lifetime, so there must be at least ``n`` threads.
        address: where the master listens: a host, or ``(host, port)`` (port ``0``: any free one).
            Default: ``127.0.0.1`` when every Dask worker runs on this machine, else this
            machine's address on the route to the scheduler (also what ``0.0.0.0`` advertises).
            The Dask workers must reach it.
    """

    def __init__(
        self,
        client: Any,
        *,
        workers: Sequence[str] | None = None,
        address: str | tuple[str, int] | None = None,
    ) -> None:
        distributed = _require_distributed()
        if not isinstance(client, distributed.Client):
            raise TypeError(
                f"Argument 'client' must be a distributed.Client, not {type(client).__name__}."
            )
        if workers is not None and (
            isinstance(workers, str) or not all(isinstance(w, str) for w in workers)
        ):
            raise TypeError(f"Argument 'workers' must be a list of addresses, not {workers!r}.")
        address = (address, 0) if isinstance(address, str) else address
        kinds = [type(a) for a in address] if isinstance(address, tuple | list) else []
        if address is not None and kinds != [str, int]:
            raise ValueError(f"Argument 'address' must be a host or (host, port), not {address!r}.")
        self._client = client
        self._workers = None if workers is None else list(workers)
        self._address = None if address is None else tuple(address)
        self.n = 0
        self._bound = self._closed = False
        self.refused = 0  # connections dropped: wrong key or malformed greeting

    # ------------------------------------------------------------------ binding to a pool
    def __call__(self, n: int, target: Callable, args_of: Callable, _method: Any = None) -> Any:
        """The backend of one pool of ``n`` workers (``start_method`` has no meaning here)."""
        backend = self
        if self._bound:
            backend = DaskBackend(self._client, workers=self._workers, address=self._address)
        backend._bind(n, target, args_of)
        return backend

    def _bind(self, n: int, target: Callable[..., Any], args_of: Callable[[int], tuple]) -> None:
        distributed = _require_distributed()
        threads = self._threads()
        missing = sorted(set(self._workers or ()) - set(threads))
        if missing:
            raise DaskClusterError(f"Dask workers {missing} are not in the cluster.")
        if sum(threads.values()) < n:
            total = f"{sum(threads.values())} worker thread(s) on {len(threads)} worker(s)"
            message = "gclib workers need one thread each: start more Dask workers or threads."
            raise DaskClusterError(f"The Dask cluster has {total}, but {n} {message}")
        self.n, self._target, self._args_of = n, target, args_of
        # round-robin over the threads: one loop on every Dask worker before a second on any
        slots = [a for t in range(max(threads.values())) for a in sorted(threads) if t < threads[a]]
        self._initial = slots[:n]
        self._data: list[Any] = [None] * n  # the scattered (args, address, key) of each worker
        self._data_at: list[str | None] = [None] * n
        self._current: list[_Incarnation | None] = [None] * n
        self._dead = [True] * n
        self._owner: dict[Connection, int] = {}
        self._running: list[_Incarnation] = []  # incarnations whose task may still run
        self._numbers = itertools.count(1)
        self._events: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._stop = threading.Event()
        # where to listen, and the address the workers connect to
        route = distributed.utils.get_ip
        scheduler = distributed.comm.get_address_host(self._client.scheduler.address)
        local = {distributed.comm.get_address_host(a) for a in threads} <= {"127.0.0.1"}
        host, port = self._address or ("127.0.0.1" if local else route(scheduler), 0)
        self._authkey = secrets.token_bytes(32)
        self._listener = socket.create_server((host, port), family=socket.AF_INET, backlog=128)
        self._listener.settimeout(0.2)
        host, port = self._listener.getsockname()[:2]
        self.address = (route(scheduler) if host == "0.0.0.0" else host, port)
        self._bound = True
        for name, loop in (("accept", self._accept), ("monitor", self._monitor)):
            threading.Thread(target=loop, name=f"gclib-dask-{name}", daemon=True).start()

    def _threads(self) -> dict[str, int]:
        """Live Dask workers (of those allowed) and their thread counts, from the scheduler."""
        threads = dict(self._client.nthreads())
        if self._workers is not None:
            threads = {a: t for a, t in threads.items() if a in self._workers}
        return threads

    def _check(self, worker: int) -> _Incarnation | None:
        if not self._bound:
            raise RuntimeError("This DaskBackend is not bound to a pool: pass it to WorkerPool.")
        if not 0 <= worker < self.n:
            raise ValueError(f"Argument 'worker' must be in [0, {self.n}), not {worker!r}.")
        return self._current[worker]

    # ------------------------------------------------------------------ background threads
    def _post(self, *event: Any) -> None:
        self._events.put(event)
        with contextlib.suppress(OSError):  # already awake, or closed
            os.write(self._wake_write, b"\0")

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            threading.Thread(target=self._handshake, args=(sock,), daemon=True).start()

    def _handshake(self, sock: socket.socket) -> None:
        """Authenticate a peer and read which incarnation it is; drop it on any failure."""
        connection = Connection(sock.detach())
        try:
            _socket_options(connection.fileno(), _HANDSHAKE_TIMEOUT)
            deliver_challenge(connection, self._authkey)
            answer_challenge(connection, self._authkey)
            worker, token, _pid = pickle.loads(connection.recv_bytes(1024))
            if not (isinstance(worker, int) and isinstance(token, str)):
                raise ValueError("malformed greeting")
            _socket_options(connection.fileno(), 0.0)
        except Exception:
            connection.close()
            self.refused += 1
            return
        self._post("connected", worker, token, connection)

    def _monitor(self) -> None:  # which Dask workers the scheduler knows, every few moments
        while not self._stop.wait(_HEALTH_INTERVAL):
            asked = time.monotonic()
            with contextlib.suppress(Exception):
                self._post("members", set(self._client.nthreads()), asked)

    # ------------------------------------------------------------------ lifecycle
    def start(self, worker: int) -> None:
        previous = self._check(worker)
        if self._closed:
            raise RuntimeError("The backend is closed.")
        if previous is None:
            self._launch(worker, self._initial[worker])
            return
        self._retire(worker)
        try:
            address = self._choose(previous)
        finally:
            with contextlib.suppress(Exception):
                previous.future.release()
            self._running = [r for r in self._running if r is not previous]
        self._launch(worker, address)

    respawn = start  # a started worker is replaced

    def _launch(self, worker: int, address: str) -> None:
        if self._data_at[worker] != address:  # ship the data where the loop runs, once
            with contextlib.suppress(Exception):
                self._data[worker].release()
            payload = (self._args_of(worker), self.address, self._authkey)
            [self._data[worker]] = self._client.scatter([payload], workers=[address], hash=False)
            self._data_at[worker] = address
        token = uuid.uuid4().hex
        future = self._client.submit(
            _serve,
            self._target,
            self._data[worker],
            worker,
            token,
            key=f"{_KEY_PREFIX}-{worker}-{token}",
            workers=[address],
            allow_other_workers=False,
            pure=False,
            retries=0,
        )
        incarnation = _Incarnation(token, next(self._numbers), address, future)
        self._current[worker] = incarnation
        self._running.append(incarnation)
        self._dead[worker] = False
        future.add_done_callback(lambda _: self._post("finished", worker, token))

    def _retire(self, worker: int) -> None:
        """Cut the current incarnation loose: its loop ends on end-of-file."""
        incarnation = self._current[worker]
        self._dead[worker] = True
        if incarnation is not None and incarnation.connection is not None:
            self._owner.pop(incarnation.connection, None)
            incarnation.connection.close()

    def _choose(self, previous: _Incarnation) -> str:
        """Where to respawn: the previous Dask worker if healthy, else the one most free."""
        distributed = _require_distributed()
        with contextlib.suppress(Exception):
            distributed.wait([previous.future], timeout=_RETIRE_GRACE)
        # a loop that ended (returned or raised) ran on a live Dask worker
        healthy = previous.future.done() and previous.future.status in ("finished", "error")
        end = time.monotonic() + _RESPAWN_PATIENCE
        while True:
            free = self._threads()
            if not healthy:
                free.pop(previous.address, None)  # its loop outlived its connection: lost
            self._running = [r for r in self._running if not r.future.done()]
            for incarnation in self._running:
                if incarnation.address in free:
                    free[incarnation.address] -= 1
            if free.get(previous.address, 0) > 0:
                return previous.address
            candidates = [a for a in sorted(free) if free[a] > 0]
            if candidates:
                return max(candidates, key=lambda a: free[a])
            if time.monotonic() >= end:
                message = "start more Dask workers or threads"
                raise DaskClusterError(f"No Dask worker can take a respawned worker: {message}.")
            time.sleep(0.2)

    def close(self, grace: float = 1.0) -> None:
        closed, self._closed = self._closed, True
        if closed or not self._bound:
            return
        self._stop.set()
        try:
            # end every loop first: local, fast, and enough on its own if we are interrupted
            for worker, incarnation in enumerate(self._current):
                self._dead[worker] = True
                if incarnation is not None and incarnation.connection is not None:
                    incarnation.connection.close()
            self._owner.clear()
            self._listener.close()
            while not self._events.empty():  # connections made meanwhile
                event = self._events.get_nowait()
                if event[0] == "connected":
                    event[3].close()
        finally:
            self._release_all(grace)
            for fd in (self._wake_read, self._wake_write):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _release_all(self, grace: float) -> None:
        """Release tasks and data once the loops ended (a helper thread: never hangs)."""
        tasks = [r.future for r in self._running]
        futures = tasks + [f for f in self._data if f is not None]

        def release() -> None:
            distributed = _require_distributed()
            with contextlib.suppress(Exception):
                distributed.wait(tasks, timeout=max(grace, 0.01))
            try:
                self._client.cancel(futures)
            except Exception as error:
                logger.warning("gclib: could not release the Dask tasks: %s", error)

        helper = threading.Thread(target=release, daemon=True)
        helper.start()
        helper.join(grace + _DASK_TIMEOUT)
        self._running.clear()
        self._data = [None] * self.n

    # ------------------------------------------------------------------ messages
    def send(self, worker: int, payload: bytes) -> bool:
        incarnation = self._check(worker)
        if self._dead[worker] or incarnation is None or incarnation.connection is None:
            return False
        try:
            incarnation.connection.send_bytes(payload)
        except OSError:
            return False  # the death is reported by wait()
        return True

    def wait(self, timeout: float | None) -> list[BackendEvent]:
        if not self._bound or self._closed:
            time.sleep(timeout or 0.0)
            return []
        events: list[BackendEvent] = []
        self._process_queue(events)
        if events:
            return events
        for ready in wait_ready([self._wake_read, *self._owner], timeout):
            if ready == self._wake_read:
                with contextlib.suppress(OSError):
                    os.read(self._wake_read, 4096)
                continue
            worker = self._owner.get(ready)
            if worker is not None and not self._dead[worker] and not self._drain(worker, events):
                self._die(worker, events)
        self._process_queue(events)
        return events

    def _drain(self, worker: int, events: list[BackendEvent]) -> bool:
        """Read every complete message waiting from ``worker``; ``False`` on end-of-file."""
        connection = self._current[worker].connection
        try:
            while connection.poll(0):
                events.append(Received(worker, connection.recv_bytes()))
        except (EOFError, OSError):
            return False
        return True

    def _die(self, worker: int, events: list[BackendEvent]) -> None:
        """Report ``worker`` dead, after whatever it sent before."""
        incarnation = self._current[worker]
        if incarnation.connection is not None:
            self._drain(worker, events)
            self._owner.pop(incarnation.connection, None)
            incarnation.connection.close()
        self._dead[worker] = True
        events.append(Died(worker, None))

    def _process_queue(self, events: list[BackendEvent]) -> None:
        """Carry out what the background threads saw: connections, ended tasks, lost workers."""
        while not self._events.empty():
            kind, *event = self._events.get_nowait()
            if kind == "members":
                members, asked = event
                for worker, incarnation in enumerate(self._current):
                    if incarnation is None or self._dead[worker] or incarnation.launched > asked:
                        continue
                    if incarnation.address not in members:
                        self._die(worker, events)
                continue
            worker, token = event[0], event[1]
            current = self._current[worker] if 0 <= worker < self.n else None
            if current is None or current.token != token or self._dead[worker]:
                if kind == "connected":
                    event[2].close()  # a stale incarnation
                continue
            if kind == "connected" and current.connection is None:
                current.connection = event[2]
                self._owner[event[2]] = worker
            elif kind == "connected":
                event[2].close()  # a duplicate
            elif kind == "finished":
                self._explain(worker, current.future)
                self._die(worker, events)

    def _explain(self, worker: int, future: Any) -> None:
        """Log why a worker's task ended on its own: it failed, or the master was unreachable."""
        with contextlib.suppress(Exception):
            if future.status == "error":
                logger.warning("gclib worker %d failed on Dask: %r", worker, future.exception())
            elif str(outcome := future.result(timeout=_DASK_TIMEOUT)).startswith(_UNREACHABLE):
                logger.warning("gclib worker %d: %s", worker, outcome)

    # ------------------------------------------------------------------ state
    def alive(self, worker: int) -> bool:
        incarnation = self._check(worker)
        return not self._dead[worker] and incarnation is not None and not incarnation.future.done()

    def pid(self, worker: int) -> str | None:  # type: ignore[override]
        """``"<Dask worker address>#<incarnation>"``: where the worker runs now; the
        incarnation number grows at every (re)start."""
        incarnation = self._check(worker)
        return None if incarnation is None else f"{incarnation.address}#{incarnation.number}"

    def location(self, worker: int) -> str | None:
        """The address of the Dask worker that runs ``worker`` now."""
        incarnation = self._check(worker)
        return None if incarnation is None else incarnation.address

    @property
    def keys(self) -> tuple[str, ...]:
        """The Dask keys of the worker tasks that may still run (none once closed)."""
        return tuple(r.future.key for r in getattr(self, "_running", ()))
