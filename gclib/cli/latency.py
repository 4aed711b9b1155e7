"""``gclib latency``: the exact latency theory of every scheme, optionally with Monte Carlo."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from gclib.analysis.latency import expected_latency
from gclib.analysis.monte_carlo import KEEP, MonteCarloSummary, monte_carlo
from gclib.analysis.prediction import has_exact_mean, has_exact_theory
from gclib.analysis.summary import LatencySummary, latency_summary
from gclib.cli.interrupts import interrupt_status
from gclib.cli.options import (
    JSON_CONVENTION,
    UsageError,
    add_model_arguments,
    add_output_arguments,
    add_placement_arguments,
    check_plot_path,
    emit_json,
    integer,
    levels_from_args,
    model_from_args,
    non_negative_int,
    schemes_from_args,
    seed_from_args,
    spread_tolerances,
    write_plot,
)
from gclib.cli.progress import Progress
from gclib.cli.resources import check_monte_carlo, check_theory
from gclib.cli.table import number, print_table
from gclib.schemes.parse import Scheme

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Exact expected latency, quantiles, computation load and communication of each scheme for the
runtime model (shifted-exponential tasks, Bernoulli or fixed-count stragglers, crashes), from the
dynamic program of the theory. With --mc K the same quantities are also estimated from K Monte
Carlo iterations. Streaming and cover (the coverage bound) come from the exact coverage program;
a scheme without an exact theory is shown by Monte Carlo only. Latencies are in model time units.

Monte Carlo runs in batches of bounded memory; its quantiles are exact up to 1000000 iterations
and estimated from a uniform sample of 1000000 iterations beyond. Progress goes to standard error
(a bar on a terminal, else a line every few seconds once a run takes long); Ctrl-C or SIGTERM
ends the run and reports what it has (exit status 130 or 143, "interrupted": true in JSON)."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "latency",
        help="exact latency theory (and Monte Carlo) of every scheme",
        description=_DESCRIPTION,
        epilog=JSON_CONVENTION,
    )
    add_placement_arguments(
        parser,
        schemes="all",
        schemes_help="uncoded, gc:1 … gc:s_max (five of them spread over 1 … s_max when s_max > "
        "8), nested, nested-eager, cover, streaming",
    )
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
        "--seed", type=integer, default=0, help="seed of the Monte Carlo, in [0, 2**32) (default 0)"
    )
    add_output_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    parser.set_defaults(handler=run, subparser=parser)
    return parser


def _level_set(levels: tuple[int, ...]) -> str:
    """``{0, 1, 3}``; a long run of consecutive levels as ``{0, 1, …, 50}``."""
    if len(levels) > 5 and levels == tuple(range(levels[0], levels[-1] + 1)):
        return f"{{{levels[0]}, {levels[1]}, …, {levels[-1]}}}"
    return "{" + ", ".join(map(str, levels)) + "}"


def _default_schemes(smax: int) -> str:
    gc = [f"gc:{s}" for s in spread_tolerances(smax)]
    return ",".join(["uncoded", *gc, "nested", "nested-eager", "cover", "streaming"])


def _theories(
    schemes: tuple[Scheme, ...], n: int, model: Any, progress: bool
) -> tuple[dict[str, LatencySummary], bool]:
    """The exact theory of every scheme that has one, in order, with progress on standard error;
    on an interrupt, those finished and ``True``."""
    exact = [scheme for scheme in schemes if has_exact_theory(scheme, n, model)]
    theories: dict[str, LatencySummary] = {}
    with Progress(len(exact), "gclib latency: exact theory", "schemes", enabled=progress) as bar:
        try:
            for scheme in exact:
                bar.status(scheme.name)
                theories[scheme.name] = latency_summary(n, scheme, model, quantiles=(0.5, 0.95))
                bar.update()
        except KeyboardInterrupt:
            return theories, True
    return theories, False


def _exact_means(schemes: tuple[Scheme, ...], n: int, model: Any) -> dict[str, float]:
    """The exact mean latency of the schemes whose distribution is out of the theory's reach
    but whose mean is not (requested uploads queueing on a shared link)."""
    return {
        scheme.name: expected_latency(n, scheme, model)
        for scheme in schemes
        if not has_exact_theory(scheme, n, model) and has_exact_mean(scheme, n, model)
    }


def _scheme_rows(
    schemes: tuple[Scheme, ...],
    theories: dict[str, LatencySummary],
    simulations: dict[str, MonteCarloSummary] | None,
    means: dict[str, float],
) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for scheme in schemes:
        row: dict[str, Any] = {"levels": list(scheme.levels)}
        theory = theories.get(scheme.name)
        row["expected_latency"] = theory.expected_latency if theory else means.get(scheme.name)
        row["p50_latency"] = theory.quantiles[0.5] if theory else None
        row["p95_latency"] = theory.quantiles[0.95] if theory else None
        row["failure_probability"] = theory.failure_probability if theory else None
        row["mean_tasks_per_worker"] = theory.tasks_per_worker if theory else None
        row["uploads_per_iteration"] = theory.uploads_per_iteration if theory else None
        row["signals_per_iteration"] = theory.signals_per_iteration if theory else None
        row["activity_method"] = theory.activity_method if theory else None
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


def _print_table(
    rows: dict[str, dict[str, Any]], labels: dict[str, str], header: str, with_mc: bool
) -> None:
    columns = ["scheme", "E[T]", "p50", "p95", "P(fail)", "tasks/worker", "uploads", "signals"]
    if with_mc:
        columns += ["MC mean ± stderr", "MC fail"]
    table = []
    simulated = False
    for name, row in rows.items():
        cells = [
            labels[name],
            number(row["expected_latency"], 3),
            number(row["p50_latency"], 3),
            number(row["p95_latency"], 3),
            number(row["failure_probability"], 4),
            number(row["mean_tasks_per_worker"], 3),
            number(row["uploads_per_iteration"], 2),
            number(row["signals_per_iteration"], 2),
        ]
        if row["activity_method"] == "monte carlo":
            simulated = True
            for index in (5, 6, 7):
                cells[index] += "*"
        if row["mean_tasks_per_worker"] is None and row["mc_mean_tasks_per_worker"] is not None:
            cells[5] = number(row["mc_mean_tasks_per_worker"], 3) + " (MC)"
            cells[6] = number(row["mc_uploads_per_iteration"], 2) + " (MC)"
            cells[7] = number(row["mc_signals_per_iteration"], 2) + " (MC)"
        if with_mc:
            mean, err = row["mc_mean_latency"], row["mc_stderr"]
            finite = mean is not None and math.isfinite(mean)
            cells.append(f"{number(mean, 3)} ± {number(err, 3)}" if finite else number(mean))
            cells.append(str(row["mc_failed"]))
        table.append(cells)
    print(header)
    print_table(columns, table)
    if simulated:
        print("* load and communication by Monte Carlo (only the latency has an exact program)")
    missing = [name for name, row in rows.items() if row["failure_probability"] is None]
    if missing and not with_mc:
        names = ", ".join(labels[name] for name in missing)
        print(
            f"{names}: no exact distribution under this model; --mc K estimates it by Monte Carlo"
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
    drawn = [s for s in schemes if has_exact_theory(s, n, model) or sims]
    samples = {s.name: {"Monte Carlo": sims[s.name].latency} for s in drawn} if sims else None
    fig, ax = new_figure(width=8.4, layout="constrained")
    plot_latency_cdfs(
        ax, n, drawn, model, samples=samples, t=np.linspace(0.0, upper, 400), legend="outside"
    )
    ax.set_ylabel("P(latency ≤ t)")
    ax.set_title(f"Latency distribution, n = {n}\n{model.describe()}", fontsize="medium")
    save_figure(fig, path, close=True)


def run(args: argparse.Namespace) -> int:
    seed = seed_from_args(args)
    if args.smax >= args.workers:
        raise UsageError(f"--smax must be below --workers ({args.workers}), got {args.smax}")
    if isinstance(args.schemes, str) and args.schemes.strip().lower() == "all":
        args.schemes = _default_schemes(args.smax)
    model = model_from_args(args)
    levels = levels_from_args(args)
    schemes = schemes_from_args(args)
    check_plot_path(args.plot)
    if args.plot is not None and not args.mc:
        if not any(has_exact_theory(scheme, args.workers, model) for scheme in schemes):
            raise UsageError(
                "--plot draws latency distributions, and none of these schemes has an exact one "
                "under this model: add --mc K to draw Monte Carlo estimates"
            )
    n = args.workers
    check_theory(n, schemes)
    if args.mc:
        check_monte_carlo(n, schemes, KEEP)
    progress = not args.no_progress
    theories, interrupted = _theories(schemes, n, model, progress)
    simulations, mc_done, exact_quantiles = None, 0, True
    if args.mc and not interrupted:
        with Progress(args.mc, "gclib latency: Monte Carlo", "it", enabled=progress) as bar:
            result = monte_carlo(
                n, schemes, model, args.mc, seed, progress=bar.update, stop_on_interrupt=True
            )
        interrupted, mc_done = result.interrupted, result.iterations
        simulations = result.schemes if mc_done else None
        exact_quantiles = all(s.exact_quantiles for s in result.schemes.values())
    rows = _scheme_rows(schemes, theories, simulations, _exact_means(schemes, n, model))
    if interrupted:
        exact = sum(has_exact_theory(scheme, n, model) for scheme in schemes)
        print(
            f"interrupted: reporting the exact theory of {len(theories)} of {exact} schemes"
            + (f" and {mc_done} of {args.mc} Monte Carlo iterations" if args.mc else ""),
            file=sys.stderr,
        )

    def save_plot() -> None:
        _plot(args.plot, schemes, n, model, rows, simulations)

    if args.json:
        mc: dict[str, Any] = {"mc_iterations": mc_done, "seed": seed}
        if args.mc:
            mc["mc_quantiles"] = "exact" if exact_quantiles else f"sample of {KEEP}"
        if interrupted:
            mc.update(interrupted=True, mc_iterations_requested=args.mc)
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
                    "shared_link": model.shared_link,
                },
                "schemes": rows,
                **mc,
            }
        )
    else:
        monte = ""
        if args.mc:
            monte = f", Monte Carlo: {mc_done} iterations (seed {seed})"
            if mc_done < args.mc:
                monte += f" of {args.mc} requested"
            if not exact_quantiles:
                monte += f", p95 from a sample of {KEEP}"
        header = f"n = {n}, s_max = {args.smax}, S = {_level_set(levels)}, {model.describe()}"
        labels = {scheme.name: scheme.label for scheme in schemes}
        _print_table(rows, labels, header + monte, bool(args.mc))
    if args.plot is not None:
        if interrupted:
            print(f"interrupted: no figure written to {args.plot}", file=sys.stderr)
        elif not write_plot(args.plot, save_plot):
            return 1
        elif not args.json:
            print(f"figure written to {args.plot}")
    sys.stdout.flush()
    return interrupt_status() if interrupted else 0
