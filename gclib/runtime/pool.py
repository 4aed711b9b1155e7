"""The master side of the worker pool: the iteration protocol driven by the shared scheduler.

:class:`WorkerPool` starts ``n`` worker processes, each holding its cyclic window
``W_i = (i, …, i + s_max) mod n`` of the data partitions, and runs iterations of any scheme on
them. One iteration:

1. The master samples the task durations from the :class:`~gclib.RuntimeModel` (or takes an
   explicit :class:`~gclib.ModelSample`) and broadcasts the parameters with them.
2. The workers compute their partial gradients in window order, each task lasting its sampled
   duration × ``time_unit`` seconds, and report progress (signals, uploads).
3. Every report goes into the transport-free :class:`~gclib.Scheduler`, the same one the
   simulator drives; its actions (request level ``s`` from ``F``, stop, resume, complete, fail)
   are carried out on the backend.
4. The master decodes; the latency is the time from the broadcast to the moment the master holds
   what it needs, in model time units (wall seconds / ``time_unit``).

An iteration that cannot finish ends with ``failed=True`` when the scheduler says so (too many
workers lost) or at the deadline (too many unresponsive ones). Dead workers are respawned with
their data before the next iteration; every message carries the iteration number, so a straggler
of an earlier iteration never pollutes a later one.
"""

from __future__ import annotations

import atexit
import math
import pickle
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from gclib.codes.errors import NotDecodableError
from gclib.model import ModelSample, RuntimeModel
from gclib.runtime.scheduler import (
    Complete,
    Fail,
    RequestLevel,
    Resume,
    Scheduler,
    Stop,
    cyclic_placement,
)
from gclib.runtime.transports import Died, ProcessBackend, Received, WorkerBackend
from gclib.runtime.worker import (
    ERROR,
    EXIT,
    GO,
    LOG,
    MESSAGE,
    MODE_EACH_UPLOAD,
    MODE_FINAL_UPLOAD,
    MODE_SIGNALS,
    PLAN,
    READY,
    REPORT,
    REQUEST,
    RESUME,
    SIGNAL,
    STOP,
    STOPPED,
    UPLOAD,
    dumps,
    worker_main,
)
from gclib.schemes.parse import Scheme, parse_levels, parse_scheme

__all__ = ["WorkerPool", "IterationResult", "PoolEvent", "WorkerError", "default_deadline"]

# Seconds the master waits for the acknowledgements that close an iteration, and for a worker to
# start: far beyond what a healthy worker needs; a worker that misses them is replaced.
_CLOSE_TIMEOUT = 5.0
_START_TIMEOUT = 60.0
# Wall-clock slack added to a default deadline, for process scheduling on a busy machine.
_DEADLINE_SLACK = 0.1


class WorkerError(RuntimeError):
    """A worker's gradient function raised; the message holds the worker's traceback."""


@dataclass(frozen=True)
class PoolEvent:
    """One entry of an iteration's event log.

    Attributes:
        time: model time units since the broadcast.
        worker: the worker concerned (``None`` for master-wide events).
        kind: master side: ``broadcast``, ``signal``, ``upload``, ``message``, ``request``,
            ``stop``, ``resume``, ``stopped``, ``lost``, ``complete``, ``fail``; worker side
            (with ``trace=True``, on the worker's clock): ``receive`` (the broadcast),
            ``task_start``, ``task_end``, ``task_abandon`` (task index), ``send_signal``,
            ``send_upload``, ``got_stop``, ``got_resume``, ``got_request``.
        value: the task count, task index or level the event refers to.
    """

    time: float
    worker: int | None
    kind: str
    value: int | None = None


@dataclass
class IterationResult:
    """What one iteration did.

    Attributes:
        iteration: the iteration number (1, 2, …) of the pool.
        scheme: the scheme's name.
        failed: whether the iteration could not finish; ``reason`` says why.
        latency: model time units from the broadcast until the master held what it needed
            (``inf`` if failed); decoding is not included (see ``decode_time``).
        wall_time: seconds from the broadcast until completion or failure.
        decode_time: seconds the master spent decoding.
        level: the level decoded with (``None`` for streaming and failures).
        responders: the workers whose messages were used, in arrival order.
        tasks_done: tasks each worker completed before it stopped.
        uploads: gradient-sized messages the master received.
        signals: progress signals the master received.
        gradient: the decoded gradient (``None`` if failed).
        decode_error: ``‖ĝ − g‖ / scale`` against the true gradient ``g``, when one was given;
            ``scale`` is the ``error_scale`` of :meth:`WorkerPool.run_iteration`, by default
            ``‖g‖``.
        lost: workers whose process died during the iteration.
        respawned: workers restarted with their data for the next iteration.
        events: the event log, in time order.
    """

    iteration: int
    scheme: str
    failed: bool
    reason: str | None
    latency: float
    wall_time: float
    decode_time: float
    level: int | None
    responders: tuple[int, ...]
    tasks_done: np.ndarray
    uploads: int
    signals: int
    gradient: np.ndarray | None
    decode_error: float | None
    lost: tuple[int, ...]
    respawned: tuple[int, ...]
    events: list[PoolEvent] = field(repr=False)


def default_deadline(model: RuntimeModel, tasks: int) -> float:
    """A generous per-iteration deadline in model time units.

    Four times the 0.9999 quantile of the time a worker slowed by ``κ`` (or unslowed, when
    ``κ = inf``) needs for ``tasks`` tasks, ``κ (tasks·a + Gamma_{0.9999}(tasks, μ))``, plus the
    communication costs: an iteration that any tolerated straggler pattern can finish ends long
    before it.
    """
    factor = model.slowdown if math.isfinite(model.slowdown) else 1.0
    tail = 0.0 if math.isinf(model.rate) else float(special.gammaincinv(tasks, 0.9999)) / model.rate
    work = factor * (tasks * model.shift + tail)
    return 4.0 * (work + model.upload_cost + tasks * model.signal_cost)


@dataclass
class _SchemePlan:
    key: int
    scheme: Scheme
    mode: int
    tasks: int
    codes: dict[int, Any]  # level -> code with decode(messages)
    coefficients: list[dict[int, np.ndarray]]  # worker -> level -> B^(s)[i, W_i[:s+1]]


@dataclass
class _Round:
    """Master-side state of one iteration."""

    number: int
    plan: _SchemePlan
    scheduler: Scheduler
    start: float
    time_unit: float
    events: list[PoolEvent]
    progress: np.ndarray
    outstanding: np.ndarray  # replies still due from each worker (stop acks, coded messages)
    coded: dict[int, tuple[int, np.ndarray]] = field(default_factory=dict)
    finals: dict[int, np.ndarray] = field(default_factory=dict)
    parts: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    signals: int = 0
    uploads: int = 0
    lost: list[int] = field(default_factory=list)
    respawned: list[int] = field(default_factory=list)
    outcome: Complete | Fail | None = None
    finished_at: float | None = None
    error: str | None = None

    def log(self, worker: int | None, kind: str, value: int | None = None) -> None:
        self.events.append(
            PoolEvent((time.monotonic() - self.start) / self.time_unit, worker, kind, value)
        )


_LIVE_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _close_live_pools() -> None:
    for pool in list(_LIVE_POOLS):
        pool.close()


class WorkerPool:
    """``n`` worker processes computing partial gradients for the master in this process.

    Args:
        partitions: the ``n`` data partitions ``D_0 … D_{n−1}`` (any picklable objects); worker
            ``i`` receives ``W_i = (D_i, …, D_{i+s_max})`` once, at start and at every respawn.
        gradient: ``gradient(params, partition) -> array``, the partial gradient ``g_j``; a
            module-level function (see :mod:`gclib.training.objectives`) or anything ``dill``
            pickles.
        s_max: the largest tolerance; each worker stores ``s_max + 1`` partitions.
        levels: the default level set ``S`` of the nested scheme (default ``0..s_max``).
        scheme: the default scheme (a :class:`~gclib.Scheme` or a name like ``"gc:2"``).
        model: the runtime model whose samples drive the straggler and crash injection.
        time_unit: seconds per model time unit.
        deadline: per-iteration deadline in model time units (default:
            :func:`default_deadline`).
        seed: seed or generator for the model samples and the random code constructions.
        start_method: ``multiprocess`` start method (default ``fork`` where available).
        backend: the transport, a factory ``backend(n, target, args_of, start_method)``
            returning a :class:`~gclib.runtime.transports.WorkerBackend` that runs
            ``target(channel, *args_of(i))`` as worker ``i`` (default:
            :class:`~gclib.runtime.transports.ProcessBackend`, local processes and pipes).
    """

    def __init__(
        self,
        partitions: Sequence[Any],
        gradient: Callable[[Any, Any], np.ndarray],
        *,
        s_max: int,
        levels: Sequence[int] | str | None = None,
        scheme: Scheme | str = "nested",
        model: RuntimeModel | None = None,
        time_unit: float = 0.01,
        deadline: float | None = None,
        seed: int | np.random.Generator | None = None,
        start_method: str | None = None,
        backend: Callable[..., WorkerBackend] | None = None,
    ) -> None:
        self._closed = True  # until the workers run
        n = len(partitions)
        if n < 1:
            raise ValueError("Argument 'partitions' must hold at least one partition.")
        if (
            isinstance(s_max, bool)
            or not isinstance(s_max, int | np.integer)
            or not (0 <= s_max < n)
        ):
            raise ValueError(
                f"Argument 's_max' must be an integer in [0, n) = [0, {n}), not {s_max!r}."
            )
        if not callable(gradient):
            raise ValueError(f"Argument 'gradient' must be callable, not {gradient!r}.")
        if model is not None and not isinstance(model, RuntimeModel):
            raise ValueError(f"Argument 'model' must be a RuntimeModel or None, not {model!r}.")
        if model is not None:
            model.check_workers(n)
        if not (isinstance(time_unit, int | float) and 0.0 < time_unit < math.inf):
            raise ValueError(f"Argument 'time_unit' must be a positive number, not {time_unit!r}.")
        _check_deadline(deadline)
        self.n = n
        self.s_max = int(s_max)
        self.levels = parse_levels(levels, self.s_max)
        self.placement = cyclic_placement(n, self.s_max)
        self.model = model
        self.time_unit = float(time_unit)
        self.deadline = deadline
        self.rng = np.random.default_rng(seed)
        self._code_seed = int(self.rng.integers(2**63))
        self.scheme = self.resolve_scheme(scheme)
        self._plans: dict[Scheme, _SchemePlan] = {}
        self._plans_sent: list[set[int]] = [set() for _ in range(n)]
        self._starting: set[int] = set()
        self._iteration = 0
        self.respawns = 0
        windows = [tuple(partitions[j] for j in window) for window in self.placement]

        def args_of(worker: int) -> tuple:
            return (worker, windows[worker], gradient)

        factory = backend or ProcessBackend
        self._backend = factory(n, worker_main, args_of, start_method)
        self._closed = False
        _LIVE_POOLS.add(self)
        try:
            for worker in range(n):
                self._backend.start(worker)
                self._starting.add(worker)
            self._await_started()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def close(self) -> None:
        """Stop every worker process and wait for it; safe to call twice."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        _LIVE_POOLS.discard(self)
        exit_message = dumps((EXIT,))
        for worker in range(self.n):
            self._backend.send(worker, exit_message)
        self._backend.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pids(self) -> tuple[int | None, ...]:
        """The process id of each worker's current incarnation."""
        return tuple(self._backend.pid(worker) for worker in range(self.n))

    @property
    def iterations(self) -> int:
        """Number of iterations run so far."""
        return self._iteration

    def _await_started(self) -> None:
        """Respawn dead workers and wait until every starting worker said it is ready."""
        for worker in range(self.n):
            if worker not in self._starting and not self._backend.alive(worker):
                self._respawn(worker)
        end = time.monotonic() + _START_TIMEOUT
        attempts = dict.fromkeys(self._starting, 0)
        while self._starting:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"Workers {sorted(self._starting)} did not start in time.")
            for event in self._backend.wait(remaining):
                if isinstance(event, Died):
                    attempts[event.worker] = attempts.get(event.worker, 0) + 1
                    if attempts[event.worker] > 3:
                        raise RuntimeError(f"Worker {event.worker} dies at every start.")
                    self._respawn(event.worker)
                elif pickle.loads(event.payload)[0] == READY:
                    self._starting.discard(event.worker)

    def _respawn(self, worker: int) -> None:
        self._backend.respawn(worker)
        self._plans_sent[worker].clear()
        self._starting.add(worker)
        self.respawns += 1

    # ------------------------------------------------------------------ schemes
    def resolve_scheme(self, scheme: Scheme | str | None) -> Scheme:
        """The :class:`~gclib.Scheme` meant by ``scheme`` (a name is parsed with the pool's
        ``s_max`` and level set; ``None`` is the pool's default scheme)."""
        if scheme is None:
            return self.scheme
        if isinstance(scheme, str):
            return parse_scheme(scheme, self.s_max, self.levels, self.n)
        if not isinstance(scheme, Scheme):
            raise ValueError(f"Argument 'scheme' must be a Scheme or a name, not {scheme!r}.")
        if scheme.s_max > self.s_max:
            raise ValueError(
                f"Scheme {scheme.name} needs s_max = {scheme.s_max}, but the workers store "
                f"only s_max + 1 = {self.s_max + 1} partitions."
            )
        return scheme

    def _plan(self, scheme: Scheme) -> _SchemePlan:
        plan = self._plans.get(scheme)
        if plan is not None:
            return plan
        Scheduler(self.n, scheme)  # validates the scheme for n workers
        from gclib.codes.nested import NestedGradientCode
        from gclib.codes.uncoded import UncodedCode

        codes: dict[int, Any] = {}
        if scheme.kind == "nested":
            nested = NestedGradientCode(self.n, scheme.levels, seed=self._code_seed)
            codes = {s: nested.code(s) for s in scheme.levels}
            mode = MODE_SIGNALS
        elif scheme.kind == "gc":
            s = scheme.levels[0]
            codes = {s: NestedGradientCode(self.n, (s,), seed=self._code_seed).code(s)}
            mode = MODE_FINAL_UPLOAD
        elif scheme.kind == "uncoded":
            codes = {0: UncodedCode(self.n)}
            mode = MODE_FINAL_UPLOAD
        elif scheme.kind == "ignore":
            mode = MODE_FINAL_UPLOAD
        else:
            mode = MODE_EACH_UPLOAD
        coefficients: list[dict[int, np.ndarray]] = []
        for worker, window in enumerate(self.placement):
            rows: dict[int, np.ndarray] = {}
            for level, code in codes.items():
                row = np.asarray(code.B, dtype=float)[worker]
                support = list(window[: level + 1])
                outside = np.delete(row, support)
                if np.any(outside != 0.0):
                    raise ValueError(
                        f"The level-{level} code of {scheme.name} puts weight outside the first "
                        f"{level + 1} partitions of worker {worker}'s window."
                    )
                rows[level] = row[support]
            if scheme.kind == "ignore":
                rows = {0: np.ones(1)}
            coefficients.append(rows)
        plan = _SchemePlan(
            len(self._plans), scheme, mode, scheme.tasks_per_worker, codes, coefficients
        )
        self._plans[scheme] = plan
        return plan

    # ------------------------------------------------------------------ one iteration
    def run_iteration(
        self,
        params: Any,
        scheme: Scheme | str | None = None,
        *,
        sample: ModelSample | None = None,
        true_gradient: np.ndarray | None = None,
        error_scale: float | None = None,
        deadline: float | None = None,
        trace: bool = False,
    ) -> IterationResult:
        """Run one iteration of ``scheme`` at ``params`` and return what happened.

        Args:
            params: the model parameters broadcast to the workers.
            scheme: the scheme (default: the pool's).
            sample: explicit task durations (shape ``(n, tasks)``, at least the scheme's tasks
                per worker) instead of a fresh draw from the model.
            true_gradient: the full gradient, to report the decoding error.
            error_scale: what the decoding error is relative to (default ``‖true_gradient‖``).
                Near an optimum the full gradient nearly vanishes while its partial gradients
                do not; ``Σ_j ‖g_j‖`` then measures the accuracy of decoding, which ``‖g‖``
                cannot.
            deadline: this iteration's deadline in model time units.
            trace: also collect the workers' task start/end times for the event log.
        """
        if self._closed:
            raise RuntimeError("The worker pool is closed.")
        scheme = self.resolve_scheme(scheme)
        plan = self._plan(scheme)
        sample = self._sample(plan.tasks, sample)
        _check_deadline(deadline)
        if error_scale is not None and not (
            isinstance(error_scale, int | float | np.floating) and 0.0 < error_scale < math.inf
        ):
            raise ValueError(
                f"Argument 'error_scale' must be a positive finite number, not {error_scale!r}."
            )
        deadline = self._deadline(plan.tasks, sample, deadline)
        self._await_started()
        for worker in range(self.n):
            if plan.key not in self._plans_sent[worker]:
                coefficients = plan.coefficients[worker]
                message = dumps((PLAN, plan.key, plan.mode, plan.tasks, coefficients))
                self._backend.send(worker, message)
                self._plans_sent[worker].add(plan.key)

        self._iteration += 1
        round_ = _Round(
            number=self._iteration,
            plan=plan,
            scheduler=Scheduler(self.n, scheme),
            start=time.monotonic(),
            time_unit=self.time_unit,
            events=[],
            progress=np.zeros(self.n, dtype=int),
            outstanding=np.zeros(self.n, dtype=int),
        )
        self._broadcast(round_, params, sample, trace)
        try:
            self._collect(round_, deadline)
            gradient, decode_time = self._decode(round_)
            self._close_round(round_, trace)
        except BaseException:
            # an interrupt or a failure of the master: leave no worker busy with this round
            stop = dumps((STOP, round_.number))
            for worker in range(self.n):
                self._backend.send(worker, stop)
            raise
        for worker in range(self.n):
            if worker not in self._starting and not self._backend.alive(worker):
                round_.respawned.append(worker)
                self._respawn(worker)
        if round_.error is not None:
            raise WorkerError(round_.error)
        return self._result(round_, gradient, decode_time, true_gradient, error_scale)

    def _sample(self, tasks: int, sample: ModelSample | None) -> ModelSample:
        if sample is None:
            if self.model is None:
                raise ValueError("Argument 'sample' is required when the pool has no model.")
            return self.model.sample(self.n, tasks, self.rng)
        if not isinstance(sample, ModelSample):
            raise ValueError(f"Argument 'sample' must be a ModelSample, not {sample!r}.")
        shape = sample.task_times.shape
        if len(shape) != 2 or shape[0] != self.n or shape[1] < tasks:
            raise ValueError(
                f"Argument 'sample' must have task times of shape ({self.n}, >= {tasks}), "
                f"not {shape}."
            )
        return sample

    def _deadline(self, tasks: int, sample: ModelSample, deadline: float | None) -> float:
        """The deadline in wall-clock seconds."""
        if deadline is None:
            deadline = self.deadline
        if deadline is not None:
            return deadline * self.time_unit
        if self.model is not None:
            units = default_deadline(self.model, tasks)
        else:
            finite = np.where(np.isfinite(sample.task_times), sample.task_times, 0.0)
            units = 4.0 * float(finite[:, :tasks].sum(axis=1).max()) or 10.0
        return units * self.time_unit + _DEADLINE_SLACK

    def _broadcast(self, round_: _Round, params: Any, sample: ModelSample, trace: bool) -> None:
        unit = self.time_unit
        tasks = round_.plan.tasks
        times = sample.task_times[:, :tasks] * unit
        crash_scale = (self.model.mean_task_time if self.model is not None else 1.0) * unit
        costs = (0.0, 0.0)
        if self.model is not None:
            costs = (self.model.upload_cost * unit, self.model.signal_cost * unit)
        params_bytes = pickle.dumps(params, protocol=pickle.HIGHEST_PROTOCOL)
        round_.start = time.monotonic()
        round_.log(None, "broadcast")
        for worker in range(self.n):
            crash_after = None
            if sample.crashed[worker]:
                crash_after = float(sample.crash_fraction[worker]) * crash_scale
            message = (
                GO,
                round_.number,
                round_.plan.key,
                params_bytes,
                tuple(times[worker].tolist()),
                crash_after,
                costs,
                trace,
            )
            self._backend.send(worker, dumps(message))

    def _collect(self, round_: _Round, deadline: float) -> None:
        """Feed events to the scheduler until it completes or fails, or the deadline passes."""
        scheduler = round_.scheduler
        end = round_.start + deadline
        while not scheduler.done:
            remaining = end - time.monotonic()
            if remaining <= 0.0:
                self._expire(round_, deadline)
                return
            for event in self._backend.wait(remaining):
                self._handle(round_, event)
            if round_.error is not None:
                self._act(round_, scheduler.abort("a worker's gradient function raised"))
                return

    def _expire(self, round_: _Round, deadline: float) -> None:
        units = deadline / self.time_unit
        reason = f"the deadline of {units:.4g} model time units passed"
        # the scheduler fails too, so that reports still arriving cannot complete the iteration
        self._act(round_, round_.scheduler.abort(reason))

    def _handle(self, round_: _Round, event: Received | Died) -> None:
        worker = event.worker
        scheduler = round_.scheduler
        if isinstance(event, Died):
            round_.lost.append(worker)
            round_.outstanding[worker] = 0
            round_.log(worker, "lost")
            self._act(round_, scheduler.lost(worker))
            return
        message = pickle.loads(event.payload)
        kind = message[0]
        if kind == READY or message[1] != round_.number:
            return  # a late message of an earlier iteration
        if kind == SIGNAL:
            round_.signals += 1
            round_.progress[worker] = max(round_.progress[worker], message[2])
            round_.log(worker, "signal", message[2])
            self._act(round_, scheduler.progress(worker, message[2]))
        elif kind == UPLOAD:
            done, payload = message[2], message[3]
            round_.uploads += 1
            round_.progress[worker] = max(round_.progress[worker], done)
            round_.log(worker, "upload", done)
            if round_.plan.mode == MODE_EACH_UPLOAD:
                partition = self.placement[worker][done - 1]
                actions = scheduler.progress(worker, done)
                if scheduler.sources.get(partition) == (worker, done - 1):
                    round_.parts[(worker, done - 1)] = payload
            else:
                round_.finals[worker] = payload
                actions = scheduler.progress(worker, done)
            self._act(round_, actions)
        elif kind == MESSAGE:
            level, done, payload = message[2], message[3], message[4]
            round_.uploads += 1
            round_.outstanding[worker] -= 1
            round_.progress[worker] = max(round_.progress[worker], done)
            round_.coded[worker] = (level, payload)
            round_.log(worker, "message", level)
            self._act(round_, scheduler.message(worker, level))
        elif kind == STOPPED:
            round_.outstanding[worker] -= 1
            round_.progress[worker] = max(round_.progress[worker], message[2])
            round_.log(worker, "stopped", message[2])
        elif kind == ERROR:
            round_.error = f"worker {worker}: {message[2]}"
            round_.outstanding[worker] = 0
        elif kind == LOG:
            for stamp, what, value in message[2]:
                moment = (stamp - round_.start) / self.time_unit
                round_.events.append(PoolEvent(moment, worker, what, value))
            round_.outstanding[worker] -= 1

    def _act(self, round_: _Round, actions: list) -> None:
        for action in actions:
            if isinstance(action, RequestLevel):
                request = dumps((REQUEST, round_.number, action.level))
                for worker in action.workers:
                    if self._send_logged(round_, worker, request, "request", action.level):
                        round_.outstanding[worker] += 1
            elif isinstance(action, Stop):
                self._stop(round_, action.workers)
            elif isinstance(action, Resume):
                resume = dumps((RESUME, round_.number))
                for worker in action.workers:
                    self._send_logged(round_, worker, resume, "resume")
            elif isinstance(action, Complete | Fail):
                round_.finished_at = time.monotonic()
                round_.outcome = action
                round_.log(None, "complete" if isinstance(action, Complete) else "fail")

    def _send_logged(
        self, round_: _Round, worker: int, payload: bytes, kind: str, value: int | None = None
    ) -> bool:
        """Send and log the command with the time it left (before the worker can react)."""
        moment = (time.monotonic() - round_.start) / self.time_unit
        if not self._backend.send(worker, payload):
            return False
        round_.events.append(PoolEvent(moment, worker, kind, value))
        return True

    def _stop(self, round_: _Round, workers: Sequence[int] | range) -> None:
        """Tell busy workers to stop; a worker that finished its tasks is idle already."""
        stop = dumps((STOP, round_.number))
        for worker in workers:
            if round_.progress[worker] >= round_.plan.tasks or worker in round_.lost:
                continue
            if self._send_logged(round_, worker, stop, "stop"):
                round_.outstanding[worker] += 1

    def _decode(self, round_: _Round) -> tuple[np.ndarray | None, float]:
        outcome = round_.outcome
        if not isinstance(outcome, Complete):
            return None, 0.0
        begin = time.perf_counter()
        kind = round_.plan.scheme.kind
        try:
            if kind == "streaming":
                gradient = sum(round_.parts[source] for source in outcome.sources.values())
            elif kind == "ignore":
                kept = len(outcome.responders)
                total = sum(round_.finals[w] for w in outcome.responders)
                gradient = total * (self.n / kept)
            else:
                code = round_.plan.codes[outcome.level]
                if kind == "nested":
                    messages = {w: round_.coded[w][1] for w in outcome.responders}
                else:
                    messages = {w: round_.finals[w] for w in outcome.responders}
                gradient = code.decode(messages)
        except NotDecodableError as error:
            round_.outcome = Fail(f"not decodable: {error}")
            return None, time.perf_counter() - begin
        return np.asarray(gradient), time.perf_counter() - begin

    def _close_round(self, round_: _Round, trace: bool) -> None:
        """Wait for the replies still due (stop acknowledgements, late coded messages) and the
        traces, so that every live worker is idle and its pipe empty for the next iteration."""
        end = time.monotonic() + _CLOSE_TIMEOUT
        pending = self._pending(round_)
        if trace:
            report = dumps((REPORT, round_.number))
            for worker in range(self.n):
                if self._backend.send(worker, report):
                    round_.outstanding[worker] += 1
            pending = self._pending(round_)
        while pending:
            remaining = end - time.monotonic()
            if remaining <= 0.0:
                for worker in pending:  # stuck beyond any task: replace it
                    round_.lost.append(worker)
                    round_.log(worker, "lost")
                    round_.respawned.append(worker)
                    self._respawn(worker)
                break
            for event in self._backend.wait(remaining):
                self._handle(round_, event)
            pending = self._pending(round_)
        round_.events.sort(key=lambda event: event.time)

    def _pending(self, round_: _Round) -> list[int]:
        return [
            w
            for w in range(self.n)
            if round_.outstanding[w] > 0 and w not in round_.lost and self._backend.alive(w)
        ]

    def _result(
        self,
        round_: _Round,
        gradient: np.ndarray | None,
        decode_time: float,
        true_gradient: np.ndarray | None,
        error_scale: float | None,
    ) -> IterationResult:
        outcome = round_.outcome
        finished_at = round_.finished_at or time.monotonic()
        wall = finished_at - round_.start
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
            iteration=round_.number,
            scheme=round_.plan.scheme.name,
            failed=failed,
            reason=outcome.reason if isinstance(outcome, Fail) else None,
            latency=math.inf if failed else wall / self.time_unit,
            wall_time=wall,
            decode_time=decode_time,
            level=None if failed else outcome.level,
            responders=() if failed else tuple(outcome.responders),
            tasks_done=round_.progress.copy(),
            uploads=round_.uploads,
            signals=round_.signals,
            gradient=gradient,
            decode_error=error,
            lost=tuple(round_.lost),
            respawned=tuple(sorted(round_.respawned)),
            events=round_.events,
        )


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and not (
        isinstance(deadline, int | float) and not isinstance(deadline, bool) and deadline > 0
    ):
        raise ValueError(
            f"Argument 'deadline' must be a positive number of model time units, not {deadline!r}."
        )
