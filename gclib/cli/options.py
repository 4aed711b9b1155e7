"""Options shared by the subcommands: the runtime model, the placement and the output mode."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gclib.model import RuntimeModel
from gclib.schemes.parse import Scheme, parse_levels, parse_schemes

__all__ = [
    "UsageError",
    "add_model_arguments",
    "add_placement_arguments",
    "add_output_arguments",
    "model_from_args",
    "levels_from_args",
    "schemes_from_args",
    "emit_json",
    "check_plot_path",
    "write_plot",
    "positive_int",
    "non_negative_int",
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
    parser: argparse.ArgumentParser, *, workers: int = 10, smax: int = 4, schemes: str
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
        help="comma list of nested, uncoded, gc:S, ignore:S, streaming (default %(default)s)",
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
    group.add_argument("--upload-cost", type=real, default=0.0, help="time of one upload")
    group.add_argument("--signal-cost", type=real, default=0.0, help="time of one progress signal")


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
        )
        model.check_workers(args.workers)
    except ValueError as error:
        raise UsageError(_option_message(str(error))) from None
    return model


def levels_from_args(args: argparse.Namespace) -> tuple[int, ...]:
    if args.smax >= args.workers:
        raise UsageError(f"--smax must be below --workers ({args.workers}), got {args.smax}")
    try:
        return parse_levels(args.levels, args.smax)
    except ValueError as error:
        raise UsageError(_option_message(str(error))) from None


def schemes_from_args(args: argparse.Namespace) -> tuple[Scheme, ...]:
    levels = levels_from_args(args)
    try:
        return parse_schemes(args.schemes, args.smax, levels, args.workers)
    except ValueError as error:
        raise UsageError(_option_message(str(error))) from None


def _option_message(message: str) -> str:
    """Translate "Argument 'straggler_prob'" into the option the user typed."""
    for name in (
        "straggler_prob",
        "crash_prob",
        "upload_cost",
        "signal_cost",
        "stragglers",
        "slowdown",
        "shift",
        "rate",
        "levels",
        "schemes",
        "scheme",
    ):
        message = message.replace(f"Argument '{name}'", "--" + name.replace("_", "-"))
        message = message.replace(f"Arguments '{name}'", "--" + name.replace("_", "-"))
        message = message.replace(f"'{name}'", "--" + name.replace("_", "-"))
    return message


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_safe(value.item())
    return value


def emit_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as one JSON object; infinities become the string ``"inf"``."""
    json.dump(_json_safe(payload), sys.stdout, allow_nan=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def check_plot_path(path: str | None) -> None:
    """Refuse, before any work is done, a ``--plot`` file that cannot be a figure or be written."""
    if path is None:
        return
    from gclib.plotting.style import FIGURE_SUFFIXES

    if not path.lower().endswith(FIGURE_SUFFIXES):
        raise UsageError(f"--plot must name a .png, .pdf or .svg file, not {path!r}")
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(f"--plot must name a file, but {path!r} is a directory")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # save_figure creates the missing folders below this one
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(
            f"--plot {path!r} cannot be written: {str(folder)!r} is not a writable folder"
        )


def write_plot(path: str, write: Callable[[], object]) -> bool:
    """Run ``write`` (which saves the figure to ``path``); on failure say why on standard error.

    The results have been printed before, so a figure that cannot be written loses nothing else.
    """
    try:
        write()
    except OSError as error:
        reason = error.strerror or str(error)
        print(f"gclib: error: could not write the figure {path!r}: {reason}", file=sys.stderr)
        return False
    return True
