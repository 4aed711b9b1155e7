"""The one figure style of gclib, shared by the book and the ``--plot`` options of the CLI.

Every figure is drawn with the seaborn theme set by :func:`use_style` and every scheme keeps one
colour, line style and marker wherever it appears (:func:`scheme_style`), so that a reader can
follow, say, the nested code from figure to figure, in colour, in grey-scale print and with
colour-vision deficiencies. The palette is the colour-blind-safe one of Okabe and Ito; the
levels of GC(s) and of ignore-stragglers(s) are ordered ramps of one hue each, so that a larger
``s`` is always a darker line.

matplotlib and seaborn are imported inside the functions: ``import gclib`` stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_SUFFIXES",
    "PALETTE",
    "use_style",
    "scheme_color",
    "scheme_style",
    "new_figure",
    "save_figure",
    "scheme_label",
    "place_legend",
    "plot_series",
    "plot_cdf",
    "plot_matrix",
    "plot_grouped_bars",
]

# Okabe & Ito (2008), "Color universal design": distinguishable under every common form of
# colour blindness, and still distinct in luminance when printed in grey; plus a neutral grey
# for bounds.
PALETTE: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "grey": "#7F7F7F",
}

# The cycle for series that are not schemes: no yellow (too light on white).
_CYCLE = ("blue", "orange", "bluish green", "reddish purple", "sky blue", "vermillion", "black")

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")

# One figure size for the book and the CLI: wide enough for a legend beside six lines, small
# enough to be read without zooming in print (inches).
_FIGURE_WIDTH = 6.4
_FIGURE_HEIGHT = 3.8

_FIXED_SCHEMES: dict[str, dict[str, Any]] = {
    "nested": {"color": PALETTE["vermillion"], "linestyle": "-", "marker": "o", "linewidth": 2.4},
    "uncoded": {"color": PALETTE["black"], "linestyle": "-", "marker": "s", "linewidth": 1.6},
    "streaming": {"color": PALETTE["bluish green"], "linestyle": "-.", "marker": "^"},
    "coverage bound": {"color": PALETTE["grey"], "linestyle": ":", "marker": "", "linewidth": 2.0},
}

# Ordered ramps, light to dark, for the levels s = 1, 2, ...; larger levels reuse the last.
_GC_RAMP = ("#74B3E0", "#3C93CF", "#0072B2", "#005C92", "#004672", "#003153", "#001F36")
_IGNORE_RAMP = ("#CC79A7", "#A8588A", "#83406B", "#5E2B4D")
_LEVEL_MARKERS = ("v", "D", "P", "X", "<", ">", "h")

_SCHEME_NAME = re.compile(r"^(gc|ignore):(\d+)$")


_style_applied = False


def use_style(context: str = "notebook") -> None:
    """Apply the gclib figure style to matplotlib: seaborn's ``whitegrid`` theme, the
    Okabe–Ito colour cycle, constrained layout and sizes that read well on screen and in print.

    :func:`new_figure` applies it once per process by itself; call it again to change the
    context or to undo later changes of ``matplotlib.rcParams``.

    Args:
        context: a seaborn plotting context, ``"paper"``, ``"notebook"``, ``"talk"`` or
            ``"poster"``; it scales fonts and lines together.
    """
    if context not in ("paper", "notebook", "talk", "poster"):
        raise ValueError(
            "Argument 'context' must be one of 'paper', 'notebook', 'talk' or 'poster', "
            f"not {context!r}."
        )
    global _style_applied
    import seaborn as sns

    _style_applied = True
    sns.set_theme(
        context=context,
        style="whitegrid",
        palette=[PALETTE[name] for name in _CYCLE],
        rc={
            "figure.figsize": (_FIGURE_WIDTH, _FIGURE_HEIGHT),
            "figure.dpi": 120,
            "figure.constrained_layout.use": True,
            "savefig.dpi": 200,
            "savefig.bbox": "tight",
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "grid.linewidth": 0.6,
            "legend.frameon": False,
            "lines.markersize": 5,
            "image.cmap": "viridis",
            "svg.fonttype": "none",
            "pdf.fonttype": 42,
        },
    )


def scheme_style(name: str) -> dict[str, Any]:
    """The matplotlib line properties of a scheme, the same in every figure.

    Args:
        name: ``"nested"``, ``"uncoded"``, ``"gc:S"``, ``"ignore:S"``, ``"streaming"`` or
            ``"coverage bound"`` (case and surrounding blanks are ignored; ``"gc:0"`` is
            uncoded).

    Returns:
        A new dict with ``color``, ``linestyle``, ``marker`` and ``linewidth``, ready to be
        passed as keyword arguments to ``Axes.plot``.
    """
    if not isinstance(name, str):
        raise TypeError(f"Argument 'name' must be a str, not {type(name).__name__}.")
    key = " ".join(name.strip().lower().split())
    match = _SCHEME_NAME.match(key)
    if match is not None and int(match.group(2)) == 0 and match.group(1) == "gc":
        key = "uncoded"
    if key in _FIXED_SCHEMES:
        style = {"linewidth": 1.8, **_FIXED_SCHEMES[key]}
    elif match is not None:
        level = int(match.group(2))
        ramp = _GC_RAMP if match.group(1) == "gc" else _IGNORE_RAMP
        index = min(max(level - 1, 0), len(ramp) - 1)
        style = {
            "color": ramp[index],
            "linestyle": "--" if match.group(1) == "gc" else (0, (1, 1.5)),
            "marker": _LEVEL_MARKERS[min(level, len(_LEVEL_MARKERS)) - 1] if level else "v",
            "linewidth": 1.6,
        }
    else:
        raise ValueError(
            "Argument 'name' must be a scheme name (nested, uncoded, gc:S, ignore:S, streaming) "
            f"or 'coverage bound', not {name!r}."
        )
    return style


def scheme_color(name: str) -> str:
    """The colour (``#RRGGBB``) of a scheme, the same in every figure; see :func:`scheme_style`."""
    return scheme_style(name)["color"]


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float | None = None,
    height: float | None = None,
    **subplots_kwargs: Any,
) -> tuple[Figure, Any]:
    """A new figure in the gclib style, as ``matplotlib.pyplot.subplots`` returns it.

    Args:
        nrows, ncols: the grid of axes.
        width, height: the size in inches; by default the style's width and, per row, its height.
        subplots_kwargs: passed on to ``pyplot.subplots`` (e.g. ``sharex=True``).

    Returns:
        ``(figure, axes)``; ``axes`` is one ``Axes`` for a 1×1 grid, else an array of them.
    """
    for arg_name, value in (("nrows", nrows), ("ncols", ncols)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"Argument {arg_name!r} must be a positive integer, not {value!r}.")
    for arg_name, value in (("width", width), ("height", height)):
        if value is not None and not (isinstance(value, int | float) and 0 < value <= 50):
            raise ValueError(
                f"Argument {arg_name!r} must be a size in inches in (0, 50], not {value!r}."
            )
    if not _style_applied:
        use_style()
    import matplotlib.pyplot as plt

    size = (
        width if width is not None else _FIGURE_WIDTH,
        height if height is not None else _FIGURE_HEIGHT * (1 + 0.7 * (nrows - 1)),
    )
    return plt.subplots(nrows, ncols, figsize=size, **subplots_kwargs)


def save_figure(fig: Figure, path: str | Path, *, close: bool = False) -> Path:
    """Write a figure to ``path`` in the format its suffix names (``.png``, ``.pdf``, ``.svg``).

    Missing parent directories are created. PNG files are written at the style's 200 dpi.

    Args:
        fig: the figure.
        path: the output file.
        close: also close the figure (frees memory in long command-line runs).

    Returns:
        The path written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIGURE_SUFFIXES:
        raise ValueError(f"Argument 'path' must end in .png, .pdf or .svg, not {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=suffix[1:])
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def _series_style(label: str, index: int) -> dict[str, Any]:
    """A scheme's own style, or the next colour of the cycle for any other label."""
    try:
        return scheme_style(label)
    except ValueError:
        return {"color": PALETTE[_CYCLE[index % len(_CYCLE)]], "linestyle": "-", "marker": "o"}


def scheme_label(name: str) -> str:
    """The name of a scheme as the text writes it: ``"gc:2"`` → ``"GC(2)"``, ``"gc:0"`` →
    ``"uncoded"``, ``"ignore:1"`` → ``"ignore(1)"``; other names are returned unchanged."""
    kind, _, arg = name.strip().lower().partition(":")
    if kind == "gc" and arg.isdigit():
        return "uncoded" if int(arg) == 0 else f"GC({int(arg)})"
    if kind == "ignore" and arg.isdigit():
        return f"ignore({int(arg)})"
    return name


def place_legend(ax: Axes, where: str = "inside", **kwargs: Any) -> None:
    """Draw the legend of ``ax``: ``"inside"`` the axes (matplotlib's best place) or
    ``"outside"`` to the right of the whole figure, for figures of several panels."""
    if where == "inside":
        ax.legend(**kwargs)
    elif where == "outside":
        handles = kwargs.pop("handles", None)
        labels = kwargs.pop("labels", None)
        if handles is None:
            handles, labels = ax.get_legend_handles_labels()
        ax.figure.legend(handles, labels, loc="outside right upper", **kwargs)
    else:
        raise ValueError(f"Argument 'where' must be 'inside' or 'outside', not {where!r}.")


def _mark_infinite(ax: Axes, x: Any, y: Any, style: Mapping[str, Any]) -> None:
    """Where a curve jumps from a finite value to ``inf``, an arrow from the last finite point
    to the upper edge of the axes; a curve infinite from its first point gets a triangle on the
    edge there."""
    import numpy as np

    infinite = np.isinf(y) & (y > 0)
    for index in np.flatnonzero(infinite):
        if index > 0 and np.isfinite(y[index - 1]):
            ax.annotate(
                "",
                xy=(x[index], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(x[index - 1], y[index - 1]),
                textcoords="data",
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": style["color"],
                    "linestyle": style["linestyle"],
                    "linewidth": style.get("linewidth", 1.6),
                    "shrinkA": 0,
                    "shrinkB": 0,
                },
                annotation_clip=False,
            )
        elif index == 0:
            ax.plot(
                [x[0]],
                [1.0],
                transform=ax.get_xaxis_transform(),
                linestyle="none",
                marker="^",
                color=style["color"],
                clip_on=False,
                label="_nolegend_",
            )


def plot_series(
    ax: Axes,
    x: npt.ArrayLike,
    series: Mapping[str, npt.ArrayLike],
    *,
    monte_carlo: Mapping[str, tuple[npt.ArrayLike, ...]] | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    logy: bool = False,
    markers: bool = False,
    legend: bool | str = True,
    mark_infinite: bool = True,
) -> Axes:
    """Draw one line per scheme (or other label) against a common ``x``, with optional Monte
    Carlo estimates as open markers.

    Args:
        ax: the axes to draw into.
        x: the abscissae, shared by every series.
        series: label → ordinates (same length as ``x``). Scheme names (``"nested"``,
            ``"gc:2"``, ...) get their scheme's style and are named as the text does
            (:func:`scheme_label`); other labels take the next colour of the cycle. Infinite
            values (an infinite expected latency) leave a gap (see ``mark_infinite``).
        monte_carlo: label → ``(x, mean)`` or ``(x, mean, stderr)``, drawn as open circles in the
            colour of the series of that label, with error bars of ±1.96 standard errors when
            ``stderr`` is given (it may be ``None``). One legend entry names the estimates of
            every series; an estimate without a series gets an entry of its own.
        xlabel, ylabel: axis labels.
        logy: logarithmic ordinate.
        markers: also mark every point of the lines.
        legend: ``True`` or ``"inside"`` in the axes, ``"outside"`` right of the figure,
            ``False`` none.
        mark_infinite: where a line jumps to ``inf``, draw an arrow from its last finite point
            to the upper edge of the axes.

    Returns:
        ``ax``.
    """
    import numpy as np
    from matplotlib.lines import Line2D

    x_values = np.asarray(x, dtype=float)
    styles: dict[str, dict[str, Any]] = {}
    for index, (label, values) in enumerate(series.items()):
        y_values = np.asarray(values, dtype=float)
        if y_values.shape != x_values.shape:
            raise ValueError(
                f"Series {label!r} must have the shape of 'x', {x_values.shape}, "
                f"not {y_values.shape}."
            )
        style = styles[label] = _series_style(label, index)
        if not markers:
            style["marker"] = ""
        shown = np.where(np.isfinite(y_values), y_values, np.nan)
        ax.plot(x_values, shown, label=scheme_label(label), **style)
        if mark_infinite:
            _mark_infinite(ax, x_values, y_values, style)
    for index, (label, estimate) in enumerate((monte_carlo or {}).items()):
        if len(estimate) not in (2, 3):
            raise ValueError(
                f"Monte Carlo estimate {label!r} must be (x, mean) or (x, mean, stderr)."
            )
        mc_x, mc_mean, *rest = estimate
        stderr = rest[0] if rest else None
        color = (styles.get(label) or _series_style(label, len(series) + index))["color"]
        ax.errorbar(
            np.asarray(mc_x, dtype=float),
            np.asarray(mc_mean, dtype=float),
            yerr=None if stderr is None else 1.96 * np.asarray(stderr, dtype=float),
            linestyle="none",
            marker="o",
            markersize=6,
            markerfacecolor="white",
            markeredgewidth=1.3,
            color=color,
            ecolor=color,
            capsize=2,
            label="_nolegend_" if label in series else f"{scheme_label(label)} (Monte Carlo)",
            zorder=3,
        )
    handles, labels = ax.get_legend_handles_labels()
    if monte_carlo and any(label in series for label in monte_carlo):
        handles.append(
            Line2D([], [], linestyle="none", marker="o", markerfacecolor="white", color="0.3")
        )
        labels.append("Monte Carlo")
    if logy:
        ax.set_yscale("log")
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if legend and handles:
        place_legend(ax, "inside" if legend is True else legend, handles=handles, labels=labels)
    return ax


_SOURCE_LINESTYLES = ("-", "--", ":", "-.")


def plot_cdf(
    ax: Axes,
    name: str,
    *,
    exact: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    samples: Mapping[str, npt.ArrayLike] | None = None,
    xlabel: str | None = "latency",
    legend: bool = True,
) -> Axes:
    """Draw the distribution function of one scheme's latency: an exact curve and empirical
    CDFs of samples (e.g. Monte Carlo and measured), all in the scheme's colour.

    The exact curve is solid; each sample source gets its own line style, in the order given.
    Infinite samples (iterations that never finished) stay in the denominator, so the
    empirical CDF levels off below 1 as the exact one does.

    Args:
        ax: the axes to draw into.
        name: the scheme (or any label) the curves belong to; legends name a scheme as the text
            does (:func:`scheme_label`).
        exact: ``(t, F(t))`` of the exact CDF.
        samples: source label → latency samples.
        xlabel: the abscissa label.
        legend: draw the legend of the axes.

    Returns:
        ``ax``.
    """
    import numpy as np

    if exact is None and not samples:
        raise ValueError("Give 'exact' or 'samples' (or both): there is nothing to draw.")
    color = _series_style(name, 0)["color"]
    label = scheme_label(name)
    if exact is not None:
        t, cdf = (np.asarray(values, dtype=float) for values in exact)
        if t.shape != cdf.shape:
            raise ValueError(
                f"The exact CDF needs t and F(t) of one shape, not {t.shape}, {cdf.shape}."
            )
        ax.plot(t, cdf, color=color, linestyle="-", linewidth=2.0, label=f"{label}, exact")
    for index, (source, values) in enumerate((samples or {}).items()):
        draws = np.sort(np.asarray(values, dtype=float).ravel())
        if draws.size == 0:
            raise ValueError(f"Samples {source!r} of {name!r} are empty.")
        finite = draws[np.isfinite(draws)]
        heights = np.arange(1, finite.size + 1) / draws.size
        linestyle = _SOURCE_LINESTYLES[(index + 1) % len(_SOURCE_LINESTYLES)]
        ax.step(
            finite,
            heights,
            where="post",
            color=color,
            linestyle=linestyle,
            linewidth=1.4,
            label=f"{label}, {source}",
        )
    ax.set_ylim(0, 1.02)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    ax.set_ylabel("P(latency ≤ t)")
    if legend:
        ax.legend()
    return ax


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
        xlabel, ylabel: axis labels.
        xticklabels, yticklabels: tick labels, or ``True``/``False`` for indices/none.

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


def plot_grouped_bars(
    ax: Axes,
    groups: Sequence[str],
    values: Mapping[str, npt.ArrayLike],
    *,
    errors: Mapping[str, npt.ArrayLike] | None = None,
    ylabel: str | None = None,
    legend: bool = True,
) -> Axes:
    """Draw grouped bars: one group per entry of ``groups``, one bar per label of ``values``.

    Args:
        ax: the axes to draw into.
        groups: the group names along the abscissa.
        values: bar label → one height per group; scheme names get their scheme colour.
        errors: bar label → half-widths of error bars (optional, per label).
        ylabel: the ordinate label.
        legend: draw the legend.

    Returns:
        ``ax``.
    """
    import numpy as np

    if not values:
        raise ValueError("Argument 'values' must name at least one series of bars.")
    positions = np.arange(len(groups), dtype=float)
    width = 0.8 / len(values)
    for index, (label, heights) in enumerate(values.items()):
        heights = np.asarray(heights, dtype=float)
        if heights.shape != (len(groups),):
            raise ValueError(
                f"Bars {label!r} must have one height per group, {len(groups)}, "
                f"not shape {heights.shape}."
            )
        error = None if errors is None or label not in errors else np.asarray(errors[label])
        ax.bar(
            positions + (index - (len(values) - 1) / 2) * width,
            heights,
            width=width * 0.95,
            yerr=error,
            capsize=3 if error is not None else 0,
            color=_series_style(label, index)["color"],
            label=label,
        )
    ax.set_xticks(positions, list(groups))
    ax.grid(axis="x", visible=False)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if legend:
        ax.legend()
    return ax
