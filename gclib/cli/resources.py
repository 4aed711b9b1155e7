"""What a run needs against what the machine has, checked before any work is done.

Each check raises :class:`~gclib.cli.options.UsageError` with the option to change: the theory's
tables (memory grows with ``n``), the worker pool (one process per worker, its pipes, its memory)
and one Monte Carlo batch. The estimates are deliberately generous upper bounds: they exist to
refuse the absurd (``--workers 100000`` on a laptop) with a clear message instead of a
``MemoryError`` or a fork storm, not to squeeze the last worker out of a machine.

The run time of the exact theory is estimated the same way: from the work its dynamic programs
do (:func:`~gclib.analysis.quadrature.theory_work` counts their steps, states and quadrature
points in the units the programs count themselves), at a cost per unit measured on a modest
machine (two shared CPUs). Beyond ``--time-limit`` ``gclib latency`` refuses, or with ``--mc K``
leaves the slowest schemes to Monte Carlo.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gclib.cli.options import UsageError
from gclib.model import RuntimeModel
from gclib.schemes.base import Scheme

__all__ = [
    "THEORY_TIME_LIMIT",
    "theory_seconds",
    "theory_total",
    "check_theory_time",
    "duration",
    "available_memory",
    "usable_cpus",
    "theory_bytes",
    "check_theory",
    "pool_limit",
    "check_pool",
    "check_monte_carlo",
]

# the interpreter, numpy and scipy, and the theory's working arrays, bounded in time points
_BASE_BYTES = 512 * 2**20
# a worker process: the interpreter and numpy after the fork, its data and messages
_WORKER_BYTES = 40 * 2**20
# file descriptors the master holds per worker (its end of the pipe, the process sentinel, and
# the worker's end until the fork completes) and for itself
_FDS_PER_WORKER = 3
_OWN_FDS = 64


def available_memory() -> int | None:
    """Bytes this process may still allocate: the smaller of the free memory of the machine and
    what its control group allows, or ``None`` where neither is known."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        try:
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    try:
        group = Path("/sys/fs/cgroup")
        ceiling = (group / "memory.max").read_text().strip()
        if ceiling != "max":
            limits.append(int(ceiling) - int((group / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return min(limits) if limits else None


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _size(value: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 2**10:.3g} KiB"


def _check_memory(needed: int, what: str, change: str) -> None:
    available = available_memory()
    if available is not None and needed > available:
        raise UsageError(
            f"{what} needs about {_size(needed)} of memory, but this machine has "
            f"{_size(available)} available: {change}"
        )


def theory_bytes(n: int, schemes: Sequence[Scheme]) -> int:
    """An upper bound of the memory of the exact theory of ``schemes`` on ``n`` workers.

    The dynamic program merges the counts beyond ``s_max`` (its states do not grow with ``n``),
    but its filters and the activity's hold a few bytes per worker, task count and condition.
    """
    largest = 0
    for scheme in schemes:
        tasks = scheme.tasks_per_worker
        conditions = len(scheme.levels) or 1
        largest = max(largest, 4 * tasks * (tasks + conditions) + 32 * conditions)
    return _BASE_BYTES + n * largest


def check_theory(n: int, schemes: Sequence[Scheme]) -> None:
    _check_memory(
        theory_bytes(n, schemes), f"the exact theory for --workers {n}", "lower --workers"
    )


def pool_limit() -> tuple[int, str]:
    """The most worker processes this machine should run for one pool, and what bounds it."""
    cpus = usable_cpus()
    limit, reason = 4 * cpus + 64, f"4 per CPU on {cpus} CPUs, plus 64"
    try:
        import resource

        files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if files != resource.RLIM_INFINITY:
            by_files = max(0, (files - _OWN_FDS) // _FDS_PER_WORKER)
            if by_files < limit:
                limit = by_files
                reason = f"the open-file limit 'ulimit -n' of {files}; raise it or lower --workers"
        processes = resource.getrlimit(resource.RLIMIT_NPROC)[0]
        if processes != resource.RLIM_INFINITY and processes - _OWN_FDS < limit:
            limit = max(0, processes - _OWN_FDS)
            reason = f"the process limit 'ulimit -u' of {processes}; raise it or lower --workers"
    except (ImportError, ValueError, OSError):
        pass
    return limit, reason


def check_pool(n: int, local_processes: bool = True) -> None:
    """Refuse a pool of ``n`` workers that this machine cannot run (``local_processes``: the
    workers are processes of this machine, as with the process backend or a local cluster)."""
    if not local_processes:
        return
    limit, reason = pool_limit()
    if n > limit:
        raise UsageError(
            f"--workers {n} needs {n} worker processes, more than this machine runs well: at "
            f"most {limit} ({reason})"
            + ("; lower --workers" if "lower --workers" not in reason else "")
        )
    _check_memory(
        _BASE_BYTES + n * _WORKER_BYTES, f"a pool of --workers {n} processes", "lower --workers"
    )


def check_monte_carlo(n: int, schemes: Sequence[Scheme], keep: int) -> None:
    """Refuse Monte Carlo on ``n`` workers whose one batch would not fit in memory."""
    from gclib.analysis.monte_carlo import batch_bytes

    tasks = max(scheme.tasks_per_worker for scheme in schemes)
    needed = _BASE_BYTES + batch_bytes(n, tasks, len(schemes)) + 8 * keep * len(schemes)
    _check_memory(needed, f"Monte Carlo on --workers {n}", "lower --workers")


# seconds per unit of the dynamic programs' work: a binomial kernel entry (an exp and its
# bookkeeping) and a multiply-add of the state masses with the kernels (fitted within ±15 % on
# n = 30 … 1000, s_max up to 99, one and two groups of workers), and per scheme besides
_KERNEL_SECONDS = 1.4e-8
_PRODUCT_SECONDS = 4.5e-10
_SCHEME_SECONDS = 0.05
# seconds per unit of the coverage program's work: an element of its chains and a step (fitted
# within ±25 % on n = 1 000 … 40 000, Bernoulli stragglers and 10 fixed ones), and the Monte
# Carlo estimate of a coverage scheme's load, whose sampled worker-tasks are capped
_ELEMENT_SECONDS = 7e-9
_STEP_SECONDS = 9e-6
_COVERAGE_LOAD_SECONDS = 5.0
#: the default of ``gclib latency --time-limit``, in seconds
THEORY_TIME_LIMIT = 120.0


def theory_seconds(
    n: int, schemes: Sequence[Scheme], model: RuntimeModel
) -> dict[str, tuple[float, object, float]]:
    """An estimate of the run time of the exact theory of each scheme on ``n`` workers: the
    seconds of its own, the key of the load integrals it shares with other schemes (nested and
    nested-eager; ``None``: it shares nothing) and their seconds, paid once for all of them
    (:func:`theory_total`). A scheme without exact theory takes none."""
    from gclib.analysis.coverage import coverage_work
    from gclib.analysis.prediction import has_exact_mean
    from gclib.analysis.quadrature import theory_work

    def seconds(work: tuple[int, int]) -> float:
        return _KERNEL_SECONDS * work[0] + _PRODUCT_SECONDS * work[1]

    result: dict[str, tuple[float, object, float]] = {}
    for scheme in schemes:
        if not has_exact_mean(scheme, n, model):
            result[scheme.name] = (0.0, None, 0.0)
            continue
        if scheme.covers:
            elements, steps = coverage_work(n, scheme.s_max, model)
            own = _ELEMENT_SECONDS * elements + _STEP_SECONDS * steps + _COVERAGE_LOAD_SECONDS
            result[scheme.name] = (own + _SCHEME_SECONDS, None, 0.0)
            continue
        latency, activity, key = theory_work(n, scheme, model)
        if key is None:
            result[scheme.name] = (
                seconds(latency) + seconds(activity) + _SCHEME_SECONDS,
                None,
                0.0,
            )
        else:
            result[scheme.name] = (seconds(latency) + _SCHEME_SECONDS, key, seconds(activity))
    return result


def theory_total(
    estimates: dict[str, tuple[float, object, float]], names: Sequence[str] | None = None
) -> float:
    """The estimated seconds of the exact theory of the schemes ``names`` (default all)."""
    chosen = list(estimates) if names is None else list(names)
    shared = {estimates[name][1]: estimates[name][2] for name in chosen if estimates[name][1]}
    return sum(estimates[name][0] for name in chosen) + sum(shared.values())


def duration(seconds: float) -> str:
    """``40 s``, ``3 min``, ``160 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def check_theory_time(
    estimates: dict[str, tuple[float, object, float]],
    labels: dict[str, str],
    limit: float,
    monte_carlo: bool,
) -> list[str]:
    """The schemes whose exact theory to leave out so that the rest takes at most ``limit``
    seconds (``0``: no limit), slowest first (schemes that share their load integrals go
    together); without ``monte_carlo`` a run beyond the limit is refused instead."""
    total = theory_total(estimates)
    if limit <= 0 or total <= limit:
        return []
    # units that only go together: the schemes of one shared key, every other scheme alone
    units: dict[object, list[str]] = {}
    for name, (_, key, _) in estimates.items():
        units.setdefault(key if key is not None else ("scheme", name), []).append(name)
    cost = {key: theory_total(estimates, names) for key, names in units.items()}
    slowest = sorted(units, key=cost.get, reverse=True)
    listed = ", ".join(
        f"{' and '.join(labels[name] for name in units[key])} {duration(cost[key])}"
        for key in slowest[:3]
    )
    if not monte_carlo:
        raise UsageError(
            f"the exact theory would take about {duration(total)} here ({listed}"
            f"{', …' if len(slowest) > 3 else ''}), more than --time-limit {limit:g} s: leave the "
            "slowest out of --schemes or lower --smax, add --mc K to estimate them by Monte "
            "Carlo instead, or raise --time-limit (0: no limit)"
        )
    skipped: list[str] = []
    for key in slowest:
        if total <= limit:
            break
        skipped += units[key]
        total -= cost[key]
    return skipped
