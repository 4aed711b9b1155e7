"""Heat maps of matrices: encoding matrices, placements and level maps.

Row 0 is drawn at the top, as a matrix is printed; zeros are left blank, so that the support of a
sparse matrix shows, and the whole matrix is framed, so that a blank cell reads as zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt
    from matplotlib.axes import Axes

__all__ = ["plot_matrix"]


def plot_matrix(
    ax: Axes,
    matrix: npt.ArrayLike,
    *,
    annotate: bool | str = False,
    mask_zeros: bool = True,
    diverging: bool | None = None,
    colorbar: bool = True,
    xlabel: str | None = None,
    ylabel: str | None = None,
    xticklabels: Sequence[str] | bool = True,
    yticklabels: Sequence[str] | bool = True,
) -> Axes:
    """Draw a matrix as a heat map, e.g. an encoding matrix ``B`` or a placement.

    Row 0 is at the top, as the matrix is printed.

    Args:
        ax: the axes to draw into.
        matrix: a 2-D array.
        annotate: write the values into the cells; a format specification such as ``".2f"``
            or ``"d"``, or ``True`` for ``".2g"``.
        mask_zeros: leave exact zeros blank, so that the support of a sparse matrix shows.
        diverging: a colour map centred at 0 (for signed entries); by default when the matrix
            has entries of both signs.
        colorbar: draw the colour bar.
        xlabel: the abscissa label.
        ylabel: the ordinate label.
        xticklabels: column tick labels, or ``True``/``False`` for indices/none.
        yticklabels: row tick labels, or ``True``/``False`` for indices/none.

    Returns:
        ``ax``.
    """
    import matplotlib
    import numpy as np
    import seaborn  # noqa: F401  (registers the colour maps "crest" and "vlag")

    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(
            f"Argument 'matrix' must be a non-empty 2-D array, not shape {values.shape}."
        )
    rows, cols = values.shape
    finite = values[np.isfinite(values)]
    if diverging is None:
        diverging = bool(finite.size and finite.min() < 0 < finite.max())
    if diverging:
        bound = float(np.abs(finite).max()) if finite.size and finite.any() else 1.0
        cmap_name, vmin, vmax = "vlag", -bound, bound
    else:
        cmap_name = "crest"
        vmin = float(finite.min()) if finite.size else 0.0
        vmax = float(finite.max()) if finite.size else 1.0
    cmap = matplotlib.colormaps[cmap_name].with_extremes(bad="white")
    hidden = ~np.isfinite(values) | ((values == 0) if mask_zeros else False)
    shown = np.ma.masked_array(values, mask=hidden)
    mesh = ax.pcolormesh(shown, cmap=cmap, vmin=vmin, vmax=vmax, edgecolors="white", linewidth=0.5)
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal" if rows == cols else "auto")
    ax.grid(False)
    # A blank cell must read as "zero", not as missing: frame the whole matrix.
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("0.6")
    for axis, count, labels in ((ax.xaxis, cols, xticklabels), (ax.yaxis, rows, yticklabels)):
        if labels is False:
            axis.set_ticks([])
            continue
        names = [str(index) for index in range(count)] if labels is True else list(labels)
        if len(names) != count:
            raise ValueError(
                f"Tick labels must name all {count} rows or columns, not {len(names)}."
            )
        axis.set_ticks(np.arange(count) + 0.5, names)
    ax.tick_params(length=0)
    if annotate:
        for (row, col), label in np.ndenumerate(_cell_labels(values, annotate)):
            if hidden[row, col]:
                continue
            red, green, blue, _ = cmap(mesh.norm(values[row, col]))
            luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
            ax.text(
                col + 0.5,
                row + 0.5,
                label,
                ha="center",
                va="center",
                color="black" if luminance > 0.408 else "white",
            )
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    return ax


def _cell_labels(values: Any, annotate: bool | str) -> Any:
    """The text of every cell: ``format(value, spec)``, integers for an integer spec."""
    import numpy as np

    spec = annotate if isinstance(annotate, str) else ".2g"
    integral = spec.endswith("d")
    labels = np.empty(values.shape, dtype=object)
    for index, value in np.ndenumerate(values):
        if integral and np.isfinite(value):
            labels[index] = format(round(value), spec)
        else:
            labels[index] = format(value, spec[:-1] + "g" if integral else spec)
    return labels
