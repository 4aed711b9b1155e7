"""Latency figures: exact curves of every scheme, latency distributions, the trade-off between
latency and uploads, and the best level sets.

The helpers compute what they draw from the exact theory of :mod:`gclib.analysis` (and take Monte
Carlo or measured samples from the caller), so the book and the ``--plot`` options of the command
line draw the same figures from the same numbers. Every scheme keeps the colour, line style and
marker of :func:`gclib.plotting.scheme_style`; legends name schemes by their labels: ``GC(s)``,
``uncoded``, ``nested``, ``cover``, ..."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gclib.analysis.activity import expected_signals, expected_tasks_per_worker, expected_uploads
from gclib.analysis.latency import (
    expected_latency,
    failure_probability,
    latency_cdf,
    latency_quantile,
)
from gclib.analysis.prediction import has_exact_theory
from gclib.model import RuntimeModel
from gclib.plotting._labels import label_points
from gclib.plotting.series import plot_cdf
from gclib.plotting.style import as_scheme, place_legend, scheme_label, scheme_style, series_style
from gclib.plotting.text import format_levels
from gclib.schemes import GradientCodingScheme, NestedScheme, Scheme, resolve_schemes

if TYPE_CHECKING:
    import numpy.typing as npt
    from matplotlib.axes import Axes

__all__ = [
    "QUANTITIES",
    "theory_curves",
    "latency_grid",
    "plot_latency_cdfs",
    "plot_latency_against_uploads",
    "plot_level_sets",
    "mean_and_interval",
    "plot_scheme_means",
]

# The exact quantities :func:`theory_curves` can sweep, each the theory function computing it.
QUANTITIES = {
    "latency": expected_latency,
    "tasks": expected_tasks_per_worker,
    "uploads": expected_uploads,
    "signals": expected_signals,
    "failure": failure_probability,
}


def theory_curves(
    quantity: str,
    n: int,
    schemes: Scheme | str | Sequence[Scheme | str],
    models: Sequence[RuntimeModel],
    *,
    s_max: int | None = None,
    levels: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """An exact quantity of every scheme along a sequence of models (a parameter sweep).

    Args:
        quantity: ``"latency"`` (``E[T]``, ``inf`` where a scheme fails with positive
            probability), ``"tasks"`` (expected tasks per worker), ``"uploads"`` and
            ``"signals"`` (expected per iteration) or ``"failure"`` (``P(T = ∞)``).
        n: the number of workers.
        schemes: the schemes, each with an exact theory (:func:`~gclib.has_exact_theory`).
        models: one runtime model per point of the sweep.
        s_max: the placement's largest tolerance, to parse scheme names.
        levels: the level set of the nested schemes, when parsing names (default all).

    Returns:
        Scheme name → array with one value per model.
    """
    if quantity not in QUANTITIES:
        raise ValueError(
            f"Argument 'quantity' must be one of {', '.join(QUANTITIES)}, not {quantity!r}."
        )
    models = list(models)
    if not models or not all(isinstance(model, RuntimeModel) for model in models):
        raise ValueError("Argument 'models' must be a non-empty sequence of RuntimeModels.")
    function = QUANTITIES[quantity]
    return {
        scheme.name: np.array([float(function(n, scheme, model)) for model in models])
        for scheme in resolve_schemes(schemes, s_max, levels)
    }


def latency_grid(
    n: int,
    schemes: Scheme | str | Sequence[Scheme | str],
    model: RuntimeModel,
    *,
    upper: float = 0.995,
    points: int = 300,
    s_max: int | None = None,
    levels: Sequence[int] | None = None,
) -> np.ndarray:
    """Times from 0 to the largest ``upper``-quantile of the schemes' latencies: a grid on which
    every exact CDF is drawn to nearly 1 (quantiles that are infinite are skipped)."""
    if not 0.0 < upper < 1.0:
        raise ValueError(f"Argument 'upper' must be a probability in (0, 1), not {upper!r}.")
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ValueError(f"Argument 'points' must be an integer of at least 2, not {points!r}.")
    ends = [
        float(latency_quantile(upper, n, scheme, model))
        for scheme in resolve_schemes(schemes, s_max, levels)
        if has_exact_theory(scheme, n, model)
    ]
    finite = [end for end in ends if math.isfinite(end)]
    end = max(finite) if finite else 10.0 * model.mean_task_time
    return np.linspace(0.0, end, points)


def plot_latency_cdfs(
    ax: Axes,
    n: int,
    schemes: Scheme | str | Sequence[Scheme | str],
    model: RuntimeModel,
    *,
    samples: Mapping[str, Mapping[str, npt.ArrayLike]] | None = None,
    t: npt.ArrayLike | None = None,
    s_max: int | None = None,
    levels: Sequence[int] | None = None,
    xlabel: str = "latency (model time units)",
    survival: bool = False,
    legend: bool | str = True,
) -> Axes:
    """Draw the latency distribution of every scheme: the exact CDF and empirical ones.

    Args:
        ax: the axes to draw into.
        n: the number of workers.
        schemes: the schemes; the exact CDF is drawn for every scheme but streaming.
        model: the runtime model of the exact CDFs.
        samples: scheme name → source label (e.g. ``"Monte Carlo"``, ``"worker pool"``) →
            latency samples; ``inf`` samples count as iterations that never finished.
        t: the times of the exact curves (default :func:`latency_grid`, extended to the largest
            finite sample).
        s_max: the placement's largest tolerance, to parse scheme names.
        levels: the level set of the nested schemes, when parsing names (default all).
        xlabel: the abscissa label.
        survival: draw ``P(latency > t)`` on a logarithmic axis, which shows the tail.
        legend: ``True`` or ``"inside"`` in the axes, ``"outside"`` right of the figure,
            ``"below"`` under it, ``False`` none.

    Returns:
        ``ax``.
    """
    resolved = resolve_schemes(schemes, s_max, levels)
    samples = dict(samples or {})
    silent = [
        s.name for s in resolved if not has_exact_theory(s, n, model) and s.name not in samples
    ]
    if silent:
        raise ValueError(
            f"Scheme(s) {silent} have no exact distribution: give their samples in 'samples'."
        )
    unknown = set(samples) - {scheme.name for scheme in resolved}
    if unknown:
        raise ValueError(f"Argument 'samples' names schemes not drawn: {sorted(unknown)}.")
    if t is None:
        grid = latency_grid(n, resolved, model)
        finite = [
            float(np.max(values[np.isfinite(values)]))
            for per_source in samples.values()
            for values in (np.asarray(v, dtype=float) for v in per_source.values())
            if np.isfinite(values).any()
        ]
        if finite and max(finite) > grid[-1]:
            grid = np.linspace(0.0, max(finite), grid.size)
    else:
        grid = np.asarray(t, dtype=float)
    for scheme in resolved:
        exact = None
        if has_exact_theory(scheme, n, model):
            exact = (grid, latency_cdf(grid, n, scheme, model))
        plot_cdf(
            ax,
            scheme.name,
            exact=exact,
            samples=samples.get(scheme.name),
            survival=survival,
            xlabel=xlabel,
            legend=False,
        )
    ax.set_xlim(left=0.0, right=float(grid[-1]))
    if legend:
        place_legend(ax, "inside" if legend is True else legend)
    return ax


def plot_latency_against_uploads(
    ax: Axes,
    points: Mapping[Scheme | str, tuple[float, float]],
    *,
    bound: float | None = None,
    bound_label: str = "coverage bound",
    annotate: bool = True,
    xlabel: str = "uploads per worker and iteration",
    ylabel: str = "expected latency E[T]",
) -> Axes:
    """Draw each scheme as one point (uploads per worker, expected latency).

    The points of the GC family (uncoded and every GC(s)) are joined in the order of ``s`` by a
    thin line, so that the trade-off along the family shows.

    Args:
        ax: the axes to draw into.
        points: scheme → ``(uploads per worker, latency)``. A name may carry a suffix after a
            blank (e.g. ``"nested {0, 4}"``), which is kept in the annotation while the style
            comes from the scheme the first word names.
        bound: a lower bound of the latency, drawn as a horizontal line.
        bound_label: its legend label.
        annotate: write each scheme's label next to its point (else a legend names them).
        xlabel: the abscissa label.
        ylabel: the ordinate label.

    Returns:
        ``ax``.
    """
    family: list[tuple[int, float, float]] = []
    family_style: dict[str, Any] | None = None
    names: list[tuple[str, float, float, dict[str, Any], bool, float]] = []
    for key, (uploads, latency) in points.items():
        base, suffix = (key, "") if isinstance(key, Scheme) else (key.partition(" ")[::2])
        scheme = as_scheme(base)
        style = scheme_style(scheme if scheme is not None else base)
        label = (scheme_label(base) + (" " + suffix if suffix else "")).strip()
        marker = style["marker"] or "o"
        size = 14 if marker == "*" else 9  # a star is thin at the same size
        ax.plot(
            [uploads],
            [latency],
            linestyle="none",
            marker=marker,
            markersize=size,
            markeredgecolor="white",
            markeredgewidth=0.6,
            color=style["color"],
            label=label,
            zorder=3,
        )
        in_family = isinstance(scheme, GradientCodingScheme) and not suffix
        if annotate:
            names.append((label, uploads, latency, style, in_family, size))
        if in_family:
            family.append((scheme.levels[0], uploads, latency))
            if scheme.levels[0] > 0:
                family_style = style
    if len(family) > 1:
        family.sort()
        ax.plot(
            [u for _, u, _ in family],
            [v for _, _, v in family],
            color=(family_style or {"color": "0.5"})["color"],
            linestyle="--",
            linewidth=1.0,
            alpha=0.7,
            label="_nolegend_",
            zorder=2,
        )
    bound_line = None
    if bound is not None:
        bound_line = ax.axhline(
            bound, label=bound_label, **{**series_style(bound_label), "marker": ""}
        )
    for label, uploads, latency, style, in_family, size in names:
        # the GC family (whose points lie left of the others) is named to the left of its
        # points, the other schemes to the right; a label moves on where it would hide a
        # marker, a line or another label
        ahead = ["left", "upper left", "lower left"] if in_family else ["upper right", "right"]
        label_points(
            ax,
            [(label, uploads, latency)],
            prefer=ahead,
            radius=size / 2,
            fontsize="small",
            color=style["color"],
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0.0)
    if not annotate:
        ax.legend()
    elif bound_line is not None:
        # the points are named beside them: the legend only explains the bound
        ax.legend([bound_line], [bound_label], loc="lower right")
    return ax


def plot_level_sets(
    ax: Axes,
    best: Sequence[tuple[Sequence[int], float]],
    *,
    references: Mapping[str, float] | None = None,
    xlabel: str = "number of levels |S|",
    ylabel: str = "expected latency E[T]",
    label: str = "best S of each size",
    style: Mapping[str, Any] | None = None,
    legend: bool = True,
    annotate: bool = True,
) -> Axes:
    """Draw the best level set of each size and its expected latency, each point annotated with
    its set (unless ``annotate`` is false).

    Args:
        ax: the axes to draw into.
        best: one ``(level set, expected latency)`` per size, in any order.
        references: label → latency drawn as horizontal lines, e.g. ``{"gc:4": ...,
            "coverage bound": ...}`` (schemes and the coverage bound get their own style).
        xlabel: the abscissa label.
        ylabel: the ordinate label.
        label: the legend label of the curve.
        style: line properties that replace the nested code's style (e.g. to draw the best
            sets of several models into one axes).
        legend: draw the legend.
        annotate: write each level set next to its point.

    Returns:
        ``ax``.
    """
    if not best:
        raise ValueError("Argument 'best' must hold at least one level set.")
    ordered = sorted(((len(levels), tuple(levels), float(value)) for levels, value in best))
    sizes = [size for size, _, _ in ordered]
    values = [value for _, _, value in ordered]
    line_style = {**scheme_style(NestedScheme((0,), 0)), **(style or {})}
    ax.plot(sizes, values, label=label, **line_style)
    if annotate:
        import matplotlib

        # above the curve, which falls to the right, unless a marker, a line or another label
        # is in the way there
        radius = line_style.get("markersize", matplotlib.rcParams["lines.markersize"]) / 2
        label_points(
            ax,
            [(format_levels(levels), size, value) for size, levels, value in ordered],
            prefer=["upper right", "above", "upper left", "lower left", "below"],
            radius=radius,
            fontsize="small",
            color=line_style["color"],
        )
    for name, value in (references or {}).items():
        try:
            style = {**scheme_style(name), "marker": ""}
        except ValueError:
            style = {"color": "0.4", "linestyle": "--"}
        ax.axhline(value, label=scheme_label(name), **style)
    ax.set_xticks(sizes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    top = max([*values, *(references or {}).values(), ax.get_ylim()[1] / 1.12])
    ax.set_ylim(0.0, 1.12 * top)
    if legend:
        ax.legend()
    return ax


def mean_and_interval(values: npt.ArrayLike) -> tuple[float, float]:
    """The mean of the finite ``values`` and the half-width of its normal 95% confidence
    interval, ``1.96 · sd / √k`` (``0`` for a single value, ``nan`` mean for none)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return math.nan, 0.0
    if finite.size == 1:
        return float(finite[0]), 0.0
    return float(finite.mean()), 1.96 * float(finite.std(ddof=1)) / math.sqrt(finite.size)


def plot_scheme_means(
    ax: Axes,
    samples: Mapping[str, npt.ArrayLike],
    *,
    reference: Mapping[str, float | None] | None = None,
    ylabel: str = "mean latency (model time units)",
    sample_label: str = "measured (pool), 95% CI",
    reference_label: str = "predicted",
    legend: bool = True,
) -> Axes:
    """One column per scheme: the mean of its samples with a 95% confidence interval (filled
    marker) and, beside it, a reference value such as the predicted mean (open marker).

    Args:
        ax: the axes to draw into.
        samples: scheme name → samples (e.g. measured latencies); infinite samples (iterations
            that never finished) are left out of the mean.
        reference: scheme name → value drawn beside the mean (``None`` or missing: none).
        ylabel: the ordinate label.
        sample_label, reference_label: legend entries of the two kinds of marker.
        legend: draw the legend.

    Returns:
        ``ax``.
    """
    if not samples:
        raise ValueError("Argument 'samples' must hold at least one scheme.")
    reference = dict(reference or {})
    names = list(samples)
    shift = 0.12 if reference else 0.0
    for position, name in enumerate(names):
        style = scheme_style(name)
        marker = style["marker"] or "o"
        mean, half_width = mean_and_interval(samples[name])
        if math.isfinite(mean):
            ax.errorbar(
                position + shift,
                mean,
                yerr=half_width,
                marker=marker,
                color=style["color"],
                linestyle="none",
                capsize=3,
                markersize=7,
            )
        value = reference.get(name)
        if value is not None and math.isfinite(value):
            ax.plot(
                position - shift,
                value,
                marker=marker,
                color=style["color"],
                markerfacecolor="white",
                markeredgewidth=1.5,
                linestyle="none",
                markersize=7,
            )
    ax.set_xticks(range(len(names)), [scheme_label(name) for name in names])
    ax.tick_params(axis="x", labelrotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.grid(axis="x", visible=False)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    if legend:
        ax.plot([], [], marker="o", color="0.3", linestyle="none", label=sample_label)
        if reference:
            ax.plot(
                [],
                [],
                marker="o",
                color="0.3",
                markerfacecolor="white",
                linestyle="none",
                label=reference_label,
            )
        ax.legend(loc="upper right", fontsize="small")
        # headroom for the legend above the highest interval
        ax.set_ylim(0.0, 1.25 * ax.get_ylim()[1])
    return ax
