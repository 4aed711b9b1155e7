"""Ctrl-C and SIGTERM: every subcommand stops where it is and reports what it has.

While a subcommand runs (:func:`interrupts_handled`), SIGINT raises ``KeyboardInterrupt`` and
SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) in the main thread, so the code that
summarises an interrupted run serves both signals. The exit status follows the shell's
convention ``128 + signal``: 130 after Ctrl-C, 143 after SIGTERM.

Python runs a signal handler between two bytecodes of the main thread, wherever it is; an
exception raised there is lost where Python only reports the exceptions of a callback
("Exception ignored in …"): in the functions ``os.fork`` calls before and after forking, above
all, and the worker pool forks its workers. So the handler records the signal and raises only
outside a fork; during one it leaves the interrupt pending, and a helper thread delivers it again
once the fork is over. While the results are written (:func:`deferred`) the first signal is only
recorded, so that the summary comes out whole; a second one raises.
"""

from __future__ import annotations

import contextlib
import logging  # noqa: F401  (its fork callbacks are registered before ours: ours enclose them)
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

__all__ = [
    "Terminated",
    "interrupts_handled",
    "deferred",
    "interrupt_received",
    "interrupt_status",
]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt``."""


_received: list[int] = []  # the signals that interrupted the current command, in order
_owner = [0]  # the process whose command is running (forked workers inherit it); 0: none
_forking = [0]  # forks in progress in this process: their callbacks run, nothing may raise
_quiet = [0, 0]  # depth of deferred(), signals received within it
_pending: list[int] = []  # the signal whose exception is owed to the main thread
_knock = [False]  # the next SIGINT is the helper thread's re-delivery of the pending signal
_helper: list[threading.Thread] = []
_REDELIVERY_PAUSE = 0.005  # seconds between the helper thread's attempts


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if os.getpid() != _owner[0]:
        if _owner[0] and signum == signal.SIGTERM:
            # a forked worker inherits the handler: it dies of SIGTERM as it would without gclib
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        return  # a worker ignores SIGINT; the master, after its command, only ends it
    redelivery = _knock[0] and signum == signal.SIGINT and bool(_pending)
    _knock[0] = False
    if redelivery:
        if _quiet[0]:
            _pending.clear()  # the results are being written: the status tells of the signal
            return
    else:
        _received.append(signum)
        if signum == signal.SIGTERM:
            # a second SIGTERM while the first is being handled ends the process at once
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if _quiet[0]:
            _quiet[1] += 1
            if _quiet[1] == 1:
                return
        if not _pending:
            _pending.append(signum)
    if _forking[0] or _in_fork_callback(frame):
        _redeliver_later()
        return
    kind = _pending[0]
    _pending.clear()
    raise Terminated if kind == signal.SIGTERM else KeyboardInterrupt


def _before_fork() -> None:
    if _owner[0] == os.getpid():
        _forking[0] += 1


def _after_fork_in_parent() -> None:
    if _owner[0] == os.getpid():
        _forking[0] = max(0, _forking[0] - 1)


def _after_fork_in_child() -> None:
    _forking[0] = 0
    _pending.clear()
    _helper.clear()


_FORK_CALLBACKS = frozenset({_before_fork.__code__, _after_fork_in_parent.__code__})


def _in_fork_callback(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code in _FORK_CALLBACKS:
            return True
        frame = frame.f_back
    return False


def _redeliver_later() -> None:
    """Have a helper thread deliver the pending signal again once no fork is in progress: a real
    SIGINT to the main thread, which also ends a blocking wait there."""
    if _helper and _helper[0].is_alive():
        return
    main, owner = threading.main_thread().ident, _owner[0]

    def redeliver() -> None:
        while _pending and _owner[0] == owner:
            time.sleep(_REDELIVERY_PAUSE)
            if _pending and not _forking[0] and _owner[0] == owner and main is not None:
                _knock[0] = True
                signal.pthread_kill(main, signal.SIGINT)

    _helper[:] = [threading.Thread(target=redeliver, name="gclib-interrupt", daemon=True)]
    _helper[0].start()


_registered = [False]


@contextlib.contextmanager
def interrupts_handled() -> Iterator[None]:
    """Within the block (in the main thread), SIGINT raises ``KeyboardInterrupt`` and SIGTERM
    :class:`Terminated`, never inside the callbacks of a fork."""
    _received.clear()
    _pending.clear()
    _quiet[:] = [0, 0]
    _forking[0] = 0
    try:
        previous = {
            signum: signal.signal(signum, _on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
        }
    except ValueError:  # not the main thread: leave the signals alone
        yield
        return
    if not _registered[0] and hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_in_parent,
            after_in_child=_after_fork_in_child,
        )
        _registered[0] = True
    _owner[0] = os.getpid()
    try:
        yield
    finally:
        _owner[0] = 0  # from here the handler only ends a pending re-delivery
        _pending.clear()
        if _helper:
            _helper[0].join()
            _helper.clear()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block the first signal is only recorded (:func:`interrupt_received` tells),
    so that the results are written whole; a second one raises."""
    if not _quiet[0]:
        _quiet[1] = 0
        _pending.clear()  # an interrupt still owed to the run: the results are written instead
    _quiet[0] += 1
    try:
        yield
    finally:
        _quiet[0] -= 1


def interrupt_received() -> bool:
    """Whether a signal interrupted the current command."""
    return bool(_received)


def interrupt_status() -> int:
    """The exit status of an interrupted command: 143 after SIGTERM, else 130 (Ctrl-C)."""
    first = _received[0] if _received else signal.SIGINT
    return 128 + (signal.SIGTERM if first == signal.SIGTERM else signal.SIGINT)
