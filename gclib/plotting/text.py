r"""Numbers, level sets and tables as the text writes them, and gluing them into the book.

The book never types a computed number: a chapter computes it with gclib and *glues* it into the
text with ``myst_nb.glue``. :func:`glue_values` glues many values at once and :func:`glue_table`
a whole table whose rows are schemes, named by their labels (``GC(2)``, ``nested``). Both import
``myst_nb`` only when called, so the rest of gclib does not need it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gclib._verify import check_integer
from gclib.model import RuntimeModel
from gclib.plotting.style import scheme_label

if TYPE_CHECKING:
    from gclib.schemes import Scheme

__all__ = [
    "latex_scientific",
    "format_levels",
    "describe_scenario",
    "format_value",
    "markdown_table",
    "glue_values",
    "glue_table",
]


def latex_scientific(value: float, digits: int = 1) -> str:
    r"""``value`` in scientific notation as inline TeX, e.g. ``$2.9 \times 10^{-11}$``.

    Numbers whose exponent is 0 keep plain decimal form (``$3.5$``); a mantissa of exactly 1
    with ``digits=0`` is dropped (``$10^{-8}$``); non-finite values become ``$\infty$``,
    ``$-\infty$`` or ``NaN``. Glue the result as Markdown (``{glue:md}`` in the text), so that
    its TeX is typeset.

    Args:
        value: the number.
        digits: the digits after the decimal point of the mantissa.
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


def format_levels(levels: Sequence[int]) -> str:
    """A level set as the text writes it, e.g. ``{0, 2, 4}``."""
    return "{" + ", ".join(str(int(s)) for s in sorted(levels)) + "}"


def _tex_levels(levels: Sequence[int]) -> str:
    """``\\{0, \\dots, 4\\}`` for a run of four or more consecutive levels, else the list."""
    values = sorted(int(s) for s in levels)
    if len(values) >= 4 and values == list(range(values[0], values[-1] + 1)):
        return f"\\{{{values[0]}, \\dots, {values[-1]}\\}}"
    return "\\{" + ", ".join(map(str, values)) + "\\}"


def describe_scenario(
    n: int | None, model: RuntimeModel, levels: Sequence[int] | None = None
) -> str:
    r"""A scenario as the text writes it, in inline TeX, from the objects that define it: e.g.
    ``$n = 10$, $S = \{0, \dots, 4\}$, $a = \mu = 1$, $p = 0.2$, $\kappa = 8$``.

    Glue the result as Markdown (``{glue:md}`` in the text, also in figure captions), so that
    the parameters a caption states are the ones the figure was computed with.

    Args:
        n: the number of workers (``None``: not stated).
        model: the runtime model; its straggler model, crashes and message costs are stated
            when they are not the defaults.
        levels: the level set (``None``: not stated).
    """
    if not isinstance(model, RuntimeModel):
        raise TypeError(f"Argument 'model' must be a RuntimeModel, not {type(model).__name__}.")

    def number(value: float) -> str:
        return "\\infty" if math.isinf(value) else f"{value:g}"

    parts = [] if n is None else [f"$n = {int(n)}$"]
    if levels is not None:
        parts.append(f"$S = {_tex_levels(levels)}$")
    if model.shift == model.rate:
        parts.append(f"$a = \\mu = {number(model.shift)}$")
    else:
        parts += [f"$a = {number(model.shift)}$", f"$\\mu = {number(model.rate)}$"]
    if model.stragglers is not None:
        parts.append(f"$\\sigma = {model.stragglers}$")
    elif model.straggler_prob > 0:
        parts.append(f"$p = {number(model.straggler_prob)}$")
    if model.stragglers or model.straggler_prob > 0:
        parts.append(f"$\\kappa = {number(model.slowdown)}$")
    if model.crash_prob > 0:
        parts.append(f"$\\rho = {number(model.crash_prob)}$")
    if model.upload_cost > 0:
        parts.append(f"$c_{{\\text{{up}}}} = {number(model.upload_cost)}$")
    if model.signal_cost > 0:
        parts.append(f"$c_{{\\text{{sig}}}} = {number(model.signal_cost)}$")
    if getattr(model, "shared_link", False):
        parts.append("a shared link")
    return ", ".join(parts)


def format_value(value: Any, spec: str = ".2f") -> str:
    """One table cell: a number in the format ``spec`` (``∞`` for an infinite one), a pair
    ``(mean, half_width)`` as ``mean ± half_width``, ``None`` as a dash, anything else as text.

    Args:
        value: the value.
        spec: a format specification for numbers, such as ``".2f"``.
    """
    import numpy as np

    if value is None:
        return "—"
    if isinstance(value, tuple) and len(value) == 2:
        return f"{format_value(value[0], spec)} ± {format_value(value[1], spec)}"
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        number = float(value)
        if math.isinf(number):
            return "∞" if number > 0 else "−∞"
        return format(number, spec)
    return str(value)


def markdown_table(
    rows: Mapping[Scheme | str, Sequence[Any]],
    header: Sequence[str],
    formats: Sequence[str] | str = ".2f",
) -> str:
    """A Markdown table with one row per scheme, named by its label (``GC(2)``); other row keys
    are written as they are.

    Args:
        rows: scheme (or label) → the values of the other columns.
        header: the column headings, the first one for the row names (Markdown, so ``$T$``
            is typeset when the table is glued as Markdown).
        formats: one format specification per value column, or one for all
            (see :func:`format_value`).

    Returns:
        The table as Markdown text.
    """
    columns = len(header) - 1
    specs = [formats] * columns if isinstance(formats, str) else list(formats)
    if len(specs) != columns:
        raise ValueError(
            f"Argument 'formats' must hold {columns} specifications, not {len(specs)}."
        )
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":--"] + ["--:"] * columns) + "|"]
    for key, values in rows.items():
        values = list(values)
        if len(values) != columns:
            raise ValueError(f"Row {key!r} must hold {columns} values, not {len(values)}.")
        cells = [scheme_label(key)] + [
            format_value(v, s) for v, s in zip(values, specs, strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers, so that the text formats them like Python's."""
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value


def glue_values(
    values: Mapping[str, Any] | None = None, /, *, prefix: str = "", **more: Any
) -> None:
    """Glue values for the text of a chapter, without displaying them.

    Each value is glued under ``prefix + name`` with ``myst_nb.glue(..., display=False)``;
    NumPy scalars become Python numbers, an ``IPython.display.Markdown`` stays Markdown (insert
    it with ``{glue:md}``), everything else is glued as it is (insert it with ``{glue:text}``,
    e.g. ``{glue:text}`name:.2f```).

    Args:
        values: name → value.
        prefix: put before every name (e.g. ``"ref-"``).
        more: further name → value pairs, for names that are Python identifiers.
    """
    from myst_nb import glue

    for name, value in {**(values or {}), **more}.items():
        glue(f"{prefix}{name}", _plain(value), display=False)


def glue_table(
    name: str,
    rows: Mapping[Scheme | str, Sequence[Any]],
    header: Sequence[str],
    formats: Sequence[str] | str = ".2f",
) -> str:
    """Glue a :func:`markdown_table` under ``name``, for a ``{glue:md}`` block with
    ``:format: myst`` in the text; returns its Markdown.

    Args:
        name: the glue key.
        rows: scheme (or label) → the values of the other columns.
        header: the column headings.
        formats: the format specifications of the value columns.
    """
    from IPython.display import Markdown

    text = markdown_table(rows, header, formats)
    glue_values({name: Markdown(text)})
    return text
