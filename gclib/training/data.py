"""The bundled classification data sets (no network), split and standardised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gclib.training.objectives import split_partitions

__all__ = ["DATASETS", "TrainingData", "load_dataset"]

DATASETS = ("digits",)


@dataclass(frozen=True)
class TrainingData:
    """A classification data set, split into training and test rows.

    Attributes:
        name: the data set's name.
        train_features: shape ``(|D|, d)`` for the training set ``D``; standardised with the
            training set's mean and standard deviation, last column the constant 1 of the
            intercept.
        train_labels: shape ``(|D|,)``, integers in ``[0, classes)``.
        test_features: shape ``(test rows, d)``, standardised with the *training* statistics.
        test_labels: shape ``(test rows,)``.
        classes: the number of classes.
        feature_mean, feature_scale: shape ``(d − 1,)``, the training statistics: a raw row
            ``x`` becomes ``((x − feature_mean) / feature_scale, 1)``.
    """

    name: str
    train_features: np.ndarray
    train_labels: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray
    classes: int
    feature_mean: np.ndarray
    feature_scale: np.ndarray

    @property
    def features(self) -> int:
        """``d``, the number of columns (intercept included)."""
        return int(self.train_features.shape[1])

    def partitions(self, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The training rows split into ``n`` contiguous partitions ``(X_j, y_j)`` whose sizes
        differ by at most one (the rows are already in random order)."""
        return split_partitions(self.train_features, self.train_labels, n)


def load_dataset(
    name: str = "digits", *, test_fraction: float = 0.25, seed: int | None = 0
) -> TrainingData:
    """Load a bundled data set (no network), split it and standardise it.

    ``digits`` is scikit-learn's copy of the UCI handwritten digits: 1797 images of 8×8 pixels,
    10 classes. The split is stratified and shuffled with ``seed``; the features are centred and
    scaled by the training rows' statistics (constant pixels are only centred), and a column of
    ones is appended for the intercept.

    Args:
        name: the data set; only ``"digits"``.
        test_fraction: the share of rows held out for testing, in ``(0, 1)``.
        seed: seed of the shuffled split.
    """
    if not isinstance(name, str) or name.strip().lower() not in DATASETS:
        raise ValueError(f"Argument 'name' must be one of {', '.join(DATASETS)}, not {name!r}.")
    if not (isinstance(test_fraction, float | int) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"Argument 'test_fraction' must be in (0, 1), not {test_fraction!r}.")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    features, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features.astype(float),
        labels.astype(np.int64),
        test_size=test_fraction,
        random_state=seed,
        stratify=labels,
    )
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale[scale == 0.0] = 1.0  # a pixel that is constant on the training rows

    def prepare(x: np.ndarray) -> np.ndarray:
        return np.hstack([(x - mean) / scale, np.ones((len(x), 1))])

    classes = int(labels.max()) + 1
    return TrainingData(
        "digits", prepare(x_train), y_train, prepare(x_test), y_test, classes, mean, scale
    )
