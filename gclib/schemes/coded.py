"""Schemes whose master decodes a gradient code at one of its levels.

- :class:`NestedScheme`: the nested gradient code with level set ``S``; workers signal their
  progress, the master asks the first ``n − s`` workers that reached ``s + 1`` tasks for their
  level-``s`` messages (one upload per worker).
- :class:`NestedEagerScheme`: the same code without the request round: a worker uploads its
  level-``s`` message as soon as it finishes task ``s + 1``, for every ``s ∈ S``.
- :class:`GradientCodingScheme`: the classic gradient code GC(s), one upload after ``s + 1`` tasks;
  :class:`UncodedScheme` is GC(0) with ``B = I``.
- :class:`IgnoreStragglersScheme`: uncoded, but the master sums the first ``n − s`` partial
  gradients and rescales by ``n/(n − s)``: fast and inexact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from gclib.schemes.base import (
    Ask,
    Coded,
    Codes,
    Contribution,
    Finish,
    Messages,
    ProgressView,
    Scheme,
)

if TYPE_CHECKING:
    from gclib.codes.base import GradientCode

__all__ = [
    "LevelScheme",
    "NestedScheme",
    "NestedEagerScheme",
    "GradientCodingScheme",
    "UncodedScheme",
    "IgnoreStragglersScheme",
]


@dataclass(frozen=True)
class LevelScheme(Scheme):
    """A scheme that finishes at level ``s`` once ``n − s`` workers have ``s + 1`` tasks done and
    decodes the level-``s`` code of a nested family."""

    def codes(self, n: int, seed: int | None = None) -> dict[int, GradientCode]:
        from gclib.codes.nested import NestedGradientCode

        nested = NestedGradientCode(n, self.levels, seed=seed)
        return {s: nested.code(s) for s in self.levels}

    def _tasks_needed(self, level: int) -> int:
        return level + 1

    def conditions(self, n: int) -> tuple[tuple[int, int, int], ...]:
        return tuple(
            sorted(((s, self._tasks_needed(s), n - s) for s in self.levels), key=lambda c: c[1])
        )

    def feasible(self, view: ProgressView) -> bool:
        live = sum(view.alive)
        for s in self.levels:
            delivered = sum(
                1
                for w in view.reached(self._tasks_needed(s), Coded(self._upload_level(s)))
                if not view.alive[w]
            )
            if live + delivered >= view.n - s:
                return True
        return False

    def _upload_level(self, level: int) -> int:
        """The level of the coded message a worker sends to count at ``level``."""
        return level

    def combine(self, n: int, finish: Finish, messages: Messages, codes: Codes) -> np.ndarray:
        code = codes[finish.level]
        return np.asarray(code.decode({w: messages[(w, c)] for w, c in finish.uses}))

    def sample_raw(self, finish: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = finish.shape[-2]
        conditions = self.conditions(n)
        per_level = np.stack([self._kth_smallest(finish[..., m - 1], c) for _, m, c in conditions])
        # argmin takes the first minimum: simultaneous completions go to the smaller level
        best = np.argmin(per_level, axis=0)
        raw = np.take_along_axis(per_level, best[None], axis=0)[0]
        levels = np.asarray([s for s, _, _ in conditions])
        return raw, np.where(np.isfinite(raw), levels[best], -1)


@dataclass(frozen=True)
class _EagerLevelScheme(LevelScheme):
    """A level scheme whose workers upload their coded messages unasked."""

    def eager_upload(self, tasks_done: int) -> Contribution | None:
        level = tasks_done - 1
        return Coded(level) if level in self.levels else None

    def decide(self, view: ProgressView) -> Finish | None:
        for s in self.levels:
            if view.count(self._tasks_needed(s)) < view.n - s:
                continue  # too few reports, whatever arrived
            message = Coded(self._upload_level(s))
            ready = view.reached(self._tasks_needed(s), message)
            if len(ready) >= view.n - s:
                return Finish(s, tuple((w, message) for w in ready[: view.n - s]))
        return None


@dataclass(frozen=True)
class NestedScheme(LevelScheme):
    """The nested gradient code with level set ``S`` (progress signals, one requested upload).

    At the first moment some ``s ∈ S`` has ``c_{s+1} ≥ n − s``, the master asks the first
    ``n − s`` workers that reached ``s + 1`` tasks for their level-``s`` messages and stops the
    others. After a loss it re-plans, at the same level first so that messages already here are
    reused.
    """

    keyword = "nested"
    signals = True
    requests = True

    @property
    def name(self) -> str:
        return "nested"

    @property
    def label(self) -> str:
        return "nested"

    def published(self, tasks_done: int) -> Coded | None:
        level = tasks_done - 1
        return Coded(level) if level in self.levels else None

    def decide(self, view: ProgressView) -> Ask | None:
        current = view.asked.level if view.asked is not None else None
        levels = sorted(self.levels)
        order = levels if current is None else [current, *levels]  # the current level first
        for s in order:
            if view.count(s + 1) < view.n - s:
                continue  # too few reports, whoever is alive
            message = Coded(s)
            ready = view.usable(s + 1, message)
            if len(ready) >= view.n - s:
                # workers whose level-s message is already here come first
                have = [w for w in ready if message in view.received[w]]
                rest = [w for w in ready if message not in view.received[w]]
                chosen = (have + rest)[: view.n - s]
                return Ask(s, tuple((w, message) for w in chosen))
        return None

    def requested_uploads(self, n: int, level: np.ndarray, known: np.ndarray) -> np.ndarray:
        return np.where(level >= 0, n - level, 0).astype(np.int64)


@dataclass(frozen=True)
class NestedEagerScheme(_EagerLevelScheme):
    """The nested code without the request round: a worker uploads its level-``s`` message as
    soon as it finishes task ``s + 1``, for every ``s ∈ S`` (up to ``|S|`` uploads); the master
    decodes at the first level with ``n − s`` messages and stops everyone."""

    keyword = "nested-eager"

    @property
    def name(self) -> str:
        return "nested-eager"

    @property
    def label(self) -> str:
        return "nested-eager"


@dataclass(frozen=True, init=False)
class _ToleranceScheme(_EagerLevelScheme):
    """A scheme of one tolerance ``s``, named ``keyword:s``."""

    #: the label's prefix: ``GC`` gives ``GC(2)``
    prefix: ClassVar[str]

    def __init__(self, s: int, s_max: int) -> None:
        object.__setattr__(self, "levels", (int(s),))
        object.__setattr__(self, "s_max", int(s_max))

    @property
    def s(self) -> int:
        return self.levels[0]

    @property
    def name(self) -> str:
        return f"{self.keyword}:{self.s}"

    @property
    def label(self) -> str:
        return f"{self.prefix}({self.s})"


@dataclass(frozen=True, init=False)
class GradientCodingScheme(_ToleranceScheme):
    """The classic gradient code GC(s): a worker uploads its message after ``s + 1`` tasks; the
    master decodes from the first ``n − s`` uploads."""

    keyword = "gc"
    prefix = "GC"

    def codes(self, n: int, seed: int | None = None) -> dict[int, GradientCode]:
        from gclib.codes.nested import NestedGradientCode

        return {self.s: NestedGradientCode(n, (self.s,), seed=seed).code(self.s)}


@dataclass(frozen=True, init=False)
class UncodedScheme(GradientCodingScheme):
    """``B = I``: every worker uploads its first partial gradient; the master waits for all."""

    keyword = "uncoded"

    def __init__(self, s_max: int) -> None:
        super().__init__(0, s_max)

    @property
    def name(self) -> str:
        return "uncoded"

    @property
    def label(self) -> str:
        return "uncoded"

    def codes(self, n: int, seed: int | None = None) -> dict[int, GradientCode]:
        from gclib.codes.uncoded import UncodedCode

        return {0: UncodedCode(n)}


@dataclass(frozen=True, init=False)
class IgnoreStragglersScheme(_ToleranceScheme):
    """Uncoded, but the master sums the first ``n − s`` partial gradients and rescales them by
    ``n/(n − s)``: fast and inexact (it ignores ``s`` stragglers)."""

    keyword = "ignore"
    prefix = "ignore"
    exact = False

    @property
    def tasks_per_worker(self) -> int:
        return 1

    def check_workers(self, n: int) -> None:
        if self.s_max >= n:
            raise ValueError(f"Argument 's_max' must be below n = {n}, not {self.s_max}.")
        if self.s >= n:
            raise ValueError(f"Scheme {self.label} needs a tolerance below n = {n}.")

    def codes(self, n: int, seed: int | None = None) -> dict[int, GradientCode]:
        from gclib.codes.uncoded import UncodedCode

        return {0: UncodedCode(n)}

    def _tasks_needed(self, level: int) -> int:
        return 1

    def _upload_level(self, level: int) -> int:
        return 0

    def eager_upload(self, tasks_done: int) -> Contribution | None:
        return Coded(0) if tasks_done == 1 else None

    def combine(self, n: int, finish: Finish, messages: Messages, codes: Codes) -> np.ndarray:
        total = sum(messages[use] for use in finish.uses)
        return np.asarray(total) * (n / len(finish.uses))
