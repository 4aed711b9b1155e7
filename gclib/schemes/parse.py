"""Scheme names: ``nested``, ``uncoded``, ``gc:S``, ``ignore:S``, ``streaming``, ``cover`` and
``nested-eager``, parsed into scheme objects. This module and the classes themselves are the only
places that know the names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gclib.schemes.base import Scheme
from gclib.schemes.coded import (
    GradientCodingScheme,
    IgnoreStragglersScheme,
    NestedEagerScheme,
    NestedScheme,
    UncodedScheme,
)
from gclib.schemes.coverage import CoverScheme, StreamingScheme

__all__ = ["parse_scheme", "parse_schemes", "parse_levels", "resolve_schemes", "SCHEME_NAMES"]

#: every scheme name a user may write (``S`` a tolerance)
SCHEME_NAMES = ("nested", "uncoded", "gc:S", "ignore:S", "streaming", "cover", "nested-eager")
_SCHEME_HELP = "nested, uncoded, gc:S, ignore:S, streaming, cover or nested-eager"
_WITH_TOLERANCE = {"gc": GradientCodingScheme, "ignore": IgnoreStragglersScheme}
_WITH_LEVELS = {"nested": NestedScheme, "nested-eager": NestedEagerScheme}
_PLAIN = {"uncoded": UncodedScheme, "streaming": StreamingScheme, "cover": CoverScheme}


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
                    low, high = (int(end) for end in part.split("-", 1))
                    outside = [end for end in (low, high) if not 0 <= end <= s_max]
                    # an end outside [0, s_max] is reported below without building the range:
                    # '0-100000000000' must not fill the memory first
                    values.extend(outside or range(low, high + 1))
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
    """Parse one scheme name (``nested``, ``uncoded``, ``gc:S``, ``ignore:S``, ``streaming``,
    ``cover``, ``nested-eager``); ``levels`` is the level set of the nested schemes (default
    ``0..s_max``)."""
    if not isinstance(text, str):
        raise ValueError(f"Argument 'scheme' must be a string like 'gc:2', not {text!r}.")
    name = text.strip().lower()
    keyword, _, arg = name.partition(":")
    if keyword in _WITH_TOLERANCE:
        try:
            s = int(arg)
        except ValueError:
            raise ValueError(
                f"Argument 'scheme' {text!r} needs an integer tolerance, as in '{keyword}:2'."
            ) from None
        upper = s_max if keyword == "gc" else (n - 1 if n is not None else None)
        if s < 0 or (upper is not None and s > upper):
            bound = "s_max" if keyword == "gc" else "n - 1"
            raise ValueError(
                f"Argument 'scheme' {text!r} needs a tolerance in [0, {bound}] = [0, {upper}]."
            )
        return _WITH_TOLERANCE[keyword](s, s_max)
    if keyword not in _WITH_LEVELS and keyword not in _PLAIN:
        raise ValueError(f"Argument 'scheme' must be one of {_SCHEME_HELP}, not {text!r}.")
    if arg:
        raise ValueError(f"Argument 'scheme' {text!r}: {keyword!r} takes no ':' parameter.")
    if keyword in _WITH_LEVELS:
        return _WITH_LEVELS[keyword](parse_levels(levels, s_max), s_max)
    return _PLAIN[keyword](s_max)


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
            if n is not None:
                scheme.check_workers(n)
            if scheme not in result:
                result.append(scheme)
    if not result:
        raise ValueError(f"Argument 'schemes' must name at least one of {_SCHEME_HELP}.")
    names = [scheme.name for scheme in result]
    if len(set(names)) != len(names):
        raise ValueError(f"Argument 'schemes' names one scheme twice in {names}.")
    return tuple(result)
