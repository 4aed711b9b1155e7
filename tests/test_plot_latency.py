"""The latency plotting helpers: the numbers they draw against direct computation."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import gclib
from gclib.plotting import (
    format_levels,
    latency_grid,
    mean_and_interval,
    new_figure,
    plot_latency_cdfs,
    plot_level_sets,
    plot_scheme_means,
    plot_series,
    scheme_label,
    theory_curves,
)
from gclib.schemes import GradientCodingScheme, NestedScheme
from gclib.schemes.parse import resolve_schemes

REFERENCE = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)


@pytest.fixture
def ax():
    import matplotlib.pyplot as plt

    fig, axes = new_figure()
    yield axes
    plt.close(fig)


def test_labels_and_level_sets_read_as_the_text_writes_them():
    assert scheme_label("gc:2") == "GC(2)"
    assert scheme_label("gc:0") == "GC(0)"
    assert scheme_label("nested-eager") == "nested-eager"
    assert scheme_label("p = 0.1") == "p = 0.1"  # not a scheme: unchanged
    assert scheme_label("ignore:1") == "ignore(1)"
    assert scheme_label("nested") == "nested"
    assert format_levels((4, 0, 2)) == "{0, 2, 4}"


def test_resolve_schemes_parses_names_and_drops_duplicates():
    schemes = resolve_schemes(["nested,gc:2", "gc:2", "uncoded"], s_max=4)
    assert [s.name for s in schemes] == ["nested", "gc:2", "uncoded"]
    assert schemes[0] == NestedScheme((0, 1, 2, 3, 4), 4)
    given = GradientCodingScheme(3, 4)
    assert resolve_schemes([given, "gc:3"], s_max=4) == (given,)
    with pytest.raises(ValueError, match="Argument 's_max'"):
        resolve_schemes("nested")
    with pytest.raises(ValueError, match="Argument 'schemes'"):
        resolve_schemes([])
    with pytest.raises(ValueError, match="more than s_max = 2"):
        resolve_schemes(given, s_max=2)
    with pytest.raises(ValueError, match="below n = 4"):
        resolve_schemes(given, n=4)
    with pytest.raises(ValueError, match="names one scheme twice"):
        resolve_schemes([NestedScheme((0, 1), 4), NestedScheme((0, 2), 4)])


def test_theory_curves_equal_the_theory_point_by_point():
    models = [gclib.RuntimeModel(1.0, 1.0, straggler_prob=p, slowdown=8.0) for p in (0.1, 0.3)]
    curves = theory_curves("latency", 10, "nested,gc:3", models, s_max=4)
    for index, model in enumerate(models):
        assert curves["nested"][index] == gclib.expected_latency(10, range(5), model)
        assert curves["gc:3"][index] == gclib.expected_latency(10, [3], model)
    tasks = theory_curves("tasks", 10, "gc:3", models, s_max=4)["gc:3"]
    assert tasks[0] == pytest.approx(gclib.expected_tasks_per_worker(10, [3], models[0]))
    with pytest.raises(ValueError, match="Argument 'quantity'"):
        theory_curves("speed", 10, "nested", models, s_max=4)
    with pytest.raises(ValueError, match="Argument 'models'"):
        theory_curves("latency", 10, "nested", [], s_max=4)


def test_latency_grid_reaches_the_upper_quantile_of_every_scheme():
    grid = latency_grid(10, "nested,uncoded", REFERENCE, upper=0.99, s_max=4)
    q_uncoded = gclib.latency_quantile(0.99, 10, [0], REFERENCE)
    assert grid[0] == 0.0 and grid[-1] == pytest.approx(q_uncoded)
    assert gclib.latency_cdf(grid[-1], 10, range(5), REFERENCE) >= 0.99
    with pytest.raises(ValueError, match="Argument 'upper'"):
        latency_grid(10, "nested", REFERENCE, upper=1.0, s_max=4)


def test_plot_series_names_schemes_as_the_text_and_marks_where_a_curve_turns_infinite(ax):
    x = np.array([0.1, 0.2, 0.3])
    plot_series(
        ax,
        x,
        {"nested": [1.0, 2.0, 3.0], "gc:2": [2.0, 3.0, math.inf]},
        monte_carlo={"nested": (x, [1.1, 2.1, 2.9], [0.1, 0.1, 0.1]), "streaming": (x, [1, 1, 1])},
    )
    labels = {line.get_label(): line for line in ax.get_lines()}
    assert {"nested", "GC(2)"} <= set(labels)
    assert np.allclose(labels["nested"].get_ydata(), [1.0, 2.0, 3.0])
    arrows = [text for text in ax.texts if text.arrow_patch is not None]
    assert len(arrows) == 1  # GC(2) jumps to inf between its second and third point
    assert arrows[0].xy == (0.3, 1.0)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["nested", "GC(2)", "streaming (Monte Carlo)", "Monte Carlo"]
    bars = ax.containers[0]  # the error bars of the nested estimates: ±1.96 standard errors
    segments = bars.lines[2][0].get_segments()
    assert np.allclose([seg[1][1] - seg[0][1] for seg in segments], 2 * 1.96 * 0.1)
    with pytest.raises(ValueError, match="Monte Carlo estimate"):
        plot_series(ax, x, {}, monte_carlo={"nested": (x,)})
    with pytest.raises(ValueError, match="Argument 'where'"):
        plot_series(ax, x, {"nested": [1.0, 2.0, 3.0]}, legend="above")


def test_plot_latency_cdfs_draws_the_exact_distribution(ax):
    t = np.linspace(0.0, 40.0, 50)
    plot_latency_cdfs(ax, 10, "gc:4", REFERENCE, t=t, s_max=4)
    exact = gclib.latency_cdf(t, 10, [4], REFERENCE)
    drawn = [line for line in ax.get_lines() if len(line.get_xdata()) == len(t)]
    assert any(np.allclose(line.get_ydata(), exact) for line in drawn)


def test_plot_level_sets_annotates_each_set_unless_told_not_to(ax):
    best = [((4,), 12.7), ((1, 4), 10.3), ((0, 2, 4), 9.4)]
    plot_level_sets(ax, best, references={"gc:4": 12.7})
    texts = sorted(text.get_text() for text in ax.texts)
    assert texts == ["{0, 2, 4}", "{1, 4}", "{4}"]
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [1, 2, 3]
    assert list(line.get_ydata()) == [12.7, 10.3, 9.4]
    ax.clear()
    plot_level_sets(ax, best, annotate=False)
    assert not ax.texts
    with pytest.raises(ValueError, match="Argument 'best'"):
        plot_level_sets(ax, [])


def test_mean_and_interval_is_the_normal_95_percent_interval_of_the_finite_values():
    values = [1.0, 2.0, 4.0, math.inf]
    mean, half = mean_and_interval(values)
    assert mean == pytest.approx(7 / 3)
    assert half == pytest.approx(1.96 * np.std([1.0, 2.0, 4.0], ddof=1) / math.sqrt(3))
    assert mean_and_interval([5.0]) == (5.0, 0.0)
    assert math.isnan(mean_and_interval([math.inf])[0])


def test_plot_scheme_means_draws_a_column_per_scheme(ax):
    samples = {"nested": [8.0, 9.0, 10.0], "gc:2": [15.0, 21.0], "uncoded": [math.inf]}
    plot_scheme_means(ax, samples, reference={"nested": 8.8, "gc:2": 18.3, "uncoded": None})
    assert [label.get_text() for label in ax.get_xticklabels()] == ["nested", "GC(2)", "uncoded"]
    means = [container.lines[0].get_ydata()[0] for container in ax.containers]
    assert means == pytest.approx([9.0, 18.0])  # uncoded never finished: no mean drawn
    predicted = [
        line.get_ydata()[0]
        for line in ax.get_lines()
        if line.get_markerfacecolor() == "white" and len(line.get_ydata())
    ]
    assert predicted == pytest.approx([8.8, 18.3])
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["measured (pool), 95% CI", "predicted"]
    with pytest.raises(ValueError, match="Argument 'samples'"):
        plot_scheme_means(ax, {})
