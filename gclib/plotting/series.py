"""Lines, distributions and bars: the generic drawing helpers behind every curve of gclib.

Each series is named by a scheme (:class:`~gclib.Scheme` or name) or by any other label; a scheme
gets its own style (:func:`~gclib.plotting.scheme_style`) and its label from the scheme object,
any other label the next colour and marker of the figure cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gclib.plotting.style import place_legend, scheme_label, series_style

if TYPE_CHECKING:
    import numpy.typing as npt
    from matplotlib.axes import Axes

    from gclib.schemes import Scheme

__all__ = ["plot_series", "plot_cdf", "plot_grouped_bars"]

#: the most markers drawn along one line when markers are thinned out
MAX_MARKERS = 9


def _mark_infinite(ax: Axes, x: Any, y: Any, style: Mapping[str, Any]) -> None:
    """Where a curve jumps from a finite value to ``inf``, draw an arrow from the last finite
    point to the upper edge of the axes; a curve infinite from its first point gets a triangle
    on the edge there.

    Args:
        ax: the axes.
        x: the abscissae of the curve.
        y: its ordinates, with ``inf`` where the curve is infinite.
        style: the curve's line properties (``color``, ``linestyle``, ``linewidth``).
    """
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


def _plain_log_ticks(ax: Axes) -> None:
    """On a logarithmic ordinate of less than two decades, ticks at 1, 2 and 5 times the powers
    of ten, written as plain numbers (``20``, not ``2 × 10¹``)."""
    import math

    from matplotlib import ticker

    low, high = ax.get_ylim()
    if low > 0 and math.log10(high / low) < 2:
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _markevery(points: int, index: int) -> Any:
    """Every point of a short line; a thinned, per-series shifted subset of a long one, so that
    the markers of neighbouring lines do not sit on each other."""
    if points <= MAX_MARKERS:
        return None
    step = -(-points // MAX_MARKERS)
    return (index % step, step)


def plot_series(
    ax: Axes,
    x: npt.ArrayLike,
    series: Mapping[Scheme | str, npt.ArrayLike],
    *,
    monte_carlo: Mapping[Scheme | str, tuple[npt.ArrayLike, ...]] | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    logy: bool = False,
    markers: bool | None = None,
    legend: bool | str = True,
    mark_infinite: bool = True,
) -> Axes:
    """Draw one line per scheme (or other label) against a common ``x``, with optional Monte
    Carlo estimates as open markers.

    Args:
        ax: the axes to draw into.
        x: the abscissae, shared by every series.
        series: label → ordinates (same length as ``x``). Schemes (objects or names such as
            ``"nested"``, ``"gc:2"``) get their scheme's style and label (``GC(2)``); other
            labels take the next colour and marker of the cycle. Infinite values (an infinite
            expected latency) leave a gap (see ``mark_infinite``).
        monte_carlo: label → ``(x, mean)`` or ``(x, mean, stderr)``, drawn as open markers of
            the shape and colour of the series of that label, with error bars of ±1.96 standard
            errors when ``stderr`` is given (it may be ``None``). One legend entry names the
            estimates of every series; an estimate without a series gets an entry of its own.
        xlabel: the abscissa label.
        ylabel: the ordinate label.
        logy: logarithmic ordinate.
        markers: mark the points of the lines: ``True`` every point, ``False`` none, ``None``
            (default) every point of short lines and at most nine evenly spread
            points of long ones, so that each line is told apart by its marker in print.
        legend: ``True`` or ``"inside"`` in the axes, ``"outside"`` right of the figure,
            ``"below"`` under it, ``False`` none.
        mark_infinite: where a line jumps to ``inf``, draw an arrow from its last finite
            point to the upper edge of the axes.

    Returns:
        ``ax``.
    """
    import numpy as np
    from matplotlib.lines import Line2D

    x_values = np.asarray(x, dtype=float)
    styles: dict[Any, dict[str, Any]] = {}
    for index, (label, values) in enumerate(series.items()):
        y_values = np.asarray(values, dtype=float)
        if y_values.shape != x_values.shape:
            raise ValueError(
                f"Series {label!r} must have the shape of 'x', {x_values.shape}, "
                f"not {y_values.shape}."
            )
        style = styles[label] = series_style(label, index)
        line_style = dict(style)
        if markers is False:
            line_style["marker"] = ""
        elif markers is None:
            line_style["markevery"] = _markevery(x_values.size, index)
        shown = np.where(np.isfinite(y_values), y_values, np.nan)
        ax.plot(x_values, shown, label=scheme_label(label), **line_style)
        if mark_infinite:
            _mark_infinite(ax, x_values, y_values, style)
    for index, (label, estimate) in enumerate((monte_carlo or {}).items()):
        if len(estimate) not in (2, 3):
            raise ValueError(
                f"Monte Carlo estimate {label!r} must be (x, mean) or (x, mean, stderr)."
            )
        mc_x, mc_mean, *rest = estimate
        stderr = rest[0] if rest else None
        style = styles.get(label) or series_style(label, len(series) + index)
        ax.errorbar(
            np.asarray(mc_x, dtype=float),
            np.asarray(mc_mean, dtype=float),
            yerr=None if stderr is None else 1.96 * np.asarray(stderr, dtype=float),
            linestyle="none",
            marker=style["marker"] or "o",
            markersize=7,
            markerfacecolor="white",
            markeredgewidth=1.4,
            color=style["color"],
            ecolor=style["color"],
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
        _plain_log_ticks(ax)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if legend and handles:
        place_legend(ax, "inside" if legend is True else legend, handles=handles, labels=labels)
    return ax


_SOURCE_LINESTYLES = ((0, (5, 2)), ":", "-.", (0, (1, 3)))


def plot_cdf(
    ax: Axes,
    name: Scheme | str,
    *,
    exact: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    samples: Mapping[str, npt.ArrayLike] | None = None,
    survival: bool = False,
    xlabel: str | None = "latency",
    legend: bool = True,
) -> Axes:
    """Draw the distribution of one scheme's latency: an exact curve and empirical ones of
    samples (e.g. Monte Carlo and measured), all in the scheme's colour.

    The exact curve is a thick, light line; each sample source is a thin step line of its own
    dash pattern and marker drawn on top, so that an empirical curve that coincides with the
    exact one still shows. Infinite samples (iterations that never finished) stay in the
    denominator, so the empirical CDF levels off below 1 as the exact one does.

    Args:
        ax: the axes to draw into.
        name: the scheme (or any label) the curves belong to; legends name a scheme by its
            label.
        exact: ``(t, F(t))`` of the exact CDF.
        samples: source label → latency samples.
        survival: draw ``P(latency > t) = 1 − F(t)`` on a logarithmic axis instead, which shows
            the tail.
        xlabel: the abscissa label.
        legend: draw the legend of the axes.

    Returns:
        ``ax``.
    """
    import numpy as np

    if exact is None and not samples:
        raise ValueError("Give 'exact' or 'samples' (or both): there is nothing to draw.")
    style = series_style(name, 0)
    label = scheme_label(name)
    if exact is not None:
        t, cdf = (np.asarray(values, dtype=float) for values in exact)
        if t.shape != cdf.shape:
            raise ValueError(
                f"The exact CDF needs t and F(t) of one shape, not {t.shape}, {cdf.shape}."
            )
        ax.plot(
            t,
            1.0 - cdf if survival else cdf,
            color=style["color"],
            linestyle="-",
            linewidth=3.2,
            alpha=0.45,
            label=f"{label}, exact",
        )
    for index, (source, values) in enumerate((samples or {}).items()):
        draws = np.sort(np.asarray(values, dtype=float).ravel())
        if draws.size == 0:
            raise ValueError(f"Samples {source!r} of {name!r} are empty.")
        finite = draws[np.isfinite(draws)]
        heights = np.arange(1, finite.size + 1) / draws.size
        ax.step(
            finite,
            1.0 - heights if survival else heights,
            where="post",
            color=style["color"],
            linestyle=_SOURCE_LINESTYLES[index % len(_SOURCE_LINESTYLES)],
            linewidth=1.3,
            marker=("o", "s", "^", "D")[index % 4],
            markerfacecolor="white",
            markersize=4.5,
            markevery=max(1, finite.size // 8),
            label=f"{label}, {source}",
        )
    if survival:
        ax.set_yscale("log")
        ax.set_ylabel("P(latency > t)")
    else:
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("P(latency ≤ t)")
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if legend:
        ax.legend()
    return ax


def plot_grouped_bars(
    ax: Axes,
    groups: Sequence[str],
    values: Mapping[Scheme | str, npt.ArrayLike],
    *,
    errors: Mapping[Scheme | str, npt.ArrayLike] | None = None,
    ylabel: str | None = None,
    legend: bool = True,
) -> Axes:
    """Draw grouped bars: one group per entry of ``groups``, one bar per label of ``values``.

    Args:
        ax: the axes to draw into.
        groups: the group names along the abscissa.
        values: bar label → one height per group; schemes get their colour and label, and
            every series a hatch of its own, so that the bars differ in grey.
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
    hatches = ("", "//", "..", "xx", "\\\\", "++", "oo")
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
            color=series_style(label, index)["color"],
            hatch=hatches[index % len(hatches)],
            edgecolor="white",
            label=scheme_label(label),
        )
    ax.set_xticks(positions, list(groups))
    ax.grid(axis="x", visible=False)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if legend:
        ax.legend()
    return ax
