"""The training figure: loss and test accuracy against wall-clock time, one line per scheme."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from gclib.plotting.style import new_figure, place_legend, scheme_label, scheme_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gclib.training.loop import TrainingRun

__all__ = ["plot_training"]


def plot_training(
    runs: Mapping[str, TrainingRun],
    axes: Sequence[Axes] | None = None,
    *,
    target: float | None = 0.9,
    legend: bool | str = "below",
) -> tuple[Figure, Sequence[Axes]]:
    """Training loss (log scale) and test accuracy against wall-clock time, one line per scheme,
    in the gclib figure style.

    Args:
        runs: scheme name → :class:`~gclib.TrainingRun`, as :func:`~gclib.train` returns them.
        axes: two axes to draw into (default: a new figure with two panels side by side).
        target: a test accuracy drawn as a dotted reference line (``None``: none).
        legend: ``"below"`` the figure, ``"inside"`` the accuracy panel, or ``False``.

    Returns:
        ``(figure, (loss_axes, accuracy_axes))``.
    """
    from matplotlib import ticker

    if not runs:
        raise ValueError("Argument 'runs' must hold at least one training run.")
    if axes is None:
        fig, axes = new_figure(1, 2, width=9.6, height=4.2)
    else:
        if len(axes) != 2:
            raise ValueError(f"Argument 'axes' must hold two axes, not {len(axes)}.")
        fig = axes[0].figure
    loss_ax, accuracy_ax = axes
    for name, run in runs.items():
        style = scheme_style(name)
        # a marker every few steps tells the lines apart in print
        style["markevery"] = max(1, len(run.wall_clock) // 6)
        label = scheme_label(name)
        loss_ax.plot(run.wall_clock, run.loss, label=label, **style)
        accuracy_ax.plot(run.wall_clock, run.test_accuracy, label=label, **style)
    loss_ax.set_yscale("log")
    loss_ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    loss_ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    loss_ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    loss_ax.set_xlabel("wall-clock time (s)")
    loss_ax.set_ylabel(r"training loss $\mathcal{L}(\theta)$")
    accuracy_ax.set_xlabel("wall-clock time (s)")
    accuracy_ax.set_ylabel("test accuracy")
    if target is not None:
        accuracy_ax.axhline(target, color="0.5", linewidth=0.9, linestyle=":")
    # the first steps climb from chance (0.1); the schemes differ above 0.8
    accuracy_ax.set_ylim(0.8, 1.0)
    accuracy_ax.yaxis.set_major_locator(ticker.MultipleLocator(0.05))
    if legend == "below":
        place_legend(accuracy_ax, "below")
    elif legend:
        accuracy_ax.legend(loc="lower right", fontsize="small", ncol=2)
    return fig, (loss_ax, accuracy_ax)
