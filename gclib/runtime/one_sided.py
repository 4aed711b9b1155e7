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

from collections.abc import Sequence

import numpy as np

from gclib.runtime.transports import WorkerBackend
from gclib.schemes.base import Contribution, Partial, PartitionSum, partition_sum

__all__ = ["read_published"]


def read_published(
    backend: WorkerBackend,
    iteration: int,
    slots: dict[Contribution, int],
    requests: Sequence[tuple[int, Contribution]],
) -> tuple[list[tuple[int, Contribution, np.ndarray]], list[tuple[int, Contribution]]]:
    """The requested messages of ``iteration`` the backend can read, as ``(worker, contribution,
    message)``, and the requests it cannot serve so (the master sends those).

    ``slots`` tells the slot each published contribution is left in; a message whose parts are
    not all published and readable is requested.
    """
    rest: list[tuple[int, Contribution]] = []
    wanted: list[tuple[int, Contribution, list[int]]] = []  # worker, message, the slots of it
    readers: dict[int, list[int]] = {}  # slot -> the workers to read it of
    for worker, contribution in requests:
        parts = (
            [Partial(task) for task in contribution.tasks]
            if isinstance(contribution, PartitionSum)
            else [contribution]
        )
        found = [slots.get(part) for part in parts]
        if not found or None in found:
            rest.append((worker, contribution))
            continue
        wanted.append((worker, contribution, found))
        for slot in found:
            readers.setdefault(slot, []).append(worker)
    copies: dict[tuple[int, int], np.ndarray | None] = {}
    for slot, workers in readers.items():
        for worker, payload in zip(workers, backend.fetch(iteration, slot, workers), strict=True):
            copies[worker, slot] = payload
    read: list[tuple[int, Contribution, np.ndarray]] = []
    for worker, contribution, found in wanted:
        parts = [copies[worker, slot] for slot in found]
        if any(part is None for part in parts):
            rest.append((worker, contribution))
        elif isinstance(contribution, PartitionSum):
            read.append((worker, contribution, partition_sum(parts)))
        else:
            read.append((worker, contribution, parts[0]))
    return read, rest
