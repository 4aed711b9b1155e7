"""Monte Carlo simulation of one iteration of every scheme on sampled task times.

Two paths compute the same thing from a :class:`~gclib.ModelSample`:

- the *vectorized* path uses order statistics of the finish times ``F_{i,k}`` (the time worker
  ``i`` finishes its ``k``-th task): GC(s) finishes at the ``(n−s)``-th smallest ``F_{i,s+1}``, the
  nested code at the smallest of these over ``s ∈ S``, ignore-stragglers(s) at the ``(n−s)``-th
  smallest ``F_{i,1}`` and streaming at the coverage time
  ``max_j min_{k} F_{(j−k) mod n, k+1}``, the moment every partition has been computed by some
  worker;
- the *event-driven* path replays the progress reports, messages and crashes through the
  master's :class:`~gclib.Scheduler`, the very state machine the worker pool runs.

Conventions (shared with the exact theory). A progress signal reaches the master
``signal_cost`` after its task, an upload ``upload_cost`` after it is sent, and the master's own
messages take no time. Simultaneous events are handled in the order (time, task count, worker), so
that simultaneous completions favour the smaller level. The master stops every worker when it
decides (nested: when it requests the level-``s`` messages; the other schemes: when it finishes);
a worker has computed the tasks it finished by then (capped at the scheme's task count). Eager
schemes count one upload per worker that finished its upload task by the stop; the nested code
uploads ``n − s`` messages and sends one signal per computed task; streaming uploads every computed
task. An iteration that never finishes (unresponsive workers beyond the tolerance) has latency
``inf`` and level ``-1``; its workers compute their whole window.
"""

from __future__ import annotations

import heapq
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gclib._verify import check_instance, check_integer
from gclib.model import ModelSample, RuntimeModel
from gclib.runtime.scheduler import Complete, Fail, Request, Resume, Scheduler
from gclib.schemes.base import Contribution, Scheme
from gclib.schemes.parse import resolve_schemes

__all__ = ["SchemeSimulation", "simulate", "simulate_sample"]

# worker-task entries sampled per chunk of iterations (memory bound of the vectorized path)
_CHUNK_ENTRIES = 2_000_000


@dataclass(frozen=True)
class SchemeSimulation:
    """The simulated iterations of one scheme.

    Attributes:
        scheme: the scheme.
        n: the number of workers.
        latency: shape ``(iterations,)``, in model time units (``inf``: never finished).
        level: shape ``(iterations,)``, the tolerance the master decoded with (the ``s`` of
            GC(s) and ignore(s)); ``-1`` for streaming and for iterations that never finished.
        tasks: shape ``(iterations, n)``, the tasks each worker computed.
        uploads: shape ``(iterations,)``, gradient-sized uploads.
        signals: shape ``(iterations,)``, progress signals.
    """

    scheme: Scheme
    n: int
    latency: np.ndarray
    level: np.ndarray
    tasks: np.ndarray
    uploads: np.ndarray
    signals: np.ndarray

    @property
    def iterations(self) -> int:
        return int(self.latency.size)

    @property
    def failed(self) -> int:
        """The number of iterations that never finished."""
        return int(np.count_nonzero(np.isinf(self.latency)))

    @property
    def mean_latency(self) -> float:
        """The sample mean (``inf`` if some iteration never finished)."""
        return float(np.mean(self.latency))

    @property
    def latency_stderr(self) -> float:
        """The standard error of :attr:`mean_latency` (``inf`` if some iteration failed)."""
        if self.failed:
            return math.inf
        if self.iterations < 2:
            return math.nan
        return float(np.std(self.latency, ddof=1) / math.sqrt(self.iterations))

    def quantile(self, q: float | Sequence[float]) -> float | np.ndarray:
        """Empirical quantile(s) of the latency (``inf`` counts as the largest value)."""
        values = np.quantile(self.latency, q, method="inverted_cdf")
        return float(values) if np.ndim(values) == 0 else values

    def cdf(self, t: float | np.ndarray) -> np.ndarray:
        """The empirical distribution function ``#{latency ≤ t} / iterations``."""
        ordered = np.sort(self.latency)
        return np.searchsorted(ordered, np.asarray(t, dtype=float), side="right") / ordered.size

    @property
    def mean_tasks_per_worker(self) -> float:
        return float(np.mean(self.tasks))

    @property
    def mean_uploads(self) -> float:
        return float(np.mean(self.uploads))

    @property
    def mean_signals(self) -> float:
        return float(np.mean(self.signals))

    def level_frequencies(self) -> dict[int, float]:
        """``level → fraction of the iterations`` (``-1``: none)."""
        values, counts = np.unique(self.level, return_counts=True)
        return {int(v): float(c) / self.iterations for v, c in zip(values, counts, strict=True)}


# ------------------------------------------------------------------------------- validation
_NO_COSTS = RuntimeModel(1.0, 1.0)


def _costs_model(model: RuntimeModel | None) -> RuntimeModel:
    """The model whose communication costs apply (``None``: no costs)."""
    if model is None:
        return _NO_COSTS
    check_instance(model, "model", RuntimeModel)
    return model


# ---------------------------------------------------------------------------- shared outputs
def _activity(
    scheme: Scheme, finish: np.ndarray, raw: np.ndarray, stop: np.ndarray, level: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tasks per worker, uploads and signals of each iteration, given the stop times."""
    K = scheme.tasks_per_worker
    n = finish.shape[1]
    window = finish[:, :, :K]
    # inf <= inf: an unresponsive worker finishes nothing, even in an iteration that never ends
    done = (window <= stop[:, None, None]) & np.isfinite(window)
    tasks = np.count_nonzero(done, axis=2)
    total = tasks.sum(axis=1)
    eager = [k - 1 for k in scheme.eager_tasks]
    uploads = np.count_nonzero(done[:, :, eager], axis=(1, 2)) if eager else np.zeros_like(total)
    if scheme.requests:
        known = np.count_nonzero((window <= raw[:, None, None]) & np.isfinite(window), axis=2)
        uploads = uploads + scheme.requested_uploads(n, level, known)
    signals = total if scheme.signals else np.zeros_like(total)
    dtype = np.min_scalar_type(K)
    return tasks.astype(dtype), uploads.astype(np.int64), signals.astype(np.int64)


# ---------------------------------------------------------------------------- vectorized path
def _vectorized(
    scheme: Scheme, finish: np.ndarray, model: RuntimeModel
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Latency, level, stop time and raw latency of each iteration from the finish times
    ``(I, n, tasks)``, with the arithmetic of the event-driven path (so both agree exactly)."""
    c, u = model.signal_cost, model.upload_cost
    if scheme.requests:
        raw, level = scheme.sample_raw(finish)
        arrive = (raw + c) + c  # the decisive signal, then the request, reach their ends
        if model.shared_link:
            window = finish[..., : scheme.tasks_per_worker]
            known = np.count_nonzero(window <= raw[:, None, None], axis=2)
            count = scheme.requested_uploads(finish.shape[1], level, known)
            latency = arrive.copy()
            for j in range(int(count.max(initial=0))):
                latency = np.where(j < count, latency + u, latency)
        else:
            latency = arrive + u
        stop = arrive
    else:
        raw, level = scheme.sample_raw(scheme.upload_arrivals(finish, model))
        latency = raw
        stop = latency + c
    finite = np.isfinite(raw)
    return np.where(finite, latency, np.inf), level, np.where(finite, stop, np.inf), raw


# -------------------------------------------------------------------------- event-driven path
_LOST, _PROGRESS, _MESSAGE = 0, 1, 2


def _queued_uploads(scheme: Scheme, finish: np.ndarray, model: RuntimeModel) -> np.ndarray:
    """The arrival times of one iteration's unasked uploads, ``(n, tasks)``: on a shared link
    the uploads are served one at a time in the order they are sent (written as the plain
    queue, independently of :meth:`Scheme.upload_arrivals`, which the vectorised path uses)."""
    arrivals = np.array(finish, dtype=float, copy=True)
    tasks = [k - 1 for k in scheme.eager_tasks]
    if not model.shared_link:
        arrivals[:, tasks] += model.upload_cost
        return arrivals
    sends = sorted((float(finish[w, k]), k, w) for w in range(finish.shape[0]) for k in tasks)
    free = 0.0
    for time, k, w in sends:
        if math.isfinite(time):
            free = max(time, free) + model.upload_cost
            arrivals[w, k] = free
        else:
            arrivals[w, k] = math.inf
    return arrivals


def _run_iteration(
    scheme: Scheme,
    finish: np.ndarray,
    crashed: np.ndarray,
    loss_times: np.ndarray,
    model: RuntimeModel,
) -> tuple[float, int, float]:
    """Replay one iteration through the Scheduler; returns ``(latency, level, stop time)``."""
    n = finish.shape[0]
    scheduler = Scheduler(n, scheme)
    link_free = 0.0  # the shared link is free from this time on
    c, u = model.signal_cost, model.upload_cost
    # (time, kind, task count, worker, sequence): simultaneous events are handled in the order
    # losses, progress (fewer tasks first), messages
    events: list[tuple[float, int, int, int, int]] = []
    contributions: dict[int, Contribution] = {}
    arrivals = None if scheme.requests else _queued_uploads(scheme, finish, model)
    for worker in range(n):
        if crashed[worker]:
            events.append((float(loss_times[worker]), _LOST, 0, worker, 0))
        for k in range(1, scheme.tasks_per_worker + 1):
            if arrivals is not None and scheme.eager_upload(k) is not None:
                time = float(arrivals[worker, k - 1])
            elif arrivals is None and scheme.signals:
                time = float(finish[worker, k - 1]) + c
            else:
                continue
            if math.isfinite(time):
                events.append((time, _PROGRESS, k, worker, 0))
    heapq.heapify(events)
    stopped = [False] * n
    stop_time = math.inf
    while events:
        time, kind, tasks, worker, sequence = heapq.heappop(events)
        if kind == _LOST:
            actions = scheduler.lost(worker)
        elif kind == _MESSAGE:
            actions = scheduler.message(worker, contributions[sequence])
        else:
            if stopped[worker]:
                continue  # a stopped worker computes nothing more
            actions = scheduler.progress(worker, tasks)
        for action in actions:
            if isinstance(action, Request):
                arrive = time + c  # the request reaches the worker, which uploads at once
                stop_time = min(stop_time, arrive)
                for w, contribution in action.requests:
                    if model.shared_link:
                        link_free = max(arrive, link_free) + u
                        reply = link_free
                    else:
                        reply = arrive + u
                    contributions[len(contributions) + 1] = contribution
                    heapq.heappush(events, (reply, _MESSAGE, 0, w, len(contributions)))
            elif isinstance(action, Complete):
                stop_time = min(stop_time, time + c)
                level = -1 if action.level is None else action.level
                return time, level, stop_time
            elif isinstance(action, Fail):
                return math.inf, -1, math.inf
            elif isinstance(action, Resume):
                # only a lost responder makes the master resume; a simulated crash happens
                # before the first report, so no crashed worker is ever a responder
                raise RuntimeError("unexpected resume in a simulated iteration")
            else:  # Stop
                for w in action.workers:
                    stopped[w] = True
                stop_time = min(stop_time, time + c)
    return math.inf, -1, math.inf


def _raw_of(scheme: Scheme, finish: np.ndarray) -> np.ndarray:
    """The raw latency of the finish times (what the master knows when a scheme that asks
    decides)."""
    return scheme.sample_raw(finish)[0]


def _event_driven(
    scheme: Scheme,
    finish: np.ndarray,
    sample: ModelSample,
    model: RuntimeModel,
    loss_scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    iterations = finish.shape[0]
    latency = np.empty(iterations)
    level = np.empty(iterations, dtype=int)
    stop = np.empty(iterations)
    crashed = np.asarray(sample.crashed).reshape(iterations, -1)
    losses = np.asarray(sample.crash_fraction).reshape(iterations, -1) * loss_scale
    for i in range(iterations):
        latency[i], level[i], stop[i] = _run_iteration(
            scheme, finish[i], crashed[i], losses[i], model
        )
    # an iteration that never finishes keeps every worker busy with its whole window
    stop = np.where(np.isinf(latency), np.inf, stop)
    return latency, level, stop, _raw_of(scheme, finish)


# ------------------------------------------------------------------------------- entry points
def _simulate_finish(
    schemes: Sequence[Scheme],
    finish: np.ndarray,
    sample: ModelSample,
    model: RuntimeModel,
    method: str,
    loss_scale: float,
) -> dict[str, tuple[np.ndarray, ...]]:
    out = {}
    for scheme in schemes:
        if method == "vectorized":
            latency, level, stop, raw = _vectorized(scheme, finish, model)
        else:
            latency, level, stop, raw = _event_driven(scheme, finish, sample, model, loss_scale)
        tasks, uploads, signals = _activity(scheme, finish, raw, stop, level)
        out[scheme.name] = (latency, level.astype(np.int16), tasks, uploads, signals)
    return out


def _check_method(method: str) -> str:
    if method not in ("vectorized", "events"):
        raise ValueError(f"Argument 'method' must be 'vectorized' or 'events', not {method!r}.")
    return method


def simulate_sample(
    schemes: Scheme | Sequence[Scheme],
    sample: ModelSample,
    *,
    model: RuntimeModel | None = None,
    method: str = "vectorized",
) -> dict[str, SchemeSimulation]:
    """Simulate ``schemes`` on given task times (one or many iterations).

    Args:
        schemes: a :class:`~gclib.Scheme` or a sequence of them.
        sample: task times of shape ``(n, tasks)`` or ``(iterations, n, tasks)`` with at least
            as many tasks as any scheme computes.
        model: supplies the communication costs and the time scale at which a crash is reported
            (``crash_fraction · (a + 1/μ)``); ``None``: no costs.
        method: ``"vectorized"`` (order statistics) or ``"events"`` (the Scheduler).

    Returns:
        Scheme name → :class:`SchemeSimulation`.
    """
    if not isinstance(sample, ModelSample):
        raise ValueError(f"Argument 'sample' must be a ModelSample, not {type(sample).__name__}.")
    method = _check_method(method)
    costs = _costs_model(model)
    times = np.asarray(sample.task_times, dtype=float)
    if times.ndim == 2:
        times = times[None]
    if times.ndim != 3:
        raise ValueError(
            f"Argument 'sample' must hold (iterations, n, tasks) times, not {times.shape}."
        )
    n = times.shape[1]
    schemes = resolve_schemes(schemes, n=n)
    needed = max(s.tasks_per_worker for s in schemes)
    if times.shape[2] < needed:
        raise ValueError(
            f"Argument 'sample' has {times.shape[2]} tasks per worker; the schemes need {needed}."
        )
    loss_scale = model.mean_task_time if model is not None else 1.0
    finish = np.cumsum(times, axis=-1)
    raw = _simulate_finish(schemes, finish, sample, costs, method, loss_scale)
    return {name: SchemeSimulation(s, n, *raw[name]) for s, name in zip(schemes, raw, strict=True)}


def simulate(
    n: int,
    schemes: Scheme | str | Sequence[Scheme | str],
    model: RuntimeModel,
    iterations: int,
    rng: np.random.Generator | int | None = None,
    *,
    s_max: int | None = None,
    levels: Sequence[int] | None = None,
    method: str = "vectorized",
    progress: bool = False,
) -> dict[str, SchemeSimulation]:
    """Monte Carlo simulation of ``iterations`` independent iterations of every scheme.

    All schemes see the same sampled task times (common random numbers), so their latencies can
    be compared iteration by iteration.

    Args:
        n: the number of workers.
        schemes: :class:`~gclib.Scheme` objects or names (``"nested"``, ``"gc:2"``,
            ``"uncoded"``, ``"ignore:1"``, ``"streaming"``, or a comma list of them).
        model: the runtime and straggler model, with its communication costs.
        iterations: the number of iterations.
        rng: a ``numpy.random.Generator`` or a seed.
        s_max: the placement's largest tolerance; needed to parse scheme names.
        levels: the nested level set when parsing ``"nested"`` (default ``0..s_max``).
        method: ``"vectorized"`` (fast order statistics) or ``"events"`` (the Scheduler).
        progress: show a progress bar on standard error (only when it is a terminal).

    Returns:
        Scheme name → :class:`SchemeSimulation`.

    Examples:
        >>> import gclib
        >>> model = gclib.RuntimeModel(
        ...     1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
        >>> result = gclib.simulate(
        ...     10, "nested,gc:2", model, 1000, rng=1, s_max=4)
        >>> nested, gc2 = result["nested"], result["gc:2"]
        >>> bool(nested.mean_latency < gc2.mean_latency)
        True
    """
    n = check_integer(n, "n", 1)
    n = int(n)
    check_instance(model, "model", RuntimeModel)
    model.check_workers(n)
    valid_count = isinstance(iterations, int | np.integer) and not isinstance(iterations, bool)
    if not valid_count or iterations < 1:
        raise ValueError(f"Argument 'iterations' must be a positive integer, not {iterations!r}.")
    if s_max is not None and (
        isinstance(s_max, bool) or not isinstance(s_max, int | np.integer) or not 0 <= s_max < n
    ):
        raise ValueError(
            f"Argument 's_max' must be an integer in [0, n) = [0, {n}), not {s_max!r}."
        )
    method = _check_method(method)
    schemes = resolve_schemes(schemes, s_max, levels, n)
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    tasks = max(s.tasks_per_worker for s in schemes)
    chunk = max(1, _CHUNK_ENTRIES // (n * tasks))
    parts: dict[str, list[tuple[np.ndarray, ...]]] = {s.name: [] for s in schemes}
    starts = range(0, int(iterations), chunk)
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=int(iterations), unit="it", file=sys.stderr, leave=False)
    try:
        for start in starts:
            size = min(chunk, int(iterations) - start)
            sample = model.sample(n, tasks, generator, size=size)
            finish = np.cumsum(sample.task_times, axis=-1)
            raw = _simulate_finish(schemes, finish, sample, model, method, model.mean_task_time)
            for name, values in raw.items():
                parts[name].append(values)
            if bar is not None:
                bar.update(size)
    finally:
        if bar is not None:
            bar.close()
    result = {}
    for scheme in schemes:
        columns = zip(*parts[scheme.name], strict=True)
        arrays = [np.concatenate(list(column)) for column in columns]
        result[scheme.name] = SchemeSimulation(scheme, n, *arrays)
    return result
