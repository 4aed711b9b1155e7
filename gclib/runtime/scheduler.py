"""The master's decision logic, free of any transport.

Events go in (a worker finished its ``k``-th task, a coded message arrived, a worker was lost);
actions come out (request level ``s`` from ``R``, stop, resume, complete, fail). The Monte Carlo
simulator and every worker-pool backend drive this one state machine, so the decisions a reader
studies in the theory are exactly the ones the real pool takes.

For the nested code with level set ``S``, ``c_k`` counts the live workers with at least ``k``
tasks done. At the first event where some ``s ∈ S`` has ``c_{s+1} ≥ n − s``, the master picks
``R`` = the first ``n − s`` live workers that reached ``s + 1`` tasks, requests their level-``s``
messages and stops everybody else. If a worker of ``R`` is lost before its message arrives, the
master re-plans from the progress it has seen (same level first, so that messages already received
are reused), and resumes computation when no level is reachable yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from gclib._verify import check_instance, check_integer
from gclib.codes.placement import cyclic_placement
from gclib.schemes.base import Ask, Contribution, Finish, ProgressView, Scheme

__all__ = [
    "Scheduler",
    "Status",
    "Request",
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
class Request:
    """Ask each worker of ``requests`` for one message (a coded message of a level, or the sum of
    some of its partial gradients); a requested worker replies from the partials it holds, then
    stops computing. ``level`` is the tolerance the master plans to decode with, if any."""

    level: int | None
    requests: tuple[tuple[int, Contribution], ...]

    @property
    def workers(self) -> tuple[int, ...]:
        return tuple(worker for worker, _ in self.requests)


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
    """The master holds what it needs: combine the messages ``uses`` (``(worker, contribution)``
    pairs) with the scheme's rule; ``level`` is the tolerance decoded with (``None`` for schemes
    without levels) and ``responders`` the workers whose messages are used."""

    level: int | None
    responders: tuple[int, ...]
    uses: tuple[tuple[int, Contribution], ...]


@dataclass(frozen=True)
class Fail:
    """No level can be reached any more: too many workers were lost."""

    reason: str


Action = Request | Stop | Resume | Complete | Fail


class Scheduler:
    """One iteration of the master's protocol for ``scheme`` on ``n`` workers.

    Feed it events with :meth:`progress`, :meth:`message` and :meth:`lost`; each returns the
    list of actions to carry out, in order. A progress event also delivers the upload that the
    scheme's workers send unasked after that task, if any, so no separate :meth:`message` call is
    needed for it; :meth:`message` is for requested messages.
    """

    def __init__(self, n: int, scheme: Scheme) -> None:
        n = check_integer(n, "n", 1)
        check_instance(scheme, "scheme", Scheme)
        scheme.check_workers(n)
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
        self.reports: list[tuple[int, int]] = []  # (worker, task count), in arrival order
        self.received: list[set[Contribution]] = [set() for _ in range(n)]
        self.asked: Ask | None = None
        self.result: Complete | Fail | None = None
        # one view of the lists above (they change in place); only the request is updated
        self._progress_view = ProgressView(
            n,
            self.placement,
            self.arrivals,
            self.reports,
            self.progress_of,
            self.alive,
            self.received,
            None,
        )

    @property
    def level(self) -> int | None:
        """The level of the current request or of the result."""
        if isinstance(self.result, Complete):
            return self.result.level
        return self.asked.level if self.asked is not None else None

    @property
    def responders(self) -> tuple[int, ...]:
        if isinstance(self.result, Complete):
            return self.result.responders
        return self.asked.workers if self.asked is not None else ()

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
            self.reports.append((worker, k))
            upload = self.scheme.eager_upload(k)
            if upload is not None:
                self.received[worker].add(upload)
        self.progress_of[worker] = tasks_done
        if self.status is not Status.RUNNING:
            return []
        return self._decide()

    def message(self, worker: int, contribution: Contribution) -> list[Action]:
        """A requested message of ``worker`` arrived."""
        return self.messages(((worker, contribution),))

    def messages(self, arrived: Sequence[tuple[int, Contribution]]) -> list[Action]:
        """Requested messages arrived together, ``(worker, contribution)`` each."""
        if not self.scheme.requests:
            raise ValueError(
                f"Scheme {self.scheme.label} requests no coded messages: its uploads come unasked."
            )
        for worker, contribution in arrived:
            self._check_worker(worker)
            self.received[worker].add(contribution)
        if self.status is not Status.COLLECTING or self.asked is None:
            return []
        if all(c in self.received[w] for w, c in self.asked.requests):
            return self._complete(Finish(self.asked.level, self.asked.requests))
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
            assert self.asked is not None
            missing = [w for w, c in self.asked.requests if c not in self.received[w]]
            if worker not in missing:
                return []
            return self._replan()
        if not self.scheme.feasible(self._view()):
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

    def _view(self) -> ProgressView:
        self._progress_view.asked = self.asked
        return self._progress_view

    def _decide(self) -> list[Action]:
        decision = self.scheme.decide(self._view())
        if decision is None:
            return []
        if isinstance(decision, Finish):
            return self._complete(decision)
        return self._request(decision)

    def _request(self, ask: Ask) -> list[Action]:
        self.status = Status.COLLECTING
        self.asked = ask
        for w in ask.workers:
            self.stopped[w] = True  # a requested worker stops computing once it has replied
        actions: list[Action] = []
        missing = tuple((w, c) for w, c in ask.requests if c not in self.received[w])
        if missing:
            actions.append(Request(ask.level, missing))
        actions.extend(self._stop_others(ask.workers))
        if not missing:
            actions.extend(self._complete(Finish(ask.level, ask.requests)))
        return actions

    def _stop_others(self, keep: tuple[int, ...]) -> list[Action]:
        others = tuple(
            w for w in range(self.n) if w not in keep and self.alive[w] and not self.stopped[w]
        )
        for w in others:
            self.stopped[w] = True
        return [Stop(others)] if others else []

    def _complete(self, finish: Finish) -> list[Action]:
        self.status = Status.COMPLETE
        self.result = Complete(finish.level, finish.responders, finish.uses)
        return [*self._stop_others(()), self.result]

    def _fail(self, reason: str) -> list[Action]:
        self.status = Status.FAILED
        self.result = Fail(reason)
        return [*self._stop_others(()), self.result]

    def _replan(self) -> list[Action]:
        """A requested worker was lost before its message arrived: decide again."""
        decision = self.scheme.decide(self._view())
        if isinstance(decision, Finish):
            return self._complete(decision)
        if decision is not None:
            return self._request(decision)
        if not self.scheme.feasible(self._view()):
            return self._fail("too many workers were lost for any level")
        self.status = Status.RUNNING
        self.asked = None
        resumed = tuple(
            w
            for w in range(self.n)
            if self.alive[w] and self.stopped[w] and self.progress_of[w] < self.max_tasks
        )
        for w in resumed:
            self.stopped[w] = False
        return [Resume(resumed)] if resumed else []
