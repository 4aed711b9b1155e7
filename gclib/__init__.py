"""gclib: nested gradient codes for straggler mitigation in distributed learning.

The public surface is the names in ``__all__``; every module whose name starts with an
underscore is private and may change.
"""

from gclib.analysis.activity import (
    deterministic_latency,
    expected_signals,
    expected_tasks_per_worker,
    expected_uploads,
    level_probabilities,
)
from gclib.analysis.latency import (
    expected_latency,
    failure_probability,
    latency_cdf,
    latency_quantile,
)
from gclib.analysis.levelsets import LevelSetChoice, best_level_set, best_level_sets
from gclib.analysis.simulate import SchemeSimulation, simulate, simulate_sample
from gclib.analysis.summary import LatencySummary, latency_summary
from gclib.codes.base import GradientCode
from gclib.codes.cyclic_mds import CyclicMDSCode
from gclib.codes.cyclic_repetition import CyclicRepetitionCode
from gclib.codes.errors import NotDecodableError
from gclib.codes.fractional_repetition import FractionalRepetitionCode
from gclib.codes.nested import NestedGradientCode
from gclib.codes.uncoded import UncodedCode
from gclib.model import ModelSample, RuntimeModel
from gclib.runtime.pool import IterationResult, PoolEvent, WorkerError, WorkerPool
from gclib.runtime.scheduler import Scheduler
from gclib.schemes.parse import Scheme, parse_scheme, parse_schemes
from gclib.training.loop import (
    SoftmaxObjective,
    TrainingData,
    TrainingRun,
    gradient_descent,
    load_dataset,
    plot_training,
    train,
)

__version__ = "0.1.0"

__all__ = [
    # errors
    "NotDecodableError",
    # runtime model, schemes and the master's decision logic
    "RuntimeModel",
    "ModelSample",
    "Scheme",
    "parse_scheme",
    "parse_schemes",
    "Scheduler",
    # code families
    "GradientCode",
    "UncodedCode",
    "FractionalRepetitionCode",
    "CyclicRepetitionCode",
    "CyclicMDSCode",
    "NestedGradientCode",
    # theory and simulation
    "latency_cdf",
    "expected_latency",
    "latency_quantile",
    "failure_probability",
    "level_probabilities",
    "expected_tasks_per_worker",
    "expected_uploads",
    "expected_signals",
    "deterministic_latency",
    "latency_summary",
    "LatencySummary",
    "simulate",
    "simulate_sample",
    "SchemeSimulation",
    "best_level_set",
    "best_level_sets",
    "LevelSetChoice",
    # worker pool
    "WorkerPool",
    "IterationResult",
    "PoolEvent",
    "WorkerError",
    # training
    "TrainingData",
    "load_dataset",
    "SoftmaxObjective",
    "gradient_descent",
    "train",
    "TrainingRun",
    "plot_training",
]
