"""Plain-text tables whose columns are as wide as their widest cell, and numbers that fit them."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

__all__ = ["number", "print_table"]

# from here on a number is written in scientific notation: 1.23e+09, not 1234567890.12
_LARGE = 1e5


def number(value: float | None, digits: int = 2, spec: str = "f") -> str:
    """``value`` with ``digits`` decimals (``spec`` ``"f"``) or significant digits (``"e"``):
    ``-`` for ``None``, ``inf``, ``nan``; large values and small non-zero ones in scientific
    notation, so that a cell stays short and a small probability is not shown as zero."""
    if value is None:
        return "-"
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if spec == "e":
        return f"{value:.{digits}e}"
    if abs(value) >= _LARGE or 0 < abs(value) < 10 ** (-digits):
        return f"{value:.{max(digits - 1, 1)}e}"
    return f"{value:.{digits}f}"


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    left: Collection[int] = (0,),
    rule: bool = False,
) -> None:
    """Print ``columns`` and ``rows``, the columns ``left`` left-aligned and the others
    right-aligned, two spaces apart; ``rule`` draws a line below the header."""
    table = [list(columns), *(list(map(str, row)) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for index, cells in enumerate(table):
        padded = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        print("  ".join(padded).rstrip())
        if rule and index == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
