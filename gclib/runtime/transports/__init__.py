"""Transports: how master and workers exchange bytes, kept apart from the protocol."""

from gclib.runtime.transports.base import BackendEvent, Died, Received, WorkerBackend
from gclib.runtime.transports.dask import DaskBackend, DaskClusterError
from gclib.runtime.transports.process import ProcessBackend

__all__ = [
    "BackendEvent",
    "Died",
    "Received",
    "WorkerBackend",
    "ProcessBackend",
    "DaskBackend",
    "DaskClusterError",
]
