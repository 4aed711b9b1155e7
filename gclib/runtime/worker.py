"""The worker side of the pool protocol: one loop per worker process.

Worker ``i`` holds its window ``W_i`` of data partitions (received once, at start) and a gradient
function. Per iteration it receives the model parameters and its sampled task durations, and
computes the partial gradients ``g_j``, ``j ∈ W_i``, in window order. A task lasts its sampled
duration: the real gradient is computed at its start and the rest of the time is spent waiting on
the master's channel, so that *stop* takes effect at once. The first task is timed from the
iteration's start (the master's clock reading, where the worker shares the clock), each later one
from the scheduled end of the one before, so that the worker's own wake-up delays do not add up.
After each task it reports progress:

- a progress signal of a few bytes, if the scheme's workers signal;
- an upload the scheme's workers send unasked after that task, if any: a coded message
  ``m_i = Σ_{k≤s} B^(s)[i, W_i[k]] g_{W_i[k]}`` of some level, or the partial gradient itself.

Asked for a message, it replies with it, built from the partials it holds (a coded message of a
level, or the plain sum of some partials), and stops. Where the master asks for coded messages,
the worker builds the one of level ``s`` right after task ``s``, while it is awake anyway: the
reply, on the iteration's critical path, then only sends it. Where its channel can ``publish``
(processes forked on one machine), it writes the message where the master reads it without asking
(:mod:`gclib.runtime.transports.message_slots`), before the task's signal leaves. (Running sums
for the plain sums a cover asks for were measured too: no gain at 2 ms per time unit, so the sum
is built on request.)

With a ``signal_cost``, the master's commands (stop, request, resume) take effect that long after
they arrive, as one-way control messages would. *Stop* pauses the worker (the partials it holds stay
usable; the current task keeps its remaining time in case the master resumes it). An injected crash
kills the process with ``SIGKILL`` part way into its first task, at ``crash_fraction · (a + 1/μ)``,
the simulator's convention; a crashing worker that is stopped before that moment survives (it was
unresponsive for the iteration anyway). A backend whose workers share a process (a Dask worker runs
several loops) passes its own ``crash``, which ends the loop abruptly instead: the master sees the
connection close without a reply, as it would for a dead process. Every message carries the
iteration number, so that nothing from an earlier iteration can be mistaken for the current one. The
messages are the typed ones of :mod:`gclib.runtime.protocol`.
"""

from __future__ import annotations

import heapq
import os
import select
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from gclib.runtime.params import decode_params
from gclib.runtime.protocol import (
    ExitCommand,
    Go,
    PlanMessage,
    Ready,
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
from gclib.runtime.transports.framing import FramedPipe
from gclib.schemes.base import (
    Coded,
    Contribution,
    Partial,
    PartitionSum,
    level_of,
    partition_sum,
)

__all__ = ["Channel", "worker_main"]

_SELECT_LIMIT = 1024  # FD_SETSIZE: select() refuses larger descriptors


class Channel(Protocol):
    """What the worker needs from its transport: a duplex byte-message channel.

    A channel may also have ``publish(iteration, slot, message) -> bool``, which leaves a
    message the worker prepared on finishing task ``slot + 1`` where the master can read it
    without a request."""

    def send_bytes(self, payload: bytes) -> None: ...

    def recv_bytes(self) -> bytes: ...

    def poll(self, timeout: float | None = 0.0) -> bool: ...


def kill_own_process() -> None:
    """The default injected crash: the worker's process dies at once, as in a real failure."""
    os.kill(os.getpid(), signal.SIGKILL)


class _Worker:
    def __init__(
        self,
        channel: Channel,
        index: int,
        window: Sequence[Any],
        gradient: Any,
        crash: Callable[[], object] = kill_own_process,
    ) -> None:
        self.channel = channel
        self.crash = crash
        self.index = index
        self.window = tuple(window)
        self.gradient = gradient
        self.plans: dict[int, PlanMessage] = {}
        self.iteration: int | None = None
        self.outbox: list[tuple[float, int, bytes]] = []  # (release time, order, message)
        self.inbox: list[tuple[float, int, object]] = []  # commands still on their way
        self.sent = 0
        # publish(iteration, slot, message): where the master reads prepared messages itself
        self.publish: Callable[[int, int, np.ndarray], bool] | None = getattr(
            channel, "publish", None
        )
        try:
            self.fileno: int | None = channel.fileno()  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            self.fileno = None
        self._reset_iteration()

    def _reset_iteration(self) -> None:
        self.plan: PlanMessage | None = None
        self.params: Any = None
        self.times: tuple[float, ...] = ()
        self.partials: list[np.ndarray] = []
        self.prepared: dict[int, np.ndarray] = {}  # level -> coded message, built ahead
        self.current: np.ndarray | None = None  # gradient of the task in progress
        self.task_end = 0.0  # absolute end of the task in progress
        # When the next task starts: the scheduled end of the previous one, so that the worker's
        # own wake-up delays do not add up over its tasks (the broadcast's receipt for the first)
        self.next_start: float | None = None
        self.remaining = 0.0  # time left of the paused task
        self.in_task = False
        self.crash_at: float | None = None
        self.stopped = True
        self.upload_cost = self.signal_cost = 0.0
        self.trace: list[tuple[float, str, int]] | None = None

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        self._post(dumps(Ready(os.getpid())), 0.0)
        try:
            while True:
                self._advance()
                timeout = self._next_timeout()
                if timeout is None:
                    message = loads(self.channel.recv_bytes())
                elif timeout > 0.0 and self._wait(timeout):
                    message = loads(self.channel.recv_bytes())
                    self._fire_timers()  # a task whose time is up is done before any command
                else:
                    self._fire_timers()
                    continue
                if not self._handle(message):
                    return
        except (EOFError, BrokenPipeError, ConnectionResetError):
            return  # the master is gone: nothing left to do

    def _wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a command; ``True`` if one is there.

        ``select`` keeps microsecond timeouts where ``poll``-based waits round up to whole
        milliseconds, which would lengthen every task by half a millisecond on average. It
        takes descriptors below ``FD_SETSIZE`` only: a large pool's pipes can lie beyond.
        """
        if isinstance(self.channel, FramedPipe):
            return self.channel.poll(timeout)  # it selects, and knows what it has buffered
        if self.fileno is None or self.fileno >= _SELECT_LIMIT:
            return self.channel.poll(timeout)
        return bool(select.select([self.fileno], [], [], timeout)[0])

    def _log(self, kind: str, task: int) -> None:
        if self.trace is not None:
            self.trace.append((time.monotonic(), kind, task))

    def _advance(self) -> None:
        """Start the next task when the worker is running and idle."""
        plan = self.plan
        if self.stopped or self.in_task or plan is None or len(self.partials) >= plan.tasks:
            return
        k = len(self.partials)
        start = self.next_start if self.next_start is not None else time.monotonic()
        self._log("task_start", k)
        self.in_task = True
        duration = self.times[k]
        if duration == float("inf"):
            self.current, self.task_end = None, float("inf")  # unresponsive: never finishes
            return
        try:
            self.current = np.asarray(self.gradient(self.params, self.window[k]))
        except Exception:
            self._post(dumps(WorkerFailure(self.iteration, traceback.format_exc())), 0.0)
            self.stopped, self.in_task, self.current = True, False, None
            return
        # a gradient slower than its sampled duration makes the task last as long as it
        self.task_end = max(start + duration, time.monotonic())

    def _next_timeout(self) -> float | None:
        deadlines = []
        if self.in_task and not self.stopped:
            deadlines.append(self.task_end)
            if self.crash_at is not None:
                deadlines.append(self.crash_at)
        if self.outbox:
            deadlines.append(self.outbox[0][0])
        if self.inbox:
            deadlines.append(self.inbox[0][0])
        deadline = min(deadlines, default=float("inf"))
        if deadline == float("inf"):
            return None
        return max(0.0, deadline - time.monotonic())

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self.outbox and self.outbox[0][0] <= now:
            self.channel.send_bytes(heapq.heappop(self.outbox)[2])
        while self.inbox and self.inbox[0][0] <= now:
            self._handle(heapq.heappop(self.inbox)[2], arrived=True)
        if self.stopped or not self.in_task:
            return
        if self.crash_at is not None and now >= self.crash_at:
            # an injected crash: the worker dies for real, mid-task, without a word
            self.crash()
        if now >= self.task_end:
            self._finish_task()

    def _finish_task(self) -> None:
        """Report the task's end at once (the next task's gradient is computed after it), then,
        off the critical path, build the coded message the master may ask for (before the report
        where the master reads it without asking)."""
        plan = self.plan
        assert plan is not None and self.current is not None
        partial, self.current, self.in_task = self.current, None, False
        self.next_start = self.task_end
        self.partials.append(partial)
        done = len(self.partials)
        self._log("task_end", done - 1)
        # Where the master reads prepared messages one-sided, the message must be there before
        # the signal that lets the master decide to read it.
        published = plan.published.get(done) if self.publish is not None else None
        if published is not None:
            message = self._build(published)
            if isinstance(published, Coded):
                self.prepared[published.level] = message
            if self.publish(self.iteration, done - 1, message):
                self._log("publish", done - 1)
        if plan.signals:
            self._post(dumps(Signal(self.iteration, done)), self.signal_cost)
            self._log("send_signal", done)
        upload = plan.eager.get(done)
        if upload is not None:
            payload = dumps(Upload(self.iteration, done, upload, self._build(upload), False))
            self._post(payload, self.upload_cost)
            self._log("send_upload", done)
        level = done - 1
        if plan.prepare and level in plan.coefficients and level not in self.prepared:
            self.prepared[level] = self._build(Coded(level))

    def _build(self, contribution: Contribution) -> np.ndarray:
        """The message ``contribution`` from the partials held."""
        if isinstance(contribution, Partial):
            return self.partials[contribution.task]
        if isinstance(contribution, PartitionSum):
            return partition_sum([self.partials[task] for task in contribution.tasks])
        # Σ_{k≤s} B^(s)[i, W_i[k]] g_{W_i[k]}
        coefficients = self.plan.coefficients[contribution.level]
        if len(coefficients) == 1 and coefficients[0] == 1.0:
            return self.partials[0]
        total = coefficients[0] * self.partials[0]
        for coefficient, partial in zip(coefficients[1:], self.partials[1:], strict=False):
            total += coefficient * partial
        return total

    @staticmethod
    def _tasks_needed(contribution: Contribution) -> int:
        if isinstance(contribution, Partial):
            return contribution.task + 1
        if isinstance(contribution, PartitionSum):
            return max(contribution.tasks) + 1
        return contribution.level + 1

    def _post(self, payload: bytes, delay: float) -> None:
        """Send now, or after ``delay`` seconds (an emulated communication cost)."""
        if delay <= 0.0:
            self.channel.send_bytes(payload)
        else:
            self.sent += 1
            heapq.heappush(self.outbox, (time.monotonic() + delay, self.sent, payload))

    def _pause(self) -> None:
        if not self.stopped:
            self.stopped = True
            if self.in_task:
                now = time.monotonic()
                self.remaining = self.task_end - now
                if self.crash_at is not None:
                    self.crash_at -= now  # kept relative while paused
                self._log("task_abandon", len(self.partials))

    # ------------------------------------------------------------------ commands
    def _handle(self, message: object, *, arrived: bool = False) -> bool:
        if (
            not arrived
            and self.signal_cost > 0.0
            and isinstance(message, StopCommand | RequestCommand | ResumeCommand)
        ):
            # an emulated one-way control message: it takes effect signal_cost from now
            self.sent += 1
            heapq.heappush(self.inbox, (time.monotonic() + self.signal_cost, self.sent, message))
            return True
        if isinstance(message, Go):
            self._start_iteration(message)
        elif isinstance(message, PlanMessage):
            self.plans[message.key] = message
        elif isinstance(message, ExitCommand):
            return False
        elif message.iteration != self.iteration:
            pass  # a command for an iteration that is over
        elif isinstance(message, StopCommand):
            self._log("got_stop", len(self.partials))
            self._pause()
            self._post(dumps(Stopped(self.iteration, len(self.partials))), 0.0)
        elif isinstance(message, RequestCommand):
            self._reply(message.contribution)
        elif isinstance(message, ResumeCommand):
            self._log("got_resume", len(self.partials))
            if self.stopped:
                self.stopped = False
                if self.in_task:
                    now = time.monotonic()
                    self.task_end = now + self.remaining
                    if self.crash_at is not None:
                        self.crash_at += now
        elif isinstance(message, ReportCommand):
            self.channel.send_bytes(dumps(TraceLog(self.iteration, self.trace or [])))
        return True

    def _start_iteration(self, message: Go) -> None:
        received = time.monotonic()
        self._reset_iteration()
        self.outbox.clear()  # anything still held back belongs to an iteration that is over
        self.inbox.clear()
        self.iteration = message.iteration
        self.plan = self.plans[message.plan]
        self.params = decode_params(message.params)
        self.times = message.times
        self.upload_cost, self.signal_cost = message.upload_cost, message.signal_cost
        self.trace = [(received, "receive", 0)] if message.trace else None
        self.stopped = False
        start = received if message.origin is None else min(message.origin, received)
        self.next_start = start
        self._advance()
        if message.crash_after is not None:
            self.crash_at = start + message.crash_after

    def _reply(self, contribution: Contribution) -> None:
        what = level_of(contribution)
        self._log("got_request", what)
        self._pause()
        if len(self.partials) < self._tasks_needed(contribution):
            text = f"{contribution} requested from a worker holding {len(self.partials)} partials"
            self._post(dumps(WorkerFailure(self.iteration, text)), 0.0)
            return
        message = self.prepared.get(contribution.level) if isinstance(contribution, Coded) else None
        if message is None:
            message = self._build(contribution)
        payload = dumps(Upload(self.iteration, len(self.partials), contribution, message, True))
        self._post(payload, self.upload_cost)
        self._log("send_upload", what)


def worker_main(
    channel: Channel,
    index: int,
    window: Sequence[Any],
    gradient: Any,
    crash: Callable[[], object] = kill_own_process,
) -> None:
    """Serve the master on ``channel`` until it says exit or goes away.

    ``crash`` carries out an injected crash; it must not return (the default kills the process
    with ``SIGKILL``; a backend whose workers share a process closes the channel and raises).
    """
    _Worker(channel, index, window, gradient, crash).run()
