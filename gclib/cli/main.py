"""The ``gclib`` command line: ``gclib demo``, ``gclib latency`` and ``gclib train``."""

from __future__ import annotations

import argparse
import importlib
import sys

from gclib.cli.interrupts import interrupt_status, sigterm_as_interrupt
from gclib.cli.options import UsageError

__all__ = ["main"]

# subcommand -> module exposing add_parser(subparsers) which sets `handler` (args -> exit code)
_SUBCOMMANDS = ("gclib.cli.demo", "gclib.cli.latency", "gclib.cli.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gclib",
        description="Nested gradient codes for straggler mitigation: theory, simulation and a "
        "real multiprocess worker pool.",
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.add_parser(subparsers)
    return parser


def _version() -> str:
    from gclib import __version__

    return f"gclib {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with sigterm_as_interrupt():  # SIGTERM ends a subcommand as Ctrl-C does
            return int(args.handler(args) or 0)
    except UsageError as error:
        subparser = getattr(args, "subparser", parser)
        subparser.print_usage(sys.stderr)
        print(f"{subparser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return interrupt_status()


if __name__ == "__main__":
    sys.exit(main())
