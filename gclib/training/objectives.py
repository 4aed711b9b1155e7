"""Per-partition loss gradients for the worker pool, and the synthetic problems of the demos.

A *partition* is a pair ``(X_j, y_j)``; a gradient function maps ``(params, partition)`` to the
gradient of the partition's loss, ``g_j``. Losses are *sums* over the rows of a partition, so the
full gradient is exactly ``g = sum_j g_j``, the quantity a gradient code recovers. Every function
here is a module-level function, so worker processes receive it by reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gclib._verify import check_integer

__all__ = [
    "GradientFunction",
    "least_squares_loss",
    "least_squares_gradient",
    "logistic_loss",
    "logistic_gradient",
    "softmax_loss",
    "softmax_gradient",
    "full_gradient",
    "split_partitions",
    "least_squares_problem",
]

GradientFunction = Callable[[np.ndarray, Any], np.ndarray]


def least_squares_loss(params: np.ndarray, partition: tuple[np.ndarray, np.ndarray]) -> float:
    """``½ ‖X w − y‖²`` on one partition."""
    features, targets = partition
    residual = features @ params - targets
    return 0.5 * float(residual @ residual)


def least_squares_gradient(
    params: np.ndarray, partition: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """``Xᵀ (X w − y)``: the gradient of ``½ ‖X w − y‖²``."""
    features, targets = partition
    return features.T @ (features @ params - targets)


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


def logistic_loss(params: np.ndarray, partition: tuple[np.ndarray, np.ndarray]) -> float:
    """Binary cross-entropy ``−Σ [y log σ(xᵀw) + (1 − y) log σ(−xᵀw)]``, labels ``y ∈ {0, 1}``."""
    features, labels = partition
    z = features @ params
    return -float(labels @ _log_sigmoid(z) + (1.0 - labels) @ _log_sigmoid(-z))


def logistic_gradient(params: np.ndarray, partition: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``Xᵀ (σ(X w) − y)``: the gradient of the binary cross-entropy."""
    features, labels = partition
    z = features @ params
    return features.T @ (np.exp(_log_sigmoid(z)) - labels)


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)


def softmax_loss(params: np.ndarray, partition: tuple[np.ndarray, np.ndarray]) -> float:
    """Multinomial cross-entropy ``−Σ_{(x,y)} log softmax(xᵀ θ)[y]``; ``θ`` has shape
    ``(d, classes)``."""
    features, labels = partition
    scores = features @ params
    top = scores.max(axis=1)
    log_norm = top + np.log(np.exp(scores - top[:, None]).sum(axis=1))
    return float((log_norm - scores[np.arange(len(labels)), labels]).sum())


def softmax_gradient(params: np.ndarray, partition: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``Xᵀ (softmax(X θ) − Y)`` with ``Y`` the one-hot labels: shape ``(d, classes)``."""
    features, labels = partition
    probabilities = _softmax(features @ params)
    probabilities[np.arange(len(labels)), labels] -= 1.0
    return features.T @ probabilities


def full_gradient(
    gradient: GradientFunction, params: np.ndarray, partitions: Sequence[Any]
) -> np.ndarray:
    """``g = Σ_j g_j`` computed in one process: the reference a decoded gradient must match."""
    return sum((np.asarray(gradient(params, part)) for part in partitions), start=0.0)


def split_partitions(
    features: np.ndarray, targets: np.ndarray, n: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split the rows into ``n`` contiguous partitions whose sizes differ by at most one."""
    n = check_integer(n, "n", 1)
    if len(features) != len(targets):
        raise ValueError(
            f"Arguments 'features' and 'targets' must have as many rows, "
            f"not {len(features)} and {len(targets)}."
        )
    if len(features) < n:
        raise ValueError(f"Argument 'n' must be at most the number of rows {len(features)}.")
    bounds = np.linspace(0, len(features), n + 1).round().astype(int)
    return [
        (features[low:high], targets[low:high])
        for low, high in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def least_squares_problem(
    n: int,
    rows_per_partition: int = 20,
    features: int = 10,
    *,
    noise: float = 0.1,
    seed: int | np.random.Generator | None = None,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """A synthetic least-squares problem ``y = X w* + ε``, split into ``n`` partitions.

    ``X`` has i.i.d. standard normal entries and ``ε ~ N(0, noise²)``. Returns the partitions and
    ``w*``.
    """
    for name, value in [("n", n), ("rows_per_partition", rows_per_partition)]:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"Argument {name!r} must be a positive integer, not {value!r}.")
    features = check_integer(features, "features", 1)
    rng = np.random.default_rng(seed)
    design = rng.standard_normal((n * rows_per_partition, features))
    truth = rng.standard_normal(features)
    targets = design @ truth + noise * rng.standard_normal(len(design))
    return split_partitions(design, targets, n), truth
