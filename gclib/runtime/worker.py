"""The worker side of the pool protocol: one loop per worker process.

Worker ``i`` holds its window ``W_i`` of data partitions (received once, at start) and a gradient
function. Per iteration it receives the model parameters and its sampled task durations, and
computes the partial gradients ``g_j``, ``j ∈ W_i``, in window order. A task lasts its sampled
duration: the real gradient is computed at its start and the rest of the time is spent waiting on
the master's channel, so that *stop* takes effect at once. After each task it reports progress:

- nested: a progress signal ``(k)`` of a few bytes; on *send level s* it replies with its one
  coded message ``m_i = Σ_{k≤s} B^(s)[i, W_i[k]] g_{W_i[k]}`` built from the partials it holds;
- GC(s), uncoded and ignore-stragglers: its coded message after its last task;
- streaming: every partial gradient as soon as it is computed.

*Stop* pauses the worker (the partials it holds stay usable; the current task keeps its remaining
time in case the master resumes it). An injected crash kills the process with ``SIGKILL`` part way
into its first task, at ``crash_fraction · (a + 1/μ)``, the simulator's convention; a crashing
worker that is stopped before that moment survives (it was unresponsive for the iteration
anyway). Every message carries the iteration number, so that nothing
from an earlier iteration can be mistaken for the current one. Messages are pickled tuples whose
first item says what they are.
"""

from __future__ import annotations

import heapq
import os
import pickle
import select
import signal
import time
import traceback
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["Channel", "worker_main"]

# master -> worker
PLAN, GO, STOP, RESUME, REQUEST, REPORT, EXIT = range(7)
# worker -> master
READY, SIGNAL, UPLOAD, MESSAGE, STOPPED, LOG, ERROR = range(10, 17)
# how a worker reports its progress
MODE_SIGNALS, MODE_FINAL_UPLOAD, MODE_EACH_UPLOAD = range(3)

PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


class Channel(Protocol):
    """What the worker needs from its transport: a duplex byte-message channel."""

    def send_bytes(self, payload: bytes) -> None: ...

    def recv_bytes(self) -> bytes: ...

    def poll(self, timeout: float | None = 0.0) -> bool: ...


def dumps(message: tuple) -> bytes:
    return pickle.dumps(message, protocol=PICKLE_PROTOCOL)


class _Plan:
    """How to run one scheme: the progress mode, the task count and the code coefficients.

    ``coefficients[s][k] = B^(s)[i, W_i[k]]`` for ``k = 0..s``.
    """

    __slots__ = ("mode", "tasks", "coefficients")

    def __init__(self, mode: int, tasks: int, coefficients: dict[int, np.ndarray]) -> None:
        self.mode, self.tasks, self.coefficients = mode, tasks, coefficients


class _Worker:
    def __init__(self, channel: Channel, index: int, window: Sequence[Any], gradient: Any) -> None:
        self.channel = channel
        self.index = index
        self.window = tuple(window)
        self.gradient = gradient
        self.plans: dict[int, _Plan] = {}
        self.iteration: int | None = None
        self.outbox: list[tuple[float, int, bytes]] = []  # (release time, order, message)
        self.sent = 0
        try:
            self.fileno: int | None = channel.fileno()  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            self.fileno = None
        self._reset_iteration()

    def _reset_iteration(self) -> None:
        self.plan: _Plan | None = None
        self.params: Any = None
        self.times: tuple[float, ...] = ()
        self.partials: list[np.ndarray] = []
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
        self._post(dumps((READY, os.getpid())), 0.0)
        try:
            while True:
                self._advance()
                timeout = self._next_timeout()
                if timeout is None:
                    message = pickle.loads(self.channel.recv_bytes())
                elif timeout > 0.0 and self._wait(timeout):
                    message = pickle.loads(self.channel.recv_bytes())
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
        milliseconds, which would lengthen every task by half a millisecond on average.
        """
        if self.fileno is None:
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
            self._post(dumps((ERROR, self.iteration, traceback.format_exc())), 0.0)
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
        deadline = min(deadlines, default=float("inf"))
        if deadline == float("inf"):
            return None
        return max(0.0, deadline - time.monotonic())

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self.outbox and self.outbox[0][0] <= now:
            self.channel.send_bytes(heapq.heappop(self.outbox)[2])
        if self.stopped or not self.in_task:
            return
        if self.crash_at is not None and now >= self.crash_at:
            # an injected crash: the process dies for real, mid-task, without a word
            os.kill(os.getpid(), signal.SIGKILL)
        if now >= self.task_end:
            self._finish_task()

    def _finish_task(self) -> None:
        plan = self.plan
        assert plan is not None and self.current is not None
        partial, self.current, self.in_task = self.current, None, False
        self.next_start = self.task_end
        self.partials.append(partial)
        done = len(self.partials)
        self._log("task_end", done - 1)
        if plan.mode == MODE_SIGNALS:
            self._post(dumps((SIGNAL, self.iteration, done)), self.signal_cost)
            self._log("send_signal", done)
        elif plan.mode == MODE_EACH_UPLOAD:
            self._post(dumps((UPLOAD, self.iteration, done, partial)), self.upload_cost)
            self._log("send_upload", done)
        elif done == plan.tasks:
            level = max(plan.coefficients)
            message = self._coded(level)
            self._post(dumps((UPLOAD, self.iteration, done, message)), self.upload_cost)
            self._log("send_upload", done)

    def _coded(self, level: int) -> np.ndarray:
        """``Σ_{k≤s} B^(s)[i, W_i[k]] g_{W_i[k]}`` from the partials held."""
        coefficients = self.plan.coefficients[level]
        if len(coefficients) == 1 and coefficients[0] == 1.0:
            return self.partials[0]
        total = coefficients[0] * self.partials[0]
        for coefficient, partial in zip(coefficients[1:], self.partials[1:], strict=False):
            total += coefficient * partial
        return total

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
    def _handle(self, message: tuple) -> bool:
        kind = message[0]
        if kind == GO:
            self._start_iteration(message)
        elif kind == PLAN:
            _, key, mode, tasks, coefficients = message
            self.plans[key] = _Plan(mode, tasks, coefficients)
        elif kind == EXIT:
            return False
        elif message[1] != self.iteration:
            pass  # a command for an iteration that is over
        elif kind == STOP:
            self._log("got_stop", len(self.partials))
            self._pause()
            self._post(dumps((STOPPED, self.iteration, len(self.partials))), 0.0)
        elif kind == REQUEST:
            self._reply(message[2])
        elif kind == RESUME:
            self._log("got_resume", len(self.partials))
            if self.stopped:
                self.stopped = False
                if self.in_task:
                    now = time.monotonic()
                    self.task_end = now + self.remaining
                    if self.crash_at is not None:
                        self.crash_at += now
        elif kind == REPORT:
            self.channel.send_bytes(dumps((LOG, self.iteration, self.trace or [])))
        return True

    def _start_iteration(self, message: tuple) -> None:
        _, iteration, key, params, times, crash_after, costs, trace = message
        received = time.monotonic()
        self._reset_iteration()
        self.outbox.clear()  # anything still held back belongs to an iteration that is over
        self.iteration = iteration
        self.plan = self.plans[key]
        self.params = pickle.loads(params)
        self.times = times
        self.upload_cost, self.signal_cost = costs
        self.trace = [(received, "receive", 0)] if trace else None
        self.stopped = False
        self.next_start = received
        self._advance()
        if crash_after is not None:
            self.crash_at = received + crash_after

    def _reply(self, level: int) -> None:
        self._log("got_request", level)
        self._pause()
        if len(self.partials) < level + 1:
            text = f"level {level} requested from a worker holding {len(self.partials)} partials"
            self._post(dumps((ERROR, self.iteration, text)), 0.0)
            return
        coded = self._coded(level)
        payload = dumps((MESSAGE, self.iteration, level, len(self.partials), coded))
        self._post(payload, self.upload_cost)
        self._log("send_upload", level)


def worker_main(channel: Channel, index: int, window: Sequence[Any], gradient: Any) -> None:
    """Serve the master on ``channel`` until it says exit or goes away."""
    _Worker(channel, index, window, gradient).run()
