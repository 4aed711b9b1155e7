"""``gclib train``: distributed gradient descent through the worker pool, for every scheme."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import numpy as np

from gclib.cli.backends import add_backend_arguments, backend_from_args
from gclib.cli.interrupts import deferred, interrupt_received, interrupt_status
from gclib.cli.options import (
    JSON_CONVENTION,
    UsageError,
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
    model_json,
    positive_int,
    real,
    schemes_from_args,
    seed_from_args,
    spread_tolerances,
    write_plot,
)
from gclib.cli.resources import check_pool
from gclib.cli.table import number, print_table
from gclib.model import RuntimeModel
from gclib.schemes.parse import Scheme
from gclib.training import (
    DATASETS,
    DEFAULT_ITERATIONS,
    DEFAULT_L2,
    DEFAULT_LEARNING_RATE,
    TrainingData,
    TrainingRun,
    load_dataset,
    plot_training,
    train,
)
from gclib.training.loop import DIVERGENCE_FACTOR

__all__ = ["add_parser", "run", "default_schemes"]

DEFAULT_TIME_UNIT = 0.005
_DESCRIPTION = """\
Train multinomial logistic regression on scikit-learn's bundled handwritten digits by full-batch
distributed gradient descent: the training rows are split into n partitions on the cyclic
placement of the worker pool, and every iteration's gradient comes from the pool under each
scheme, with injected stragglers and crashes. Every scheme sees the same injected task times in
its k-th iteration. A failed iteration (deadline passed, too many workers lost) skips the update.

Reported per iteration: training loss, train and test accuracy, the latency in model time units
(measured: wall seconds / time unit) and the cumulated wall-clock time in measured seconds from
each broadcast until the master holds the decoded gradient. The summary's predicted latency is
the exact E[T | T <= deadline] of the iterations that finish (E[T | T < inf] without --deadline),
predicted_failure_probability in JSON its P(T > deadline).

A training diverges when its loss stops being finite or exceeds DIVERGENCE times its initial
value (a step size too large for the problem): it then ends with a message and exit status 1. A
loss that ends above its initial value without diverging gets a note on stderr. Ctrl-C or
SIGTERM, at any moment, reports the iterations that finished (exit status 130 or 143,
"interrupted": true in JSON). Tables name the schemes by their labels (GC(2), ignore(2)); JSON
keys stay the names (gc:2), and a level that does not apply (streaming, a failed iteration, the
start) is null.
"""


def default_schemes(s_max: int) -> str:
    """``uncoded, gc:1, …, gc:s_max, nested, ignore:⌈s_max/2⌉, streaming`` (five GC(s) spread
    over ``1 … s_max`` when ``s_max > 8``)."""
    names = ["uncoded", *(f"gc:{s}" for s in spread_tolerances(s_max)), "nested"]
    if s_max >= 1:
        names.append(f"ignore:{(s_max + 1) // 2}")
    names.append("streaming")
    return ",".join(names)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="distributed training of logistic regression through the worker pool",
        description=_DESCRIPTION.replace("DIVERGENCE", f"{DIVERGENCE_FACTOR:g}"),
        epilog=JSON_CONVENTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_argument_group("training")
    group.add_argument(
        "--dataset",
        default="digits",
        help=f"data set: {', '.join(DATASETS)} (default %(default)s)",
    )
    group.add_argument(
        "--iterations",
        type=positive_int,
        default=DEFAULT_ITERATIONS,
        help="gradient steps per scheme (default %(default)s)",
    )
    group.add_argument(
        "--learning-rate",
        type=real,
        default=DEFAULT_LEARNING_RATE,
        help="step size eta (default %(default)s); a loss beyond "
        f"{DIVERGENCE_FACTOR:g} times its initial value ends the training as diverged (exit 1)",
    )
    group.add_argument(
        "--l2", type=real, default=DEFAULT_L2, help="L2 weight lambda (default %(default)s)"
    )
    group.add_argument(
        "--seed", type=integer, default=0, help="seed of split, codes and injection, in [0, 2**32)"
    )
    add_placement_arguments(
        parser,
        schemes="all",
        schemes_help="uncoded, gc:1 … gc:s_max (five of them spread over 1 … s_max when s_max > "
        "8), nested, ignore:⌈s_max/2⌉, streaming",
    )
    add_model_arguments(parser)
    group = parser.add_argument_group("pool")
    add_timing_arguments(group, time_unit=DEFAULT_TIME_UNIT)
    add_backend_arguments(parser)
    add_output_arguments(parser)
    parser.add_argument(
        "--every",
        type=positive_int,
        default=None,
        help="print every k-th iteration in the table (default: about 10 rows per scheme)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(handler=run, subparser=parser)
    return parser


def _check_options(args: argparse.Namespace) -> None:
    if args.dataset.strip().lower() not in DATASETS:
        raise UsageError(
            f"--dataset must be one of {', '.join(DATASETS)} (the bundled data sets), "
            f"not {args.dataset!r}"
        )
    if not (0.0 < args.learning_rate < math.inf):
        raise UsageError(f"--learning-rate must be a positive number, got {args.learning_rate}")
    if not (0.0 <= args.l2 < math.inf):
        raise UsageError(f"--l2 must be a finite number >= 0, got {args.l2}")


def run(args: argparse.Namespace) -> int:
    seed = seed_from_args(args)
    _check_options(args)
    levels = levels_from_args(args)
    if args.schemes.strip().lower() == "all":
        args.schemes = default_schemes(args.smax)
    schemes = schemes_from_args(args)
    model = model_from_args(args)
    check_timing(args, model, max(args.smax + 1, *(s.tasks_per_worker for s in schemes)))
    check_plot_path(args.plot)
    data = load_dataset(args.dataset.strip().lower(), seed=seed)
    if args.workers > len(data.train_labels):
        raise UsageError(
            f"--workers must be at most the {len(data.train_labels)} training rows, "
            f"got {args.workers}"
        )
    check_pool(args.workers, local_processes=getattr(args, "scheduler", None) is None)
    runs: dict[str, TrainingRun] = {}
    try:
        # a diverging step overflows: said once below, not as numpy warnings on every step
        with (
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
            backend_from_args(args, args.workers) as backend,
        ):
            runs = train(
                data,
                schemes,
                workers=args.workers,
                s_max=args.smax,
                levels=levels,
                model=model,
                iterations=args.iterations,
                learning_rate=args.learning_rate,
                l2=args.l2,
                time_unit=args.time_unit,
                deadline=args.deadline,
                seed=seed,
                progress=False if args.no_progress else None,
                stop_on_interrupt=True,
                backend=backend,
            )
    except KeyboardInterrupt:  # while the backend starts or closes: report what finished
        pass
    with deferred():  # the report comes out whole; a second signal still ends it
        return _report(args, data, levels, model, schemes, runs, seed)


def _report(
    args: argparse.Namespace,
    data: TrainingData,
    levels: tuple[int, ...],
    model: RuntimeModel,
    schemes: tuple[Scheme, ...],
    runs: dict[str, TrainingRun],
    seed: int,
) -> int:
    """Print the runs (tables or JSON) and the figure; returns the exit status."""
    name = data.name
    interrupted = interrupt_received()
    prog = args.subparser.prog
    if interrupted:
        done = sum(run.iterations for run in runs.values())
        print(f"interrupted: reporting the {done} iterations that finished", file=sys.stderr)
    diverged = _divergence(runs)
    if diverged:
        cause = (
            f"--learning-rate {args.learning_rate:g} is too large a step for this problem "
            f"(default {DEFAULT_LEARNING_RATE:g})"
        )
        # at a step no larger than the default, the L2 term alone: θ ← (1 − ηλ) θ grows
        if args.l2 * args.learning_rate > 2.0 and args.learning_rate <= DEFAULT_LEARNING_RATE:
            cause = (
                f"--l2 {args.l2:g} times --learning-rate {args.learning_rate:g} exceeds 2, "
                f"where the L2 term alone diverges (default --l2 {DEFAULT_L2:g})"
            )
        print(f"{prog}: error: the training diverged: {diverged}; {cause}", file=sys.stderr)
        return 1
    labels = {scheme.name: scheme.label for scheme in schemes}
    risen = [labels[key] for key, run in runs.items() if run.loss[-1] > run.loss[0]]
    if risen:
        print(
            f"{prog}: note: the loss of {', '.join(risen)} ended above its initial value: "
            f"--learning-rate {args.learning_rate:g} may be too large a step for this problem "
            f"(default {DEFAULT_LEARNING_RATE:g})",
            file=sys.stderr,
        )
    if args.json:
        emit_json(
            {
                "dataset": name,
                "train_rows": len(data.train_labels),
                "test_rows": len(data.test_labels),
                "workers": args.workers,
                "s_max": args.smax,
                "levels": list(levels),
                "model": model_json(model),
                "iterations": args.iterations,
                "learning_rate": args.learning_rate,
                "l2": args.l2,
                "seed": seed,
                "time_unit": args.time_unit,
                "deadline": args.deadline,
                "wall_clock_unit": "seconds",
                "latency_unit": "model time units",
                "schemes": {key: run.summary() for key, run in runs.items()},
                **({"interrupted": True} if interrupted else {}),
            }
        )
    elif runs:
        _print_tables(args, name, model.describe(), runs, labels)
    if args.plot is not None and runs:
        if not write_plot(args.plot, lambda: _save_plot(args.plot, runs)):
            return 1
    return interrupt_status() if interrupted or interrupt_received() else 0


def _divergence(runs: dict[str, TrainingRun]) -> str | None:
    """Where the loss of the first diverged run left the bounds, or ``None`` if none did."""
    for name, run in runs.items():
        if run.diverged is not None:
            loss, start = run.loss[run.diverged], run.loss[0]
            where = f"the loss of {name} is {loss:g} after iteration {run.diverged}"
            if math.isfinite(loss):
                where += f", more than {DIVERGENCE_FACTOR:g} times its initial {start:.3g}"
            return where
    return None


def _save_plot(path: str, runs: dict[str, TrainingRun]) -> None:
    from gclib.plotting.style import save_figure

    fig, _ = plot_training(runs)
    save_figure(fig, path, close=True)


def _print_tables(
    args: argparse.Namespace,
    dataset: str,
    model: str,
    runs: dict[str, TrainingRun],
    labels: dict[str, str],
) -> None:
    longest = max(run.iterations for run in runs.values())
    every = args.every or max(1, longest // 10)
    print(
        f"{dataset}: softmax regression, n = {args.workers} workers, s_max = {args.smax}, "
        f"{model}, time unit {args.time_unit:g} s, step {args.learning_rate:g}, "
        f"L2 {args.l2:g}, seed {args.seed}"
    )
    print("latency in model time units; wall-clock in measured seconds (cumulated)")
    columns = ["iter", "loss", "train acc", "test acc", "latency", "wall [s]"]
    for name, run in runs.items():
        print(f"\n{labels[name]}")
        rows = []
        for k in range(run.iterations + 1):
            failed = k in run.failed_iterations
            if not (k % every == 0 or k == run.iterations or failed):
                continue
            rows.append(
                [
                    str(k),
                    number(run.loss[k], 4),
                    number(run.train_accuracy[k], 3),
                    number(run.test_accuracy[k], 3),
                    "failed" if failed else number(run.latency[k], 2),
                    number(run.wall_clock[k], 3),
                ]
            )
        print_table(columns, rows, left=())
    print("\nsummary (time to 90%: wall-clock seconds until the test accuracy reached 0.9)")
    columns = ["scheme", "mean lat", "predicted", "failed", "grad err", "to 90% [s]"]
    columns += ["wall [s]", "loss", "test acc"]
    rows = [
        [
            labels[name],
            number(_finite(run.mean_latency), 2),
            number(run.predicted_latency, 2),
            str(run.failed),
            number(run.max_gradient_error, 1, "e"),
            number(_finite(run.time_to_accuracy(0.9)), 3),
            number(run.wall_clock[-1], 3),
            number(run.loss[-1], 4),
            number(run.test_accuracy[-1], 3),
        ]
        for name, run in runs.items()
    ]
    print_table(columns, rows)


def _finite(value: float) -> float | None:
    """``None`` (shown as ``-``) for a value that never came: no finished iteration, accuracy
    never reached."""
    return value if math.isfinite(value) else None
