"""The master's side of one iteration: feed the workers' messages to the scheduler, carry out its
actions on the backend, combine what arrived and close the round.

The scheme decides (through the :class:`~gclib.Scheduler`) and combines; this module only moves
typed messages (:mod:`gclib.runtime.protocol`) between the backend and the scheduler.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gclib.codes.errors import NotDecodableError
from gclib.runtime.one_sided import read_published
from gclib.runtime.protocol import (
    ReportCommand,
    RequestCommand,
    ResumeCommand,
    Signal,
    StopCommand,
    Stopped,
    TraceLog,
    Upload,
    WorkerFailure,
    dumps,
    loads,
)
from gclib.runtime.results import IterationResult, PoolEvent
from gclib.runtime.scheduler import Complete, Fail, Request, Resume, Scheduler, Stop
from gclib.runtime.transports import Died, Received, WorkerBackend
from gclib.schemes.base import Contribution, Finish, Scheme, level_of

__all__ = ["SchemePlan", "Round"]

# Seconds the master waits at the end of an iteration for the replies still due (stop
# acknowledgements, which tell how far the workers got): far beyond what a responsive worker needs.
# A worker that misses them is not waited for again while it stays silent, so that one stopped
# process (SIGSTOP, a hung gradient) does not hold up every iteration.
REPLY_GRACE = 0.05
# Seconds a worker may stay silent while it owes a reply (or the trace, which is waited for this
# long) before it is replaced.
CLOSE_TIMEOUT = 5.0
# Seconds a requested worker may stay silent before the master gives up on it for the iteration
# and re-plans without it, as if it were lost: a stopped or hung process never answers, and the
# reply needs no computation. The pool caps it at half the deadline and adds the time to move the
# reply and the emulated communication costs.
REPLY_TIMEOUT = 0.25


@dataclass
class SchemePlan:
    """How the pool runs one scheme: its plan number on the workers, task count, codes, and the
    slot each message the workers publish is left in (the task after which they publish it)."""

    key: int
    scheme: Scheme
    tasks: int
    codes: dict[int, Any]  # level -> code with decode(messages)
    slots: dict[Contribution, int] = field(default_factory=dict)
    published_slots: frozenset[int] = field(init=False)  # the slots of those messages

    def __post_init__(self) -> None:
        self.published_slots = frozenset(self.slots.values())


@dataclass
class Round:
    """Master-side state of one iteration, and what it does with each event."""

    number: int
    plan: SchemePlan
    scheduler: Scheduler
    backend: WorkerBackend
    respawn: Callable[[int], None]
    start: float
    time_unit: float
    events: list[PoolEvent]
    progress: list[int]  # tasks each worker reported done
    outstanding: list[int]  # replies still due from each worker (stop acks, requested messages)
    # worker -> since when it owes a reply it has not sent (shared with the pool, across rounds)
    overdue: dict[int, float] = field(default_factory=dict)
    messages: dict[tuple[int, Contribution], np.ndarray] = field(default_factory=dict)
    signals: int = 0
    uploads: int = 0
    lost: list[int] = field(default_factory=list)
    respawned: list[int] = field(default_factory=list)
    outcome: Complete | Fail | None = None
    finished_at: float | None = None
    error: str | None = None
    reply_timeout: float = REPLY_TIMEOUT  # seconds (see REPLY_TIMEOUT)
    asked: dict[int, float] = field(default_factory=dict)  # worker -> when asked, until it replies
    held_stops: list[int] = field(default_factory=list)  # stops held back during a request round
    # an emulated shared link into the master: seconds one upload occupies it (0: a link per
    # worker, emulated by the workers themselves), when it is free, and the uploads on it
    link: float = 0.0
    link_free: float = 0.0
    on_link: list[tuple[float, int, int, Upload]] = field(default_factory=list)
    # the emulated one-way costs of a command and of an upload on a worker's own link (seconds),
    # which the master adds to a requested message it reads one-sided (the workers add their own)
    signal_delay: float = 0.0
    upload_delay: float = 0.0
    # requested messages read one-sided, not yet handed on: (worker, contribution, message)
    fetched: list[tuple[int, Contribution, np.ndarray]] = field(default_factory=list)
    # whether the master copies a published message when its signal arrives, and those copies,
    # by (worker, slot): the reads at the decision then find most of them done
    read_ahead: bool = False
    copies: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.scheduler.n

    def log(self, worker: int | None, kind: str, value: int | None = None) -> None:
        self.events.append(
            PoolEvent((time.monotonic() - self.start) / self.time_unit, worker, kind, value)
        )

    # ------------------------------------------------------------------ events
    def collect(self, deadline: float) -> None:
        """Feed events to the scheduler until it completes or fails, or the deadline passes."""
        end = self.start + deadline
        while not self.scheduler.done:
            now = time.monotonic()
            remaining = end - now
            if remaining <= 0.0:
                units = deadline / self.time_unit
                reason = f"the deadline of {units:.4g} model time units passed"
                # the scheduler fails too, so that reports still arriving cannot complete it
                self.act(self.scheduler.abort(reason))
                return
            if self.asked:
                patience = min(self.asked.values()) + self.reply_timeout - now
                if patience <= 0.0:
                    self._give_up_on_silent(now)
                    continue
                remaining = min(remaining, patience)
            if self.on_link:
                if self.on_link[0][0] <= now:
                    self._deliver_from_link(now)
                    continue
                remaining = min(remaining, self.on_link[0][0] - now)
            self.handle_all(self.backend.wait(remaining))
            if self.error is not None:
                self.act(self.scheduler.abort("a worker's gradient function raised"))
                return

    def _give_up_on_silent(self, now: float) -> None:
        """Treat the requested workers silent for too long as lost for this iteration."""
        for worker, since in list(self.asked.items()):
            if now - since >= self.reply_timeout:
                del self.asked[worker]
                self.lost.append(worker)
                self.log(worker, "lost")
                self.act(self.scheduler.lost(worker))

    def handle_all(self, events: Sequence[Received | Died]) -> None:
        """Handle what one wait brought, in order.

        A burst of progress signals from one worker (tasks that ended together, read at once)
        reaches the scheduler as its last signal: a count of tasks done covers the counts before
        it, and the scheduler decides on all the master knows at that moment. A level scheme
        decides as it would have on the first signal, since a level's count ``c_{s+1}`` does not
        change with that worker's later tasks; cover may choose a smaller cover with the longer
        prefix. Each signal is still counted and logged."""
        messages = [loads(e.payload) if isinstance(e, Received) else None for e in events]
        last = len(events) - 1
        for position, (event, message) in enumerate(zip(events, messages, strict=True)):
            if (
                position < last
                and type(message) is Signal
                and message.iteration == self.number
                and type(messages[position + 1]) is Signal
                and events[position + 1].worker == event.worker
            ):
                self.signals += 1
                self.log(event.worker, "signal", message.tasks_done)
                continue
            self.handle(event, message)

    def handle(self, event: Received | Died, message: object = None) -> None:
        """Handle one event (``message``: its payload, if decoded already)."""
        worker = event.worker
        self.overdue.pop(worker, None)  # a word from it (or its death) settles what it owed
        if isinstance(event, Died):
            self.asked.pop(worker, None)
            if worker in self.lost:  # given up on already: its death changes nothing
                self.outstanding[worker] = 0
                return
            self.lost.append(worker)
            self.outstanding[worker] = 0
            self.log(worker, "lost")
            self.act(self.scheduler.lost(worker))
            return
        if message is None:
            message = loads(event.payload)
        if getattr(message, "iteration", None) != self.number:
            if isinstance(message, WorkerFailure) and message.iteration is None:
                self.error = f"worker {worker}: {message.text}"
            return  # a late message of an earlier iteration, or a start-up note
        if isinstance(message, Signal):
            self.signals += 1
            self._advance(worker, message.tasks_done)
            self.log(worker, "signal", message.tasks_done)
            if self.read_ahead and self.outcome is None:
                self._read_ahead(worker, message.tasks_done - 1)
            self.act(self.scheduler.progress(worker, message.tasks_done))
        elif isinstance(message, Upload):
            self.uploads += 1
            self._advance(worker, message.tasks_done)
            if self.link > 0.0:
                # the upload reaches the master once the link has carried it, after every upload
                # that came before it
                self.link_free = max(time.monotonic(), self.link_free) + self.link
                heapq.heappush(self.on_link, (self.link_free, self.uploads, worker, message))
                return
            self._receive(worker, message)
        elif isinstance(message, Stopped):
            self.outstanding[worker] -= 1
            self._advance(worker, message.tasks_done)
            self.log(worker, "stopped", message.tasks_done)
        elif isinstance(message, WorkerFailure):
            self.error = f"worker {worker}: {message.text}"
            self.outstanding[worker] = 0
        elif isinstance(message, TraceLog):
            for stamp, what, value in message.entries:
                moment = (stamp - self.start) / self.time_unit
                self.events.append(PoolEvent(moment, worker, what, value))
            self.outstanding[worker] -= 1

    def _read_ahead(self, worker: int, slot: int) -> None:
        """Copy what ``worker`` published on finishing task ``slot + 1``, if anything."""
        if slot in self.plan.published_slots:
            found = self.backend.fetch(self.number, slot, (worker,))[0]
            if found is not None:
                self.copies[(worker, slot)] = found

    def _receive(self, worker: int, message: Upload) -> None:
        """An upload has reached the master."""
        if message.requested:
            self.asked.pop(worker, None)
            self._hand_on([(worker, message.contribution, message.payload)])
        else:
            self.messages[(worker, message.contribution)] = message.payload
            self.log(worker, "upload", message.tasks_done)
            self.act(self.scheduler.progress(worker, message.tasks_done))

    def _deliver_from_link(self, now: float) -> None:
        """Hand the uploads the shared link has carried by ``now`` to the scheduler."""
        while self.on_link and self.on_link[0][0] <= now and not self.scheduler.done:
            _, _, worker, message = heapq.heappop(self.on_link)
            self._receive(worker, message)

    def _advance(self, worker: int, tasks_done: int) -> None:
        if tasks_done > self.progress[worker]:
            self.progress[worker] = tasks_done

    def act(self, actions: list) -> None:
        """Carry out the scheduler's actions.

        The iteration ends the moment the master holds what it needs: the stops listed before
        the outcome are sent after that moment. Stops that come with a request are held back
        until the requested messages are in (or the master re-plans): with fewer cores than
        workers, the stopped workers waking up would delay the requested ones, while a stop one
        request round later only lets a straggler finish a task it was about to finish."""
        if not actions and not self.fetched:
            return  # most reports decide nothing
        for action in actions:
            if isinstance(action, Complete | Fail):
                self.finished_at = time.monotonic()
                self.outcome = action
                self.log(None, "complete" if isinstance(action, Complete) else "fail")
        requesting = self.outcome is None and any(isinstance(a, Request) for a in actions)
        for action in actions:
            if isinstance(action, Request):
                asked = set(action.workers)  # a re-plan may ask a worker held for a stop
                self.held_stops = [w for w in self.held_stops if w not in asked]
                commands: dict[Contribution, bytes] = {}  # one level: one command for all
                for worker, contribution in self._fetch(action.requests):
                    command = commands.get(contribution)
                    if command is None:
                        command = commands[contribution] = dumps(
                            RequestCommand(self.number, contribution)
                        )
                    level = level_of(contribution)
                    if self._send_logged(worker, command, "request", level):
                        self.outstanding[worker] += 1
                        self.asked.setdefault(worker, time.monotonic())
            elif isinstance(action, Stop):
                if requesting:
                    self.held_stops.extend(action.workers)
                else:
                    self.stop(action.workers)
            elif isinstance(action, Resume):
                resumed = set(action.workers)  # never stopped: nothing to resume
                self.stop([w for w in self.held_stops if w not in resumed])
                self.held_stops.clear()
                resume = dumps(ResumeCommand(self.number))
                for worker in action.workers:
                    self._send_logged(worker, resume, "resume")
        if self.outcome is not None and self.held_stops:
            held, self.held_stops = self.held_stops, []
            self.stop(held)
        if self.fetched:
            read, self.fetched = self.fetched, []
            self._hand_on(read)

    def _fetch(
        self, requests: Sequence[tuple[int, Contribution]]
    ) -> list[tuple[int, Contribution]]:
        """Read the requested messages where the workers published them (no request round),
        taking the copies read ahead; return the requests the backend cannot serve so, which the
        master sends.

        A message read reaches the master when a request and its reply would have, after the
        emulated costs. Without costs it is handed on once the current actions are carried out,
        and the worker, which a request would have paused, is stopped with the held stops: after
        the iteration's end, so that waking it does not delay it."""
        number = self.number
        read, rest = read_published(self.backend, number, self.plan.slots, requests, self.copies)
        if not read:
            return rest
        now = time.monotonic()
        moment = (now - self.start) / self.time_unit
        for worker, contribution, _ in read:
            level = level_of(contribution)
            self.events.append(PoolEvent(moment, worker, "request", level))
            self.outstanding[worker] += 1  # settled when the message is handed on
        if self.link <= 0.0 and self.signal_delay + self.upload_delay <= 0.0:
            self.uploads += len(read)
            self.fetched.extend(read)
            self.held_stops.extend(worker for worker, _, _ in read)
            return rest
        for worker, contribution, payload in read:
            self.uploads += 1
            if self.link > 0.0:
                start = max(now + self.signal_delay, self.link_free)
                arrival = self.link_free = start + self.link
            else:
                arrival = now + self.signal_delay + self.upload_delay
            message = Upload(number, self.progress[worker], contribution, payload, True)
            heapq.heappush(self.on_link, (arrival, self.uploads, worker, message))
        self.stop([worker for worker, _, _ in read])  # in effect when a request's pause would be
        return rest

    def _hand_on(self, arrived: list[tuple[int, Contribution, np.ndarray]]) -> None:
        """Requested messages have reached the master: give them to the scheduler together."""
        moment = (time.monotonic() - self.start) / self.time_unit
        for worker, contribution, payload in arrived:
            self.messages[(worker, contribution)] = payload
            self.outstanding[worker] -= 1
            level = level_of(contribution)
            self.events.append(PoolEvent(moment, worker, "message", level))
        self.act(
            self.scheduler.messages([(worker, contribution) for worker, contribution, _ in arrived])
        )

    def _send_logged(
        self, worker: int, payload: bytes, kind: str, value: int | None = None
    ) -> bool:
        """Send and log the command with the time it left (before the worker can react)."""
        moment = (time.monotonic() - self.start) / self.time_unit
        if not self.backend.send(worker, payload):
            return False
        self.events.append(PoolEvent(moment, worker, kind, value))
        return True

    def stop(self, workers: Sequence[int] | range) -> None:
        """Tell busy workers to stop; a worker that finished its tasks is idle already.

        Once the iteration is over, the reports already waiting are read first: a worker whose
        last report is among them is idle, and a stop would only wake it for an acknowledgement
        the round then waits for."""
        tasks = self.plan.tasks
        if self.outcome is not None and any(
            self.progress[w] < tasks and w not in self.lost for w in workers
        ):
            # after the outcome the scheduler returns no actions, so this reaches no stop again
            for event in self.backend.wait(0.0):
                self.handle(event)
        stop = dumps(StopCommand(self.number))
        for worker in workers:
            if self.progress[worker] >= tasks or worker in self.lost:
                continue
            if self._send_logged(worker, stop, "stop"):
                self.outstanding[worker] += 1

    # ------------------------------------------------------------------ the end of the round
    def combine(self) -> tuple[np.ndarray | None, float]:
        """The gradient by the scheme's rule, and the seconds it took."""
        outcome = self.outcome
        if not isinstance(outcome, Complete):
            return None, 0.0
        begin = time.perf_counter()
        finish = Finish(outcome.level, outcome.uses)
        try:
            gradient = self.plan.scheme.combine(self.n, finish, self.messages, self.plan.codes)
        except NotDecodableError as error:
            self.outcome = Fail(f"not decodable: {error}")
            return None, time.perf_counter() - begin
        return np.asarray(gradient), time.perf_counter() - begin

    def close(self, trace: bool) -> None:
        """Wait briefly for the replies still due (stop acknowledgements, late messages), and for
        the traces, so that the iteration's record is complete and the live workers idle.

        A worker that does not answer in time is marked overdue and not waited for again while
        it stays silent; one silent for ``CLOSE_TIMEOUT`` seconds is replaced."""
        # uploads still on the shared link arrived at the master: they settle what was owed
        while self.on_link:
            _, _, worker, message = heapq.heappop(self.on_link)
            self._receive(worker, message)
        begin = time.monotonic()
        end = begin + (CLOSE_TIMEOUT if trace else REPLY_GRACE)
        if trace:
            report = dumps(ReportCommand(self.number))
            for worker in range(self.n):
                if worker not in self.overdue and self.backend.send(worker, report):
                    self.outstanding[worker] += 1
        pending = self._pending()
        while pending:
            remaining = end - time.monotonic()
            if remaining <= 0.0:
                break
            for event in self.backend.wait(remaining):
                self.handle(event)
            pending = self._pending()
        given_up = [w for w in self.lost if self.outstanding[w] > 0 and self.backend.alive(w)]
        for worker in [*pending, *given_up]:
            self.overdue.setdefault(worker, begin)
        now = time.monotonic()
        for worker, since in sorted(self.overdue.items()):
            if now - since >= CLOSE_TIMEOUT:  # stuck beyond any task: replace it
                del self.overdue[worker]
                if worker not in self.lost:
                    self.lost.append(worker)
                    self.log(worker, "lost")
                self.respawned.append(worker)
                self.respawn(worker)
        self.events.sort(key=lambda event: event.time)

    def _pending(self) -> list[int]:
        return [
            w
            for w in range(self.n)
            if self.outstanding[w] > 0
            and w not in self.lost
            and w not in self.overdue
            and self.backend.alive(w)
        ]

    def result(
        self,
        gradient: np.ndarray | None,
        decode_time: float,
        true_gradient: np.ndarray | None,
        error_scale: float | None,
    ) -> IterationResult:
        outcome = self.outcome
        finished_at = self.finished_at or time.monotonic()
        wall = finished_at - self.start
        failed = not isinstance(outcome, Complete)
        error = None
        if gradient is not None and true_gradient is not None:
            truth = np.asarray(true_gradient, dtype=float)
            if truth.shape != gradient.shape:
                raise ValueError(
                    f"Argument 'true_gradient' must have shape {gradient.shape}, not {truth.shape}."
                )
            scale = float(np.linalg.norm(truth)) if error_scale is None else float(error_scale)
            error = float(np.linalg.norm(gradient - truth)) / (scale if scale > 0.0 else 1.0)
        return IterationResult(
            iteration=self.number,
            scheme=self.plan.scheme.name,
            failed=failed,
            reason=outcome.reason if isinstance(outcome, Fail) else None,
            latency=math.inf if failed else wall / self.time_unit,
            wall_time=wall,
            decode_time=decode_time,
            level=None if failed else outcome.level,
            responders=() if failed else tuple(outcome.responders),
            tasks_done=np.array(self.progress),
            uploads=self.uploads,
            signals=self.signals,
            gradient=gradient,
            decode_error=error,
            lost=tuple(self.lost),
            respawned=tuple(sorted(self.respawned)),
            events=self.events,
        )
