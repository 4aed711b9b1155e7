"""Schemes that finish when every partition has been computed by some worker (time ``T_cov``).

- :class:`StreamingScheme`: every worker uploads each partial gradient as soon as it is computed;
  the master sums one copy of each partition. Its latency is the coverage bound: no scheme with
  this placement and task order can finish earlier.
- :class:`CoverScheme`: the progress signals tell the master which partial gradients each worker
  holds. At ``T_cov`` it picks a minimum circular cover of the partitions by the workers'
  computed prefixes, assigns each partition to exactly one chosen worker and asks each chosen
  worker for the plain sum of its assigned partitions: exact, no decoding matrix, at most one
  upload per worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gclib.schemes.base import (
    Ask,
    Codes,
    Contribution,
    Finish,
    Messages,
    Partial,
    PartitionSum,
    ProgressView,
    Scheme,
)

if TYPE_CHECKING:
    pass

__all__ = ["CoverageScheme", "StreamingScheme", "CoverScheme", "coverage_time"]


def coverage_time(finish: np.ndarray) -> np.ndarray:
    """``T_cov = max_j min_k F_{(j−k) mod n, k+1}`` of finish times ``(..., n, K)``: the moment
    every partition has been computed by some worker (``inf`` if never)."""
    window = finish.shape[-1]
    # partition j is first computed by worker (j − k) mod n as its task k (0-based)
    arrivals = np.stack([np.roll(finish[..., k], k, axis=-1) for k in range(window)])
    return arrivals.min(axis=0).max(axis=-1)


@dataclass(frozen=True, init=False)
class CoverageScheme(Scheme):
    """A scheme whose raw latency is the coverage time of the placement."""

    levels: tuple[int, ...] = field(default=())

    def __init__(self, s_max: int) -> None:
        object.__setattr__(self, "levels", ())
        object.__setattr__(self, "s_max", int(s_max))

    @property
    def name(self) -> str:
        return self.keyword

    @property
    def label(self) -> str:
        return self.keyword

    @property
    def tasks_per_worker(self) -> int:
        return self.s_max + 1

    @property
    def covers(self) -> bool:
        return True

    def sample_raw(self, finish: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw = coverage_time(finish[..., : self.tasks_per_worker])
        return raw, np.full(raw.shape, -1)

    def combine(self, n: int, finish: Finish, messages: Messages, codes: Codes) -> np.ndarray:
        return np.asarray(sum(messages[use] for use in finish.uses))

    @staticmethod
    def _holders(view: ProgressView, worker_ok) -> list[list[tuple[int, int]]]:
        """``holders[j]``: the ``(worker, task)`` pairs that computed partition ``j``, in the
        order they were reported."""
        holders: list[list[tuple[int, int]]] = [[] for _ in range(view.n)]
        for w, k in view.reports:
            if worker_ok(w, k - 1):
                holders[view.placement[w][k - 1]].append((w, k - 1))
        return holders


@dataclass(frozen=True, init=False)
class StreamingScheme(CoverageScheme):
    """Every partial gradient is uploaded as soon as it is computed (up to ``s_max + 1`` uploads
    per worker); the master finishes when every partition has arrived."""

    keyword = "streaming"

    def eager_upload(self, tasks_done: int) -> Contribution | None:
        return Partial(tasks_done - 1)

    def decide(self, view: ProgressView) -> Finish | None:
        holders = self._holders(view, lambda w, k: Partial(k) in view.received[w])
        if all(holders):
            # the first copy of each partition to arrive
            return Finish(None, tuple((w, Partial(k)) for w, k in (h[0] for h in holders)))
        return None

    def feasible(self, view: ProgressView) -> bool:
        reachable = set()
        for w in range(view.n):
            if view.alive[w]:
                reachable.update(view.placement[w][: self.tasks_per_worker])
            else:
                done = [k for k in range(self.tasks_per_worker) if Partial(k) in view.received[w]]
                reachable.update(view.placement[w][k] for k in done)
        return len(reachable) == view.n


@dataclass(frozen=True, init=False)
class CoverScheme(CoverageScheme):
    """At ``T_cov`` the master asks a minimum cover of the workers for the sums of their assigned
    partitions and stops the rest; it re-plans over the live workers if a chosen one is lost."""

    keyword = "cover"
    signals = True
    requests = True

    def published(self, tasks_done: int) -> Partial:
        # the sum asked for is chosen only at the decision: its parts are left as they come
        return Partial(tasks_done - 1)

    def decide(self, view: ProgressView) -> Ask | None:
        from gclib.codes.cover import _cover_unchecked

        progress = [view.progress[w] if view.alive[w] else 0 for w in range(view.n)]
        if sum(progress) < view.n:
            return None  # fewer partitions computed than there are: no cover yet
        held: set[int] = set()
        for worker, done in enumerate(progress):
            held.update(view.placement[worker][:done])
        if len(held) < view.n:
            return None
        order = [w for k in range(len(view.arrivals) - 1, 0, -1) for w in view.arrivals[k]]
        assignment = _cover_unchecked(view.n, progress, order)
        requests = []
        for worker, partitions in sorted(assignment.items()):
            window = view.placement[worker]
            tasks = tuple(sorted(window.index(j) for j in partitions))
            requests.append((worker, PartitionSum(tasks)))
        return Ask(None, tuple(requests))

    def feasible(self, view: ProgressView) -> bool:
        reachable = set()
        for w in range(view.n):
            if view.alive[w]:
                reachable.update(view.placement[w][: self.tasks_per_worker])
        return len(reachable) == view.n

    def requested_uploads(self, n: int, level: np.ndarray, known: np.ndarray) -> np.ndarray:
        from gclib.codes.cover import minimum_cover

        uploads = np.zeros(known.shape[0], dtype=np.int64)
        for index, progress in enumerate(np.asarray(known, dtype=int).tolist()):
            try:
                uploads[index] = len(minimum_cover(n, self.s_max, progress))
            except ValueError:
                pass  # never covered: the master asks for nothing
        return uploads
