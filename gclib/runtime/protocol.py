"""The typed messages between the master and its workers.

Every message is a small frozen dataclass. Commands carry the iteration number, so that nothing
from an earlier iteration can be mistaken for the current one.

On the wire, the messages of every iteration's critical path (signals, stops and their
acknowledgements, resumes, requests and uploads of a coded message or a partial gradient as a
vector of floats) are a tag byte and fixed binary fields, followed by the vector's raw bytes: a
worker woken from sleep runs with cold caches, where each library call it makes costs ten times
what it costs warm, and these messages are what a woken worker handles. Every other message is
pickled (its first byte is pickle's protocol marker, never a tag), as its class and the tuple of
its fields: the generic state protocol of slotted dataclasses costs several times more. A numeric
array in a pickled message travels as its raw buffer, dtype code and shape.

master → worker: :class:`PlanMessage` (how to run one scheme, sent once per scheme), :class:`Go`
(start an iteration), :class:`StopCommand`, :class:`ResumeCommand`, :class:`RequestCommand`
(reply with one message built from the partials held), :class:`ReportCommand` (send the task
trace), :class:`ExitCommand`.

worker → master: :class:`Ready`, :class:`Signal` (a progress signal of a few bytes),
:class:`Upload` (a gradient-sized message, unasked or requested), :class:`Stopped`,
:class:`TraceLog`, :class:`WorkerFailure`.
"""

from __future__ import annotations

import math
import operator
import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

import numpy as np

from gclib.schemes.base import Coded, Contribution, Partial, PartitionSum

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
    "go_frames",
    "message_sizes",
]

PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


def dumps(message: object) -> bytes:
    encode = _ENCODERS.get(type(message))
    if encode is not None:
        frame = encode(message)
        if frame is not None:
            return frame
    return pickle.dumps(message, protocol=PICKLE_PROTOCOL)


def loads(payload: bytes | bytearray) -> Any:
    decode = _DECODERS.get(payload[0]) if payload else None
    if decode is None:
        return pickle.loads(payload)
    return decode(payload)


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
        prepare: the master will ask for coded messages: build the one of level ``s`` as soon
            as task ``s`` is done (the reply then only sends it).
        published: ``tasks done → contribution`` to leave where the master reads it without
            asking, right after that task, where the channel can (see ``Channel``).
    """

    key: int
    tasks: int
    signals: bool
    eager: dict[int, Contribution]
    coefficients: dict[int, np.ndarray]
    prepare: bool = False
    published: dict[int, Contribution] = field(default_factory=dict)


@_wire
@dataclass(frozen=True, slots=True)
class Go:
    """Start iteration ``iteration`` with plan ``plan`` at the ``params`` (as
    :func:`~gclib.runtime.params.encode_params` puts them).

    ``times`` are the task durations in seconds; an injected crash kills the worker
    ``crash_after`` seconds into the iteration; communication costs are emulated by holding
    messages back ``upload_cost`` or ``signal_cost`` seconds. ``origin`` is the master's reading
    of the system's monotonic clock when the iteration began, given when the worker reads the
    same clock (a process of the same machine): its tasks are timed from that moment, not from
    when it woke up to the message (``None``: from the message's receipt).
    """

    iteration: int
    plan: int
    params: bytes
    times: tuple[float, ...]
    crash_after: float | None
    upload_cost: float
    signal_cost: float
    trace: bool
    origin: float | None = None


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


# ------------------------------------------------------------------------- binary frames
# tag byte, iteration (int64), one int32 field; uploads add the requested flag, padding to 8 bytes
# (the vector that follows is aligned in the frame) and the vector. A plain sum of partials
# carries its tasks, an int32 each, after the fixed fields (padded again to 8 bytes).
_COUNT = struct.Struct("<Bqi")  # Signal, Stopped (tasks done); request (level or task count)
_ITERATION = struct.Struct("<Bq")  # StopCommand, ResumeCommand
_UPLOAD = struct.Struct("<Bqii?6x")  # Upload: tasks done, level, task or task count, requested
_SIGNAL, _STOPPED, _STOP, _RESUME, _REQUEST, _UPLOAD_CODED, _UPLOAD_PARTIAL = range(1, 8)
_REQUEST_SUM, _UPLOAD_SUM, _GO = 8, 9, 10
# Go: plan, upload cost, signal cost, trace, origin (the fields common to a broadcast); then crash
# after, task count, the task times and the encoded parameters (an absent crash or origin is NaN)
_GO_HEAD = struct.Struct("<Bqidd?d")
_GO_TASKS = struct.Struct("<di")


def _int32(value: object) -> bool:
    # a plain int only: ``x in range(...)`` would scan the range for a numpy integer
    return type(value) is int and -(2**31) <= value < 2**31


def _int64(value: object) -> bool:
    return type(value) is int and -(2**63) <= value < 2**63


_FLOATS = np.dtype("<f8")


def _counted(tag: int) -> Any:
    def encode(message: Any) -> bytes | None:
        if _int64(message.iteration) and _int32(message.tasks_done):
            return _COUNT.pack(tag, message.iteration, message.tasks_done)
        return None

    return encode


def _command(tag: int) -> Any:
    def encode(message: Any) -> bytes | None:
        return _ITERATION.pack(tag, message.iteration) if _int64(message.iteration) else None

    return encode


def _tasks(contribution: PartitionSum) -> bytes | None:
    tasks = contribution.tasks
    if type(tasks) is tuple and all(_int32(task) for task in tasks):
        return struct.pack(f"<{len(tasks)}i", *tasks)
    return None


def _tasks_from(frame: bytes | bytearray, offset: int, count: int) -> PartitionSum:
    return PartitionSum(struct.unpack_from(f"<{count}i", frame, offset))


def _encode_request(message: RequestCommand) -> bytes | None:
    contribution = message.contribution
    if not _int64(message.iteration):
        return None
    kind = type(contribution)
    if kind is Coded and _int32(contribution.level):
        return _COUNT.pack(_REQUEST, message.iteration, contribution.level)
    if kind is PartitionSum:
        tasks = _tasks(contribution)
        if tasks is not None:
            return _COUNT.pack(_REQUEST_SUM, message.iteration, len(contribution.tasks)) + tasks
    return None


def _decode_request_sum(frame: bytes | bytearray) -> RequestCommand:
    _, iteration, count = _COUNT.unpack_from(frame)
    return RequestCommand(iteration, _tasks_from(frame, _COUNT.size, count))


def _encode_upload(message: Upload) -> bytes | None:
    """A vector of floats as a coded message or a partial gradient; anything else is pickled."""
    contribution, payload = message.contribution, message.payload
    kind = type(contribution)
    tasks = b""
    if kind is Coded:
        tag, index = _UPLOAD_CODED, contribution.level
    elif kind is Partial:
        tag, index = _UPLOAD_PARTIAL, contribution.task
    elif kind is PartitionSum and (tasks := _tasks(contribution)) is not None:
        tag, index = _UPLOAD_SUM, len(contribution.tasks)
        tasks += bytes(-len(tasks) % 8)
    else:
        return None
    if not (
        type(payload) is np.ndarray
        and payload.dtype == _FLOATS
        and payload.ndim == 1
        and _int64(message.iteration)
        and _int32(message.tasks_done)
        and _int32(index)
    ):
        return None
    head = _UPLOAD.pack(tag, message.iteration, message.tasks_done, index, message.requested)
    return head + tasks + payload.tobytes()


def _decode_upload(frame: bytes | bytearray) -> Upload:
    tag, iteration, tasks_done, index, requested = _UPLOAD.unpack_from(frame)
    offset = _UPLOAD.size
    if tag == _UPLOAD_CODED:
        contribution: Contribution = Coded(index)
    elif tag == _UPLOAD_PARTIAL:
        contribution = Partial(index)
    else:
        contribution = _tasks_from(frame, offset, index)
        offset += 4 * index + (-4 * index) % 8
    # from a bytearray the vector is writable and shares the frame's memory: no copy
    payload = np.frombuffer(frame, _FLOATS, offset=offset)
    return Upload(iteration, tasks_done, contribution, payload, requested)


def go_frames(
    go: Go, times: Sequence[Sequence[float]], crash_after: Sequence[float | None]
) -> list[bytes]:
    """``dumps(replace(go, times=tuple(times[i]), crash_after=crash_after[i]))`` for every worker
    ``i``: a broadcast's messages differ in these fields only, so the rest is encoded once."""
    head = _go_head(go)
    if head is None or not all(type(t) is float for row in times for t in row):
        return [
            dumps(replace(go, times=tuple(row), crash_after=crash))
            for row, crash in zip(times, crash_after, strict=True)
        ]
    return [
        _go_frame(head, row, crash, go.params)
        for row, crash in zip(times, crash_after, strict=True)
    ]


def _go_head(message: Go) -> bytes | None:
    """The fields of a broadcast common to every worker, or ``None`` if they need a pickle."""
    if not (_int64(message.iteration) and _int32(message.plan) and type(message.params) is bytes):
        return None
    origin = math.nan if message.origin is None else message.origin
    return _GO_HEAD.pack(
        _GO, message.iteration, message.plan, message.upload_cost, message.signal_cost,
        message.trace, origin,
    )  # fmt: skip


def _go_frame(head: bytes, times: Sequence[float], crash: float | None, params: bytes) -> bytes:
    tasks = struct.pack(
        f"<di{len(times)}d", math.nan if crash is None else crash, len(times), *times
    )
    return head + tasks + params


def _encode_go(message: Go) -> bytes | None:
    times = message.times
    if type(times) is not tuple or not all(type(t) is float for t in times):
        return None
    head = _go_head(message)
    return None if head is None else _go_frame(head, times, message.crash_after, message.params)


def _decode_go(frame: bytes | bytearray) -> Go:
    _, iteration, plan, upload_cost, signal_cost, trace, origin = _GO_HEAD.unpack_from(frame)
    crash_after, count = _GO_TASKS.unpack_from(frame, _GO_HEAD.size)
    offset = _GO_HEAD.size + _GO_TASKS.size
    times = struct.unpack_from(f"<{count}d", frame, offset)
    crash = None if math.isnan(crash_after) else crash_after
    origin = None if math.isnan(origin) else origin
    params = bytes(frame[offset + 8 * count :])
    return Go(iteration, plan, params, times, crash, upload_cost, signal_cost, trace, origin)


_ENCODERS: dict[type, Any] = {
    Go: _encode_go,
    Signal: _counted(_SIGNAL),
    Stopped: _counted(_STOPPED),
    StopCommand: _command(_STOP),
    ResumeCommand: _command(_RESUME),
    RequestCommand: _encode_request,
    Upload: _encode_upload,
}
_DECODERS: dict[int, Any] = {
    _SIGNAL: lambda frame: Signal(*_COUNT.unpack_from(frame)[1:]),
    _STOPPED: lambda frame: Stopped(*_COUNT.unpack_from(frame)[1:]),
    _STOP: lambda frame: StopCommand(_ITERATION.unpack_from(frame)[1]),
    _RESUME: lambda frame: ResumeCommand(_ITERATION.unpack_from(frame)[1]),
    _REQUEST: lambda frame: _request_from(*_COUNT.unpack_from(frame)[1:]),
    _UPLOAD_CODED: _decode_upload,
    _UPLOAD_PARTIAL: _decode_upload,
    _REQUEST_SUM: _decode_request_sum,
    _UPLOAD_SUM: _decode_upload,
    _GO: _decode_go,
}
assert pickle.PROTO[0] not in _DECODERS  # a pickle is never taken for a frame


def _request_from(iteration: int, level: int) -> RequestCommand:
    return RequestCommand(iteration, Coded(level))


def message_sizes(gradient: np.ndarray) -> dict[str, int]:
    """Bytes on the wire of a progress signal and of an upload of ``gradient``."""
    gradient = np.asarray(gradient)
    return {
        "signal": len(dumps(Signal(1, 1))),
        "upload": len(dumps(Upload(1, 1, Coded(0), gradient, False))),
    }
