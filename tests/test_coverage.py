"""The exact coverage bound and the minimum circular cover against independent computations.

- brute force: every vector of task counts ``N ∈ {0, …, K}^n`` is enumerated, its coverage
  checked partition by partition and weighted by ``Π_i P(N_i = k_i)`` from
  ``RuntimeModel.prob_tasks_done`` (every straggler subset for a fixed count);
- dense transfer matrices: ``1 − tr(Π_i A_i)`` with the matrices written out entry by entry, for
  sizes beyond brute force;
- Monte Carlo: ``T_cov = max_j min_k F[(j−k) mod n, k]`` of sampled finish times, written out here;
- minimum covers: every subset of workers, smallest first.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gclib import RuntimeModel
from gclib.analysis.coverage import (
    coverage_failure_probability,
    coverage_survival,
    expected_coverage_time,
)
from gclib.codes.cover import minimum_cover

REFERENCE = RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
TIMES = np.array([0.0, 0.5, 1.0, 1.3, 2.0, 2.7, 4.0, 6.5, 9.0, 17.0, 40.0, math.inf])

MODELS = {
    "bernoulli": REFERENCE,
    "bernoulli-crash": RuntimeModel(0.5, 2.0, straggler_prob=0.3, slowdown=4.0, crash_prob=0.1),
    "unresponsive": RuntimeModel(1.0, 1.0, straggler_prob=0.3, slowdown=math.inf),
    "fixed-count": RuntimeModel(1.0, 1.0, stragglers=2, slowdown=8.0),
    "fixed-count-most": RuntimeModel(1.0, 0.5, stragglers=3, slowdown=3.0),
    "fixed-count-crash": RuntimeModel(1.0, 1.0, stragglers=1, slowdown=math.inf, crash_prob=0.2),
    "deterministic": RuntimeModel(1.0, math.inf, straggler_prob=0.25, slowdown=2.0),
    "deterministic-fixed": RuntimeModel(1.0, math.inf, stragglers=2, slowdown=3.0),
}


# ------------------------------------------------------------------------ independent helpers
def assignments(model: RuntimeModel, n: int) -> list[tuple[list[list[tuple[float, float]]], float]]:
    """Every straggler assignment (per-worker list of (factor, weight)) with its probability."""
    c = model.crash_prob
    if model.stragglers is None:
        p = model.straggler_prob
        mix = [(1.0, (1 - c) * (1 - p)), (model.slowdown, (1 - c) * p), (math.inf, c)]
        return [([mix] * n, 1.0)]
    subsets = list(itertools.combinations(range(n), model.stragglers))
    slow = [(model.slowdown, 1 - c), (math.inf, c)]
    regular = [(1.0, 1 - c), (math.inf, c)]
    return [
        ([slow if i in subset else regular for i in range(n)], 1 / len(subsets))
        for subset in subsets
    ]


def task_count_pmf(model: RuntimeModel, mixture, t: np.ndarray, K: int) -> np.ndarray:
    """``P(N(t) = k)`` for ``k = 0 … K`` (rows), the count capped at ``K``."""
    pmf = np.zeros((K + 1, t.size))
    for factor, weight in mixture:
        at_least = [model.prob_tasks_done(t, k, factor) for k in range(K + 1)] + [np.zeros_like(t)]
        for k in range(K + 1):
            pmf[k] += weight * (at_least[k] - at_least[k + 1])
    return pmf


def covered(counts: tuple[int, ...], n: int) -> bool:
    held = {(i + offset) % n for i, count in enumerate(counts) for offset in range(count)}
    return len(held) == n


def brute_force_survival(t: np.ndarray, n: int, s_max: int, model: RuntimeModel) -> np.ndarray:
    K = s_max + 1
    vectors = [v for v in itertools.product(range(K + 1), repeat=n) if not covered(v, n)]
    survival = np.zeros(t.size)
    for mixtures, weight in assignments(model, n):
        pmfs = [task_count_pmf(model, mixture, t, K) for mixture in mixtures]
        for vector in vectors:
            survival += weight * np.prod([pmfs[i][k] for i, k in enumerate(vector)], axis=0)
    return survival


def dense_survival(t: np.ndarray, n: int, s_max: int, model: RuntimeModel) -> np.ndarray:
    """``1 − tr(A_0 ⋯ A_{n−1})`` with ``A[r, r'] = P(max(r, N) = r' + 1)``, dense."""
    K = s_max + 1
    survival = np.zeros(t.size)
    for mixtures, weight in assignments(model, n):
        product = np.broadcast_to(np.eye(K), (t.size, K, K))
        for mixture in mixtures:
            pmf = task_count_pmf(model, mixture, t, K)
            matrix = np.zeros((t.size, K, K))
            for r in range(K):
                for k in range(K + 1):
                    if max(r, k) >= 1:
                        matrix[:, r, max(r, k) - 1] += pmf[k]
            product = product @ matrix
        survival += weight * (1 - np.trace(product, axis1=1, axis2=2))
    return survival


def coverage_times(finish: np.ndarray) -> np.ndarray:
    """``T_cov = max_j min_k F[(j − k) mod n, k]`` for finish times of shape ``(..., n, K)``."""
    n, K = finish.shape[-2:]
    first = np.full(finish.shape[:-1], np.inf)
    for j in range(n):
        for k in range(K):
            first[..., j] = np.minimum(first[..., j], finish[..., (j - k) % n, k])
    return first.max(axis=-1)


# ------------------------------------------------------------------------ survival function
@pytest.mark.parametrize(
    "name, n, s_max",
    [
        (name, n, s_max)
        for name in sorted(MODELS)
        for n, s_max in [(1, 0), (3, 2), (4, 1), (4, 2), (5, 1), (5, 2)]
        if (MODELS[name].stragglers or 0) <= n
    ],
)
def test_survival_matches_brute_force(name: str, n: int, s_max: int) -> None:
    model = MODELS[name]
    exact = coverage_survival(TIMES, n, s_max, model)
    expected = brute_force_survival(TIMES, n, s_max, model)
    np.testing.assert_allclose(exact, expected, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize(
    "n, s_max, model",
    [
        (12, 3, REFERENCE),
        (9, 8, MODELS["bernoulli-crash"]),
        (8, 2, RuntimeModel(1.0, 1.0, stragglers=3, slowdown=5.0, crash_prob=0.05)),
        (7, 3, RuntimeModel(0.2, 1.0, stragglers=5, slowdown=2.0)),
    ],
)
def test_survival_matches_dense_trace(n: int, s_max: int, model: RuntimeModel) -> None:
    t = np.linspace(0.0, 30.0, 41)
    exact = coverage_survival(t, n, s_max, model)
    np.testing.assert_allclose(exact, dense_survival(t, n, s_max, model), rtol=1e-9, atol=1e-13)


def test_survival_shape_and_monotonicity() -> None:
    t = np.linspace(0.0, 20.0, 24).reshape(4, 6)
    survival = coverage_survival(t, 10, 4, REFERENCE)
    assert survival.shape == (4, 6)
    assert np.all(np.diff(survival.ravel()) <= 1e-15)
    assert coverage_survival(0.5, 10, 4, REFERENCE).shape == ()
    assert float(coverage_survival(0.5, 10, 4, REFERENCE)) == 1.0


# ------------------------------------------------------------------------ expected value
def test_reference_value() -> None:
    value, error = expected_coverage_time(10, 4, REFERENCE)
    assert value == pytest.approx(4.86, abs=0.01)
    assert error / value < 1e-9


@pytest.mark.parametrize(
    "n, s_max, model",
    [
        (10, 4, REFERENCE),
        (8, 2, RuntimeModel(0.5, 2.0, stragglers=3, slowdown=6.0)),
        # unresponsive stragglers, fewer than a window: always covered
        (9, 3, RuntimeModel(1.0, 1.0, stragglers=3, slowdown=math.inf)),
    ],
)
def test_expected_against_monte_carlo(n: int, s_max: int, model: RuntimeModel) -> None:
    value, error = expected_coverage_time(n, s_max, model)
    assert error / value < 1e-9
    rng = np.random.default_rng(2212_08580 + n)
    samples = coverage_times(model.sample(n, s_max + 1, rng, size=40_000).finish_times)
    assert np.isfinite(samples).all()
    stderr = samples.std(ddof=1) / math.sqrt(samples.size)
    assert abs(samples.mean() - value) / stderr < 4


@pytest.mark.parametrize("model", [MODELS["deterministic"], MODELS["deterministic-fixed"]])
def test_expected_deterministic_by_enumeration(model: RuntimeModel) -> None:
    """Deterministic tasks: ``T_cov`` is a function of the straggler pattern."""
    n, s_max = 6, 2
    expected = 0.0
    for mixtures, weight in assignments(model, n):
        mixtures = [[(f, w) for f, w in mixture if w > 0] for mixture in mixtures]
        for factors in itertools.product(*mixtures):
            probability = weight * math.prod(w for _, w in factors)
            f = np.array([factor for factor, _ in factors])
            finish = model.shift * f[:, None] * np.arange(1, s_max + 2)[None, :]
            expected += probability * float(coverage_times(finish))
    value, error = expected_coverage_time(n, s_max, model)
    assert value == pytest.approx(expected, rel=1e-12)
    assert error == 0.0


def test_large_case_is_finite_and_accurate() -> None:
    value, error = expected_coverage_time(100, 20, REFERENCE)
    assert 4.0 < value < 12.0
    assert error / value < 1e-9


# ------------------------------------------------------------------------ failure
@pytest.mark.parametrize(
    "name", ["bernoulli-crash", "unresponsive", "fixed-count-crash", "fixed-count"]
)
@pytest.mark.parametrize("n, s_max", [(4, 1), (5, 2)])
def test_failure_probability_brute_force(name: str, n: int, s_max: int) -> None:
    model = MODELS[name]
    expected = float(brute_force_survival(np.array([math.inf]), n, s_max, model)[0])
    probability = coverage_failure_probability(n, s_max, model)
    assert probability == pytest.approx(expected, rel=1e-12, abs=1e-300)
    value, error = expected_coverage_time(n, s_max, model)
    assert (value == math.inf) == (expected > 0)


def test_failure_probability_monte_carlo() -> None:
    n, s_max = 12, 2
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.4, slowdown=math.inf, crash_prob=0.05)
    probability = coverage_failure_probability(n, s_max, model)
    rng = np.random.default_rng(7)
    samples = coverage_times(model.sample(n, s_max + 1, rng, size=40_000).finish_times)
    fraction = np.isinf(samples).mean()
    stderr = math.sqrt(probability * (1 - probability) / samples.size)
    assert 0.05 < probability < 0.95
    assert abs(fraction - probability) / stderr < 4
    assert expected_coverage_time(n, s_max, model) == (math.inf, 0.0)


def test_failure_impossible_with_fewer_unresponsive_than_a_window() -> None:
    model = RuntimeModel(1.0, 1.0, stragglers=2, slowdown=math.inf)
    assert coverage_failure_probability(10, 2, model) == 0.0
    assert coverage_failure_probability(10, 1, model) > 0.0


def test_tiny_failure_probability_keeps_relative_accuracy() -> None:
    """``n q^K`` to first order: computed without cancellation."""
    n, s_max, q = 20, 4, 1e-5
    model = RuntimeModel(1.0, 1.0, crash_prob=q)
    probability = coverage_failure_probability(n, s_max, model)
    assert probability == pytest.approx(n * q ** (s_max + 1), rel=1e-4)


# ------------------------------------------------------------------------ arguments
def test_coverage_arguments() -> None:
    with pytest.raises(TypeError, match="Argument 'n'"):
        expected_coverage_time(4.0, 1, REFERENCE)
    with pytest.raises(ValueError, match="Argument 'n' must be an integer >= 1, not -1."):
        coverage_failure_probability(-1, 0, REFERENCE)
    with pytest.raises(ValueError, match="Argument 's_max'"):
        coverage_survival(1.0, 4, 4, REFERENCE)
    with pytest.raises(TypeError, match="Argument 'model'"):
        coverage_survival(1.0, 4, 1, "reference")
    with pytest.raises(ValueError, match="Argument 't'"):
        coverage_survival([1.0, math.nan], 4, 1, REFERENCE)
    with pytest.raises(ValueError, match="stragglers"):
        coverage_survival(1.0, 4, 1, RuntimeModel(1.0, 1.0, stragglers=5))


# ------------------------------------------------------------------------ minimum cover
def holds(n: int, progress: list[int]) -> list[set[int]]:
    return [{(i + offset) % n for offset in range(done)} for i, done in enumerate(progress)]


def brute_force_minimum(n: int, progress: list[int], usable: list[bool]) -> int | None:
    arcs = holds(n, progress)
    workers = [i for i in range(n) if usable[i] and progress[i] > 0]
    for size in range(1, n + 1):
        for subset in itertools.combinations(workers, size):
            if len(set().union(*(arcs[i] for i in subset))) == n:
                return size
    return None


def test_minimum_cover_against_brute_force() -> None:
    rng = np.random.default_rng(2212)
    checked = 0
    for _ in range(600):
        n = int(rng.integers(1, 9))
        s_max = int(rng.integers(0, n))
        progress = [int(x) for x in rng.integers(0, s_max + 2, size=n)]
        usable = [bool(x) for x in rng.random(n) < 0.85]
        order = [int(x) for x in rng.permutation(n)] if rng.random() < 0.5 else None
        size = brute_force_minimum(n, progress, usable)
        if size is None:
            with pytest.raises(ValueError, match="Argument 'progress'"):
                minimum_cover(n, s_max, progress, usable, order=order)
            continue
        cover = minimum_cover(n, s_max, progress, usable, order=order)
        assert len(cover) == size
        arcs = holds(n, progress)
        assigned = [j for parts in cover.values() for j in parts]
        assert sorted(assigned) == list(range(n))  # every partition exactly once
        for worker, parts in cover.items():
            assert usable[worker] and parts
            assert set(parts) <= arcs[worker]
            assert list(parts) == sorted(parts, key=lambda j: (j - worker) % n)
        checked += 1
    assert checked > 200


def test_minimum_cover_tie_breaking() -> None:
    progress = [2, 2, 2, 2]
    assert minimum_cover(4, 1, progress) == {0: (0, 1), 2: (2, 3)}
    assert minimum_cover(4, 1, progress, order=[3, 1]) == {1: (1, 2), 3: (3, 0)}
    # an equally far-reaching arc: the preferred worker wins
    assert minimum_cover(4, 2, [3, 2, 0, 2]) == {0: (1, 2), 3: (3, 0)}
    assert minimum_cover(4, 2, [3, 2, 0, 2], order=[1]) == {1: (1, 2), 3: (3, 0)}
    assert minimum_cover(3, 2, [1, 2, 0], order=[1, 0]) == {0: (0,), 1: (1, 2)}


def test_minimum_cover_whole_cycle() -> None:
    assert minimum_cover(5, 4, [0, 0, 5, 0, 0]) == {2: (2, 3, 4, 0, 1)}
    assert minimum_cover(1, 0, [1]) == {0: (0,)}


def test_minimum_cover_arguments() -> None:
    with pytest.raises(TypeError, match="Argument 'n' must be an integer"):
        minimum_cover(4.0, 1, [2, 2, 2, 2])
    with pytest.raises(ValueError, match="Argument 'n' must be an integer >= 1, not -1."):
        minimum_cover(-1, 1, [])
    with pytest.raises(ValueError, match="Argument 's_max'"):
        minimum_cover(4, 4, [1, 1, 1, 1])
    with pytest.raises(TypeError, match="Argument 'progress' must be a sequence"):
        minimum_cover(4, 1, 2)
    with pytest.raises(ValueError, match="Argument 'progress' must have one entry per worker"):
        minimum_cover(4, 1, [2, 2, 2])
    with pytest.raises(TypeError, match="Argument 'progress' must hold integers"):
        minimum_cover(4, 1, [2, 2, 2, 2.0])
    with pytest.raises(
        ValueError,
        match=r"Argument 'progress' must hold integers in \[0, s_max \+ 1\] = \[0, 2\], not 3.",
    ):
        minimum_cover(4, 1, [2, 2, 2, 3])
    with pytest.raises(TypeError, match="Argument 'usable' must hold booleans"):
        minimum_cover(4, 1, [2, 2, 2, 2], usable=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="Argument 'order'"):
        minimum_cover(4, 1, [2, 2, 2, 2], order=[4])
    with pytest.raises(ValueError, match="partitions 2, 3 are in no computed prefix"):
        minimum_cover(4, 1, [2, 2, 2, 2], usable=[True, False, False, False])
    with pytest.raises(ValueError, match="partition 2 is in no computed prefix"):
        minimum_cover(4, 1, [2, 2, 2, 2], usable=[True, False, False, True])
    assert minimum_cover(4, 1, np.array([2, 2, 2, 2]), usable=np.ones(4, dtype=bool))
