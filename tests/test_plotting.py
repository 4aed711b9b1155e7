"""The figure style and the plotting helpers shared by the book and the CLI."""

from __future__ import annotations

import itertools
import subprocess
import sys
import xml.etree.ElementTree as ET

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex, to_rgb  # noqa: E402

import gclib.plotting as _plotting  # noqa: E402
from gclib.plotting import (  # noqa: E402
    new_figure,
    plot_cdf,
    plot_grouped_bars,
    plot_matrix,
    plot_series,
    save_figure,
    scheme_color,
    scheme_style,
    use_style,
)

OKABE_ITO = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}
SCHEMES = ["uncoded", "gc:1", "gc:2", "gc:3", "gc:4", "gc:5", "nested", "ignore:1", "ignore:2"]
SCHEMES += ["ignore:3", "streaming", "cover", "nested-eager", "coverage bound"]

# Machado, Oliveira & Fernandes (2009), full-severity simulation matrices on linear RGB.
COLOUR_VISION = {
    "normal": np.eye(3),
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),
    "tritanopia": np.array(
        [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ]
    ),
}


def _lab(color: str, vision: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a colour as seen with the given colour-vision matrix."""
    srgb = np.array(to_rgb(color))
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    linear = np.clip(vision @ linear, 0.0, 1.0)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    ratio = (xyz @ linear) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(ratio > (6 / 29) ** 3, np.cbrt(ratio), ratio / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_importing_gclib_does_not_import_matplotlib():
    code = (
        "import sys, gclib, gclib.plotting.style, gclib.cli.main\n"
        "loaded = [m for m in ('matplotlib', 'seaborn') if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_use_style_applies_the_theme_and_palette():
    matplotlib.rcdefaults()
    use_style()
    params = matplotlib.rcParams
    cycle = [to_hex(color) for color in params["axes.prop_cycle"].by_key()["color"]]
    assert len(cycle) >= 6
    assert set(cycle) <= OKABE_ITO, "the colour cycle must come from the Okabe-Ito palette"
    assert "#f0e442" not in cycle, "yellow is unreadable as a line on white"
    assert params["axes.grid"] is True
    assert to_hex(params["axes.facecolor"]) == "#ffffff"
    assert params["savefig.dpi"] >= 150
    width, height = params["figure.figsize"]
    assert 4 <= width <= 10 and 2.5 <= height <= 8
    assert params["font.size"] >= 9
    use_style()  # applying it twice changes nothing
    assert [to_hex(c) for c in params["axes.prop_cycle"].by_key()["color"]] == cycle


def test_new_figure_applies_the_style_once_per_process():
    code = (
        "import matplotlib; matplotlib.use('Agg')\n"
        "from gclib.plotting.style import new_figure, scheme_color\n"
        "fig, ax = new_figure()\n"
        "print(matplotlib.rcParams['axes.grid'], ax.get_facecolor() == (1, 1, 1, 1))\n"
        "matplotlib.rcParams['lines.linewidth'] = 7.0\n"
        "new_figure()\n"
        "print(matplotlib.rcParams['lines.linewidth'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "True", "7.0"]


def test_use_style_rejects_an_unknown_context():
    with pytest.raises(ValueError, match="Argument 'context' must be one of"):
        use_style("huge")


def test_scheme_colours_are_distinct_also_with_colour_blindness():
    colours = {name: scheme_color(name) for name in SCHEMES}
    assert len(set(colours.values())) == len(SCHEMES)
    for vision_name, vision in COLOUR_VISION.items():
        for first, second in itertools.combinations(SCHEMES, 2):
            distance = np.linalg.norm(_lab(colours[first], vision) - _lab(colours[second], vision))
            assert distance >= 8, (
                f"{first} and {second} look alike with {vision_name} ({distance:.1f})"
            )


def test_levels_get_darker_with_s_so_they_read_in_grey():
    for family, top in (("gc", 7), ("ignore", 4)):
        lightness = [_lab(scheme_color(f"{family}:{s}"), np.eye(3))[0] for s in range(1, top + 1)]
        assert all(np.diff(lightness) < -3), f"{family}: lightness {np.round(lightness, 1)}"


def test_scheme_styles_are_stable_and_normalised():
    forward = [scheme_style(name) for name in SCHEMES]
    backward = [scheme_style(name) for name in reversed(SCHEMES)][::-1]
    assert forward == backward
    code = "from gclib.plotting.style import scheme_color as c; print(c('nested'), c('gc:3'))"
    other_process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert other_process.stdout.split() == [scheme_color("nested"), scheme_color("gc:3")]
    assert scheme_color(" Nested ") == scheme_color("nested")
    assert scheme_color("GC:2") == scheme_color("gc:2")
    assert scheme_color("coverage  bound") == scheme_color("coverage bound")
    assert scheme_style("gc:0") == scheme_style("uncoded")
    assert scheme_color("gc:40") == scheme_color("gc:7")  # beyond the ramp: its darkest shade
    style = scheme_style("nested")
    style["color"] = "red"
    assert scheme_color("nested") != "red", "callers must not be able to change the style"
    styles = {
        (s["linestyle"] if isinstance(s["linestyle"], str) else str(s["linestyle"]), s["marker"])
        for s in forward
    }
    assert len(styles) == len(SCHEMES), "line style and marker must tell schemes apart in print"


@pytest.mark.parametrize("name", ["", "gc", "gc:-1", "gc:x", "mds:2", "nested:2"])
def test_scheme_style_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="Argument 'name' must be a scheme name"):
        scheme_style(name)
    with pytest.raises(TypeError):
        scheme_color(3)


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg", ".PNG"])
def test_save_figure_writes_a_valid_file(tmp_path, suffix):
    fig, ax = new_figure(width=4, height=3)
    ax.plot([0, 1, 2], [1, 0, 1])
    path = save_figure(fig, tmp_path / "deep" / "er" / f"figure{suffix}")
    assert path == tmp_path / "deep" / "er" / f"figure{suffix}"
    data = path.read_bytes()
    kind = suffix.lower()
    if kind == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        image = plt.imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400
    elif kind == ".pdf":
        assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    else:
        root = ET.fromstring(data)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.parametrize("name", ["figure.jpg", "figure", "figure.png.txt"])
def test_save_figure_rejects_an_unknown_suffix(tmp_path, name):
    fig, _ = new_figure()
    with pytest.raises(ValueError, match=r"Argument 'path' must end in \.png, \.pdf or \.svg"):
        save_figure(fig, tmp_path / "out" / name)
    assert not (tmp_path / "out").exists(), "nothing is created for a rejected path"


def test_save_figure_can_close_the_figure(tmp_path):
    fig, _ = new_figure()
    save_figure(fig, tmp_path / "a.png", close=True)
    assert not plt.fignum_exists(fig.number)


def test_new_figure_sizes_and_validation():
    fig, axes = new_figure(2, 3, width=6, height=5, sharex=True)
    assert axes.shape == (2, 3)
    assert tuple(fig.get_size_inches()) == (6, 5)
    # a wider figure is scaled down to the widest of the style, its height less
    fig, _ = new_figure(1, 2, width=13.6, height=4)
    assert tuple(fig.get_size_inches()) == pytest.approx((6.8, 4 * 0.5**0.5))
    for bad in ({"nrows": 0}, {"ncols": 1.5}, {"width": -1}, {"height": 0}, {"width": 1e3}):
        with pytest.raises(ValueError, match="Argument"):
            new_figure(**bad)


def test_a_legend_below_takes_more_rows_rather_than_outgrow_the_figure():
    fig, axes = new_figure(1, 2, width=13.6, height=4)
    for k in range(6):
        axes[0].plot([0, 1], [k, k], label=f"a rather long legend entry number {k}")
    _plotting.place_legend(axes[0], "below")
    (legend,) = fig.legends
    fig.canvas.draw()
    assert legend.get_window_extent().width <= fig.bbox.width
    assert legend._ncols < 4
    plt.close(fig)


def test_point_labels_keep_clear_of_markers_lines_and_each_other():
    from gclib.plotting.latency import plot_latency_against_uploads, plot_level_sets

    fig, (left, right) = new_figure(1, 2)
    # GC(1) and GC(2) nearly on top of each other, as in the book at p = 0.05
    points = {"uncoded": (1.0, 9.1), "gc:1": (0.9, 7.6), "gc:2": (0.8, 7.65),
              "gc:3": (0.7, 8.8), "gc:4": (0.6, 10.2), "nested": (0.93, 5.0),
              "cover": (0.67, 3.7), "streaming": (1.42, 3.7)}  # fmt: skip
    plot_latency_against_uploads(left, points, bound=3.7)
    left.set_xlim(0, 2.0)  # after the labels: they are placed when the figure is drawn
    best = [((1,), 7.6), ((0, 2), 5.7), ((0, 1, 3), 5.2), ((0, 1, 2, 3), 5.05)]
    best += [((0, 1, 2, 3, 4), 5.05)]
    plot_level_sets(right, best)
    right.axhline(4.86, linestyle=":")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in (left, right):
        boxes = [text.get_window_extent(renderer) for text in ax.texts]
        assert len(boxes) == len(ax.texts) > 0
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b)
        for line in ax.get_lines():
            centres = line.get_transform().transform(line.get_xydata())
            for box in boxes:
                inside = (box.x0 < centres[:, 0]) & (centres[:, 0] < box.x1)
                inside &= (box.y0 < centres[:, 1]) & (centres[:, 1] < box.y1)
                assert not inside.any()
    plt.close(fig)


def test_plot_series_colours_lines_and_monte_carlo_markers_by_scheme():
    fig, ax = new_figure()
    x = np.array([0.0, 0.1, 0.2])
    plot_series(
        ax,
        x,
        {"uncoded": [3.0, 4.0, np.inf], "nested": [1.0, 1.5, 2.0], "measured": [2.0, 2.0, 2.0]},
        monte_carlo={"nested": (x, [1.1, 1.4, 2.1])},
        xlabel="p",
        ylabel="E[T]",
    )
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert to_hex(lines["uncoded"].get_color()) == scheme_color("uncoded").lower()
    assert to_hex(lines["nested"].get_color()) == scheme_color("nested").lower()
    assert np.isnan(lines["uncoded"].get_ydata()[2]), "an infinite mean leaves a gap"
    markers = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    assert len(markers) == 1
    assert to_hex(markers[0].get_color()) == scheme_color("nested").lower()
    np.testing.assert_array_equal(markers[0].get_ydata(), [1.1, 1.4, 2.1])
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["uncoded", "nested", "measured", "Monte Carlo"]
    assert ax.get_xlabel() == "p" and ax.get_ylabel() == "E[T]"
    with pytest.raises(ValueError, match="must have the shape of 'x'"):
        plot_series(ax, x, {"nested": [1.0, 2.0]})


def test_plot_cdf_draws_the_empirical_distribution():
    fig, ax = new_figure()
    t = np.linspace(0, 5, 11)
    plot_cdf(
        ax, "gc:2", exact=(t, 1 - np.exp(-t)), samples={"Monte Carlo": [3.0, 1.0, np.inf, 2.0]}
    )
    exact, empirical = ax.get_lines()
    assert (
        to_hex(exact.get_color()) == to_hex(empirical.get_color()) == scheme_color("gc:2").lower()
    )
    # Steps at the sorted finite samples; the unfinished run keeps the top at 3/4.
    xs, ys = empirical.get_data()
    assert empirical.get_drawstyle() == "steps-post"
    np.testing.assert_array_equal(xs, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(ys, [0.25, 0.5, 0.75])
    with pytest.raises(ValueError, match="nothing to draw"):
        plot_cdf(ax, "nested")


def test_plot_matrix_masks_zeros_and_annotates():
    fig, ax = new_figure()
    matrix = np.array([[1.0, -0.5, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 3.0]])
    plot_matrix(ax, matrix, annotate=".1f")
    mesh = ax.collections[0]
    shown = mesh.get_array()
    assert np.ma.count_masked(shown) == 3, "the three zeros are left blank"
    texts = sorted(text.get_text() for text in ax.texts)
    expected = sorted(format(value, ".1f") for value in matrix.ravel() if value != 0)
    assert texts == expected
    vmin, vmax = mesh.get_clim()
    assert vmin == -vmax == -3.0, "signed entries get a colour map centred at zero"
    fig, ax = new_figure()
    plot_matrix(ax, np.arange(1, 5).reshape(2, 2), annotate="d", colorbar=False)
    assert sorted(text.get_text() for text in ax.texts) == ["1", "2", "3", "4"]
    with pytest.raises(ValueError, match="must be a non-empty 2-D array"):
        plot_matrix(ax, [1.0, 2.0])


def test_plot_grouped_bars_draws_one_bar_per_group_and_series():
    fig, ax = new_figure()
    plot_grouped_bars(
        ax,
        ["n=6", "n=8"],
        {"gc:2": [2.0, 3.0], "nested": [1.0, 1.5]},
        errors={"nested": [0.1, 0.2]},
        ylabel="latency",
    )
    bars = ax.patches
    assert len(bars) == 4
    assert [bar.get_height() for bar in bars] == [2.0, 3.0, 1.0, 1.5]
    assert to_hex(bars[0].get_facecolor()) == scheme_color("gc:2").lower()
    assert to_hex(bars[2].get_facecolor()) == scheme_color("nested").lower()
    assert [label.get_text() for label in ax.get_xticklabels()] == ["n=6", "n=8"]
    with pytest.raises(ValueError, match="one height per group"):
        plot_grouped_bars(ax, ["a", "b"], {"nested": [1.0]})
    with pytest.raises(ValueError, match="at least one series"):
        plot_grouped_bars(ax, ["a"], {})


def test_every_public_helper_is_listed():
    assert set(_plotting.__all__) >= {"use_style", "scheme_color", "new_figure", "save_figure"}
    for name in _plotting.__all__:
        assert hasattr(_plotting, name)
    # every public helper of a plotting module is re-exported by the package
    for module in ("style", "series", "matrix", "codes", "timeline", "latency", "text"):
        submodule = __import__(f"gclib.plotting.{module}", fromlist=["__all__"])
        assert set(submodule.__all__) <= set(_plotting.__all__), module


def test_the_text_states_a_scenario_from_its_objects():
    import math

    import gclib
    from gclib.plotting import describe_scenario, format_value, markdown_table

    model = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
    assert describe_scenario(10, model, range(5)) == (
        "$n = 10$, $S = \\{0, \\dots, 4\\}$, $a = \\mu = 1$, $p = 0.2$, $\\kappa = 8$"
    )
    fixed = gclib.RuntimeModel(1.0, 2.0, stragglers=2, slowdown=math.inf, upload_cost=0.5)
    assert describe_scenario(None, fixed, (0, 2)) == (
        "$S = \\{0, 2\\}$, $a = 1$, $\\mu = 2$, $\\sigma = 2$, $\\kappa = \\infty$, "
        "$c_{\\text{up}} = 0.5$"
    )
    with pytest.raises(TypeError, match="RuntimeModel"):
        describe_scenario(10, "fast")
    assert format_value((8.79, 0.051), ".2f") == "8.79 ± 0.05"
    assert format_value(math.inf) == "∞" and format_value(None) == "—"
    table = markdown_table(
        {"gc:2": (1.0, 2.5), "coverage bound": (0.5, None)}, ["scheme", "a", "b"]
    )
    assert table.splitlines()[2] == "| GC(2) | 1.00 | 2.50 |"
    assert table.splitlines()[3] == "| coverage bound | 0.50 | — |"
    with pytest.raises(ValueError, match="must hold 2 values"):
        markdown_table({"nested": (1.0,)}, ["scheme", "a", "b"])
