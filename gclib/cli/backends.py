"""``--backend`` and ``--scheduler``: where the worker pool of ``gclib demo`` and ``gclib train``
runs, local processes or a Dask cluster."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, NoReturn

from gclib.cli.options import UsageError

__all__ = ["add_backend_arguments", "backend_from_args", "SCHEDULER_TIMEOUT", "dask_setup"]


# Seconds to reach a Dask scheduler, and to find enough worker threads on its cluster.
SCHEDULER_TIMEOUT = 5.0


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("backend")
    group.add_argument(
        "--backend",
        choices=("process", "dask"),
        default="process",
        help="where the workers run: local processes (default) or a Dask cluster",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="a running Dask scheduler, e.g. tcp://127.0.0.1:8786, for --backend dask (default: "
        "a local cluster of one single-threaded worker process per gclib worker)",
    )


class _ClusterError(Exception):
    """A Dask cluster that cannot serve: reported in one line, exit status 2."""


@contextlib.contextmanager
def backend_from_args(args: argparse.Namespace, n: int) -> Iterator[Any]:
    """The pool's ``backend`` for ``--backend`` and ``--scheduler``, for ``n`` gclib workers.

    ``None`` (local processes), or a ``DaskBackend`` on the scheduler given or on a local cluster
    started here and closed on exit. A scheduler that is malformed, unreachable within
    :data:`SCHEDULER_TIMEOUT` seconds or has too few worker threads ends the command with one line
    on standard error and exit status 2; a cluster that fails during the run, with exit status 1.
    """
    if args.backend != "dask":
        if args.scheduler is not None:
            raise UsageError("--scheduler needs --backend dask")
        yield None
        return
    with contextlib.ExitStack() as stack:
        try:
            client = _dask_client(args.scheduler, n, stack)
            from gclib.runtime.transports.dask import DaskBackend, DaskClusterError

            backend = DaskBackend(client)
        except _ClusterError as error:
            _exit_with(args, str(error), 2)
        try:
            yield backend
        except DaskClusterError as error:
            _exit_with(args, f"the Dask cluster could not go on: {error}", 1)


def _exit_with(args: argparse.Namespace, message: str, status: int) -> NoReturn:
    prog = getattr(args, "subparser", None)
    prog = prog.prog if prog is not None else "gclib"
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(status)


def dask_setup(worker: Any) -> None:
    """Run by Dask in every worker process of the local clusters the command line starts: Ctrl-C
    in a terminal reaches the whole process group, but only the master reacts, by closing the
    pool and then the cluster (as the process backend's workers do)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _dask_client(address: str | None, n: int, stack: contextlib.ExitStack) -> Any:
    """A client of the scheduler at ``address`` (or of a new local cluster), checked to reach
    at least ``n`` worker threads; closed (with the local cluster) when ``stack`` closes."""
    try:
        import distributed
    except ImportError:
        raise _ClusterError(
            "--backend dask needs the 'distributed' package: pip install 'gclib[dask]'"
        ) from None
    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # no log lines on our stderr
    if address is None:
        import dask

        try:  # no statistical profiler: sampling the busy threads every 10 ms delays the loops
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                cluster = distributed.LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.CRITICAL,
                    preload=[__name__],  # dask_setup below
                )
        except BaseException:  # Ctrl-C while it starts: no complaints of its half-started tasks
            logging.getLogger("asyncio").setLevel(logging.CRITICAL)
            raise
        stack.callback(cluster.close)
        client = distributed.Client(cluster)
        stack.callback(client.close)
        return client
    try:
        host, port = distributed.comm.get_address_host_port(address)
    except Exception as error:
        raise _ClusterError(
            f"--scheduler {address!r} is not a Dask scheduler address like tcp://HOST:8786 "
            f"({error})"
        ) from None
    try:  # a plain connection first: fails at once where the client would retry until timeout
        socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT).close()
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise _ClusterError(f"cannot reach the Dask scheduler at {address}: {reason}") from None
    try:
        client = distributed.Client(address, timeout=SCHEDULER_TIMEOUT)
    except Exception as error:
        raise _ClusterError(
            f"{address} does not answer as a Dask scheduler: {type(error).__name__}: {error}"
        ) from None
    stack.callback(client.close)
    end = time.monotonic() + SCHEDULER_TIMEOUT
    while True:  # workers may still be joining a cluster that has just started
        threads = client.nthreads()
        if sum(threads.values()) >= n or time.monotonic() >= end:
            break
        time.sleep(0.2)
    if sum(threads.values()) < n:
        raise _ClusterError(
            f"the Dask cluster at {address} has {sum(threads.values())} worker thread(s) on "
            f"{len(threads)} worker(s), but {n} gclib workers need one thread each"
        )
    return client
