"""``gclib latency``: the exact latency theory of every scheme, optionally with Monte Carlo."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import Any

from gclib.analysis.activity import (
    expected_signals,
    expected_tasks_per_worker,
    expected_uploads,
    level_probabilities,
)
from gclib.analysis.latency import expected_latency, failure_probability
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
    model_json,
    non_negative_int,
    real,
    schemes_from_args,
    seed_from_args,
    spread_tolerances,
    write_plot,
)
from gclib.cli.progress import Progress
from gclib.cli.resources import (
    THEORY_TIME_LIMIT,
    check_monte_carlo,
    check_theory,
    check_theory_time,
    duration,
    theory_seconds,
    theory_total,
)
from gclib.cli.table import number, print_table
from gclib.schemes.parse import Scheme

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Exact expected latency, quantiles, computation load and communication of each scheme for the
runtime model (shifted-exponential tasks, Bernoulli or fixed-count stragglers, crashes), from the
dynamic program of the theory. With --mc K the same quantities are also estimated from K Monte
Carlo iterations. Streaming and cover (the coverage bound) come from the exact coverage program;
a scheme without an exact theory is shown by Monte Carlo only. Latencies are in model time units.

In JSON the field "theory" of each scheme says what its exact values are: "exact" (the whole
distribution), "mean" (the mean, the failure probability, the load and the communication, but no
quantiles: the requested uploads queue on a shared link), "none" (no exact theory under this
model; the mc_ fields estimate it), "skipped" (left to the Monte Carlo: it would take longer than
--time-limit) or "interrupted" (not computed before an interrupt). Means are
over every iteration, infinite (null in JSON) when some never finish.

Monte Carlo runs in batches of bounded memory; its quantiles are exact up to 1000000 iterations
and estimated from a uniform sample of 1000000 iterations beyond. Progress goes to standard error
(a bar on a terminal, else a line every few seconds once a run takes long); Ctrl-C or SIGTERM
ends the run and reports what it has (exit status 130 or 143, "interrupted": true in JSON).

The run time of the exact theory grows with s_max and n (an n = 100, s_max = 99 table takes a
minute or so). It is estimated up front from the size of the dynamic programs; beyond
--time-limit the command refuses, or with --mc K leaves the slowest schemes to Monte Carlo."""


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
    parser.add_argument(
        "--time-limit",
        type=real,
        default=THEORY_TIME_LIMIT,
        metavar="SECONDS",
        help="refuse an exact theory estimated to take longer (with --mc K, leave the slowest "
        f"schemes to Monte Carlo instead); 0: no limit (default {THEORY_TIME_LIMIT:g})",
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


# an exact theory estimated to take this many seconds is announced on standard error
_ANNOUNCE = 10.0
# what the exact theory gave for a scheme (the JSON field "theory")
_EXACT, _MEAN, _NONE, _INTERRUPTED, _SKIPPED = "exact", "mean", "none", "interrupted", "skipped"


def _theory_kind(scheme: Scheme, n: int, model: Any) -> str:
    """``exact``: the whole distribution; ``mean``: the mean, the failure probability, the load
    and the communication but no quantiles (requested uploads queueing on a shared link);
    ``none``: no exact theory under this model."""
    if has_exact_theory(scheme, n, model):
        return _EXACT
    return _MEAN if has_exact_mean(scheme, n, model) else _NONE


def _mean_summary(n: int, scheme: Scheme, model: Any) -> LatencySummary:
    """Every exact quantity of a scheme whose latency distribution the theory does not reach:
    all but the quantiles."""
    return LatencySummary(
        scheme=scheme.name,
        levels=scheme.levels,
        expected_latency=expected_latency(n, scheme, model),
        failure_probability=failure_probability(n, scheme, model),
        quantiles={},
        tasks_per_worker=expected_tasks_per_worker(n, scheme, model),
        uploads_per_iteration=expected_uploads(n, scheme, model),
        signals_per_iteration=expected_signals(n, scheme, model),
        level_probabilities=level_probabilities(n, scheme, model),
    )


def _theories(
    schemes: tuple[Scheme, ...], n: int, model: Any, progress: bool, skipped: Sequence[str] = ()
) -> tuple[dict[str, LatencySummary], dict[str, str], bool]:
    """The exact theory of every scheme that has one, in order, with progress on standard error,
    and what each scheme got (:func:`_theory_kind`, ``skipped``: left out for its run time, or
    ``interrupted``: not reached before an interrupt); on an interrupt, those finished and
    ``True``."""
    kinds = {scheme.name: _theory_kind(scheme, n, model) for scheme in schemes}
    kinds.update(dict.fromkeys(skipped, _SKIPPED))
    todo = [scheme for scheme in schemes if kinds[scheme.name] in (_EXACT, _MEAN)]
    theories: dict[str, LatencySummary] = {}
    with Progress(len(todo), "gclib latency: exact theory", "schemes", enabled=progress) as bar:
        try:
            for scheme in todo:
                bar.status(scheme.name)
                if kinds[scheme.name] == _EXACT:
                    summary = latency_summary(n, scheme, model, quantiles=(0.5, 0.95))
                else:
                    summary = _mean_summary(n, scheme, model)
                theories[scheme.name] = summary
                bar.update()
        except KeyboardInterrupt:
            for scheme in todo:
                if scheme.name not in theories:
                    kinds[scheme.name] = _INTERRUPTED
            return theories, kinds, True
    return theories, kinds, False


def _scheme_rows(
    schemes: tuple[Scheme, ...],
    theories: dict[str, LatencySummary],
    kinds: dict[str, str],
    simulations: dict[str, MonteCarloSummary] | None,
) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for scheme in schemes:
        row: dict[str, Any] = {"levels": list(scheme.levels), "theory": kinds[scheme.name]}
        theory = theories.get(scheme.name)
        row["expected_latency"] = theory.expected_latency if theory else None
        row["p50_latency"] = theory.quantiles.get(0.5) if theory else None
        row["p95_latency"] = theory.quantiles.get(0.95) if theory else None
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


def _mc_cell(mean: float | None, err: float | None) -> str:
    """``mean ± stderr``; ``-`` for a standard error that is undefined (one iteration)."""
    if mean is None or not math.isfinite(mean):
        return number(mean)
    spread = number(err, 3) if err is not None and math.isfinite(err) else "-"
    return f"{number(mean, 3)} ± {spread}"


def _print_table(
    rows: dict[str, dict[str, Any]],
    labels: dict[str, str],
    header: str,
    with_mc: bool,
    model: Any,
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
            cells.append(_mc_cell(row["mc_mean_latency"], row["mc_stderr"]))
            cells.append(str(row["mc_failed"]))
        table.append(cells)
    print(header)
    print_table(columns, table)
    for note in _notes(rows, labels, with_mc, model, simulated):
        print(note)


def _notes(
    rows: dict[str, dict[str, Any]],
    labels: dict[str, str],
    with_mc: bool,
    model: Any,
    simulated: bool,
) -> list[str]:
    """What the table's values are where not every column is exact."""
    notes = []
    if simulated:
        notes.append(
            "* load and communication by Monte Carlo (only the latency has an exact program)"
        )

    def names(kind: str) -> str:
        return ", ".join(labels[name] for name, row in rows.items() if row["theory"] == kind)

    queue = " (the requested uploads queue on the shared link)" if model.shared_link else ""
    if names(_MEAN):
        notes.append(
            f"{names(_MEAN)}: exact mean, P(fail), load and communication; no exact quantiles"
            + queue
            + ("" if with_mc else "; --mc K estimates the distribution by Monte Carlo")
        )
    if names(_NONE):
        why = " (their uploads queue on the shared link)" if model.shared_link else ""
        notes.append(
            f"{names(_NONE)}: no exact theory under this model{why}"
            + ("; Monte Carlo only" if with_mc else "; --mc K estimates them by Monte Carlo")
        )
    if names(_INTERRUPTED):
        notes.append(f"{names(_INTERRUPTED)}: exact theory not computed, the run was interrupted")
    failing = any(
        (row["failure_probability"] or 0.0) > 0.0 or (row["mc_failed"] or 0) > 0
        for row in rows.values()
    )
    if failing:
        means = "E[T] and the MC mean are" if with_mc else "E[T] is"
        notes.append(
            f"{means} over every iteration, not only those that finish: inf where some never "
            "do (P(fail) > 0); p50 and p95 count those as inf"
        )
    return notes


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
    if not math.isfinite(args.time_limit) or args.time_limit < 0:
        raise UsageError(
            f"--time-limit must be a number of seconds >= 0 (0: no limit), got {args.time_limit}"
        )
    check_theory(n, schemes)
    if args.mc:
        check_monte_carlo(n, schemes, KEEP)
    labels = {scheme.name: scheme.label for scheme in schemes}
    try:
        estimates = theory_seconds(n, schemes, model)
    except ValueError as error:  # a model whose exact load double precision cannot resolve
        raise UsageError(str(error).replace("Argument 'rate'", "--rate")) from None
    skipped = check_theory_time(estimates, labels, args.time_limit, bool(args.mc))
    progress = not args.no_progress and sys.stderr is not None
    expected = theory_total(estimates, [name for name in estimates if name not in skipped])
    if progress and expected >= _ANNOUNCE:
        print(f"gclib latency: the exact theory takes about {duration(expected)}", file=sys.stderr)
    theories, kinds, interrupted = _theories(schemes, n, model, progress, skipped)
    simulations, mc_done, exact_quantiles = None, 0, True
    if args.mc and not interrupted:
        with Progress(args.mc, "gclib latency: Monte Carlo", "it", enabled=progress) as bar:
            result = monte_carlo(
                n, schemes, model, args.mc, seed, progress=bar.update, stop_on_interrupt=True
            )
        interrupted, mc_done = result.interrupted, result.iterations
        simulations = result.schemes if mc_done else None
        exact_quantiles = all(s.exact_quantiles for s in result.schemes.values())
    rows = _scheme_rows(schemes, theories, kinds, simulations)
    if interrupted:
        exact = sum(kind in (_EXACT, _MEAN, _INTERRUPTED) for kind in kinds.values())
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
                "model": model_json(model),
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
        _print_table(rows, labels, header + monte, bool(args.mc), model)
        if skipped:
            print(
                f"{', '.join(labels[name] for name in skipped)}: exact theory left out, it would "
                f"take about {duration(theory_total(estimates, skipped))} beyond "
                f"--time-limit {args.time_limit:g} s; the MC columns estimate them"
            )
    if args.plot is not None:
        if interrupted:
            print(f"interrupted: no figure written to {args.plot}", file=sys.stderr)
        elif not write_plot(args.plot, save_plot):
            return 1
        elif not args.json:
            print(f"figure written to {args.plot}")
    return interrupt_status() if interrupted else 0
