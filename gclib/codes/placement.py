"""The cyclic placement: worker ``i`` stores ``W_i = (i, i+1, …, i+s_max) mod n`` and computes it
in that order, one task per partition. Every code family's supports and every scheme live on it."""

from __future__ import annotations

import functools

__all__ = ["cyclic_window", "cyclic_placement"]


def cyclic_window(i: int, n: int, length: int) -> tuple[int, ...]:
    """``(i, i+1, …, i+length−1) mod n``."""
    return tuple((i + k) % n for k in range(length))


@functools.lru_cache(maxsize=64)  # immutable, and asked for at every iteration of a pool
def cyclic_placement(n: int, s_max: int) -> tuple[tuple[int, ...], ...]:
    """Every worker's window: ``placement[i] = W_i = (i, i+1, …, i+s_max) mod n``."""
    return tuple(cyclic_window(i, n, s_max + 1) for i in range(n))
