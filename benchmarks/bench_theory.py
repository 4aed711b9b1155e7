"""Exact theory against Monte Carlo: time to an answer of equal accuracy, and simulator throughput.

1. Exact expected latency of the nested code for ``n = 100``, ``S = {0, …, 20}`` (goal: under
   2 s), with the error bound of its quadrature. The baseline is the vectorized Monte Carlo
   simulator measured in the same run: its cost per iteration and the spread of the latency give
   the number of iterations, and so the time, a Monte Carlo estimate needs for a standard error
   equal to a stated accuracy. The ratio of that time to the exact computation's time is printed
   (goal: exact at least 100x faster) for loose accuracies (1e-3 and 1e-4 relative) and for the
   accuracy the exact value actually has.
2. Monte Carlo throughput of the nested scheme, in worker-iterations per second (goal: 1e6), for
   the reference scenario (``n = 10``) and for ``n = 100``.

Run with ``python -m benchmarks theory``.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np

import gclib
from gclib.analysis import latency as _latency
from gclib.analysis import problem as _problem_module
from gclib.schemes.parse import Scheme

SEED = 2212_08580
LARGE_N, LARGE_S_MAX = 100, 20
REPEATS = 3
MC_ITERATIONS = 20_000
THROUGHPUT_ITERATIONS = 200_000


def clear_theory_caches() -> None:
    """Forget every memoised intermediate of the theory, so each timing computes from scratch."""
    from gclib.analysis import activity, dynamic_program, problem

    modules = (_latency, activity, dynamic_program, problem)
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
    problem = _problem_module._problem(LARGE_N, Scheme("nested", levels, LARGE_S_MAX), model)
    _, error_bound = _latency._raw_mean(problem)
    exact_accuracy = max(error_bound / exact_value, np.finfo(float).eps)
    print(
        f"  E[T] = {exact_value:.10f} in {exact_time:.3f} s (best of {REPEATS}; goal < 2 s), "
        f"quadrature error bound {error_bound:.1e} ({exact_accuracy:.1e} relative)"
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


if __name__ == "__main__":
    main()
