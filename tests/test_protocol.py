"""The wire protocol between the master and its workers: every message comes back equal to what
was sent (from ``bytes`` and from ``bytearray``), the messages of the critical path travel as
compact binary frames laid out as documented, everything else (and every value a frame cannot
hold) is pickled and still comes back exactly, and an upload's vector is aligned and writable.

The expected frame lengths follow from the documented layout (a tag byte, an int64 iteration,
int32 fields, 8-byte padding before a vector), not from the module's own structures.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import pickle
import struct
import time

import numpy as np
import pytest

from gclib.runtime.params import decode_params, encode_params
from gclib.runtime.protocol import (
    ExitCommand,
    Go,
    PlanMessage,
    Ready,
    ReportCommand,
    RequestCommand,
    ResumeCommand,
    Signal,
    StopCommand,
    Stopped,
    TraceLog,
    Upload,
    WorkerFailure,
    dumps,
    go_frames,
    loads,
    message_sizes,
)
from gclib.schemes.base import Coded, Partial, PartitionSum

PICKLE = 0x80  # pickle's protocol marker, the first byte of every pickle from protocol 2 on
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SEED = 20240607

FRAME_TYPES = (bytes, bytearray)


def _go(**changes):
    fields = dict(
        iteration=7,
        plan=3,
        params=b"\x80\x05parameters",
        times=(0.25, 1.5, 0.0),
        crash_after=None,
        upload_cost=0.001,
        signal_cost=0.0002,
        trace=False,
        origin=None,
    )
    fields.update(changes)
    return Go(**fields)


def _padded(size: int) -> int:
    return size + (-size) % 8


def assert_same_upload(decoded, sent):
    """Every field equal, the payload equal element for element (bit for bit), same dtype and
    shape."""
    assert type(decoded) is Upload
    assert decoded.iteration == sent.iteration
    assert decoded.tasks_done == sent.tasks_done
    assert type(decoded.contribution) is type(sent.contribution)
    assert decoded.contribution == sent.contribution
    assert decoded.requested == sent.requested
    assert isinstance(decoded.payload, np.ndarray)
    expected = np.asarray(sent.payload)
    assert decoded.payload.dtype == expected.dtype
    assert decoded.payload.shape == expected.shape
    assert np.array_equal(decoded.payload, expected, equal_nan=expected.dtype.kind in "fc")
    assert decoded.payload.tobytes() == expected.tobytes()  # bit for bit (-0.0, NaNs)


def assert_round_trip(message, frame_type=bytes):
    """``loads(dumps(message))`` equals ``message``; returns the frame."""
    frame = dumps(message)
    assert type(frame) is bytes
    decoded = loads(frame_type(frame))
    if isinstance(message, Upload):
        assert_same_upload(decoded, message)
    else:
        assert type(decoded) is type(message)
        assert decoded == message
    return frame


# ------------------------------------------------------------------------- hot messages
HOT = {
    "signal": (Signal(12, 3), 13),
    "stopped": (Stopped(12, 0), 13),
    "stop": (StopCommand(12), 9),
    "resume": (ResumeCommand(12), 9),
    "request-coded": (RequestCommand(12, Coded(2)), 13),
    "request-sum-1": (RequestCommand(12, PartitionSum((4,))), 13 + 4),
    "request-sum-3": (RequestCommand(12, PartitionSum((0, 2, 5))), 13 + 12),
    "request-sum-empty": (RequestCommand(12, PartitionSum(())), 13),
    # Go: tag, iteration, plan, 2 costs, trace, origin, crash, task count, times, parameters
    "go": (_go(), 1 + 8 + 4 + 8 * 3 + 1 + 8 + 4 + 8 * 3 + len(_go().params)),
    "go-no-times": (_go(times=(), params=b""), 1 + 8 + 4 + 8 * 3 + 1 + 8 + 4),
}


@pytest.mark.parametrize("frame_type", FRAME_TYPES)
@pytest.mark.parametrize("name", sorted(HOT))
def test_hot_messages_round_trip_as_short_binary_frames(name, frame_type):
    """A critical-path message is a tag byte (1..10, never pickle's marker) and fixed fields, of
    the documented length, much shorter than its pickle, and decodes to an equal message."""
    message, expected_length = HOT[name]
    frame = assert_round_trip(message, frame_type)
    assert frame[0] != PICKLE
    assert 1 <= frame[0] <= 10
    assert len(frame) == expected_length
    pickled = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(frame) < len(pickled)
    if not isinstance(message, Go):  # a Go carries parameters and times either way
        assert 3 * len(frame) <= len(pickled)


UPLOADS = {
    "coded": Upload(5, 2, Coded(1), np.array([1.5, -0.0, np.inf, np.nan, 1e-300]), False),
    "partial": Upload(5, 3, Partial(2), np.arange(7, dtype=np.float64), True),
    "sum-1": Upload(5, 1, PartitionSum((0,)), np.linspace(0, 1, 9), True),
    "sum-2": Upload(5, 4, PartitionSum((1, 3)), np.linspace(0, 1, 9), False),
    "sum-5": Upload(5, 6, PartitionSum((0, 1, 2, 3, 4)), -np.ones(3), True),
    "sum-empty": Upload(5, 0, PartitionSum(()), np.array([2.0]), True),
    "empty-payload": Upload(5, 1, Coded(0), np.zeros(0), False),
}


@pytest.mark.parametrize("frame_type", FRAME_TYPES)
@pytest.mark.parametrize("name", sorted(UPLOADS))
def test_uploads_of_float_vectors_round_trip_as_binary_frames(name, frame_type):
    """An upload of a 1-D float64 vector is a 24-byte head, its tasks (padded to 8 bytes) and the
    vector's raw bytes; it decodes to the same fields and vector (dtype, shape, bits)."""
    message = UPLOADS[name]
    frame = assert_round_trip(message, frame_type)
    assert frame[0] != PICKLE and 1 <= frame[0] <= 10
    tasks = message.contribution.tasks if isinstance(message.contribution, PartitionSum) else ()
    assert len(frame) == 24 + _padded(4 * len(tasks)) + 8 * message.payload.size
    assert frame.endswith(message.payload.astype("<f8").tobytes())
    pickled = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(pickled) - len(frame) >= 60  # the frame saves the class names and opcodes


@pytest.mark.parametrize("name", sorted(UPLOADS))
def test_upload_decoded_from_a_bytearray_is_writable_and_from_bytes_read_only(name):
    """From a bytearray the vector is writable (a view of the frame), from bytes it is not; a
    write to one decoded vector does not touch the message that was sent."""
    message = UPLOADS[name]
    original = message.payload.copy()
    frame = dumps(message)
    writable = loads(bytearray(frame))
    assert writable.payload.flags.writeable
    writable.payload[...] = 42.0
    assert np.all(writable.payload == 42.0)
    assert np.array_equal(message.payload, original, equal_nan=True)
    assert not loads(frame).payload.flags.writeable


def test_every_hot_kind_has_its_own_tag():
    """The ten binary kinds carry ten distinct tags, 1..10 (a frame is never mistaken for
    another kind), and each decodes to its own class and contribution."""
    payload = np.ones(2)
    messages = [
        Signal(1, 1),
        Stopped(1, 1),
        StopCommand(1),
        ResumeCommand(1),
        RequestCommand(1, Coded(1)),
        Upload(1, 1, Coded(1), payload, False),
        Upload(1, 1, Partial(1), payload, False),
        RequestCommand(1, PartitionSum((1,))),
        Upload(1, 1, PartitionSum((1,)), payload, False),
        _go(),
    ]
    tags = [dumps(message)[0] for message in messages]
    assert sorted(tags) == list(range(1, 11))
    for message in messages:
        assert_round_trip(message)
    # the same numbers under another kind decode to that kind
    assert loads(dumps(Signal(1, 1))) != Stopped(1, 1)
    assert loads(dumps(RequestCommand(1, Coded(1)))).contribution == Coded(1)
    decoded = loads(dumps(Upload(1, 1, Partial(1), payload, False)))
    assert decoded.contribution == Partial(1) and decoded.contribution != Coded(1)


@pytest.mark.parametrize(
    "message",
    [
        Signal(INT64_MIN, INT32_MIN),
        Signal(INT64_MAX, INT32_MAX),
        Stopped(-1, 0),
        StopCommand(INT64_MIN),
        ResumeCommand(INT64_MAX),
        RequestCommand(INT64_MAX, Coded(INT32_MAX)),
        RequestCommand(INT64_MIN, Coded(INT32_MIN)),
        RequestCommand(0, PartitionSum((INT32_MIN, INT32_MAX, 0))),
        Upload(INT64_MAX, INT32_MAX, Coded(INT32_MIN), np.ones(1), True),
        Upload(INT64_MIN, INT32_MIN, Partial(INT32_MAX), np.ones(1), False),
        _go(iteration=INT64_MAX, plan=INT32_MIN),
    ],
    ids=repr,
)
def test_extreme_values_that_fit_stay_binary_and_exact(message):
    """The edges of the int64 iteration and the int32 fields travel in the frame, exactly."""
    frame = assert_round_trip(message)
    assert frame[0] != PICKLE


# ------------------------------------------------------------------------- pickled fallbacks
COLD = {
    "ready": Ready(4321),
    "report": ReportCommand(9),
    "exit": ExitCommand(),
    "trace": TraceLog(9, [(0.0, "task", 0), (0.125, "upload", 1), (1e9, "stop", -1)]),
    "trace-empty": TraceLog(0, []),
    "failure": WorkerFailure(9, "Traceback (most recent call last):\n  ValueError: é ∞"),
    "failure-no-iteration": WorkerFailure(None, ""),
    "request-partial": RequestCommand(3, Partial(1)),
}


@pytest.mark.parametrize("frame_type", FRAME_TYPES)
@pytest.mark.parametrize("name", sorted(COLD))
def test_other_messages_are_pickled_and_round_trip(name, frame_type):
    """Messages off the critical path are pickles (first byte 0x80) and come back equal."""
    frame = assert_round_trip(COLD[name], frame_type)
    assert frame[0] == PICKLE


@pytest.mark.parametrize("frame_type", FRAME_TYPES)
def test_plan_message_round_trips_with_its_arrays(frame_type):
    """A plan, with its dict of contributions and its coefficient arrays, is pickled and comes
    back with every field and array equal."""
    coefficients = {0: np.array([1.0]), 1: np.array([0.5, -2.0]), 2: np.arange(3.0) / 7}
    eager = {1: Coded(0), 2: Partial(1), 3: PartitionSum((0, 2))}
    for prepare in (False, True):
        plan = PlanMessage(11, 3, True, eager, coefficients, prepare)
        frame = dumps(plan)
        assert frame[0] == PICKLE
        decoded = loads(frame_type(frame))
        assert type(decoded) is PlanMessage
        assert (decoded.key, decoded.tasks, decoded.signals, decoded.prepare) == (
            11,
            3,
            True,
            prepare,
        )
        assert decoded.eager == eager
        assert sorted(decoded.coefficients) == sorted(coefficients)
        for level, array in coefficients.items():
            assert decoded.coefficients[level].dtype == array.dtype
            assert np.array_equal(decoded.coefficients[level], array)
    assert loads(dumps(PlanMessage(1, 2, False, {}, {}))).prepare is False  # the default


FALLBACK_UPLOADS = {
    "2-d": Upload(2, 1, Coded(0), np.arange(12.0).reshape(3, 4), False),
    "2-d-fortran": Upload(2, 1, Coded(0), np.asfortranarray(np.arange(12.0).reshape(3, 4)), True),
    "2-d-strided": Upload(2, 1, Partial(0), np.arange(40.0).reshape(5, 8)[::2, 1::3], True),
    "int64": Upload(2, 1, Coded(0), np.arange(-3, 5, dtype=np.int64), False),
    "int32": Upload(2, 1, Partial(1), np.arange(5, dtype=np.int32), False),
    "float32": Upload(2, 1, Coded(1), np.linspace(0, 1, 5, dtype=np.float32), False),
    "big-endian": Upload(2, 1, Coded(1), np.arange(4.0).astype(">f8"), False),
    "complex": Upload(2, 1, Coded(1), np.array([1 + 2j, -3j]), False),
    "0-d": Upload(2, 1, Coded(1), np.array(3.5), False),
    "iteration-2**70": Upload(2**70, 1, Coded(0), np.ones(3), False),
    "iteration-2**63": Upload(INT64_MAX + 1, 1, Coded(0), np.ones(3), False),
    "tasks-done-2**31": Upload(1, INT32_MAX + 1, Coded(0), np.ones(3), False),
    "level-2**31": Upload(1, 1, Coded(INT32_MAX + 1), np.ones(3), True),
    "level-below-int32": Upload(1, 1, Coded(INT32_MIN - 1), np.ones(3), True),
    "task-2**40": Upload(1, 1, Partial(2**40), np.ones(3), True),
    "sum-numpy-tasks": Upload(1, 2, PartitionSum((np.int64(0), np.int64(2))), np.ones(3), True),
    "sum-task-2**31": Upload(1, 2, PartitionSum((1, 2**31)), np.ones(3), True),
    "sum-list": Upload(1, 2, PartitionSum([0, 1]), np.ones(3), True),
}


@pytest.mark.parametrize("frame_type", FRAME_TYPES)
@pytest.mark.parametrize("name", sorted(FALLBACK_UPLOADS))
def test_uploads_a_frame_cannot_hold_are_pickled_and_round_trip(name, frame_type):
    """An upload with a payload other than a 1-D float64 vector, or a number beyond the frame's
    int32/int64 fields, is pickled and comes back exactly: dtype, shape, values, fields."""
    message = FALLBACK_UPLOADS[name]
    frame = assert_round_trip(message, frame_type)
    assert frame[0] == PICKLE


def test_pickled_upload_payload_is_writable():
    """A pickled (fallback) upload's array, decoded from bytes or a bytearray, is writable."""
    for name in ("2-d", "int64", "2-d-strided", "iteration-2**70"):
        frame = dumps(FALLBACK_UPLOADS[name])
        for frame_type in FRAME_TYPES:
            payload = loads(frame_type(frame)).payload
            assert payload.flags.writeable, (name, frame_type)
            payload[...] = 0


FALLBACK_MESSAGES = {
    "signal-iteration-2**70": Signal(2**70, 1),
    "signal-iteration-below-int64": Signal(INT64_MIN - 1, 1),
    "signal-tasks-2**31": Signal(1, 2**31),
    "stopped-tasks-below-int32": Stopped(1, INT32_MIN - 1),
    "stop-2**63": StopCommand(2**63),
    "resume-2**70": ResumeCommand(2**70),
    "request-iteration-2**70": RequestCommand(2**70, Coded(1)),
    "request-level-2**31": RequestCommand(1, Coded(2**31)),
    "request-level-2**40": RequestCommand(1, Coded(-(2**40))),
    "request-sum-numpy-tasks": RequestCommand(1, PartitionSum((np.int64(1), np.int32(3)))),
    "request-sum-big-task": RequestCommand(1, PartitionSum((0, 2**31))),
    "request-sum-bool-task": RequestCommand(1, PartitionSum((True,))),
    "request-sum-iteration-2**64": RequestCommand(2**64, PartitionSum((1,))),
    "go-iteration-2**70": _go(iteration=2**70),
    "go-plan-2**31": _go(plan=2**31),
    "go-times-list": _go(times=[0.5, 1.0]),
    "go-times-numpy-float": _go(times=(np.float64(0.5), 1.0)),
    "go-times-int": _go(times=(1, 2.0)),
    "go-params-bytearray": _go(params=bytearray(b"abc")),
}


@pytest.mark.parametrize("frame_type", FRAME_TYPES)
@pytest.mark.parametrize("name", sorted(FALLBACK_MESSAGES))
def test_hot_messages_a_frame_cannot_hold_are_pickled_and_round_trip(name, frame_type):
    """Out-of-range numbers, numpy integers among a sum's tasks and times that are not a tuple of
    floats fall back to pickle, and the message comes back equal (with the same field types)."""
    message = FALLBACK_MESSAGES[name]
    frame = assert_round_trip(message, frame_type)
    assert frame[0] == PICKLE
    decoded = loads(frame_type(frame))
    if isinstance(message, RequestCommand) and isinstance(message.contribution, PartitionSum):
        types = [type(task) for task in decoded.contribution.tasks]
        assert types == [type(task) for task in message.contribution.tasks]
    if isinstance(message, Go):
        assert type(decoded.times) is type(message.times)
        assert [type(t) for t in decoded.times] == [type(t) for t in message.times]
        assert type(decoded.params) is type(message.params)


def _round_trip_in_child(message, connection):
    try:
        decoded = loads(dumps(message))
        if isinstance(message, Upload):
            same = (
                (decoded.iteration, decoded.tasks_done, decoded.contribution)
                == (message.iteration, message.tasks_done, message.contribution)
                and np.array_equal(decoded.payload, message.payload)
                and decoded.requested == message.requested
            )
        else:
            same = decoded == message
        connection.send(bool(same))
    except BaseException as error:  # report anything, never leave the parent waiting
        connection.send(repr(error))


NUMPY_INTEGER_FIELDS = [
    Signal(np.int64(5), 1),
    Signal(5, np.int32(2)),
    Stopped(np.int64(5), np.int64(2)),
    StopCommand(np.int64(5)),
    ResumeCommand(np.uint32(5)),
    RequestCommand(5, Coded(np.int64(1))),
    RequestCommand(np.int64(5), PartitionSum((1, 2))),
    Upload(5, 2, Coded(np.int64(1)), np.ones(3), True),
    Upload(5, 2, Partial(np.int64(0)), np.ones(3), True),
    Upload(np.int64(5), np.int64(2), Coded(1), np.ones(3), False),
    _go(iteration=np.int64(5)),
    _go(plan=np.int32(3)),
]


def test_numpy_integer_fields_round_trip_promptly():
    """A numpy integer where a frame expects an int (an iteration, a tasks count, a level, a
    task, a plan) is encoded (binary or pickled) within seconds and comes back equal.

    Each message goes through ``dumps``/``loads`` in its own forked child, all at once: a call
    that never returns to the interpreter (a search through a 2**32-element ``range``, say)
    could not be interrupted in this process."""
    context = multiprocessing.get_context("fork")
    children = []
    for message in NUMPY_INTEGER_FIELDS:
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_round_trip_in_child, args=(message, sender), daemon=True)
        child.start()
        sender.close()
        children.append((message, child, receiver))
    deadline = time.monotonic() + 3.0
    hung, wrong = [], []
    for message, child, receiver in children:
        try:
            if receiver.poll(max(0.0, deadline - time.monotonic())):
                result = receiver.recv()
                if result is not True:
                    wrong.append((message, result))
            else:
                hung.append(message)
        finally:
            if child.is_alive():
                child.kill()
            child.join(5)
            receiver.close()
    assert not hung, f"dumps() did not return within 3 s for {hung}"
    assert not wrong


# ------------------------------------------------------------------------- particular cases
@pytest.mark.parametrize("frame_type", FRAME_TYPES)
@pytest.mark.parametrize(
    "view",
    [
        np.arange(20.0)[::3],
        np.arange(20.0)[::-1],
        np.arange(30.0).reshape(5, 6)[:, 2],
        np.arange(30.0).reshape(5, 6).T[1],
        np.arange(10.0)[::4][:0],
    ],
    ids=["step-3", "reversed", "column", "row-of-transpose", "empty-strided"],
)
def test_non_contiguous_float_vectors_round_trip_to_their_values(view, frame_type):
    """A strided 1-D float64 view travels as its values, in order, and decodes contiguous."""
    assert view.ndim == 1
    expected = np.array(view)  # its values, copied contiguous
    message = Upload(3, 1, Coded(1), view, True)
    decoded = loads(frame_type(dumps(message)))
    assert_same_upload(decoded, message)
    assert np.array_equal(decoded.payload, expected)
    assert decoded.payload.flags.c_contiguous


@pytest.mark.parametrize("frame_type", FRAME_TYPES)
@pytest.mark.parametrize("crash_after", [None, 0.0, 2.5, math.inf])
@pytest.mark.parametrize("origin", [None, 0.0, -1.25, 123456.789012345])
def test_go_keeps_absent_and_given_crash_and_origin_apart(crash_after, origin, frame_type):
    """``None`` stays ``None`` and a value (even 0.0 or infinity) stays that value."""
    message = _go(crash_after=crash_after, origin=origin, trace=True)
    frame = assert_round_trip(message, frame_type)
    assert frame[0] != PICKLE
    decoded = loads(frame_type(frame))
    assert (decoded.crash_after is None) == (crash_after is None)
    assert (decoded.origin is None) == (origin is None)


def test_go_with_an_infinite_or_tiny_task_time_round_trips():
    """Infinite, zero, subnormal and huge task times come back exactly, in order."""
    times = (math.inf, 0.0, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3)
    for message in (_go(times=times), _go(times=(math.inf,)), _go(times=times, params=b"")):
        frame = assert_round_trip(message)
        assert frame[0] != PICKLE
        assert loads(frame).times == message.times
        assert math.isinf(loads(bytearray(frame)).times[0])


def test_go_params_come_back_as_bytes_of_any_content():
    """The pickled parameters, whatever their bytes (including tags and pickle markers), are
    returned untouched, as ``bytes``."""
    params = pickle.dumps(np.arange(5.0), protocol=5) + bytes(range(256))
    decoded = loads(bytearray(dumps(_go(params=params))))
    assert type(decoded.params) is bytes and decoded.params == params


def test_empty_partition_sum_round_trips():
    """``PartitionSum(())`` travels in a request and in an upload and comes back empty."""
    request = RequestCommand(4, PartitionSum(()))
    upload = Upload(4, 0, PartitionSum(()), np.array([1.0, 2.0]), True)
    for message in (request, upload):
        for frame_type in FRAME_TYPES:
            frame = assert_round_trip(message, frame_type)
            assert frame[0] != PICKLE
            decoded = loads(frame_type(frame))
            assert decoded.contribution.tasks == () and type(decoded.contribution.tasks) is tuple


# ------------------------------------------------------------------------- alignment
ALIGNED_CONTRIBUTIONS = [Coded(3), Partial(2)] + [
    PartitionSum(tuple(range(count))) for count in range(1, 6)
]


@pytest.mark.parametrize("contribution", ALIGNED_CONTRIBUTIONS, ids=repr)
def test_upload_payload_decoded_from_a_bytearray_is_8_byte_aligned(contribution):
    """The vector starts at a multiple of 8 bytes into the frame, so that from a bytearray it is
    an aligned, writable view of the frame (no copy)."""
    payload = np.arange(1.0, 6.0)
    frame = bytearray(dumps(Upload(1, 1, contribution, payload, True)))
    decoded = loads(frame)
    assert decoded.payload.flags.aligned
    assert decoded.payload.ctypes.data % 8 == 0
    start = np.frombuffer(frame, np.uint8).ctypes.data
    offset = decoded.payload.ctypes.data - start
    assert offset % 8 == 0
    assert offset == len(frame) - payload.nbytes  # the vector is the frame's tail
    decoded.payload[0] = -1.0  # a view of the frame: the write shows in it
    assert struct.unpack_from("<d", frame, offset)[0] == -1.0
    assert np.array_equal(decoded.payload[1:], payload[1:])


# ------------------------------------------------------------------------- fuzz
def _random_int(rng, low, high):
    """A Python int in [low, high], often at an edge."""
    choice = rng.integers(4)
    if choice == 0:
        return int(low)
    if choice == 1:
        return int(high)
    if choice == 2:
        return int(rng.integers(-5, 50))
    return int(rng.integers(low, high, endpoint=True))


def _random_float(rng):
    special = [0.0, -0.0, math.inf, 5e-324, 1e308]
    if rng.random() < 0.2:
        return special[int(rng.integers(len(special)))]
    return float(rng.standard_normal() * 10.0 ** int(rng.integers(-5, 6)))


def _random_contribution(rng, kinds):
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind is Coded:
        return Coded(_random_int(rng, INT32_MIN, INT32_MAX))
    if kind is Partial:
        return Partial(_random_int(rng, INT32_MIN, INT32_MAX))
    count = int(rng.integers(0, 8))
    return PartitionSum(tuple(_random_int(rng, INT32_MIN, INT32_MAX) for _ in range(count)))


def _random_payload(rng):
    size = int(rng.integers(0, 40))
    payload = rng.standard_normal(size) * 10.0 ** rng.integers(-300, 300, size)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324])
    mask = rng.random(size) < 0.1
    payload[mask] = special[rng.integers(len(special), size=int(mask.sum()))]
    return payload


def _random_hot_message(rng):
    iteration = _random_int(rng, INT64_MIN, INT64_MAX)
    kind = int(rng.integers(7))
    if kind == 0:
        return Signal(iteration, _random_int(rng, INT32_MIN, INT32_MAX))
    if kind == 1:
        return Stopped(iteration, _random_int(rng, INT32_MIN, INT32_MAX))
    if kind == 2:
        return StopCommand(iteration)
    if kind == 3:
        return ResumeCommand(iteration)
    if kind == 4:
        return RequestCommand(iteration, _random_contribution(rng, (Coded, PartitionSum)))
    if kind == 5:
        return Upload(
            iteration,
            _random_int(rng, INT32_MIN, INT32_MAX),
            _random_contribution(rng, (Coded, Partial, PartitionSum)),
            _random_payload(rng),
            bool(rng.integers(2)),
        )
    times = tuple(_random_float(rng) for _ in range(int(rng.integers(0, 12))))
    return Go(
        iteration,
        _random_int(rng, INT32_MIN, INT32_MAX),
        rng.bytes(int(rng.integers(0, 64))),
        times,
        None if rng.random() < 0.5 else _random_float(rng),
        _random_float(rng),
        _random_float(rng),
        bool(rng.integers(2)),
        None if rng.random() < 0.5 else _random_float(rng),
    )


def test_random_hot_messages_round_trip_exactly():
    """Several hundred random critical-path messages (seeded), with fields anywhere in their
    range, travel as binary frames and come back equal, from bytes and from a bytearray."""
    rng = np.random.default_rng(SEED)
    kinds = set()
    for _ in range(600):
        message = _random_hot_message(rng)
        kinds.add(type(message))
        for frame_type in FRAME_TYPES:
            frame = assert_round_trip(message, frame_type)
            assert frame[0] != PICKLE, message
    assert len(kinds) == 7  # every hot kind was drawn


@pytest.mark.parametrize(
    "template",
    [_go(), _go(origin=123.5, trace=True), _go(params=b""), _go(iteration=2**70), _go(plan=2**31)],
    ids=["plain", "origin-trace", "no-params", "iteration-pickled", "plan-pickled"],
)
def test_a_broadcast_encoded_at_once_is_each_workers_own_go(template):
    """``go_frames`` gives, for every worker, exactly the frame of that worker's own ``Go`` (its
    times and crash moment in the template), and each decodes back to it: binary frames where the
    fields allow, pickles where they do not (numpy floats among the times, fields out of range)."""
    rows = [[0.25, 1.5], [math.inf, 0.0], [1e-300, 2.0], [0.5, 0.5]]
    crashes = [None, 0.75, None, 0.0]
    frames = go_frames(template, rows, crashes)
    assert len(frames) == len(rows)
    for frame, row, crash in zip(frames, rows, crashes, strict=True):
        own = dataclasses.replace(template, times=tuple(row), crash_after=crash)
        assert frame == dumps(own)
        assert loads(bytearray(frame)) == own
    mixed = [[np.float64(0.25), 1.5], [1.0, 2.0]]
    frames = go_frames(template, mixed, [None, 0.5])
    assert frames[0][0] == PICKLE
    for frame, row, crash in zip(frames, mixed, [None, 0.5], strict=True):
        own = dataclasses.replace(template, times=tuple(row), crash_after=crash)
        assert frame == dumps(own)
        assert loads(frame) == own


# ------------------------------------------------------------------------- sizes
def test_message_sizes_are_the_lengths_of_the_real_frames():
    """``message_sizes`` reports the lengths of a signal's and an upload's actual frames."""
    gradient = np.zeros(10)
    sizes = message_sizes(gradient)
    assert sizes == {
        "signal": len(dumps(Signal(1, 1))),
        "upload": len(dumps(Upload(1, 1, Coded(0), gradient, False))),
    }
    assert sizes == {"signal": 1 + 8 + 4, "upload": 24 + 8 * 10}  # the documented layout
    assert message_sizes([0.0] * 10) == sizes  # any array-like of floats


def test_a_signal_is_far_smaller_than_a_gradient_upload():
    """A signal is a few bytes; an upload of 10**5 floats is at least their 8e5 bytes."""
    sizes = message_sizes(np.zeros(10**5))
    assert sizes["upload"] >= 8 * 10**5
    assert sizes["signal"] <= 16
    assert sizes["upload"] >= 10**4 * sizes["signal"]


# ------------------------------------------------------------------------- the parameters
PARAMS_ARRAYS = {
    "vector": np.linspace(-3.0, 3.0, 9),
    "scalar": np.array(1.25),
    "empty": np.zeros((0, 4)),
    "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "strided": np.arange(30.0)[::4],
    "float32": np.arange(6, dtype=np.float32) / 7,
    "big-endian": np.arange(5, dtype=">i8") - 2,
    "complex": np.array([1 + 2j, -0.5j]),
    "booleans": np.array([[True, False], [False, True]]),
    "uint8": np.arange(250, 256, dtype=np.uint8),
}


@pytest.mark.parametrize("name", PARAMS_ARRAYS)
def test_array_parameters_travel_raw_and_come_back_equal_and_writable(name):
    """A plain numeric array is sent as its type, shape and bytes (no pickle), and comes back
    with the same type, shape and values, C-ordered and writable."""
    array = PARAMS_ARRAYS[name]
    frame = encode_params(array)
    assert frame[0] != PICKLE
    assert len(frame) == 1 + 8 + 1 + 8 * array.ndim + array.nbytes
    for data in (frame, bytearray(frame)):
        back = decode_params(data)
        assert type(back) is np.ndarray
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)
        assert back.flags.writeable and back.flags.c_contiguous


@pytest.mark.parametrize(
    "params",
    [
        {"weights": np.ones(3), "bias": 0.5},
        [np.zeros(2), np.ones(2)],
        1.5,
        None,
        np.array(["text"]),
        np.zeros(2, dtype=[("a", "f8"), ("b", "i4")]),
        np.array([np.datetime64("2020-01-01")]),
        np.ma.masked_array([1.0, 2.0], mask=[False, True]),
        np.array([object()], dtype=object)[:0],
    ],
    ids=["dict", "list", "float", "none", "strings", "record", "datetime", "masked", "object"],
)
def test_other_parameters_are_pickled_and_come_back_equal(params):
    frame = encode_params(params)
    assert frame[0] == PICKLE
    back = decode_params(frame)
    assert type(back) is type(params)
    assert repr(back) == repr(params)
