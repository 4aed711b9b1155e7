"""Binomial transition kernels of the dynamic program, on counts merged from a limit on.

A group of ``count`` i.i.d. workers of which ``d`` have fewer than ``m`` tasks; each of the other
``count − d`` has exactly ``m`` tasks with probability ``h`` given that it has at least ``m``,
independently of the others. The number with fewer than ``m + 1`` tasks is then ``d + X`` with
``X ~ Bin(count − d, h)``. Counts from a limit ``L`` on are merged into the one state "``≥ L``"
(index ``L``), so for ``d < L`` the kernel is

    K[e, d] = C(count − d, e − d) · h^{e−d} · (1 − h)^{count−e}       for d ≤ e < L,
    K[L, d] = P(X ≥ L − d) = I_h(L − d, count − L + 1)                 (regularized beta),

and column ``L`` is zero (the dynamic program empties the merged state before each step). When
``count < L`` nothing is merged and ``K`` is the full ``(count+1) × (count+1)`` binomial matrix.
The entries are formed from ``log h`` and ``log(1 − h)`` and the merged row from whichever of
``I_h`` and ``1 − I_{1−h}`` has no cancellation, so small transition probabilities keep their
relative accuracy.

Entries below a threshold ``flush`` are set to 0 (products of two numbers above ``1e-150`` stay
normal, and subnormal arithmetic is very slow). The kernels return, per source state, the sum of
the entries they dropped: mass ``w`` in state ``d`` then loses at most ``w · loss[d]``, and the
caller adds that to a rigorous bound of the mass discarded.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

# below this, kernel entries and masses are set to 0 (and accounted for)
_FLUSH = 1e-150
# an upper bound of a kernel entry that exp() or betainc() returned as exactly 0
_UNDERFLOW = 1e-300


@functools.lru_cache(maxsize=64)
def _kernel_layout(count: int, limit: int) -> tuple[np.ndarray, ...]:
    """The entries ``e ≥ d`` of a kernel, column by column: flat positions ``e · size + d``,
    ``log C(count − d, e − d)``, ``e − d``, the power of ``1 − h``, and where each column starts.

    Row ``L`` (when merging) holds ``(1 − h) · P(Bin(count − d, h) = L − d)``, the increments of
    the merged row (see :func:`_binomial_kernels`), so its power of ``1 − h`` is
    ``count − L + 1``. ``log(binom(·))`` keeps an absolute accuracy of a few ulps where
    ``gammaln`` differences would lose ``eps · count log count``; ``gammaln`` only serves where
    ``binom`` overflows.
    """
    size = min(count, limit) + 1
    d, e = np.nonzero(np.tri(size, dtype=bool).T)  # sorted by column d, then row e
    steps = e - d
    with np.errstate(over="ignore", divide="ignore"):
        direct = np.log(special.binom(count - d, steps))
    fallback = (
        special.gammaln(count - d + 1) - special.gammaln(steps + 1) - special.gammaln(count - e + 1)
    )
    table = np.where(np.isfinite(direct), direct, fallback)
    powers = (count - e + (e == limit)).astype(float)
    starts = np.searchsorted(d, np.arange(size))
    return e * size + d, table, steps.astype(float), powers, starts


def _binomial_kernels(
    count: int, limit: int, log_h: np.ndarray, log_not_h: np.ndarray, flush: float = _FLUSH
) -> tuple[np.ndarray, np.ndarray]:
    """The kernels ``K[t, e, d]`` (module documentation) for each time, shape ``(T, size, size)``
    with ``size = min(count, limit) + 1``, and a bound of the flushed mass per source column,
    shape ``(T, size)``.

    The merged row follows from ``T_d = P(Bin(count − d, h) ≥ L − d)``: splitting off one
    worker gives ``T_{d+1} = T_d + (1 − h) P(Bin(count − d − 1, h) = L − d − 1)``, a sum of
    positive terms from ``T_0 = I_h(L, count − L + 1)`` (or ``1 − I_{1−h}(count − L + 1, L)`` for
    ``h > 1/2``, where that has no cancellation), so every entry keeps its relative accuracy.
    The bound is the sum of the entries set to 0 plus ``size · 1e-300`` for entries that
    underflowed to 0 on their own (their true value is below ``e^{−745}``).
    """
    size = min(count, limit) + 1
    flat, table, steps, powers, starts = _kernel_layout(count, limit)
    values = np.exp(table + steps * log_h[:, None] + powers * log_not_h[:, None])
    if count >= limit:
        last = np.append(starts[1:], flat.size) - 1  # row L of each column
        b = float(count - limit + 1)
        first = special.betainc(float(limit), b, np.exp(log_h))
        upper = log_h > np.log(0.5)
        if upper.any():
            first[upper] = special.betaincc(b, float(limit), np.exp(log_not_h[upper]))
        values[:, last[1:limit]] = first[:, None] + np.cumsum(values[:, last[1:limit]], axis=1)
        values[:, last[0]] = first
        values[:, last[limit]] = 0.0
    flushed = np.where(values < flush, values, 0.0)
    values -= flushed
    kernel = np.zeros((log_h.size, size * size))
    kernel[:, flat] = values
    loss = np.add.reduceat(flushed, starts, axis=1) + size * _UNDERFLOW
    return kernel.reshape(log_h.size, size, size), loss


def _apply_axis(mass: np.ndarray, axis: int, kernel: np.ndarray) -> np.ndarray:
    """``Σ_d kernel[t, e, d] · mass[t, …, d, …]`` over the state axis ``axis`` of ``mass``
    (shape ``(T, *states, B)``)."""
    moved = np.moveaxis(mass, axis, 1)
    shape = moved.shape
    result = kernel @ moved.reshape(shape[0], shape[1], -1)
    return np.moveaxis(result.reshape(shape), 1, axis)


def _axis_loss(mass: np.ndarray, axis: int, loss: np.ndarray) -> np.ndarray:
    """``Σ_states mass · loss[t, d]`` with ``d`` the state on ``axis``: shape ``(T, B)``."""
    moved = np.moveaxis(mass, axis, 1)
    shape = moved.shape
    weighted = loss[:, None, :] @ moved.reshape(shape[0], shape[1], -1)
    return weighted.reshape(shape[0], -1, shape[-1]).sum(axis=1)
