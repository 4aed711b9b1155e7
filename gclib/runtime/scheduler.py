"""The master's decision logic, free of any transport.

Events go in (a worker finished its ``k``-th task, a coded message arrived, a worker was lost);
actions come out (request level ``s`` from ``F``, stop, resume, complete, fail). The Monte Carlo
simulator and every worker-pool backend drive this one state machine, so the decisions a reader
studies in the theory are exactly the ones the real pool takes.

For the nested code with level set ``S``, ``c_k`` counts the live workers with at least ``k``
tasks done. At the first event where some ``s ∈ S`` has ``c_{s+1} ≥ n − s``, the master picks
``F`` = the first ``n − s`` live workers that reached ``s + 1`` tasks, requests their level-``s``
messages and stops everybody else. If a worker of ``F`` is lost before its message arrives, the
master re-plans from the progress it has seen (same level first, so that messages already received
are reused), and resumes computation when no level is reachable yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from gclib.schemes.parse import Scheme

__all__ = [
    "Scheduler",
    "Status",
    "RequestLevel",
    "Stop",
    "Resume",
    "Complete",
    "Fail",
    "Action",
]


class Status(Enum):
    RUNNING = "running"
    COLLECTING = "collecting"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True)
class RequestLevel:
    """Ask ``workers`` for their level-``level`` coded message (nested scheme only).

    A requested worker replies with ``sum_j B^(s)[i, j] g_j`` from the partials it holds, then
    stops computing.
    """

    level: int
    workers: tuple[int, ...]


@dataclass(frozen=True)
class Stop:
    """Tell ``workers`` to stop computing (they keep the partial gradients they hold)."""

    workers: tuple[int, ...]


@dataclass(frozen=True)
class Resume:
    """Tell stopped ``workers`` to go on computing their window."""

    workers: tuple[int, ...]


@dataclass(frozen=True)
class Complete:
    """The master holds what it needs.

    For coded schemes: decode the level-``level`` messages of ``responders`` (in arrival order).
    For ignore-stragglers: sum the first-task partials of ``responders``. For streaming:
    ``sources[j] = (worker, task)`` says whose upload of partition ``j`` to use.
    """

    level: int | None
    responders: tuple[int, ...]
    sources: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Fail:
    """No level can be reached any more: too many workers were lost."""

    reason: str


Action = RequestLevel | Stop | Resume | Complete | Fail


def cyclic_placement(n: int, s_max: int) -> tuple[tuple[int, ...], ...]:
    """Worker ``i`` stores ``W_i = (i, i+1, …, i+s_max) mod n`` and computes it in that order."""
    return tuple(tuple((i + k) % n for k in range(s_max + 1)) for i in range(n))


class Scheduler:
    """One iteration of the master's protocol for ``scheme`` on ``n`` workers.

    Feed it events with :meth:`progress`, :meth:`message` and :meth:`lost`; each returns the
    list of actions to carry out, in order. For eager schemes (GC, uncoded, ignore, streaming) a
    progress event that completes a worker's upload also delivers its message, so no separate
    :meth:`message` call is needed.
    """

    def __init__(self, n: int, scheme: Scheme) -> None:
        if n < 1:
            raise ValueError(f"Argument 'n' must be a positive integer, not {n!r}.")
        if scheme.kind == "ignore" and scheme.levels[0] >= n:
            raise ValueError(f"Scheme {scheme.name} needs a tolerance below n = {n}.")
        if scheme.kind in ("nested", "gc") and max(scheme.levels) >= n:
            raise ValueError(f"Scheme {scheme.name} needs tolerances below n = {n}.")
        if scheme.s_max >= n:
            raise ValueError(f"Argument 's_max' must be below n = {n}, not {scheme.s_max}.")
        self.n = n
        self.scheme = scheme
        self.placement = cyclic_placement(n, scheme.s_max)
        self.max_tasks = scheme.tasks_per_worker
        self.status = Status.RUNNING
        self.progress_of = [0] * n
        self.alive = [True] * n
        self.stopped = [False] * n
        # arrivals[k] lists workers in the order they reported k tasks done (k = 1..max_tasks)
        self.arrivals: list[list[int]] = [[] for _ in range(self.max_tasks + 1)]
        self.level: int | None = None
        self.responders: tuple[int, ...] = ()
        self.received: dict[int, int] = {}  # worker -> level of the coded message it sent
        self.sources: dict[int, tuple[int, int]] = {}  # streaming: partition -> (worker, task)
        self.result: Complete | Fail | None = None

    # ------------------------------------------------------------------ events
    def progress(self, worker: int, tasks_done: int) -> list[Action]:
        """Worker ``worker`` reports ``tasks_done`` tasks finished (a signal or an upload)."""
        self._check_worker(worker)
        if not 1 <= tasks_done <= self.max_tasks:
            raise ValueError(
                f"Argument 'tasks_done' must be in [1, {self.max_tasks}], not {tasks_done}."
            )
        if tasks_done <= self.progress_of[worker] or not self.alive[worker]:
            return []  # duplicate or stale report
        for k in range(self.progress_of[worker] + 1, tasks_done + 1):
            self.arrivals[k].append(worker)
            if self.scheme.uploads_each_task:
                partition = self.placement[worker][k - 1]
                self.sources.setdefault(partition, (worker, k - 1))
        self.progress_of[worker] = tasks_done
        if self.status is not Status.RUNNING:
            return []
        return self._try_finish()

    def message(self, worker: int, level: int) -> list[Action]:
        """A requested level-``level`` coded message of ``worker`` arrived (nested scheme)."""
        self._check_worker(worker)
        if not self.scheme.uses_signals:
            raise ValueError(f"Scheme {self.scheme.name} does not request coded messages.")
        self.received[worker] = level
        if self.status is not Status.COLLECTING or level != self.level:
            return []
        if all(self.received.get(w) == self.level for w in self.responders):
            return self._complete(self.level, self.responders)
        return []

    def lost(self, worker: int) -> list[Action]:
        """Worker ``worker`` died or will not answer in this iteration."""
        self._check_worker(worker)
        if not self.alive[worker]:
            return []
        self.alive[worker] = False
        if self.status in (Status.COMPLETE, Status.FAILED):
            return []
        if self.status is Status.COLLECTING:
            if worker not in self.responders or self.received.get(worker) == self.level:
                return []
            return self._replan()
        if not self._feasible():
            return self._fail(f"worker {worker} was lost and no level can be reached any more")
        return []

    def abort(self, reason: str) -> list[Action]:
        """The master gives up on this iteration (its deadline passed, a worker's computation
        raised): stop every busy worker and fail. Later events change nothing."""
        if self.done:
            return []
        return self._fail(reason)

    # ------------------------------------------------------------------ helpers
    @property
    def done(self) -> bool:
        return self.status in (Status.COMPLETE, Status.FAILED)

    def _check_worker(self, worker: int) -> None:
        if not 0 <= worker < self.n:
            raise ValueError(f"Argument 'worker' must be in [0, {self.n}), not {worker!r}.")

    def _usable(self, worker: int, level: int) -> bool:
        """Whether ``worker`` can still contribute at ``level``: alive, or its message is here."""
        if self.alive[worker]:
            return True
        if self.scheme.uses_signals:
            return self.received.get(worker) == level
        return True  # an eager upload reached the master together with its report

    def _tasks_needed(self, level: int) -> int:
        """Tasks a worker must finish to count at ``level`` (ignore-stragglers: its first one)."""
        return 1 if self.scheme.kind == "ignore" else level + 1

    def _ready(self, level: int) -> list[int]:
        """Usable workers with enough tasks done for ``level``, in arrival order."""
        arrived = self.arrivals[self._tasks_needed(level)]
        return [w for w in arrived if self._usable(w, level)]

    def _try_finish(self) -> list[Action]:
        kind = self.scheme.kind
        if kind == "streaming":
            if len(self.sources) == self.n:
                return self._complete(None, (), dict(self.sources))
            return []
        for level in self.scheme.levels:
            ready = self._ready(level)
            if len(ready) >= self.n - level:
                chosen = tuple(ready[: self.n - level])
                if kind == "nested":
                    return self._request(level, chosen)
                return self._complete(level, chosen)
        return []

    def _request(self, level: int, chosen: tuple[int, ...]) -> list[Action]:
        self.status = Status.COLLECTING
        self.level, self.responders = level, chosen
        for w in chosen:
            self.stopped[w] = True  # a requested worker stops computing once it has replied
        actions: list[Action] = []
        missing = tuple(w for w in chosen if self.received.get(w) != level)
        if missing:
            actions.append(RequestLevel(level, missing))
        actions.extend(self._stop_others(chosen))
        if not missing:
            actions.extend(self._complete(level, chosen))
        return actions

    def _stop_others(self, keep: tuple[int, ...]) -> list[Action]:
        others = tuple(
            w for w in range(self.n) if w not in keep and self.alive[w] and not self.stopped[w]
        )
        for w in others:
            self.stopped[w] = True
        return [Stop(others)] if others else []

    def _complete(
        self, level: int | None, chosen: tuple[int, ...], sources: dict | None = None
    ) -> list[Action]:
        self.status = Status.COMPLETE
        self.level, self.responders = level, chosen
        self.result = Complete(level, chosen, sources or {})
        actions: list[Action] = []
        if self.scheme.kind != "nested":
            actions.extend(self._stop_others(()))
        else:
            actions.extend(self._stop_others(chosen))
        actions.append(self.result)
        return actions

    def _fail(self, reason: str) -> list[Action]:
        self.status = Status.FAILED
        self.result = Fail(reason)
        return [*self._stop_others(()), self.result]

    def _feasible(self) -> bool:
        """Whether live workers could still finish if they computed their whole window."""
        live = [w for w in range(self.n) if self.alive[w]]
        if self.scheme.kind == "streaming":
            reachable = set(self.sources)
            for w in live:
                reachable.update(self.placement[w][: self.max_tasks])
            return len(reachable) == self.n
        for level in self.scheme.levels:
            usable = len(live) + sum(
                1
                for w in range(self.n)
                if not self.alive[w]
                and w in self.arrivals[self._tasks_needed(level)]
                and self._usable(w, level)
            )
            if usable >= self.n - level:
                return True
        return False

    def _replan(self) -> list[Action]:
        """A responder was lost before its message arrived: pick a new responder set."""
        levels = sorted(self.scheme.levels, key=lambda s: (s != self.level, s))
        for level in levels:
            ready = self._ready(level)
            if len(ready) >= self.n - level:
                # workers whose level-s message is already here come first
                have = [w for w in ready if self.received.get(w) == level]
                rest = [w for w in ready if self.received.get(w) != level]
                chosen = tuple((have + rest)[: self.n - level])
                return self._request(level, chosen)
        if not self._feasible():
            return self._fail("too many workers were lost for any level")
        self.status = Status.RUNNING
        self.level, self.responders = None, ()
        resumed = tuple(
            w
            for w in range(self.n)
            if self.alive[w] and self.stopped[w] and self.progress_of[w] < self.max_tasks
        )
        for w in resumed:
            self.stopped[w] = False
        return [Resume(resumed)] if resumed else []
