"""The runtime and straggler model shared by the exact theory, the simulator and the worker pool.

Task ``k`` of worker ``i`` takes ``(a + E_{i,k}) · f_i`` time units with ``E_{i,k} ~ Exp(μ)``
i.i.d. The slowdown ``f_i`` is drawn per worker and per iteration, either Bernoulli
(``f_i = κ`` with probability ``p``, else 1) or as a fixed count (exactly ``σ`` workers, chosen
uniformly, have ``f_i = κ``). ``κ = inf`` makes a straggler unresponsive. Independently, a worker
crashes with probability ``crash_prob``; the theory treats a crashed worker as unresponsive and
the worker pool kills its process during its first task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from gclib._verify import ArgumentTypeError, check_integer, check_probability, check_real

__all__ = ["RuntimeModel", "ModelSample", "WorkerGroup"]

# Every time of the model stays in floating-point range with room to spare and above the absolute
# tolerance (1e-12) of the quantile search: the mean task time a + 1/μ lies in this range (any
# time unit a task takes a moderate number of), the communication costs below its top, and a
# finite slowdown is at most _MAX_SLOWDOWN, beyond which a straggler's times swallow the others'
# in double precision (and the latency's quantiles span more orders of magnitude than a root
# search covers).
_TIME_RANGE = (1e-6, 1e100)
_MAX_SLOWDOWN = 1e15


@dataclass(frozen=True)
class WorkerGroup:
    """Workers whose slowdowns share one distribution.

    ``count`` workers, each with slowdown ``factors[j]`` with probability ``weights[j]``
    (``inf`` for unresponsive or crashed workers).
    """

    count: int
    weights: tuple[float, ...]
    factors: tuple[float, ...]


@dataclass(frozen=True)
class ModelSample:
    """Sampled task times of one or many iterations.

    Attributes:
        task_times: shape ``(..., n, tasks)``; ``task_times[..., i, k]`` is the duration of task
            ``k`` of worker ``i`` in model time units (``inf`` for an unresponsive worker).
        slowdowns: shape ``(..., n)``, the factors ``f_i`` (``inf`` for crashed workers).
        crashed: shape ``(..., n)``, whether the worker crashes in this iteration.
        crash_fraction: shape ``(..., n)``, the point of its first task (as a fraction of that
            task's unslowed duration) at which a crashing worker dies.
    """

    task_times: np.ndarray
    slowdowns: np.ndarray
    crashed: np.ndarray
    crash_fraction: np.ndarray

    @property
    def finish_times(self) -> np.ndarray:
        """Completion time of each worker's ``k``-th task: cumulative sums over tasks."""
        return np.cumsum(self.task_times, axis=-1)

    @classmethod
    def from_task_times(cls, task_times: Sequence[Sequence[float]] | np.ndarray) -> ModelSample:
        """A sample with explicitly chosen task durations (no crashes), for deterministic runs."""
        times = np.asarray(task_times, dtype=float)
        if times.ndim < 2 or times.shape[-1] < 1 or times.shape[-2] < 1:
            raise ValueError(
                "Argument 'task_times' must have shape (..., n, tasks) with n, tasks >= 1, "
                f"not {times.shape}."
            )
        if np.isnan(times).any() or (times <= 0).any():
            raise ValueError("Argument 'task_times' must hold positive durations (inf allowed).")
        slowdowns = np.where(np.isinf(times).any(axis=-1), np.inf, 1.0)
        crashed = np.zeros(times.shape[:-1], dtype=bool)
        return cls(times, slowdowns, crashed, np.zeros(times.shape[:-1]))


@dataclass(frozen=True, init=False)
class RuntimeModel:
    """Shifted-exponential task times with Bernoulli or fixed-count stragglers and crashes.

    Args:
        shift: ``a ≥ 0``, the deterministic part of a task's duration.
        rate: ``μ > 0``, the rate of the exponential part (``inf``: deterministic tasks); the
            mean task time ``a + 1/μ`` must lie in ``[1e-6, 1e100]``.
        straggler_prob: ``p``, the probability that a worker straggles in an iteration.
        slowdown: ``κ ≥ 1``, a straggler's slowdown factor, at most ``1e15`` (``math.inf``:
            unresponsive).
        stragglers: ``σ``, a fixed number of stragglers per iteration instead of ``p``.
        crash_prob: probability that a worker's process crashes in an iteration.
        upload_cost: the time one gradient-sized upload occupies a link (at most ``1e100``, as
            ``signal_cost``).
        signal_cost: the one-way time of a control message: a progress signal to the master, a
            request or a stop to a worker.
        shared_link: the master receives over one link, one upload at a time (``k`` uploads sent
            together arrive after ``k · upload_cost``); by default every worker has its own link.
    """

    shift: float
    rate: float
    straggler_prob: float
    slowdown: float
    stragglers: int | None
    crash_prob: float
    upload_cost: float
    signal_cost: float
    shared_link: bool

    def __init__(
        self,
        shift: float,
        rate: float,
        straggler_prob: float = 0.0,
        slowdown: float = 1.0,
        stragglers: int | None = None,
        crash_prob: float = 0.0,
        *,
        upload_cost: float = 0.0,
        signal_cost: float = 0.0,
        shared_link: bool = False,
    ) -> None:
        shift = check_real(shift, "shift", low=0.0)
        rate = check_real(rate, "rate", allow_inf=True, positive=True)
        if shift == 0.0 and math.isinf(rate):
            raise ValueError(
                "Arguments 'shift' and 'rate' must give tasks of positive duration: "
                "shift = 0 needs a finite rate."
            )
        if not _TIME_RANGE[0] <= shift + 1.0 / rate <= _TIME_RANGE[1]:
            raise ValueError(
                "Arguments 'shift' and 'rate' must give a mean task time shift + 1/rate in "
                f"[{_TIME_RANGE[0]:g}, {_TIME_RANGE[1]:g}], not {shift + 1.0 / rate:g}: "
                "choose a time unit of which a task takes a moderate number."
            )
        straggler_prob = check_probability(straggler_prob, "straggler_prob")
        slowdown = check_real(slowdown, "slowdown", low=1.0, allow_inf=True)
        if _MAX_SLOWDOWN < slowdown < math.inf:
            raise ValueError(
                f"Argument 'slowdown' must be at most {_MAX_SLOWDOWN:g} or inf, not {slowdown:g}: "
                "a straggler's task times would lie beyond what double precision adds to the "
                "others'; use 'slowdown' inf for unresponsive workers."
            )
        if stragglers is not None:
            stragglers = check_integer(stragglers, "stragglers", 0)
            if straggler_prob != 0.0:
                raise ValueError(
                    "Arguments 'stragglers' and 'straggler_prob' exclude each other: "
                    "give a fixed count or a probability, not both."
                )
            stragglers = int(stragglers)
        crash_prob = check_probability(crash_prob, "crash_prob")
        upload_cost = check_real(upload_cost, "upload_cost", low=0.0)
        signal_cost = check_real(signal_cost, "signal_cost", low=0.0)
        for name, cost in (("upload_cost", upload_cost), ("signal_cost", signal_cost)):
            if cost > _TIME_RANGE[1]:
                raise ValueError(
                    f"Argument {name!r} must be at most {_TIME_RANGE[1]:g}, not {cost:g}: "
                    "latencies add several of them."
                )
        if not isinstance(shared_link, bool | np.bool_):
            raise ArgumentTypeError(f"Argument 'shared_link' must be a bool, not {shared_link!r}.")
        for name, value in [
            ("shift", shift),
            ("rate", rate),
            ("straggler_prob", straggler_prob),
            ("slowdown", slowdown),
            ("stragglers", stragglers),
            ("crash_prob", crash_prob),
            ("upload_cost", upload_cost),
            ("signal_cost", signal_cost),
            ("shared_link", bool(shared_link)),
        ]:
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ distribution
    @property
    def mean_task_time(self) -> float:
        """``a + 1/μ``: the mean duration of an unslowed task."""
        return self.shift + 1.0 / self.rate

    def check_workers(self, n: int) -> None:
        """Raise ``ValueError`` when the model does not fit ``n`` workers."""
        if self.stragglers is not None and self.stragglers > n:
            raise ValueError(
                f"Argument 'stragglers' must be at most the number of workers n = {n}, "
                f"not {self.stragglers}."
            )

    def worker_groups(self, n: int) -> tuple[WorkerGroup, ...]:
        """Partition the ``n`` workers into groups of i.i.d. slowdowns (crashes folded in as inf).

        Bernoulli stragglers give one group of ``n``; a fixed count ``σ`` gives a group of ``σ``
        stragglers and one of ``n − σ`` regular workers.
        """
        self.check_workers(n)
        c = self.crash_prob
        if self.stragglers is None:
            p = self.straggler_prob
            raw = [((1 - c) * (1 - p), 1.0), ((1 - c) * p, self.slowdown), (c, math.inf)]
            groups = [(n, raw)]
        else:
            groups = [
                (self.stragglers, [(1 - c, self.slowdown), (c, math.inf)]),
                (n - self.stragglers, [(1 - c, 1.0), (c, math.inf)]),
            ]
        result = []
        for count, mixture in groups:
            if count == 0:
                continue
            merged: dict[float, float] = {}
            for weight, factor in mixture:
                if weight > 0.0:
                    merged[factor] = merged.get(factor, 0.0) + weight
            factors = tuple(sorted(merged))
            result.append(WorkerGroup(count, tuple(merged[f] for f in factors), factors))
        return tuple(result)

    def task_count_tails(
        self, t: np.ndarray | float, max_count: int, factor: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """``P(N(t) ≥ m)`` and ``P(N(t) < m)`` for ``m = 1 … max_count``, each of shape
        ``(max_count, len(t))``, for a worker with slowdown ``factor``.

        The ``m`` first tasks take ``f·(m a + Γ)`` with ``Γ ~ Gamma(m, μ)``, so ``P(N(t) ≥ m)`` is
        the Gamma(``m``, ``μ``) CDF at ``t/f − m a`` (a step at ``m a f`` when ``μ = inf``). Both
        tails come from the regularized incomplete gamma functions directly, so neither loses
        relative accuracy where it is small.
        """
        t = np.atleast_1d(np.asarray(t, dtype=float)).ravel()
        m = np.arange(1, max_count + 1, dtype=float)[:, None]
        shape = (max_count, t.size)
        if math.isinf(factor):
            return np.zeros(shape), np.ones(shape)
        with np.errstate(invalid="ignore"):
            x = t[None, :] / factor - m * self.shift
        if math.isinf(self.rate):
            # k·a·f counts as reached despite rounding in t / f
            done = x >= -1e-12 * np.maximum(1.0, m * self.shift)
            return done.astype(float), (~done).astype(float)
        with np.errstate(over="ignore"):  # μ x beyond the floats: the task is surely done
            y = self.rate * np.maximum(x, 0.0)
        m = np.broadcast_to(m, shape)
        return special.gammainc(m, y), special.gammaincc(m, y)

    def prob_tasks_done(self, t: np.ndarray | float, k: int, factor: float) -> np.ndarray:
        """``P(N(t) ≥ k)`` for a worker with slowdown ``factor``, of the shape of ``t``."""
        times = np.asarray(t, dtype=float)
        if k <= 0:
            return np.ones_like(times)
        return self.task_count_tails(times, k, factor)[0][k - 1].reshape(times.shape)

    # ------------------------------------------------------------------ sampling
    def sample_slowdowns(
        self, n: int, rng: np.random.Generator, size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw slowdowns ``f`` and crash flags, each of shape ``(n,)`` or ``(size, n)``."""
        self.check_workers(n)
        shape = (n,) if size is None else (size, n)
        if self.stragglers is None:
            slow = rng.random(shape) < self.straggler_prob
        else:
            # a uniformly random subset of exactly σ workers: the σ smallest of i.i.d. keys
            keys = rng.random(shape)
            ranks = np.argsort(np.argsort(keys, axis=-1), axis=-1)
            slow = ranks < self.stragglers
        crashed = rng.random(shape) < self.crash_prob
        slowdowns = np.where(slow, self.slowdown, 1.0)
        slowdowns = np.where(crashed, np.inf, slowdowns)
        return slowdowns, crashed

    def sample(
        self, n: int, tasks: int, rng: np.random.Generator, size: int | None = None
    ) -> ModelSample:
        """Sample the task times of ``n`` workers for ``tasks`` tasks each.

        With ``size=None`` one iteration (arrays ``(n, tasks)``), otherwise ``size`` independent
        iterations (``(size, n, tasks)``).
        """
        if not isinstance(tasks, int | np.integer) or isinstance(tasks, bool) or tasks < 1:
            raise ValueError(f"Argument 'tasks' must be a positive integer, not {tasks!r}.")
        if not isinstance(rng, np.random.Generator):
            raise ValueError(
                f"Argument 'rng' must be a numpy.random.Generator, not {type(rng).__name__}."
            )
        slowdowns, crashed = self.sample_slowdowns(n, rng, size)
        shape = slowdowns.shape + (int(tasks),)
        if math.isinf(self.rate):
            base = np.full(shape, self.shift)
        else:
            base = self.shift + rng.exponential(1.0 / self.rate, size=shape)
        unresponsive = np.isinf(slowdowns)[..., None]
        times = np.where(
            unresponsive, np.inf, base * np.where(unresponsive, 1.0, slowdowns[..., None])
        )
        crash_fraction = rng.random(slowdowns.shape)
        return ModelSample(times, slowdowns, crashed, crash_fraction)

    def describe(self) -> str:
        """A one-line human-readable summary."""
        if self.stragglers is None:
            strag = f"p={self.straggler_prob:g}"
        else:
            strag = f"σ={self.stragglers}"
        parts = [f"a={self.shift:g}", f"μ={self.rate:g}", strag, f"κ={self.slowdown:g}"]
        if self.crash_prob:
            parts.append(f"crash={self.crash_prob:g}")
        if self.upload_cost or self.signal_cost:
            parts.append(f"upload={self.upload_cost:g}, signal={self.signal_cost:g}")
        if self.shared_link:
            parts.append("shared link")
        return "RuntimeModel(" + ", ".join(parts) + ")"
