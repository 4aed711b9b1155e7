"""SIGTERM handled as Ctrl-C: every subcommand stops where it is and reports what it has.

While a subcommand runs, SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) in the main
thread, so the code that summarises an interrupted run serves both signals. The exit status
follows the shell's convention ``128 + signal``: 130 after Ctrl-C, 143 after SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

__all__ = ["Terminated", "sigterm_as_interrupt", "interrupt_status"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt``."""


_received: list[int] = []  # the signals that interrupted the current command
_owner = [0]  # the process that installed the handler (forked workers inherit it)


def _on_sigterm(signum: int, frame: object) -> None:
    if os.getpid() != _owner[0]:
        # a forked worker inherits the handler: it dies of SIGTERM as it would without gclib
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    # a second SIGTERM while the first is being handled ends the process at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _received.append(signum)
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block (in the main thread), SIGTERM raises :class:`Terminated`."""
    _received.clear()
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave SIGTERM alone
        yield
        return
    _owner[0] = os.getpid()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupt_status() -> int:
    """The exit status of an interrupted command: 143 after SIGTERM, else 130 (Ctrl-C)."""
    return 128 + (signal.SIGTERM if _received else signal.SIGINT)
