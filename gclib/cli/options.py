"""Options shared by the subcommands: the runtime model, the placement and the output mode."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gclib._verify import check_seed
from gclib.model import RuntimeModel
from gclib.schemes.parse import Scheme, parse_levels, parse_schemes

__all__ = [
    "UsageError",
    "add_model_arguments",
    "add_placement_arguments",
    "add_output_arguments",
    "model_from_args",
    "model_json",
    "levels_from_args",
    "schemes_from_args",
    "emit_json",
    "JSON_CONVENTION",
    "check_plot_path",
    "add_timing_arguments",
    "check_timing",
    "MIN_TIME_UNIT",
    "MAX_WAIT",
    "seed_from_args",
    "SEED_LIMIT",
    "spread_tolerances",
    "write_plot",
    "positive_int",
    "non_negative_int",
    "integer",
    "real",
]


# The straggler probability of the reference scenario, used unless --stragglers is given.
DEFAULT_STRAGGLER_PROB = 0.2


class UsageError(Exception):
    """Bad command-line input: reported as a usage message with exit status 2."""


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError("expected a number, got nan")
    return value


def real(text: str) -> float:
    """A real number; ``inf`` is accepted."""
    return _number(text)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def add_placement_arguments(
    parser: argparse.ArgumentParser,
    *,
    workers: int = 10,
    smax: int = 4,
    schemes: str,
    schemes_help: str = "%(default)s",
) -> None:
    group = parser.add_argument_group("placement and schemes")
    group.add_argument(
        "--workers", "-n", type=positive_int, default=workers, help=f"workers n (default {workers})"
    )
    group.add_argument(
        "--smax",
        type=non_negative_int,
        default=smax,
        help=f"largest tolerance; each worker stores s_max+1 partitions (default {smax})",
    )
    group.add_argument(
        "--levels",
        default=None,
        help="level set S of the nested code, e.g. '0,1,3' or '0-4' (default: all, 0..s_max)",
    )
    group.add_argument(
        "--schemes",
        default=schemes,
        help="comma list of nested, uncoded, gc:S, ignore:S, streaming, cover, nested-eager "
        f"(default {schemes_help})",
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("runtime and straggler model")
    group.add_argument("--shift", type=real, default=1.0, help="task time shift a (default 1)")
    group.add_argument("--rate", type=real, default=1.0, help="exponential rate mu (default 1)")
    group.add_argument(
        "--straggler-prob",
        type=real,
        default=None,
        help=f"Bernoulli straggler probability p (default {DEFAULT_STRAGGLER_PROB})",
    )
    group.add_argument(
        "--stragglers",
        type=non_negative_int,
        default=None,
        help="fixed number of stragglers per iteration (instead of --straggler-prob)",
    )
    group.add_argument(
        "--slowdown", type=real, default=8.0, help="straggler slowdown kappa; 'inf' = unresponsive"
    )
    group.add_argument("--crash-prob", type=real, default=0.0, help="per-worker crash probability")
    group.add_argument(
        "--upload-cost", type=real, default=0.0, help="time one upload occupies a link (default 0)"
    )
    group.add_argument(
        "--signal-cost",
        type=real,
        default=0.0,
        help="one-way time of a control message: signal, request, stop (default 0)",
    )
    group.add_argument(
        "--shared-link",
        action="store_true",
        help="the master receives over one link, one upload at a time (default: a link each)",
    )


def add_output_arguments(parser: argparse.ArgumentParser, *, plot: bool = True) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    if plot:
        group.add_argument("--plot", metavar="FILE", default=None, help="save a figure to FILE")


def model_from_args(args: argparse.Namespace) -> RuntimeModel:
    straggler_prob = args.straggler_prob
    if args.stragglers is not None and straggler_prob is not None:
        raise UsageError(
            "--stragglers and --straggler-prob exclude each other: give a fixed count or a "
            "probability, not both"
        )
    if straggler_prob is None:
        straggler_prob = 0.0 if args.stragglers is not None else DEFAULT_STRAGGLER_PROB
    try:
        model = RuntimeModel(
            args.shift,
            args.rate,
            straggler_prob=straggler_prob,
            slowdown=args.slowdown,
            stragglers=args.stragglers,
            crash_prob=args.crash_prob,
            upload_cost=args.upload_cost,
            signal_cost=args.signal_cost,
            shared_link=args.shared_link,
        )
        model.check_workers(args.workers)
    except ValueError as error:
        raise UsageError(_option_message(str(error))) from None
    return model


def levels_from_args(args: argparse.Namespace) -> tuple[int, ...]:
    if args.smax >= args.workers:
        raise UsageError(f"--smax must be below --workers ({args.workers}), got {args.smax}")
    if args.levels is not None:
        _check_items(args.levels, "--levels", "'0,2,4' or '0-4'", "all levels, 0..s_max")
        for item in args.levels.split(","):
            match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", item)
            if match and int(match[1]) > int(match[2]):
                raise UsageError(
                    f"--levels range {item.strip()!r} is reversed: write the lower level first, "
                    f"'{match[2]}-{match[1]}'"
                )
    try:
        return parse_levels(args.levels, args.smax)
    except ValueError as error:
        raise UsageError(_option_message(str(error))) from None


def schemes_from_args(args: argparse.Namespace) -> tuple[Scheme, ...]:
    levels = levels_from_args(args)
    _check_items(args.schemes, "--schemes", "'nested,gc:2'", "the default schemes")
    try:
        schemes = parse_schemes(args.schemes, args.smax, levels, args.workers)
    except ValueError as error:
        raise UsageError(_option_message(str(error))) from None
    if args.levels is not None and not any(_uses_levels(scheme) for scheme in schemes):
        prog = getattr(getattr(args, "subparser", None), "prog", "gclib")
        print(
            f"{prog}: note: --levels only affects the nested and nested-eager schemes, and "
            "--schemes lists neither",
            file=sys.stderr,
        )
    return schemes


def _uses_levels(scheme: Scheme) -> bool:
    from gclib.schemes.coded import NestedEagerScheme, NestedScheme

    return isinstance(scheme, NestedScheme | NestedEagerScheme)


def _check_items(text: str, option: str, example: str, default: str) -> None:
    """Refuse an empty comma list, or one with an empty item, in the words of ``option``."""
    if not text.strip():
        raise UsageError(
            f"{option} is empty: give a comma list like {example}, or leave the option out "
            f"for {default}"
        )
    if any(not item.strip() for item in text.split(",")):
        raise UsageError(
            f"{option} {text!r} has an empty item: separate the items by single commas, "
            f"as in {example}"
        )


def _option_message(message: str) -> str:
    """Translate "Argument 'straggler_prob'" into the option the user typed."""
    for name, option in (
        ("straggler_prob", "--straggler-prob"),
        ("crash_prob", "--crash-prob"),
        ("upload_cost", "--upload-cost"),
        ("signal_cost", "--signal-cost"),
        ("stragglers", "--stragglers"),
        ("slowdown", "--slowdown"),
        ("shift", "--shift"),
        ("rate", "--rate"),
        ("levels", "--levels"),
        ("schemes", "--schemes"),
        ("scheme", "--schemes"),  # one item of the list
    ):
        message = message.replace(f"Argument '{name}'", option)
        message = message.replace(f"Arguments '{name}'", option)
        message = message.replace(f"'{name}'", option)
    return message


# Seeds every consumer takes: numpy's SeedSequence takes any integer >= 0, scikit-learn's
# random_state (the split of `gclib train`) only those below 2**32.
SEED_LIMIT = 2**32


def seed_from_args(args: argparse.Namespace) -> int:
    """``--seed``, checked by the library's one seed check against :data:`SEED_LIMIT`."""
    try:
        return int(check_seed(args.seed, "seed", high=SEED_LIMIT))  # type: ignore[arg-type]
    except ValueError:
        raise UsageError(
            f"--seed must be an integer in [0, 2**32) = [0, {SEED_LIMIT - 1}], not {args.seed}"
        ) from None


def integer(text: str) -> int:
    """Any integer; the range is checked where the value is used."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


# Finer time units than this are below what the pool can honour: one iteration costs the master
# and the workers about a millisecond of messages and scheduling of their own.
MIN_TIME_UNIT = 1e-4


# The longest wall time the pool may wait for one iteration, or a worker for one of its tasks: a
# week, well within what the waits of the master (poll: 2**31 ms, 24.8 days) and the workers
# (select) accept.
MAX_WAIT = 7 * 24 * 3600.0


def add_timing_arguments(group: argparse._ArgumentGroup, *, time_unit: float) -> None:
    """``--time-unit`` and ``--deadline`` of the subcommands that run the worker pool."""
    group.add_argument(
        "--time-unit",
        type=real,
        default=time_unit,
        help=f"seconds per model time unit, at least {MIN_TIME_UNIT:g} (default {time_unit:g})",
    )
    group.add_argument(
        "--deadline",
        type=real,
        default=None,
        help="per-iteration deadline in model time units (default: derived from the model, four "
        "times what a slowed worker needs for its tasks); --deadline × --time-unit, and the "
        f"time a slowed worker needs, must stay within a week ({MAX_WAIT:g} s) of wall time",
    )


def check_timing(args: argparse.Namespace, model: RuntimeModel, tasks: int) -> None:
    """``--time-unit`` and ``--deadline``, and the wall time the pool would wait for ``model``
    with ``tasks`` tasks per worker: refused beyond :data:`MAX_WAIT`, before any work."""
    unit = args.time_unit
    if not (0.0 < unit < math.inf):
        raise UsageError(f"--time-unit must be a positive number of seconds, got {unit}")
    if unit < MIN_TIME_UNIT:
        raise UsageError(
            f"--time-unit must be at least {MIN_TIME_UNIT:g} s, got {unit:g}: the pool's "
            "own overhead (about a millisecond per iteration) would swamp finer time units"
        )
    if args.deadline is not None and not (0.0 < args.deadline < math.inf):
        raise UsageError(f"--deadline must be a positive number, got {args.deadline}")
    if args.deadline is not None and not args.deadline * unit <= MAX_WAIT:
        raise UsageError(
            f"--deadline {args.deadline:g} at --time-unit {unit:g} s is "
            f"{_seconds(args.deadline * unit)} of wall time, beyond the longest the pool waits, "
            f"a week ({MAX_WAIT:g} s): lower --deadline or --time-unit"
        )
    from gclib.runtime.results import default_deadline

    derived = default_deadline(model, tasks)  # 4 × (a slowed worker's tasks + the costs)
    slowed = derived / 4.0 * unit
    if args.deadline is None and not derived * unit <= MAX_WAIT:
        what = (
            f"the deadline derived from the model ({derived:.3g} model time units, four times "
            f"what a slowed worker needs for its {tasks} tasks and their messages) is "
            f"{_seconds(derived * unit)} of wall time at --time-unit {unit:g} s"
        )
        deadline_helps = slowed <= MAX_WAIT
    elif not slowed <= MAX_WAIT:
        what = (
            f"a slowed worker needs up to about {_seconds(slowed)} of wall time for its {tasks} "
            f"tasks and their messages at --time-unit {unit:g} s"
        )
        deadline_helps = False
    else:
        return
    costs = model.upload_cost + tasks * model.signal_cost
    slowdown = model.slowdown
    # the same derived deadline for unslowed workers: 4 × (work + costs), the work κ times less
    unslowed = 4.0 * ((derived / 4.0 - costs) / slowdown + costs) if slowdown > 1.0 else math.inf
    if math.isfinite(slowdown) and unslowed * unit <= MAX_WAIT:
        advice = f"give --slowdown inf for unresponsive stragglers rather than {slowdown:g}"
    else:
        advice = "lower --time-unit, --shift or the costs, or raise --rate"
    if deadline_helps:
        advice += f", or give a --deadline of at most {MAX_WAIT / unit:.3g}"
    raise UsageError(
        f"{what}: beyond the longest the pool waits, a week ({MAX_WAIT:g} s); {advice}"
    )


def _seconds(value: float) -> str:
    return f"{value:.3g} s" if math.isfinite(value) else "over 1e308 s"


def spread_tolerances(s_max: int, every_up_to: int = 8, count: int = 5) -> list[int]:
    """The tolerances of the default GC(s) schemes: ``1 … s_max`` up to ``s_max = every_up_to``,
    beyond it ``count`` of them spread geometrically over ``1 … s_max`` (53 schemes at
    ``s_max = 50`` would take long and say little more)."""
    if s_max <= every_up_to:
        return list(range(1, s_max + 1))
    return sorted({round(s_max ** (k / (count - 1))) for k in range(count)})


JSON_CONVENTION = (
    "JSON has no infinity and no NaN: a value that is infinite, undefined or absent is null, and "
    "the fields beside it say which (a failure probability or count above 0: infinite; no "
    "theory or nothing measured: absent)."
)


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (numpy scalars and arrays included) as ``None``:
    the one JSON convention of every subcommand (:data:`JSON_CONVENTION`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return _json_safe(value.tolist())
    return value


def emit_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as one JSON object; infinite and undefined values become ``null``.
    Nothing when standard output is closed."""
    if sys.stdout is None:
        return
    json.dump(_json_safe(payload), sys.stdout, allow_nan=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def model_json(model: RuntimeModel) -> dict[str, Any]:
    """The runtime model as the ``"model"`` object of the JSON output."""
    return {
        "shift": model.shift,
        "rate": model.rate,
        "straggler_prob": model.straggler_prob,
        "stragglers": model.stragglers,
        "slowdown": model.slowdown,
        "crash_prob": model.crash_prob,
        "upload_cost": model.upload_cost,
        "signal_cost": model.signal_cost,
        "shared_link": model.shared_link,
    }


def check_plot_path(path: str | None) -> None:
    """Refuse, before any work is done, a ``--plot`` file that cannot be a figure or be written.

    Permission bits do not tell (``/proc`` looks writable to root): a file is created in the
    folder and removed again. The figure is drawn by matplotlib's file backend (Agg) whatever
    ``MPLBACKEND`` or a ``matplotlibrc`` say: it is only ever written to a file.
    """
    if path is None:
        return
    _use_file_backend()
    from gclib.plotting.style import FIGURE_SUFFIXES

    if not path.lower().endswith(FIGURE_SUFFIXES):
        raise UsageError(f"--plot must name a .png, .pdf or .svg file, not {path!r}")
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(f"--plot must name a file, but {path!r} is a directory")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # save_figure creates the missing folders below this one
    reason = "not a writable folder"
    if folder.is_dir():
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".gclib-plot-check-"):
                return
        except OSError as error:
            reason = f"not a writable folder (creating a file there fails: {error.strerror})"
    raise UsageError(f"--plot {path!r} cannot be written: {str(folder)!r} is {reason}")


def _use_file_backend() -> None:
    """Make matplotlib draw with Agg, which writes PNG, PDF and SVG files and needs no display:
    an ``MPLBACKEND`` it does not know would otherwise fail its import after the whole run."""
    if "matplotlib" in sys.modules:
        import matplotlib

        matplotlib.use("agg")
    else:
        os.environ["MPLBACKEND"] = "agg"


def write_plot(path: str, write: Callable[[], object]) -> bool:
    """Run ``write`` (which saves the figure to ``path``); on failure say why in one line on
    standard error.

    The results have been printed before, so a figure that cannot be written loses nothing else.
    """
    try:
        write()
    except OSError as error:
        reason = error.strerror or str(error)
    except Exception as error:  # matplotlib's own complaints, e.g. of its configuration
        reason = " ".join(f"{type(error).__name__}: {error}".split())
    else:
        return True
    print(f"gclib: error: could not write the figure {path!r}: {reason}", file=sys.stderr)
    return False
