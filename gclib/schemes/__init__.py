"""Schemes: one object per scheme, which knows its own rules (see :mod:`gclib.schemes.base`)."""

from gclib.schemes.base import (
    Ask,
    Coded,
    Contribution,
    Decision,
    Finish,
    Partial,
    PartitionSum,
    ProgressView,
    Scheme,
)
from gclib.schemes.coded import (
    GradientCodingScheme,
    IgnoreStragglersScheme,
    LevelScheme,
    NestedEagerScheme,
    NestedScheme,
    UncodedScheme,
)
from gclib.schemes.coverage import CoverageScheme, CoverScheme, StreamingScheme, coverage_time
from gclib.schemes.parse import (
    SCHEME_NAMES,
    parse_levels,
    parse_scheme,
    parse_schemes,
    resolve_schemes,
)

__all__ = [
    "Scheme",
    "LevelScheme",
    "NestedScheme",
    "NestedEagerScheme",
    "GradientCodingScheme",
    "UncodedScheme",
    "IgnoreStragglersScheme",
    "CoverageScheme",
    "StreamingScheme",
    "CoverScheme",
    "coverage_time",
    "Coded",
    "Partial",
    "PartitionSum",
    "Contribution",
    "Finish",
    "Ask",
    "Decision",
    "ProgressView",
    "SCHEME_NAMES",
    "parse_scheme",
    "parse_schemes",
    "parse_levels",
    "resolve_schemes",
]
