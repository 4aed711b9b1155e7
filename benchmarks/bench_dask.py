"""The worker pool on a Dask cluster: protocol overhead, stop reaction, measured against predicted.

Everything runs on a ``LocalCluster`` of 10 worker processes of two threads each on this machine,
started here (``distributed`` must be installed: ``pip install 'gclib[dask]'``): a gclib worker
holds one thread of its Dask worker for the pool's lifetime, the other serves plain Dask tasks.
Dask's statistical profiler is off (it samples the busy threads every 10 ms, delaying the loops).

1. Overhead. One iteration with no work at all (zero-length tasks, a one-element gradient) on
   ``n = 8`` workers: the Dask backend against the process backend (goal: ratio ≤ 2), and against
   a plain ``client.map`` + ``client.gather`` of 8 empty tasks on the same cluster (goal ≤ 1),
   measured in the same run, alternating blocks of all three.
2. Stop reaction on the Dask backend: the nested scheme on ``n = 8`` workers, two of them
   unresponsive; the time from the master sending *stop* to the worker abandoning its task (both
   on the system's monotonic clock, from the event log). Median and 95th percentile (goal:
   median ≤ 2 ms).
3. Reference scenario (``n = 10``, ``S = {0,…,4}``, ``a = μ = 1``, ``p = 0.2``, ``κ = 8``, time
   unit 0.01 s) on the Dask backend, with the stratified sampling of ``bench_pool``: measured /
   predicted per scheme (goal within ±10 %).

Run with ``python -m benchmarks dask``.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from benchmarks.bench_pool import REFERENCE, measure_reference, stop_delays, stratified_mean
from gclib import ModelSample, expected_latency
from gclib.runtime.pool import WorkerPool
from gclib.runtime.transports import DaskBackend
from gclib.training.objectives import least_squares_gradient

WORKERS = 8
BLOCKS = 5
ITERATIONS = 100
STOP_ITERATIONS = 60


def _cluster(n: int):
    import dask
    from distributed import Client, LocalCluster

    # no statistical profiler: sampling the busy threads every 10 ms delays the loops
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=2,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
    return cluster, Client(cluster)


def _time_pool(pool: WorkerPool, sample: ModelSample, count: int) -> float:
    params = np.zeros(1)
    start = time.perf_counter()
    for _ in range(count):
        pool.run_iteration(params, "uncoded", sample=sample)
    return (time.perf_counter() - start) / count


def _time_map(client, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        client.gather(client.map(bool, range(WORKERS), pure=False))
    return (time.perf_counter() - start) / count


def overhead(client) -> None:
    n = WORKERS
    empty = [(np.zeros((1, 1)), np.zeros(1))] * n  # a one-element gradient, no arithmetic
    sample = ModelSample.from_task_times(np.full((n, 2), 1e-9))  # no injected wait at all
    timings: dict[str, list[float]] = {"map": [], "process": [], "dask": []}
    options = {"s_max": 1, "time_unit": 1e-3}
    with (
        WorkerPool(empty, least_squares_gradient, **options) as process_pool,
        WorkerPool(empty, least_squares_gradient, **options, backend=DaskBackend(client)) as pool,
    ):
        for warming in (process_pool, pool):
            _time_pool(warming, sample, 20)  # warm up
        _time_map(client, 20)
        for _ in range(BLOCKS):
            timings["map"].append(_time_map(client, ITERATIONS))
            timings["process"].append(_time_pool(process_pool, sample, ITERATIONS))
            timings["dask"].append(_time_pool(pool, sample, ITERATIONS))
    median = {name: float(np.median(values)) for name, values in timings.items()}
    print(f"protocol overhead, n = {n}, zero work, uncoded (median of {BLOCKS} blocks)")
    print(f"  {'client.map + gather':<28}{median['map'] * 1e3:8.3f} ms/iteration")
    print(f"  {'WorkerPool, process backend':<28}{median['process'] * 1e3:8.3f} ms/iteration")
    print(f"  {'WorkerPool, Dask backend':<28}{median['dask'] * 1e3:8.3f} ms/iteration")
    print(
        f"  Dask / process backend: {median['dask'] / median['process']:.3f} (goal <= 2)   "
        f"Dask backend / client.map: {median['dask'] / median['map']:.3f} (goal <= 1)"
    )


def stop_reaction(client) -> None:
    n, unit = WORKERS, 0.01
    empty = [(np.zeros((1, 1)), np.zeros(1))] * n
    with WorkerPool(
        empty, least_squares_gradient, s_max=2, time_unit=unit, backend=DaskBackend(client)
    ) as pool:
        delays = stop_delays(pool, "nested", STOP_ITERATIONS)
    print(
        f"\nstop reaction, Dask backend, n = {n}, {STOP_ITERATIONS} iterations with 2 "
        f"unresponsive workers: median {np.median(delays):.3f} ms, 95% "
        f"{np.quantile(delays, 0.95):.3f} ms, max {delays.max():.3f} ms (goal: median <= 2 ms)"
    )


def reference(client) -> None:
    n, s_max, unit = REFERENCE["n"], REFERENCE["s_max"], REFERENCE["time_unit"]
    model, schemes, measured, simulated, weights, labels, samples, elapsed = measure_reference(
        DaskBackend(client)
    )
    print(
        f"\nreference scenario on the Dask backend: n = {n}, S = 0..{s_max}, "
        f"{model.describe()}, time unit {unit} s, {len(samples)} iterations per scheme, "
        f"stratified by the number of stragglers ({elapsed:.0f} s)"
    )
    print(
        f"  {'scheme':<10}{'measured':>10}{'± s.e.':>8}{'predicted':>11}{'ratio':>8}"
        f"{'overhead':>10}{'(pred+ovh)/pred':>17}"
    )
    for scheme in schemes:
        values = np.asarray(measured[scheme.name])
        predicted = expected_latency(n, scheme, model)
        mean, error = stratified_mean(values, labels, weights)
        extra = float(np.mean(values - np.asarray(simulated[scheme.name])))
        print(
            f"  {scheme.name:<10}{mean:10.3f}{error:8.3f}{predicted:11.3f}"
            f"{mean / predicted:8.3f}{extra:10.3f}{(predicted + extra) / predicted:17.3f}"
        )
    print(
        "  model time units; ratio = measured / predicted (goal 0.90 .. 1.10); overhead =\n"
        "  mean(measured - simulated on the same task times), the backend's own cost."
    )


def main() -> None:
    cluster, client = _cluster(REFERENCE["n"])
    try:
        overhead(client)
        stop_reaction(client)
        reference(client)
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
