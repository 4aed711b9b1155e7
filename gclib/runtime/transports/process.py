"""The process backend: workers as local ``multiprocess`` processes, one duplex pipe each."""

from __future__ import annotations

import os
import signal
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import multiprocess
import multiprocess.connection

from gclib.runtime.transports.base import BackendEvent, Died, Received, WorkerBackend

__all__ = ["ProcessBackend"]


def _child_entry(
    target: Callable[..., Any], channel: Any, args: tuple, inherited_fds: Sequence[int]
) -> None:
    # A forked child holds copies of the master's ends of the other workers' pipes; closing them
    # lets every worker see end-of-file as soon as the master itself is gone.
    for fd in inherited_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    # Ctrl-C in a terminal reaches the whole process group: the master alone reacts, by shutting
    # the workers down, so the workers print no traceback of their own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    target(channel, *args)


# every live backend of this process: a forked worker closes the master's ends of all their pipes
_PROCESS_BACKENDS: weakref.WeakSet[ProcessBackend] = weakref.WeakSet()


class ProcessBackend(WorkerBackend):
    """Workers as local ``multiprocess`` processes, one duplex pipe each.

    Args:
        n: number of workers.
        target: the worker's entry point, called as ``target(channel, *args_of(i))`` in the
            child process.
        args_of: the start arguments of worker ``i`` (its data); evaluated at every (re)start.
        start_method: ``"fork"`` (default where available: no pickling of the data), ``"spawn"``
            or ``"forkserver"``.
    """

    def __init__(
        self,
        n: int,
        target: Callable[..., Any],
        args_of: Callable[[int], tuple],
        start_method: str | None = None,
    ) -> None:
        if start_method is None:
            start_method = "fork" if "fork" in multiprocess.get_all_start_methods() else "spawn"
        self.n = n
        self.start_method = start_method
        self._context = multiprocess.get_context(start_method)
        self._target = target
        self._args_of = args_of
        self._processes: list[Any] = [None] * n
        self._connections: list[Any] = [None] * n
        self._dead = [True] * n
        self._owner: dict[Any, int] = {}  # connection or sentinel -> worker
        self._closed = False
        _PROCESS_BACKENDS.add(self)

    # ------------------------------------------------------------------ lifecycle
    def start(self, worker: int) -> None:
        if self._closed:
            raise RuntimeError("The backend is closed.")
        master_end, worker_end = self._context.Pipe(duplex=True)
        inherited: list[int] = []
        if self.start_method == "fork":
            inherited = [
                connection.fileno()
                for backend in _PROCESS_BACKENDS
                for connection in backend._connections
                if connection is not None and not connection.closed
            ]
            inherited.append(master_end.fileno())
        process = self._context.Process(
            target=_child_entry,
            args=(self._target, worker_end, self._args_of(worker), inherited),
            name=f"gclib-worker-{worker}",
            daemon=True,
        )
        process.start()
        worker_end.close()  # only the child holds it now: its death gives end-of-file here
        self._processes[worker] = process
        self._connections[worker] = master_end
        self._dead[worker] = False
        self._owner[master_end] = worker
        self._owner[process.sentinel] = worker

    def respawn(self, worker: int) -> None:
        self._discard(worker, kill=True)
        self.start(worker)

    def _discard(self, worker: int, *, kill: bool) -> None:
        process, connection = self._processes[worker], self._connections[worker]
        if connection is not None:
            self._owner.pop(connection, None)
            connection.close()
        if process is not None:
            self._owner.pop(process.sentinel, None)
            if kill and process.is_alive():
                process.kill()
            process.join(timeout=5.0)
            if process.exitcode is not None:
                process.close()
        self._processes[worker] = None
        self._connections[worker] = None
        self._dead[worker] = True

    def close(self, grace: float = 1.0) -> None:
        if self._closed:
            return
        self._closed = True
        processes = [p for p in self._processes if p is not None]
        end = time.monotonic() + grace
        for process in processes:
            process.join(timeout=max(0.0, end - time.monotonic()))
        for process in processes:
            if process.exitcode is None:
                process.terminate()
        for process in processes:
            process.join(timeout=1.0)
            if process.exitcode is None:
                process.kill()
                process.join(timeout=1.0)
        for worker in range(self.n):
            connection = self._connections[worker]
            if connection is not None:
                connection.close()
            self._connections[worker] = None
            self._dead[worker] = True
        self._owner.clear()

    # ------------------------------------------------------------------ messages
    def send(self, worker: int, payload: bytes) -> bool:
        connection = self._connections[worker]
        if connection is None or self._dead[worker]:
            return False
        try:
            connection.send_bytes(payload)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return False  # the death is reported by wait()
        return True

    def wait(self, timeout: float | None) -> list[BackendEvent]:
        watched = [obj for obj, worker in self._owner.items() if not self._dead[worker]]
        if not watched:
            if timeout is not None and timeout > 0:
                time.sleep(timeout)
            return []
        ready = multiprocess.connection.wait(watched, timeout)
        events: list[BackendEvent] = []
        died: list[int] = []
        for obj in ready:
            worker = self._owner.get(obj)
            if worker is None or self._dead[worker] or worker in died:
                continue
            if not self._drain(worker, events) or obj is not self._connections[worker]:
                # end-of-file on the pipe or a ready sentinel: the process is gone (or going)
                if obj is self._connections[worker]:
                    self._processes[worker].join(timeout=1.0)
                died.append(worker)
        for worker in died:
            self._dead[worker] = True
            self._processes[worker].join(timeout=0.1)
            events.append(Died(worker, self._processes[worker].exitcode))
        return events

    def _drain(self, worker: int, events: list[BackendEvent]) -> bool:
        """Read every complete message waiting from ``worker``; ``False`` on end-of-file."""
        connection = self._connections[worker]
        try:
            while connection.poll(0):
                events.append(Received(worker, connection.recv_bytes()))
        except (EOFError, OSError):
            return False
        return True

    # ------------------------------------------------------------------ state
    def alive(self, worker: int) -> bool:
        process = self._processes[worker]
        return not self._dead[worker] and process is not None and process.is_alive()

    def pid(self, worker: int) -> int | None:
        process = self._processes[worker]
        return None if process is None else process.pid
