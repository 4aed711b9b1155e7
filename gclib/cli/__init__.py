"""The command line: ``gclib demo``, ``gclib latency`` and ``gclib train``."""

from gclib.cli.main import main

__all__ = ["main"]
