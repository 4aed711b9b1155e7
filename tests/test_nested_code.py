"""The nested gradient code: nested supports, level codes, and decoding at every level."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_codes import check_every_responder_set, relative_error

import gclib
from gclib import NestedGradientCode


@pytest.mark.parametrize(
    ("n", "levels"), [(8, (0, 1, 3, 5)), (10, (0, 1, 2, 3, 4)), (12, (1, 4, 7))]
)
def test_every_level_decodes_every_responder_set(n: int, levels: tuple[int, ...]) -> None:
    nested = NestedGradientCode(n, levels, seed=11)
    rng = np.random.default_rng(n)
    for s in levels:
        code = nested.code(s)
        assert code.n == n and code.s == s
        check_every_responder_set(code, rng)


@pytest.mark.parametrize(
    ("n", "levels"), [(1, (0,)), (6, (5, 0, 2)), (13, (0, 3, 6, 12)), (20, (1, 9))]
)
def test_supports_are_windows_and_level_supports_are_prefixes(n: int, levels) -> None:
    nested = NestedGradientCode(n, levels)
    assert nested.levels == tuple(sorted(levels))
    assert nested.s_max == max(levels)
    assert nested.n == n
    for i in range(n):
        window = tuple((i + k) % n for k in range(nested.s_max + 1))
        assert nested.support(i) == window
        for s in nested.levels:
            code = nested.code(s)
            assert code.support(i) == window[: s + 1]
            assert sorted(np.flatnonzero(code.B[i]).tolist()) == sorted(window[: s + 1])


def test_level_zero_is_uncoded_and_codes_mapping_is_read_only() -> None:
    nested = NestedGradientCode(5, [2, 0])
    assert isinstance(nested.code(0), gclib.UncodedCode)
    assert isinstance(nested.code(2), gclib.CyclicRepetitionCode)
    assert set(nested.codes) == {0, 2}
    assert nested.codes[2] is nested.code(2)
    with pytest.raises(TypeError):
        nested.codes[1] = gclib.UncodedCode(5)  # type: ignore[index]
    assert repr(nested) == "NestedGradientCode(n=5, levels=(0, 2))"


def test_a_level_does_not_depend_on_the_other_levels() -> None:
    alone = NestedGradientCode(12, (3,), seed=4).code(3)
    together = NestedGradientCode(12, (0, 1, 3, 6), seed=4).code(3)
    np.testing.assert_array_equal(alone.B, together.B)
    generated = NestedGradientCode(12, (0, 3, 6), seed=np.random.default_rng(1))
    check_every_responder_set(generated.code(6), np.random.default_rng(2))


def test_messages_from_the_partials_computed_so_far() -> None:
    """A worker that finished k tasks can send the message of every level s < k."""
    n, levels = 9, (0, 2, 4)
    nested = NestedGradientCode(n, levels, seed=1)
    rng = np.random.default_rng(5)
    partials = rng.standard_normal((n, 2, 3))
    for s in levels:
        code = nested.code(s)
        done = {i: {j: partials[j] for j in nested.support(i)[: s + 1]} for i in range(n)}
        messages = {i: code.encode(i, done[i]) for i in range(n)}
        for responders in itertools.combinations(range(n), n - s):
            decoded = code.decode({i: messages[i] for i in responders})
            assert relative_error(decoded, partials) < 1e-10


@pytest.mark.parametrize(
    ("levels", "match"),
    [
        ([], r"Argument 'levels' must not be empty"),
        ([1, 1], r"Argument 'levels' must hold distinct integers"),
        ([0, 6], r"in \[0, 6\), not 6"),
        ([-1], r"in \[0, 6\), not -1"),
        ([1.0], r"must be an integer"),
        ([True], r"must be an integer"),
        ("012", r"Argument 'levels' must be an iterable of integers"),
        (3, r"Argument 'levels' must be an iterable of integers"),
    ],
)
def test_invalid_levels(levels, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NestedGradientCode(6, levels)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match=r"Argument 'n'"):
        NestedGradientCode(0, [0])
    with pytest.raises(ValueError, match=r"Argument 'seed'"):
        NestedGradientCode(4, [0, 1], seed="a")
    nested = NestedGradientCode(6, (0, 2))
    for s in (1, 3, True, 2.0, "2"):
        with pytest.raises(ValueError, match=r"Argument 's' must be one of the levels \(0, 2\)"):
            nested.code(s)
    with pytest.raises(ValueError, match=r"Argument 'i' must be an integer in \[0, 6\)"):
        nested.support(6)
