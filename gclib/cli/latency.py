"""``gclib latency``: the exact latency theory of every scheme, optionally with Monte Carlo."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from gclib.analysis.prediction import has_exact_theory
from gclib.analysis.simulate import SchemeSimulation, simulate
from gclib.analysis.summary import LatencySummary, latency_summary
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
    schemes_from_args,
    write_plot,
)
from gclib.schemes.parse import Scheme

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Exact expected latency, quantiles, computation load and communication of each scheme for the
runtime model (shifted-exponential tasks, Bernoulli or fixed-count stragglers, crashes), from the
dynamic program of the theory. With --mc K the same quantities are also estimated from K Monte
Carlo iterations. The streaming scheme (the coverage bound) has no exact theory and is shown by
Monte Carlo only. Latencies are in model time units."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "latency",
        help="exact latency theory (and Monte Carlo) of every scheme",
        description=_DESCRIPTION,
    )
    add_placement_arguments(parser, schemes="all")
    add_model_arguments(parser)
    group = parser.add_argument_group("Monte Carlo")
    group.add_argument(
        "--mc",
        type=non_negative_int,
        default=0,
        metavar="K",
        help="also run K Monte Carlo iterations (default 0: theory only)",
    )
    group.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the Monte Carlo (default 0)"
    )
    add_output_arguments(parser)
    parser.set_defaults(handler=run, subparser=parser)
    return parser


def _default_schemes(smax: int) -> str:
    return ",".join(["uncoded", *[f"gc:{s}" for s in range(1, smax + 1)], "nested", "streaming"])


def _scheme_rows(
    schemes: tuple[Scheme, ...],
    n: int,
    model: Any,
    simulations: dict[str, SchemeSimulation] | None,
) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for scheme in schemes:
        row: dict[str, Any] = {"levels": list(scheme.levels)}
        theory: LatencySummary | None = None
        if has_exact_theory(scheme, n):
            theory = latency_summary(n, scheme, model, quantiles=(0.5, 0.95))
        row["expected_latency"] = theory.expected_latency if theory else None
        row["p50_latency"] = theory.quantiles[0.5] if theory else None
        row["p95_latency"] = theory.quantiles[0.95] if theory else None
        row["failure_probability"] = theory.failure_probability if theory else None
        row["mean_tasks_per_worker"] = theory.tasks_per_worker if theory else None
        row["uploads_per_iteration"] = theory.uploads_per_iteration if theory else None
        row["signals_per_iteration"] = theory.signals_per_iteration if theory else None
        sim = simulations.get(scheme.name) if simulations else None
        row["mc_mean_latency"] = sim.mean_latency if sim else None
        row["mc_stderr"] = sim.latency_stderr if sim else None
        row["mc_failed"] = sim.failed if sim else None
        row["mc_p95_latency"] = sim.quantile(0.95) if sim else None
        row["mc_mean_tasks_per_worker"] = sim.mean_tasks_per_worker if sim else None
        row["mc_uploads_per_iteration"] = sim.mean_uploads if sim else None
        row["mc_signals_per_iteration"] = sim.mean_signals if sim else None
        rows[scheme.name] = row
    return rows


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if 0 < abs(value) < 10 ** (-digits):
        return f"{value:.1e}"  # a small probability is not zero
    return f"{value:.{digits}f}"


def _print_table(rows: dict[str, dict[str, Any]], header: str, with_mc: bool) -> None:
    columns = ["scheme", "E[T]", "p50", "p95", "P(fail)", "tasks/worker", "uploads", "signals"]
    if with_mc:
        columns += ["MC mean ± stderr", "MC fail"]
    table = []
    for name, row in rows.items():
        cells = [
            name,
            _fmt(row["expected_latency"]),
            _fmt(row["p50_latency"]),
            _fmt(row["p95_latency"]),
            _fmt(row["failure_probability"], 4),
            _fmt(row["mean_tasks_per_worker"]),
            _fmt(row["uploads_per_iteration"], 2),
            _fmt(row["signals_per_iteration"], 2),
        ]
        if row["mean_tasks_per_worker"] is None and row["mc_mean_tasks_per_worker"] is not None:
            cells[5] = _fmt(row["mc_mean_tasks_per_worker"]) + " (MC)"
            cells[6] = _fmt(row["mc_uploads_per_iteration"], 2) + " (MC)"
            cells[7] = _fmt(row["mc_signals_per_iteration"], 2) + " (MC)"
        if with_mc:
            mean, err = row["mc_mean_latency"], row["mc_stderr"]
            cells.append(f"{_fmt(mean)} ± {_fmt(err)}" if math.isfinite(mean) else "inf")
            cells.append(str(row["mc_failed"]))
        table.append(cells)
    widths = [max(len(str(r[i])) for r in [columns, *table]) for i in range(len(columns))]
    print(header)
    for cells in [columns, *table]:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        print("  ".join(padded))
    if "streaming" in rows and not with_mc:
        print(
            "streaming (the coverage bound) has no exact theory: --mc K estimates it by Monte Carlo"
        )


def _plot(path: str, schemes: tuple[Scheme, ...], n: int, model: Any, rows: dict, sims) -> None:
    """The latency distribution of every scheme: exact, and Monte Carlo with ``--mc``."""
    import numpy as np

    from gclib.plotting.latency import plot_latency_cdfs
    from gclib.plotting.style import new_figure, save_figure

    finite = [r["p95_latency"] for r in rows.values() if r["p95_latency"] is not None]
    finite += [r["mc_p95_latency"] for r in rows.values() if r["mc_p95_latency"] is not None]
    finite = [v for v in finite if math.isfinite(v)]
    upper = 1.3 * max(finite) if finite else 10.0 * model.mean_task_time
    drawn = [s for s in schemes if has_exact_theory(s, n) or sims]
    samples = {s.name: {"Monte Carlo": sims[s.name].latency} for s in drawn} if sims else None
    fig, ax = new_figure(width=8.4, layout="constrained")
    plot_latency_cdfs(
        ax, n, drawn, model, samples=samples, t=np.linspace(0.0, upper, 400), legend="outside"
    )
    ax.set_ylabel("P(latency ≤ t)")
    ax.set_title(f"Latency distribution, n = {n}\n{model.describe()}", fontsize="medium")
    save_figure(fig, path, close=True)


def run(args: argparse.Namespace) -> int:
    if args.smax >= args.workers:
        raise UsageError(f"--smax must be below --workers ({args.workers}), got {args.smax}")
    if isinstance(args.schemes, str) and args.schemes.strip().lower() == "all":
        args.schemes = _default_schemes(args.smax)
    model = model_from_args(args)
    levels = levels_from_args(args)
    schemes = schemes_from_args(args)
    check_plot_path(args.plot)
    n = args.workers
    simulations = None
    if args.mc:
        simulations = simulate(
            n,
            schemes,
            model,
            args.mc,
            rng=args.seed,
            progress=not args.json,
        )
    rows = _scheme_rows(schemes, n, model, simulations)

    def save_plot() -> None:
        _plot(args.plot, schemes, n, model, rows, simulations)

    if args.json:
        emit_json(
            {
                "n": n,
                "s_max": args.smax,
                "levels": list(levels),
                "model": {
                    "shift": model.shift,
                    "rate": model.rate,
                    "straggler_prob": model.straggler_prob,
                    "stragglers": model.stragglers,
                    "slowdown": model.slowdown,
                    "crash_prob": model.crash_prob,
                    "upload_cost": model.upload_cost,
                    "signal_cost": model.signal_cost,
                },
                "mc_iterations": args.mc,
                "seed": args.seed,
                "schemes": rows,
            }
        )
        if args.plot is not None and not write_plot(args.plot, save_plot):
            return 1
        return 0
    header = (
        f"n = {n}, s_max = {args.smax}, S = {{{', '.join(map(str, levels))}}}, "
        f"{model.describe()}"
        + (f", Monte Carlo: {args.mc} iterations (seed {args.seed})" if args.mc else "")
    )
    _print_table(rows, header, bool(args.mc))
    if args.plot is not None:
        if not write_plot(args.plot, save_plot):
            return 1
        print(f"figure written to {args.plot}")
    sys.stdout.flush()
    return 0
