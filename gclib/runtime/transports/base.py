"""How master and workers exchange bytes: the transport, kept apart from the protocol.

The master side of the protocol (:mod:`gclib.runtime.pool`) only needs a :class:`WorkerBackend`:
start worker ``i``, send it bytes, wait for the next events (bytes received, worker died) with a
timeout, respawn a dead worker, and shut everything down. :class:`ProcessBackend` implements it with
local processes of the ``multiprocess`` package and one duplex pipe per worker; a cluster backend
implements the same five operations on its own transport. A backend whose master can read what
a worker prepared, without asking it, also offers :meth:`WorkerBackend.fetch`. On the worker side
the protocol needs a channel with ``send_bytes``, ``recv_bytes`` and ``poll(timeout)``: a pipe end
is one, and :class:`~gclib.runtime.transports.framing.FramedPipe` a leaner one on the same
frames."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Received", "Died", "BackendEvent", "WorkerBackend"]


@dataclass(frozen=True)
class Received:
    """Worker ``worker`` sent ``payload``."""

    worker: int
    payload: bytes


@dataclass(frozen=True)
class Died:
    """Worker ``worker``'s process is gone (``exitcode`` as the operating system reported it)."""

    worker: int
    exitcode: int | None


BackendEvent = Received | Died


class WorkerBackend(abc.ABC):
    """Start, reach and watch ``n`` workers; nothing about what the bytes mean.

    ``shares_clock``: whether the workers read the master's monotonic clock (processes of one
    machine), so that a moment the master stamps means the same to them.
    """

    n: int
    shares_clock: bool = False

    @abc.abstractmethod
    def start(self, worker: int) -> None:
        """Start worker ``worker`` (its data and entry point were given to the backend)."""

    @abc.abstractmethod
    def send(self, worker: int, payload: bytes) -> bool:
        """Send ``payload`` to ``worker``; ``False`` if the worker cannot be reached."""

    @abc.abstractmethod
    def wait(self, timeout: float | None) -> list[BackendEvent]:
        """Block up to ``timeout`` seconds for events; every death is reported exactly once."""

    @abc.abstractmethod
    def alive(self, worker: int) -> bool:
        """Whether ``worker`` runs and has not been reported dead."""

    @abc.abstractmethod
    def respawn(self, worker: int) -> None:
        """Replace ``worker`` (killing what is left of it) by a fresh one with the same data."""

    @abc.abstractmethod
    def pid(self, worker: int) -> int | None:
        """An identifier of the worker's current incarnation (its process id)."""

    def not_running(self) -> list[int]:
        """The workers that do not run now (dead, or never started), found without waiting."""
        return [worker for worker in range(self.n) if not self.alive(worker)]

    def reserve_messages(self, slots: int) -> None:
        """Prepare one-sided reads of what the workers publish, in ``slots`` slots each (one per
        task of a window; before the workers start); a backend without them does nothing."""
        return None

    def fetch(self, iteration: int, slot: int, workers: Sequence[int]) -> list[Any]:
        """What ``workers`` published on finishing task ``slot + 1`` of ``iteration``, read
        without asking them (arrays), each ``None`` where the backend cannot (then the master
        asks)."""
        return [None] * len(workers)

    @abc.abstractmethod
    def close(self, grace: float = 1.0) -> None:
        """Stop every worker: wait ``grace`` seconds for a clean exit, then kill; idempotent."""
