"""Progress of long computations on standard error, so that no command runs silently for long.

On a terminal a tqdm bar; elsewhere (a log file, a pipe) a line every :data:`EVERY` seconds once
the work has taken :data:`DELAY` seconds, written by a daemon thread so that a line comes even
while one long step runs. Only for commands that fork no processes while it runs
(``gclib latency``): the thread could hold a lock of standard error at the moment of a fork.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

__all__ = ["Progress", "DELAY", "EVERY"]

#: seconds of work before the first progress line (not on a terminal), and between lines
DELAY, EVERY = 5.0, 15.0


class Progress:
    """``total`` steps of ``desc``; :meth:`update` counts them, :meth:`status` names the current
    one. A context manager; ``enabled=False`` shows nothing."""

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str = "it",
        *,
        enabled: bool = True,
        delay: float | None = None,
        every: float | None = None,
        file: TextIO | None = None,
    ) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self._status = ""
        self._file = file if file is not None else sys.stderr
        self._start = time.monotonic()
        self._bar: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if not enabled:
            return
        if _is_terminal(self._file):
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                file=self._file,
                leave=False,
                unit_scale=True,
                delay=0.5,  # a quick run shows no bar at all
            )
        else:
            pause = (DELAY if delay is None else delay, EVERY if every is None else every)
            self._thread = threading.Thread(
                target=self._report, args=pause, name="gclib-progress", daemon=True
            )
            self._thread.start()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def status(self, text: str) -> None:
        self._status = text
        if self._bar is not None:
            self._bar.set_postfix_str(text)

    def update(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._bar.close()

    def line(self) -> str:
        """The progress as one line, e.g. ``gclib latency: 3/7 schemes (43%), now gc:19, 12 s``."""
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        now = f", now {self._status}" if self._status else ""
        elapsed = time.monotonic() - self._start
        return f"{self.desc}: {self.done}/{self.total} {self.unit}{share}{now}, {elapsed:.0f} s"

    def _report(self, delay: float, every: float) -> None:
        wait = delay
        while not self._stop.wait(wait):
            print(self.line(), file=self._file, flush=True)
            wait = every


def _is_terminal(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):
        return False
