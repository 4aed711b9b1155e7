"""Gradient code families: exhaustive decoding against brute-force sums, structure, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gclib
from gclib import (
    CyclicMDSCode,
    CyclicRepetitionCode,
    FractionalRepetitionCode,
    NotDecodableError,
    UncodedCode,
)

SMALL = range(1, 13)
TOLERANCE = 1e-10
# Tandon's Gaussian check matrix (the baseline) is heavy-tailed: single responder sets already
# lose about 1e-10 at n = 8 (see benchmarks/bench_codes.py), so it gets a looser bound.
BASELINE_TOLERANCE = 1e-8


def all_codes(n: int) -> list[gclib.GradientCode]:
    """Every family at every valid ``s`` for ``n`` workers."""
    codes: list[gclib.GradientCode] = [UncodedCode(n)]
    for s in range(n):
        if n % (s + 1) == 0:
            codes.append(FractionalRepetitionCode(n, s))
        codes.append(CyclicRepetitionCode(n, s))
        codes.append(CyclicRepetitionCode(n, s, seed=3, construction="gaussian"))
        if s == 0 or (n - s) % 2 == 1:
            codes.append(CyclicMDSCode(n, s))
            if s > 0:
                codes.append(CyclicMDSCode(n, s, step=1))
    return codes


def relative_error(decoded: np.ndarray, partials: np.ndarray) -> float:
    truth = partials.sum(axis=0)
    return float(np.linalg.norm(decoded - truth) / np.linalg.norm(truth))


def check_every_responder_set(code: gclib.GradientCode, rng: np.random.Generator) -> None:
    """Decode the encoded messages of every set of n − s workers and compare with the sum."""
    n, s = code.n, code.s
    partials = rng.standard_normal((n, 3))
    messages = {i: code.encode(i, partials) for i in range(n)}
    patterns = np.array(list(itertools.combinations(range(n), n - s)))
    # α_Rᵀ B_R = 1ᵀ for all sets at once (independent of the decoder: a least-squares solve)
    rows = code.B[patterns]
    solutions = np.linalg.pinv(np.swapaxes(rows, 1, 2)) @ np.ones(n)
    spans = np.einsum("mk,mkn->mn", solutions, rows)
    assert np.abs(spans - 1.0).max() < 1e-9, f"{code!r}: 1 not in the row span of some B_R"
    baseline = getattr(code, "construction", None) == "gaussian"
    tolerance = BASELINE_TOLERANCE if baseline else TOLERANCE
    for responders in patterns:
        decoded = code.decode({int(i): messages[int(i)] for i in responders})
        error = relative_error(decoded, partials)
        assert error <= tolerance, f"{code!r}, responders {responders.tolist()}: error {error:.2e}"


# -- exhaustive decoding ----------------------------------------------------------------------


@pytest.mark.parametrize("n", SMALL)
def test_every_family_decodes_every_responder_set(n: int) -> None:
    rng = np.random.default_rng(n)
    for code in all_codes(n):
        check_every_responder_set(code, rng)


def test_decoding_vector_solves_the_decoding_equation() -> None:
    code = CyclicRepetitionCode(9, 3)
    for responders in itertools.combinations(range(9), 6):
        vector = code.decoding_vector(responders)
        assert vector.shape == (9,)
        assert np.all(vector[[i for i in range(9) if i not in responders]] == 0.0)
        np.testing.assert_allclose(vector @ code.B, np.ones(9), atol=1e-12)


# -- more or fewer responders -------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [CyclicRepetitionCode(10, 3), CyclicMDSCode(9, 4), FractionalRepetitionCode(12, 3)]
)
def test_more_than_n_minus_s_responders_decode(code: gclib.GradientCode) -> None:
    rng = np.random.default_rng(0)
    partials = rng.standard_normal((code.n, 4))
    messages = {i: code.encode(i, partials) for i in range(code.n)}
    for size in range(code.n - code.s, code.n + 1):
        for responders in itertools.combinations(range(code.n), size):
            decoded = code.decode({i: messages[i] for i in responders})
            assert relative_error(decoded, partials) <= TOLERANCE


def test_fractional_repetition_needs_one_worker_per_group() -> None:
    code = FractionalRepetitionCode(6, 2)
    partials = np.random.default_rng(1).standard_normal((6, 5))
    messages = {i: code.encode(i, partials) for i in range(6)}
    assert code.groups == ((0, 1, 2), (3, 4, 5))
    decoded = code.decode({1: messages[1], 5: messages[5]})  # fewer than n - s, every group
    assert relative_error(decoded, partials) <= TOLERANCE
    with pytest.raises(NotDecodableError, match=r"Responders \[0, 1, 2\].*residual"):
        code.decode({i: messages[i] for i in (0, 1, 2)})


@pytest.mark.parametrize(
    "code", [UncodedCode(5), CyclicRepetitionCode(8, 3), CyclicMDSCode(9, 2), CyclicMDSCode(11, 4)]
)
def test_too_few_responders_raise(code: gclib.GradientCode) -> None:
    messages = {i: np.ones(3) for i in range(code.n - code.s - 1)}
    with pytest.raises(NotDecodableError, match=r"cannot decode: residual .* n - s"):
        code.decode(messages)
    with pytest.raises(NotDecodableError, match=r"Responders \["):
        code.decoding_vector(list(messages))


# -- structure ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13, 20])
def test_cyclic_supports_and_nonzeros(n: int) -> None:
    for s in range(n):
        codes = [CyclicRepetitionCode(n, s), CyclicRepetitionCode(n, s, construction="gaussian")]
        if s == 0 or (n - s) % 2 == 1:
            codes.append(CyclicMDSCode(n, s))
        for code in codes:
            assert code.B.shape == (n, n)
            for i in range(n):
                window = tuple((i + k) % n for k in range(s + 1))
                assert code.support(i) == window
                nonzero = np.flatnonzero(code.B[i])
                assert sorted(nonzero.tolist()) == sorted(window), (code, i)
                assert np.abs(code.B[i, list(window)]).min() > 1e-8 * np.abs(code.B[i]).max()


def test_fractional_repetition_supports() -> None:
    code = FractionalRepetitionCode(12, 3)
    for i in range(12):
        group = i // 4
        assert code.support(i) == tuple(range(4 * group, 4 * group + 4))
        np.testing.assert_array_equal(np.flatnonzero(code.B[i]), list(code.support(i)))
        np.testing.assert_array_equal(code.B[i, list(code.support(i))], np.ones(4))


def test_uncoded_is_identity() -> None:
    code = UncodedCode(4)
    np.testing.assert_array_equal(code.B, np.eye(4))
    assert [code.support(i) for i in range(4)] == [(0,), (1,), (2,), (3,)]
    assert code.s == 0 and code.n == 4


@pytest.mark.parametrize(("n", "s"), [(7, 2), (10, 3), (10, 4), (11, 5), (16, 9)])
@pytest.mark.parametrize("construction", ["auto", "gaussian"])
def test_rows_lie_in_the_null_space_of_a_check_matrix(n: int, s: int, construction: str) -> None:
    code = CyclicRepetitionCode(n, s, seed=5, construction=construction)
    check = code.check_matrix
    assert check.shape == (s, n)
    assert np.linalg.matrix_rank(check) == s
    np.testing.assert_allclose(check @ np.ones(n), 0.0, atol=1e-12)
    scale = np.abs(code.B).max() * np.abs(check).max()
    np.testing.assert_allclose(code.B @ check.T, 0.0, atol=1e-12 * scale * n)


def test_gaussian_construction_follows_tandon_algorithm_2() -> None:
    n, s = 9, 3
    code = CyclicRepetitionCode(n, s, seed=2, construction="gaussian")
    np.testing.assert_array_equal(np.diag(code.B), np.ones(n))
    check = code.check_matrix
    rng = np.random.default_rng(2)  # the same draws, repeated here
    expected = rng.standard_normal((s, n))
    np.testing.assert_array_equal(check[:, :-1], expected[:, :-1])
    np.testing.assert_allclose(check[:, -1], -expected[:, :-1].sum(axis=1))


@pytest.mark.parametrize(("n", "s", "step"), [(9, 2, 1), (9, 4, 2), (12, 5, 5), (13, 6, None)])
def test_cyclic_mds_rows_vanish_at_the_zeros(n: int, s: int, step: int | None) -> None:
    code = CyclicMDSCode(n, s, step=step)
    assert len(code.zeros) == s and 0 not in code.zeros
    assert set(code.zeros) == {(n - j) % n for j in code.zeros}  # closed under negation
    k = np.arange(n)
    for j in code.zeros:
        values = code.B @ np.exp(2j * np.pi * j * k / n)
        np.testing.assert_allclose(np.abs(values), 0.0, atol=1e-12)
    circulant = np.array([np.roll(code.B[0], i) for i in range(n)])
    np.testing.assert_allclose(code.B, circulant, atol=0.0)
    np.testing.assert_allclose(code.generator, code.B[0, : s + 1])
    if step == 1:  # Raviv et al.: s consecutive exponents around n/2
        assert code.zeros == tuple(range((n - s + 1) // 2, (n + s + 1) // 2))


def test_cyclic_mds_with_one_straggler_is_pairwise_sums() -> None:
    code = CyclicMDSCode(10, 1)
    assert code.step == 1 and code.zeros == (5,)
    np.testing.assert_allclose(code.generator, [2**-0.5, 2**-0.5])


def test_matrix_is_read_only_and_cached_vectors_are_copies() -> None:
    code = CyclicRepetitionCode(6, 2)
    with pytest.raises(ValueError, match="read-only"):
        code.B[0, 0] = 5.0
    first = code.decoding_vector([0, 1, 2, 3])
    first[:] = 0.0
    again = code.decoding_vector([3, 2, 1, 0])  # same set, other order: same cached vector
    np.testing.assert_allclose(again @ code.B, np.ones(6), atol=1e-12)


def test_codes_are_reproducible() -> None:
    for construction in ("auto", "gaussian"):
        first = CyclicRepetitionCode(11, 4, seed=9, construction=construction)
        second = CyclicRepetitionCode(11, 4, seed=9, construction=construction)
        np.testing.assert_array_equal(first.B, second.B)
        unseeded = CyclicRepetitionCode(11, 4, construction=construction)
        seeded = CyclicRepetitionCode(11, 4, seed=0, construction=construction)
        np.testing.assert_array_equal(unseeded.B, seeded.B)
    a = CyclicRepetitionCode(11, 4, seed=1, construction="gaussian")
    b = CyclicRepetitionCode(11, 4, seed=2, construction="gaussian")
    assert not np.allclose(a.B, b.B)
    generated = CyclicRepetitionCode(11, 4, seed=np.random.default_rng(4))
    check_every_responder_set(generated, np.random.default_rng(0))


def test_auto_is_no_worse_than_baseline_on_the_hardest_sets() -> None:
    """Contiguous straggler blocks: the default keeps cond(B_R) far below the baseline's."""
    n, s = 24, 6
    auto = CyclicRepetitionCode(n, s)
    baseline = CyclicRepetitionCode(n, s, seed=0, construction="gaussian")
    blocks = [[i for i in range(n) if (i - start) % n >= s] for start in range(n)]
    worst_auto = max(auto.condition_number(f) for f in blocks)
    worst_baseline = max(baseline.condition_number(f) for f in blocks)
    assert worst_auto < 1e4
    assert worst_auto < worst_baseline


def test_condition_number() -> None:
    assert UncodedCode(5).condition_number(range(5)) == pytest.approx(1.0)
    code = FractionalRepetitionCode(4, 1)
    assert code.condition_number([0, 2]) == pytest.approx(1.0)
    assert code.condition_number([0, 1]) == np.inf
    assert np.isfinite(CyclicRepetitionCode(10, 3).condition_number(range(7)))


# -- encoding -----------------------------------------------------------------------------------


def test_encode_accepts_mappings_and_arrays_and_uses_only_the_support() -> None:
    code = CyclicRepetitionCode(7, 2)
    rng = np.random.default_rng(3)
    partials = rng.standard_normal((7, 2, 3))
    for i in range(7):
        expected = sum(code.B[i, j] * partials[j] for j in code.support(i))
        np.testing.assert_allclose(code.encode(i, partials), expected, rtol=1e-14)
        only_support = {j: partials[j] for j in code.support(i)}
        np.testing.assert_allclose(code.encode(i, only_support), expected, rtol=1e-14)
        poisoned = partials.copy()
        poisoned[[j for j in range(7) if j not in code.support(i)]] = np.nan
        assert np.all(np.isfinite(code.encode(i, poisoned)))


# -- hypothesis: larger n -----------------------------------------------------------------------

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def decoding_cases(draw: st.DrawFn):
    n = draw(st.sampled_from([13, 16, 19, 20, 24, 29, 32, 40]))
    s = draw(st.integers(0, n - 1))
    families = ["cyclic"]
    if (n - s) % 2 == 1:
        families.append("mds")
    if n % (s + 1) == 0:
        families.append("fr")
    family = draw(st.sampled_from(families))
    extra = draw(st.integers(0, s))
    seed = draw(st.integers(0, 2**32 - 1))
    shape = draw(shapes)
    return n, s, family, extra, seed, shape


@settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(decoding_cases())
def test_random_patterns_decode_for_larger_n(case) -> None:
    n, s, family, extra, seed, shape = case
    code = {
        "cyclic": lambda: CyclicRepetitionCode(n, s),
        "mds": lambda: CyclicMDSCode(n, s),
        "fr": lambda: FractionalRepetitionCode(n, s),
    }[family]()
    rng = np.random.default_rng(seed)
    responders = rng.choice(n, n - s + extra, replace=False)
    partials = rng.standard_normal((n, *shape))
    messages = {int(i): code.encode(int(i), partials) for i in responders}
    if family == "mds" and s > n // 4:
        # real cyclic MDS codes lose accuracy with s; they must then refuse, never mislead
        try:
            decoded = code.decode(messages)
        except NotDecodableError:
            return
        assert relative_error(decoded, partials) < 1e-6
        return
    decoded = code.decode(messages)
    assert decoded.shape == shape
    assert relative_error(decoded, partials) < 1e-9


# -- argument validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: UncodedCode(0), r"Argument 'n' must be an integer >= 1, not 0\."),
        (lambda: UncodedCode(2.0), r"Argument 'n' must be an integer >= 1, not 2\.0\."),
        (lambda: UncodedCode(True), r"Argument 'n' must be an integer"),
        (lambda: UncodedCode("3"), r"Argument 'n' must be an integer"),
        (lambda: CyclicRepetitionCode(0, 0), r"Argument 'n'"),
        (
            lambda: CyclicRepetitionCode(5, -1),
            r"Argument 's' must be an integer in \[0, 5\), not -1",
        ),
        (lambda: CyclicRepetitionCode(5, 5), r"Argument 's' must be an integer in \[0, 5\), not 5"),
        (lambda: CyclicRepetitionCode(5, 1.5), r"Argument 's' must be an integer"),
        (lambda: CyclicRepetitionCode(5, False), r"Argument 's' must be an integer"),
        (lambda: CyclicRepetitionCode(5, 1, seed=-1), r"Argument 'seed'"),
        (lambda: CyclicRepetitionCode(5, 1, seed=0.5), r"Argument 'seed'"),
        (lambda: CyclicRepetitionCode(5, 1, construction="dft"), r"Argument 'construction'"),
        (lambda: FractionalRepetitionCode(6, 3), r"Argument 's' must satisfy \(s \+ 1\) \| n"),
        (lambda: FractionalRepetitionCode(6, 6), r"Argument 's' must be an integer in \[0, 6\)"),
        (lambda: FractionalRepetitionCode(-2, 0), r"Argument 'n'"),
        (lambda: CyclicMDSCode(10, 2), r"Argument 's' must make n - s odd"),
        (lambda: CyclicMDSCode(9, 3), r"Argument 's' must make n - s odd"),
        (lambda: CyclicMDSCode(10, 3, step=2), r"Argument 'step' must be coprime to n = 10"),
        (lambda: CyclicMDSCode(10, 3, step=10), r"Argument 'step' must be an integer in \[1, 10\)"),
        (lambda: CyclicMDSCode(10, 10), r"Argument 's'"),
    ],
)
def test_invalid_parameters(factory, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()


@pytest.fixture
def code_and_messages():
    code = CyclicRepetitionCode(6, 2)
    partials = np.random.default_rng(0).standard_normal((6, 3))
    return code, {i: code.encode(i, partials) for i in range(4)}


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda m: [m[0], m[1]], r"Argument 'messages' must be a mapping"),
        (lambda m: {}, r"Argument 'messages' must not be empty"),
        (
            lambda m: {**m, 6: m[0]},
            r"Argument 'messages' must map worker indices in \[0, 6\), not 6",
        ),
        (lambda m: {**m, -1: m[0]}, r"not -1"),
        (lambda m: {(True if k == 1 else k): v for k, v in m.items()}, r"not True"),
        (lambda m: {**m, 1.5: m[0]}, r"not 1\.5"),
        (lambda m: {**m, 4: np.ones(4)}, r"Argument 'messages' must hold arrays of one shape"),
        (lambda m: {**m, 4: np.ones((3, 1))}, r"one shape"),
        (lambda m: {**m, 1: np.array([1.0, np.nan, 0.0])}, r"must hold finite values"),
        (lambda m: {**m, 1: np.array([1.0, np.inf, 0.0])}, r"must hold finite values"),
        (lambda m: {i: np.zeros(0) for i in m}, r"must hold non-empty arrays"),
    ],
)
def test_invalid_messages(code_and_messages, mutate, match: str) -> None:
    code, messages = code_and_messages
    with pytest.raises(ValueError, match=match):
        code.decode(mutate(messages))


def test_invalid_responders_and_workers() -> None:
    code = CyclicRepetitionCode(6, 2)
    with pytest.raises(ValueError, match="must not be empty"):
        code.decoding_vector([])
    with pytest.raises(ValueError, match="repeats a worker"):
        code.decoding_vector([0, 1, 1, 2])
    with pytest.raises(ValueError, match="iterable of worker indices"):
        code.decoding_vector(3)
    with pytest.raises(
        ValueError, match=r"'responders' must hold worker indices in \[0, 6\), not 7"
    ):
        code.decoding_vector([0, 1, 2, 7])
    with pytest.raises(ValueError, match=r"Argument 'i' must be an integer in \[0, 6\), not 6"):
        code.support(6)
    with pytest.raises(ValueError, match=r"Argument 'i'"):
        code.encode(-1, np.zeros((6, 2)))
    with pytest.raises(ValueError, match=r"lacks partition\(s\) \[1, 2\]"):
        code.encode(0, {0: np.ones(2)})
    with pytest.raises(ValueError, match="first axis of length n = 6"):
        code.encode(0, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="one shape"):
        code.encode(0, {0: np.ones(2), 1: np.ones(3), 2: np.ones(2)})


def test_decoding_stays_exact_as_the_cache_drops_responder_sets(monkeypatch) -> None:
    """With room for two responder sets, five decodings (one set twice, after it was dropped)
    each recover ``Σ_j g_j``, computed here; the cache holds two sets, not more."""
    import gclib.codes.base as code_base

    monkeypatch.setattr(code_base, "_CACHE_SIZE", 2)
    code = CyclicRepetitionCode(6, 2)
    partials = np.random.default_rng(8).normal(size=(6, 3))
    for responders in [(0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 1, 2, 3), (0, 2, 3, 5)]:
        messages = {i: code.encode(i, partials) for i in responders}
        np.testing.assert_allclose(code.decode(messages), partials.sum(axis=0), atol=1e-12)
    assert len(code._decoding_cache) == 2


def test_decode_accepts_numpy_keys_and_array_likes() -> None:
    code = UncodedCode(3)
    decoded = code.decode({np.int64(0): [1.0, 2.0], np.int32(1): (3.0, 4.0), 2: np.ones(2)})
    np.testing.assert_allclose(decoded, [5.0, 7.0])
    scalar = code.decode({0: 1.0, 1: 2.0, 2: 3.0})
    assert scalar.shape == () and float(scalar) == pytest.approx(6.0)


def test_repr() -> None:
    assert repr(UncodedCode(3)) == "UncodedCode(n=3, s=0)"
    assert repr(FractionalRepetitionCode(4, 1)) == "FractionalRepetitionCode(n=4, s=1)"
    assert repr(CyclicRepetitionCode(5, 2)) == "CyclicRepetitionCode(n=5, s=2, construction='auto')"
    assert repr(CyclicMDSCode(5, 2, step=1)) == "CyclicMDSCode(n=5, s=2, step=1)"
