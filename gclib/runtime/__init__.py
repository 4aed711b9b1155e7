"""The runtime: the master's scheduler, the typed protocol, the worker pool and its transports."""

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
from gclib.runtime.transports import ProcessBackend, WorkerBackend
from gclib.runtime.transports.dask import DaskBackend, DaskClusterError

__all__ = [
    "WorkerPool",
    "IterationResult",
    "PoolEvent",
    "WorkerError",
    "default_deadline",
    "DEADLINE_SLACK",
    "message_sizes",
    "Scheduler",
    "Request",
    "Stop",
    "Resume",
    "Complete",
    "Fail",
    "WorkerBackend",
    "ProcessBackend",
    "DaskBackend",
    "DaskClusterError",
]
