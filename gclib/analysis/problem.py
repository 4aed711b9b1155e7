"""A scheme reduced to what the exact theory needs.

Notation. ``N_i(t)`` is the number of tasks worker ``i`` has finished by time ``t`` and
``C_m(t) = #{i : N_i(t) ≥ m}``. A scheme is a list of *conditions* ``(s, m, c)``: the master can
finish at level ``s`` as soon as ``C_m ≥ c``. The nested code with level set ``S`` has the
conditions ``(s, s+1, n−s)`` for ``s ∈ S``; GC(s) has the single one ``(s, s+1, n−s)`` (uncoded is
GC(0)); ignore-stragglers(s) has ``(s, 1, n−s)``. ``T = inf{t : some condition holds}`` is the
*raw* latency.

Communication costs (the same conventions as the simulator). A progress signal reaches the master
``signal_cost`` after the task it reports, an upload ``upload_cost`` after it is sent; the
master's messages (request, stop) take no time. The nested master decides at ``T + signal_cost``,
stops every worker then, and the requested messages arrive ``upload_cost`` later: latency
``T + signal_cost + upload_cost``, ``δ = signal_cost``, ``n − s`` uploads and one signal per
computed task. GC(s), uncoded and ignore-stragglers upload eagerly: the master finishes when the
``(n − s)``-th upload arrives, at ``T + upload_cost``, and stops everybody then
(``δ = upload_cost``); every worker that finished its upload task by the stop has uploaded.
Simultaneous events are resolved in favour of the smaller level (the simulator orders
simultaneous events by the task count they report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gclib._verify import check_instance, check_integer
from gclib.model import RuntimeModel, WorkerGroup
from gclib.schemes.base import Scheme
from gclib.schemes.coded import GradientCodingScheme, NestedScheme


# ---------------------------------------------------------------------------------- problem
@dataclass(frozen=True)
class _Problem:
    """A scheme reduced to what the theory needs.

    ``conditions`` holds ``(s, m, c)``: finish at level ``s`` once ``C_m ≥ c``; sorted by ``m``
    so that ties go to the smaller level. Schemes whose raw latency is the coverage time have no
    conditions (``None``): the coverage program computes them.
    """

    n: int
    scheme: Scheme
    conditions: tuple[tuple[int, int, int], ...] | None
    model: RuntimeModel

    @property
    def max_tasks(self) -> int:
        return self.scheme.tasks_per_worker

    @property
    def groups(self) -> tuple[WorkerGroup, ...]:
        return self.model.worker_groups(self.n)

    @property
    def latency_offset(self) -> float:
        """Latency minus the raw latency ``T`` (a constant wherever the theory is exact)."""
        offset = self.scheme.latency_offset(self.model)
        if offset is None:
            raise ValueError(
                f"The {self.scheme.label} scheme's latency distribution on a shared link has no "
                "exact program (its uploads queue); gclib.simulate estimates it."
            )
        return offset

    @property
    def stop_offset(self) -> float:
        """``δ``: the time from ``T`` to the moment the workers stop (for a scheme whose uploads
        come unasked, the decisive upload's trip comes first)."""
        if self.scheme.requests:
            return self.scheme.stop_offset(self.model)
        if self.model.shared_link and self.model.upload_cost > 0.0:
            raise ValueError(
                f"The {self.scheme.label} scheme's uploads queue on a shared link, which no exact "
                "program reaches; gclib.simulate estimates its load."
            )
        return self.model.upload_cost + self.scheme.stop_offset(self.model)


def _check_n(n: object) -> int:
    n = check_integer(n, "n", 1)
    return int(n)


def as_scheme(levels: Sequence[int] | Scheme, n: int) -> Scheme:
    """The scheme meant by a level list: one level ``[s]`` is GC(s) (``[0]`` uncoded), several
    are the nested code with that level set; a :class:`~gclib.Scheme` is returned as it is."""
    if isinstance(levels, Scheme):
        return levels
    if isinstance(levels, str | bytes) or not isinstance(levels, Sequence | np.ndarray):
        raise ValueError(
            f"Argument 'levels' must be a sequence of integers or a Scheme, not {levels!r}."
        )
    values = tuple(levels)
    if not values:
        raise ValueError("Argument 'levels' must name at least one level.")
    for s in values:
        if isinstance(s, bool) or not isinstance(s, int | np.integer) or not 0 <= s < n:
            raise ValueError(
                f"Argument 'levels' must hold integers in [0, n) = [0, {n}), not {s!r}."
            )
    checked = tuple(sorted({int(s) for s in values}))
    if len(checked) == 1:
        return GradientCodingScheme(checked[0], checked[0])
    return NestedScheme(checked, checked[-1])


def _problem(n: int, levels: Sequence[int] | Scheme, model: RuntimeModel) -> _Problem:
    n = _check_n(n)
    check_instance(model, "model", RuntimeModel)
    model.check_workers(n)
    scheme = as_scheme(levels, n)
    scheme.check_workers(n)
    conditions = scheme.conditions(n)
    if conditions is None and not scheme.covers:
        raise ValueError(f"The {scheme.label} scheme has no exact latency theory.")
    return _Problem(n, scheme, conditions, model)
