"""Monte Carlo of any number of iterations in bounded memory.

:func:`~gclib.simulate` keeps every iteration; :func:`monte_carlo` runs it batch after batch and
keeps only running sums: the mean latency and its standard error (Chan's parallel update of the
mean and the sum of squared deviations), the failures, tasks, uploads and signals. Quantiles come
from the latencies themselves while at most ``keep`` iterations have run (then they are exact and
the kept latencies are exactly those of :func:`~gclib.simulate` with the same seed, since the
batches draw the same numbers in the same order), beyond that from a uniform sample of ``keep``
iterations, the same iterations for every scheme (bottom-``keep`` of random keys drawn from a
stream of their own, so that the task times stay those of the one-call simulation).

An interrupt (Ctrl-C, or SIGTERM where the caller turns it into ``KeyboardInterrupt``) with
``stop_on_interrupt`` ends the run after the last complete batch and returns what it has.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gclib._verify import check_integer
from gclib.analysis.simulate import _CHUNK_ENTRIES, simulate
from gclib.model import RuntimeModel
from gclib.schemes.base import Scheme
from gclib.schemes.parse import resolve_schemes

__all__ = ["MonteCarloSummary", "MonteCarloRun", "monte_carlo", "batch_size", "batch_bytes"]

#: latencies kept per scheme for quantiles and figures
KEEP = 1_000_000

# bytes per worker-task entry of a batch: the sampled times, their cumulative sums and the
# per-scheme order statistics and masks simulate builds from them
_BYTES_PER_ENTRY = 64


def batch_size(n: int, tasks: int) -> int:
    """Iterations per batch: the chunk :func:`~gclib.simulate` draws at once, so that batches
    draw the numbers of one long simulation."""
    return max(1, _CHUNK_ENTRIES // (n * tasks))


def batch_bytes(n: int, tasks: int, schemes: int = 1) -> int:
    """An estimate of the memory one batch needs (bytes)."""
    size = batch_size(n, tasks)
    return size * n * (tasks * _BYTES_PER_ENTRY + 2 * schemes) + size * schemes * 64


@dataclass
class MonteCarloSummary:
    """The aggregated iterations of one scheme (the same quantities as
    :class:`~gclib.analysis.simulate.SchemeSimulation`, in bounded memory).

    Attributes:
        scheme: the scheme.
        n: the number of workers.
        iterations: the iterations aggregated.
        failed: those that never finished (latency ``inf``).
        latency: the kept latencies: every one while ``exact_quantiles``, else a uniform
            sample of the iterations.
        exact_quantiles: whether :attr:`latency` holds every iteration.
    """

    scheme: Scheme
    n: int
    iterations: int = 0
    failed: int = 0
    latency: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    exact_quantiles: bool = True
    _mean: float = 0.0  # of the finite latencies
    _squares: float = 0.0  # sum of their squared deviations from the mean
    _tasks: float = 0.0
    _uploads: float = 0.0
    _signals: float = 0.0

    @property
    def mean_latency(self) -> float:
        """The sample mean (``inf`` if some iteration never finished, ``nan`` if none ran)."""
        if not self.iterations:
            return math.nan
        return math.inf if self.failed else self._mean

    @property
    def latency_stderr(self) -> float:
        """The standard error of :attr:`mean_latency` (``inf`` if some iteration failed)."""
        if self.failed:
            return math.inf
        if self.iterations < 2:
            return math.nan
        return math.sqrt(self._squares / (self.iterations - 1) / self.iterations)

    def quantile(self, q: float | Sequence[float]) -> float | np.ndarray:
        """Empirical quantile(s) of the latency (``inf`` counts as the largest value): exact
        while :attr:`exact_quantiles`, else those of the uniform sample."""
        if not self.latency.size:
            return math.nan if np.ndim(q) == 0 else np.full(np.shape(q), math.nan)
        values = np.quantile(self.latency, q, method="inverted_cdf")
        return float(values) if np.ndim(values) == 0 else values

    @property
    def mean_tasks_per_worker(self) -> float:
        return self._tasks / (self.iterations * self.n) if self.iterations else math.nan

    @property
    def mean_uploads(self) -> float:
        return self._uploads / self.iterations if self.iterations else math.nan

    @property
    def mean_signals(self) -> float:
        return self._signals / self.iterations if self.iterations else math.nan

    def _add(self, latency: np.ndarray, tasks: np.ndarray, uploads, signals) -> None:
        finite = latency[np.isfinite(latency)]
        count, before = finite.size, self.iterations - self.failed
        if count:
            mean = float(finite.mean())
            squares = float(np.sum((finite - mean) ** 2))
            delta, total = mean - self._mean, before + count
            self._mean += delta * count / total
            self._squares += squares + delta * delta * before * count / total
        self.iterations += latency.size
        self.failed += latency.size - count
        self._tasks += float(np.sum(tasks, dtype=np.float64))
        self._uploads += float(np.sum(uploads, dtype=np.float64))
        self._signals += float(np.sum(signals, dtype=np.float64))


@dataclass
class MonteCarloRun:
    """What :func:`monte_carlo` returns: scheme name → :class:`MonteCarloSummary`, the
    iterations requested and done, and whether an interrupt ended the run early."""

    schemes: dict[str, MonteCarloSummary]
    requested: int
    interrupted: bool = False

    @property
    def iterations(self) -> int:
        return next(iter(self.schemes.values())).iterations if self.schemes else 0


def monte_carlo(
    n: int,
    schemes: Scheme | str | Sequence[Scheme | str],
    model: RuntimeModel,
    iterations: int,
    rng: np.random.Generator | int | None = None,
    *,
    s_max: int | None = None,
    levels: Sequence[int] | None = None,
    keep: int = KEEP,
    progress: Callable[[int], object] | None = None,
    stop_on_interrupt: bool = False,
) -> MonteCarloRun:
    """Monte Carlo of ``iterations`` iterations of every scheme in batches (common random
    numbers, as :func:`~gclib.simulate`), in memory bounded by one batch and ``keep``
    latencies per scheme.

    Args:
        n, schemes, model, iterations, rng, s_max, levels: as for :func:`~gclib.simulate`.
        keep: latencies kept per scheme (all of them up to this many iterations).
        progress: called with the number of iterations of every finished batch.
        stop_on_interrupt: on ``KeyboardInterrupt`` return the batches that finished (flagged
            ``interrupted``) instead of raising.
    """
    iterations = check_integer(iterations, "iterations", 1)
    keep = check_integer(keep, "keep", 1)
    resolved = resolve_schemes(schemes, s_max, levels, n)
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    keys_rng = None
    if iterations > keep:
        # a stream of its own: the task times stay those of one long simulation
        keys_rng = np.random.default_rng(generator.bit_generator.seed_seq.spawn(1)[0])
    size = batch_size(n, max(s.tasks_per_worker for s in resolved))
    summaries = {s.name: MonteCarloSummary(s, n) for s in resolved}
    kept_keys = np.zeros(0)
    run = MonteCarloRun(summaries, int(iterations))
    done = 0
    try:
        while done < iterations:
            batch = min(size, int(iterations) - done)
            result = simulate(n, resolved, model, batch, generator)
            keys = keys_rng.random(batch) if keys_rng is not None else None
            chosen, new_keys = _choose(kept_keys, keys, keep)
            updated = {}
            for name, summary in summaries.items():
                sim, new = result[name], dataclasses.replace(summary)
                new._add(sim.latency, sim.tasks, sim.uploads, sim.signals)
                both = np.concatenate([summary.latency, sim.latency])
                new.latency = both if chosen is None else both[chosen]
                new.exact_quantiles = keys_rng is None
                updated[name] = new
            # one step, so that an interrupt never leaves the schemes at different counts
            summaries.update(updated)
            kept_keys, done = new_keys, done + batch
            if progress is not None:
                progress(batch)
    except KeyboardInterrupt:
        if not stop_on_interrupt:
            raise
        run.interrupted = True
    return run


def _choose(
    kept: np.ndarray, keys: np.ndarray | None, keep: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """Which of the kept and the new latencies stay: ``None`` (all) without keys, else the
    ``keep`` with the smallest keys, in iteration order; returns them and their keys."""
    if keys is None:
        return None, kept
    both = np.concatenate([kept, keys])
    if both.size <= keep:
        return np.arange(both.size), both
    chosen = np.sort(np.argpartition(both, keep - 1)[:keep])
    return chosen, both[chosen]
