r"""Figures of the gradient codes and of one iteration of the worker pool.

Three things a reader wants to see of a code, and one of the protocol:

- the encoding matrix ``B`` of a code (:func:`plot_encoding_matrix`) and the nested supports of a
  nested code (:func:`nested_level_map`, :func:`plot_nested_supports`);
- how accurately a code decodes (:func:`decoding_accuracy`): the worst condition number of
  ``B_F`` and the worst relative error of :meth:`~gclib.GradientCode.decode` over responder sets
  ``F`` of size ``n − s``;
- the timeline of one iteration of the real worker pool (:func:`iteration_timeline`,
  :func:`plot_iteration_timeline`): each worker's tasks, its progress signals and upload, and
  the master's decision, stop and completion, read from the iteration's event log.

Everything is drawn in the one figure style of :mod:`gclib.plotting.style`; matplotlib is imported
inside the drawing functions, so importing this module stays cheap.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gclib._verify import check_integer
from gclib.codes.base import GradientCode, responder_patterns
from gclib.codes.errors import NotDecodableError
from gclib.codes.nested import NestedGradientCode
from gclib.plotting.style import PALETTE, plot_matrix

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gclib.runtime.pool import IterationResult, PoolEvent

__all__ = [
    "DecodingAccuracy",
    "decoding_accuracy",
    "nested_level_map",
    "plot_encoding_matrix",
    "plot_nested_supports",
    "TaskBar",
    "IterationTimeline",
    "iteration_timeline",
    "plot_iteration_timeline",
    "latex_scientific",
]


# ------------------------------------------------------------------------------------ numbers
def latex_scientific(value: float, digits: int = 1) -> str:
    r"""``value`` in scientific notation as inline TeX, e.g. ``$2.9 \times 10^{-11}$``.

    Numbers whose exponent is 0 keep plain decimal form (``$3.5$``); a mantissa of exactly 1
    with ``digits=0`` is dropped (``$10^{-8}$``); non-finite values become ``$\infty$``,
    ``$-\infty$`` or ``NaN``.
    """
    digits = check_integer(digits, "digits", 0)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "$\\infty$" if value > 0 else "$-\\infty$"
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    power = int(exponent)
    if power == 0:
        return f"${mantissa}$"
    if digits == 0 and mantissa.lstrip("-") == "1":
        return f"${mantissa[:-1]}10^{{{power}}}$"
    return f"${mantissa} \\times 10^{{{power}}}$"


# ------------------------------------------------------------------------------- decoding accuracy
@dataclass(frozen=True)
class DecodingAccuracy:
    r"""How well a code decodes over a collection of responder sets ``F``.

    Attributes:
        worst_condition: ``max_F cond₂(B_F)``, the ratio of extreme singular values of ``B_F``
            on the row space of ``B`` (:meth:`~gclib.GradientCode.condition_number`).
        worst_error: ``max_F ‖ĝ_F − g‖₂ / ‖g‖₂`` for Gaussian partial gradients, where ``ĝ_F``
            is what :meth:`~gclib.GradientCode.decode` returns from the messages of ``F`` with
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


def _used_tasks(scheme: str, level: int | None, responders: Sequence[int]) -> dict[int, int]:
    """Worker → how many of its first tasks entered the decoded messages."""
    if level is None:
        return {}
    # GC(s) and nested messages combine the first s + 1 partials; uncoded and ignore use one
    count = 1 if scheme.startswith(("uncoded", "ignore")) else level + 1
    return dict.fromkeys(responders, count)


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
                fontsize="x-small",
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
            ncol=3,
            fontsize="small",
        )
    return ax
