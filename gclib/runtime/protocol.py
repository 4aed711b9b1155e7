"""The typed messages between the master and its workers.

Every message is a small frozen dataclass, pickled on the wire. Commands carry the iteration
number, so that nothing from an earlier iteration can be mistaken for the current one.

master → worker: :class:`PlanMessage` (how to run one scheme, sent once per scheme), :class:`Go`
(start an iteration), :class:`StopCommand`, :class:`ResumeCommand`, :class:`RequestCommand`
(reply with one message built from the partials held), :class:`ReportCommand` (send the task
trace), :class:`ExitCommand`.

worker → master: :class:`Ready`, :class:`Signal` (a progress signal of a few bytes),
:class:`Upload` (a gradient-sized message, unasked or requested), :class:`Stopped`,
:class:`TraceLog`, :class:`WorkerFailure`.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np

from gclib.schemes.base import Coded, Contribution

__all__ = [
    "PlanMessage",
    "Go",
    "StopCommand",
    "ResumeCommand",
    "RequestCommand",
    "ReportCommand",
    "ExitCommand",
    "Ready",
    "Signal",
    "Upload",
    "Stopped",
    "TraceLog",
    "WorkerFailure",
    "dumps",
    "loads",
    "message_sizes",
]

PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


def dumps(message: object) -> bytes:
    return pickle.dumps(message, protocol=PICKLE_PROTOCOL)


def loads(payload: bytes) -> Any:
    return pickle.loads(payload)


# ------------------------------------------------------------------------- master -> worker
@dataclass(frozen=True, slots=True)
class PlanMessage:
    """How a worker runs one scheme.

    Attributes:
        key: the plan's number, quoted by :class:`Go`.
        tasks: the most tasks to compute.
        signals: send a :class:`Signal` after each task.
        eager: ``tasks done → contribution`` to upload unasked right after that task.
        coefficients: ``level → B^(s)[i, W_i[k]]`` for ``k = 0..s``.
    """

    key: int
    tasks: int
    signals: bool
    eager: dict[int, Contribution]
    coefficients: dict[int, np.ndarray]


@dataclass(frozen=True, slots=True)
class Go:
    """Start iteration ``iteration`` with plan ``plan`` at the pickled ``params``.

    ``times`` are the task durations in seconds; an injected crash kills the worker
    ``crash_after`` seconds into the iteration; communication costs are emulated by holding
    messages back ``upload_cost`` or ``signal_cost`` seconds.
    """

    iteration: int
    plan: int
    params: bytes
    times: tuple[float, ...]
    crash_after: float | None
    upload_cost: float
    signal_cost: float
    trace: bool


@dataclass(frozen=True, slots=True)
class StopCommand:
    iteration: int


@dataclass(frozen=True, slots=True)
class ResumeCommand:
    iteration: int


@dataclass(frozen=True, slots=True)
class RequestCommand:
    iteration: int
    contribution: Contribution


@dataclass(frozen=True, slots=True)
class ReportCommand:
    iteration: int


@dataclass(frozen=True, slots=True)
class ExitCommand:
    pass


# ------------------------------------------------------------------------- worker -> master
@dataclass(frozen=True, slots=True)
class Ready:
    pid: int


@dataclass(frozen=True, slots=True)
class Signal:
    iteration: int
    tasks_done: int


@dataclass(frozen=True, slots=True)
class Upload:
    """A gradient-sized message: ``contribution`` computed from the partials held."""

    iteration: int
    tasks_done: int
    contribution: Contribution
    payload: np.ndarray
    requested: bool


@dataclass(frozen=True, slots=True)
class Stopped:
    iteration: int
    tasks_done: int


@dataclass(frozen=True, slots=True)
class TraceLog:
    iteration: int
    entries: list[tuple[float, str, int]]


@dataclass(frozen=True, slots=True)
class WorkerFailure:
    iteration: int | None
    text: str


def message_sizes(gradient: np.ndarray) -> dict[str, int]:
    """Bytes on the wire of a progress signal and of an upload of ``gradient``."""
    gradient = np.asarray(gradient)
    return {
        "signal": len(dumps(Signal(1, 1))),
        "upload": len(dumps(Upload(1, 1, Coded(0), gradient, False))),
    }
