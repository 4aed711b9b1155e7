"""A byte-message channel over one connected descriptor, lean on system calls.

The frames are those of :class:`multiprocessing.connection.Connection` (a 4-byte big-endian
length, or ``-1`` and an 8-byte length beyond 2 GiB), so either end may be a plain ``Connection``.
A message leaves in one ``writev`` (header and payload together, without copying them into one
buffer); reading takes whatever the descriptor holds in one ``read`` and cuts every complete
message out of it. ``Connection`` spends two reads and several Python calls per message: a worker
woken from sleep, with cold caches, pays for each of them many times over.
"""

from __future__ import annotations

import os
import select
import struct
from typing import Any

__all__ = ["FramedPipe"]

_LENGTH = struct.Struct("!i")
_LONG_LENGTH = struct.Struct("!Q")
_LONG = 0x7FFFFFFF  # beyond this a frame carries -1 and an 8-byte length
_CHUNK = 1 << 16  # bytes asked of one read when no frame in progress says how many are due
_SELECT_LIMIT = 1024  # FD_SETSIZE: select() refuses larger descriptors


class FramedPipe:
    """A duplex byte-message channel on ``connection``'s descriptor (``connection`` keeps it
    open and is closed with the channel).

    ``poll`` waits with microsecond resolution (``select``), so that a task timed by it ends when
    it should; waits built on ``poll(2)`` round up to whole milliseconds.
    """

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._fd = connection.fileno()
        self._buffer = bytearray()
        self._frames: list[bytearray] = []  # complete frames cut out of the buffer, oldest first

    def fileno(self) -> int:
        return self._fd

    @property
    def closed(self) -> bool:
        return self._connection.closed

    def close(self) -> None:
        self._connection.close()

    # ------------------------------------------------------------------ sending
    def send_bytes(self, payload: bytes | bytearray | memoryview) -> None:
        size = memoryview(payload).nbytes
        header = _LENGTH.pack(size) if size <= _LONG else _LENGTH.pack(-1) + _LONG_LENGTH.pack(size)
        sent = os.writev(self._fd, (header, payload))
        if sent < len(header) + size:  # a signal or a full pipe cut the write short
            rest = memoryview(header + bytes(payload))[sent:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]

    # ------------------------------------------------------------------ receiving
    def _cut(self) -> int:
        """Move every complete frame of the buffer to the queue; return the bytes still needed
        for the frame in progress (0 when the buffer holds no part of one)."""
        buffer = self._buffer
        start = 0
        needed = 0
        while True:
            have = len(buffer) - start
            if have < 4:
                needed = 4 - have if have else 0
                break
            size = _LENGTH.unpack_from(buffer, start)[0]
            head = 4
            if size == -1:
                if have < 12:
                    needed = 12 - have
                    break
                size, head = _LONG_LENGTH.unpack_from(buffer, start + 4)[0], 12
            if have < head + size:
                needed = head + size - have
                break
            self._frames.append(buffer[start + head : start + head + size])
            start += head + size
        if start:
            del buffer[:start]
        return needed

    def _read(self, count: int) -> None:
        chunk = os.read(self._fd, count)
        if not chunk:
            raise EOFError("the other end closed the channel")
        self._buffer += chunk

    def read_ready(self) -> list[bytearray]:
        """The messages that have arrived, after one read of a descriptor known to be readable.

        A message begun is read to its end, as ``Connection.recv_bytes`` would: its sender is in
        the middle of writing it. Raises ``EOFError`` when the other end is closed (the messages
        before the end stay queued for :meth:`recv_bytes`)."""
        self._read(_CHUNK)
        needed = self._cut()
        while needed:
            self._read(max(needed, _CHUNK))
            needed = self._cut()
        frames, self._frames = self._frames, []
        return frames

    def recv_bytes(self) -> bytearray:
        """The next message, waiting for it if none has arrived."""
        while not self._frames:
            self._read(max(self._cut(), _CHUNK))
            self._cut()
        return self._frames.pop(0)

    def poll(self, timeout: float | None = 0.0) -> bool:
        """Whether a message (or part of one, or the end) is there to read, waiting up to
        ``timeout`` seconds (``None``: for ever)."""
        if self._frames:
            return True
        if self._fd < _SELECT_LIMIT:
            return bool(select.select([self._fd], [], [], timeout)[0])
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        return bool(poller.poll(None if timeout is None else timeout * 1e3))
