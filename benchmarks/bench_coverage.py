"""Exact coverage bound against Monte Carlo: time to an answer of equal accuracy.

Exact expected coverage time ``E[T_cov]`` (the latency of the streaming scheme without
communication costs) for ``n = 100``, ``s_max = 20`` (goal: under 0.5 s), with the error bound of
its quadrature, and for the reference scenario ``n = 10``, ``s_max = 4``. The baseline is the
vectorized Monte Carlo simulator of the streaming scheme measured in the same run: its cost per
iteration and the spread of ``T_cov`` give the number of iterations, and so the time, a Monte Carlo
estimate needs for a standard error equal to a stated accuracy. The ratio of that time to the exact
computation's time is printed for loose accuracies (1e-3 and 1e-4 relative) and for the accuracy
the exact value actually has.

Run with ``python -m benchmarks coverage``.
"""

from __future__ import annotations

import math
import time

import numpy as np

import gclib
from gclib.analysis import coverage

SEED = 2212_08580
REPEATS = 3
MC_ITERATIONS = 20_000
CASES = ((100, 20, 0.5), (10, 4, None))  # (n, s_max, time goal in seconds)


def time_exact(n: int, s_max: int, model: gclib.RuntimeModel) -> tuple[float, float, float]:
    """Best-of-``REPEATS`` wall time of the exact ``E[T_cov]``, its value and its error bound."""
    best, value, error = math.inf, math.nan, math.nan
    for _ in range(REPEATS):
        coverage._expected.cache_clear()
        coverage._partial_mean.cache_clear()
        start = time.perf_counter()
        value, error = coverage.expected_coverage_time(n, s_max, model)
        best = min(best, time.perf_counter() - start)
    return best, value, error


def time_monte_carlo(
    n: int, s_max: int, model: gclib.RuntimeModel, iterations: int
) -> tuple[float, gclib.SchemeSimulation]:
    """Wall time of ``iterations`` vectorized Monte Carlo iterations of the streaming scheme."""
    rng = np.random.default_rng(SEED)
    gclib.simulate(n, "streaming", model, 1_000, rng, s_max=s_max)  # warm-up
    start = time.perf_counter()
    result = gclib.simulate(n, "streaming", model, iterations, rng, s_max=s_max)["streaming"]
    return time.perf_counter() - start, result


def main() -> None:
    model = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
    for n, s_max, goal in CASES:
        print(f"exact E[T_cov], n = {n}, s_max = {s_max}, {model.describe()}")
        exact_time, value, error = time_exact(n, s_max, model)
        accuracy = max(error / value, np.finfo(float).eps)
        target = f"; goal < {goal:g} s" if goal else ""
        print(
            f"  E[T_cov] = {value:.10f} in {exact_time:.3f} s (best of {REPEATS}{target}), "
            f"error bound {error:.1e} ({accuracy:.1e} relative)"
        )
        mc_time, mc = time_monte_carlo(n, s_max, model, MC_ITERATIONS)
        per_iteration = mc_time / MC_ITERATIONS
        spread = float(np.std(mc.latency)) / value  # coefficient of variation of T_cov
        z = (mc.mean_latency - value) / mc.latency_stderr
        print(
            f"  Monte Carlo baseline: {MC_ITERATIONS} iterations in {mc_time:.2f} s "
            f"({per_iteration * 1e6:.0f} us each), mean {mc.mean_latency:.4f} "
            f"± {mc.latency_stderr:.4f} (z = {z:+.2f} against exact)"
        )
        for label, target_accuracy in (
            ("1e-3 relative", 1e-3),
            ("1e-4 relative", 1e-4),
            ("exact's own", accuracy),
        ):
            needed = math.ceil((spread / target_accuracy) ** 2)
            mc_needed = needed * per_iteration
            print(
                f"  equal accuracy, {label}: Monte Carlo needs {needed:.3g} iterations, "
                f"about {mc_needed:.3g} s; ratio Monte Carlo / exact = "
                f"{mc_needed / exact_time:.3g}x"
            )


if __name__ == "__main__":
    main()
