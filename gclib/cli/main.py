"""The ``gclib`` command line: ``gclib demo``, ``gclib latency`` and ``gclib train``."""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from gclib.cli.interrupts import interrupt_status, interrupts_handled
from gclib.cli.options import UsageError, emit_json

__all__ = ["main"]

# subcommand -> module exposing add_parser(subparsers) which sets `handler` (args -> exit code)
_SUBCOMMANDS = ("gclib.cli.demo", "gclib.cli.latency", "gclib.cli.train")

_EPILOG = (
    "Exit status: 0 on success, 2 for bad usage, 1 for a failure at run time (standard output "
    "that cannot be written included), 130 after Ctrl-C and 143 after SIGTERM (with the results "
    "so far). A pipe closed by its reader (gclib … | head) ends the command quietly with status "
    "141, as SIGPIPE ends other tools. Characters the output's encoding cannot represent are "
    "written as '?'."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gclib",
        description="Nested gradient codes for straggler mitigation: theory, simulation and a "
        "real multiprocess worker pool.",
        epilog=_EPILOG,
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


class _OutputFailed(Exception):
    """Writing to standard output failed (the ``OSError`` is the cause)."""


class _GuardedOutput:
    """Standard output whose failed writes raise :class:`_OutputFailed`: told apart from every
    other ``OSError`` of a command, and caught by none of the ``except OSError`` on the way."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as error:
            raise _OutputFailed from error

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as error:
            raise _OutputFailed from error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _replacing_unencodable() -> Iterator[None]:
    """Standard output and error write what their encoding cannot represent as ``?``."""
    restore = []
    for stream in (sys.stdout, sys.stderr):
        errors = getattr(stream, "errors", None)
        if errors == "strict" and hasattr(stream, "reconfigure"):
            with contextlib.suppress(OSError, ValueError):
                stream.reconfigure(errors="replace")
                restore.append((stream, errors))
    try:
        yield
    finally:
        for stream, errors in restore:
            with contextlib.suppress(OSError, ValueError):
                stream.reconfigure(errors=errors)


def _say(text: str) -> None:
    """One line on standard error, if it can be written at all."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(text, file=sys.stderr, flush=True)


def _discard_output(stream: TextIO | None) -> None:
    """Send what is left of standard output to the null device: the flush at exit then fails
    no more (the standard recipe after a broken pipe)."""
    try:
        fd = stream.fileno() if stream is not None else None
    except (OSError, ValueError, AttributeError):
        fd = None
    if fd is not None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    with contextlib.suppress(OSError, ValueError, AttributeError):
        stream.flush()


def main(argv: list[str] | None = None) -> int:
    with _replacing_unencodable(), interrupts_handled():
        try:
            return _main(argv)
        except KeyboardInterrupt:  # before the subcommand could summarise anything
            _say("interrupted")
            return interrupt_status()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    subparser = getattr(args, "subparser", parser)
    if extra:  # reported by the parser of the part they stand in, with its usage
        words = list(sys.argv[1:] if argv is None else argv)
        command = words.index(args.command) if args.command in words else len(words)
        before = [word for word in extra if word in words[:command]]
        (parser if before else subparser).error(
            f"unrecognized arguments: {' '.join(before or extra)}"
        )
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    stdout = sys.stdout
    # standard output closed (`>&-`): what would go there goes nowhere, without an error
    sink = open(os.devnull, "w", encoding="utf-8") if stdout is None else None
    sys.stdout = _GuardedOutput(sink or stdout)  # type: ignore[assignment]
    try:
        try:
            status = int(args.handler(args) or 0)
        except KeyboardInterrupt:
            _say("interrupted")
            if getattr(args, "json", False):
                emit_json({"schemes": {}, "interrupted": True})
            status = interrupt_status()
        sys.stdout.flush()
        return status
    except UsageError as error:
        subparser.print_usage(sys.stderr)
        _say(f"{subparser.prog}: error: {error}")
        return 2
    except _OutputFailed as failure:
        error = failure.__cause__
        _discard_output(stdout)
        if isinstance(error, BrokenPipeError) or getattr(error, "errno", None) == errno.EPIPE:
            return 128 + getattr(signal, "SIGPIPE", 13)
        reason = getattr(error, "strerror", None) or str(error)
        _say(f"{subparser.prog}: error: cannot write the output: {reason}")
        return 1
    finally:
        if isinstance(sys.stdout, _GuardedOutput):
            sys.stdout = stdout
        if sink is not None:
            sink.close()


if __name__ == "__main__":
    sys.exit(main())
