"""Hard edges of the command line: every bad input refused before any work with one line and exit
status 2, resources checked against the machine, Monte Carlo in bounded memory, SIGTERM handled as
Ctrl-C, and one JSON convention for infinite and absent values."""

from __future__ import annotations

import json
import math
import os
import select
import signal
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from _processes import children, running

import gclib
from gclib._verify import check_seed
from gclib.analysis.monte_carlo import monte_carlo
from gclib.analysis.simulate import simulate
from gclib.cli import progress, resources
from gclib.cli.main import build_parser, main
from gclib.cli.options import JSON_CONVENTION, UsageError, _json_safe
from gclib.cli.table import number, print_table
from gclib.schemes.parse import parse_levels

REFERENCE = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
SMALL_POOL = ["--workers", "4", "--smax", "1", "--iterations", "1", "--time-unit", "0.001"]
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def refused(capsys, argv: list[str], message: str) -> str:
    """Run ``gclib ARGV``: exit status 2, ``message`` on the last line of stderr, no traceback,
    nothing on stdout; returns that line."""
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse itself
        status = exit_.code
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert captured.out == ""
    assert "Traceback" not in captured.err
    last = captured.err.strip().splitlines()[-1]
    assert message in last, last
    return last


def command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "gclib", *argv]


def resident(pid: int) -> int:
    """The resident memory of ``pid`` in bytes (Linux)."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGESIZE")


# ------------------------------------------------------------------ 1. --levels ranges
def test_a_huge_level_range_is_refused_before_it_is_built(capsys):
    refused(capsys, ["latency", "--levels", "0-100000000000"], "--levels must hold integers")
    refused(capsys, ["latency", "--levels", "0-2,3-99"], "not 99")
    assert parse_levels("1-3,0", 4) == (0, 1, 2, 3)


# ------------------------------------------------- 2. no worker ever finishes a task
@pytest.mark.parametrize(
    "options",
    [
        ["--crash-prob", "1.0"],
        ["--straggler-prob", "1", "--slowdown", "inf"],
        ["--stragglers", "10", "--slowdown", "inf"],
        ["--crash-prob", "1.0", "--rate", "inf"],
    ],
)
def test_when_every_worker_is_silent_every_scheme_fails_with_probability_one(capsys, options):
    assert main(["latency", "--json", *options]) == 0
    payload = json.loads(capsys.readouterr().out)
    for name, row in payload["schemes"].items():
        assert row["failure_probability"] == 1.0, name
        assert row["expected_latency"] is None and row["p95_latency"] is None, name  # infinite
        assert row["mean_tasks_per_worker"] == 0.0 and row["uploads_per_iteration"] == 0.0
    model = gclib.RuntimeModel(1.0, 1.0, crash_prob=1.0)
    assert gclib.expected_latency(10, [0, 2, 4], model) == math.inf


# ------------------------------------------------------------------------ 3. seeds
@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--seed", "-1"],
        ["train", "--seed", "1180591620717411303424", "--iterations", "2"],
        ["latency", "--seed", str(2**32)],
        ["latency", "--seed", "-5", "--mc", "10"],
    ],
)
def test_seeds_outside_what_numpy_and_scikit_learn_take_are_refused(capsys, argv):
    refused(capsys, argv, "--seed must be an integer in [0, 2**32)")


def test_the_one_seed_check_takes_an_upper_bound():
    assert check_seed(2**32 - 1, high=2**32) == 2**32 - 1
    assert check_seed(2**40) == 2**40  # the library's own seeds are numpy's: any size
    for bad in (-1, 2**32, 1.5):
        with pytest.raises(ValueError, match="Argument 'seed' must be"):
            check_seed(bad, high=2**32)


# -------------------------------------------------------- 4. resources of --workers
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["latency", "--workers", "99999999999999999999999"], "lower --workers"),
        (["demo", "--workers", "99999999999999999999999"], "lower --workers"),
        (["demo", "--workers", "100000"], "worker processes"),
        (["latency", "--workers", "100000000", "--schemes", "nested"], "of memory"),
    ],
)
def test_workers_beyond_what_the_machine_has_are_refused_before_any_work(capsys, argv, message):
    before = set(children(os.getpid())) if sys.platform.startswith("linux") else set()
    start = time.monotonic()
    refused(capsys, argv, message)
    assert time.monotonic() - start < 10
    if sys.platform.startswith("linux"):
        assert set(children(os.getpid())) <= before  # no process was started


def test_the_pool_limit_follows_the_open_file_limit(monkeypatch):
    import resource

    real = resource.getrlimit
    small = {resource.RLIMIT_NOFILE: (100, 100)}
    monkeypatch.setattr(resource, "getrlimit", lambda which: small.get(which) or real(which))
    limit, reason = resources.pool_limit()
    assert limit == (100 - 64) // 3 and "ulimit -n" in reason
    with pytest.raises(UsageError, match="ulimit -n"):
        resources.check_pool(limit + 1)
    resources.check_pool(limit + 1, local_processes=False)  # a remote cluster: not ours


def test_memory_checks_say_what_to_change(monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda: 2**30)
    schemes = gclib.parse_schemes("nested,uncoded", 4)
    with pytest.raises(UsageError, match=r"Monte Carlo on --workers 10000000 .* lower --workers"):
        resources.check_monte_carlo(10**7, schemes, 10**6)
    with pytest.raises(UsageError, match="the exact theory for --workers"):
        resources.check_theory(10**7, schemes)
    resources.check_theory(1000, schemes)
    resources.check_monte_carlo(10, schemes, 10**6)


# --------------------------------------------------- 5. Monte Carlo in bounded memory
def test_batched_monte_carlo_is_the_one_call_simulation():
    schemes = "nested,gc:2,uncoded,streaming"
    one = simulate(10, schemes, REFERENCE, 50_000, rng=5, s_max=4)
    batched = monte_carlo(10, schemes, REFERENCE, 50_000, rng=5, s_max=4).schemes
    for name, sim in one.items():
        agg = batched[name]
        assert agg.iterations == sim.iterations and agg.exact_quantiles
        assert np.array_equal(agg.latency, sim.latency)
        assert agg.mean_latency == pytest.approx(sim.mean_latency, rel=1e-12)
        assert agg.latency_stderr == pytest.approx(sim.latency_stderr, rel=1e-9)
        assert agg.quantile(0.95) == sim.quantile(0.95)
        assert agg.mean_tasks_per_worker == pytest.approx(sim.mean_tasks_per_worker)
        assert agg.mean_uploads == pytest.approx(sim.mean_uploads)
        assert agg.mean_signals == pytest.approx(sim.mean_signals)


def test_monte_carlo_memory_does_not_grow_with_the_iterations():
    def peak(iterations: int) -> int:
        tracemalloc.start()
        run = monte_carlo(10, "nested,gc:2", REFERENCE, iterations, rng=1, s_max=4, keep=1000)
        assert run.iterations == iterations
        assert run.schemes["nested"].latency.size == 1000  # a uniform sample, same for all
        assert not run.schemes["nested"].exact_quantiles
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    assert peak(400_000) < 1.3 * peak(80_000)


def test_an_interrupt_ends_monte_carlo_with_the_batches_that_finished():
    batches = []

    def progress(size: int) -> None:
        batches.append(size)
        if len(batches) == 2:
            raise KeyboardInterrupt

    run = monte_carlo(10, "nested", REFERENCE, 10**12, rng=1, s_max=4, progress=progress,
                      stop_on_interrupt=True)  # fmt: skip
    assert run.interrupted and run.iterations == sum(batches)
    assert math.isfinite(run.schemes["nested"].mean_latency)


@LINUX
@pytest.mark.parametrize(("sent", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_endless_monte_carlo_shows_progress_and_stops_with_what_it_has(sent, status):
    process = subprocess.Popen(
        command("latency", "--mc", "1000000000000", "--json", "--schemes", "nested,gc:2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # not a terminal: a line once the run takes long (within DELAY = 5 s)
        assert select.select([process.stderr], [], [], 60)[0], "no progress on stderr"
        first = process.stderr.readline()
        assert first.startswith("gclib latency: Monte Carlo:"), first
        rss = [resident(process.pid)]
        time.sleep(4.0)
        rss.append(resident(process.pid))
        process.send_signal(sent)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == status, err
    assert "Traceback" not in err and "interrupted: reporting" in err
    payload = json.loads(out)
    assert payload["interrupted"] is True and payload["mc_iterations_requested"] == 10**12
    assert 0 < payload["mc_iterations"] < 10**12
    nested = payload["schemes"]["nested"]
    assert nested["mc_mean_latency"] == pytest.approx(nested["expected_latency"], rel=0.02)
    assert rss[1] - rss[0] < 120 * 2**20  # a sample of bounded size, not every iteration


# ---------------------------------------------- 6. large n: default schemes, progress
def test_the_default_schemes_stay_few_at_a_large_tolerance():
    from gclib.cli.latency import _default_schemes
    from gclib.cli.train import default_schemes

    assert _default_schemes(50).split(",") == [
        "uncoded", "gc:1", "gc:3", "gc:7", "gc:19", "gc:50",
        "nested", "nested-eager", "cover", "streaming",
    ]  # fmt: skip
    assert _default_schemes(4).split(",") == [
        "uncoded", "gc:1", "gc:2", "gc:3", "gc:4", "nested", "nested-eager", "cover", "streaming",
    ]  # fmt: skip
    assert len(default_schemes(70).split(",")) == 9


def test_the_theory_reports_progress_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(progress, "DELAY", 0.0)
    argv = ["latency", "--workers", "300", "--smax", "6", "--schemes", "uncoded,gc:6", "--json"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "gclib latency: exact theory: " in err and "schemes" in err


# ------------------------------------------------------------ 7. the time unit
def test_a_time_unit_below_what_the_pool_can_honour_is_refused(capsys):
    for subcommand in ("demo", "train"):
        argv = [subcommand, "--time-unit", "1e-12", "--iterations", "2"]
        refused(capsys, argv, "--time-unit must be at least 0.0001 s")


def test_demo_says_when_the_time_unit_is_too_fine_for_the_pool(capsys):
    argv = ["demo", *SMALL_POOL, "--time-unit", "0.0001", "--schemes", "gc:1", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["time_unit_too_fine"] is True
    assert payload["schemes"]["gc:1"]["pool_overhead"] > 0
    assert "note: the pool's own time per iteration (GC(1) " in captured.err  # named as in tables


def test_large_numbers_never_merge_table_columns(capsys):
    assert number(7.6e9) == "7.6e+09" and number(12.345) == "12.35" and number(None) == "-"
    assert number(math.inf) == "inf" and number(2e-5, 4) == "2.000e-05"
    print_table(["scheme", "mean", "p95"], [["nested", number(7.6e9), number(1.2e12)]])
    header, row = capsys.readouterr().out.splitlines()
    assert row.split() == ["nested", "7.6e+09", "1.2e+12"] and len(header) == len(row)


def test_the_demo_table_stays_aligned_with_huge_latencies(capsys):
    from collections import Counter

    from gclib.analysis.prediction import Prediction
    from gclib.cli.demo import SchemeRun, _print_table

    args = build_parser().parse_args(["demo"])
    args.schemes = "gc:2"
    scheme = gclib.parse_scheme("gc:2", 4)
    record = SchemeRun(scheme, latencies=[7.6e9, 7.7e9], levels=Counter({2: 2}), iterations=2)
    record.tasks_per_worker, record.uploads, record.signals = [3.0, 3.0], [8, 8], [0, 0]
    record.decode_errors, record.initial_loss, record.final_loss = [1e-16, 1e-16], 1.0, 0.5
    record.model_latencies = [7.5e9, 7.6e9]
    prediction = Prediction(18.28, 0.0, "exact")
    summaries = {"gc:2": record.summary(prediction)}
    _print_table(args, REFERENCE, (0, 1, 2, 3, 4), {"gc:2": record}, summaries,
                 {"gc:2": prediction})  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    header, row = lines[1], lines[3]
    assert len(row.split()) == 15 and len(header.split()) == 16  # "max err"
    assert len(row) == len(header)


# ------------------------------------------------------------------ 8. --plot
@LINUX
@pytest.mark.parametrize(
    "argv", [["latency"], ["demo", *SMALL_POOL], ["train", *SMALL_POOL, "--no-progress"]]
)
def test_a_plot_folder_that_refuses_files_is_found_before_any_work(capsys, argv):
    refused(capsys, [*argv, "--plot", "/proc/x.png"], "cannot be written")


def test_the_plot_check_leaves_nothing_behind(tmp_path, capsys):
    assert main(["latency", "--schemes", "gc:1", "--plot", str(tmp_path / "a.png")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


# --------------------------------------------------- 9. smaller edges, conventions
def test_demo_defaults_adapt_to_smax(capsys):
    argv = ["demo", *SMALL_POOL, "--smax", "2", "--workers", "4", "--json"]
    assert main(argv) == 0
    schemes = json.loads(capsys.readouterr().out)["schemes"]
    assert list(schemes) == ["nested", "uncoded", "gc:1", "gc:2", "streaming"]


def test_a_diverging_training_stops_with_a_message_and_no_numpy_warning(capsys):
    argv = ["train", "--learning-rate", "1e300", "--iterations", "2", "--schemes", "nested"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = main([*argv, "--workers", "4", "--smax", "1", "--no-progress"])
    captured = capsys.readouterr()
    assert status == 1
    assert [line for line in captured.err.splitlines() if line] == [
        "gclib train: error: the training diverged: the loss of nested is inf after iteration "
        "1; --learning-rate 1e+300 is too large a step for this problem (default 0.5)"
    ]
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert captured.out == ""


@LINUX
@pytest.mark.parametrize("subcommand", ["demo", "train"])
def test_sigterm_summarises_like_ctrl_c_and_leaves_no_process(subcommand):
    argv = [subcommand, "--json", "--iterations", "100000", "--workers", "4", "--smax", "1"]
    argv += ["--schemes", "nested,uncoded", "--time-unit", "0.002"]
    if subcommand == "train":
        argv.append("--no-progress")
    process = subprocess.Popen(
        command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while len(children(process.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # some iterations finish
    workers = children(process.pid)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "interrupted" in err and "Traceback" not in err
    payload = json.loads(out)
    assert payload["interrupted"] is True and list(payload["schemes"]) == ["nested"]
    time.sleep(0.5)
    assert len(workers) >= 4 and not [pid for pid in workers if running(pid)]


def test_main_restores_the_sigterm_handler():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit):
        main(["latency", "--help"])
    assert main(["latency", "--schemes", "gc:1", "--json"]) == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_one_json_convention_for_infinite_and_absent_values(capsys):
    payload = {
        "inf": math.inf,
        "nan": math.nan,
        "numpy": np.float64(-np.inf),
        "array": np.array([1.0, np.inf]),
        "nested": [{"x": (np.int64(3), None)}],
    }
    assert _json_safe(payload) == {
        "inf": None,
        "nan": None,
        "numpy": None,
        "array": [1.0, None],
        "nested": [{"x": [3, None]}],
    }
    for subcommand in ("demo", "latency", "train"):
        with pytest.raises(SystemExit):
            main([subcommand, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert " ".join(JSON_CONVENTION.split()) in text, subcommand
    readme = (os.path.dirname(__file__) + "/../README.md").replace("/tests/..", "")
    with open(readme, encoding="utf-8") as file:
        assert "infinite, undefined or\nabsent is `null`" in file.read()


def test_a_plot_with_nothing_exact_to_draw_asks_for_monte_carlo(capsys, tmp_path):
    figure = tmp_path / "x.png"
    args = ["latency", "--shared-link", "--upload-cost", "1", "--plot", str(figure)]
    assert main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--mc K" in error and "Traceback" not in error
    assert not figure.exists()
