"""``gclib train``: distributed gradient descent through the worker pool, for every scheme."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from gclib.cli.options import (
    UsageError,
    add_model_arguments,
    add_output_arguments,
    add_placement_arguments,
    check_plot_path,
    emit_json,
    levels_from_args,
    model_from_args,
    non_negative_int,
    positive_int,
    real,
    schemes_from_args,
    write_plot,
)
from gclib.training.loop import (
    DATASETS,
    DEFAULT_ITERATIONS,
    DEFAULT_L2,
    DEFAULT_LEARNING_RATE,
    TrainingRun,
    load_dataset,
    plot_training,
    train,
)

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
each broadcast until the master holds the decoded gradient.
"""


def default_schemes(s_max: int) -> str:
    """``uncoded, gc:1, …, gc:s_max, nested, ignore:⌈s_max/2⌉, streaming``."""
    names = ["uncoded", *(f"gc:{s}" for s in range(1, s_max + 1)), "nested"]
    if s_max >= 1:
        names.append(f"ignore:{(s_max + 1) // 2}")
    names.append("streaming")
    return ",".join(names)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="distributed training of logistic regression through the worker pool",
        description=_DESCRIPTION,
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
        help="step size eta (default %(default)s)",
    )
    group.add_argument(
        "--l2", type=real, default=DEFAULT_L2, help="L2 weight lambda (default %(default)s)"
    )
    group.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of split, codes and injection"
    )
    add_placement_arguments(parser, schemes="all")
    add_model_arguments(parser)
    group = parser.add_argument_group("pool")
    group.add_argument(
        "--time-unit",
        type=real,
        default=DEFAULT_TIME_UNIT,
        help="seconds per model time unit (default %(default)s)",
    )
    group.add_argument(
        "--deadline",
        type=real,
        default=None,
        help="per-iteration deadline in model time units (default: the pool's)",
    )
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
    if not (0.0 < args.time_unit < math.inf):
        raise UsageError(f"--time-unit must be a positive number of seconds, got {args.time_unit}")
    if args.deadline is not None and not (0.0 < args.deadline < math.inf):
        raise UsageError(f"--deadline must be a positive number, got {args.deadline}")
    check_plot_path(args.plot)


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    levels = levels_from_args(args)
    if args.schemes.strip().lower() == "all":
        args.schemes = default_schemes(args.smax)
    schemes = schemes_from_args(args)
    model = model_from_args(args)
    data = load_dataset(args.dataset.strip().lower(), seed=args.seed)
    if args.workers > len(data.train_labels):
        raise UsageError(
            f"--workers must be at most the {len(data.train_labels)} training rows, "
            f"got {args.workers}"
        )
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
        seed=args.seed,
        progress=False if args.no_progress else None,
        stop_on_interrupt=True,
    )
    interrupted = len(runs) < len(schemes) or any(
        run.iterations < args.iterations for run in runs.values()
    )
    if interrupted:
        done = sum(run.iterations for run in runs.values())
        print(f"interrupted: reporting the {done} iterations that finished", file=sys.stderr)
    if not runs:
        return 130
    if args.json:
        emit_json(
            {
                "dataset": data.name,
                "train_rows": len(data.train_labels),
                "test_rows": len(data.test_labels),
                "workers": args.workers,
                "s_max": args.smax,
                "levels": list(levels),
                "model": model.describe(),
                "iterations": args.iterations,
                "learning_rate": args.learning_rate,
                "l2": args.l2,
                "seed": args.seed,
                "time_unit": args.time_unit,
                "wall_clock_unit": "seconds",
                "latency_unit": "model time units",
                "schemes": {name: run.summary() for name, run in runs.items()},
                **({"interrupted": True} if interrupted else {}),
            }
        )
    else:
        _print_tables(args, data.name, model.describe(), runs)
    if args.plot is not None and not write_plot(args.plot, lambda: _save_plot(args.plot, runs)):
        return 1
    return 130 if interrupted else 0


def _save_plot(path: str, runs: dict[str, TrainingRun]) -> None:
    from gclib.plotting.style import save_figure

    fig, _ = plot_training(runs)
    save_figure(fig, path, close=True)


def _format_time(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


def _print_tables(
    args: argparse.Namespace, dataset: str, model: str, runs: dict[str, TrainingRun]
) -> None:
    longest = max(run.iterations for run in runs.values())
    every = args.every or max(1, longest // 10)
    print(
        f"{dataset}: softmax regression, n = {args.workers} workers, s_max = {args.smax}, "
        f"{model}, time unit {args.time_unit:g} s, step {args.learning_rate:g}, "
        f"L2 {args.l2:g}, seed {args.seed}"
    )
    print("latency in model time units; wall-clock in measured seconds (cumulated)")
    header = (
        f"{'iter':>5} {'loss':>9} {'train acc':>9} {'test acc':>8} {'latency':>8} {'wall [s]':>9}"
    )
    for name, run in runs.items():
        print(f"\n{name}")
        print(header)
        for k in range(run.iterations + 1):
            failed = k in run.failed_iterations
            if not (k % every == 0 or k == run.iterations or failed):
                continue
            latency = "failed" if failed else _format_time(run.latency[k], 2)
            print(
                f"{k:>5} {run.loss[k]:>9.4f} {run.train_accuracy[k]:>9.3f} "
                f"{run.test_accuracy[k]:>8.3f} {latency:>8} {run.wall_clock[k]:>9.3f}"
            )
    print("\nsummary (time to 90%: wall-clock seconds until the test accuracy reached 0.9)")
    print(
        f"{'scheme':<10} {'mean lat':>8} {'predicted':>9} {'failed':>6} {'grad err':>9} "
        f"{'to 90% [s]':>10} {'wall [s]':>9} {'loss':>8} {'test acc':>8}"
    )
    for name, run in runs.items():
        predicted = "-" if run.predicted_latency is None else f"{run.predicted_latency:.2f}"
        print(
            f"{name:<10} {_format_time(run.mean_latency, 2):>8} {predicted:>9} {run.failed:>6} "
            f"{run.max_gradient_error:>9.2g} {_format_time(run.time_to_accuracy(0.9)):>10} "
            f"{run.wall_clock[-1]:>9.3f} {run.loss[-1]:>8.4f} {run.test_accuracy[-1]:>8.3f}"
        )
