r"""Real cyclic and negacyclic MDS gradient codes, after Raviv et al. (arXiv:1707.03858).

Let ``α = exp(2πi/n)`` and let ``J ⊂ {1, …, n−1}`` be a set of ``s`` exponents closed under
negation modulo ``n``. The real cyclic code

.. math:: C_J = \{c \in \mathbb R^n : \textstyle\sum_k c_k α^{jk} = 0 \ \ \forall j \in J\}

has dimension ``n − s``, is invariant under cyclic shifts, and contains the all-ones vector
``1`` because ``0 ∉ J``. If ``C_J`` is MDS (no nonzero codeword of weight ``≤ s``) it has a
codeword ``g`` supported on ``{0, …, s}``, unique up to scale, and the circulant matrix with
rows ``B[i, (i + k) mod n] = g_k`` is a gradient code: any ``n − s`` of its rows are linearly
independent (Raviv et al.), so they span ``C_J ∋ 1``.

``C_J`` is MDS when

* ``J = q·{(n−s+1)/2, …, (n+s−1)/2} mod n`` with ``gcd(q, n) = 1``: ``s`` consecutive powers of
  the primitive root ``α^q`` (BCH bound). ``J`` is closed under negation exactly when ``n − s``
  is odd; ``q = 1`` is the construction of Raviv et al. over the reals;
* ``n`` is prime, for every ``J`` (Chebotarëv: every minor of the prime-order Fourier matrix is
  nonzero).

No real cyclic code of odd length with an odd number of zeros contains ``1`` (the nonreal zeros
come in conjugate pairs and ``1`` is not a zero), and for ``n`` and ``s`` both even an exhaustive
search over all ``J`` for ``n ≤ 14`` finds no MDS one. For ``n − s`` even this module uses
*negacyclic* codes instead: zeros among the roots ``exp(iπt/n)``, ``t`` odd, of ``x^n + 1``,
again ``s`` consecutive powers of ``α^q`` times a fixed root and closed under conjugation
(possible exactly when ``n − s`` is even). The negacyclic shifts ``x^i g(x) mod (x^n + 1)`` are
supported on the cyclic windows and any ``n − s`` of them are independent (the same argument,
with the BCH bound for constacyclic codes), but the code does not contain ``1``. It contains
the projection ``d`` of ``1`` onto it, which has no zero entry in practice, and rescaling column
``j`` by ``1/d_j`` maps ``d`` to ``1`` without changing supports or independence.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from gclib._verify import check_integer
from gclib.codes.base import GradientCode, responder_patterns, worst_decoding_growth
from gclib.codes.placement import cyclic_window

__all__ = ["CyclicMDSCode"]

# Seed of the responder patterns that rank candidate zero sets (fixed: codes are reproducible).
_RANKING_SEED = 20221216


def is_prime(n: int) -> bool:
    """Whether ``n`` is a prime number."""
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


def bch_steps(n: int, s: int) -> list[int]:
    """The steps ``q`` that give distinct BCH root sets :func:`bch_angles` for ``(n, s)``.

    For ``n − s`` odd (cyclic): ``q ∈ [1, n/2]`` coprime to ``n``; for ``n − s`` even
    (negacyclic): odd ``q ∈ [1, n]`` coprime to ``n``. (``q`` and ``2n − q`` give one set.)
    """
    if (n - s) % 2 == 1:
        return [q for q in range(1, n // 2 + 1) if math.gcd(q, n) == 1] or [1]
    return [q for q in range(1, n + 1, 2) if math.gcd(q, 2 * n) == 1]


def bch_angles(n: int, s: int, step: int = 1) -> tuple[int, ...]:
    """The roots ``exp(iπt/n)`` of a real (nega)cyclic BCH code, as the integers ``t mod 2n``.

    ``t ∈ step · {n−s+1, n−s+3, …, n+s−1} mod 2n``: ``s`` consecutive powers of ``exp(2πiq/n)``
    times a fixed root, closed under negation. All ``t`` are even (cyclic code, zeros are
    ``n``-th roots of unity) when ``n − s`` is odd and odd (negacyclic code, zeros are roots of
    ``x^n + 1``) when ``n − s`` is even and ``step`` is odd.
    """
    return tuple(sorted((step * (n - s + 1 + 2 * m)) % (2 * n) for m in range(s)))


def trigonometric_check_matrix(n: int, angles: tuple[int, ...]) -> np.ndarray:
    """An ``(s, n)`` matrix with orthonormal rows whose null space is the real code of the roots.

    Rows ``√(2/n) cos(πtk/n)`` and ``√(2/n) sin(πtk/n)`` for each pair ``±t`` of roots, and
    ``(−1)^k / √n`` for the root ``−1`` (``t = n``).
    """
    k = np.arange(n)
    rows = []
    for t in angles:
        if t == n:
            rows.append(np.cos(np.pi * k) / math.sqrt(n))
        elif t < n:
            angle = np.pi * t * k / n
            rows.append(np.cos(angle) * math.sqrt(2.0 / n))
            rows.append(np.sin(angle) * math.sqrt(2.0 / n))
    return np.array(rows).reshape(len(rows), n)


def twisted_circulant(
    n: int, s: int, angles: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The gradient code of the real (nega)cyclic code with the given roots: ``(B, H)``.

    ``g`` is the codeword supported on ``{0, …, s}``: the null vector of the first ``s + 1``
    columns of the check matrix (last column of a complete Householder QR of their transpose).
    Row ``i`` of ``B'`` is ``x^i g(x) mod (x^n ∓ 1)``: ``g`` shifted by ``i``, the wrapped
    entries negated for a negacyclic code. A cyclic code
    contains ``1``; a negacyclic code does not, but it contains ``d``, the projection of ``1``
    onto it, and ``B = B' diag(d)^{-1}`` (rows rescaled to unit norm) is a gradient code for
    the code ``C diag(d)^{-1} ∋ 1``, with check matrix ``H = H' diag(d)``. Returns ``None`` if
    ``d`` has an entry too close to zero to be useful.
    """
    check = trigonometric_check_matrix(n, angles)
    negacyclic = any(t % 2 for t in angles)
    generator = np.linalg.qr(check[:, : s + 1].T, mode="complete")[0][:, -1]
    if generator[0] < 0:
        generator = -generator
    matrix = np.zeros((n, n))
    for i in range(n):
        coefficients = generator.copy()
        if negacyclic:
            coefficients[n - i :] *= -1.0  # entries i + k >= n wrap around with a sign
        matrix[i, list(cyclic_window(i, n, s + 1))] = coefficients
    if negacyclic:
        ones = np.ones(n)
        scaling = ones - check.T @ (check @ ones)
        if np.abs(scaling).min() < 1e-3 * np.abs(scaling).max():
            return None
        matrix /= scaling
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        check = check * scaling
    return matrix, check


def prime_root_sets(n: int, s: int, rng: np.random.Generator, count: int) -> list[tuple[int, ...]]:
    """Up to ``count`` root sets (as :func:`bch_angles`) that give MDS codes for prime ``n``.

    For prime ``n`` every set of ``n``-th roots of unity (or of roots of ``x^n + 1``) closed
    under conjugation gives an MDS code (Chebotarëv). All sets if there are at most ``count``;
    else first the roots nearest the ``(s+1)``-th roots of unity (whose ``g`` is close to the
    all-ones window, without any cancellation), then random sets drawn from ``rng``.
    """
    from itertools import combinations

    parity = 0 if (n - s) % 2 == 1 else 1  # even t: cyclic code; odd t: negacyclic code
    pairs = [t for t in range(1, n) if t % 2 == parity]  # t stands for the pair {t, 2n − t}
    middle = [n] if n % 2 == parity and s % 2 == 1 else []
    if s % 2 == 1 and not middle:
        return []
    chosen = s // 2

    def close(picked: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted({*picked, *(2 * n - t for t in picked), *middle}))

    if math.comb(len(pairs), chosen) <= count:
        return [close(picked) for picked in combinations(pairs, chosen)]
    nearest = []
    for m in range(1, chosen + 1):
        target = 2 * n * m / (s + 1)
        t = round((target - parity) / 2) * 2 + parity
        largest = n - 1 if (n - 1) % 2 == parity else n - 2
        nearest.append(min(max(t, parity or 2), largest))
    sets = [close(tuple(nearest))] if len(set(nearest)) == chosen else []
    seen = set(sets)
    while len(sets) < count:
        candidate = close(tuple(int(t) for t in rng.choice(pairs, chosen, replace=False)))
        if candidate not in seen:
            seen.add(candidate)
            sets.append(candidate)
    return sets


@functools.lru_cache(maxsize=256)
def _best_step(n: int, s: int) -> int:
    """The step whose BCH code has the smallest worst-case decoding growth."""
    patterns = responder_patterns(n, s, np.random.default_rng(_RANKING_SEED), 384, 384)
    scores = []
    for q in bch_steps(n, s):
        matrix = twisted_circulant(n, s, bch_angles(n, s, q))[0]  # cyclic: never None
        scores.append((worst_decoding_growth(matrix, patterns), q))
    return min(scores)[1]


class CyclicMDSCode(GradientCode):
    r"""A real cyclic MDS gradient code (Raviv et al.), for ``n − s`` odd.

    The zero set is ``J = q·{(n−s+1)/2, …, (n+s−1)/2} mod n`` for a step ``q`` coprime to
    ``n``: the BCH code of the primitive ``n``-th root of unity ``α^q``, which is MDS and, being
    closed under negation, real. ``B`` is circulant, row ``i`` the unit-norm codeword ``g``
    supported on ``{0, …, s}`` shifted by ``i``, so ``support(i) = (i, i+1, …, i+s) mod n``.

    ``step=1`` is the construction of Raviv et al. Its zeros crowd around ``−1``, so ``g`` and
    the decoding vectors grow exponentially with ``s``: it is excellent for ``s = 1`` (``g =
    (1, 1)/√2``, condition numbers about ``n/2``) but loses accuracy fast. The default picks the
    step with the smallest worst-case decoding growth over a fixed sample of responder sets.
    Measured by ``benchmarks/bench_codes.py`` (seeded, worst relative decoding error over
    sampled responder sets, threshold 1e-9): ``step=1`` passes every tested case up to
    ``n = 20`` and fails from ``n = 30, s = 15`` on (8e-5 at ``n = 50, s = 25``); the default
    step passes up to ``n = 30`` (all tested ``s``) and fails for ``s ≳ n/4`` from ``n = 40``
    on. :class:`CyclicRepetitionCode` stays accurate beyond.

    Args:
        n: the number of workers (and partitions), ``n >= 1``.
        s: the straggler tolerance, an integer in ``[0, n)`` with ``n − s`` odd (or ``s = 0``).
        step: the step ``q``, an integer in ``[1, n)`` coprime to ``n``; ``None`` picks the one
            with the smallest worst-case decoding growth.

    Raises:
        ValueError: for invalid arguments, and for ``n − s`` even (no real cyclic MDS
            construction; :class:`CyclicRepetitionCode` covers every ``(n, s)``).
    """

    def __init__(self, n: int, s: int, step: int | None = None) -> None:
        n = check_integer(n, "n", 1)
        s = check_integer(s, "s", 0, n)
        if s > 0 and (n - s) % 2 == 0:
            raise ValueError(
                f"Argument 's' must make n - s odd for a real cyclic MDS code, not s = {s} with "
                f"n = {n}: a real cyclic code containing the all-ones vector has an even number "
                f"of zeros for odd n, and the BCH construction needs n - s odd. "
                f"CyclicRepetitionCode covers this (n, s)."
            )
        if step is not None:
            step = check_integer(step, "step", 1, n)
            if math.gcd(step, n) != 1:
                raise ValueError(f"Argument 'step' must be coprime to n = {n}, not {step}.")
        elif s > 0:
            step = _best_step(n, s)
        self._step = step
        angles = bch_angles(n, s, step) if s > 0 else ()
        self._zeros = tuple(sorted(t // 2 for t in angles))
        if s > 0:
            matrix = twisted_circulant(n, s, angles)[0]  # type: ignore[index]
        else:
            matrix = np.eye(n)
        self._generator = matrix[0, : s + 1].copy()
        super().__init__(n, s, matrix, [cyclic_window(i, n, s + 1) for i in range(n)])

    @property
    def step(self) -> int | None:
        """The step ``q`` of the zero set (``None`` for ``s = 0``)."""
        return self._step

    @property
    def zeros(self) -> tuple[int, ...]:
        """The zero set ``J``: every row ``b`` has ``sum_k b_k α^{jk} = 0`` for ``j ∈ J``."""
        return self._zeros

    @property
    def generator(self) -> np.ndarray:
        """The ``s + 1`` coefficients ``g`` of row 0 on ``(0, …, s)`` (unit norm, ``g_0 > 0``)."""
        return self._generator.copy()

    def __repr__(self) -> str:
        return f"CyclicMDSCode(n={self.n}, s={self.s}, step={self._step})"
