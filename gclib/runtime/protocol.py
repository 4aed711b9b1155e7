"""The typed messages between the master and its workers.

Every message is a small frozen dataclass, pickled on the wire. Commands carry the iteration
number, so that nothing from an earlier iteration can be mistaken for the current one. A message
pickles as its class and the tuple of its fields: the generic state protocol of slotted
dataclasses costs several times more, and a nested iteration sends dozens of messages. A numeric
array travels as its raw buffer, dtype code and shape, cheaper than numpy's own reduction.

master → worker: :class:`PlanMessage` (how to run one scheme, sent once per scheme), :class:`Go`
(start an iteration), :class:`StopCommand`, :class:`ResumeCommand`, :class:`RequestCommand`
(reply with one message built from the partials held), :class:`ReportCommand` (send the task
trace), :class:`ExitCommand`.

worker → master: :class:`Ready`, :class:`Signal` (a progress signal of a few bytes),
:class:`Upload` (a gradient-sized message, unasked or requested), :class:`Stopped`,
:class:`TraceLog`, :class:`WorkerFailure`.
"""

from __future__ import annotations

import operator
import pickle
from dataclasses import dataclass, fields
from typing import Any, TypeVar

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


_Message = TypeVar("_Message", bound=type)


def _wire(cls: _Message) -> _Message:
    """Pickle ``cls`` as ``cls(*fields)``."""
    names = [field.name for field in fields(cls)]
    if not names:
        cls.__reduce__ = lambda self: (cls, ())
    elif len(names) == 1:
        name = names[0]
        cls.__reduce__ = lambda self: (cls, (getattr(self, name),))
    else:
        values = operator.attrgetter(*names)
        cls.__reduce__ = lambda self: (cls, values(self))
    return cls


def _pack(array: Any, protocol: int) -> tuple:
    """``(buffer, dtype code, shape)`` for a plain numeric array, else ``(array,)``."""
    if (
        protocol >= 5  # buffers pickle from protocol 5 on
        and type(array) is np.ndarray
        and array.dtype.kind in "biufc"
        and array.flags.c_contiguous
    ):
        return (pickle.PickleBuffer(array), array.dtype.str, array.shape)
    return (array,)  # as numpy (or pickle) reduces it


def _unpack(packed: tuple) -> Any:
    if len(packed) == 1:
        return packed[0]
    data, dtype, shape = packed
    # a writable buffer comes back as a bytearray: the array is writable, not copied
    return np.frombuffer(data, dtype).reshape(shape)


_CONTRIBUTION_FIELDS: dict[type, tuple[str, ...]] = {}


def _pack_contribution(contribution: Contribution) -> tuple[type, tuple]:
    """``(class, field values)``: the generic state of a slotted dataclass costs more."""
    kind = type(contribution)
    names = _CONTRIBUTION_FIELDS.get(kind)
    if names is None:
        names = _CONTRIBUTION_FIELDS[kind] = tuple(field.name for field in fields(kind))
    return kind, tuple(getattr(contribution, name) for name in names)


def _upload(
    iteration: int, tasks_done: int, contribution: tuple, payload: tuple, requested: bool
) -> Upload:
    kind, values = contribution
    return Upload(iteration, tasks_done, kind(*values), _unpack(payload), requested)


def _request(iteration: int, contribution: tuple) -> RequestCommand:
    kind, values = contribution
    return RequestCommand(iteration, kind(*values))


# ------------------------------------------------------------------------- master -> worker
@_wire
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


@_wire
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


@_wire
@dataclass(frozen=True, slots=True)
class StopCommand:
    iteration: int


@_wire
@dataclass(frozen=True, slots=True)
class ResumeCommand:
    iteration: int


@dataclass(frozen=True, slots=True)
class RequestCommand:
    iteration: int
    contribution: Contribution

    def __reduce__(self) -> tuple:
        return (_request, (self.iteration, _pack_contribution(self.contribution)))


@_wire
@dataclass(frozen=True, slots=True)
class ReportCommand:
    iteration: int


@_wire
@dataclass(frozen=True, slots=True)
class ExitCommand:
    pass


# ------------------------------------------------------------------------- worker -> master
@_wire
@dataclass(frozen=True, slots=True)
class Ready:
    pid: int


@_wire
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

    def __reduce_ex__(self, protocol: int) -> tuple:
        contribution = _pack_contribution(self.contribution)
        head = (self.iteration, self.tasks_done, contribution, _pack(self.payload, protocol))
        return (_upload, (*head, self.requested))


@_wire
@dataclass(frozen=True, slots=True)
class Stopped:
    iteration: int
    tasks_done: int


@_wire
@dataclass(frozen=True, slots=True)
class TraceLog:
    iteration: int
    entries: list[tuple[float, str, int]]


@_wire
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
