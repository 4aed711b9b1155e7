"""What the worker pool reports: one :class:`IterationResult` per iteration, its event log, and
the deadline rule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import special

from gclib.model import RuntimeModel

__all__ = ["WorkerError", "PoolEvent", "IterationResult", "default_deadline", "DEADLINE_SLACK"]

#: wall-clock seconds added to a default deadline, for process scheduling on a busy machine
DEADLINE_SLACK = 0.1


class WorkerError(RuntimeError):
    """A worker's gradient function raised; the message holds the worker's traceback."""


class PoolEvent(NamedTuple):
    """One entry of an iteration's event log (a named tuple: the master logs a dozen of them in
    every iteration, on its critical path)."""

    time: float
    worker: int | None
    kind: str
    value: int | None = None


PoolEvent.time.__doc__ = "Model time units since the broadcast."
PoolEvent.worker.__doc__ = "The worker concerned (``None`` for master-wide events)."
PoolEvent.kind.__doc__ = """What happened. The master logs ``broadcast``, ``signal``, ``upload``,
``message``, ``request``, ``stop``, ``resume``, ``stopped``, ``lost``, ``complete`` and ``fail``;
the workers (with ``trace=True``, on their clock) ``receive`` (the broadcast), ``task_start``,
``task_end``, ``task_abandon`` (task index), ``send_signal``, ``send_upload``, ``got_stop``,
``got_resume``, ``got_request`` and ``publish`` (task index: what the worker left after that
task for the master to read without asking, a coded message or a partial gradient)."""
PoolEvent.value.__doc__ = "The task count, task index or level the event refers to."


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
