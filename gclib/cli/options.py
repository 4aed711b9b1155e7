"""Options shared by the subcommands: the runtime model, the placement and the output mode."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

from gclib._verify import check_seed
from gclib.model import RuntimeModel
from gclib.schemes.parse import Scheme, parse_levels, parse_schemes

__all__ = [
    "UsageError",
    "add_model_arguments",
    "add_placement_arguments",
    "add_output_arguments",
    "add_backend_arguments",
    "backend_from_args",
    "model_from_args",
    "levels_from_args",
    "schemes_from_args",
    "emit_json",
    "JSON_CONVENTION",
    "check_plot_path",
    "add_timing_arguments",
    "check_timing",
    "MIN_TIME_UNIT",
    "seed_from_args",
    "SEED_LIMIT",
    "spread_tolerances",
    "write_plot",
    "positive_int",
    "non_negative_int",
    "integer",
    "real",
]


# The straggler probability of the reference scenario, used unless --stragglers is given.
DEFAULT_STRAGGLER_PROB = 0.2


class UsageError(Exception):
    """Bad command-line input: reported as a usage message with exit status 2."""


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError("expected a number, got nan")
    return value


def real(text: str) -> float:
    """A real number; ``inf`` is accepted."""
    return _number(text)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def add_placement_arguments(
    parser: argparse.ArgumentParser,
    *,
    workers: int = 10,
    smax: int = 4,
    schemes: str,
    schemes_help: str = "%(default)s",
) -> None:
    group = parser.add_argument_group("placement and schemes")
    group.add_argument(
        "--workers", "-n", type=positive_int, default=workers, help=f"workers n (default {workers})"
    )
    group.add_argument(
        "--smax",
        type=non_negative_int,
        default=smax,
        help=f"largest tolerance; each worker stores s_max+1 partitions (default {smax})",
    )
    group.add_argument(
        "--levels",
        default=None,
        help="level set S of the nested code, e.g. '0,1,3' or '0-4' (default: all, 0..s_max)",
    )
    group.add_argument(
        "--schemes",
        default=schemes,
        help="comma list of nested, uncoded, gc:S, ignore:S, streaming, cover, nested-eager "
        f"(default {schemes_help})",
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("runtime and straggler model")
    group.add_argument("--shift", type=real, default=1.0, help="task time shift a (default 1)")
    group.add_argument("--rate", type=real, default=1.0, help="exponential rate mu (default 1)")
    group.add_argument(
        "--straggler-prob",
        type=real,
        default=None,
        help=f"Bernoulli straggler probability p (default {DEFAULT_STRAGGLER_PROB})",
    )
    group.add_argument(
        "--stragglers",
        type=non_negative_int,
        default=None,
        help="fixed number of stragglers per iteration (instead of --straggler-prob)",
    )
    group.add_argument(
        "--slowdown", type=real, default=8.0, help="straggler slowdown kappa; 'inf' = unresponsive"
    )
    group.add_argument("--crash-prob", type=real, default=0.0, help="per-worker crash probability")
    group.add_argument(
        "--upload-cost", type=real, default=0.0, help="time one upload occupies a link (default 0)"
    )
    group.add_argument(
        "--signal-cost",
        type=real,
        default=0.0,
        help="one-way time of a control message: signal, request, stop (default 0)",
    )
    group.add_argument(
        "--shared-link",
        action="store_true",
        help="the master receives over one link, one upload at a time (default: a link each)",
    )


def add_output_arguments(parser: argparse.ArgumentParser, *, plot: bool = True) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    if plot:
        group.add_argument("--plot", metavar="FILE", default=None, help="save a figure to FILE")


def model_from_args(args: argparse.Namespace) -> RuntimeModel:
    straggler_prob = args.straggler_prob
    if args.stragglers is not None and straggler_prob is not None:
        raise UsageError(
            "--stragglers and --straggler-prob exclude each other: give a fixed count or a "
            "probability, not both"
        )
    if straggler_prob is None:
        straggler_prob = 0.0 if args.stragglers is not None else DEFAULT_STRAGGLER_PROB
    try:
        model = RuntimeModel(
            args.shift,
            args.rate,
            straggler_prob=straggler_prob,
            slowdown=args.slowdown,
            stragglers=args.stragglers,
            crash_prob=args.crash_prob,
            upload_cost=args.upload_cost,
            signal_cost=args.signal_cost,
            shared_link=args.shared_link,
        )
        model.check_workers(args.workers)
    except ValueError as error:
        raise UsageError(_option_message(str(error))) from None
    return model


def levels_from_args(args: argparse.Namespace) -> tuple[int, ...]:
    if args.smax >= args.workers:
        raise UsageError(f"--smax must be below --workers ({args.workers}), got {args.smax}")
    try:
        return parse_levels(args.levels, args.smax)
    except ValueError as error:
        raise UsageError(_option_message(str(error))) from None


def schemes_from_args(args: argparse.Namespace) -> tuple[Scheme, ...]:
    levels = levels_from_args(args)
    try:
        return parse_schemes(args.schemes, args.smax, levels, args.workers)
    except ValueError as error:
        raise UsageError(_option_message(str(error))) from None


def _option_message(message: str) -> str:
    """Translate "Argument 'straggler_prob'" into the option the user typed."""
    for name in (
        "straggler_prob",
        "crash_prob",
        "upload_cost",
        "signal_cost",
        "stragglers",
        "slowdown",
        "shift",
        "rate",
        "levels",
        "schemes",
        "scheme",
    ):
        message = message.replace(f"Argument '{name}'", "--" + name.replace("_", "-"))
        message = message.replace(f"Arguments '{name}'", "--" + name.replace("_", "-"))
        message = message.replace(f"'{name}'", "--" + name.replace("_", "-"))
    return message


# Seeds every consumer takes: numpy's SeedSequence takes any integer >= 0, scikit-learn's
# random_state (the split of `gclib train`) only those below 2**32.
SEED_LIMIT = 2**32


def seed_from_args(args: argparse.Namespace) -> int:
    """``--seed``, checked by the library's one seed check against :data:`SEED_LIMIT`."""
    try:
        return int(check_seed(args.seed, "seed", high=SEED_LIMIT))  # type: ignore[arg-type]
    except ValueError:
        raise UsageError(
            f"--seed must be an integer in [0, 2**32) = [0, {SEED_LIMIT - 1}], not {args.seed}"
        ) from None


def integer(text: str) -> int:
    """Any integer; the range is checked where the value is used."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


# Finer time units than this are below what the pool can honour: one iteration costs the master
# and the workers about a millisecond of messages and scheduling of their own.
MIN_TIME_UNIT = 1e-4


def add_timing_arguments(group: argparse._ArgumentGroup, *, time_unit: float) -> None:
    """``--time-unit`` and ``--deadline`` of the subcommands that run the worker pool."""
    group.add_argument(
        "--time-unit",
        type=real,
        default=time_unit,
        help=f"seconds per model time unit, at least {MIN_TIME_UNIT:g} (default {time_unit:g})",
    )
    group.add_argument(
        "--deadline",
        type=real,
        default=None,
        help="per-iteration deadline in model time units (default: derived from the model)",
    )


def check_timing(args: argparse.Namespace) -> None:
    if not (0.0 < args.time_unit < math.inf):
        raise UsageError(f"--time-unit must be a positive number of seconds, got {args.time_unit}")
    if args.time_unit < MIN_TIME_UNIT:
        raise UsageError(
            f"--time-unit must be at least {MIN_TIME_UNIT:g} s, got {args.time_unit:g}: the pool's "
            "own overhead (about a millisecond per iteration) would swamp finer time units"
        )
    if args.deadline is not None and not (0.0 < args.deadline < math.inf):
        raise UsageError(f"--deadline must be a positive number, got {args.deadline}")


def spread_tolerances(s_max: int, every_up_to: int = 8, count: int = 5) -> list[int]:
    """The tolerances of the default GC(s) schemes: ``1 … s_max`` up to ``s_max = every_up_to``,
    beyond it ``count`` of them spread geometrically over ``1 … s_max`` (53 schemes at
    ``s_max = 50`` would take long and say little more)."""
    if s_max <= every_up_to:
        return list(range(1, s_max + 1))
    return sorted({round(s_max ** (k / (count - 1))) for k in range(count)})


JSON_CONVENTION = (
    "JSON has no infinity and no NaN: a value that is infinite, undefined or absent is null, and "
    "the fields beside it say which (a failure probability or count above 0: infinite; no "
    "theory or nothing measured: absent)."
)


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (numpy scalars and arrays included) as ``None``:
    the one JSON convention of every subcommand (:data:`JSON_CONVENTION`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return _json_safe(value.tolist())
    return value


def emit_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as one JSON object; infinite and undefined values become ``null``."""
    json.dump(_json_safe(payload), sys.stdout, allow_nan=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def check_plot_path(path: str | None) -> None:
    """Refuse, before any work is done, a ``--plot`` file that cannot be a figure or be written.

    Permission bits do not tell (``/proc`` looks writable to root): a file is created in the
    folder and removed again.
    """
    if path is None:
        return
    from gclib.plotting.style import FIGURE_SUFFIXES

    if not path.lower().endswith(FIGURE_SUFFIXES):
        raise UsageError(f"--plot must name a .png, .pdf or .svg file, not {path!r}")
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(f"--plot must name a file, but {path!r} is a directory")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # save_figure creates the missing folders below this one
    reason = "not a writable folder"
    if folder.is_dir():
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".gclib-plot-check-"):
                return
        except OSError as error:
            reason = f"not a writable folder (creating a file there fails: {error.strerror})"
    raise UsageError(f"--plot {path!r} cannot be written: {str(folder)!r} is {reason}")


def write_plot(path: str, write: Callable[[], object]) -> bool:
    """Run ``write`` (which saves the figure to ``path``); on failure say why on standard error.

    The results have been printed before, so a figure that cannot be written loses nothing else.
    """
    try:
        write()
    except OSError as error:
        reason = error.strerror or str(error)
        print(f"gclib: error: could not write the figure {path!r}: {reason}", file=sys.stderr)
        return False
    return True


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
