"""The timeline of one iteration of the worker pool: each worker's tasks, its progress signals
and uploads, and the master's decision, stops and completion, read from the iteration's event log
(:func:`iteration_timeline`) and drawn by :func:`plot_iteration_timeline`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gclib.plotting.style import PALETTE
from gclib.schemes import parse_scheme

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gclib.runtime.results import IterationResult, PoolEvent

__all__ = ["TaskBar", "IterationTimeline", "iteration_timeline", "plot_iteration_timeline"]


# ------------------------------------------------------------------------------------ timelines
@dataclass(frozen=True)
class TaskBar:
    """One task of one worker in an iteration.

    Attributes:
        worker: the worker.
        task: the task's position ``k`` in the worker's window (0 first).
        partition: the partition ``j = W_i[k]`` whose partial gradient the task computes.
        start, end: model time units since the broadcast.
        status: ``"used"`` (its partial gradient entered a message the master decoded),
            ``"unused"`` (finished but not needed) or ``"abandoned"`` (stopped, or the worker
            died, before it finished).
    """

    worker: int
    task: int
    partition: int
    start: float
    end: float
    status: str


@dataclass(frozen=True)
class IterationTimeline:
    """The events of one iteration, grouped for drawing (times in model time units).

    Attributes:
        n: the number of workers.
        scheme: the scheme's name.
        level: the level the master decoded with (``None`` for streaming and failures).
        responders: the workers whose messages were used.
        latency: the iteration's latency (``inf`` if it failed).
        tasks: every task the workers started.
        received: ``(worker, time)`` at which each worker received the broadcast.
        signals: ``(worker, time, tasks done)`` for each progress signal the master received.
        uploads: ``(worker, time)`` for each gradient-sized message the master received.
        decision: when the master requested the level-``s`` messages (nested), else ``None``.
        stops: ``(worker, time)`` for each stop the master sent.
        complete: when the master held what it needed (``None`` if the iteration failed).
    """

    n: int
    scheme: str
    level: int | None
    responders: tuple[int, ...]
    latency: float
    tasks: tuple[TaskBar, ...]
    received: tuple[tuple[int, float], ...]
    signals: tuple[tuple[int, float, int], ...]
    uploads: tuple[tuple[int, float], ...]
    decision: float | None
    stops: tuple[tuple[int, float], ...]
    complete: float | None


def _used_tasks(name: str, level: int | None, responders: Sequence[int]) -> dict[int, int]:
    """Worker → how many of its first tasks entered the decoded messages: the ``level + 1``
    tasks of a level-``s`` message, or fewer for a scheme whose workers compute fewer (the one
    partial gradient of ignore(s)); none for schemes that decode at no level."""
    if level is None:
        return {}
    # a level set that reaches the decoded level (only the nested schemes read it)
    scheme = parse_scheme(name, max(level, 1) * 10**3, levels=tuple(range(level + 1)))
    return dict.fromkeys(responders, min(level + 1, scheme.tasks_per_worker))


def iteration_timeline(result: IterationResult) -> IterationTimeline:
    """Group the event log of one worker-pool iteration into bars and marks.

    The iteration must have been run with ``trace=True`` (``WorkerPool.run_iteration``), so that
    the log holds the workers' task starts and ends; the workers store the cyclic windows
    ``W_i = (i, i+1, …) mod n``.

    Raises:
        ValueError: if the log holds no task events (the iteration was run without a trace).
    """
    events: Sequence[PoolEvent] = sorted(result.events, key=lambda event: event.time)
    n = len(result.tasks_done)
    if not any(event.kind == "task_start" for event in events):
        raise ValueError("The iteration's event log holds no task events: run it with trace=True.")
    used = _used_tasks(result.scheme, result.level, result.responders)
    end_of_log = max(event.time for event in events)
    open_tasks: dict[int, tuple[int, float]] = {}
    tasks: list[TaskBar] = []
    received, signals, uploads, stops = [], [], [], []
    decision = complete = None

    def close(worker: int, time: float, finished: bool) -> None:
        task, start = open_tasks.pop(worker)
        if not finished:
            status = "abandoned"
        else:
            status = "used" if task < used.get(worker, 0) else "unused"
        tasks.append(TaskBar(worker, task, (worker + task) % n, start, time, status))

    for event in events:
        worker, kind = event.worker, event.kind
        if kind == "receive":
            received.append((worker, event.time))
        elif kind == "task_start":
            if worker in open_tasks:  # a resumed task starts again from the worker's view
                close(worker, event.time, False)
            open_tasks[worker] = (int(event.value), event.time)
        elif kind == "task_end" and worker in open_tasks:
            close(worker, event.time, True)
        elif kind == "task_abandon" and worker in open_tasks:
            close(worker, event.time, False)
        elif kind == "lost" and worker in open_tasks:
            close(worker, event.time, False)
        elif kind == "signal":
            signals.append((worker, event.time, int(event.value)))
        elif kind in ("upload", "message"):
            uploads.append((worker, event.time))
        elif kind == "request" and decision is None:
            decision = event.time
        elif kind == "stop":
            stops.append((worker, event.time))
        elif kind == "complete" and complete is None:
            complete = event.time
    for worker in list(open_tasks):
        close(worker, end_of_log, False)
    tasks.sort(key=lambda bar: (bar.worker, bar.start))
    return IterationTimeline(
        n=n,
        scheme=result.scheme,
        level=result.level,
        responders=tuple(result.responders),
        latency=float(result.latency),
        tasks=tuple(tasks),
        received=tuple(received),
        signals=tuple(signals),
        uploads=tuple(uploads),
        decision=decision,
        stops=tuple(stops),
        complete=complete,
    )


_BAR_COLORS = {
    "used": PALETTE["blue"],
    "unused": PALETTE["sky blue"],
    "abandoned": "#D9D9D9",
}
_BAR_LABELS = {
    "used": "task used in the decoded message",
    "unused": "task finished, not needed",
    "abandoned": "task stopped before it finished",
}


def plot_iteration_timeline(
    ax: Axes,
    timeline: IterationTimeline | IterationResult,
    *,
    partitions: bool = True,
    legend: bool = True,
) -> Axes:
    """Draw one iteration: a row per worker with its tasks as bars, the progress signals and
    uploads the master received as marks, and vertical lines at the master's decision and at
    completion.

    Args:
        ax: the axes to draw into.
        timeline: an :class:`IterationTimeline`, or a traced ``IterationResult`` to build it from.
        partitions: write ``g_j`` into every bar wide enough to hold it.
        legend: draw a legend below the axes.

    Returns:
        ``ax``.
    """
    from matplotlib.patches import Patch

    if not isinstance(timeline, IterationTimeline):
        timeline = iteration_timeline(timeline)
    bar_height = 0.56
    span = max(
        [bar.end for bar in timeline.tasks]
        + [time for _, time in timeline.uploads]
        + [timeline.complete or 0.0, 1e-9]
    )
    for bar in timeline.tasks:
        abandoned = bar.status == "abandoned"
        ax.barh(
            bar.worker,
            bar.end - bar.start,
            left=bar.start,
            height=bar_height,
            color=_BAR_COLORS[bar.status],
            edgecolor="0.35" if abandoned else "white",
            linewidth=0.6,
            hatch="///" if abandoned else None,
            zorder=2,
        )
        if partitions and bar.end - bar.start > 0.045 * span:
            ax.text(
                (bar.start + bar.end) / 2,
                bar.worker,
                f"$g_{{{bar.partition}}}$",
                ha="center",
                va="center",
                fontsize="small",
                color="white" if bar.status == "used" else "black",
                zorder=3,
            )
    marks: dict[str, Any] = {}
    signal_offset = -bar_height / 2 - 0.08  # signals sit just above their worker's bar
    point_events = [  # label, (worker, time, ...) entries, vertical offset, marker style
        ("received the broadcast", timeline.received, 0.0,
         {"marker": "|", "color": "0.35", "markersize": 9, "zorder": 4}),
        ("progress signal received", timeline.signals, signal_offset,
         {"marker": "^", "color": PALETTE["black"], "markersize": 4.5, "zorder": 4}),
        ("upload received", timeline.uploads, 0.0,
         {"marker": "D", "markerfacecolor": PALETTE["orange"], "markeredgecolor": PALETTE["black"],
          "markersize": 6, "zorder": 5}),
        ("stop sent", timeline.stops, 0.0,
         {"marker": "X", "color": PALETTE["vermillion"], "markersize": 6.5, "zorder": 5}),
    ]  # fmt: skip
    for label, entries, offset, style in point_events:
        if entries:
            workers, times = list(zip(*entries, strict=True))[:2]
            (line,) = ax.plot(times, np.asarray(workers) + offset, linestyle="none", **style)
            marks[label] = line
    if timeline.decision is not None:
        level = "" if timeline.level is None else f" (level $s = {timeline.level}$)"
        marks[f"decision{level}"] = ax.axvline(
            timeline.decision, color=PALETTE["vermillion"], linestyle="--", linewidth=1.4
        )
    if timeline.complete is not None:
        marks["master holds the gradient"] = ax.axvline(
            timeline.complete, color=PALETTE["black"], linestyle="-", linewidth=1.4
        )
    ax.set_ylim(timeline.n - 0.5, -0.5)
    ax.set_yticks(range(timeline.n), [f"worker {i}" for i in range(timeline.n)])
    ax.set_xlim(0.0, span * 1.02)
    ax.set_xlabel("time since the broadcast (model time units)")
    ax.grid(axis="y", visible=False)
    if legend:
        statuses = [s for s in _BAR_LABELS if any(bar.status == s for bar in timeline.tasks)]
        handles: list[Any] = [
            Patch(
                facecolor=_BAR_COLORS[s],
                edgecolor="0.35" if s == "abandoned" else "white",
                hatch="///" if s == "abandoned" else None,
                label=_BAR_LABELS[s],
            )
            for s in statuses
        ]
        for label, artist in marks.items():
            artist.set_label(label)
            handles.append(artist)
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncol=2,  # three columns are wider than a figure of the style's width
            fontsize="small",
        )
    return ax
