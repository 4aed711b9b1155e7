"""The dynamic program of the exact theory at scale, against independent computations.

- a dense oracle written here: the chain ``C_K, C_{K−1}, …, C_1`` downwards over every count
  ``0 … n`` (pairs of counts for two groups) with binomial matrices from ``scipy.special``, no
  merging of states and no flushing; it is feasible up to a few hundred workers;
- Monte Carlo at ``n = 1000``: order statistics of finish times sampled with
  ``RuntimeModel.sample``, five standard errors.

Each comparison checks the stated bound: the program's result is below the exact value by at
most its discarded-mass bound (plus rounding), and ``_raw_mean``'s error bound covers the
difference of the expected latencies.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import special

import gclib
from gclib import RuntimeModel
from gclib.analysis import activity as activity_module
from gclib.analysis import dynamic_program
from gclib.analysis import latency as latency_module
from gclib.analysis.dynamic_program import (
    _condition_keep,
    _dynamic_program,
    _held_dynamic_program,
)
from gclib.analysis.problem import _problem
from gclib.analysis.quadrature import (
    _KINK_ORDERS,
    _breakpoints,
    _earliest,
    _integrate,
    _tail_bound,
    _time_scale,
    _upper_limit,
    theory_work,
)
from gclib.schemes.parse import parse_scheme

REFERENCE = RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
ROUNDING = 1e-12


# ------------------------------------------------------------------------ dense oracle
def group_mixtures(model: RuntimeModel, n: int) -> list[tuple[int, list[tuple[float, float]]]]:
    """(count, [(factor, weight), …]) per group of i.i.d. workers, from the model's fields."""
    c = model.crash_prob
    if model.stragglers is None:
        p = model.straggler_prob
        return [(n, [(1.0, (1 - c) * (1 - p)), (model.slowdown, (1 - c) * p), (math.inf, c)])]
    return [
        (model.stragglers, [(model.slowdown, 1 - c), (math.inf, c)]),
        (n - model.stragglers, [(1.0, 1 - c), (math.inf, c)]),
    ]


@functools.lru_cache(maxsize=8)
def log_binomials(count: int) -> np.ndarray:
    """log C(count − j, i − j) at [i, j] (nan or -inf where i < j)."""
    i = np.arange(count + 1)[:, None]
    j = np.arange(count + 1)[None, :]
    with np.errstate(invalid="ignore"):
        return (
            special.gammaln(count - j + 1)
            - special.gammaln(i - j + 1)
            - special.gammaln(count - i + 1)
        )


def dense_filtered(model: RuntimeModel, n: int, t: np.ndarray, K: int, keep: np.ndarray):
    """P(the path (C_1 … C_K) passes filter b) for each time and filter, shape (len(t), B).

    Downwards: C_K^g ~ Bin(count_g, P(N ≥ K)) and C_m^g − C_{m+1}^g ~ Bin(count_g − C_{m+1}^g,
    q_m) with q_m = P(N = m) / P(N ≤ m); the filter acts on C_m = Σ_g C_m^g.
    """
    t = np.asarray(t, dtype=float)
    groups = [(count, mix) for count, mix in group_mixtures(model, n) if count > 0]
    result = np.empty((t.size, keep.shape[0]))
    for index, time in enumerate(t):
        mass = np.zeros([count + 1 for count, _ in groups] + [keep.shape[0]])
        mass[(0,) * len(groups)] = 1.0
        for m in range(K, 0, -1):
            for axis, (count, mixture) in enumerate(groups):
                at_least = [
                    sum(w * float(model.prob_tasks_done(time, k, f)) for f, w in mixture)
                    for k in (m, m + 1)
                ]
                below = 1.0 - at_least[1] if m < K else 1.0
                if below <= 0.0:  # every worker has m + 1 tasks: no one is left to draw
                    q = 1.0
                else:
                    q = (at_least[0] - at_least[1]) / below if m < K else at_least[0]
                    q = min(max(q, 0.0), 1.0)
                i = np.arange(count + 1)[:, None]
                j = np.arange(count + 1)[None, :]
                with np.errstate(invalid="ignore", divide="ignore"):
                    logs = (
                        log_binomials(count)
                        + special.xlogy(i - j, q)
                        + special.xlogy(count - i, 1 - q)
                    )
                matrix = np.where(i >= j, np.exp(logs), 0.0)
                mass = np.moveaxis(np.tensordot(matrix, mass, axes=([1], [axis])), 0, axis)
            totals = sum(
                np.arange(count + 1).reshape([-1 if a == g else 1 for a in range(len(groups))])
                for g, (count, _) in enumerate(groups)
            )
            mass = mass * np.moveaxis(keep[:, m - 1][:, totals], 0, -1)
        result[index] = mass.reshape(-1, keep.shape[0]).sum(axis=0)
    return result


def dense_survival(model: RuntimeModel, n: int, levels, t: np.ndarray) -> np.ndarray:
    problem = _problem(n, list(levels), model)
    keep = _condition_keep(problem, n, None)[None]
    return dense_filtered(model, n, t, problem.max_tasks, keep)[:, 0]


# ------------------------------------------------------------------------ survival vs oracle
SURVIVAL_CASES = [
    (250, [0, 2, 5, 10], REFERENCE),
    (200, [0, 3, 8], RuntimeModel(0.5, 2.0, stragglers=30, slowdown=4.0)),
    (220, [1, 4, 6], RuntimeModel(1.0, 1.0, straggler_prob=0.1, slowdown=3.0, crash_prob=0.01)),
]


@pytest.mark.parametrize(("n", "levels", "model"), SURVIVAL_CASES)
def test_survival_matches_dense_oracle_within_the_bound(n, levels, model):
    problem = _problem(n, levels, model)
    t = np.array([2.0, 4.0, 6.0, 9.0, 14.0, 25.0, 60.0])
    keep = _condition_keep(problem, n, None)[None]
    value, bound = _dynamic_program(
        model, problem.groups, t, problem.max_tasks, keep, discarded=True
    )
    exact = dense_survival(model, n, levels, t)
    assert np.all(bound[:, 0] < 1e-100)
    assert np.all(np.abs(exact - value[:, 0]) <= bound[:, 0] + ROUNDING), (exact, value[:, 0])
    # a coarse flush discards real mass, and the bound accounts for all of it
    coarse, coarse_bound = _dynamic_program(
        model, problem.groups, t, problem.max_tasks, keep, flush=1e-4, discarded=True
    )
    gap = exact - coarse[:, 0]
    assert np.all(gap >= -ROUNDING)
    assert np.all(gap <= coarse_bound[:, 0] + ROUNDING), (gap, coarse_bound[:, 0])
    assert gap.max() > 1e-7  # the coarse program really does lose mass


@pytest.mark.parametrize(
    "model",
    [
        RuntimeModel(0.5, 1.5, straggler_prob=0.3, slowdown=3.0, crash_prob=0.05),
        RuntimeModel(1.0, 2.0, stragglers=3, slowdown=5.0),
    ],
)
def test_arbitrary_filters_match_dense_oracle(model):
    """Random filters: some constant on the low counts (states merge), some not (no merge)."""
    n, K = 9, 4
    rng = np.random.default_rng(7)
    keep = rng.random((6, K, n + 1)) < 0.7
    keep[:3, :, :5] = keep[:3, :, :1]  # constant on C ≤ 4, i.e. D ≥ 5: merged
    keep[3] = keep[0]  # a duplicate filter
    keep[4, 2:] = keep[1, 2:]  # agrees with filter 1 on the last steps only
    t = np.array([1.0, 2.5, 4.0, 7.0, 12.0])
    groups = model.worker_groups(n)
    value, bound = _dynamic_program(model, groups, t, K, keep, discarded=True)
    assert np.allclose(value, dense_filtered(model, n, t, K, keep), rtol=0, atol=ROUNDING)
    assert np.all(bound < 1e-100)


@pytest.mark.parametrize(
    "model",
    [
        RuntimeModel(0.5, 1.5, straggler_prob=0.3, slowdown=3.0, crash_prob=0.05),
        RuntimeModel(1.0, 2.0, stragglers=3, slowdown=5.0),
    ],
)
def test_held_program_matches_the_dense_oracle_filter_by_filter(model):
    """Every held count ``j`` and every trigger of the forward–backward program against the
    oracle run on the filter it stands for: ``held`` on the steps ``1 … j`` and ``free`` after
    (a trigger: its own filter at its step in between)."""
    n, K = 9, 4
    rng = np.random.default_rng(5)
    held = rng.random((K, n + 1)) < 0.8
    free = rng.random((K, n + 1)) < 0.8
    held[:, :4] = held[:, :1]  # constant on C ≤ 3, i.e. D ≥ 6: merged
    free[:, :4] = free[:, :1]
    triggers = [(2, free[1] & (np.arange(n + 1) == 6)), (4, rng.random(n + 1) < 0.6)]
    t = np.array([0.5, 1.0, 2.5, 4.0, 7.0, 12.0])
    loads, hits = _held_dynamic_program(model, model.worker_groups(n), t, K, held, free, triggers)
    filters = [np.concatenate([held[:j], free[j:]]) for j in range(K)]
    filters += [np.concatenate([held[: m - 1], keep[None], free[m:]]) for m, keep in triggers]
    exact = dense_filtered(model, n, t, K, np.stack(filters))
    assert np.allclose(np.hstack([loads, hits]), exact, rtol=0, atol=ROUNDING)
    assert loads.min() < 0.9 and hits.max() > 1e-3  # the filters really cut


@pytest.mark.parametrize(
    ("n", "name", "s_max", "model"),
    [
        (40, "nested", 39, REFERENCE),
        (30, "gc:29", 29, RuntimeModel(1.0, 1.0, stragglers=6, slowdown=4.0, upload_cost=0.5)),
        (
            60,
            "nested",
            20,
            RuntimeModel(0.5, 2.0, straggler_prob=0.1, slowdown=3.0, signal_cost=0.4),
        ),
        (12, "gc:5", 5, RuntimeModel(1.0, 1e4, straggler_prob=0.2, slowdown=8.0)),
        (20, "nested", 19, RuntimeModel(1.0, math.inf, straggler_prob=0.2, slowdown=8.0)),
    ],
)
def test_work_estimate_matches_the_work_the_programs_count(n, name, s_max, model):
    """The run-time estimate of the command line counts the steps, states and quadrature points
    up front; the programs count what they do (no clock)."""
    for cache in (
        activity_module._activity,
        activity_module._task_integrals,
        latency_module._raw_mean,
        dynamic_program._never_bounded,
        dynamic_program._never_probability,
    ):
        cache.cache_clear()
    scheme = parse_scheme(name, s_max=s_max)
    before = dict(dynamic_program.WORK)
    gclib.latency_summary(n, scheme, model)
    latency, activity, _ = theory_work(n, scheme, model)
    for index, unit in enumerate(("kernels", "products")):
        done = dynamic_program.WORK[unit] - before[unit]
        assert 1 / 3 < (latency[index] + activity[index]) / done < 3, (unit, latency, activity)


# ------------------------------------------------------------------------ E[T] vs oracle
def test_expected_latency_matches_dense_oracle_within_the_bound():
    n, levels = 200, [0, 2, 5, 10]
    problem = _problem(n, levels, REFERENCE)
    latency_module._raw_mean.cache_clear()
    value, bound = latency_module._raw_mean(problem)
    assert 0 < bound < 1e-8 * value
    # the oracle's own mean: same integration range, its own adaptive quadrature
    start = _earliest(problem)
    upper = _upper_limit(problem, 1e-13 * _time_scale(problem))
    edges = np.concatenate([[start], _breakpoints(problem, upper, _KINK_ORDERS), [upper]])

    def integrand(t: np.ndarray) -> np.ndarray:
        return dense_survival(REFERENCE, n, levels, t)[None]

    oracle, oracle_error = _integrate(integrand, edges, abs_tol=1e-12)
    exact = start + float(oracle[0])
    tail = _tail_bound(problem, upper)
    assert abs(value - exact) <= bound + float(oracle_error[0]) + tail, (value, exact, bound)


def test_large_n_error_bound_is_small():
    problem = _problem(1000, list(range(51)), REFERENCE)
    latency_module._raw_mean.cache_clear()
    value, bound = latency_module._raw_mean(problem)
    assert 50 < value < 60
    assert bound < 1e-8 * value


# ------------------------------------------------------------------------ n = 1000, Monte Carlo
def sampled_latency(model: RuntimeModel, n: int, levels, size: int, seed: int) -> np.ndarray:
    """min over s of the (n − s)-th smallest finish time of task s + 1, in chunks."""
    K = max(levels) + 1
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, size, 250):
        chunk = min(250, size - start)
        finish = np.cumsum(model.sample(n, K, rng, size=chunk).task_times, axis=-1)
        per_level = [np.partition(finish[:, :, s], n - s - 1, axis=1)[:, n - s - 1] for s in levels]
        values.append(np.min(per_level, axis=0))
    return np.concatenate(values)


@pytest.mark.parametrize(
    ("levels", "model"),
    [
        ([0, 3, 7, 12, 20], REFERENCE),
        ([2, 10, 25], RuntimeModel(1.0, 1.0, stragglers=15, slowdown=6.0)),
    ],
)
def test_large_n_against_monte_carlo(levels, model):
    n, size = 1000, 3000
    raw = sampled_latency(model, n, levels, size, seed=len(levels))
    exact = gclib.expected_latency(n, levels, model)
    stderr = float(np.std(raw, ddof=1)) / math.sqrt(size)
    z = (exact - float(np.mean(raw))) / stderr
    assert abs(z) < 5, (exact, float(np.mean(raw)), stderr)
