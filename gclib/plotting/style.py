"""The one figure style of gclib, shared by the book and the ``--plot`` options of the CLI.

Every figure is drawn with the seaborn theme set by :func:`use_style`, and every scheme keeps one
colour, line style and marker wherever it appears (:func:`scheme_style`), so that a reader can
follow, say, the nested code from figure to figure, on screen, in grey-scale print and with
colour-vision deficiencies. The palette is the colour-blind-safe one of Okabe and Ito; the levels
of GC(s) and of ignore(s) are ordered ramps of one hue each whose lightness falls with ``s``, and
every scheme also has a marker and a dash pattern of its own, so that no two schemes rely on hue
alone.

Styles and legend labels come from the scheme objects (:class:`~gclib.Scheme`): the style table
is keyed by the scheme's class, the ramps by its tolerance ``scheme.levels[0]``, and the label is
``scheme.label``. A helper that receives a name parses it with :func:`~gclib.parse_scheme`.

matplotlib and seaborn are imported inside the functions: ``import gclib`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gclib.schemes import (
    CoverScheme,
    GradientCodingScheme,
    IgnoreStragglersScheme,
    NestedEagerScheme,
    NestedScheme,
    Scheme,
    StreamingScheme,
    UncodedScheme,
    parse_scheme,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_SUFFIXES",
    "PALETTE",
    "use_style",
    "as_scheme",
    "scheme_color",
    "scheme_style",
    "scheme_label",
    "series_style",
    "new_figure",
    "save_figure",
    "place_legend",
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
# Markers of that cycle, so that the non-scheme series of one figure also differ in grey.
_CYCLE_MARKERS = ("o", "s", "^", "D", "v", "P", "X")

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")

# One figure size for the book and the CLI: wide enough for a legend beside six lines, small
# enough to be read without zooming in print (inches).
_FIGURE_WIDTH = 6.4
_FIGURE_HEIGHT = 3.8
# The widest figure drawn (inches). The book's text column is about 740 CSS px; a figure of this
# width is 816 px at the style's 120 dpi, shown at about 0.9 of its size, so that its text keeps
# at least about 10 px of cap height. A wider request (several panels side by side) is scaled
# down to it, and its height by the square root of that factor: its panels sit side by side, so
# it keeps more of its height than of its width.
_MAX_WIDTH = 6.8

# The schemes without a tolerance parameter, by class.
_FIXED_STYLES: dict[type, dict[str, Any]] = {
    NestedScheme: {
        "color": PALETTE["vermillion"], "linestyle": "-", "marker": "o", "linewidth": 2.4,
    },
    NestedEagerScheme: {
        "color": PALETTE["reddish purple"], "linestyle": (0, (6, 1.5, 1.5, 1.5)),
        "marker": "H", "linewidth": 1.9,
    },
    UncodedScheme: {"color": PALETTE["black"], "linestyle": "-", "marker": "s", "linewidth": 1.6},
    StreamingScheme: {"color": PALETTE["bluish green"], "linestyle": "-.", "marker": "^"},
    CoverScheme: {"color": PALETTE["orange"], "linestyle": "-", "marker": "*", "linewidth": 2.2},
}  # fmt: skip

# Reference lines that are not schemes, by their label.
_REFERENCE_STYLES: dict[str, dict[str, Any]] = {
    "coverage bound": {
        "color": PALETTE["grey"], "linestyle": ":", "marker": "", "linewidth": 2.0,
    },
}  # fmt: skip

# Ordered ramps, light to dark, for the tolerances s = 1, 2, ... of the schemes with one
# tolerance; larger tolerances reuse the last entry. The lightness L* falls by 10 or more per
# step over the first four, so GC(1) ... GC(4) read apart in grey.
_RAMPS: dict[type, dict[str, tuple[Any, ...]]] = {
    GradientCodingScheme: {
        "color": ("#8CCBF2", "#4C9FD9", "#1F74B8", "#0F4F8A", "#083663", "#052443", "#031626"),
        "marker": ("v", "D", "P", "X", "<", ">", "h"),
        "linestyle": (
            (0, (6, 2)), (0, (4, 1.5)), (0, (2.5, 1.2)), (0, (7, 1.5, 1.5, 1.5)),
            (0, (5, 1, 1, 1, 1, 1)), (0, (9, 2)), (0, (3, 3)),
        ),
    },
    IgnoreStragglersScheme: {
        "color": ("#D9B38C", "#A97C50", "#7A5530", "#4E3419"),
        "marker": ("p", "d", "8", "1"),
        "linestyle": ((0, (1, 1.5)), (0, (1, 2.5)), (0, (2, 1, 1, 1)), (0, (1, 4))),
    },
}  # fmt: skip

# Tolerances are parsed with this s_max when only a style or a label is needed.
_STYLE_S_MAX = 10**6

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


def as_scheme(scheme: Scheme | str) -> Scheme | None:
    """The scheme a name stands for (parsed by :func:`~gclib.parse_scheme`), the scheme itself,
    or ``None`` for a label that names no scheme (such as ``"p = 0.1"``)."""
    if isinstance(scheme, Scheme):
        return scheme
    if not isinstance(scheme, str):
        raise TypeError(f"Argument 'name' must be a str or a Scheme, not {type(scheme).__name__}.")
    try:
        return parse_scheme(scheme, _STYLE_S_MAX, levels=(0,))
    except ValueError:
        return None


def _reference_key(label: str) -> str:
    return " ".join(label.strip().lower().split())


def scheme_style(name: Scheme | str) -> dict[str, Any]:
    """The matplotlib line properties of a scheme, the same in every figure.

    Args:
        name: a :class:`~gclib.Scheme`, a scheme name such as ``"nested"``, ``"gc:2"`` or
            ``"ignore:1"`` (parsed by :func:`~gclib.parse_scheme`; case and surrounding blanks
            are ignored), or the reference line ``"coverage bound"``. GC(0) is drawn as
            uncoded.

    Returns:
        A new dict with ``color``, ``linestyle``, ``marker`` and ``linewidth``, ready to be
        passed as keyword arguments to ``Axes.plot``.
    """
    scheme = as_scheme(name)
    if scheme is None:
        key = _reference_key(name) if isinstance(name, str) else ""
        if key in _REFERENCE_STYLES:
            return {"linewidth": 1.8, **_REFERENCE_STYLES[key]}
        raise ValueError(
            "Argument 'name' must be a scheme name (nested, uncoded, gc:S, ignore:S, streaming, "
            f"cover, nested-eager) or 'coverage bound', not {name!r}."
        )
    kind = type(scheme)
    if kind is GradientCodingScheme and scheme.levels[0] == 0:
        kind = UncodedScheme
    if kind in _FIXED_STYLES:
        return {"linewidth": 1.8, **_FIXED_STYLES[kind]}
    ramp = next((_RAMPS[base] for base in kind.__mro__ if base in _RAMPS), None)
    if ramp is None:
        return {"color": PALETTE["grey"], "linestyle": "-", "marker": "o", "linewidth": 1.6}
    level = scheme.levels[0]
    style = {"linewidth": 1.6}
    for key, values in ramp.items():
        style[key] = values[min(max(level - 1, 0), len(values) - 1)]
    return style


def scheme_color(name: Scheme | str) -> str:
    """The colour (``#RRGGBB``) of a scheme, the same in every figure; see :func:`scheme_style`."""
    return scheme_style(name)["color"]


def scheme_label(name: Scheme | str) -> str:
    """The name of a scheme as the text writes it, :attr:`Scheme.label <gclib.Scheme.label>`:
    ``"gc:2"`` → ``"GC(2)"``, ``"ignore:1"`` → ``"ignore(1)"``; a label that names no scheme is
    returned unchanged."""
    scheme = as_scheme(name)
    return scheme.label if scheme is not None else str(name)


def series_style(label: Scheme | str, index: int = 0) -> dict[str, Any]:
    """The style of one series of a figure: a scheme's (or reference line's) own style, or for
    any other label the ``index``-th colour and marker of the figure cycle."""
    try:
        return scheme_style(label)
    except ValueError:
        return {
            "color": PALETTE[_CYCLE[index % len(_CYCLE)]],
            "linestyle": "-",
            "marker": _CYCLE_MARKERS[index % len(_CYCLE_MARKERS)],
            "linewidth": 1.8,
        }


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
        nrows: the rows of the grid of axes.
        ncols: the columns of the grid of axes.
        width: the width in inches (default: the style's width); a width beyond 6.8 inches is
            scaled down to it, and the height by the square root of that factor.
        height: the height in inches (default: the style's height per row).
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

    return plt.subplots(nrows, ncols, figsize=_figure_size(nrows, width, height), **subplots_kwargs)


def _figure_size(
    nrows: int = 1, width: float | None = None, height: float | None = None
) -> tuple[float, float]:
    """The size in inches :func:`new_figure` gives a figure of ``nrows`` rows of panels.

    The default is the style's width and its height per row. A requested ``width`` beyond the
    widest figure of the style (6.8 inches) is scaled down to it and the height by the square root
    of that factor, so that the text of a figure of several panels side by side stays as legible
    as that of a single panel when the figure is shown across a text column (text is set in
    points, and a wider figure is shrunk more to fit the column).
    """
    width = float(width) if width is not None else _FIGURE_WIDTH
    height = float(height) if height is not None else _FIGURE_HEIGHT * (1 + 0.7 * (nrows - 1))
    if width > _MAX_WIDTH:
        factor = _MAX_WIDTH / width
        width, height = _MAX_WIDTH, height * factor**0.5
    return (width, height)


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


def place_legend(ax: Axes, where: str = "inside", **kwargs: Any) -> None:
    """Draw the legend of ``ax``: ``"inside"`` the axes (matplotlib's best place),
    ``"outside"`` to the right of the whole figure, or ``"below"`` the whole figure in columns
    (for figures of several panels): at most four, and fewer if the legend would otherwise be
    wider than the figure.

    Args:
        ax: the axes whose lines are named.
        where: ``"inside"``, ``"outside"`` or ``"below"``.
        kwargs: passed on to ``legend`` (e.g. ``handles``, ``labels``, ``ncol``).
    """
    if where == "inside":
        ax.legend(**kwargs)
        return
    if where not in ("outside", "below"):
        raise ValueError(f"Argument 'where' must be 'inside', 'outside' or 'below', not {where!r}.")
    handles = kwargs.pop("handles", None)
    labels = kwargs.pop("labels", None)
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if where == "outside":
        ax.figure.legend(handles, labels, loc="outside right upper", **kwargs)
    else:
        _legend_below(ax.figure, handles, labels, kwargs)


def _legend_below(fig: Figure, handles: list, labels: list, kwargs: dict[str, Any]) -> None:
    """A legend below the figure in at most four columns, and in more rows of balanced length if
    it would be wider than the figure (unless the caller fixed ``ncol``)."""
    count = len(handles)
    rows = -(-count // 4)
    fixed = kwargs.pop("ncol", None)
    legend = fig.legend(
        handles, labels, loc="outside lower center", ncol=fixed or -(-count // rows), **kwargs
    )
    get_renderer = getattr(fig.canvas, "get_renderer", None)
    while fixed is None and rows < count and get_renderer is not None:
        if legend.get_window_extent(get_renderer()).width <= fig.bbox.width:
            break
        legend.remove()
        rows += 1
        legend = fig.legend(
            handles, labels, loc="outside lower center", ncol=-(-count // rows), **kwargs
        )
