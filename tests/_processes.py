"""Process helpers for the tests that interrupt the command line (Linux: they read /proc)."""

from __future__ import annotations

import subprocess


def children(pid: int) -> list[int]:
    """The process ids of the children of ``pid``."""
    listing = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in listing.split()]


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
