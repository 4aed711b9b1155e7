"""Distributed full-batch gradient descent through the worker pool, for every scheme.

The model is multinomial logistic (softmax) regression, in the notation of the book: on the
training set ``D`` of pairs ``(x, y)``, features ``x ∈ R^d`` (standardised, and a constant 1 for
the intercept) and a label ``y ∈ {0, …, classes − 1}``, with parameters ``θ ∈ R^{d×classes}``,
the objective is

    L(θ) = (1/|D|) Σ_{(x,y)∈D} ℓ(θ; x, y) + (λ/2) ‖θ̃‖²,   ℓ(θ; x, y) = log Σ_c exp(xᵀ θ_c) − xᵀ θ_y,

where ``θ̃`` is ``θ`` without its intercept row. The training set is split into ``n`` partitions
``D_j``; the partial gradient ``g_j = Σ_{(x,y)∈D_j} ∇ℓ(θ; x, y) = X_jᵀ (softmax(X_j θ) − Y_j)``
is what a worker computes, the master recovers ``g = Σ_j g_j`` through the scheme, and the step
is

    θ ← θ − η (g / |D| + λ θ̃).

The L2 term needs no data, so the master adds it. A scheme that recovers ``g`` exactly (uncoded,
GC(s), the nested code, streaming) follows the trajectory of single-process gradient descent
step by step; ignore(s) follows a perturbed one. An iteration that misses its deadline (or
loses too many workers) leaves ``θ`` unchanged and is counted as failed.

Every scheme sees the same straggler and crash pattern in its ``k``-th iteration (common random
numbers): the comparison is paired, iteration by iteration.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gclib._verify import check_instance, check_integer, check_real
from gclib.analysis.prediction import predict_within
from gclib.model import RuntimeModel
from gclib.schemes.parse import Scheme, parse_levels, resolve_schemes
from gclib.training.data import TrainingData
from gclib.training.objectives import softmax_gradient
from gclib.training.softmax import DEFAULT_L2, SoftmaxObjective

__all__ = [
    "DEFAULT_ITERATIONS",
    "DEFAULT_LEARNING_RATE",
    "DIVERGENCE_FACTOR",
    "TrainingRun",
    "gradient_descent",
    "train",
]

# Full-batch step size and L2 weight of the objective above: on the digits data single-process
# gradient descent passes 90% test accuracy after a handful of steps and keeps lowering the loss.
DEFAULT_LEARNING_RATE = 0.5
DEFAULT_ITERATIONS = 50
# A training whose loss is no longer finite, or exceeds this multiple of its initial value, has
# diverged (a step too large for the problem): :func:`train` stops the scheme there. Gradient
# descent from 0 with a workable step stays far below it (on digits at most about 16 times, at
# step 100, 200 times the default), one that diverges passes it within a few steps.
DIVERGENCE_FACTOR = 100.0


def _check_learning_rate(value: object) -> float:
    return check_real(value, "learning_rate", positive=True)


def gradient_descent(
    objective: SoftmaxObjective,
    iterations: int = DEFAULT_ITERATIONS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
) -> np.ndarray:
    """Single-process full-batch gradient descent ``θ_{k+1} = θ_k − η ∇L(θ_k)`` from ``θ_0 = 0``.

    The reference every exact scheme of :func:`train` must follow.

    Returns:
        The trajectory, shape ``(iterations + 1, d, classes)``; entry ``k`` is ``θ_k``.
    """
    iterations = check_integer(iterations, "iterations", 1)
    learning_rate = _check_learning_rate(learning_rate)
    params = objective.initial_params()
    trajectory = [params]
    for _ in range(iterations):
        params = params - learning_rate * objective.gradient(params)
        trajectory.append(params)
    return np.stack(trajectory)


# ---------------------------------------------------------------------------------- training
@dataclass
class TrainingRun:
    """The record of one scheme's training run.

    Entry ``0`` of every per-step list is the starting point ``θ_0 = 0`` (time 0); entry ``k``
    the state after iteration ``k``.

    Attributes:
        scheme: the scheme's name.
        loss: ``L(θ_k)``.
        train_accuracy, test_accuracy: accuracy of ``θ_k`` on the training and test rows.
        latency: the latency of iteration ``k`` in model time units, as the pool measured it
            (``inf`` for a failed iteration); entry 0 is 0.
        wall_clock: cumulated measured seconds, from each broadcast until the master held the
            decoded gradient (the pool's latency × ``time_unit`` plus decoding); a failed
            iteration counts the seconds until the master gave up.
        model_time: the same in model time units (``wall_clock / time_unit``).
        elapsed: cumulated seconds of the whole iterations, including the closing handshakes
            with the workers (but not the evaluation of loss and accuracy).
        gradient_error: ``‖ĝ − g‖ / Σ_j ‖g_j‖`` of the decoded sum ``ĝ`` of the partial
            gradients against the true one ``g`` (relative to the partial gradients the master
            combines, so that it measures decoding also where ``g`` nearly vanishes; ``nan``
            for a failed iteration); entry 0 is 0.
        level: the level decoded with (``-1`` for streaming and failed iterations; ``None``
            in :meth:`summary`, the JSON convention for an absent value).
        failed_iterations: the indices ``k ≥ 1`` of the iterations that failed.
        params: the trajectory ``θ_k``, shape ``(iterations + 1, d, classes)``.
        lost: worker processes that died (crash injection) during the run.
        time_unit: seconds per model time unit.
        predicted_latency: the predicted mean latency of the iterations that finish,
            ``E[T | T ≤ deadline]`` (``E[T | T < ∞]`` without a deadline): exact, or by Monte
            Carlo where no exact theory applies (``None`` if none can finish).
        predicted_failure_probability: ``P(T > deadline)`` (``P(T = ∞)`` without a deadline).
        diverged: the iteration after which the loss was no longer finite or exceeded
            ``DIVERGENCE_FACTOR`` (100) times its initial value, where the run stopped (``None``
            if it did not diverge).
    """

    scheme: str
    time_unit: float
    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    wall_clock: list[float] = field(default_factory=list)
    model_time: list[float] = field(default_factory=list)
    elapsed: list[float] = field(default_factory=list)
    gradient_error: list[float] = field(default_factory=list)
    level: list[int] = field(default_factory=list)
    failed_iterations: list[int] = field(default_factory=list)
    params: np.ndarray | None = field(default=None, repr=False)
    lost: int = 0
    predicted_latency: float | None = None
    predicted_failure_probability: float | None = None
    diverged: int | None = None

    @property
    def iterations(self) -> int:
        return len(self.loss) - 1

    @property
    def failed(self) -> int:
        """The number of failed iterations (no update)."""
        return len(self.failed_iterations)

    @property
    def mean_latency(self) -> float:
        """Mean latency of the iterations that finished, in model time units."""
        finished = [t for t in self.latency[1:] if math.isfinite(t)]
        return float(np.mean(finished)) if finished else math.inf

    @property
    def max_gradient_error(self) -> float:
        """The largest relative gradient error over the iterations that finished."""
        errors = [e for e in self.gradient_error[1:] if not math.isnan(e)]
        return max(errors) if errors else math.nan

    def time_to_accuracy(self, target: float = 0.9) -> float:
        """The wall-clock seconds until the test accuracy first reached ``target`` (``inf`` if
        it never did)."""
        for accuracy, moment in zip(self.test_accuracy, self.wall_clock, strict=True):
            if accuracy >= target:
                return moment
        return math.inf

    def summary(self) -> dict[str, Any]:
        """The run as plain Python values (the ``--json`` payload of ``gclib train``)."""
        return {
            "loss": list(self.loss),
            "train_accuracy": list(self.train_accuracy),
            "test_accuracy": list(self.test_accuracy),
            "latency": list(self.latency),
            "wall_clock": list(self.wall_clock),
            "model_time": list(self.model_time),
            "elapsed": list(self.elapsed),
            "gradient_error": list(self.gradient_error),
            "level": [None if level < 0 else level for level in self.level],  # absent: null
            "failed": self.failed,
            "failed_iterations": list(self.failed_iterations),
            "lost": self.lost,
            "mean_latency": self.mean_latency,
            "predicted_mean_latency": self.predicted_latency,
            "predicted_failure_probability": self.predicted_failure_probability,
            "max_gradient_error": self.max_gradient_error,
            "time_to_90": self.time_to_accuracy(0.9),
        }

    def _truncate(self, steps: int) -> None:
        """Keep the first ``steps`` entries of every per-step list, and no fewer than any list
        holds: an interrupt may land between the updates of one iteration."""
        per_step = [
            self.loss, self.train_accuracy, self.test_accuracy, self.latency, self.wall_clock,
            self.model_time, self.elapsed, self.gradient_error, self.level,
        ]  # fmt: skip
        steps = min(steps, *(len(values) for values in per_step))
        for values in per_step:
            del values[steps:]
        self.failed_iterations = [k for k in self.failed_iterations if k < steps]

    def _record(self, objective: SoftmaxObjective, params: np.ndarray) -> None:
        self.loss.append(objective.loss(params))
        self.train_accuracy.append(objective.accuracy(params, "train"))
        self.test_accuracy.append(objective.accuracy(params, "test"))


def train(
    data: TrainingData,
    schemes: str | Scheme | Sequence[str | Scheme],
    *,
    workers: int = 10,
    s_max: int = 4,
    levels: Sequence[int] | str | None = None,
    model: RuntimeModel,
    iterations: int = DEFAULT_ITERATIONS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    l2: float = DEFAULT_L2,
    time_unit: float = 0.005,
    deadline: float | None = None,
    seed: int | None = 0,
    progress: bool | None = False,
    start_method: str | None = None,
    stop_on_interrupt: bool = False,
    backend: Any = None,
) -> dict[str, TrainingRun]:
    """Train softmax regression on ``data`` by distributed gradient descent through the pool.

    One :class:`~gclib.WorkerPool` of ``workers`` processes holds the training partitions
    on the cyclic placement (worker ``i`` receives ``D_i, …, D_{i+s_max}`` once). Each scheme
    runs ``iterations`` iterations from ``θ_0 = 0``; every iteration broadcasts ``θ``, lets the
    pool deliver ``g`` under the scheme with injected stragglers and crashes, and steps
    ``θ ← θ − η (g/|D| + λ θ̃)``; a failed iteration skips the step.

    Args:
        data: the training and test rows (see :func:`load_dataset`).
        schemes: scheme names (``"nested"``, ``"uncoded"``, ``"gc:S"``, ``"ignore:S"``,
            ``"streaming"``), a comma list of them, or :class:`~gclib.Scheme` objects.
        workers: ``n``, the number of workers and of data partitions.
        s_max: the largest tolerance; each worker stores ``s_max + 1`` partitions.
        levels: the nested code's level set (default ``0..s_max``).
        model: the runtime model that drives the straggler and crash injection.
        iterations: gradient steps per scheme.
        learning_rate: ``η``.
        l2: ``λ``.
        time_unit: seconds per model time unit.
        deadline: per-iteration deadline in model time units (default: the pool's).
        seed: seed of the injected task times and of the random code constructions; the
            ``k``-th iteration of every scheme sees the same draw.
        progress: show a progress bar on standard error (``None``: only on a terminal).
        start_method: the pool's process start method.
        stop_on_interrupt: on Ctrl-C (``KeyboardInterrupt``), at any moment (the pool's
            start included), end the training there and return what finished instead of
            raising: the interrupted scheme's run holds the iterations that completed, and the
            schemes that had not started are left out.
        backend: the pool's transport (default: local processes; ``DaskBackend(client)`` runs
            the workers on a Dask cluster), see :class:`~gclib.WorkerPool`.

    Returns:
        Scheme name → :class:`TrainingRun`, in the order given. A scheme whose loss diverges
        (more than ``DIVERGENCE_FACTOR`` = 100 times its initial value) stops there, its
        ``diverged`` set; the others go on.
    """
    from gclib.runtime.pool import WorkerPool

    if not isinstance(data, TrainingData):
        raise ValueError(f"Argument 'data' must be a TrainingData, not {type(data).__name__}.")
    check_instance(model, "model", RuntimeModel)
    workers = check_integer(workers, "workers", 1)
    iterations = check_integer(iterations, "iterations", 1)
    learning_rate = _check_learning_rate(learning_rate)
    if (
        isinstance(s_max, bool)
        or not isinstance(s_max, int | np.integer)
        or not (0 <= s_max < workers)
    ):
        raise ValueError(
            f"Argument 's_max' must be an integer in [0, workers) = [0, {workers}), not {s_max!r}."
        )
    if len(data.train_labels) < workers:
        raise ValueError(
            f"Argument 'workers' must be at most the number of training rows "
            f"{len(data.train_labels)}, not {workers}."
        )
    model.check_workers(workers)
    level_set = parse_levels(levels, int(s_max))
    resolved = resolve_schemes(schemes, int(s_max), level_set, workers)
    objective = SoftmaxObjective(data, l2)
    partitions = data.partitions(workers)
    seeds = np.random.SeedSequence(seed)
    pool_seed, sample_seed, simulation_seed = seeds.spawn(3)
    sample_seeds = sample_seed.spawn(iterations)
    tasks = int(s_max) + 1

    from tqdm import tqdm

    bar = tqdm(
        total=len(resolved) * iterations,
        desc="train",
        unit="it",
        file=sys.stderr,
        disable=None if progress is None else not progress,
        leave=False,
    )
    runs: dict[str, TrainingRun] = {}
    try:
        with WorkerPool(
            partitions,
            softmax_gradient,
            s_max=int(s_max),
            levels=level_set,
            model=model,
            time_unit=time_unit,
            deadline=deadline,
            seed=np.random.default_rng(pool_seed),
            start_method=start_method,
            backend=backend,
        ) as pool:
            for scheme in resolved:
                bar.set_description(scheme.name)
                run = TrainingRun(scheme.name, pool.time_unit)
                prediction = predict_within(workers, scheme, model, deadline, simulation_seed)
                run.predicted_latency = prediction.mean_latency
                run.predicted_failure_probability = prediction.failure_probability
                params = objective.initial_params()
                trajectory = [params]
                run._record(objective, params)
                run.latency.append(0.0)
                run.wall_clock.append(0.0)
                run.model_time.append(0.0)
                run.elapsed.append(0.0)
                run.gradient_error.append(0.0)
                run.level.append(-1)
                interrupted = False
                try:
                    for k in range(1, iterations + 1):
                        # the same task times for every scheme in iteration k
                        sample = model.sample(
                            workers, tasks, np.random.default_rng(sample_seeds[k - 1])
                        )
                        begin = time.perf_counter()
                        result = pool.run_iteration(params, scheme, sample=sample, check=True)
                        spent = time.perf_counter() - begin
                        seconds = result.wall_time + result.decode_time
                        run.wall_clock.append(run.wall_clock[-1] + seconds)
                        run.model_time.append(run.model_time[-1] + seconds / pool.time_unit)
                        run.elapsed.append(run.elapsed[-1] + spent)
                        run.lost += len(result.lost)
                        if result.failed:
                            run.failed_iterations.append(k)
                            run.latency.append(math.inf)
                            run.gradient_error.append(math.nan)
                            run.level.append(-1)
                        else:
                            run.latency.append(result.latency)
                            run.gradient_error.append(float(result.decode_error))
                            run.level.append(-1 if result.level is None else int(result.level))
                            step = objective.gradient_from_sum(params, result.gradient)
                            params = params - learning_rate * step
                        trajectory.append(params)
                        run._record(objective, params)
                        bar.update()
                        if not run.loss[-1] <= DIVERGENCE_FACTOR * run.loss[0]:
                            run.diverged = k  # nan and inf included: no step can follow
                            break
                except KeyboardInterrupt:
                    if not stop_on_interrupt:
                        raise
                    interrupted = True
                    run._truncate(len(trajectory))
                run.params = np.stack(trajectory[: run.iterations + 1])
                runs[scheme.name] = run
                if interrupted:
                    break
    except KeyboardInterrupt:  # while the pool starts or closes, or between two schemes
        if not stop_on_interrupt:
            raise
    finally:
        bar.close()
    return runs
