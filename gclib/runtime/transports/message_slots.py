"""Messages a worker prepares ahead, read by the master without a round trip (one-sided).

A worker of a scheme that requests messages has what it may be asked for ready early: the nested
code's worker its level-``s`` message as soon as it finishes task ``s + 1``, cover's worker the
partial gradients its sum will add. Asking afterwards costs a request round: the master's command
wakes the chosen sleeping processes, each runs its handler and writes its reply, and on fewer cores
than workers they run a few at a time while the master waits. Where master and workers share
memory (processes forked on one machine), the worker instead writes the message into a slot of a
shared region before it signals the task's end, and the master copies it out when it would have
asked: a one-sided read, as remote direct memory access does across machines. The exchange still
moves one message per requested worker, and its emulated costs are kept by the master.

A worker has one slot per task of its window: slot ``k`` holds what it published on finishing
task ``k + 1``. Each slot is a header of 16 words (the iteration, the slot's number, the shape and
type of the array) followed by the array's bytes. The worker writes the iteration last and clears
it first, and the master checks it before and after copying, so a read never mixes two messages (a
seqlock). A slot is written once per iteration, before the signal the master waits for, so the
check is a guard, not a retry loop. A message too large for its slot, or of a type the header
cannot describe, is simply not published: the master then asks for it as usual.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Sequence

import numpy as np

__all__ = ["MessageSlots"]

_HEADER_WORDS = 16
_HEAD_BYTES = 8 * _HEADER_WORDS
_MAX_DIMS = _HEADER_WORDS - 5  # tag, slot, ndim, nbytes and type take five words
_KINDS = "biufc"  # booleans, integers and floating-point numbers: a type string says it all
BUDGET = 64 << 20  # bytes of address space for every slot together (pages are used when written)
MAX_SLOT = 1 << 20  # bytes of one slot at most
MIN_SLOT = 512  # bytes of one slot at least, else no slots at all
_HEAD = struct.Struct("<5q")  # tag (the iteration), slot, ndim, nbytes, type
_TAG = struct.Struct("<q")
_DTYPES: dict[int, np.dtype] = {}  # type word -> type, as read


def _type_word(dtype: np.dtype) -> int:
    return int.from_bytes(dtype.str.encode("ascii").ljust(8, b"\0"), "little")


def _word_type(word: int) -> np.dtype:
    return np.dtype(int(word).to_bytes(8, "little").rstrip(b"\0").decode("ascii"))


class MessageSlots:
    """``slots`` slots per worker in a region shared with the processes forked later.

    Args:
        workers: number of workers.
        slots: slots per worker (``0 … slots − 1``, one per task of its window).
        budget: bytes of address space for all slots together.
    """

    def __init__(self, workers: int, slots: int, budget: int = BUDGET) -> None:
        if workers < 1 or slots < 1:
            raise ValueError(
                f"Arguments 'workers' and 'slots' must be positive, not {workers} and {slots}."
            )
        size = min(MAX_SLOT, budget // (workers * slots)) // 64 * 64
        if size < MIN_SLOT:
            raise ValueError(
                f"{workers} workers with {slots} slots each leave slots of {size} bytes in a "
                f"budget of {budget} bytes; at least {MIN_SLOT} are needed."
            )
        self.workers, self.slots = workers, slots
        self.capacity = size - _HEAD_BYTES  # bytes of an array in one slot
        self._slot_words = size // 8
        self._region = mmap.mmap(-1, workers * slots * size)  # MAP_SHARED: forks see it
        self._memory = memoryview(self._region)
        # slot offset -> (type, shape) of the header this process last wrote there
        self._described: dict[int, tuple[np.dtype, tuple[int, ...]]] = {}

    def _base(self, worker: int, slot: int) -> int:
        return (worker * self.slots + slot) * self._slot_words

    def publish(self, worker: int, iteration: int, slot: int, message: np.ndarray) -> bool:
        """Write ``message`` into worker ``worker``'s slot ``slot`` for ``iteration`` (a
        positive number); ``False`` if it does not fit (the master will ask for it)."""
        if not (0 <= slot < self.slots and 0 <= worker < self.workers and iteration > 0):
            return False
        array = np.asarray(message)
        if array.dtype.kind not in _KINDS or array.ndim > _MAX_DIMS or array.nbytes > self.capacity:
            return False
        offset = self._base(worker, slot) * 8
        region = self._region
        _TAG.pack_into(region, offset, 0)  # being written
        described = (array.dtype, array.shape)
        if self._described.get(offset) != described:  # the header stays while they do
            head = (slot, array.ndim, array.nbytes, _type_word(array.dtype), *array.shape)
            struct.pack_into(f"<{len(head)}q", region, offset + _TAG.size, *head)
            self._described[offset] = described
        start = offset + _HEAD_BYTES
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        region[start : start + array.nbytes] = array.data.cast("B")
        _TAG.pack_into(region, offset, iteration)
        return True

    def fetch(self, iteration: int, slot: int, workers: Sequence[int]) -> list[np.ndarray | None]:
        """Copies of what ``workers`` published in their slot ``slot`` for ``iteration``, each
        ``None`` where that worker has not published it.

        This runs on the iteration's critical path: each header is read in one unpacking."""
        if not (0 <= slot < self.slots and iteration > 0):
            return [None] * len(workers)
        fetch_one, count = self._fetch_one, self.workers
        return [
            fetch_one(worker, iteration, slot) if 0 <= worker < count else None
            for worker in workers
        ]

    def _fetch_one(self, worker: int, iteration: int, slot: int) -> np.ndarray | None:
        # few library calls: the master reads right after the workers' computations have
        # evicted its caches, where each call costs many times what it costs warm
        region = self._region
        offset = self._base(worker, slot) * 8
        tag, stored, ndim, nbytes, kind = _HEAD.unpack_from(region, offset)
        if tag != iteration or stored != slot:
            return None
        start = offset + _HEAD_BYTES
        data = np.frombuffer(bytearray(self._memory[start : start + nbytes]), self._dtype(kind))
        if _TAG.unpack_from(region, offset)[0] != iteration:
            return None  # rewritten while copied
        if ndim == 1:
            return data
        return data.reshape(struct.unpack_from(f"<{ndim}q", region, offset + _HEAD.size))

    @staticmethod
    def _dtype(kind: int) -> np.dtype:
        dtype = _DTYPES.get(kind)
        if dtype is None:
            dtype = _DTYPES[kind] = _word_type(kind)
        return dtype
