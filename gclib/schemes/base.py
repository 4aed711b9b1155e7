"""What every scheme is: the rules a worker follows, the master's decision, and what the theory
and the simulator need to know about it.

A scheme runs on the cyclic placement: worker ``i`` stores ``W_i = (i, …, i+s_max) mod n`` and
computes it in that order, one task per partition. Schemes differ only in

- what a worker sends unasked: a progress signal after each task (:attr:`Scheme.signals`), and an
  upload after some tasks (:meth:`Scheme.eager_upload`): a coded message of some level, or the
  partial gradient it has just computed;
- the master's decision (:meth:`Scheme.decide`), given a read-only :class:`ProgressView` of what it
  has seen: nothing yet, finish with what is here (:class:`Finish`), or ask some workers for one
  message each (:class:`Ask`);
- how the master combines what it received (:meth:`Scheme.combine`);
- the reduction the exact theory needs (:meth:`Scheme.conditions` for the dynamic program, or the
  coverage program) and a vectorised latency of sampled finish times (:meth:`Scheme.sample_raw`).

The :class:`~gclib.Scheduler` keeps what every scheme shares (stopping the others, losses and
re-plans, feasibility) and asks the scheme only for its decision.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from gclib.model import RuntimeModel

if TYPE_CHECKING:
    from gclib.codes.base import GradientCode

__all__ = [
    "Coded",
    "Partial",
    "PartitionSum",
    "Contribution",
    "level_of",
    "partition_sum",
    "Finish",
    "Ask",
    "Decision",
    "Messages",
    "Codes",
    "ProgressView",
    "Scheme",
]


# ------------------------------------------------------------------------- what a worker sends
@dataclass(frozen=True, slots=True)
class Coded:
    """The coded message of level ``level``: ``Σ_{k ≤ s} B^(s)[i, W_i[k]] g_{W_i[k]}``."""

    level: int


@dataclass(frozen=True, slots=True)
class Partial:
    """The partial gradient of the worker's task ``task`` (0-based): ``g_{W_i[task]}``."""

    task: int


@dataclass(frozen=True, slots=True)
class PartitionSum:
    """The plain sum of the partial gradients of the worker's tasks ``tasks`` (0-based)."""

    tasks: tuple[int, ...]


Contribution = Coded | Partial | PartitionSum


def level_of(contribution: Contribution) -> int:
    """The level of a coded message, ``-1`` for any other contribution (as event logs write it)."""
    return contribution.level if isinstance(contribution, Coded) else -1


def partition_sum(partials: Sequence[np.ndarray]) -> np.ndarray:
    """The message of a :class:`PartitionSum`: ``Σ`` of the partial gradients, added in their
    order into a float array. Worker and master both add with it, so that a sum the master forms
    from partials it read equals, bit for bit, the one the worker would have sent."""
    total = np.array(partials[0], dtype=float)
    for partial in partials[1:]:
        total += partial
    return total


# ------------------------------------------------------------------------- master's decisions
@dataclass(frozen=True)
class Finish:
    """The master holds what it needs: combine the messages ``uses`` (``(worker, contribution)``
    pairs, in the order they are combined). ``level`` is the tolerance decoded with (``None`` for
    schemes without levels)."""

    level: int | None
    uses: tuple[tuple[int, Contribution], ...]

    @property
    def responders(self) -> tuple[int, ...]:
        """The workers whose messages are combined, each once, in order."""
        return tuple(dict.fromkeys(worker for worker, _ in self.uses))


@dataclass(frozen=True)
class Ask:
    """Ask each worker of ``requests`` for one message; finish with them once all are here."""

    level: int | None
    requests: tuple[tuple[int, Contribution], ...]

    @property
    def workers(self) -> tuple[int, ...]:
        return tuple(worker for worker, _ in self.requests)


Decision = Finish | Ask
#: the messages the master received: ``(worker, contribution) → array``
Messages = Mapping[tuple[int, Contribution], np.ndarray]
#: the gradient code of each level
Codes = Mapping[int, "GradientCode"]


class ProgressView:
    """A read-only view of what the master has seen in this iteration.

    Attributes:
        n: the number of workers.
        placement: ``placement[i] = W_i``.
        arrivals: ``arrivals[k]`` lists the workers in the order they reported ``k`` tasks done.
        reports: every ``(worker, k)``, task ``k`` (1-based) done, in the order it was reported.
        progress: the tasks each worker has reported.
        alive: whether each worker is still reachable.
        received: the contributions each worker's uploads have delivered.
        asked: the master's current request, when it re-plans after a loss (else ``None``).
    """

    __slots__ = ("n", "placement", "arrivals", "reports", "progress", "alive", "received", "asked")

    def __init__(
        self,
        n: int,
        placement: Sequence[Sequence[int]],
        arrivals: Sequence[Sequence[int]],
        reports: Sequence[tuple[int, int]],
        progress: Sequence[int],
        alive: Sequence[bool],
        received: Sequence[set[Contribution]],
        asked: Ask | None,
    ) -> None:
        self.n, self.placement, self.arrivals, self.reports = n, placement, arrivals, reports
        self.progress, self.alive, self.received, self.asked = progress, alive, received, asked

    def count(self, tasks: int) -> int:
        """How many workers reported ``tasks`` tasks (alive or not): a bound on what a level
        needing them can use, checked before the lists are built."""
        return len(self.arrivals[tasks]) if tasks < len(self.arrivals) else 0

    def reached(self, tasks: int, holding: Contribution | None = None) -> list[int]:
        """Workers that reported ``tasks`` tasks, in arrival order, that can still contribute:
        alive, or (with ``holding``) whose upload of ``holding`` is already here."""
        if tasks >= len(self.arrivals):
            return []
        return [
            w
            for w in self.arrivals[tasks]
            if (holding is not None and holding in self.received[w])
            or (holding is None and self.alive[w])
        ]

    def usable(self, tasks: int, contribution: Contribution) -> list[int]:
        """Workers that reported ``tasks`` tasks and are alive or already delivered
        ``contribution``, in arrival order."""
        if tasks >= len(self.arrivals):
            return []
        return [
            w for w in self.arrivals[tasks] if self.alive[w] or contribution in self.received[w]
        ]


# ------------------------------------------------------------------------------ the base class
@dataclass(frozen=True)
class Scheme(abc.ABC):
    """A scheme on the cyclic placement with windows of ``s_max + 1`` partitions.

    Subclasses are frozen dataclasses; two schemes are equal when they are of the same class with
    the same levels and ``s_max``.

    Attributes:
        levels: the tolerances the master may decode with (empty for schemes without levels).
        s_max: the placement's largest tolerance; every worker stores ``s_max + 1`` partitions.
    """

    levels: tuple[int, ...]
    s_max: int

    #: the keyword of the scheme's names (``"gc"`` for ``gc:2``)
    keyword: ClassVar[str]
    #: whether the master recovers the full gradient exactly
    exact: ClassVar[bool] = True
    #: whether a worker sends a progress signal after each task
    signals: ClassVar[bool] = False
    #: whether the master asks for the messages it combines (else they come unasked)
    requests: ClassVar[bool] = False

    # -------------------------------------------------------------------------------- naming
    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The scheme's name as the command line and JSON spell it (``gc:2``)."""

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """The scheme's name in tables, legends and text (``GC(2)``)."""

    def __str__(self) -> str:
        return self.name

    # ----------------------------------------------------------------------------- structure
    @property
    def tasks_per_worker(self) -> int:
        """The most tasks a worker computes in one iteration."""
        return max(self.levels) + 1

    def check_workers(self, n: int) -> None:
        """Raise ``ValueError`` when the scheme cannot run on ``n`` workers."""
        if self.s_max >= n:
            raise ValueError(f"Argument 's_max' must be below n = {n}, not {self.s_max}.")
        if self.levels and max(self.levels) >= n:
            raise ValueError(f"Scheme {self.label} needs tolerances below n = {n}.")

    def codes(self, n: int, seed: int | None = None) -> dict[int, GradientCode]:
        """The gradient code of each level a worker's coded messages use (none by default)."""
        return {}

    # ---------------------------------------------------------------------------- worker side
    def eager_upload(self, tasks_done: int) -> Contribution | None:
        """What a worker uploads unasked right after finishing task number ``tasks_done``."""
        return None

    def published(self, tasks_done: int) -> Contribution | None:
        """What a worker leaves, right after finishing task number ``tasks_done``, where the
        master can read it without asking (memory they share): the message it may be asked for,
        or a part of one (nothing by default)."""
        return None

    @property
    def eager_tasks(self) -> tuple[int, ...]:
        """The task counts after which a worker uploads unasked."""
        return tuple(
            k for k in range(1, self.tasks_per_worker + 1) if self.eager_upload(k) is not None
        )

    # ---------------------------------------------------------------------------- master side
    @abc.abstractmethod
    def decide(self, view: ProgressView) -> Decision | None:
        """The master's decision on what it has seen (``None``: wait for more)."""

    @abc.abstractmethod
    def feasible(self, view: ProgressView) -> bool:
        """Whether the live workers could still finish if they computed their whole window."""

    @abc.abstractmethod
    def combine(self, n: int, finish: Finish, messages: Messages, codes: Codes) -> np.ndarray:
        """The gradient from the messages ``finish`` uses (raises ``NotDecodableError``)."""

    # ------------------------------------------------------------------------------- analysis
    def conditions(self, n: int) -> tuple[tuple[int, int, int], ...] | None:
        """The dynamic program's reduction: ``(s, m, c)`` = finish at level ``s`` once ``c``
        workers have ``m`` tasks done, sorted by ``m``; ``None`` when the latency is not of that
        form."""
        return None

    @property
    def covers(self) -> bool:
        """Whether the raw latency is the coverage time ``T_cov`` of the placement."""
        return False

    # Communication (the model's costs). A control message (signal, request, stop) takes
    # ``signal_cost`` one way; an upload occupies a link for ``upload_cost``, on the worker's own
    # link or, with ``model.shared_link``, on the master's single link, one upload at a time.
    # A scheme that asks decides when the decisive signal arrives (``T + c``); its request and
    # stop reach the workers at ``T + 2c``, whose uploads follow. A scheme whose uploads come
    # unasked decides when the decisive upload arrives; its stop reaches the workers ``c`` later.
    def stop_offset(self, model: RuntimeModel) -> float:
        """``δ``: the time from the raw latency ``T`` (of the upload arrivals, for a scheme whose
        uploads come unasked) to the moment the workers stop."""
        return 2 * model.signal_cost if self.requests else model.signal_cost

    def latency_offset(self, model: RuntimeModel) -> float | None:
        """The latency minus the raw latency ``T`` of the finish times, when it is a constant
        (``None`` when it depends on the run: uploads queueing on a shared link)."""
        if model.shared_link and model.upload_cost > 0.0:
            return None
        if self.requests:
            return 2 * model.signal_cost + model.upload_cost
        return model.upload_cost

    def upload_arrivals(self, finish: np.ndarray, model: RuntimeModel) -> np.ndarray:
        """When each unasked upload reaches the master, ``(iterations, n, tasks)`` like
        ``finish`` (entries of tasks without an upload are left as they are).

        On the workers' own links an upload arrives ``upload_cost`` after its task; on a shared
        link the uploads queue in the order they are sent: the ``k``-th (0-based) of the sorted
        send times ``x`` arrives at ``a_k = max(x_k, a_{k−1}) + u``, that is
        ``a_k = (k+1) u + max_{j≤k}(x_j − j u)``.
        """
        tasks = [k - 1 for k in self.eager_tasks]
        arrivals = np.array(finish, dtype=float, copy=True)
        if not tasks:
            return arrivals
        u = model.upload_cost
        if not model.shared_link or u == 0.0:
            arrivals[..., tasks] = finish[..., tasks] + u
            return arrivals
        sends = finish[..., tasks].reshape(finish.shape[0], -1)
        order = np.argsort(sends, axis=1, kind="stable")
        ordered = np.take_along_axis(sends, order, axis=1)
        index = np.arange(ordered.shape[1])
        queued = np.maximum.accumulate(ordered - index * u, axis=1) + (index + 1) * u
        queued = np.where(np.isfinite(ordered), queued, np.inf)
        result = np.empty_like(sends)
        np.put_along_axis(result, order, queued, axis=1)
        arrivals[..., tasks] = result.reshape(finish[..., tasks].shape)
        return arrivals

    def requested_uploads(self, n: int, level: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Uploads the master asks for in sampled iterations (none for schemes that do not ask).

        Args:
            n: the number of workers.
            level: shape ``(iterations,)``, the level decided at (``-1``: never decided).
            known: shape ``(iterations, n)``, the tasks each worker had reported at the decision.
        """
        return np.zeros(level.shape, dtype=np.int64)

    @abc.abstractmethod
    def sample_raw(self, finish: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised raw latency ``T`` and level (``-1``: none) of sampled finish times.

        Args:
            finish: shape ``(iterations, n, tasks)``, the time each worker finishes each task.
        """

    # --------------------------------------------------------------------------------- helpers
    @staticmethod
    def _kth_smallest(values: np.ndarray, rank: int) -> np.ndarray:
        """The ``rank``-th smallest (1-based) along the last axis."""
        return np.partition(values, rank - 1, axis=-1)[..., rank - 1]
