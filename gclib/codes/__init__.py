"""Gradient codes on the cyclic placement: every family, the nested code, and the minimum cover."""

from gclib.codes.base import GradientCode
from gclib.codes.cover import minimum_cover
from gclib.codes.cyclic_mds import CyclicMDSCode
from gclib.codes.cyclic_repetition import CyclicRepetitionCode
from gclib.codes.errors import NotDecodableError
from gclib.codes.fractional_repetition import FractionalRepetitionCode
from gclib.codes.nested import NestedGradientCode
from gclib.codes.placement import cyclic_placement, cyclic_window
from gclib.codes.uncoded import UncodedCode

__all__ = [
    "GradientCode",
    "UncodedCode",
    "FractionalRepetitionCode",
    "CyclicRepetitionCode",
    "CyclicMDSCode",
    "NestedGradientCode",
    "NotDecodableError",
    "cyclic_placement",
    "cyclic_window",
    "minimum_cover",
]
