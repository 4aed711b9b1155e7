"""Distributed training through the worker pool: data sets, objectives and the training loop."""

from gclib.plotting.training import plot_training
from gclib.training.data import DATASETS, TrainingData, load_dataset
from gclib.training.loop import (
    DEFAULT_ITERATIONS,
    DEFAULT_LEARNING_RATE,
    TrainingRun,
    gradient_descent,
    train,
)
from gclib.training.objectives import (
    full_gradient,
    least_squares_gradient,
    least_squares_loss,
    least_squares_problem,
    logistic_gradient,
    logistic_loss,
    softmax_gradient,
    softmax_loss,
    split_partitions,
)
from gclib.training.softmax import DEFAULT_L2, SoftmaxObjective

__all__ = [
    "DATASETS",
    "TrainingData",
    "load_dataset",
    "DEFAULT_ITERATIONS",
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_L2",
    "SoftmaxObjective",
    "TrainingRun",
    "gradient_descent",
    "train",
    "plot_training",
    "full_gradient",
    "least_squares_gradient",
    "least_squares_loss",
    "least_squares_problem",
    "logistic_gradient",
    "logistic_loss",
    "softmax_gradient",
    "softmax_loss",
    "split_partitions",
]
