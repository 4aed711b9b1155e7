"""The master side of the worker pool: the iteration protocol driven by the shared scheduler.

:class:`WorkerPool` starts ``n`` worker processes, each holding its cyclic window
``W_i = (i, …, i + s_max) mod n`` of the data partitions, and runs iterations of any scheme on
them. One iteration:

1. The master samples the task durations from the :class:`~gclib.RuntimeModel` (or takes an
   explicit :class:`~gclib.ModelSample`) and broadcasts the parameters with them.
2. The workers compute their partial gradients in window order, each task lasting its sampled
   duration × ``time_unit`` seconds, and report progress (signals, uploads).
3. Every report goes into the transport-free :class:`~gclib.Scheduler`, the same one the
   simulator drives; its actions (request level ``s`` from ``R``, stop, resume, complete, fail)
   are carried out on the backend.
4. The master decodes; the latency is the time from the broadcast to the moment the master holds
   what it needs, in model time units (wall seconds / ``time_unit``).

An iteration that cannot finish ends with ``failed=True`` when the scheduler says so (too many
workers lost) or at the deadline (too many unresponsive ones). Dead workers are respawned with
their data before the next iteration; every message carries the iteration number, so a straggler
of an earlier iteration never pollutes a later one. A requested worker that stays silent (stopped,
hung) is given up for the iteration after a short timeout and the master re-plans without it; a
worker silent for seconds while it owes a reply is replaced.
"""

from __future__ import annotations

import atexit
import math
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gclib.codes.placement import cyclic_placement
from gclib.model import ModelSample, RuntimeModel
from gclib.runtime.params import encode_params
from gclib.runtime.protocol import (
    ExitCommand,
    Go,
    PlanMessage,
    Ready,
    StopCommand,
    dumps,
    go_frames,
    loads,
)
from gclib.runtime.results import (
    DEADLINE_SLACK,
    IterationResult,
    PoolEvent,
    WorkerError,
    default_deadline,
)
from gclib.runtime.round import REPLY_TIMEOUT, Round, SchemePlan
from gclib.runtime.scheduler import Scheduler
from gclib.runtime.transports import Died, ProcessBackend, WorkerBackend
from gclib.runtime.worker import worker_main
from gclib.schemes.parse import Scheme, parse_levels, parse_scheme

__all__ = ["WorkerPool", "IterationResult", "PoolEvent", "WorkerError", "default_deadline"]

# Seconds the master waits for a worker to start: far beyond what a healthy worker needs.
_START_TIMEOUT = 60.0
# Bytes of broadcast messages pickled before the clock starts (beyond: one at a time)
_AHEAD = 1 << 24
# Parameters' bytes up to which the master copies each published message as its signal arrives
# (a message has the parameters' size): small copies cost calls, not bandwidth, and done then they
# leave the decision only the reads of the messages not yet copied. The slots' budget bounds them.
READ_AHEAD_BYTES = 1 << 16


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
            :class:`~gclib.runtime.transports.ProcessBackend`, local processes and pipes; on a
            Dask cluster: ``DaskBackend(client)``, see :mod:`gclib.runtime.transports.dask`).
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
        # only to parse names such as "nested": the schemes carry their own levels
        self._name_levels = parse_levels(levels, self.s_max)
        self.placement = cyclic_placement(n, self.s_max)
        self.model = model
        self.time_unit = float(time_unit)
        self.deadline = deadline
        self.rng = np.random.default_rng(seed)
        self._code_seed = int(self.rng.integers(2**63))
        self._named: dict[str, Scheme] = {}  # scheme names parsed so far
        self.scheme = self.resolve_scheme(scheme)
        self._plans: dict[Scheme, SchemePlan] = {}
        self._plan_messages: dict[Scheme, list[PlanMessage]] = {}
        self._plans_sent: list[set[int]] = [set() for _ in range(n)]
        self._starting: set[int] = set()
        self._overdue: dict[int, float] = {}  # worker -> since when it owes a reply (Round.close)
        self._iteration = 0
        self.respawns = 0
        windows = [tuple(partitions[j] for j in window) for window in self.placement]
        self._partitions, self._gradient = tuple(partitions), gradient

        def args_of(worker: int) -> tuple:
            return (worker, windows[worker], gradient)

        factory = backend or ProcessBackend
        self._backend = factory(n, worker_main, args_of, start_method)
        # requested coded messages read where the workers publish them, if the backend can
        self._backend.reserve_messages(self.s_max + 1)
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
        exit_message = dumps(ExitCommand())
        for worker in range(self.n):
            self._backend.send(worker, exit_message)
        self._backend.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def backend(self) -> WorkerBackend:
        """The transport the workers run on (bound to this pool)."""
        return self._backend

    @property
    def pids(self) -> tuple[int | str | None, ...]:
        """An identifier of each worker's current incarnation: its process id (Dask backend:
        ``"<Dask worker address>#<incarnation>"``)."""
        return tuple(self._backend.pid(worker) for worker in range(self.n))

    @property
    def iterations(self) -> int:
        """Number of iterations run so far."""
        return self._iteration

    def _await_started(self) -> None:
        """Respawn dead workers and wait until every starting worker said it is ready."""
        for worker in self._backend.not_running():
            if worker not in self._starting:
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
                elif isinstance(loads(event.payload), Ready):
                    self._starting.discard(event.worker)

    def _respawn(self, worker: int) -> None:
        self._backend.respawn(worker)
        self._plans_sent[worker].clear()
        self._overdue.pop(worker, None)
        self._starting.add(worker)
        self.respawns += 1

    # ------------------------------------------------------------------ schemes
    def resolve_scheme(self, scheme: Scheme | str | None) -> Scheme:
        """The :class:`~gclib.Scheme` meant by ``scheme`` (a name is parsed with the pool's
        ``s_max`` and level set; ``None`` is the pool's default scheme)."""
        if scheme is None:
            return self.scheme
        if isinstance(scheme, str):
            named = self._named.get(scheme)
            if named is None:
                named = self._named[scheme] = parse_scheme(
                    scheme, self.s_max, self._name_levels, self.n
                )
            return named
        if not isinstance(scheme, Scheme):
            raise ValueError(f"Argument 'scheme' must be a Scheme or a name, not {scheme!r}.")
        if scheme.s_max > self.s_max:
            raise ValueError(
                f"Scheme {scheme.name} needs s_max = {scheme.s_max}, but the workers store "
                f"only s_max + 1 = {self.s_max + 1} partitions."
            )
        return scheme

    def _plan(self, scheme: Scheme) -> SchemePlan:
        plan = self._plans.get(scheme)
        if plan is not None:
            return plan
        scheme.check_workers(self.n)
        codes = scheme.codes(self.n, seed=self._code_seed)
        eager = {k: scheme.eager_upload(k) for k in scheme.eager_tasks}
        published = {
            k: contribution
            for k in range(1, scheme.tasks_per_worker + 1)
            if (contribution := scheme.published(k)) is not None
        }
        for worker, window in enumerate(self.placement):
            rows: dict[int, np.ndarray] = {}
            for level, code in codes.items():
                row = np.asarray(code.B, dtype=float)[worker]
                support = list(window[: level + 1])
                if np.any(np.delete(row, support) != 0.0):
                    raise ValueError(
                        f"The level-{level} code of {scheme.label} puts weight outside the first "
                        f"{level + 1} partitions of worker {worker}'s window."
                    )
                rows[level] = row[support]
            self._plan_messages.setdefault(scheme, []).append(
                PlanMessage(
                    len(self._plans),
                    scheme.tasks_per_worker,
                    scheme.signals,
                    eager,
                    rows,
                    prepare=scheme.requests,
                    published=published,
                )
            )
        slots = {contribution: k - 1 for k, contribution in published.items()}
        plan = SchemePlan(len(self._plans), scheme, scheme.tasks_per_worker, codes, slots)
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
        check: bool = False,
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
            check: compute ``g = Σ_j g_j`` in the master too, and report the decoding error
                relative to ``Σ_j ‖g_j‖`` (instead of ``true_gradient`` and ``error_scale``).
        """
        if check:
            if true_gradient is not None or error_scale is not None:
                raise ValueError(
                    "Argument 'check' computes the true gradient and its scale itself: give "
                    "neither 'true_gradient' nor 'error_scale' with it."
                )
            true_gradient, error_scale = self.exact_gradient(params)
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
                message = dumps(self._plan_messages[scheme][worker])
                self._backend.send(worker, message)
                self._plans_sent[worker].add(plan.key)

        self._iteration += 1
        round_ = Round(
            number=self._iteration,
            plan=plan,
            scheduler=Scheduler(self.n, scheme),
            backend=self._backend,
            respawn=self._respawn,
            start=time.monotonic(),
            time_unit=self.time_unit,
            events=[],
            progress=[0] * self.n,
            outstanding=[0] * self.n,
            overdue=self._overdue,
        )
        size = self._broadcast(round_, params, sample, trace)
        round_.reply_timeout = self._reply_timeout(deadline, size)
        round_.read_ahead = size <= READ_AHEAD_BYTES
        try:
            round_.collect(deadline)
            gradient, decode_time = round_.combine()
            round_.close(trace)
        except BaseException:
            # an interrupt or a failure of the master: leave no worker busy with this round
            stop = dumps(StopCommand(round_.number))
            for worker in range(self.n):
                self._backend.send(worker, stop)
            raise
        for worker in self._backend.not_running():
            if worker not in self._starting:
                round_.respawned.append(worker)
                self._respawn(worker)
        if round_.error is not None:
            raise WorkerError(round_.error)
        return round_.result(gradient, decode_time, true_gradient, error_scale)

    def exact_gradient(self, params: Any) -> tuple[np.ndarray, float | None]:
        """``g = Σ_j g_j`` computed in the master from every partition, and ``Σ_j ‖g_j‖`` (the
        scale of a decoding error that stays meaningful where ``g`` vanishes; ``None`` if 0)."""
        partials = [
            np.asarray(self._gradient(params, part), dtype=float) for part in self._partitions
        ]
        scale = sum(float(np.linalg.norm(partial)) for partial in partials)
        return np.sum(partials, axis=0), (scale or None)

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
        return units * self.time_unit + DEADLINE_SLACK

    def _reply_timeout(self, deadline: float, size: int) -> float:
        """Seconds a requested worker may stay silent: a share of the deadline at most, so that a
        re-plan still fits in it, plus the time to move a reply of about ``size`` bytes (the
        parameters') at a pessimistic 100 MB/s, plus the emulated costs."""
        costs = size * 1e-8
        if self.model is not None:
            uploads = self.n if self.model.shared_link else 1  # a shared link queues them
            costs += (self.model.signal_cost + uploads * self.model.upload_cost) * self.time_unit
        return min(REPLY_TIMEOUT, deadline / 2.0) + costs

    def _broadcast(self, round_: Round, params: Any, sample: ModelSample, trace: bool) -> int:
        """Start the round on every worker; returns the size of the encoded parameters."""
        unit = self.time_unit
        tasks = round_.plan.tasks
        times = sample.task_times[:, :tasks] * unit
        crash_scale = (self.model.mean_task_time if self.model is not None else 1.0) * unit
        costs = (0.0, 0.0)
        if self.model is not None:
            costs = (self.model.upload_cost * unit, self.model.signal_cost * unit)
            if self.model.shared_link:
                # one link into the master: the round queues the uploads, the workers send at once
                round_.link = costs[0]
                costs = (0.0, costs[1])
        round_.upload_delay, round_.signal_delay = costs  # for the messages read one-sided
        params_bytes = encode_params(params)
        # Workers that read the master's clock time their tasks from the iteration's start, not
        # from when each of them woke up to its message: on fewer cores than workers they wake
        # one after another, an artefact of the machine, not a cost of the protocol.
        origin = round_.start = time.monotonic() if self._backend.shares_clock else None
        template = Go(round_.number, round_.plan.key, params_bytes, (), None, *costs, trace, origin)
        rows, crashed = times.tolist(), sample.crashed.tolist()
        crashes = [
            fraction * crash_scale if crashed[worker] else None
            for worker, fraction in enumerate(sample.crash_fraction.tolist())
        ]
        # Encoded ahead, so that the clock starts as the first message leaves and nothing but
        # sending follows; a large model is encoded per worker, not held n times over.
        ahead = len(params_bytes) * self.n <= _AHEAD
        frames = go_frames(template, rows, crashes) if ahead else []
        if origin is None:
            round_.start = time.monotonic()
        round_.log(None, "broadcast")
        for worker, row in enumerate(rows):
            frame = frames[worker] if ahead else go_frames(template, [row], [crashes[worker]])[0]
            self._backend.send(worker, frame)
        return len(params_bytes)


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and not (
        isinstance(deadline, int | float) and not isinstance(deadline, bool) and deadline > 0
    ):
        raise ValueError(
            f"Argument 'deadline' must be a positive number of model time units, not {deadline!r}."
        )
