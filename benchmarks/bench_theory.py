"""Exact theory against Monte Carlo: time to an answer of equal accuracy, and simulator throughput.

1. Exact expected latency of the nested code for ``n = 100``, ``S = {0, …, 20}`` (goal: under
   2 s), with its error bound (quadrature, tail and discarded mass). The baseline is the
   vectorized Monte Carlo simulator measured in the same run: its cost per iteration and the
   spread of the latency give the number of iterations, and so the time, a Monte Carlo estimate
   needs for a standard error equal to a stated accuracy. The ratio of that time to the exact
   computation's time is printed (goal: exact at least 100x faster) for loose accuracies (1e-3
   and 1e-4 relative) and for the accuracy the exact value actually has.
2. Monte Carlo throughput of the nested scheme, in worker-iterations per second (goal: 1e6), for
   the reference scenario (``n = 10``) and for ``n = 100``.
3. Exact E[T], n = 1000, S = {0..50} (goal: under 5 s, error bound below 1e-8 relative), with
   the reference model (``p = 0.2``, ``κ = 8``). The baseline is the dense program that the exact
   theory used before the merged states (every count ``0 … n``, ``O(K n²)`` per time, written out
   below), run in the same process through the same quadrature: both are timed at ``n = 300``,
   ``S = {0..30}``, where the dense one still finishes; at ``n = 1000`` the dense program is
   timed at 15 times across the latency's range and its full cost estimated from the number of
   times the quadrature actually evaluates (printed as an estimate).

Run with ``python -m benchmarks theory``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterator

import numpy as np
from scipy import special

import gclib
from gclib.analysis import dynamic_program as _dp
from gclib.analysis import latency as _latency
from gclib.analysis import problem as _problem_module

SEED = 2212_08580
LARGE_N, LARGE_S_MAX = 100, 20
REPEATS = 3
MC_ITERATIONS = 20_000
THROUGHPUT_ITERATIONS = 200_000
SCALE_N, SCALE_S_MAX = 1000, 50
DENSE_N, DENSE_S_MAX = 300, 30


def clear_theory_caches() -> None:
    """Forget every memoised intermediate of the theory, so each timing computes from scratch."""
    from gclib.analysis import activity, binomial, dynamic_program, problem

    modules = (_latency, activity, binomial, dynamic_program, problem)
    for value in [v for m in modules for v in vars(m).values()]:
        if isinstance(value, functools._lru_cache_wrapper):
            value.cache_clear()


def time_exact(n: int, levels: tuple[int, ...], model: gclib.RuntimeModel) -> tuple[float, float]:
    """Best-of-``REPEATS`` wall time of :func:`gclib.expected_latency` and its value."""
    best, value = math.inf, math.nan
    for _ in range(REPEATS):
        clear_theory_caches()
        start = time.perf_counter()
        value = gclib.expected_latency(n, levels, model)
        best = min(best, time.perf_counter() - start)
    return best, value


def time_monte_carlo(
    n: int, scheme: str, model: gclib.RuntimeModel, iterations: int, s_max: int
) -> tuple[float, gclib.SchemeSimulation]:
    """Wall time of ``iterations`` vectorized Monte Carlo iterations and their result."""
    rng = np.random.default_rng(SEED)
    gclib.simulate(n, scheme, model, 1_000, rng, s_max=s_max)  # warm-up (imports, allocation)
    start = time.perf_counter()
    result = gclib.simulate(n, scheme, model, iterations, rng, s_max=s_max)[scheme]
    return time.perf_counter() - start, result


def main() -> None:
    model = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.1, slowdown=8.0)
    levels = tuple(range(LARGE_S_MAX + 1))
    print(f"exact E[T], nested, n = {LARGE_N}, S = {{0, ..., {LARGE_S_MAX}}}, {model.describe()}")
    exact_time, exact_value = time_exact(LARGE_N, levels, model)
    clear_theory_caches()
    problem = _problem_module._problem(LARGE_N, list(levels), model)
    _, error_bound = _latency._raw_mean(problem)
    exact_accuracy = max(error_bound / exact_value, np.finfo(float).eps)
    print(
        f"  E[T] = {exact_value:.10f} in {exact_time:.3f} s (best of {REPEATS}; goal < 2 s), "
        f"error bound {error_bound:.1e} ({exact_accuracy:.1e} relative)"
    )

    mc_time, mc = time_monte_carlo(LARGE_N, "nested", model, MC_ITERATIONS, LARGE_S_MAX)
    per_iteration = mc_time / MC_ITERATIONS
    spread = float(np.std(mc.latency)) / exact_value  # coefficient of variation of T
    z = (mc.mean_latency - exact_value) / mc.latency_stderr
    print(
        f"  Monte Carlo baseline: {MC_ITERATIONS} iterations in {mc_time:.2f} s "
        f"({per_iteration * 1e6:.0f} us each), mean {mc.mean_latency:.4f} "
        f"± {mc.latency_stderr:.4f} (z = {z:+.2f} against exact)"
    )
    targets = (("1e-3 relative", 1e-3), ("1e-4 relative", 1e-4), ("exact's own", exact_accuracy))
    for label, accuracy in targets:
        needed = math.ceil((spread / accuracy) ** 2)
        mc_needed = needed * per_iteration
        print(
            f"  equal accuracy, {label}: Monte Carlo needs {needed:.3g} iterations, "
            f"about {mc_needed:.3g} s; ratio Monte Carlo / exact = {mc_needed / exact_time:.3g}x "
            f"(goal >= 100x)"
        )

    print("\nMonte Carlo throughput, nested scheme (goal >= 1e6 worker-iterations per second)")
    reference = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
    for n, s_max, chosen in ((10, 4, reference), (LARGE_N, LARGE_S_MAX, model)):
        iterations = THROUGHPUT_ITERATIONS * 10 // n
        elapsed, _ = time_monte_carlo(n, "nested", chosen, iterations, s_max)
        rate = iterations * n / elapsed
        print(
            f"  n = {n:>3}, s_max = {s_max:>2}: {iterations} iterations in {elapsed:.2f} s, "
            f"{rate:.3g} worker-iterations/s, ratio to goal {rate / 1e6:.2f}"
        )
    scale_case()


# ------------------------------------------------------------- the dense program (baseline)
def _dense_logs(model, group, t, max_tasks):
    """``log q_m``, ``log(1 − q_m)`` of the downward chain: ``q_m = P(N = m) / P(N ≤ m)``
    (``m < K``), ``q_K = P(N ≥ K)``; rows ``m − 1``."""
    K = max_tasks
    at_least, below = np.zeros((K + 1, t.size)), np.zeros((K + 1, t.size))
    exactly = np.zeros((K, t.size))
    for weight, factor in zip(group.weights, group.factors, strict=True):
        p, q = _dp._task_probabilities(model, factor, t, K)
        at_least += weight * p
        below += weight * q
        exactly += weight * np.where(p[:-1] < 0.5, p[:-1] - p[1:], q[1:] - q[:-1])
    exactly[K - 1] = at_least[K - 1]
    denominator = below[1:].copy()
    denominator[K - 1] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_q = np.log(exactly) - np.log(denominator)
        log_not_q = np.log(below[:-1]) - np.log(denominator)
    empty = denominator <= 0.0
    log_q = np.where(empty, 0.0, log_q)
    log_not_q = np.where(empty, _dp._LOG_ZERO, log_not_q)
    log_q = np.clip(np.nan_to_num(log_q, nan=_dp._LOG_ZERO), _dp._LOG_ZERO, 0.0)
    log_not_q = np.clip(np.nan_to_num(log_not_q, nan=_dp._LOG_ZERO), _dp._LOG_ZERO, 0.0)
    return log_q, log_not_q


@functools.lru_cache(maxsize=8)
def _dense_table(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log C(count − j, i − j)`` (``-inf`` for ``i < j``), ``i − j`` and ``count − i``."""
    i = np.arange(count + 1)[:, None]
    j = np.arange(count + 1)[None, :]
    with np.errstate(invalid="ignore"):
        table = (
            special.gammaln(count - j + 1)
            - special.gammaln(i - j + 1)
            - special.gammaln(count - i + 1)
        )
    return np.where(i >= j, table, -np.inf), (i - j).astype(float), (count - i).astype(float)


def _dense_step(mass, count, log_q, log_not_q):
    """``new[t, i] = Σ_j C(count − j, i − j) q^{i−j} (1 − q)^{count−i} mass[t, j]``, from the
    full ``(count+1)²`` matrix formed in logarithms (as the program did for groups above 150)."""
    table, d, rest = _dense_table(count)
    logs = table[None] + d[None] * log_q[:, None, None] + rest[None] * log_not_q[:, None, None]
    matrices = np.exp(logs)
    matrices[matrices < 1e-150] = 0.0
    return matrices @ np.where(mass < 1e-150, 0.0, mass)


def dense_program(model, groups, t, max_tasks, keep, *, flush=None, discarded=False):
    """The dense program over every count ``C_m ∈ {0 … n}``, downwards from ``m = K``; the same
    interface as ``gclib.analysis.dynamic_program._dynamic_program`` (nothing is discarded)."""
    del flush
    t = np.asarray(t, dtype=float).ravel()
    counts = [g.count for g in groups]
    total = sum(
        np.arange(c + 1).reshape([-1 if a == g else 1 for a in range(len(counts))])
        for g, c in enumerate(counts)
    )
    states = int(np.prod([c + 1 for c in counts]))
    chunk = max(1, 4_000_000 // (states * (max(counts) + 1)))
    result = np.empty((t.size, keep.shape[0]))
    for start in range(0, t.size, chunk):
        times = t[start : start + chunk]
        logs = [_dense_logs(model, g, times, max_tasks) for g in groups]
        mass = np.zeros((times.size, *[c + 1 for c in counts], keep.shape[0]))
        mass[(slice(None),) + (0,) * len(counts)] = 1.0
        for m in range(max_tasks, 0, -1):
            for axis, (count, (log_q, log_not_q)) in enumerate(zip(counts, logs, strict=True)):
                moved = np.moveaxis(mass, axis + 1, 1)
                shape = moved.shape
                step = _dense_step(
                    moved.reshape(shape[0], shape[1], -1), count, log_q[m - 1], log_not_q[m - 1]
                )
                mass = np.moveaxis(step.reshape(shape), 1, axis + 1)
            mass = mass * np.moveaxis(keep[:, m - 1][:, total], 0, -1)[None]
        result[start : start + chunk] = mass.reshape(times.size, -1, keep.shape[0]).sum(axis=1)
    return (result, np.zeros_like(result)) if discarded else result


@contextlib.contextmanager
def program(replacement) -> Iterator[list[int]]:
    """Run the exact theory on ``replacement`` (``None``: the library's own program) and count
    the times it is evaluated at."""
    original = _dp._dynamic_program
    chosen = original if replacement is None else replacement
    evaluated = [0]

    def counting(model, groups, t, *args, **kwargs):
        evaluated[0] += np.size(t)
        return chosen(model, groups, t, *args, **kwargs)

    _dp._dynamic_program = counting
    try:
        yield evaluated
    finally:
        _dp._dynamic_program = original


def time_raw_mean(n, s_max, model, replacement=None, repeats=REPEATS):
    """Best wall time of ``_raw_mean`` (from cold caches), its value, bound and time count."""
    problem = _problem_module._problem(n, list(range(s_max + 1)), model)
    best = math.inf
    for _ in range(repeats):
        clear_theory_caches()
        with program(replacement) as evaluated:
            start = time.perf_counter()
            value, bound = _latency._raw_mean(problem)
            best = min(best, time.perf_counter() - start)
    return best, value, bound, evaluated[0]


def scale_case() -> None:
    model = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
    print(f"\nExact E[T], n = {SCALE_N}, S = {{0..{SCALE_S_MAX}}}, {model.describe()}")
    elapsed, value, bound, points = time_raw_mean(SCALE_N, SCALE_S_MAX, model)
    print(
        f"  merged program: E[T] = {value:.12f} in {elapsed:.3f} s (best of {REPEATS}; goal < 5 s)"
        f", error bound {bound:.1e} ({bound / value:.1e} relative; goal < 1e-8), "
        f"{points} times evaluated"
    )
    problem = _problem_module._problem(SCALE_N, list(range(SCALE_S_MAX + 1)), model)
    rule = np.linspace(10.0, 80.0, 15)
    keep = _dp._condition_keep(problem, SCALE_N, None)[None]
    start = time.perf_counter()
    dense_program(model, problem.groups, rule, problem.max_tasks, keep)
    per_point = (time.perf_counter() - start) / rule.size
    print(
        f"  dense program: {per_point:.3f} s per time (15 times), so about "
        f"{per_point * points:.0f} s for the {points} times (estimate); "
        f"ratio dense / merged about {per_point * points / elapsed:.0f}x"
    )
    print(f"Same run, both programs at n = {DENSE_N}, S = {{0..{DENSE_S_MAX}}}")
    fast, fast_value, fast_bound, _ = time_raw_mean(DENSE_N, DENSE_S_MAX, model)
    slow, slow_value, _, _ = time_raw_mean(DENSE_N, DENSE_S_MAX, model, dense_program, 1)
    print(
        f"  merged {fast:.3f} s (best of {REPEATS}), dense {slow:.2f} s (one run): "
        f"ratio dense / merged = {slow / fast:.0f}x; |E_merged − E_dense| = "
        f"{abs(fast_value - slow_value):.1e} (bound {fast_bound:.1e})"
    )


if __name__ == "__main__":
    main()
