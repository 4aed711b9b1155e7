"""Computation load, decoding levels and communication of one iteration.

Computation load and communication. A worker computes tasks until the master stops it at
``T_stop``; it computes ``min(N_i(T_stop), K)`` tasks. Writing ``F_{i,k}`` for the time worker
``i`` finishes its ``k``-th task,

    E[min(N_i(T_stop), K)] = Σ_{k=1..K} P(F_{i,k} ≤ T_stop)
                          = Σ_k ∫ dens_{F_k}(t) · P(no condition holds by t − δ | F_{i,k} = t) dt,

where ``δ = T_stop − T`` (see below). Given ``F_{i,k} = t`` the other workers are unaffected, and
worker ``i`` has finished ``j`` tasks at ``t − δ`` with a probability that follows from
``Γ_j / Γ_k ~ Beta(j, k − j)`` for the gamma parts of its task times; so the integrand is a mixture
of dynamic programs in which worker ``i`` is held at ``j`` tasks, every ``j`` from one
forward–backward pass (:func:`~gclib.analysis.dynamic_program._held_dynamic_program`). The level
the nested master picks is ``s`` exactly when some worker's ``(s+1)``-th task completes the
condition of level ``s`` while no condition held before:
``P(level = s) = Σ_i ∫ dens_{F_{i,s+1}}(t) · P(C'_{s+1}(t) = n − s − 1, no condition holds at t |
N_i(t) = s) dt`` (``C'`` counts the other workers). Both are one-dimensional integrals computed
with the same quadrature, whose breakpoints follow every density however narrow
(:func:`_activity_edges`); where the exponential parts are too narrow for double precision
next to the shift, a smaller rate gives the same values (:func:`_resolved_model`). With
deterministic tasks the workers' progress is a function of their slowdowns alone and these
quantities are sums over the slowdown patterns (simultaneous completions count as reached).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from gclib.analysis.dynamic_program import _held_dynamic_program, _keep_filter
from gclib.analysis.problem import _check_n, _Problem, _problem
from gclib.analysis.quadrature import _integrate
from gclib.model import RuntimeModel, WorkerGroup
from gclib.schemes.parse import Scheme

# ---------------------------------------------------------------- load, levels, communication
# the quadrature keeps a relative accuracy of about 1e-11 up to this ratio a μ of a task's shift
# to its exponential part (t / f − k a loses about 1e-16 · k a · μ of the part's width) and 1e-9
# up to the largest; beyond, a smaller rate gives the same activity (_resolved_model)
_RESOLVED_SPREAD = 1e6
_LARGEST_SPREAD = 1e8
# a density's bulk narrower than 1/_NARROW of a quadrature piece gets breakpoints of its own
_NARROW = 0.25


@dataclass(frozen=True)
class _Activity:
    tasks_per_worker: float
    uploads: float
    signals: float
    levels: tuple[tuple[int, float], ...]


def _task_density(model: RuntimeModel, factor: float, k: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Density of ``F_k = f (k a + Gamma(k, μ))`` at ``t``; ``k`` and ``t`` broadcast."""
    y = t / factor - k * model.shift
    mu = model.rate
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log = k * math.log(mu) + special.xlogy(k - 1, y) - mu * y - special.gammaln(k)
        dens = np.where(y >= 0, np.exp(log), 0.0) / factor
    return np.nan_to_num(dens, nan=0.0, posinf=0.0)


def _held_progress(
    model: RuntimeModel, factor: float, k: int, t: np.ndarray, delta: float
) -> np.ndarray:
    """``P(N(t − δ) = j | F_k = t)`` for ``j = 0 … k−1``, shape ``(k, len(t))``.

    ``N(u) ≥ j ⟺ Γ_j ≤ u/f − j a`` and, given ``Γ_k = z``, ``Γ_j / z ~ Beta(j, k − j)``.
    """
    u = t - delta
    z = t / factor - k * model.shift
    at_least = np.ones((k + 1, t.size))
    at_least[k] = 0.0
    for j in range(1, k):
        x = u / factor - j * model.shift
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.clip(np.where(z > 0, x / z, 1.0), 0.0, 1.0)
        at_least[j] = special.betainc(j, k - j, ratio)
    return at_least[:-1] - at_least[1:]


def _reduced_groups(groups: Sequence[WorkerGroup], index: int) -> list[WorkerGroup]:
    """The groups with one worker of group ``index`` taken out."""
    reduced = []
    for g, group in enumerate(groups):
        count = group.count - (1 if g == index else 0)
        if count > 0:
            reduced.append(WorkerGroup(count, group.weights, group.factors))
    return reduced


@functools.lru_cache(maxsize=256)
def _activity(problem: _Problem) -> _Activity:
    if problem.conditions is None:
        raise ValueError(
            f"The {problem.scheme.label} scheme's load and uploads have no exact program here "
            "(only its latency has); gclib.simulate estimates them."
        )
    if math.isinf(problem.model.rate):
        return _activity_deterministic(problem)
    return _activity_continuous(problem)


def _requested_uploads(problem: _Problem) -> np.ndarray:
    """Uploads the master asks for when it decides at each condition's level."""
    levels = np.array([s for s, _, _ in problem.conditions])
    known = np.zeros((levels.size, problem.n), dtype=int)
    return problem.scheme.requested_uploads(problem.n, levels, known).astype(float)


def _finite(problem: _Problem) -> list[float]:
    return sorted({f for g in problem.groups for f in g.factors if math.isfinite(f)})


def _nominal_gap(factors: Sequence[float], shift: float, tasks: int, delta: float) -> float:
    """The least nonzero ``|x − y|`` and ``|x − y − δ|`` over the nominal completion times
    ``x, y ∈ {k a f}`` (and ``δ`` itself): how close two events that the load compares can be
    when the exponential parts vanish (``inf`` if none is nonzero)."""
    times = np.unique(np.concatenate([f * shift * np.arange(1, tasks + 1) for f in factors]))
    gaps = [np.diff(times), [delta]]
    if delta > 0.0:  # the nearest y on either side of each x − δ
        at = np.searchsorted(times, times - delta)
        for side in (np.minimum(at, times.size - 1), np.maximum(at - 1, 0)):
            gaps.append(times - delta - times[side])
    every = np.abs(np.concatenate(gaps))
    every = every[every > 0.0]
    return float(every.min()) if every.size else math.inf


def _resolved_model(problem: _Problem) -> RuntimeModel:
    """The model whose activity the quadrature computes: ``problem.model``, or the same model
    with a smaller rate where ``a μ`` is too large for double precision (see
    :data:`_RESOLVED_SPREAD`).

    Write ``F_{i,k} = f_i k a + f_i G_{i,k} / μ`` with ``G_{i,k} ~ Gamma(k, 1)``. The load, the
    uploads and the level only depend on the order of the events ``F_{i,k}`` and ``F_{j,l} + δ``.
    Two events with the same nominal part ``k a f`` are ordered by ``f G`` whatever ``μ``; two
    whose nominal parts differ by ``g ≥ gap`` (:func:`_nominal_gap`) are ordered by them as long
    as every ``f_i G_{i,K} / μ < gap``. So the activity at ``μ`` and at any ``μ' ≤ μ`` agree but
    on an event of probability at most ``n · Q(K, gap μ' / f_max)``, which ``μ'`` makes below
    ``1e-18``: the answer moves by less than ``1e-18`` times its largest possible value.
    """
    model, K = problem.model, problem.max_tasks
    a, mu = model.shift, model.rate
    factors = _finite(problem)
    if a * mu <= _RESOLVED_SPREAD or not factors:
        return model
    gap = _nominal_gap(factors, a, K, problem.stop_offset)
    needed = factors[-1] * special.gammainccinv(K, 1e-18 / problem.n) / gap
    rate = min(mu, max(needed, _RESOLVED_SPREAD / a))
    if a * rate > _LARGEST_SPREAD:
        raise ValueError(
            f"Argument 'rate' must be at most {_LARGEST_SPREAD / a:.3g} or inf for the exact load "
            f"and uploads of this model, not {mu:g}: with shift {a:g}, task completions {gap:.3g} "
            "apart must be ordered, finer than double precision resolves (inf: deterministic "
            "tasks; Monte Carlo estimates the load at any rate)."
        )
    return dataclasses.replace(model, rate=rate)


def _activity_continuous(problem: _Problem) -> _Activity:
    n, scheme, conditions = problem.n, problem.scheme, problem.conditions
    done, level_probs = _task_integrals(
        n, problem.max_tasks, conditions, _resolved_model(problem), problem.stop_offset
    )
    tasks = float(np.sum(done))
    eager_uploads = sum(float(done[k - 1]) for k in scheme.eager_tasks)
    uploads = eager_uploads + float(np.dot(_requested_uploads(problem), level_probs))
    signals = tasks if scheme.signals else 0.0
    levels = tuple((s, float(p)) for (s, _, _), p in zip(conditions, level_probs, strict=True))
    return _Activity(tasks / n, uploads, signals, levels)


@functools.lru_cache(maxsize=64)
def _task_integrals(
    n: int,
    K: int,
    conditions: tuple[tuple[int, int, int], ...],
    model: RuntimeModel,
    delta: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``E[#{i : F_{i,k} ≤ T_stop}]`` for ``k = 1 … K`` and ``P(level = s)`` per condition:
    what the activity of every scheme with these conditions and stop offset ``δ`` is made of
    (the nested code and nested-eager share them)."""
    groups = model.worker_groups(n)
    held_keep, free_keep, triggers = _activity_filters(n, K, conditions)
    components: list[tuple[int, float, float]] = []  # (group, weight, factor) per block
    for g, group in enumerate(groups):
        for weight, factor in zip(group.weights, group.factors, strict=True):
            if math.isfinite(factor):
                components.append((g, weight, factor))
    block = K + len(conditions)

    def integrand(t: np.ndarray) -> np.ndarray:
        out = np.zeros((len(components) * block, t.size))
        for g in range(len(groups)):
            others = _reduced_groups(groups, g)
            if delta > 0:
                _, trig = _held_dynamic_program(model, others, t, K, held_keep, free_keep, triggers)
                # before the stop can come nobody has been stopped: those values are not used
                held = np.ones((t.size, K))
                started = t - delta >= 0
                if started.any():
                    held[started] = _held_dynamic_program(
                        model, others, t[started] - delta, K, held_keep, free_keep
                    )[0]
            else:
                held, trig = _held_dynamic_program(
                    model, others, t, K, held_keep, free_keep, triggers
                )
            for c, (group_index, _, factor) in enumerate(components):
                if group_index != g:
                    continue
                ks = np.arange(1, K + 1)[:, None]
                dens = _task_density(model, factor, ks, t[None, :])
                if delta > 0:
                    alive = np.empty((K, t.size))
                    for k in range(1, K + 1):
                        weights = _held_progress(model, factor, k, t, delta)
                        alive[k - 1] = np.sum(weights * held[:, :k].T, axis=0)
                    alive = np.where(t[None, :] - delta < 0, 1.0, alive)
                else:
                    alive = held.T
                out[c * block : c * block + K] = dens * alive
                for r, (_, m, _) in enumerate(conditions):
                    out[c * block + K + r] = dens[m - 1] * trig[:, r]
        return out

    if not components:  # no worker ever finishes a task: nothing computed, nothing uploaded
        return np.zeros(K), np.zeros(len(conditions))
    edges = _activity_edges(model, sorted({f for _, _, f in components}), K, delta)
    values, _ = _integrate(integrand, edges, abs_tol=1e-11, rel_tol=1e-9)
    done = np.zeros(K)
    level_probs = np.zeros(len(conditions))
    for c, (g, weight, _) in enumerate(components):
        share = groups[g].count * weight  # expected number of workers of this kind
        done += share * values[c * block : c * block + K]
        level_probs += share * values[c * block + K : (c + 1) * block]
    return done, np.clip(level_probs, 0.0, 1.0)


def _activity_filters(
    n: int, K: int, conditions: tuple[tuple[int, int, int], ...]
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]:
    """The filters over the ``n − 1`` others while worker ``i`` is held at ``j`` tasks (it
    counts where ``j ≥ m``) and once it does not, and the trigger of each condition: exactly
    ``need − 1`` others at its step (:func:`_held_dynamic_program`)."""
    held_keep = _keep_filter(K, conditions, n - 1, K)  # held at K tasks: it counts at every m
    free_keep = _keep_filter(K, conditions, n - 1, None)
    others = np.arange(n)
    triggers = [(m, free_keep[m - 1] & (others == need - 1)) for _, m, need in conditions]
    return held_keep, free_keep, triggers


def _activity_edges(
    model: RuntimeModel, factors: Sequence[float], tasks: int, delta: float
) -> np.ndarray:
    """The breakpoints of the activity integrals over ``t``.

    Every integrand is at most the density of some ``F_k = f (k a + Γ_k)``, so the integrals end
    where the last density's bulk ends (its ``1 − 1e-16`` quantile; ``δ`` moves no density).
    Each density starts at ``k a f`` and the held worker's progress changes at ``k a f + δ``. A
    density whose bulk (quantiles ``1e-16`` to ``1 − 1e-16``) is narrow against a piece it
    overlaps, as when the exponential part is small against the shift or against another
    factor's times, gets breakpoints at the ends and the median of its bulk: the quadrature
    then sees it, however narrow it is.
    """
    a, mu = model.shift, model.rate
    ks = np.arange(1, tasks + 1, dtype=float)
    bulk = np.stack(
        [
            special.gammaincinv(ks, 1e-16),
            special.gammaincinv(ks, 0.5),
            special.gammainccinv(ks, 1e-16),
        ]
    )
    upper = max(f * (tasks * a + bulk[-1, -1] / mu) for f in factors)
    starts = np.concatenate([f * ks * a for f in factors])
    base = np.unique(np.concatenate([[0.0, upper], starts, starts + delta]))
    base = base[base <= upper]
    added = []
    for f in factors:
        for low, middle, high in (f * (ks * a + bulk / mu)).T:
            first = max(int(np.searchsorted(base, low, side="right")) - 1, 0)
            last = min(int(np.searchsorted(base, high, side="left")), base.size - 1)
            widest = float(np.max(np.diff(base[first : last + 1]), initial=0.0))
            if _NARROW * widest > high - low:
                added += [low, middle, high]
    return np.unique(np.concatenate([base, [p for p in added if p < upper]]))


def _slowdown_patterns(groups: Sequence[WorkerGroup]):
    """Every assignment of worker counts to the slowdowns of each group, with its probability."""
    per_group = []
    for group in groups:
        options = []
        k = len(group.factors)
        for counts in itertools.product(range(group.count + 1), repeat=k - 1):
            last = group.count - sum(counts)
            if last < 0:
                continue
            full = (*counts, last)
            log_p = special.gammaln(group.count + 1) + sum(
                special.xlogy(c, w) - special.gammaln(c + 1)
                for c, w in zip(full, group.weights, strict=True)
            )
            options.append((math.exp(log_p), list(zip(group.factors, full, strict=True))))
        per_group.append(options)
    for combo in itertools.product(*per_group):
        prob = math.prod(p for p, _ in combo)
        classes: dict[float, int] = {}
        for _, pairs in combo:
            for factor, count in pairs:
                classes[factor] = classes.get(factor, 0) + count
        yield prob, classes


def _activity_deterministic(problem: _Problem) -> _Activity:
    """Deterministic tasks: each slowdown pattern gives one deterministic run."""
    n, K, a = problem.n, problem.max_tasks, problem.model.shift
    scheme = problem.scheme
    levels = [s for s, _, _ in problem.conditions]
    requested = dict(zip(levels, _requested_uploads(problem), strict=True))
    tasks = uploads = signals = 0.0
    level_probs = dict.fromkeys((s for s, _, _ in problem.conditions), 0.0)
    for prob, classes in _slowdown_patterns(problem.groups):
        if prob == 0.0:
            continue
        finite = sorted((f, c) for f, c in classes.items() if math.isfinite(f) and c > 0)
        best, level = math.inf, None
        for s, m, need in problem.conditions:  # sorted by m: ties go to the smaller level
            done = 0
            for f, c in finite:
                done += c
                if done >= need:
                    if m * a * f < best:
                        best, level = m * a * f, s
                    break
        stop = best + problem.stop_offset
        computed = sum(c * sum(1 for k in range(1, K + 1) if k * a * f <= stop) for f, c in finite)
        tasks += prob * computed
        if scheme.signals:
            signals += prob * computed
        for k in scheme.eager_tasks:
            uploads += prob * sum(c for f, c in finite if k * a * f <= stop)
        if level is not None:
            uploads += prob * requested[level]
            level_probs[level] += prob
    return _Activity(tasks / n, uploads, signals, tuple(level_probs.items()))


def level_probabilities(
    n: int, levels: Sequence[int] | Scheme, model: RuntimeModel
) -> dict[int, float]:
    """``P(the master decodes at level s)`` for each level ``s``; the rest of the probability is
    :func:`failure_probability`. For GC(s) the single entry is ``P(latency < ∞)``."""
    return dict(_activity(_problem(n, levels, model)).levels)


def expected_tasks_per_worker(n: int, levels: Sequence[int] | Scheme, model: RuntimeModel) -> float:
    """The expected number of tasks a worker computes before the master stops it,
    ``E[min(N_i(T_stop), K)]`` averaged over the workers (see the module documentation)."""
    return _activity(_problem(n, levels, model)).tasks_per_worker


def expected_uploads(n: int, levels: Sequence[int] | Scheme, model: RuntimeModel) -> float:
    """The expected number of gradient-sized uploads per iteration."""
    return _activity(_problem(n, levels, model)).uploads


def expected_signals(n: int, levels: Sequence[int] | Scheme, model: RuntimeModel) -> float:
    """The expected number of progress signals per iteration (nested only; eager schemes send
    none): one per task a worker computes before the stop."""
    return _activity(_problem(n, levels, model)).signals


def deterministic_latency(
    n: int, levels: Sequence[int], unresponsive: int, task_time: float = 1.0
) -> float:
    """Closed form for tasks of fixed duration with ``σ`` unresponsive workers.

    Every responsive worker finishes its ``k``-th task at ``k τ``, so level ``s`` is reached at
    ``(s+1) τ`` if ``n − σ ≥ n − s``, i.e. ``s ≥ σ``. The nested code finishes after
    ``s* + 1`` tasks with ``s* = min{s ∈ S : s ≥ σ}``; GC(s) (``S = {s}``) after ``s + 1`` tasks
    if ``σ ≤ s`` and never otherwise (``inf``).
    """
    n = _check_n(n)
    if (
        isinstance(unresponsive, bool)
        or not isinstance(unresponsive, int)
        or not (0 <= unresponsive <= n)
    ):
        raise ValueError(
            f"Argument 'unresponsive' must be an integer in [0, n] = [0, {n}], "
            f"not {unresponsive!r}."
        )
    if not (isinstance(task_time, int | float) and 0 < task_time < math.inf):
        raise ValueError(f"Argument 'task_time' must be positive and finite, not {task_time!r}.")
    values = sorted(set(levels))
    if not values or any(not isinstance(s, int) or not 0 <= s < n for s in values):
        raise ValueError(f"Argument 'levels' must hold integers in [0, n) = [0, {n}).")
    reachable = [s for s in values if s >= unresponsive]
    return (reachable[0] + 1) * task_time if reachable else math.inf
