"""Figures of the codes and of one pool iteration: the numbers behind them are right.

The level map is compared with the supports of the level codes, the accuracy measurements with
singular values and sums computed here, and the timeline with a hand-written event log and with
a real pool run whose task times are fixed in advance.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import gclib  # noqa: E402
from gclib import ModelSample  # noqa: E402
from gclib.plotting import (  # noqa: E402
    DecodingAccuracy,
    IterationTimeline,
    decoding_accuracy,
    iteration_timeline,
    latex_scientific,
    nested_level_map,
    plot_encoding_matrix,
    plot_iteration_timeline,
    plot_nested_supports,
)
from gclib.runtime.pool import IterationResult, PoolEvent, WorkerPool  # noqa: E402
from gclib.training.objectives import least_squares_gradient, least_squares_problem  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------------------ numbers
@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (2.94e10, 1, "$2.9 \\times 10^{10}$"),
        (-2.46e-11, 1, "$-2.5 \\times 10^{-11}$"),
        (1e-8, 0, "$10^{-8}$"),
        (3.0e-8, 0, "$3 \\times 10^{-8}$"),
        (3.456, 2, "$3.46$"),
        (math.inf, 1, "$\\infty$"),
        (-math.inf, 1, "$-\\infty$"),
    ],
)
def test_latex_scientific(value, digits, text):
    assert latex_scientific(value, digits) == text


def test_latex_scientific_rejects_negative_digits():
    with pytest.raises(ValueError, match="digits"):
        latex_scientific(1.0, -1)


# ------------------------------------------------------------------------------- level maps
@pytest.mark.parametrize(("n", "levels"), [(8, (0, 1, 3)), (7, (2, 4)), (5, (0,)), (6, (1, 2, 5))])
def test_nested_level_map_matches_the_level_supports(n, levels):
    code = gclib.NestedGradientCode(n, levels, seed=3)
    level_map = nested_level_map(code)
    for i in range(n):
        for j in range(n):
            using = [s for s in levels if j in code.code(s).support(i)]
            if using:
                assert level_map[i, j] == min(using)
            else:
                assert math.isnan(level_map[i, j])


def test_nested_level_map_rejects_other_codes():
    with pytest.raises(ValueError, match="NestedGradientCode"):
        nested_level_map(gclib.UncodedCode(4))


# ---------------------------------------------------------------------------- decoding accuracy
def all_sets(n: int, size: int) -> list[tuple[int, ...]]:
    from itertools import combinations

    return list(combinations(range(n), size))


def test_decoding_accuracy_condition_numbers_are_the_singular_value_ratios():
    code = gclib.CyclicMDSCode(9, 2, step=1)
    sets = all_sets(9, 7)
    result = decoding_accuracy(code, 5, responder_sets=sets)
    expected = max(np.linalg.cond(code.B[list(responders)]) for responders in sets)
    assert isinstance(result, DecodingAccuracy)
    assert result.sets == len(sets)
    assert result.refused == 0
    assert result.worst_condition == pytest.approx(expected, rel=1e-9)
    assert 0.0 <= result.worst_error < 1e-13


def test_decoding_accuracy_of_fractional_repetition_is_rounding_error():
    code = gclib.FractionalRepetitionCode(12, 3)
    result = decoding_accuracy(code, np.random.default_rng(2), random_sets=10)
    assert result.sets == math.comb(12, 3)  # few enough sets to take them all
    assert result.refused == 0
    assert result.worst_error < 1e-14


def test_decoding_accuracy_measures_and_counts_undecodable_sets():
    code = gclib.CyclicRepetitionCode(6, 2, seed=1)
    sets = [(0, 1, 2, 3), (0, 1, 2)]  # the second is one worker short
    result = decoding_accuracy(code, 0, responder_sets=sets)
    assert result.refused == 1
    assert result.worst_error > 1e-3
    # the measurement switches the residual check off on a copy only
    assert code.residual_tolerance == gclib.GradientCode.residual_tolerance
    with pytest.raises(gclib.NotDecodableError):
        code.decoding_vector((0, 1, 2))


def test_decoding_accuracy_default_sets_have_n_minus_s_workers():
    code = gclib.CyclicRepetitionCode(30, 6, seed=1)
    result = decoding_accuracy(code, 1, random_sets=7, exhaustive_limit=10)
    # cyclic blocks (n of them), evenly spread stragglers, random sets: more than n, bounded
    assert code.n < result.sets <= code.n + code.n + 7


def test_decoding_accuracy_validates_its_arguments():
    with pytest.raises(ValueError, match="GradientCode"):
        decoding_accuracy(np.eye(3), 0)
    with pytest.raises(ValueError, match="responder_sets"):
        decoding_accuracy(gclib.UncodedCode(3), 0, responder_sets=[])
    with pytest.raises(ValueError, match="dimension"):
        decoding_accuracy(gclib.UncodedCode(3), 0, dimension=0)


# ---------------------------------------------------------------------------------- matrices
def test_plot_encoding_matrix_scales_rows_to_unit_maximum():
    code = gclib.CyclicRepetitionCode(7, 3, seed=2, construction="gaussian")
    fig, ax = plt.subplots()
    plot_encoding_matrix(ax, code, title="B", scale_rows=True)
    shown = np.ma.filled(ax.collections[0].get_array(), 0.0).reshape(7, 7)
    assert np.allclose(np.abs(shown).max(axis=1), 1.0)
    assert np.allclose(shown * np.abs(code.B).max(axis=1, keepdims=True), code.B)
    assert ax.get_title() == "B"


def test_plot_nested_supports_names_every_level():
    code = gclib.NestedGradientCode(6, (0, 2, 3), seed=1)
    fig, ax = plt.subplots()
    plot_nested_supports(ax, code)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["$s = 0$", "$s = 2$", "$s = 3$"]


# ---------------------------------------------------------------------------------- timelines
def result_with(events, *, level=1, responders=(1, 2), tasks_done=(1, 2, 2)) -> IterationResult:
    return IterationResult(
        iteration=1,
        scheme="nested",
        failed=False,
        reason=None,
        latency=5.0,
        wall_time=0.05,
        decode_time=0.0,
        level=level,
        responders=tuple(responders),
        tasks_done=np.array(tasks_done),
        uploads=2,
        signals=5,
        gradient=None,
        decode_error=None,
        lost=(),
        respawned=(),
        events=[PoolEvent(*event) for event in events],
    )


HAND_WRITTEN = [
    (0.0, None, "broadcast", None),
    (0.1, 0, "receive", 0),
    (0.1, 1, "receive", 0),
    (0.1, 2, "receive", 0),
    (0.2, 0, "task_start", 0),
    (0.2, 1, "task_start", 0),
    (0.2, 2, "task_start", 0),
    (1.0, 1, "task_end", 0),
    (1.1, 1, "signal", 1),
    (1.0, 1, "task_start", 1),
    (1.5, 2, "task_end", 0),
    (1.6, 2, "signal", 1),
    (1.5, 2, "task_start", 1),
    (2.0, 0, "task_end", 0),
    (2.1, 0, "signal", 1),
    (2.0, 0, "task_start", 1),
    (3.0, 1, "task_end", 1),
    (3.1, 1, "signal", 2),
    (3.5, 2, "task_end", 1),
    (3.6, 2, "signal", 2),
    (3.6, 1, "request", 1),
    (3.6, 2, "request", 1),
    (3.6, 0, "stop", None),
    (3.7, 0, "task_abandon", 1),
    (3.8, 1, "message", 1),
    (3.9, 2, "message", 1),
    (3.9, None, "complete", None),
]


def test_iteration_timeline_groups_a_hand_written_log():
    timeline = iteration_timeline(result_with(HAND_WRITTEN))
    assert isinstance(timeline, IterationTimeline)
    bars = {(bar.worker, bar.task): bar for bar in timeline.tasks}
    assert set(bars) == {(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)}
    assert bars[0, 0].status == "unused"  # worker 0 is not a responder
    assert bars[0, 1].status == "abandoned"
    assert (bars[0, 1].start, bars[0, 1].end) == (2.0, 3.7)
    assert all(bars[w, k].status == "used" for w in (1, 2) for k in (0, 1))
    assert bars[2, 1].partition == 0  # worker 2's second partition, (2 + 1) mod 3
    assert timeline.decision == 3.6
    assert timeline.complete == 3.9
    assert timeline.stops == ((0, 3.6),)
    assert sorted(w for w, _ in timeline.uploads) == [1, 2]
    assert [(w, k) for w, _, k in timeline.signals] == [(1, 1), (2, 1), (0, 1), (1, 2), (2, 2)]
    assert len(timeline.received) == 3


def test_iteration_timeline_needs_a_trace():
    events = [event for event in HAND_WRITTEN if not event[2].startswith("task")]
    with pytest.raises(ValueError, match="trace=True"):
        iteration_timeline(result_with(events))


def test_plot_iteration_timeline_draws_one_bar_per_task():
    timeline = iteration_timeline(result_with(HAND_WRITTEN))
    fig, ax = plt.subplots()
    plot_iteration_timeline(ax, timeline)
    bars = [patch for patch in ax.patches if patch.get_width() > 0]
    assert len(bars) == len(timeline.tasks)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "decision (level $s = 1$)" in labels
    assert "upload received" in labels


def test_timeline_of_a_real_nested_iteration():
    """A pool run with fixed task times: worker 3 is slow, the rest finish a task per unit."""
    n, s_max = 5, 2
    partitions, _ = least_squares_problem(n, rows_per_partition=6, features=3, seed=4)
    times = np.ones((n, s_max + 1))
    times[3] = 40.0
    params = np.zeros(3)
    with WorkerPool(
        partitions, least_squares_gradient, s_max=s_max, time_unit=0.01, seed=1
    ) as pool:
        result = pool.run_iteration(params, sample=ModelSample.from_task_times(times), trace=True)
    assert not result.failed
    timeline = iteration_timeline(result)
    level = result.level
    for worker in range(n):
        bars = [bar for bar in timeline.tasks if bar.worker == worker]
        finished = [bar for bar in bars if bar.status != "abandoned"]
        assert len(finished) == result.tasks_done[worker]
        for bar in bars:
            assert bar.partition == (worker + bar.task) % n
            assert bar.end >= bar.start
        for first, second in zip(bars, bars[1:], strict=False):
            assert second.start >= first.end - 1e-9
        used = [bar.task for bar in bars if bar.status == "used"]
        expected = list(range(level + 1)) if worker in result.responders else []
        assert used == expected
    assert len(timeline.uploads) == result.uploads == n - level
    assert len(timeline.signals) == result.signals
    assert timeline.decision is not None and timeline.complete is not None
    # the master logs completion right after it stops the clock of the latency
    assert timeline.decision <= result.latency <= timeline.complete
