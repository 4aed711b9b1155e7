"""``gclib train``: distributed gradient descent through the worker pool, for every scheme."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import numpy as np

from gclib.cli.interrupts import interrupt_status
from gclib.cli.options import (
    JSON_CONVENTION,
    UsageError,
    add_backend_arguments,
    add_model_arguments,
    add_output_arguments,
    add_placement_arguments,
    add_timing_arguments,
    backend_from_args,
    check_plot_path,
    check_timing,
    emit_json,
    integer,
    levels_from_args,
    model_from_args,
    positive_int,
    real,
    schemes_from_args,
    seed_from_args,
    spread_tolerances,
    write_plot,
)
from gclib.cli.resources import check_pool
from gclib.cli.table import number, print_table
from gclib.schemes.parse import parse_scheme
from gclib.training import (
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

A training whose loss stops being finite (a step size too large for the problem) ends with a
message and exit status 1. Ctrl-C or SIGTERM reports the iterations that finished (exit status 130
or 143, "interrupted": true in JSON).
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
        description=_DESCRIPTION,
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
        help="step size eta (default %(default)s)",
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
    check_timing(args)
    check_plot_path(args.plot)


def run(args: argparse.Namespace) -> int:
    seed = seed_from_args(args)
    _check_options(args)
    levels = levels_from_args(args)
    if args.schemes.strip().lower() == "all":
        args.schemes = default_schemes(args.smax)
    schemes = schemes_from_args(args)
    model = model_from_args(args)
    data = load_dataset(args.dataset.strip().lower(), seed=seed)
    if args.workers > len(data.train_labels):
        raise UsageError(
            f"--workers must be at most the {len(data.train_labels)} training rows, "
            f"got {args.workers}"
        )
    check_pool(args.workers, local_processes=getattr(args, "scheduler", None) is None)
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
    interrupted = len(runs) < len(schemes) or any(
        run.iterations < args.iterations for run in runs.values()
    )
    if interrupted:
        done = sum(run.iterations for run in runs.values())
        print(f"interrupted: reporting the {done} iterations that finished", file=sys.stderr)
    if not runs:
        return interrupt_status()
    diverged = _divergence(runs)
    if diverged:
        print(
            f"{args.subparser.prog}: error: the training diverged: {diverged}; --learning-rate "
            f"{args.learning_rate:g} is too large a step for this problem (default "
            f"{DEFAULT_LEARNING_RATE:g})",
            file=sys.stderr,
        )
        return 1
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
                "seed": seed,
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
    return interrupt_status() if interrupted else 0


def _divergence(runs: dict[str, TrainingRun]) -> str | None:
    """Where the loss first stopped being finite, or ``None`` if it never did."""
    for name, run in runs.items():
        bad = [k for k, loss in enumerate(run.loss) if not math.isfinite(loss)]
        if bad:
            return f"the loss of {name} is {run.loss[bad[0]]:g} after iteration {bad[0]}"
    return None


def _save_plot(path: str, runs: dict[str, TrainingRun]) -> None:
    from gclib.plotting.style import save_figure

    fig, _ = plot_training(runs)
    save_figure(fig, path, close=True)


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
    columns = ["iter", "loss", "train acc", "test acc", "latency", "wall [s]"]
    for name, run in runs.items():
        print(f"\n{parse_scheme(name, args.smax).label}")
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
            name,
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
