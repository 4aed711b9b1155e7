"""The worker pool: protocol overhead and measured against predicted latency.

1. Overhead. One iteration with no work at all (zero-length tasks, a one-element gradient) on
   ``n = 8`` workers, against the baseline ``multiprocess.Pool.map`` over ``n`` empty tasks,
   measured in the same run: short blocks of each, one after another, each block's time divided
   by the baseline block just before it, the median of these paired ratios reported (the speed
   of a shared machine drifts by tens of per cent within a minute; a ratio of neighbouring
   blocks does not). Each block follows a few untimed iterations of its own kind, so that both
   sides are timed in their steady state: a run of iterations after a pause starts slowly on
   either side. Goals: uncoded ≤ 1.0, nested ≤ 0.5.
2. Reference scenario (``n = 10``, ``S = {0,…,4}``, ``a = 1``, ``μ = 1``, ``p = 0.2``, ``κ = 8``,
   time unit 0.01 s). Every scheme runs on the same sampled task times (common random numbers).
   Most of the spread of the latency comes from the number ``K ~ Bin(n, p)`` of stragglers, so the
   iterations are stratified by it: stratum ``K = k`` (``k < 6``) and ``K ≥ 6`` get iterations in
   proportion to their probability (at least two each), drawn from the same runtime model with
   exactly ``k`` stragglers (the Bernoulli model conditioned on ``K = k``). The measured mean is
   the stratified estimate ``Σ_h P(h) · mean_h``: unbiased, with the variance of the patterns
   between strata removed. Reported per scheme: that mean with its standard error, the exact
   predicted mean, their ratio (goal within ±10%), and the pool's overhead: the mean difference
   between the measured latency and the latency the simulator computes for the very same task
   times, whose ratio ``(predicted + overhead) / predicted`` is free of the sampling noise of the
   task times altogether (a control variate). Then the nested code's overhead over GC(4)'s, from
   the per-iteration medians (goal ≤ 1.25; what the nested code adds is reading the chosen
   workers' messages, which on one machine it copies from shared memory as their signals
   arrive, without a request round), and
   nested against the best GC(s), measured. The same again at 2 ms per time unit, where the
   overhead weighs five times more (goal: within ±10 % for every scheme).
3. Stop reaction. The nested scheme on ``n = 8`` workers, two of them unresponsive: the time
   from the master sending *stop* to the worker abandoning its task (both on the system's
   monotonic clock, from the iteration's event log). Goal: median ≤ 0.2 ms. The stops leave
   once the master holds the messages it read; GC(2) on the same pattern shows a stop alone.
4. The floor of a request round on this machine: ``k`` processes asleep (as workers in a task
   are), each sent one byte and answering with one byte, raw system calls and nothing else; the
   time until the last answer is in, for ``k`` = 6 and 10 (the reference's ``n − s`` at the top
   and bottom levels). That is what a request for the nested code's messages would cost at the
   least; against it, the time the nested code takes from its decision to holding the messages
   it reads without asking.
5. The theory at a fine time unit: ``gclib demo --time-unit 0.002 --iterations 200`` for every
   scheme, measured against predicted mean latency (goal within ±10 %). The ratio is the
   product of the sampling error of the 200 draws (the model's latency of the same draws over
   the prediction, several per cent for the heavy-tailed schemes) and the pool's own share
   (measured over the model's latency of the same draws); the demo reports both.

Run with ``python -m benchmarks pool``.
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import subprocess
import sys
import time

import multiprocess
import numpy as np
from scipy import stats

from gclib import ModelSample, RuntimeModel, parse_scheme
from gclib.analysis.latency import expected_latency
from gclib.analysis.simulate import simulate_sample
from gclib.runtime.pool import WorkerPool

OVERHEAD_WORKERS = 8
OVERHEAD_BLOCKS = 15
OVERHEAD_ITERATIONS = 40
# Untimed iterations before each block: after any pause this machine runs the first iterations
# slowly (the first one three to four times the steady time, settling after about eight), for
# multiprocess.Pool.map and the worker pool alike; a fixed cost that would weigh most on whichever
# block is shorter.
OVERHEAD_WARM_UP = 10

REFERENCE = {"n": 10, "s_max": 4, "time_unit": 0.01, "iterations": 110, "seed": 2024}
FINE_TIME_UNIT = 0.002  # seconds per model time unit where the overhead weighs five times more
REFERENCE_SCHEMES = (
    *("nested", "uncoded", "gc:1", "gc:2", "gc:3", "gc:4", "ignore:2"),
    *("cover", "nested-eager", "streaming"),
)


def _no_gradient(params: np.ndarray, partition: object) -> np.ndarray:
    return np.zeros(1)


def _empty_task(item: int) -> None:
    return None


def _time_pool(pool: WorkerPool, scheme: str, sample: ModelSample, count: int) -> float:
    params = np.zeros(1)
    start = time.perf_counter()
    for _ in range(count):
        pool.run_iteration(params, scheme, sample=sample)
    return (time.perf_counter() - start) / count


def _time_map(baseline, count: int) -> float:
    items = range(OVERHEAD_WORKERS)
    start = time.perf_counter()
    for _ in range(count):
        baseline.map(_empty_task, items)
    return (time.perf_counter() - start) / count


def overhead() -> None:
    n = OVERHEAD_WORKERS
    # tasks of 1e-9 model units of 1e-3 s: no injected wait at all
    sample = ModelSample.from_task_times(np.full((n, 2), 1e-9))
    schemes = ("uncoded", "gc:1", "nested", "streaming")
    base: list[float] = []
    ratios: dict[str, list[float]] = {name: [] for name in schemes}
    with (
        WorkerPool([None] * n, _no_gradient, s_max=1, time_unit=1e-3) as pool,
        multiprocess.Pool(n) as baseline,
    ):
        for name in schemes:
            _time_pool(pool, name, sample, 20)  # warm up (plans sent, caches filled)
        _time_map(baseline, 20)
        for _ in range(OVERHEAD_BLOCKS):
            for name in schemes:
                _time_map(baseline, OVERHEAD_WARM_UP)
                base.append(_time_map(baseline, OVERHEAD_ITERATIONS))
                _time_pool(pool, name, sample, OVERHEAD_WARM_UP)
                seconds = _time_pool(pool, name, sample, OVERHEAD_ITERATIONS)
                ratios[name].append(seconds / base[-1])
    print(
        f"protocol overhead, n = {n}, zero work: median of {OVERHEAD_BLOCKS} paired blocks of "
        f"{OVERHEAD_ITERATIONS} iterations (quartiles)"
    )
    print(f"  {'multiprocess.Pool.map':<27}{np.median(base) * 1e3:8.3f} ms/iteration (baseline)")
    goals = {"uncoded": "  goal <= 1.0", "nested": "  goal <= 0.5"}
    for label in schemes:
        low, mid, high = np.quantile(ratios[label], [0.25, 0.5, 0.75])
        print(
            f"  {'WorkerPool ' + label:<27}ratio {mid:.3f} ({low:.3f} .. {high:.3f})"
            f"{goals.get(label, '')}"
        )


STRATUM_CUT = 6  # strata K = 0, …, 5 and K ≥ 6


def stratified_samples(model: RuntimeModel, n: int, tasks: int, total: int, rng):
    """About ``total`` task-time samples stratified by the number ``K`` of stragglers.

    Returns ``(weights, labels, samples)``: the probability of each stratum, the stratum of each
    sample and the samples (shuffled, so the strata interleave over the run). A stratum gets
    iterations in proportion to its probability, at least two.
    """
    law = stats.binom(n, model.straggler_prob)
    cut = min(STRATUM_CUT, n)
    weights = np.array([law.pmf(k) for k in range(cut)] + [law.sf(cut - 1)])
    tail = np.arange(cut, n + 1)
    tail_law = law.pmf(tail) / law.pmf(tail).sum()  # K given K ≥ cut
    samples, labels = [], []
    for stratum, weight in enumerate(weights):
        for _ in range(max(2, round(total * weight))):
            count = stratum if stratum < cut else int(rng.choice(tail, p=tail_law))
            exact = RuntimeModel(model.shift, model.rate, stragglers=count, slowdown=model.slowdown)
            samples.append(exact.sample(n, tasks, rng))
            labels.append(stratum)
    order = rng.permutation(len(samples))
    return weights, np.asarray(labels)[order], [samples[i] for i in order]


def stratified_mean(values: np.ndarray, labels: np.ndarray, weights: np.ndarray):
    """``Σ_h w_h mean_h`` and its standard error ``sqrt(Σ_h w_h² s_h² / n_h)``."""
    mean = variance = 0.0
    for index, weight in enumerate(weights):
        group = values[labels == index]
        mean += weight * float(group.mean())
        variance += weight**2 * float(group.var(ddof=1)) / group.size
    return mean, math.sqrt(variance)


def measure_reference(backend=None, time_unit: float | None = None):
    """The reference scenario on a pool (``backend``: a backend factory, default processes;
    ``time_unit``: default the reference's): ``(model, schemes, measured, simulated, weights,
    labels, samples, seconds)``, the measured latencies and the simulator's on the very same task
    times, per scheme."""
    n, s_max = REFERENCE["n"], REFERENCE["s_max"]
    unit = REFERENCE["time_unit"] if time_unit is None else time_unit
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
    schemes = [parse_scheme(name, s_max, None, n) for name in REFERENCE_SCHEMES]
    rng = np.random.default_rng(REFERENCE["seed"])
    partitions = [(rng.standard_normal((20, 10)), rng.standard_normal(20)) for _ in range(n)]
    from gclib.training.objectives import least_squares_gradient

    measured = {scheme.name: [] for scheme in schemes}
    simulated = {scheme.name: [] for scheme in schemes}
    iterations = REFERENCE["iterations"]
    weights, labels, samples = stratified_samples(model, n, s_max + 1, iterations, rng)
    started = time.perf_counter()
    with WorkerPool(
        partitions,
        least_squares_gradient,
        s_max=s_max,
        model=model,
        time_unit=unit,
        seed=REFERENCE["seed"],
        backend=backend,
    ) as pool:
        params = np.zeros(10)
        for sample in samples:
            same = simulate_sample(schemes, sample, model=model)
            for scheme in schemes:
                result = pool.run_iteration(params, scheme, sample=sample)
                measured[scheme.name].append(result.latency)
                simulated[scheme.name].append(float(same[scheme.name].latency[0]))
    seconds = time.perf_counter() - started
    return model, schemes, measured, simulated, weights, labels, samples, seconds


def reference(time_unit: float | None = None) -> None:
    n, s_max = REFERENCE["n"], REFERENCE["s_max"]
    unit = REFERENCE["time_unit"] if time_unit is None else time_unit
    model, schemes, measured, simulated_latency, weights, labels, samples, elapsed = (
        measure_reference(time_unit=unit)
    )
    print(
        f"\nreference scenario: n = {n}, S = 0..{s_max}, {model.describe()}, time unit "
        f"{unit} s, {len(samples)} iterations per scheme on common task times, stratified by "
        f"the number of stragglers ({elapsed:.0f} s)"
    )
    print(
        f"  {'scheme':<10}{'measured':>10}{'± s.e.':>8}{'simulated':>11}{'predicted':>11}"
        f"{'ratio':>8}{'z':>7}{'overhead':>10}{'(pred+ovh)/pred':>17}"
    )
    means, overheads = {}, {}
    for scheme in schemes:
        values = np.asarray(measured[scheme.name])
        same_times = np.asarray(simulated_latency[scheme.name])
        predicted = expected_latency(n, scheme, model)
        mean, error = stratified_mean(values, labels, weights)
        simulated_mean, _ = stratified_mean(same_times, labels, weights)
        extra = float(np.mean(values - same_times))
        means[scheme.name] = mean
        overheads[scheme.name] = float(np.median(values - same_times)) * unit * 1e3
        print(
            f"  {scheme.name:<10}{mean:10.3f}{error:8.3f}{simulated_mean:11.3f}"
            f"{predicted:11.3f}{mean / predicted:8.3f}{(mean - predicted) / error:7.2f}"
            f"{extra:10.3f}{(predicted + extra) / predicted:17.3f}"
        )
    print(
        "  latencies in model time units, stratified means. simulated: the simulator on the very\n"
        "  same task times; ratio = measured / predicted (goal 0.90 .. 1.10), z = its deviation\n"
        "  in standard errors (the task times drawn); overhead = mean(measured - simulated), the\n"
        "  pool's own cost, so (pred+ovh)/pred is the ratio without the sampling noise."
    )
    print(
        "  overhead per iteration, median over the iterations: "
        + ", ".join(f"{name} {value:.2f} ms" for name, value in overheads.items())
    )
    goal = "   goal <= 1.25" if unit == REFERENCE["time_unit"] else "   (the goal is at 0.01 s)"
    print(
        f"  nested overhead / GC(4) overhead: {overheads['nested'] / overheads['gc:4']:.2f}{goal}"
    )
    best = min((name for name in means if name.startswith("gc:")), key=means.get)
    predicted_best = min(expected_latency(n, [s], model) for s in range(1, s_max + 1))
    print(
        f"  nested / best GC ({best}), measured: {means['nested'] / means[best]:.3f}   "
        f"predicted: {expected_latency(n, list(range(s_max + 1)), model) / predicted_best:.3f}"
    )
    cover, nested = (parse_scheme(name, s_max, None, n) for name in ("cover", "nested"))
    predicted_ratio = expected_latency(n, cover, model) / expected_latency(n, nested, model)
    print(
        f"  cover / nested, measured: {means['cover'] / means['nested']:.3f}   "
        f"predicted: {predicted_ratio:.3f}   goal <= 0.6"
    )


ROUND_ITERATIONS = 40


def request_round() -> float:
    """Where the nested code's extra time goes: traced iterations of the reference scenario.
    Returns the median time from the decision to holding the messages, in milliseconds."""
    n, s_max, unit = REFERENCE["n"], REFERENCE["s_max"], REFERENCE["time_unit"]
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
    rng = np.random.default_rng(REFERENCE["seed"])
    partitions = [(rng.standard_normal((20, 10)), rng.standard_normal(20)) for _ in range(n)]
    from gclib.training.objectives import least_squares_gradient

    spread, decide, round_ = [], [], []
    with WorkerPool(
        partitions, least_squares_gradient, s_max=s_max, model=model, time_unit=unit, seed=1
    ) as pool:
        for _ in range(ROUND_ITERATIONS):
            events = pool.run_iteration(np.zeros(10), "nested", trace=True).events
            asked = min(e.time for e in events if e.kind == "request")
            spread.append(max(e.time for e in events if e.kind == "receive"))
            decide.append(
                asked - max(e.time for e in events if e.kind == "signal" and e.time <= asked)
            )
            round_.append(next(e.time for e in events if e.kind == "complete") - asked)
    ms = {
        name: float(np.median(values)) * unit * 1e3
        for name, values in (("spread", spread), ("decide", decide), ("round", round_))
    }
    print(
        f"\nnested, reference scenario, {ROUND_ITERATIONS} traced iterations (medians): the "
        f"broadcast reaches the last worker after {ms['spread']:.2f} ms; the decision takes "
        f"{ms['decide']:.2f} ms after the deciding signal, reading the chosen workers' messages "
        f"(without a request)\n  {ms['round']:.2f} ms"
    )
    return ms["round"]


FLOOR_ROUNDS = 300


def _echo(read_end: int, write_end: int) -> None:
    """A child that sleeps until a byte comes and answers with one, for ever."""
    while True:
        select.select([read_end], [], [], 1.0)
        if os.read(read_end, 1):
            os.write(write_end, b"x")


def wake_floor(nested_round: float) -> None:
    """The time a round of one byte to ``k`` sleeping processes and one byte back takes, with no
    work in between: what any request round costs on this machine."""
    rng = np.random.default_rng(7)
    print(
        f"\nfloor of a request round: k sleeping processes, one byte there and back, raw system "
        f"calls, {FLOOR_ROUNDS} rounds 2-8 ms apart (medians)"
    )
    for k in (6, 10):
        children, ends = [], []
        for _ in range(k):
            down_read, down_write = os.pipe()
            up_read, up_write = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                try:
                    _echo(down_read, up_write)
                finally:
                    os._exit(0)
            children.append(pid)
            ends.append((down_write, up_read))
        poller = select.poll()
        for _, up_read in ends:
            poller.register(up_read, select.POLLIN)
        rounds = []
        try:
            for _ in range(FLOOR_ROUNDS):
                time.sleep(rng.uniform(0.002, 0.008))
                start = time.perf_counter()
                for down_write, _ in ends:
                    os.write(down_write, b"g")
                answered = 0
                while answered < k:
                    for fd, _ in poller.poll():
                        os.read(fd, 1)
                        answered += 1
                rounds.append(time.perf_counter() - start)
        finally:
            for pid in children:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            for pair in ends:
                for fd in pair:
                    os.close(fd)
        print(f"  k = {k:2d}: {np.median(rounds) * 1e3:.3f} ms")
    print(
        f"  the nested code, reading the messages of n - s workers (6 to 10) without a request: "
        f"{nested_round:.3f} ms"
    )


STOP_ITERATIONS = 60


UNRESPONSIVE = (2, 5)  # two unresponsive workers, stopped when level 2 is decoded


def stop_delays(pool: WorkerPool, scheme: str, iterations: int) -> np.ndarray:
    """Milliseconds from the master's *stop* to the unresponsive workers abandoning their task,
    on the pool's system clock, over ``iterations`` iterations with 3 unit tasks per worker."""
    silent = np.ones((pool.n, 3))
    silent[list(UNRESPONSIVE)] = np.inf
    sample = ModelSample.from_task_times(silent)
    delays = []
    for _ in range(iterations):
        result = pool.run_iteration(np.zeros(1), scheme, sample=sample, trace=True)
        for worker in UNRESPONSIVE:
            mine = {e.kind: e.time for e in result.events if e.worker == worker}
            delays.append((mine["task_abandon"] - mine["stop"]) * pool.time_unit * 1e3)
    return np.asarray(delays)


def stop_reaction() -> None:
    n, unit = OVERHEAD_WORKERS, 0.01
    print(f"\nstop reaction, n = {n}, {STOP_ITERATIONS} iterations with 2 unresponsive workers")
    with WorkerPool([None] * n, _no_gradient, s_max=2, time_unit=unit) as pool:
        for name, goal in (("nested", "   goal: median <= 0.2 ms"), ("gc:2", "")):
            delays = stop_delays(pool, name, STOP_ITERATIONS)
            print(
                f"  {name:<8}median {np.median(delays):.3f} ms, 95% "
                f"{np.quantile(delays, 0.95):.3f} ms, max {delays.max():.3f} ms{goal}"
            )


DEMO = ["--time-unit", "0.002", "--iterations", "200"]
DEMO_SCHEMES = ",".join(REFERENCE_SCHEMES)


def demo_against_theory() -> None:
    command = [sys.executable, "-c", "import sys; from gclib.cli import main; sys.exit(main())"]
    arguments = ["demo", *DEMO, "--schemes", DEMO_SCHEMES, "--json"]
    started = time.perf_counter()
    completed = subprocess.run(command + arguments, capture_output=True, text=True, check=True)
    schemes = json.loads(completed.stdout)["schemes"]
    print(
        f"\ngclib {' '.join(arguments)} ({time.perf_counter() - started:.0f} s)\n"
        f"  {'scheme':<13}{'measured':>9}{'model':>8}{'predicted':>10}{'ratio':>8}"
        f"{'draws':>8}{'pool':>8}   goal: ratio 0.90 .. 1.10"
    )
    for name, entry in schemes.items():
        measured, predicted = entry["mean_latency"], entry["predicted_mean_latency"]
        model = entry["model_mean_latency"]
        print(
            f"  {name:<13}{measured:9.3f}{model:8.3f}{predicted:10.3f}{measured / predicted:8.3f}"
            f"{model / predicted:8.3f}{measured / model:8.3f}"
        )
    print(
        "  model: the model's latency of the task times the pool ran; ratio = measured /\n"
        "  predicted = draws x pool, where draws = model / predicted is the sampling error of the\n"
        "  200 draws and pool = measured / model the pool's own share"
    )


def main() -> None:
    # the pool's overhead is process wake-ups: a busy machine shows in every figure below
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)")
    overhead()
    reference()
    reference(FINE_TIME_UNIT)
    nested_round = request_round()
    wake_floor(nested_round)
    stop_reaction()
    demo_against_theory()


if __name__ == "__main__":
    main()
