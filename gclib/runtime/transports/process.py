"""The process backend: workers as local ``multiprocess`` processes, one duplex pipe each.

A worker dies with its master: on Linux the kernel sends it ``SIGKILL`` when the master goes
(``PR_SET_PDEATHSIG``), which also reaches a stopped (``SIGSTOP``) worker; elsewhere a thread of
the worker checks its parent twice a second. Besides, a forked worker sees end-of-file on its pipe
as soon as the master is gone. The master watches every pipe and process sentinel with one
persistent ``poll`` set: building a selector for every wait would cost more than the messages.

With ``fork``, the workers also share a region of :class:`MessageSlots` with the master once the
pool reserves it: a requested coded message is then read from there, without a request round.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import multiprocess

from gclib.runtime.transports.base import BackendEvent, Died, Received, WorkerBackend
from gclib.runtime.transports.framing import FramedPipe
from gclib.runtime.transports.message_slots import MessageSlots

__all__ = ["ProcessBackend"]

_PR_SET_PDEATHSIG = 1
_PR_SET_TIMERSLACK = 29
_PARENT_CHECK_INTERVAL = 0.5  # seconds, where no parent-death signal exists
_READABLE = select.POLLIN | select.POLLPRI
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]  # whole words, not C ints
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _prctl()  # resolved once in the master: forked workers inherit it


def _die_with_parent(parent: int | None) -> None:
    """Make this worker process end when ``parent`` (the master) does, even while stopped."""
    if _PRCTL is not None and _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
        # the signal comes when the master's thread that started this worker ends: a pool is best
        # used from one long-lived thread (the main thread, as a rule); a worker ended that way
        # is replaced like any dead one
        if parent is not None and os.getppid() != parent:
            os._exit(1)  # the master died before the call above: no signal will come
        return
    if parent is None:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_INTERVAL)
        os._exit(1)

    threading.Thread(target=watch, name="gclib-parent-watch", daemon=True).start()


def _yield_to_master() -> None:
    """Make this worker a batch process (Linux): it then never preempts the master on waking up.

    With fewer cores than workers, each message the master sends would otherwise hand the core
    to the worker it wakes, and the master's next message would wait for that worker's turn: the
    ``n`` messages of a broadcast or a request round would leave one worker's reaction apart. A
    batch process gets the same share of the processor; only the wake-up preemption is gone.
    """
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:
            pass  # not permitted here: the default policy works, only with a slower round


class _PublishingPipe(FramedPipe):
    """A worker's channel that can also publish its prepared messages for one-sided reads."""

    def __init__(self, connection: Any, slots: MessageSlots, worker: int) -> None:
        super().__init__(connection)
        self._slots, self._worker = slots, worker

    def publish(self, iteration: int, slot: int, message: Any) -> bool:
        return self._slots.publish(self._worker, iteration, slot, message)


def _child_entry(
    target: Callable[..., Any],
    channel: Any,
    args: tuple,
    inherited_fds: Sequence[int],
    parent: int | None = None,
    slots: tuple[MessageSlots, int] | None = None,
) -> None:
    _die_with_parent(parent)
    if _PRCTL is not None:
        # task ends are timed by select(): the default timer slack of 50 µs would make every
        # wake-up late by that much
        _PRCTL(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
    _yield_to_master()
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
    target(FramedPipe(channel) if slots is None else _PublishingPipe(channel, *slots), *args)


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

    shares_clock = True  # processes of this machine

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
        self._poller = select.poll()
        self._watched: dict[int, tuple[int, bool]] = {}  # fd -> (worker, is its pipe)
        self._fds: list[tuple[int, ...]] = [()] * n  # each worker's watched descriptors
        # the sentinels alone, readable once their process has ended: one poll finds every death
        self._sentinels = select.poll()
        self._closed = False
        self._slots: MessageSlots | None = None
        _PROCESS_BACKENDS.add(self)

    # ------------------------------------------------------------------ lifecycle
    def reserve_messages(self, slots: int) -> None:
        """Share ``MessageSlots`` (memory the master reads prepared messages from), ``slots``
        per worker, with the workers started from now on (forked ones only: no other start
        method shares memory)."""
        if self.start_method != "fork" or self._slots is not None:
            return
        try:
            self._slots = MessageSlots(self.n, slots)
        except (ValueError, OSError):
            pass  # too many slots for the budget, or no shared memory: requests as usual

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
        # a forkserver's child has the server for parent, which ends with the master anyway
        parent = None if self.start_method == "forkserver" else os.getpid()
        process = self._context.Process(
            target=_child_entry,
            args=(
                self._target,
                worker_end,
                self._args_of(worker),
                inherited,
                parent,
                None if self._slots is None else (self._slots, worker),
            ),
            name=f"gclib-worker-{worker}",
            daemon=True,
        )
        process.start()
        worker_end.close()  # only the child holds it now: its death gives end-of-file here
        self._processes[worker] = process
        self._connections[worker] = FramedPipe(master_end)
        self._dead[worker] = False
        self._fds[worker] = (master_end.fileno(), process.sentinel)
        for fd, pipe in zip(self._fds[worker], (True, False), strict=True):
            self._poller.register(fd, _READABLE)
            self._watched[fd] = (worker, pipe)
        self._sentinels.register(process.sentinel, _READABLE)

    def _unwatch(self, worker: int) -> None:
        """Stop watching ``worker``'s pipe and sentinel (before they are closed: a closed
        descriptor's number is soon reused)."""
        for fd in self._fds[worker]:
            self._poller.unregister(fd)
            del self._watched[fd]
        if self._fds[worker]:
            self._sentinels.unregister(self._fds[worker][1])
        self._fds[worker] = ()

    def respawn(self, worker: int) -> None:
        self._discard(worker, kill=True)
        self.start(worker)

    def _discard(self, worker: int, *, kill: bool) -> None:
        process, connection = self._processes[worker], self._connections[worker]
        self._unwatch(worker)
        self._processes[worker] = None
        self._connections[worker] = None
        self._dead[worker] = True
        if connection is not None:
            connection.close()
        if process is not None:
            if kill and process.is_alive():
                process.kill()
            process.join(timeout=5.0)
            if process.exitcode is not None:
                process.close()

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
            self._unwatch(worker)
            connection = self._connections[worker]
            if connection is not None:
                connection.close()
            self._connections[worker] = None
            self._dead[worker] = True

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
        """The messages of every ready pipe (what one read of it brings), and the deaths, each
        after its last messages."""
        if not self._watched:
            if timeout is not None and timeout > 0:
                time.sleep(timeout)
            return []
        milliseconds = None if timeout is None else max(0.0, timeout) * 1e3
        events: list[BackendEvent] = []
        for fd, mask in self._poller.poll(milliseconds):
            owner = self._watched.get(fd)
            if owner is None:
                continue  # its worker died earlier in this loop
            worker, pipe = owner
            if pipe and mask & _READABLE:
                try:
                    for frame in self._connections[worker].read_ready():
                        events.append(Received(worker, frame))
                    continue
                except (EOFError, OSError):
                    pass  # end-of-file: the process is gone (or going)
            elif pipe and not mask & _GONE:
                continue
            # the sentinel is ready or the pipe closed: read what was sent before the end
            self._drain(worker, events)
            self._processes[worker].join(timeout=1.0 if pipe else 0.1)
            self._dead[worker] = True
            self._unwatch(worker)
            events.append(Died(worker, self._processes[worker].exitcode))
        return events

    def fetch(self, iteration: int, slot: int, workers: Sequence[int]) -> list[Any]:
        if self._slots is None:
            return [None] * len(workers)
        found = self._slots.fetch(iteration, slot, workers)
        return [
            None if self._dead[w] else message for w, message in zip(workers, found, strict=True)
        ]

    def _drain(self, worker: int, events: list[BackendEvent]) -> None:
        """Read every complete message still waiting from ``worker``."""
        connection = self._connections[worker]
        try:
            while connection.poll(0):
                events.append(Received(worker, connection.recv_bytes()))
        except (EOFError, OSError):
            pass

    # ------------------------------------------------------------------ state
    def alive(self, worker: int) -> bool:
        process = self._processes[worker]
        return not self._dead[worker] and process is not None and process.is_alive()

    def not_running(self) -> list[int]:
        ended = {fd for fd, _ in self._sentinels.poll(0)}
        return [
            worker
            for worker, fds in enumerate(self._fds)
            if self._dead[worker] or not fds or fds[1] in ended
        ]

    def pid(self, worker: int) -> int | None:
        process = self._processes[worker]
        try:
            return None if process is None else process.pid
        except ValueError:  # closed by a respawn in another thread meanwhile
            return None
