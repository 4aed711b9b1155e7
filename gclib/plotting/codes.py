r"""Figures of the gradient codes: encoding matrices, nested supports and decoding accuracy.

Three things a reader wants to see of a code:

- the encoding matrix ``B`` of a code (:func:`plot_encoding_matrix`) and the nested supports of a
  nested code (:func:`nested_level_map`, :func:`plot_nested_supports`);
- how accurately a code decodes (:func:`decoding_accuracy`): the worst condition number of
  ``B_R`` and the worst relative error of :meth:`~gclib.GradientCode.decode` over responder sets
  ``F`` of size ``n − s``.

Everything is drawn in the one figure style of :mod:`gclib.plotting`; matplotlib is imported
inside the drawing functions, so importing this module stays cheap.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gclib._verify import check_integer
from gclib.codes.base import GradientCode, responder_patterns
from gclib.codes.errors import NotDecodableError
from gclib.codes.nested import NestedGradientCode
from gclib.plotting.matrix import plot_matrix

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "DecodingAccuracy",
    "decoding_accuracy",
    "nested_level_map",
    "plot_encoding_matrix",
    "plot_nested_supports",
]


# ------------------------------------------------------------------------------- decoding accuracy
@dataclass(frozen=True)
class DecodingAccuracy:
    r"""How well a code decodes over a collection of responder sets ``F``.

    Attributes:
        worst_condition: ``max_R cond₂(B_R)``, the ratio of extreme singular values of ``B_R``
            on the row space of ``B`` (:meth:`~gclib.GradientCode.condition_number`).
        worst_error: ``max_R ‖ĝ_R − g‖₂ / ‖g‖₂`` for Gaussian partial gradients, where ``ĝ_R``
            is what :meth:`~gclib.GradientCode.decode` returns from the messages of ``R`` with
            the residual check switched off (so that an inaccurate decode is measured rather
            than refused).
        refused: how many of the sets the code's residual check refuses to decode.
        sets: the number of responder sets measured.
    """

    worst_condition: float
    worst_error: float
    refused: int
    sets: int


def decoding_accuracy(
    code: GradientCode,
    rng: np.random.Generator | int,
    *,
    responder_sets: Iterable[Iterable[int]] | None = None,
    random_sets: int = 64,
    exhaustive_limit: int = 2000,
    dimension: int = 8,
) -> DecodingAccuracy:
    r"""Measure the conditioning and the accuracy of decoding ``code``.

    The partial gradients ``g_j`` are ``dimension``-vectors with i.i.d. standard normal entries;
    worker ``i``'s message is ``m_i = Σ_j B[i, j] g_j`` (:meth:`~gclib.GradientCode.encode`) and
    the reference is ``g = Σ_j g_j``, summed directly.

    Args:
        code: the gradient code.
        rng: a ``numpy.random.Generator`` or a seed, for the gradients and the random sets.
        responder_sets: the sets ``F`` to measure; by default every set of ``n − s`` workers
            when there are at most ``exhaustive_limit`` of them, else the ``n`` sets whose
            stragglers form a cyclic block, the sets whose stragglers are evenly spread (both
            hard cases of the cyclic codes) and ``random_sets`` uniformly random sets.
        random_sets: the number of random sets in the default collection.
        exhaustive_limit: the largest number of sets measured exhaustively by default.
        dimension: the length of each partial gradient.

    Returns:
        A :class:`DecodingAccuracy`.
    """
    if not isinstance(code, GradientCode):
        raise ValueError(f"Argument 'code' must be a GradientCode, not {type(code).__name__}.")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    random_sets = check_integer(random_sets, "random_sets", 0)
    exhaustive_limit = check_integer(exhaustive_limit, "exhaustive_limit", 0)
    dimension = check_integer(dimension, "dimension", 1)
    if responder_sets is None:
        patterns = responder_patterns(
            code.n, code.s, generator, random_count=random_sets, exhaustive_limit=exhaustive_limit
        )
        sets = [tuple(int(i) for i in row) for row in patterns]
    else:
        sets = [tuple(int(i) for i in responders) for responders in responder_sets]
        if not sets:
            raise ValueError("Argument 'responder_sets' must hold at least one set.")
    partials = generator.standard_normal((code.n, dimension))
    messages = {i: code.encode(i, partials) for i in range(code.n)}
    truth = partials.sum(axis=0)
    # a shallow copy shares the cache of decoding vectors, so the checked decode below is free
    unchecked = copy.copy(code)
    unchecked.residual_tolerance = math.inf
    worst_condition = worst_error = 0.0
    refused = 0
    for responders in sets:
        decoded = unchecked.decode({i: messages[i] for i in responders})
        error = float(np.linalg.norm(decoded - truth) / np.linalg.norm(truth))
        worst_error = max(worst_error, error if math.isfinite(error) else math.inf)
        worst_condition = max(worst_condition, code.condition_number(responders))
        try:
            code.decoding_vector(responders)
        except NotDecodableError:
            refused += 1
    return DecodingAccuracy(worst_condition, worst_error, refused, len(sets))


# ------------------------------------------------------------------------------ encoding matrices
def nested_level_map(code: NestedGradientCode) -> np.ndarray:
    r"""For each worker ``i`` and partition ``j``: the smallest level ``s ∈ S`` that uses
    ``g_j`` at worker ``i``, or ``nan`` if worker ``i`` does not store ``D_j``.

    Partition ``j`` sits at position ``k`` of the window ``W_i`` (``j = i + k mod n``); the
    level-``s`` code uses the first ``s + 1`` positions, so the smallest level using it is
    ``min{s ∈ S : s ≥ k}``.
    """
    if not isinstance(code, NestedGradientCode):
        raise ValueError(
            f"Argument 'code' must be a NestedGradientCode, not {type(code).__name__}."
        )
    levels = np.asarray(code.levels)
    result = np.full((code.n, code.n), np.nan)
    for worker in range(code.n):
        for position, partition in enumerate(code.support(worker)):
            result[worker, partition] = levels[levels >= position].min()
    return result


def plot_encoding_matrix(
    ax: Axes,
    code: GradientCode,
    *,
    title: str | None = None,
    scale_rows: bool = False,
    colorbar: bool = False,
) -> Axes:
    """Draw ``code.B`` as a heat map: blank cells are zeros, the colour is the signed value
    (a diverging map centred at 0), row ``i`` is worker ``i`` and column ``j`` partition ``j``.

    Args:
        ax: the axes to draw into.
        code: the gradient code.
        title: the axes title.
        scale_rows: divide every row by its largest absolute entry, so that codes of very
            different scales share one colour bar from −1 to 1. Scaling a row of ``B`` by a
            nonzero factor gives an equivalent code (the decoder divides it out again).
        colorbar: draw the colour bar.
    """
    if not isinstance(code, GradientCode):
        raise ValueError(f"Argument 'code' must be a GradientCode, not {type(code).__name__}.")
    matrix = np.array(code.B, dtype=float)
    if scale_rows:
        matrix /= np.abs(matrix).max(axis=1, keepdims=True)
    ticks = code.n <= 12
    plot_matrix(
        ax,
        matrix,
        diverging=True,
        colorbar=colorbar,
        xlabel="partition $j$",
        ylabel="worker $i$",
        xticklabels=ticks,
        yticklabels=ticks,
    )
    if title is not None:
        ax.set_title(title)
    return ax


def plot_nested_supports(
    ax: Axes, code: NestedGradientCode, *, title: str | None = None, annotate: bool = True
) -> Axes:
    """Draw :func:`nested_level_map`: each stored partition coloured (and labelled) by the
    smallest level that uses it; the level-``s`` support is the set of cells labelled ``≤ s``."""
    import matplotlib

    levels = nested_level_map(code)
    ticks = code.n <= 12
    plot_matrix(
        ax,
        levels,
        annotate="d" if annotate else False,
        mask_zeros=False,
        diverging=False,
        colorbar=False,
        xlabel="partition $j$",
        ylabel="worker $i$",
        xticklabels=ticks,
        yticklabels=ticks,
    )
    # a discrete legend: one swatch per level, in the colours the heat map gave them
    mesh = ax.collections[-1]
    handles = [
        matplotlib.patches.Patch(color=mesh.cmap(mesh.norm(s)), label=f"$s = {s}$")
        for s in code.levels
    ]
    ax.legend(
        handles=handles,
        title="first used at",
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
    )
    if title is not None:
        ax.set_title(title)
    return ax
