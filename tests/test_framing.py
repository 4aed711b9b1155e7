"""``FramedPipe``: frames compatible both ways with ``multiprocessing.connection.Connection``,
every message read whole and in order however it arrives (many in one read, one in many writes),
``poll`` that knows what is buffered, and the end of the channel reported after the messages sent
before it.

The peer is a plain ``Connection`` or raw writes of the documented frame (a 4-byte big-endian
signed length, then the payload) on the other end's descriptor.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import select
import signal
import socket
import struct
import threading
import time
from multiprocessing.connection import Connection

import numpy as np
import pytest

from gclib.runtime.transports.framing import FramedPipe

SEED = 1234
SIZES = [0, 1, 100, 65535, 65536, 65537, 1_000_003]


def _content(size: int, seed: int = SEED) -> bytes:
    return np.random.default_rng(seed + size).bytes(size)


def _header(size: int) -> bytes:
    return struct.pack("!i", size)


@pytest.fixture(params=["pipe", "socketpair"])
def ends(request):
    """Two connected ``Connection`` ends: ``multiprocessing.Pipe`` or a wrapped socketpair."""
    if request.param == "pipe":
        left, right = multiprocessing.Pipe(duplex=True)
    else:
        first, second = socket.socketpair()
        left, right = Connection(first.detach()), Connection(second.detach())
    yield left, right
    for end in (left, right):
        if not end.closed:
            end.close()


class _Background:
    """Run ``function`` in a thread; ``result()`` joins it and re-raises its error."""

    def __init__(self, function, *args):
        self._value = None
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(function, *args), daemon=True)
        self._thread.start()

    def _run(self, function, *args):
        try:
            self._value = function(*args)
        except BaseException as error:
            self._error = error

    def result(self, timeout: float = 10.0):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the background thread did not finish"
        if self._error is not None:
            raise self._error
        return self._value


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


# ------------------------------------------------------------------------- compatibility
@pytest.mark.parametrize("size", SIZES)
def test_framed_pipe_sends_what_a_connection_receives(ends, size):
    """A ``FramedPipe`` frame is read by ``Connection.recv_bytes`` as the same bytes."""
    left, right = ends
    payload = _content(size)
    sender = _Background(FramedPipe(left).send_bytes, payload)
    received = right.recv_bytes()
    sender.result()
    assert received == payload


@pytest.mark.parametrize("size", SIZES)
def test_framed_pipe_receives_what_a_connection_sends(ends, size):
    """A ``Connection.send_bytes`` frame is read by ``FramedPipe.recv_bytes`` as the same
    bytes, returned as a bytearray."""
    left, right = ends
    payload = _content(size)
    sender = _Background(right.send_bytes, payload)
    received = FramedPipe(left).recv_bytes()
    sender.result()
    assert type(received) is bytearray
    assert received == payload


@pytest.mark.parametrize("size", SIZES)
def test_read_ready_receives_a_connection_frame_whole(ends, size):
    """``read_ready`` on a readable descriptor returns a frame sent by a ``Connection`` whole,
    however long (a begun frame is read to its end)."""
    left, right = ends
    payload = _content(size)
    pipe = FramedPipe(left)
    sender = _Background(right.send_bytes, payload)
    assert pipe.poll(5.0)
    frames = pipe.read_ready()
    sender.result()
    assert frames == [payload]
    assert all(type(frame) is bytearray for frame in frames)


@pytest.mark.parametrize("size", [0, 1, 65537, 300_000])
def test_framed_pipe_to_framed_pipe_both_ways(ends, size):
    """Two ``FramedPipe`` ends exchange frames in both directions on the same descriptors."""
    left, right = (FramedPipe(end) for end in ends)
    outgoing, incoming = _content(size, 1), _content(size, 2)
    sender = _Background(left.send_bytes, outgoing)
    assert right.recv_bytes() == outgoing
    sender.result()
    sender = _Background(right.send_bytes, incoming)
    assert left.recv_bytes() == incoming
    sender.result()


def test_one_way_pipe_works_too():
    """On the two ends of a one-way ``multiprocessing.Pipe`` (an OS pipe), frames pass from a
    ``FramedPipe`` writer to a ``Connection`` reader and from a ``Connection`` to a
    ``FramedPipe``."""
    for framed_sender in (True, False):
        reader, writer = multiprocessing.Pipe(duplex=False)
        try:
            payloads = [_content(size) for size in (0, 5, 70_000, 3)]
            send = FramedPipe(writer).send_bytes if framed_sender else writer.send_bytes
            receive = reader.recv_bytes if framed_sender else FramedPipe(reader).recv_bytes
            sender = _Background(lambda: [send(p) for p in payloads])  # noqa: B023 (joined below)
            assert [receive() for _ in payloads] == payloads
            sender.result()
        finally:
            reader.close()
            writer.close()


def test_send_bytes_accepts_any_buffer(ends):
    """A bytearray, a memoryview (of a slice, or of floats) and a numpy vector travel as their
    raw bytes, each frame carrying their size in bytes."""
    left, right = ends
    pipe = FramedPipe(left)
    floats = np.arange(5.0)
    buffers = [bytearray(b"abc"), memoryview(b"0123456789")[2:7], memoryview(floats), floats]
    for buffer in buffers:
        pipe.send_bytes(buffer)
    assert [right.recv_bytes() for _ in buffers] == [
        b"abc",
        b"23456",
        floats.tobytes(),
        floats.tobytes(),
    ]


def test_send_interrupted_by_signals_still_delivers_every_byte(ends):
    """Frames sent while the slow reader keeps interrupting the sending thread with a signal
    (so that ``writev`` returns having written only part of a frame) arrive whole, in order."""
    left, right = ends
    payloads = [_content(size, 7) for size in (1_000_003, 5, 300_001)]
    stream = b"".join(_header(len(payload)) + payload for payload in payloads)
    sender = threading.get_ident()

    def read_slowly():
        received = bytearray()
        while len(received) < len(stream):
            received += os.read(right.fileno(), 8192)
            signal.pthread_kill(sender, signal.SIGUSR1)
            time.sleep(0.0002)
        return bytes(received)

    interrupts = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: interrupts.append(1))
    try:
        reader = _Background(read_slowly)
        pipe = FramedPipe(left)
        for payload in payloads:
            pipe.send_bytes(payload)
        assert reader.result() == stream
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert interrupts  # the sender was interrupted


def test_frame_header_is_a_big_endian_length(ends):
    """On the wire a frame is its length as a 4-byte big-endian signed int, then the payload
    (read raw from the other descriptor)."""
    left, right = ends
    payload = _content(300)
    FramedPipe(left).send_bytes(payload)
    raw = b""
    while len(raw) < 4 + len(payload):
        raw += os.read(right.fileno(), 4 + len(payload) - len(raw))
    assert raw == _header(300) + payload
    assert not _readable(right.fileno())


# ------------------------------------------------------------------------- reading
def test_many_small_frames_come_back_in_order_from_one_read_ready(ends):
    """Frames all sent (one ``send_bytes`` each) before one ``read_ready`` come back from that
    one call, in order."""
    left, right = ends
    rng = np.random.default_rng(SEED)
    payloads = [rng.bytes(int(rng.integers(0, 60))) for _ in range(150)]  # the socket holds them
    for payload in payloads:
        right.send_bytes(payload)
    pipe = FramedPipe(left)
    assert pipe.poll(1.0)
    assert pipe.read_ready() == payloads
    assert not pipe.poll(0)


def test_a_thousand_frames_in_one_write_come_back_from_one_read_ready(ends):
    """A thousand frames (under 64 KiB in all) in one raw write: one ``read_ready`` cuts every
    one out, in order, including the empty ones."""
    left, right = ends
    rng = np.random.default_rng(SEED + 2)
    payloads = [rng.bytes(int(rng.integers(0, 56))) for _ in range(1000)]
    stream = b"".join(_header(len(payload)) + payload for payload in payloads)
    assert len(stream) <= 65536
    view = memoryview(stream)
    while view:
        view = view[os.write(right.fileno(), view) :]
    pipe = FramedPipe(left)
    frames = pipe.read_ready()
    assert frames == payloads
    assert not pipe.poll(0)


def test_read_ready_returns_complete_frames_and_finishes_a_begun_one(ends):
    """A descriptor holding two whole frames and the start of a third: ``read_ready`` returns
    the three, waiting for the rest of the third from a writer that is still writing."""
    left, right = ends
    fd = right.fileno()
    third = _content(200_000)
    os.write(fd, _header(3) + b"one" + _header(0) + _header(len(third)) + third[:1000])

    def finish():
        time.sleep(0.02)
        view = memoryview(third)[1000:]
        while view:
            view = view[os.write(fd, view[:50_000]) :]

    writer = _Background(finish)
    frames = FramedPipe(left).read_ready()
    writer.result()
    assert frames == [b"one", b"", third]


def test_read_ready_finishes_a_frame_begun_by_part_of_its_header(ends):
    """A whole frame followed by two bytes of the next one's header: ``read_ready`` returns both
    frames, the second read to its end from a writer that finishes it later."""
    left, right = ends
    fd = right.fileno()
    second = _header(4) + b"next"
    os.write(fd, _header(5) + b"whole" + second[:2])
    writer = _Background(lambda: (time.sleep(0.02), os.write(fd, second[2:])))
    frames = FramedPipe(left).read_ready()
    writer.result()
    assert frames == [b"whole", b"next"]


def _write_in_pieces(fd: int, pieces: list[bytes]) -> None:
    for piece in pieces:
        os.write(fd, piece)
        time.sleep(0.003)


@pytest.mark.parametrize("size", [0, 1, 10, 70_000])
def test_a_frame_written_in_pieces_is_reassembled_by_recv_bytes(ends, size):
    """The header split byte by byte and the payload in several writes, with pauses between
    them: ``recv_bytes`` returns the whole payload, then the frame written after it."""
    left, right = ends
    payload = _content(size)
    header = _header(size)
    cuts = sorted({0, size // 3, size // 2, size - 1, size} & set(range(size + 1)))
    pieces = [header[:1], header[1:2], header[2:4]]
    pieces += [payload[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
    pieces += [_header(2) + b"ok"]
    writer = _Background(_write_in_pieces, right.fileno(), pieces)
    pipe = FramedPipe(left)
    assert pipe.recv_bytes() == payload
    assert pipe.recv_bytes() == b"ok"
    writer.result()


def _first_frames(pipe: FramedPipe) -> list[bytearray]:
    """What ``read_ready`` returns once it returns anything (a read may bring only part of a
    header, which gives no frame yet)."""
    frames: list[bytearray] = []
    while not frames:
        assert pipe.poll(5.0)
        frames = pipe.read_ready()
    return frames


def test_a_frame_written_in_pieces_is_reassembled_by_read_ready(ends):
    """``read_ready`` called when only part of a header has arrived returns the whole frame
    once its writer has finished it."""
    left, right = ends
    payload = _content(5000)
    frame = _header(len(payload)) + payload
    pieces = [frame[:2], frame[2:3], frame[3:7], frame[7:4000], frame[4000:]]
    writer = _Background(_write_in_pieces, right.fileno(), pieces)
    pipe = FramedPipe(left)
    frames = _first_frames(pipe)
    writer.result()
    assert frames == [payload]


def test_long_form_header_is_understood(ends):
    """A frame with the long header (``-1`` then an 8-byte big-endian length, what a
    ``Connection`` writes beyond 2 GiB) is read, whole or in pieces, by ``recv_bytes`` and
    ``read_ready``."""
    left, right = ends
    fd = right.fileno()
    payload = _content(777)
    frame = struct.pack("!i", -1) + struct.pack("!Q", len(payload)) + payload
    pipe = FramedPipe(left)
    os.write(fd, frame + _header(1) + b"!")
    assert pipe.recv_bytes() == payload
    assert pipe.recv_bytes() == b"!"
    pieces = [frame[:3], frame[3:4], frame[4:9], frame[9:12], frame[12:100], frame[100:]]
    writer = _Background(_write_in_pieces, fd, pieces)
    frames = _first_frames(pipe)
    writer.result()
    assert frames == [payload]
    os.write(fd, struct.pack("!i", -1) + struct.pack("!Q", 0))
    assert pipe.recv_bytes() == b""


# ------------------------------------------------------------------------- poll
def test_poll_sees_a_frame_buffered_when_the_descriptor_is_empty(ends):
    """Two frames arriving together: after ``recv_bytes`` takes the first, the second is
    buffered and the descriptor is empty, yet ``poll(0)`` is True; after the second, False."""
    left, right = ends
    os.write(right.fileno(), _header(5) + b"first" + _header(6) + b"second")
    pipe = FramedPipe(left)
    assert pipe.recv_bytes() == b"first"
    assert not _readable(pipe.fileno())  # both frames came in one read
    assert pipe.poll(0)
    assert pipe.poll(None)  # no wait for what is already here
    assert pipe.recv_bytes() == b"second"
    assert not pipe.poll(0)


def test_poll_on_an_empty_channel(ends):
    """``poll(0)`` is False on an empty channel; ``poll(0.05)`` waits about 0.05 s, then is
    False; a frame sent meanwhile makes it True."""
    left, right = ends
    pipe = FramedPipe(left)
    assert not pipe.poll(0)
    start = time.monotonic()
    assert not pipe.poll(0.05)
    elapsed = time.monotonic() - start
    assert 0.04 <= elapsed < 1.0
    right.send_bytes(b"x")
    assert pipe.poll(0)
    assert pipe.poll(1.0)
    assert pipe.recv_bytes() == b"x"
    assert not pipe.poll(0)


def test_poll_returns_as_soon_as_a_frame_arrives(ends):
    """``poll`` with a long timeout returns True when a frame arrives, long before it."""
    left, right = ends
    pipe = FramedPipe(left)
    sender = _Background(lambda: (time.sleep(0.05), right.send_bytes(b"late")))
    start = time.monotonic()
    assert pipe.poll(5.0)
    assert time.monotonic() - start < 2.0
    sender.result()
    assert pipe.recv_bytes() == b"late"


def _free_descriptor_above(low: int) -> int | None:
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    for fd in range(low, min(limit, low + 512)):
        try:
            os.fstat(fd)
        except OSError:
            return fd
    return None


def test_poll_on_a_descriptor_beyond_select_limit(ends):
    """On a descriptor numbered 1024 or more (beyond ``select``), ``poll`` still waits and sees
    frames, and the channel still reads them."""
    left, right = ends
    high = _free_descriptor_above(1024)
    if high is None:
        pytest.skip("no descriptor beyond 1024 can be opened here")
    os.dup2(left.fileno(), high)
    pipe = FramedPipe(Connection(high))  # the Connection owns (and closes) the duplicate
    try:
        assert pipe.fileno() == high
        assert not pipe.poll(0)
        start = time.monotonic()
        assert not pipe.poll(0.05)
        assert 0.04 <= time.monotonic() - start < 1.0
        right.send_bytes(b"ab")
        right.send_bytes(b"cd")
        assert pipe.poll(1.0)
        assert pipe.recv_bytes() == b"ab"
        assert pipe.poll(0)
        assert pipe.recv_bytes() == b"cd"
        pipe.send_bytes(b"back")
        assert right.recv_bytes() == b"back"
    finally:
        pipe.close()


# ------------------------------------------------------------------------- end of file
def test_recv_bytes_delivers_every_frame_before_the_end(ends):
    """Frames sent before the other end closes are all delivered, then ``EOFError``."""
    left, right = ends
    payloads = [b"a", b"", _content(100_000)]
    sender = _Background(lambda: ([right.send_bytes(p) for p in payloads], right.close()))
    pipe = FramedPipe(left)
    assert [pipe.recv_bytes() for _ in payloads] == payloads
    sender.result()
    with pytest.raises(EOFError):
        pipe.recv_bytes()
    with pytest.raises(EOFError):
        pipe.recv_bytes()


def test_read_ready_delivers_the_frames_then_raises_at_the_end(ends):
    """``read_ready`` returns the frames sent before the close, then raises ``EOFError``; the end
    makes ``poll`` True."""
    left, right = ends
    for payload in (b"1", b"22", b"333"):
        right.send_bytes(payload)
    right.close()
    pipe = FramedPipe(left)
    assert pipe.poll(0)
    assert pipe.read_ready() == [b"1", b"22", b"333"]
    assert pipe.poll(0)  # the end is there to read
    with pytest.raises(EOFError):
        pipe.read_ready()
    with pytest.raises(EOFError):
        pipe.recv_bytes()


def test_frames_before_a_truncated_one_stay_queued_after_eof(ends):
    """The other end sends two frames and part of a third, then closes: ``read_ready`` raises
    ``EOFError``, but the two whole frames stay queued for ``poll``/``recv_bytes``, and the cut
    frame is never delivered."""
    left, right = ends
    os.write(right.fileno(), _header(2) + b"ok" + _header(3) + b"yes" + _header(10) + b"cut")
    right.close()
    pipe = FramedPipe(left)
    with pytest.raises(EOFError):
        pipe.read_ready()
    assert pipe.poll(0)
    assert pipe.recv_bytes() == b"ok"
    assert pipe.poll(0)
    assert pipe.recv_bytes() == b"yes"
    with pytest.raises(EOFError):
        pipe.recv_bytes()


def test_eof_in_the_middle_of_a_header(ends):
    """A close after two bytes of a header ends the channel: ``recv_bytes`` raises
    ``EOFError``, never a partial frame."""
    left, right = ends
    os.write(right.fileno(), _header(1) + b"z" + b"\x00\x00")
    right.close()
    pipe = FramedPipe(left)
    assert pipe.recv_bytes() == b"z"
    with pytest.raises(EOFError):
        pipe.recv_bytes()


def test_close_closes_the_connection(ends):
    """``close`` closes the wrapped connection: ``closed`` turns True, and the other end sees
    the end of the channel."""
    left, right = ends
    pipe = FramedPipe(left)
    fd = pipe.fileno()
    assert fd == left.fileno()
    assert not pipe.closed
    pipe.close()
    assert pipe.closed and left.closed
    with pytest.raises(EOFError):
        right.recv_bytes()


# ------------------------------------------------------------------------- random traffic
def _random_sizes(count: int) -> list[int]:
    rng = np.random.default_rng(SEED)
    sizes = [int(size) for size in rng.integers(0, 200_001, count)]
    return sizes + [0, 1, 3, 4, 65532, 65536, 200_000]  # edges around the header and a read


@pytest.mark.parametrize("receiver", ["recv_bytes", "read_ready"])
@pytest.mark.parametrize("sender", ["framed", "connection"])
def test_random_frames_round_trip_byte_for_byte(ends, sender, receiver):
    """A seeded random sequence of frames of 0..200 000 bytes, each of seeded random content,
    comes back byte for byte and in order, however the reads cut them."""
    left, right = ends
    rng = np.random.default_rng(SEED + 1)
    payloads = [rng.bytes(size) for size in _random_sizes(40)]
    send = FramedPipe(right).send_bytes if sender == "framed" else right.send_bytes
    writer = _Background(lambda: [send(payload) for payload in payloads])
    pipe = FramedPipe(left)
    received: list[bytearray] = []
    if receiver == "recv_bytes":
        received = [pipe.recv_bytes() for _ in payloads]
    else:
        while len(received) < len(payloads):
            assert pipe.poll(10.0)
            received.extend(pipe.read_ready())
    writer.result()
    assert len(received) == len(payloads)
    for got, expected in zip(received, payloads, strict=True):
        assert len(got) == len(expected)
        assert got == expected
    assert not pipe.poll(0)
