"""gclib: nested gradient codes for straggler mitigation in distributed learning.

The public surface is the names in ``__all__`` here and in :mod:`gclib.plotting`; the subpackages
(``codes``, ``schemes``, ``analysis``, ``runtime``, ``training``, ``cli``) hold the
implementation and may change.
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
from gclib.analysis.prediction import Prediction, has_exact_theory, predict
from gclib.analysis.simulate import SchemeSimulation, simulate, simulate_sample
from gclib.analysis.summary import LatencySummary, latency_summary
from gclib.codes.base import GradientCode
from gclib.codes.cyclic_mds import CyclicMDSCode
from gclib.codes.cyclic_repetition import CyclicRepetitionCode
from gclib.codes.errors import NotDecodableError
from gclib.codes.fractional_repetition import FractionalRepetitionCode
from gclib.codes.nested import NestedGradientCode
from gclib.codes.placement import cyclic_placement
from gclib.codes.uncoded import UncodedCode
from gclib.model import ModelSample, RuntimeModel
from gclib.plotting import plot_training
from gclib.runtime.pool import WorkerPool
from gclib.runtime.protocol import message_sizes
from gclib.runtime.results import (
    DEADLINE_SLACK,
    IterationResult,
    PoolEvent,
    WorkerError,
    default_deadline,
)
from gclib.runtime.scheduler import Complete, Fail, Request, Resume, Scheduler, Stop
from gclib.runtime.transports.dask import DaskBackend, DaskClusterError
from gclib.schemes import (
    CoverScheme,
    GradientCodingScheme,
    IgnoreStragglersScheme,
    NestedEagerScheme,
    NestedScheme,
    Scheme,
    StreamingScheme,
    UncodedScheme,
    parse_scheme,
    parse_schemes,
)
from gclib.training import (
    SoftmaxObjective,
    TrainingData,
    TrainingRun,
    gradient_descent,
    load_dataset,
    train,
)

__version__ = "0.1.0"

__all__ = [
    # errors
    "NotDecodableError",
    # runtime model
    "RuntimeModel",
    "ModelSample",
    # schemes
    "Scheme",
    "NestedScheme",
    "NestedEagerScheme",
    "GradientCodingScheme",
    "UncodedScheme",
    "IgnoreStragglersScheme",
    "StreamingScheme",
    "CoverScheme",
    "parse_scheme",
    "parse_schemes",
    # the master's decision logic and its actions
    "Scheduler",
    "Request",
    "Stop",
    "Resume",
    "Complete",
    "Fail",
    # code families and the placement
    "GradientCode",
    "UncodedCode",
    "FractionalRepetitionCode",
    "CyclicRepetitionCode",
    "CyclicMDSCode",
    "NestedGradientCode",
    "cyclic_placement",
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
    "has_exact_theory",
    "predict",
    "Prediction",
    "simulate",
    "simulate_sample",
    "SchemeSimulation",
    "best_level_set",
    "best_level_sets",
    "LevelSetChoice",
    # worker pool
    "WorkerPool",
    "DaskBackend",
    "DaskClusterError",
    "IterationResult",
    "PoolEvent",
    "WorkerError",
    "default_deadline",
    "DEADLINE_SLACK",
    "message_sizes",
    # training
    "TrainingData",
    "load_dataset",
    "SoftmaxObjective",
    "gradient_descent",
    "train",
    "TrainingRun",
    "plot_training",
]
