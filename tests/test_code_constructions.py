"""The algebraic constructions behind the default codes, checked exhaustively for small n."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gclib.codes.cyclic_mds import (
    bch_angles,
    bch_steps,
    prime_root_sets,
    trigonometric_check_matrix,
    twisted_circulant,
)


def assert_gradient_code(matrix: np.ndarray, s: int) -> None:
    """Rows on the cyclic windows, and 1 in the row span of every n − s rows."""
    n = matrix.shape[0]
    for i in range(n):
        window = sorted((i + k) % n for k in range(s + 1))
        assert sorted(np.flatnonzero(matrix[i]).tolist()) == window
    patterns = np.array(list(itertools.combinations(range(n), n - s)))
    rows = matrix[patterns]
    weights = np.linalg.pinv(np.swapaxes(rows, 1, 2)) @ np.ones(n)
    spans = np.einsum("mk,mkn->mn", weights, rows)
    assert np.abs(spans - 1.0).max() < 1e-9


@pytest.mark.parametrize("n", range(2, 13))
def test_every_bch_step_gives_a_gradient_code(n: int) -> None:
    for s in range(1, n):
        for step in bch_steps(n, s):
            angles = bch_angles(n, s, step)
            assert len(set(angles)) == s
            assert set(angles) == {(2 * n - t) % (2 * n) for t in angles}  # real
            assert {t % 2 for t in angles} == {(n - s + 1) % 2}  # cyclic iff n − s odd
            built = twisted_circulant(n, s, angles)
            assert built is not None
            matrix, check = built
            np.testing.assert_allclose(check @ np.ones(n), 0.0, atol=1e-12)
            np.testing.assert_allclose(matrix @ check.T, 0.0, atol=1e-11)
            assert_gradient_code(matrix, s)


@pytest.mark.parametrize("n", [2, 3, 5, 7, 11, 13])
def test_every_root_set_of_a_prime_length_gives_a_gradient_code(n: int) -> None:
    rng = np.random.default_rng(0)
    for s in range(1, n):
        sets = prime_root_sets(n, s, rng, count=1000)
        assert sets, (n, s)
        for angles in sets:
            built = twisted_circulant(n, s, angles)
            assert built is not None
            assert_gradient_code(built[0], s)


def test_negacyclic_rows_wrap_with_a_sign() -> None:
    n, s = 8, 2
    matrix, check = twisted_circulant(n, s, bch_angles(n, s, 1))
    raw = trigonometric_check_matrix(n, bch_angles(n, s, 1))
    scaling = check[0] / raw[0]  # H = H' diag(d)
    unscaled = matrix * scaling  # rows of B' up to a positive factor each
    generator = unscaled[0, : s + 1] / np.linalg.norm(unscaled[0, : s + 1])
    last = unscaled[n - 1] / np.linalg.norm(unscaled[n - 1])
    np.testing.assert_allclose(last[[n - 1, 0, 1]], generator * [1, -1, -1], atol=1e-12)


@pytest.mark.parametrize("n", range(4, 11))
def test_no_real_cyclic_mds_code_with_one_for_n_minus_s_even(n: int) -> None:
    """Why CyclicMDSCode needs n − s odd: no conjugation-closed zero set works otherwise."""
    k = np.arange(n)
    for s in range(1, n):
        if (n - s) % 2:
            continue
        pairs = range(1, (n + 1) // 2)
        middle = [n // 2] if n % 2 == 0 else []
        for use_middle in {False, bool(middle)}:
            count = s - use_middle
            if count % 2:
                continue
            for picked in itertools.combinations(pairs, count // 2):
                zeros = [*picked, *(n - j for j in picked), *(middle if use_middle else [])]
                fourier = np.exp(2j * np.pi * np.outer(zeros, k) / n)
                determinants = [
                    abs(np.linalg.det(fourier[:, list(c)]))
                    for c in itertools.combinations(range(n), s)
                ]
                assert min(determinants) < 1e-9, (n, s, zeros)  # a codeword of weight <= s
