"""The training objective: softmax regression with an L2 penalty, and its distributed gradient.

On the training set ``D`` of pairs ``(x, y)`` (standardised features and a constant 1 for the
intercept; a label) and with parameters ``θ ∈ R^{d×classes}``,
``L(θ) = (1/|D|) Σ_{(x,y)∈D} ℓ(θ; x, y) + (λ/2) ‖θ̃‖²`` with
``ℓ(θ; x, y) = log Σ_c exp(xᵀ θ_c) − xᵀ θ_y`` and ``θ̃`` the parameters without the intercept
row, as in the book. A worker computes the partial gradient ``g_j = Σ_{(x,y)∈D_j} ∇ℓ(θ; x, y)``
of its partitions; the master adds the L2 term, which needs no data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gclib.training.data import TrainingData
from gclib.training.objectives import softmax_gradient, softmax_loss

__all__ = ["DEFAULT_L2", "SoftmaxObjective"]

# The L2 weight: on the digits data single-process gradient descent passes 90 % test accuracy
# after a handful of steps and keeps lowering the loss.
DEFAULT_L2 = 1e-3


@dataclass(frozen=True)
class SoftmaxObjective:
    """``L(θ) = (1/|D|) Σ_{(x,y)∈D} ℓ(θ; x, y) + (λ/2) ‖θ̃‖²`` on the training set ``D`` of
    ``data`` (see the module documentation).

    Attributes:
        data: the training and test rows.
        l2: ``λ ≥ 0``; the intercept row of ``θ`` is not penalised.
    """

    data: TrainingData
    l2: float = DEFAULT_L2

    def __post_init__(self) -> None:
        if not (isinstance(self.l2, int | float) and 0.0 <= self.l2 < math.inf):
            raise ValueError(f"Argument 'l2' must be a finite number >= 0, not {self.l2!r}.")

    @property
    def shape(self) -> tuple[int, int]:
        """``(d, classes)``, the shape of ``θ``."""
        return (self.data.features, self.data.classes)

    def initial_params(self) -> np.ndarray:
        """``θ = 0``: every class equally likely."""
        return np.zeros(self.shape)

    def _penalised(self, params: np.ndarray) -> np.ndarray:
        weights = np.array(params, dtype=float)
        weights[-1] = 0.0  # the intercept row
        return weights

    def loss(self, params: np.ndarray) -> float:
        """``L(θ)`` on the training rows."""
        data = self.data
        total = softmax_loss(params, (data.train_features, data.train_labels))
        penalty = 0.5 * self.l2 * float(np.sum(self._penalised(params) ** 2))
        return total / len(data.train_labels) + penalty

    def partial_sum(self, params: np.ndarray) -> np.ndarray:
        """``g = Σ_j g_j = Xᵀ (softmax(X θ) − Y)`` over all training rows, in one process."""
        data = self.data
        return softmax_gradient(params, (data.train_features, data.train_labels))

    def gradient_from_sum(self, params: np.ndarray, partial_sum: np.ndarray) -> np.ndarray:
        """``∇L(θ) = g / |D| + λ θ̃`` from the (decoded) sum ``g`` of the partial gradients."""
        return partial_sum / len(self.data.train_labels) + self.l2 * self._penalised(params)

    def gradient(self, params: np.ndarray) -> np.ndarray:
        """``∇L(θ)``, computed in one process."""
        return self.gradient_from_sum(params, self.partial_sum(params))

    def accuracy(self, params: np.ndarray, split: str = "test") -> float:
        """The share of rows of ``split`` (``"train"`` or ``"test"``) whose most likely class
        under ``θ`` is their label."""
        if split == "train":
            features, labels = self.data.train_features, self.data.train_labels
        elif split == "test":
            features, labels = self.data.test_features, self.data.test_labels
        else:
            raise ValueError(f"Argument 'split' must be 'train' or 'test', not {split!r}.")
        return float(np.mean(np.argmax(features @ params, axis=1) == labels))
