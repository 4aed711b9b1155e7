"""``gclib demo``: the real multiprocess worker pool against the exact theory.

A least-squares problem on seeded synthetic data is solved by gradient descent through the worker
pool, ``--iterations`` steps per scheme, with stragglers and crashes injected from the runtime
model. For every scheme the command reports the measured latency (mean and 95th percentile over
the iterations that finished), the predicted mean ``E[T | T < ∞]`` of the exact theory (Monte
Carlo for streaming, which has no closed form), the levels used, the computation load and the
communication, the failures and the respawned workers.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from gclib.analysis.prediction import Prediction, predict
from gclib.cli.options import (
    UsageError,
    add_model_arguments,
    add_output_arguments,
    add_placement_arguments,
    check_plot_path,
    emit_json,
    levels_from_args,
    model_from_args,
    positive_int,
    real,
    schemes_from_args,
    write_plot,
)
from gclib.model import RuntimeModel
from gclib.schemes.parse import Scheme

__all__ = ["add_parser", "run", "SchemeRun"]

_DEFAULT_SCHEMES = "nested,uncoded,gc:2,gc:4,streaming"
_ROWS_PER_PARTITION = 20
_FEATURES = 10


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="run the real multiprocess worker pool and compare it with the theory",
        description=(
            "Solve a seeded least-squares problem by gradient descent on the real multiprocess "
            "worker pool, with stragglers and crashes injected from the runtime model, and "
            "compare the measured latency of every scheme with the exact theory."
        ),
        epilog=(
            "Latencies are in model time units (wall seconds / --time-unit), from the broadcast "
            "until the master holds what it needs. Means, p95, tasks and uploads are over the "
            "iterations that finished; 'failed' counts those that could not finish before the "
            "deadline. The prediction is the exact E[T | T < inf] (streaming: Monte Carlo)."
        ),
    )
    add_placement_arguments(parser, workers=10, smax=4, schemes=_DEFAULT_SCHEMES)
    add_model_arguments(parser)
    group = parser.add_argument_group("run")
    group.add_argument(
        "--iterations", type=positive_int, default=20, help="iterations per scheme (default 20)"
    )
    group.add_argument(
        "--time-unit",
        type=real,
        default=0.005,
        help="seconds per model time unit (default 0.005)",
    )
    group.add_argument(
        "--deadline",
        type=real,
        default=None,
        help="per-iteration deadline in model time units (default: derived from the model)",
    )
    group.add_argument("--seed", type=int, default=0, help="seed of data, model and codes")
    add_output_arguments(parser)
    parser.set_defaults(handler=run, subparser=parser)
    return parser


class _Problem(NamedTuple):
    """The demo's least-squares problem: partitions, stacked rows and targets, step size."""

    partitions: list[tuple[np.ndarray, np.ndarray]]
    features: np.ndarray
    targets: np.ndarray
    step: float


@dataclass
class SchemeRun:
    """What the pool measured for one scheme."""

    scheme: Scheme
    latencies: list[float] = field(default_factory=list)  # finished iterations only
    levels: Counter = field(default_factory=Counter)
    tasks_per_worker: list[float] = field(default_factory=list)
    uploads: list[int] = field(default_factory=list)
    signals: list[int] = field(default_factory=list)
    decode_errors: list[float] = field(default_factory=list)
    failed: int = 0
    respawns: int = 0
    iterations: int = 0
    initial_loss: float = math.nan
    final_loss: float = math.nan

    def summary(self, predicted: Prediction) -> dict[str, Any]:
        finished = bool(self.latencies)
        return {
            "iterations": self.iterations,
            "mean_latency": float(np.mean(self.latencies)) if finished else None,
            "predicted_mean_latency": predicted.mean_latency,
            "predicted_failure_probability": predicted.failure_probability,
            "p95_latency": float(np.percentile(self.latencies, 95)) if finished else None,
            "max_decode_error": float(max(self.decode_errors)) if finished else None,
            "mean_tasks_per_worker": float(np.mean(self.tasks_per_worker)) if finished else None,
            "uploads_per_iteration": float(np.mean(self.uploads)) if finished else None,
            "failed": self.failed,
            "respawns": self.respawns,
        }


def _check_args(args: argparse.Namespace) -> None:
    if not (0.0 < args.time_unit < math.inf):
        raise UsageError(f"--time-unit must be a positive number of seconds, got {args.time_unit}")
    if args.deadline is not None and not (0.0 < args.deadline < math.inf):
        raise UsageError(f"--deadline must be a positive number, got {args.deadline}")
    check_plot_path(args.plot)


def run(args: argparse.Namespace) -> int:
    """Run the demo for the parsed arguments; returns the exit status."""
    model = model_from_args(args)
    levels = levels_from_args(args)
    schemes = schemes_from_args(args)
    _check_args(args)
    n = args.workers

    from gclib.runtime.pool import WorkerPool
    from gclib.training.objectives import (
        least_squares_gradient,
        least_squares_loss,
        least_squares_problem,
    )

    data_seed, pool_seed, simulation_seed = np.random.SeedSequence(args.seed).generate_state(3)
    partitions, _ = least_squares_problem(n, _ROWS_PER_PARTITION, _FEATURES, seed=int(data_seed))
    features = np.vstack([x for x, _ in partitions])
    targets = np.concatenate([y for _, y in partitions])
    step = 1.0 / np.linalg.eigvalsh(features.T @ features)[-1]  # 1/L for ½‖Xw − y‖²
    problem = _Problem(partitions, features, targets, step)

    runs = {scheme.name: SchemeRun(scheme) for scheme in schemes}
    with WorkerPool(
        partitions,
        least_squares_gradient,
        s_max=args.smax,
        levels=levels,
        model=model,
        time_unit=args.time_unit,
        deadline=args.deadline,
        seed=int(pool_seed),
    ) as pool:
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread: the pool forks when it respawns workers
        bar = tqdm(
            total=len(schemes) * args.iterations,
            desc="gclib demo",
            unit="it",
            file=sys.stderr,
            disable=None,  # only on a terminal
            leave=False,
        )
        interrupted = False
        try:
            for scheme in schemes:
                record = runs[scheme.name]
                params = np.zeros(_FEATURES)
                record.initial_loss = least_squares_loss(params, (features, targets))
                try:
                    for _ in range(args.iterations):
                        params = _iterate(pool, record, scheme, params, problem)
                        bar.set_postfix_str(scheme.name, refresh=False)
                        bar.update()
                except KeyboardInterrupt:
                    interrupted = True  # keep what was measured: summarise it below
                record.final_loss = least_squares_loss(params, (features, targets))
                if interrupted:
                    break
        finally:
            bar.close()

    predictions = {
        name: predict(n, run_.scheme, model, int(simulation_seed))
        for name, run_ in runs.items()
        if run_.iterations
    }
    if interrupted:
        runs = {name: run_ for name, run_ in runs.items() if run_.iterations}
        done = sum(run_.iterations for run_ in runs.values())
        print(f"interrupted: summarising the {done} iterations that finished", file=sys.stderr)
        predictions = {name: predictions[name] for name in runs}
    summaries = {name: run_.summary(predictions[name]) for name, run_ in runs.items()}
    if args.json:
        emit_json({"schemes": summaries, **({"interrupted": True} if interrupted else {})})
    else:
        _print_table(args, model, levels, runs, summaries, predictions)
    if (
        args.plot is not None
        and runs
        and not write_plot(args.plot, lambda: _plot(args.plot, summaries, runs))
    ):
        return 1
    return 130 if interrupted else 0


def _iterate(
    pool: Any, record: SchemeRun, scheme: Scheme, params: np.ndarray, problem: _Problem
) -> np.ndarray:
    """One gradient step of ``scheme`` on the pool, recorded; returns the next parameters."""
    from gclib.training.objectives import least_squares_gradient

    partitions, features, targets, step = problem
    truth = features.T @ (features @ params - targets)
    # the decoding error relative to the partial gradients: meaningful also near the optimum
    scale = sum(float(np.linalg.norm(least_squares_gradient(params, p))) for p in partitions)
    result = pool.run_iteration(params, scheme, true_gradient=truth, error_scale=scale or None)
    record.iterations += 1
    record.respawns += len(result.respawned)
    if result.failed:
        record.failed += 1
        return params
    record.latencies.append(result.latency)
    record.levels[result.level] += 1
    record.tasks_per_worker.append(float(np.mean(result.tasks_done)))
    record.uploads.append(result.uploads)
    record.signals.append(result.signals)
    record.decode_errors.append(result.decode_error)
    return params - step * result.gradient


def _print_table(
    args: argparse.Namespace,
    model: RuntimeModel,
    levels: tuple[int, ...],
    runs: dict[str, SchemeRun],
    summaries: dict[str, dict[str, Any]],
    predictions: dict[str, Prediction],
) -> None:
    def number(value: float | None, spec: str = ".2f") -> str:
        return "-" if value is None else format(value, spec)

    print(
        f"worker pool: n={args.workers}, s_max={args.smax}, S={{{','.join(map(str, levels))}}}, "
        f"{model.describe()}, time unit {args.time_unit:g} s, {args.iterations} iterations each"
    )
    header = (
        f"{'scheme':<11}{'mean':>8}{'p95':>8}{'predicted':>11}{'ratio':>7}  {'levels':<18}"
        f"{'tasks/w':>8}{'uploads':>8}{'signals':>8}{'failed':>7}{'(pred)':>7}{'respawn':>8}"
        f"{'max err':>10}{'loss':>10}"
    )
    print(header)
    print("-" * len(header))
    notes = set()
    for name, run_ in runs.items():
        summary = summaries[name]
        prediction = predictions[name]
        predicted = prediction.mean_latency
        mark = ""
        if prediction.method != "exact":
            mark = "*"
            notes.add("* predicted by Monte Carlo (no exact formula)")
        ratio = None
        if summary["mean_latency"] is not None and predicted:
            ratio = summary["mean_latency"] / predicted
        histogram = " ".join(f"{lvl}:{count}" for lvl, count in sorted(run_.levels.items()))
        if not run_.scheme.levels:
            histogram = "-"
        signals = float(np.mean(run_.signals)) if run_.signals else None
        loss = run_.final_loss / run_.initial_loss if run_.initial_loss else None
        print(
            f"{name:<11}{number(summary['mean_latency']):>8}{number(summary['p95_latency']):>8}"
            f"{number(predicted) + mark:>11}{number(ratio, '.3f'):>7}  {histogram or '-':<18}"
            f"{number(summary['mean_tasks_per_worker']):>8}"
            f"{number(summary['uploads_per_iteration'], '.1f'):>8}{number(signals, '.1f'):>8}"
            f"{summary['failed']:>7}"
            f"{number(prediction.failure_probability * run_.iterations, '.1f'):>7}"
            f"{summary['respawns']:>8}"
            f"{number(summary['max_decode_error'], '.1e'):>10}{number(loss, '.2e'):>10}"
        )
    print(
        "latencies in model time units over finished iterations (predicted: E[T | T < inf]); "
        "levels: level:count;\n(pred): failures the theory expects; max err: ‖decoded − true "
        "gradient‖ / Σ_j ‖g_j‖; loss: final / initial least-squares loss"
    )
    for note in sorted(notes):
        print(note)


def _plot(path: str, summaries: dict[str, dict[str, Any]], runs: dict[str, SchemeRun]) -> None:
    """Measured mean latency (95% confidence interval) beside the predicted mean, per scheme."""
    from gclib.plotting.latency import plot_scheme_means
    from gclib.plotting.style import new_figure, save_figure

    fig, ax = new_figure()
    plot_scheme_means(
        ax,
        {name: run_.latencies for name, run_ in runs.items()},
        reference={name: summary["predicted_mean_latency"] for name, summary in summaries.items()},
    )
    ax.set_title("Worker pool: measured against predicted")
    save_figure(fig, path, close=True)
