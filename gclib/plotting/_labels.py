"""Labels next to the points of a figure, placed where they hide nothing and nothing hides them
(internal to :mod:`gclib.plotting`).

:func:`label_points` writes a text next to each of a few points and leaves the choice of side to
draw time: the label takes the first of its preferred positions around the point whose box lies
inside the axes and clear of every marker, every drawn line, the legend and the labels placed
before it. It is chosen when the figure is drawn, once the limits and the layout of the axes are
final, so that a caller may still change them after drawing the labels.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.text import Annotation

__all__ = ["POSITIONS", "label_points"]

# Positions around a point, each (direction x, direction y, horizontal, vertical alignment); the
# offset is the point's marker radius plus a gap, along each direction.
POSITIONS: dict[str, tuple[float, float, str, str]] = {
    "upper right": (1.0, 0.6, "left", "bottom"),
    "lower right": (1.0, -0.6, "left", "top"),
    "upper left": (-1.0, 0.6, "right", "bottom"),
    "lower left": (-1.0, -0.6, "right", "top"),
    "right": (1.0, 0.0, "left", "center"),
    "left": (-1.0, 0.0, "right", "center"),
    "above": (0.0, 1.0, "center", "bottom"),
    "below": (0.0, -1.0, "center", "top"),
}

# points between a marker and its label, and around every obstacle
_GAP = 3.0
_PAD = 1.0
# what a conflict costs when no position is free: leaving the axes, covering a marker or a
# label, crossing a line
# distances (in units of the near offset) of the positions tried: near, then far
_DISTANCES = (1.0, 2.2, 3.6)
_COSTS = {"outside": 20, "marker": 4, "label": 4, "legend": 4, "line": 1}


def label_points(
    ax: Axes,
    labels: Sequence[tuple[str, float, float]],
    *,
    prefer: Sequence[Sequence[str]] | Sequence[str] = tuple(POSITIONS),
    radius: float | Sequence[float] = 4.5,
    **text_kwargs: Any,
) -> list[Annotation]:
    """Write ``text`` next to each point ``(x, y)`` (data coordinates) of ``labels``.

    Args:
        ax: the axes.
        labels: one ``(text, x, y)`` per point.
        prefer: the positions (keys of :data:`POSITIONS`) to try, best first, for every label, or
            one such sequence per label. Positions not listed are tried afterwards.
        radius: the radius in points of the marker at each point (one for all, or one each).
        text_kwargs: passed on to ``Axes.annotate`` (e.g. ``color``, ``fontsize``).

    Returns:
        The annotations, one per label; their side is decided each time the figure is drawn.
    """
    count = len(labels)
    if prefer and isinstance(prefer[0], str):
        prefer = [prefer] * count
    radii = [float(radius)] * count if np.isscalar(radius) else [float(r) for r in radius]
    if len(prefer) != count or len(radii) != count:
        raise ValueError("Arguments 'prefer' and 'radius' must give one entry per label.")
    placer = _placer(ax)
    made = []
    for (text, x, y), order, size in zip(labels, prefer, radii, strict=True):
        unknown = [name for name in order if name not in POSITIONS]
        if unknown:
            raise ValueError(f"Unknown label positions {unknown}; use {list(POSITIONS)}.")
        order = [*order, *(name for name in POSITIONS if name not in order)]
        annotation = ax.annotate(
            text, (x, y), xytext=(0.0, 0.0), textcoords="offset points", zorder=4, **text_kwargs
        )
        annotation.set_in_layout(False)  # placed inside the axes: the layout may ignore it
        placer.labels.append((annotation, order, size + _GAP))
        made.append(annotation)
    return made


@functools.cache
def _placer_class() -> type:
    from matplotlib.artist import Artist

    class LabelPlacer(Artist):
        """Drawn before the labels (``zorder`` 0): moves each label to its best position."""

        def __init__(self) -> None:
            super().__init__()
            self.labels: list[tuple[Annotation, list[str], float]] = []
            self.set_zorder(0)

        def draw(self, renderer: Any) -> None:
            _place(self.axes, self.labels, renderer)

    return LabelPlacer


def _placer(ax: Axes) -> Any:
    """The one label placer of ``ax``, added on first use."""
    kind = _placer_class()
    for artist in ax.artists:
        if isinstance(artist, kind):
            return artist
    placer = kind()
    ax.add_artist(placer)
    return placer


def _place(ax: Axes, labels: list[tuple[Annotation, list[str], float]], renderer: Any) -> None:
    """Every label at its cheapest position (the first preferred one among equals), the labels
    with the fewest free positions first; the far positions are tried only after the near ones."""
    from matplotlib.transforms import Bbox

    pixels = renderer.points_to_pixels(1.0)
    markers: list[Bbox] = []
    paths = []
    for line in ax.lines:
        if not line.get_visible():
            continue
        transform = line.get_transform()
        if line.get_linestyle() not in ("None", "", " ", "none"):
            paths.append(transform.transform_path(line.get_path()))
        if line.get_marker() not in (None, "None", "", " ", "none"):
            half = (line.get_markersize() / 2 + _PAD) * pixels
            xy = transform.transform(line.get_xydata())
            for x, y in xy[np.isfinite(xy).all(axis=1)]:
                markers.append(Bbox.from_extents(x - half, y - half, x + half, y + half))
    legend = ax.get_legend()
    legend_box = legend.get_window_extent(renderer) if legend is not None else None

    def fixed_cost(box: Bbox) -> int:
        cost = _COSTS["outside"] * (not _inside(box, ax.bbox))
        cost += _COSTS["marker"] * sum(box.overlaps(other) for other in markers)
        cost += _COSTS["legend"] * bool(legend_box is not None and box.overlaps(legend_box))
        crossed = sum(path.intersects_bbox(box, filled=False) for path in paths)
        return cost + _COSTS["line"] * crossed

    options = []
    for annotation, order, offset in labels:
        candidates = []
        for distance in _DISTANCES:
            for name in order:
                box = _move(annotation, name, offset * distance, renderer).padded(_PAD * pixels)
                candidates.append((fixed_cost(box), name, offset * distance, box))
        options.append(candidates)
    placed: list[Bbox] = []
    for index in sorted(range(len(labels)), key=lambda i: sum(c[0] == 0 for c in options[i])):
        best = min(
            options[index],
            key=lambda c: c[0] + _COSTS["label"] * sum(c[3].overlaps(other) for other in placed),
        )
        _move(labels[index][0], best[1], best[2], renderer)
        placed.append(best[3])


def _move(annotation: Annotation, name: str, offset: float, renderer: Any) -> Any:
    """Put ``annotation`` at position ``name``, ``offset`` points from its point; its box."""
    dx, dy, ha, va = POSITIONS[name]
    annotation.xyann = (dx * offset, dy * offset)
    annotation.set_horizontalalignment(ha)
    annotation.set_verticalalignment(va)
    return annotation.get_window_extent(renderer)


def _inside(box: Any, frame: Any) -> bool:
    return box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1
