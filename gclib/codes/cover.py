"""The master's *cover* plan: a minimum circular cover of the partitions by computed prefixes.

Worker ``i`` computes the partitions ``i, i+1, …, i+s_max`` (mod ``n``) in that order; after
``progress[i]`` tasks it holds the arc ``[i, i + progress[i])`` of the cycle of partitions. At the
coverage time the master picks as few workers as possible whose arcs cover the cycle, assigns each
partition to exactly one of them and asks each for the plain sum of its assigned partial
gradients: the sum of the answers is the full gradient, with one upload per chosen worker.

Algorithm (circular-arc cover). Some arc of a minimum cover contains the partition ``p₀`` held by
the fewest workers. For each arc ``a`` containing ``p₀``, the rest of the cycle is a line from the
end of ``a`` to its start, and covering a line by intervals greedily (from the first uncovered
partition, take the arc that reaches furthest) is optimal. The best of these at most ``s_max + 1``
greedy runs is a minimum cover; each run takes ``O(n)`` steps once the furthest-reaching arc of
every partition is known (``O(n K)``), so the plan costs ``O(n K)`` with ``K = s_max + 1``.

Ties are broken deterministically by a preference rank: the position of a worker's first
occurrence in ``order`` if given (e.g. the workers by decreasing progress, in the order their
signals arrived), then the worker index. Among arcs that reach equally far the preferred one is
taken, start arcs are tried from the most preferred on and the first minimum is kept. Each chosen
worker is assigned the partitions it newly covers in the greedy sweep (a contiguous part of its
prefix).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gclib._verify import check_integer, is_integer

__all__ = ["minimum_cover"]


# ---------------------------------------------------------------------------------- arguments
def _check_sequence(name: str, value: object, n: int) -> list:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(f"Argument {name!r} must be a sequence, not {type(value).__name__}.")
    items = list(value)
    if len(items) != n and name != "order":
        raise ValueError(
            f"Argument {name!r} must have one entry per worker (n = {n}), not {len(items)}."
        )
    return items


def _check_arguments(
    n: object,
    s_max: object,
    progress: object,
    usable: object,
    order: object,
) -> tuple[int, int, list[int], list[int]]:
    """Checked ``n``, ``s_max``, the usable prefix lengths and the preference ranks."""
    n = check_integer(n, "n", 1)
    s_max = check_integer(s_max, "s_max", 0, n)
    lengths = []
    for value in _check_sequence("progress", progress, n):
        if not is_integer(value):
            raise TypeError(f"Argument 'progress' must hold integers, not {value!r}.")
        if not 0 <= value <= s_max + 1:
            raise ValueError(
                f"Argument 'progress' must hold integers in [0, s_max + 1] = [0, {s_max + 1}], "
                f"not {value!r}."
            )
        lengths.append(int(value))
    if usable is not None:
        for i, flag in enumerate(_check_sequence("usable", usable, n)):
            if not isinstance(flag, bool | np.bool_):
                raise TypeError(f"Argument 'usable' must hold booleans, not {flag!r}.")
            if not flag:
                lengths[i] = 0
    ranks = [n + i for i in range(n)]  # unlisted workers come last, by index
    if order is not None:
        for position, worker in enumerate(_check_sequence("order", order, n)):
            if not is_integer(worker):
                raise TypeError(f"Argument 'order' must hold worker indices, not {worker!r}.")
            if not 0 <= worker < n:
                raise ValueError(
                    f"Argument 'order' must hold worker indices in [0, n) = [0, {n}), "
                    f"not {worker!r}."
                )
            ranks[int(worker)] = min(ranks[int(worker)], position)
    return n, s_max, lengths, ranks


# ---------------------------------------------------------------------------------- the cover
def minimum_cover(
    n: int,
    s_max: int,
    progress: Sequence[int],
    usable: Sequence[bool] | None = None,
    order: Sequence[int] | None = None,
) -> dict[int, tuple[int, ...]]:
    """A minimum set of workers whose computed prefixes cover every partition, with an assignment.

    Args:
        n: the number of workers and partitions.
        s_max: worker ``i`` computes ``i, i+1, …, i+s_max`` (mod ``n``) in that order.
        progress: ``progress[i]`` in ``[0, s_max + 1]``, the number of tasks worker ``i`` has
            done: it holds the partitions ``i, …, i + progress[i] − 1`` (mod ``n``).
        usable: optional flags; a worker with ``usable[i]`` false is never chosen (e.g. lost).
        order: optional worker indices, most preferred first (a worker's rank is its first
            occurrence; unlisted workers come after, by index): breaks ties between covers of
            the same size. Without it the smaller index is preferred.

    Returns:
        ``{worker: partitions}`` for the chosen workers, of minimum number: every partition is
        assigned to exactly one chosen worker, within that worker's prefix, and each worker's
        partitions are listed in its computation order.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: an invalid value, or partitions that no usable prefix holds.

    Examples:
        >>> from gclib.codes.cover import minimum_cover
        >>> minimum_cover(6, 2, [3, 0, 1, 3, 0, 2])
        {0: (0, 1, 2), 3: (3, 4, 5)}
    """
    n, s_max, lengths, ranks = _check_arguments(n, s_max, progress, usable, order)
    return _cover(n, lengths, ranks)


def _cover_unchecked(n: int, progress: Sequence[int], order: Sequence[int]) -> dict:
    """:func:`minimum_cover` of arguments valid by construction (the scheduler's own progress
    and arrival order), without the checks, which take more than half its time at n = 10."""
    ranks = [n + i for i in range(n)]
    for position, worker in enumerate(order):
        if ranks[worker] > position:
            ranks[worker] = position
    return _cover(n, list(progress), ranks)


def _cover(n: int, lengths: list[int], ranks: list[int]) -> dict[int, tuple[int, ...]]:
    """The minimum cover of the prefixes ``lengths`` with ties broken by ``ranks``."""
    # best[q] = (how many partitions from q on the best arc holding q covers, that worker);
    # holders[q] = how many arcs hold q
    best = [(0, -1)] * n
    holders = [0] * n
    for i in sorted(range(n), key=lambda w: ranks[w]):
        for offset in range(lengths[i]):
            q = (i + offset) % n
            holders[q] += 1
            if lengths[i] - offset > best[q][0]:  # strict: the earlier (preferred) worker stays
                best[q] = (lengths[i] - offset, i)
    missing = [q for q in range(n) if holders[q] == 0]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", …" if len(missing) > 10 else "")
        raise ValueError(
            f"Argument 'progress' must let the usable workers cover every partition; "
            f"{'partitions' if len(missing) > 1 else 'partition'} {shown} "
            f"{'are' if len(missing) > 1 else 'is'} in no computed prefix."
        )

    anchor = min(range(n), key=lambda q: (holders[q], q))
    starts = [i for i in range(n) if (anchor - i) % n < lengths[i]]
    plan: dict[int, list[int]] | None = None
    for first in sorted(starts, key=lambda w: ranks[w]):
        # the cycle is the arc of `first` followed by the line [end, begin + n) to cover greedily
        begin = anchor - (anchor - first) % n
        end = begin + lengths[first]
        chosen: dict[int, list[int]] = {first: [q % n for q in range(begin, end)]}
        position = begin + n
        while end < position:
            reach, worker = best[end % n]
            stop = min(end + reach, position)
            chosen.setdefault(worker, []).extend(q % n for q in range(end, stop))
            end = stop
            if plan is not None and len(chosen) >= len(plan):
                break
        if end >= position and (plan is None or len(chosen) < len(plan)):
            plan = chosen
    assert plan is not None  # every partition is held, so any start arc completes
    return {
        worker: tuple(sorted(parts, key=lambda q: (q - worker) % n))
        for worker, parts in sorted(plan.items())
    }
