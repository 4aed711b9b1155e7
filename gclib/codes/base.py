"""The common surface of every gradient code: encoding matrix, supports, encoding and decoding.

A gradient code of straggler tolerance ``s`` for ``n`` workers and ``n`` data partitions is a
matrix ``B ∈ R^{n×n}``. Worker ``i`` holds the partial gradients ``g_j`` of the partitions in its
support (the nonzero positions of row ``i``) and sends ``m_i = sum_j B[i, j] g_j``. For a set
``R`` of responders the master finds ``α_R`` with ``α_Rᵀ B_R = 1ᵀ`` and outputs
``sum_{i∈R} α_R[i] m_i = sum_j g_j``, the full gradient.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from gclib._verify import check_integer, is_integer
from gclib.codes.errors import NotDecodableError

__all__ = ["GradientCode"]

# Above this many responder sets per code, the least recently used decoding vectors are dropped.
_CACHE_SIZE = 8192
_FLOAT = np.dtype(float)


class GradientCode:
    r"""A gradient code: the encoding matrix ``B`` with its supports, an encoder and a decoder.

    Worker ``i`` computes the partial gradients of the partitions in :meth:`support` (in that
    order) and sends :meth:`encode` ``(i, ·) = sum_j B[i, j] g_j``. Given the messages of a set
    ``R`` of responders, :meth:`decode` returns ``sum_{i∈R} α_R[i] m_i`` where ``α_R`` solves
    ``α_Rᵀ B_R = 1ᵀ`` (:meth:`decoding_vector`).

    Decoding is numerically careful and refuses rather than guesses: ``α_R`` is the
    minimum-norm least-squares solution of ``B_Rᵀ a = 1`` (an SVD-based solve, which is
    backward stable and uses *all* responders when more than ``n − s`` answered, averaging
    their redundancy), and the relative residual

    .. math:: r_R = \lVert \alpha_R^\top B_R - \mathbf 1^\top \rVert_2 / \sqrt{n}

    must not exceed :attr:`residual_tolerance`; otherwise :class:`gclib.NotDecodableError` is
    raised. For gradients with independent entries the decoding error is about ``r_R`` times
    the size of the gradient, so a passing check means the result is the full gradient up to
    floating-point rounding. Decoding vectors are cached per responder set.

    Subclasses build ``B`` and the supports; this class provides everything else.
    """

    #: Largest accepted relative residual ``‖α_Rᵀ B_R − 1ᵀ‖₂ / √n`` of a decoding vector.
    residual_tolerance: float = 1e-8

    def __init__(
        self, n: int, s: int, matrix: np.ndarray, supports: Sequence[Sequence[int]]
    ) -> None:
        self._n = check_integer(n, "n", 1)
        self._s = check_integer(s, "s", 0, self._n)
        encoding = np.array(matrix, dtype=float)
        if encoding.shape != (self._n, self._n) or not np.all(np.isfinite(encoding)):
            raise ValueError(f"The encoding matrix must be a finite ({n}, {n}) array.")
        self._supports = tuple(tuple(int(j) for j in support) for support in supports)
        if len(self._supports) != self._n:
            raise ValueError(f"There must be one support per worker, {self._n} in all.")
        for i, support in enumerate(self._supports):
            outside = np.delete(encoding[i], support)
            if len(set(support)) != self._s + 1 or np.any(outside != 0.0):
                raise ValueError(f"Row {i} of the encoding matrix is not supported on {support}.")
        encoding.flags.writeable = False
        self._B = encoding
        self._matrix_rank: int | None = None
        # responder set -> (α_R as a length-n vector, residual, α_R[sorted(R)])
        self._decoding_cache: OrderedDict[frozenset[int], tuple[np.ndarray, float, np.ndarray]] = (
            OrderedDict()
        )

    # -- attributes -----------------------------------------------------------------------------

    @property
    def n(self) -> int:
        """The number of workers, equal to the number of data partitions."""
        return self._n

    @property
    def s(self) -> int:
        """The straggler tolerance: any ``n − s`` responders suffice to decode."""
        return self._s

    @property
    def B(self) -> np.ndarray:
        """The ``(n, n)`` encoding matrix (a read-only view)."""
        return self._B.view()

    def support(self, i: int) -> tuple[int, ...]:
        """The ``s + 1`` partitions worker ``i`` computes, in computation order."""
        return self._supports[check_integer(i, "i", 0, self._n)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self._n}, s={self._s})"

    # -- encoding -------------------------------------------------------------------------------

    def encode(self, i: int, partials: Mapping[int, np.ndarray] | np.ndarray) -> np.ndarray:
        """Worker ``i``'s message ``sum_{j ∈ support(i)} B[i, j] g_j``.

        Args:
            i: the worker.
            partials: the partial gradients, either a mapping ``partition -> array`` that holds
                at least the partitions of ``support(i)`` (others are ignored), or an array whose
                first axis is indexed by partition (shape ``(n, ...)``).

        Returns:
            A float array of the shape of one partial gradient.
        """
        i = check_integer(i, "i", 0, self._n)
        support = self._supports[i]
        if isinstance(partials, Mapping):
            missing = [j for j in support if j not in partials]
            if missing:
                raise ValueError(
                    f"Argument 'partials' lacks partition(s) {missing} of worker {i}'s support "
                    f"{support}."
                )
            stacked = _stack([partials[j] for j in support], "partials")
        else:
            array = np.asarray(partials, dtype=float)
            if array.ndim < 1 or array.shape[0] != self._n:
                raise ValueError(
                    f"Argument 'partials' must be a mapping or an array with first axis of "
                    f"length n = {self._n}, not an array of shape {array.shape}."
                )
            stacked = array[list(support)]
        return np.tensordot(self._B[i, list(support)], stacked, axes=1)

    # -- decoding -------------------------------------------------------------------------------

    def decoding_vector(self, responders: Iterable[int]) -> np.ndarray:
        """The decoding vector ``α_R`` of the responder set ``R``, as a length-``n`` vector.

        Entry ``i`` is the weight of worker ``i``'s message; it is zero for every worker not in
        ``R``. The vector solves ``α_Rᵀ B_R = 1ᵀ`` (minimum-norm least squares over all of
        ``R``) and is cached per responder set.

        Raises:
            NotDecodableError: if ``R`` cannot recover the full gradient (too few responders, or
                ``1`` is not in the row span of ``B_R`` to within :attr:`residual_tolerance`).
            ValueError: if ``responders`` is empty, repeats a worker or names an unknown one.
        """
        return self._checked_decoding(self._responder_set(responders))[0].copy()

    def _checked_decoding(self, key: frozenset[int]) -> tuple[np.ndarray, np.ndarray]:
        """The cached (read-only) decoding vector of ``key`` and its responders' weights in
        their order; raises if it cannot decode."""
        vector, residual, compact = self._cached_decoding(key)
        if not residual <= self.residual_tolerance:
            workers = sorted(key)
            hint = ""
            if len(workers) < self._n - self._s:
                hint = f"; only {len(workers)} responders, n - s = {self._n - self._s} are needed"
            raise NotDecodableError(
                f"Responders {workers} cannot decode: residual ‖α_Rᵀ B_R − 1ᵀ‖/√n = "
                f"{residual:.3g} exceeds the tolerance {self.residual_tolerance:.3g}{hint}."
            )
        return vector, compact

    def decode(self, messages: Mapping[int, np.ndarray]) -> np.ndarray:
        """The full gradient ``sum_j g_j`` from the messages of a set of responders.

        Args:
            messages: mapping worker index -> its message (an array of any shape, the same for
                all workers; finite values).

        Returns:
            ``sum_{i∈R} α_R[i] m_i`` as a float array of the messages' shape.

        Raises:
            NotDecodableError: if the responders cannot recover the full gradient.
            ValueError: if ``messages`` is empty or not a mapping, names an unknown worker, or
                holds arrays of different shapes, empty arrays or non-finite values.
        """
        if not isinstance(messages, Mapping):
            raise ValueError(
                f"Argument 'messages' must be a mapping worker -> message array, not "
                f"{type(messages).__name__}."
            )
        if not messages:
            raise ValueError("Argument 'messages' must not be empty.")
        workers = self._message_workers(messages)
        stacked = _stack([messages[i] for i in workers], "messages")
        if stacked[0].size == 0:
            raise ValueError("Argument 'messages' must hold non-empty arrays.")
        if not np.isfinite(stacked).all():
            raise ValueError("Argument 'messages' must hold finite values (no NaN or inf).")
        _, weights = self._checked_decoding(frozenset(workers))
        flat = stacked.reshape(len(workers), -1)
        return (weights @ flat).reshape(stacked.shape[1:])

    def _message_workers(self, messages: Mapping[int, np.ndarray]) -> list[int]:
        """The workers of ``messages``, sorted and checked (plain integers in range, the common
        case, are checked at once: decoding is on every iteration's critical path)."""
        try:
            workers = sorted(messages)
        except TypeError:
            workers = []
        if not (
            workers
            and all(type(i) is int for i in workers)
            and 0 <= workers[0]
            and workers[-1] < self._n
        ):
            workers = sorted(self._worker(i, "messages", "map worker indices") for i in messages)
        return workers

    def condition_number(self, responders: Iterable[int]) -> float:
        """The 2-norm condition number of ``B_R`` on the row space of ``B``.

        The ratio ``σ_1 / σ_r`` of singular values of ``B_R``, with ``r`` the smaller of ``|R|``
        and ``rank(B)`` (``n − s`` for the cyclic families, ``n / (s + 1)`` for fractional
        repetition); ``inf`` if ``B_R`` has lower numerical rank.
        """
        workers = sorted(self._responder_set(responders))
        singular = np.linalg.svd(self._B[workers], compute_uv=False)
        rank = min(len(workers), self._rank())
        smallest = singular[rank - 1]
        if not smallest > singular[0] * self._n * np.finfo(float).eps:
            return math.inf
        return float(singular[0] / smallest)

    def _rank(self) -> int:
        if self._matrix_rank is None:
            self._matrix_rank = int(np.linalg.matrix_rank(self._B))
        return self._matrix_rank

    # -- internals ------------------------------------------------------------------------------

    def _responder_set(self, responders: Iterable[int]) -> frozenset[int]:
        if isinstance(responders, str | bytes) or not isinstance(responders, Iterable):
            raise ValueError(
                f"Argument 'responders' must be an iterable of worker indices, not {responders!r}."
            )
        workers = [self._worker(i, "responders", "hold worker indices") for i in responders]
        if not workers:
            raise ValueError("Argument 'responders' must not be empty.")
        key = frozenset(workers)
        if len(key) != len(workers):
            raise ValueError(f"Argument 'responders' repeats a worker: {sorted(workers)}.")
        return key

    def _worker(self, value: object, argument: str, what: str) -> int:
        if not is_integer(value) or not 0 <= int(value) < self._n:  # type: ignore[arg-type]
            raise ValueError(f"Argument {argument!r} must {what} in [0, {self._n}), not {value!r}.")
        return int(value)  # type: ignore[arg-type]

    def _cached_decoding(self, key: frozenset[int]) -> tuple[np.ndarray, float, np.ndarray]:
        cached = self._decoding_cache.get(key)
        if cached is not None:
            self._decoding_cache.move_to_end(key)
            return cached
        workers = sorted(key)
        rows = self._B[workers]
        ones = np.ones(self._n)
        weights = np.linalg.lstsq(rows.T, ones, rcond=None)[0]
        residual = float(np.linalg.norm(rows.T @ weights - ones) / math.sqrt(self._n))
        if not math.isfinite(residual):
            residual = math.inf
        vector = np.zeros(self._n)
        vector[workers] = weights
        vector.flags.writeable = False
        cached = self._decoding_cache[key] = (vector, residual, vector[workers])
        if len(self._decoding_cache) > _CACHE_SIZE:
            self._decoding_cache.popitem(last=False)
        return cached


def _stack(arrays: Sequence[object], name: str) -> np.ndarray:
    """Stack equally shaped arrays along a new first axis, naming ``name`` on a shape mismatch."""
    if arrays and all(type(array) is np.ndarray and array.dtype == _FLOAT for array in arrays):
        shape = arrays[0].shape
        if all(array.shape == shape for array in arrays):
            return np.array(arrays)  # the common case (float arrays of one shape) at once
    converted = [np.asarray(array, dtype=float) for array in arrays]
    shapes = {array.shape for array in converted}
    if len(shapes) > 1:
        raise ValueError(
            f"Argument {name!r} must hold arrays of one shape, not of shapes {sorted(shapes)}."
        )
    if not converted:
        return np.empty((0,))
    stacked = np.empty((len(converted), *shapes.pop()))  # one copy, without np.stack's checks
    for index, array in enumerate(converted):
        stacked[index] = array
    return stacked


# -- conditioning of responder patterns (used to choose well-conditioned constructions) -----------


def responder_patterns(
    n: int, s: int, rng: np.random.Generator, random_count: int = 128, exhaustive_limit: int = 2000
) -> np.ndarray:
    """Sorted responder sets of size ``n − s`` as rows of an int array.

    Every set if there are at most ``exhaustive_limit``; otherwise the ``n`` sets whose
    stragglers form a cyclic block (the hardest for banded codes), the sets whose stragglers
    form an arithmetic progression ``{0, c, 2c, …} mod n`` (the hardest for (nega)cyclic codes
    whose zeros are powers of ``α^q``, ``cq ≡ ±1``), and ``random_count`` uniformly random sets
    drawn from ``rng``.
    """
    from itertools import combinations

    if s == 0:
        return np.arange(n)[None, :]
    if math.comb(n, s) <= exhaustive_limit:
        return np.array(list(combinations(range(n), n - s)))
    patterns = []
    for start in range(n):
        stragglers = {(start + k) % n for k in range(s)}
        patterns.append([i for i in range(n) if i not in stragglers])
    for step in range(2, n):
        stragglers = {k * step % n for k in range(s)}
        if len(stragglers) == s:
            patterns.append([i for i in range(n) if i not in stragglers])
    for _ in range(random_count):
        patterns.append(np.sort(rng.choice(n, n - s, replace=False)).tolist())
    unique = dict.fromkeys(tuple(pattern) for pattern in patterns)  # structured sets first
    return np.array(list(unique))


def decoding_growth(matrix: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """Per responder set ``R``: the growth ``max_j (|α_R|ᵀ |B_R|)_j`` (``inf`` if undecodable).

    The growth bounds the rounding error of decoding: encoding and decoding in floating point
    return the full gradient with a relative error of about ``u · growth`` (``u`` the unit
    roundoff), whatever the condition number of ``B_R``. It is 1 for codes without
    cancellation (uncoded, fractional repetition).
    """
    n = matrix.shape[0]
    rows = matrix[patterns]  # (m, k, n)
    q, r = np.linalg.qr(np.swapaxes(rows, 1, 2))  # B_Rᵀ = QR, (m, n, k) and (m, k, k)
    with np.errstate(all="ignore"):
        try:
            weights = np.linalg.solve(r, q.sum(axis=1)[..., None])[..., 0]
        except np.linalg.LinAlgError:
            return np.full(len(patterns), math.inf)
        residual = np.linalg.norm(np.einsum("mkn,mk->mn", rows, weights) - 1.0, axis=1)
        growth = np.einsum("mk,mkn->mn", np.abs(weights), np.abs(rows)).max(axis=1)
    bad = ~np.isfinite(growth) | ~(residual / math.sqrt(n) <= 1e-8)
    growth[bad] = math.inf
    return growth


def worst_decoding_growth(
    matrix: np.ndarray, patterns: np.ndarray, give_up_above: float = math.inf, chunk: int = 128
) -> float:
    """The largest :func:`decoding_growth` over the responder sets ``patterns``.

    Evaluated in chunks; returns ``inf`` as soon as the running maximum exceeds
    ``give_up_above`` (to rank many candidates quickly).
    """
    worst = 0.0
    for begin in range(0, len(patterns), chunk):
        worst = max(worst, float(decoding_growth(matrix, patterns[begin : begin + chunk]).max()))
        if worst > give_up_above:
            return math.inf
    return worst
