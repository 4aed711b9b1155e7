"""The schemes gclib compares, all on the same cyclic placement and task order.

- ``nested``: the nested gradient code with level set ``S`` (progress signals, one upload).
- ``gc:s``: the classic gradient code GC(s); a worker uploads after its ``s+1`` tasks.
- ``uncoded``: ``B = I``; the master waits for all ``n`` workers (GC(0)).
- ``ignore:s``: uncoded, but the master sums the first ``n − s`` partial gradients and rescales
  by ``n/(n − s)``: fast and inexact.
- ``streaming``: every partial gradient is uploaded as soon as it is computed; the master
  finishes when every partition has arrived (the coverage bound of the placement).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Scheme", "parse_scheme", "parse_schemes", "parse_levels", "resolve_schemes"]

_KINDS = ("nested", "gc", "uncoded", "ignore", "streaming")
_SCHEME_HELP = "nested, uncoded, gc:S, ignore:S or streaming"


@dataclass(frozen=True)
class Scheme:
    """A scheme on the cyclic placement with windows of ``s_max + 1`` partitions.

    Attributes:
        kind: one of ``nested``, ``gc``, ``uncoded``, ``ignore``, ``streaming``.
        levels: the tolerances the master may decode with: ``S`` for nested, ``(s,)`` for GC(s)
            and ignore-stragglers(s), ``(0,)`` for uncoded, ``()`` for streaming.
        s_max: the placement's largest tolerance; every worker stores ``s_max + 1`` partitions.
    """

    kind: str
    levels: tuple[int, ...]
    s_max: int

    @property
    def name(self) -> str:
        if self.kind in ("gc", "ignore"):
            return f"{self.kind}:{self.levels[0]}"
        return self.kind

    @property
    def exact(self) -> bool:
        """Whether the master recovers the full gradient exactly."""
        return self.kind != "ignore"

    @property
    def tasks_per_worker(self) -> int:
        """The most tasks a worker computes in one iteration."""
        if self.kind in ("uncoded", "ignore"):
            return 1
        if self.kind == "streaming":
            return self.s_max + 1
        return max(self.levels) + 1

    @property
    def uses_signals(self) -> bool:
        """Nested workers signal progress and upload on request; others upload eagerly."""
        return self.kind == "nested"

    @property
    def uploads_each_task(self) -> bool:
        return self.kind == "streaming"

    def __str__(self) -> str:
        return self.name


def parse_levels(text: str | Iterable[int] | None, s_max: int) -> tuple[int, ...]:
    """Parse a level set such as ``"0,1,3"`` or ``"0-4"``; ``None`` or ``"all"`` is ``0..s_max``."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "all")):
        return tuple(range(s_max + 1))
    if isinstance(text, str):
        values: list[int] = []
        for part in text.split(","):
            part = part.strip()
            try:
                if "-" in part[1:]:
                    low, high = part.split("-", 1)
                    values.extend(range(int(low), int(high) + 1))
                else:
                    values.append(int(part))
            except ValueError:
                raise ValueError(
                    f"Argument 'levels' must be a comma list of integers or ranges like "
                    f"'0,2,4' or '0-4', not {text!r}."
                ) from None
    else:
        values = list(text)
    if not values:
        raise ValueError("Argument 'levels' must name at least one level.")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= s_max:
            raise ValueError(
                f"Argument 'levels' must hold integers in [0, s_max] = [0, {s_max}], not {value!r}."
            )
    return tuple(sorted(set(values)))


def parse_scheme(
    text: str, s_max: int, levels: Sequence[int] | None = None, n: int | None = None
) -> Scheme:
    """Parse one scheme name (``nested``, ``uncoded``, ``gc:S``, ``ignore:S``, ``streaming``)."""
    if not isinstance(text, str):
        raise ValueError(f"Argument 'scheme' must be a string like 'gc:2', not {text!r}.")
    name = text.strip().lower()
    kind, _, arg = name.partition(":")
    if kind not in _KINDS:
        raise ValueError(f"Argument 'scheme' must be one of {_SCHEME_HELP}, not {text!r}.")
    if kind in ("gc", "ignore"):
        try:
            s = int(arg)
        except ValueError:
            raise ValueError(
                f"Argument 'scheme' {text!r} needs an integer tolerance, as in '{kind}:2'."
            ) from None
        upper = s_max if kind == "gc" else (n - 1 if n is not None else None)
        if s < 0 or (upper is not None and s > upper):
            bound = "s_max" if kind == "gc" else "n - 1"
            raise ValueError(
                f"Argument 'scheme' {text!r} needs a tolerance in [0, {bound}] = [0, {upper}]."
            )
        return Scheme(kind, (s,), s_max)
    if arg:
        raise ValueError(f"Argument 'scheme' {text!r}: {kind!r} takes no ':' parameter.")
    if kind == "nested":
        return Scheme("nested", parse_levels(levels, s_max), s_max)
    if kind == "uncoded":
        return Scheme("uncoded", (0,), s_max)
    return Scheme("streaming", (), s_max)


def parse_schemes(
    text: str | Sequence[str], s_max: int, levels: Sequence[int] | None = None, n: int | None = None
) -> tuple[Scheme, ...]:
    """Parse a comma list of schemes; duplicates are dropped, order kept."""
    items = text.split(",") if isinstance(text, str) else list(text)
    schemes: list[Scheme] = []
    for item in items:
        if not str(item).strip():
            continue
        scheme = parse_scheme(str(item), s_max, levels, n)
        if scheme not in schemes:
            schemes.append(scheme)
    if not schemes:
        raise ValueError(f"Argument 'schemes' must name at least one of {_SCHEME_HELP}.")
    return tuple(schemes)


def resolve_schemes(
    schemes: Scheme | str | Sequence[Scheme | str],
    s_max: int | None = None,
    levels: Sequence[int] | None = None,
    n: int | None = None,
) -> tuple[Scheme, ...]:
    """Schemes from :class:`Scheme` objects or names (``"nested,gc:2"``, ...), duplicates dropped.

    Args:
        schemes: one scheme, a name or comma list of names, or a sequence of them.
        s_max: the placement's largest tolerance: needed to parse names, and the most a given
            :class:`Scheme` may use.
        levels: the nested level set when parsing ``"nested"`` (default ``0..s_max``).
        n: the number of workers, when known: every tolerance must be below it.
    """
    items = [schemes] if isinstance(schemes, Scheme | str) else list(schemes)
    result: list[Scheme] = []
    for item in items:
        if isinstance(item, Scheme):
            parsed: tuple[Scheme, ...] = (item,)
            if s_max is not None and item.s_max > s_max:
                raise ValueError(
                    f"Scheme {item.name} needs s_max = {item.s_max}, more than s_max = {s_max}."
                )
        elif isinstance(item, str):
            if s_max is None:
                raise ValueError(
                    f"Argument 's_max' is needed to parse the scheme name {item!r} "
                    "(the placement's largest tolerance)."
                )
            parsed = parse_schemes(item, s_max, levels, n)
        else:
            raise ValueError(f"Argument 'schemes' must hold Schemes or names, not {item!r}.")
        for scheme in parsed:
            if n is not None and scheme.s_max >= n:
                raise ValueError(f"Argument 's_max' must be below n = {n}, not {scheme.s_max}.")
            if n is not None and scheme.levels and max(scheme.levels) >= n:
                raise ValueError(f"Scheme {scheme.name} needs tolerances below n = {n}.")
            if scheme not in result:
                result.append(scheme)
    if not result:
        raise ValueError(f"Argument 'schemes' must name at least one of {_SCHEME_HELP}.")
    names = [scheme.name for scheme in result]
    if len(set(names)) != len(names):
        raise ValueError(f"Argument 'schemes' names one scheme twice in {names}.")
    return tuple(result)
