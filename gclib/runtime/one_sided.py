"""Requested messages read where the workers published them, without a request round.

A worker of a scheme that asks for messages leaves, right after some of its tasks, what it may be
asked for in a slot of memory it shares with the master (see
:class:`~gclib.runtime.transports.message_slots.MessageSlots`): the nested code's workers their
coded message of each level, cover's workers each partial gradient, since the sum it asks for is
chosen only at the decision. When the scheduler requests a message, the master reads it there
whole, or as its parts, which it adds as the worker would have
(:func:`~gclib.schemes.base.partition_sum`): the message is the same, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from gclib.runtime.transports import WorkerBackend
from gclib.schemes.base import Contribution, Partial, PartitionSum, partition_sum

__all__ = ["read_published"]


def read_published(
    backend: WorkerBackend,
    iteration: int,
    slots: dict[Contribution, int],
    requests: Sequence[tuple[int, Contribution]],
    held: Mapping[tuple[int, int], np.ndarray] | None = None,
) -> tuple[list[tuple[int, Contribution, np.ndarray]], list[tuple[int, Contribution]]]:
    """The requested messages of ``iteration`` the backend can read, as ``(worker, contribution,
    message)``, and the requests it cannot serve so (the master sends those).

    ``slots`` tells the slot each published contribution is left in; a message whose parts are
    not all published and readable is requested. ``held`` maps ``(worker, slot)`` to what the
    master read ahead from that slot in this iteration; only the rest is read now.
    """
    read: list[tuple[int, Contribution, np.ndarray]] = []
    rest: list[tuple[int, Contribution]] = []
    asked: dict[Contribution, list[int]] = {}  # the nested code asks one message of them all
    held = {} if held is None else held
    for worker, contribution in requests:
        asked.setdefault(contribution, []).append(worker)
    for contribution, workers in asked.items():
        whole = not isinstance(contribution, PartitionSum)
        parts = [contribution] if whole else [Partial(task) for task in contribution.tasks]
        found = [slots.get(part) for part in parts]
        if not found or None in found:
            rest.extend((worker, contribution) for worker in workers)
            continue
        copies = [_read(backend, iteration, slot, workers, held) for slot in found]
        if whole:  # the common case, kept short: it runs as the iteration ends
            for worker, copy in zip(workers, copies[0], strict=True):
                if copy is None:
                    rest.append((worker, contribution))
                else:
                    read.append((worker, contribution, copy))
            continue
        for index, worker in enumerate(workers):
            arrays = [copy[index] for copy in copies]
            if any(array is None for array in arrays):
                rest.append((worker, contribution))
            else:
                read.append((worker, contribution, partition_sum(arrays)))
    return read, rest


def _read(
    backend: WorkerBackend,
    iteration: int,
    slot: int,
    workers: list[int],
    held: Mapping[tuple[int, int], np.ndarray],
) -> list[np.ndarray | None]:
    """What ``workers`` left in ``slot``: from ``held`` where read ahead, else from the backend."""
    copies = [held.get((worker, slot)) for worker in workers]
    missing = [index for index, copy in enumerate(copies) if copy is None]
    if missing:
        found = backend.fetch(iteration, slot, [workers[index] for index in missing])
        for index, copy in zip(missing, found, strict=True):
            copies[index] = copy
    return copies
