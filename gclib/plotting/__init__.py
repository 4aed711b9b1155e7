"""The figures of gclib: one style and every plotting helper the book and ``--plot`` share.

- the style: :func:`use_style`, :func:`new_figure`,
  :func:`save_figure`, and the colour, line style, marker and label of every scheme
  (:func:`scheme_style`, :func:`scheme_label`), read from the scheme objects;
- generic drawing: lines with Monte Carlo markers (:func:`plot_series`), distributions
  (:func:`plot_cdf`), heat maps (:func:`plot_matrix`), grouped bars (:func:`plot_grouped_bars`);
- the codes: encoding matrices, nested supports and decoding accuracy;
- one iteration of the worker pool as a timeline;
- latency: exact curves along a parameter sweep (:func:`theory_curves`), distributions, latency
  against uploads, the best level sets, measured against predicted means;
- training curves (:func:`plot_training`);
- numbers and tables for the text of the book (:func:`glue_values`, :func:`glue_table`).

matplotlib and seaborn are imported only when a figure is drawn: importing this package is cheap.
"""

from gclib.plotting.codes import (
    DecodingAccuracy,
    decoding_accuracy,
    nested_level_map,
    plot_encoding_matrix,
    plot_nested_supports,
)
from gclib.plotting.latency import (
    QUANTITIES,
    latency_grid,
    mean_and_interval,
    plot_latency_against_uploads,
    plot_latency_cdfs,
    plot_level_sets,
    plot_scheme_means,
    theory_curves,
)
from gclib.plotting.matrix import plot_matrix
from gclib.plotting.series import plot_cdf, plot_grouped_bars, plot_series
from gclib.plotting.style import (
    FIGURE_SUFFIXES,
    PALETTE,
    as_scheme,
    new_figure,
    place_legend,
    save_figure,
    scheme_color,
    scheme_label,
    scheme_style,
    series_style,
    use_style,
)
from gclib.plotting.text import (
    describe_scenario,
    format_levels,
    format_value,
    glue_table,
    glue_values,
    latex_scientific,
    markdown_table,
)
from gclib.plotting.timeline import (
    IterationTimeline,
    TaskBar,
    iteration_timeline,
    plot_iteration_timeline,
)
from gclib.plotting.training import plot_training

__all__ = [
    # the style
    "PALETTE",
    "FIGURE_SUFFIXES",
    "use_style",
    "new_figure",
    "save_figure",
    "place_legend",
    "as_scheme",
    "scheme_style",
    "scheme_color",
    "scheme_label",
    "series_style",
    # generic drawing
    "plot_series",
    "plot_cdf",
    "plot_matrix",
    "plot_grouped_bars",
    # the codes
    "DecodingAccuracy",
    "decoding_accuracy",
    "nested_level_map",
    "plot_encoding_matrix",
    "plot_nested_supports",
    # one pool iteration
    "TaskBar",
    "IterationTimeline",
    "iteration_timeline",
    "plot_iteration_timeline",
    # latency
    "QUANTITIES",
    "theory_curves",
    "latency_grid",
    "plot_latency_cdfs",
    "plot_latency_against_uploads",
    "plot_level_sets",
    "mean_and_interval",
    "plot_scheme_means",
    # training
    "plot_training",
    # numbers and tables for the text
    "latex_scientific",
    "format_levels",
    "describe_scenario",
    "format_value",
    "markdown_table",
    "glue_values",
    "glue_table",
]
