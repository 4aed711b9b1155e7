"""``gclib demo``: the real multiprocess worker pool against the exact theory.

A least-squares problem on seeded synthetic data is solved by gradient descent through the worker
pool, ``--iterations`` steps per scheme, with stragglers and crashes injected from the runtime
model. For every scheme the command reports the measured latency (mean and 95th percentile over
the iterations that finished), the predicted mean ``E[T | T ≤ deadline]`` of the exact theory
(``E[T | T < ∞]`` without ``--deadline``; Monte Carlo for a scheme without one), the levels used,
the computation load and the communication, the failures and the respawned workers.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from gclib.analysis.prediction import Prediction, has_exact_theory, predict_within
from gclib.cli.backends import add_backend_arguments, backend_from_args
from gclib.cli.interrupts import deferred, interrupt_received, interrupt_status
from gclib.cli.options import (
    JSON_CONVENTION,
    add_model_arguments,
    add_output_arguments,
    add_placement_arguments,
    add_timing_arguments,
    check_plot_path,
    check_timing,
    emit_json,
    integer,
    levels_from_args,
    model_from_args,
    positive_int,
    schemes_from_args,
    seed_from_args,
    write_plot,
)
from gclib.cli.resources import check_pool, check_theory
from gclib.cli.table import number, print_table
from gclib.model import ModelSample, RuntimeModel
from gclib.schemes.parse import Scheme

__all__ = ["add_parser", "run", "SchemeRun"]

_DEFAULT_SCHEMES = "nested, uncoded, gc:⌈s_max/2⌉, gc:s_max, streaming"
# the pool's own time per iteration may be this share of the predicted latency before the time
# unit counts as too fine for it: the measured latencies then run high by about that share, beyond
# the ±10 % within which the pool should reproduce the theory
_OVERHEAD_SHARE = 0.10
# iterations without work that measure the pool's overhead for each scheme
_OVERHEAD_ITERATIONS = 3
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
            "deadline. 'predicted' is the exact mean latency of the iterations that finish, "
            "E[T | T <= deadline] with --deadline and E[T | T < inf] without (the default "
            "deadline is generous: its chance of passing is negligible), and '(pred)' the "
            "failures the theory expects, iterations × P(T > deadline) (P(T = inf) without "
            "--deadline); Monte Carlo where no exact theory applies, marked *. 'model' "
            "(model_mean_latency in JSON) is the model's mean latency on the very task times the "
            "pool ran: mean / model is the pool's own share, free of the sampling error of the "
            "draws, which mean / predicted also carries. pool_overhead is the pool's own time, "
            "in seconds, of an iteration without work: the median of its measured latency minus "
            "the model's latency of the same task times (the communication costs it emulates), "
            "null if those iterations did not finish; when it exceeds "
            f"{_OVERHEAD_SHARE:.0%} of the predicted latency the time unit is too fine for the "
            "pool (a note on stderr, time_unit_too_fine in JSON). Ctrl-C or SIGTERM at any "
            "moment summarises the iterations that finished (exit status 130 or 143, "
            '"interrupted": true in JSON). ' + JSON_CONVENTION
        ),
    )
    add_placement_arguments(
        parser, workers=10, smax=4, schemes="all", schemes_help=_DEFAULT_SCHEMES
    )
    add_model_arguments(parser)
    group = parser.add_argument_group("run")
    group.add_argument(
        "--iterations", type=positive_int, default=20, help="iterations per scheme (default 20)"
    )
    add_timing_arguments(group, time_unit=0.005)
    group.add_argument(
        "--seed", type=integer, default=0, help="seed of data, model and codes, in [0, 2**32)"
    )
    add_backend_arguments(parser)
    add_output_arguments(parser)
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar on stderr (default: one on a terminal)",
    )
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
    # the model's latency of the very task times each finished iteration ran on
    model_latencies: list[float] = field(default_factory=list)
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
    overhead: float | None = None  # seconds of an iteration without work

    def summary(self, predicted: Prediction) -> dict[str, Any]:
        finished = bool(self.latencies)
        return {
            "iterations": self.iterations,
            "mean_latency": float(np.mean(self.latencies)) if finished else None,
            "model_mean_latency": self.model_mean,
            "predicted_mean_latency": predicted.mean_latency,
            "predicted_failure_probability": predicted.failure_probability,
            "p95_latency": float(np.percentile(self.latencies, 95)) if finished else None,
            "max_decode_error": float(max(self.decode_errors)) if finished else None,
            "mean_tasks_per_worker": float(np.mean(self.tasks_per_worker)) if finished else None,
            "uploads_per_iteration": float(np.mean(self.uploads)) if finished else None,
            "failed": self.failed,
            "respawns": self.respawns,
            "pool_overhead": self.overhead,
        }

    @property
    def model_mean(self) -> float | None:
        """The model's mean latency on the draws of the finished iterations (``None`` if some
        of them the model would not finish, or none finished)."""
        if not self.model_latencies or not np.all(np.isfinite(self.model_latencies)):
            return None
        return float(np.mean(self.model_latencies))

    def overhead_share(self, predicted: Prediction, time_unit: float) -> float | None:
        """The pool's overhead as a share of the predicted latency in seconds."""
        if self.overhead is None or not predicted.mean_latency:
            return None
        return self.overhead / (predicted.mean_latency * time_unit)


def default_schemes(s_max: int) -> str:
    """``nested, uncoded, gc:⌈s_max/2⌉, gc:s_max, streaming`` (the GC(s) that exist)."""
    tolerances = sorted({s for s in ((s_max + 1) // 2, s_max) if s >= 1})
    return ",".join(["nested", "uncoded", *(f"gc:{s}" for s in tolerances), "streaming"])


def run(args: argparse.Namespace) -> int:
    """Run the demo for the parsed arguments; returns the exit status."""
    seed = seed_from_args(args)
    if args.schemes.strip().lower() == "all":
        args.schemes = default_schemes(args.smax)
    model = model_from_args(args)
    levels = levels_from_args(args)
    schemes = schemes_from_args(args)
    check_timing(args, model, max(args.smax + 1, *(s.tasks_per_worker for s in schemes)))
    check_plot_path(args.plot)
    n = args.workers
    # what the run needs, before any process starts: the theory of the prediction, the pool
    check_theory(n, [scheme for scheme in schemes if has_exact_theory(scheme, n, model)])
    check_pool(n, local_processes=getattr(args, "scheduler", None) is None)

    runs = {scheme.name: SchemeRun(scheme) for scheme in schemes}
    simulation_seed = np.random.SeedSequence(seed).generate_state(4)[2]
    try:
        _run_pool(args, seed, model, levels, schemes, runs)
        interrupted = False
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, at any moment: summarise what finished
        interrupted = True
    with deferred():  # the summary comes out whole; a second signal still ends it
        runs = {name: run_ for name, run_ in runs.items() if run_.iterations}
        predictions = {
            name: predict_within(n, run_.scheme, model, args.deadline, int(simulation_seed))
            for name, run_ in runs.items()
        }
        summaries = {name: run_.summary(predictions[name]) for name, run_ in runs.items()}
        too_fine = _note_overhead(runs, predictions, args.time_unit)
        interrupted = interrupted or interrupt_received()
        if interrupted:
            done = sum(run_.iterations for run_ in runs.values())
            print(f"interrupted: summarising the {done} iterations that finished", file=sys.stderr)
        if args.json:
            extra = {"interrupted": True} if interrupted else {}
            emit_json({"schemes": summaries, "time_unit_too_fine": too_fine, **extra})
        else:
            _print_table(args, model, levels, runs, summaries, predictions)
        if (
            args.plot is not None
            and runs
            and not write_plot(args.plot, lambda: _plot(args.plot, summaries, runs))
        ):
            return 1
    # a signal while the results were written: they are whole, the status tells of it
    return interrupt_status() if interrupted or interrupt_received() else 0


def _run_pool(
    args: argparse.Namespace,
    seed: int,
    model: RuntimeModel,
    levels: tuple[int, ...],
    schemes: tuple[Scheme, ...],
    runs: dict[str, SchemeRun],
) -> None:
    """Run ``--iterations`` iterations of every scheme on the pool, recorded in ``runs``; an
    interrupt propagates, with what finished recorded."""
    from gclib.runtime.pool import WorkerPool
    from gclib.training.objectives import (
        least_squares_gradient,
        least_squares_loss,
        least_squares_problem,
    )

    n = args.workers
    data_seed, pool_seed, _, draw_seed = np.random.SeedSequence(seed).generate_state(4)
    draws = np.random.default_rng(draw_seed)  # the task times, drawn here to replay them
    partitions, _ = least_squares_problem(n, _ROWS_PER_PARTITION, _FEATURES, seed=int(data_seed))
    features = np.vstack([x for x, _ in partitions])
    targets = np.concatenate([y for _, y in partitions])
    step = 1.0 / np.linalg.eigvalsh(features.T @ features)[-1]  # 1/L for ½‖Xw − y‖²
    problem = _Problem(partitions, features, targets, step)
    with (
        backend_from_args(args, n) as backend,
        WorkerPool(
            partitions,
            least_squares_gradient,
            s_max=args.smax,
            levels=levels,
            model=model,
            time_unit=args.time_unit,
            deadline=args.deadline,
            seed=int(pool_seed),
            backend=backend,
        ) as pool,
    ):
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread: the pool forks when it respawns workers
        bar = tqdm(
            total=len(schemes) * args.iterations,
            desc="gclib demo",
            unit="it",
            file=sys.stderr,
            disable=True if args.no_progress else None,  # default: only on a terminal
            leave=False,
        )
        try:
            for scheme in schemes:
                record = runs[scheme.name]
                params = np.zeros(_FEATURES)
                record.initial_loss = least_squares_loss(params, (features, targets))
                try:
                    record.overhead = _overhead(pool, scheme, params, args.smax, model)
                    for _ in range(args.iterations):
                        params = _iterate(pool, record, scheme, params, problem, model, draws)
                        bar.set_postfix_str(scheme.name, refresh=False)
                        bar.update()
                finally:  # also when interrupted: the loss of the iterations that finished
                    record.final_loss = least_squares_loss(params, (features, targets))
        finally:
            bar.close()


def _overhead(
    pool: Any, scheme: Scheme, params: np.ndarray, s_max: int, model: RuntimeModel
) -> float | None:
    """Seconds the pool itself needs for an iteration of ``scheme`` whose tasks take no time:
    the median, over a few after one that sends the scheme's plan to the workers, of the
    measured latency minus the model's latency of the same task times (the communication costs
    the pool emulates). ``None`` if those iterations did not finish."""
    from gclib.analysis.simulate import simulate_sample
    from gclib.runtime.results import DEADLINE_SLACK, default_deadline

    n = pool.n
    tasks = max(s_max + 1, scheme.tasks_per_worker)
    idle = ModelSample(np.zeros((n, tasks)), np.ones(n), np.zeros(n, dtype=bool), np.zeros(n))
    model_latency = float(simulate_sample(scheme, idle, model=model)[scheme.name].latency[0])
    # the generous deadline of the model, whatever --deadline says: this measures the pool
    deadline = default_deadline(model, tasks) + DEADLINE_SLACK / pool.time_unit
    seconds = [
        (pool.run_iteration(params, scheme, sample=idle, deadline=deadline).latency - model_latency)
        * pool.time_unit
        for _ in range(1 + _OVERHEAD_ITERATIONS)
    ]
    overhead = float(np.median(seconds[1:]))
    return max(overhead, 0.0) if math.isfinite(overhead) else None


def _note_overhead(
    runs: dict[str, SchemeRun], predictions: dict[str, Prediction], time_unit: float
) -> bool:
    """Whether the time unit is too fine for the pool's overhead; if so say it on stderr, with
    the time unit that would do."""
    shares = {name: r.overhead_share(predictions[name], time_unit) for name, r in runs.items()}
    over = {
        name: share
        for name, share in shares.items()
        if share is not None and math.isfinite(share) and share > _OVERHEAD_SHARE
    }
    if not over:
        return False
    needed = max(share for share in over.values()) * time_unit / _OVERHEAD_SHARE
    listed = ", ".join(
        f"{runs[name].scheme.label} {runs[name].overhead * 1e3:.2g} ms" for name in over
    )
    print(
        f"gclib demo: note: the pool's own time per iteration ({listed}) exceeds "
        f"{_OVERHEAD_SHARE:.0%} of the predicted latency at --time-unit {time_unit:g} s, so the "
        f"measured latencies run high; --time-unit {needed:.2g} or more keeps it below",
        file=sys.stderr,
    )
    return True


def _iterate(
    pool: Any,
    record: SchemeRun,
    scheme: Scheme,
    params: np.ndarray,
    problem: _Problem,
    model: RuntimeModel,
    draws: np.random.Generator,
) -> np.ndarray:
    """One gradient step of ``scheme`` on the pool, recorded; returns the next parameters."""
    from gclib.analysis.simulate import simulate_sample

    step = problem.step
    sample = model.sample(pool.n, scheme.tasks_per_worker, draws)
    # checked against the gradient computed in the master, relative to the partial gradients
    result = pool.run_iteration(params, scheme, sample=sample, check=True)
    record.iterations += 1
    record.respawns += len(result.respawned)
    if result.failed:
        record.failed += 1
        return params
    record.latencies.append(result.latency)
    replay = simulate_sample(scheme, sample, model=model)[scheme.name]
    record.model_latencies.append(float(replay.latency[0]))
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
    print(
        f"worker pool: n={args.workers}, s_max={args.smax}, S={{{','.join(map(str, levels))}}}, "
        f"{model.describe()}, time unit {args.time_unit:g} s, {args.iterations} iterations each"
    )
    columns = ["scheme", "mean", "model", "p95", "predicted", "ratio", "levels", "tasks/w"]
    columns += ["uploads"]
    columns += ["signals", "failed", "(pred)", "respawn", "max err", "loss"]
    table = []
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
        table.append(
            [
                run_.scheme.label,
                number(summary["mean_latency"]),
                number(summary["model_mean_latency"]),
                number(summary["p95_latency"]),
                number(predicted) + mark,
                number(ratio, 3),
                histogram or "-",
                number(summary["mean_tasks_per_worker"]),
                number(summary["uploads_per_iteration"], 1),
                number(signals, 1),
                str(summary["failed"]),
                number(prediction.failure_probability * run_.iterations, 1),
                str(summary["respawns"]),
                number(summary["max_decode_error"], 1, "e"),
                number(loss, 2, "e"),
            ]
        )
    print_table(columns, table, left=(0, 5), rule=True)
    condition, failure = "E[T | T < inf]", "P(T = inf)"
    if args.deadline is not None:
        condition = f"E[T | T <= deadline {args.deadline:g}]"
        failure = "P(T > deadline)"
    print(
        "latencies in model time units over finished iterations; model: the model's latency "
        f"of the same task times;\npredicted: {condition}; levels: level:count; (pred): "
        f"failures the theory expects, iterations × {failure};\nmax err: ‖decoded − true "
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
