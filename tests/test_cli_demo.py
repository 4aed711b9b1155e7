"""``gclib demo``: the JSON surface, its values, the table, the figure and the usage errors."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import pytest
from _processes import children, running
from scipy import special

from gclib import RuntimeModel
from gclib.cli.main import main

KEYS = {
    "iterations",
    "mean_latency",
    "model_mean_latency",
    "predicted_mean_latency",
    "p95_latency",
    "max_decode_error",
    "mean_tasks_per_worker",
    "uploads_per_iteration",
    "failed",
    "respawns",
    "predicted_failure_probability",
    "pool_overhead",
}
SMALL = ["--workers", "5", "--smax", "2", "--iterations", "4", "--time-unit", "0.002"]


def run_demo(capsys, *options):
    status = main(["demo", *SMALL, *options])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured


def demo_json(capsys, *options):
    captured = run_demo(capsys, "--json", *options)
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1  # exactly one object, nothing else on stdout
    payload = json.loads(lines[0])
    assert set(payload) == {"schemes", "time_unit_too_fine"}
    return payload["schemes"]


def test_json_shape_and_values(capsys):
    schemes = demo_json(
        capsys, "--schemes", "nested,uncoded,gc:1,ignore:1,streaming", "--seed", "3"
    )
    assert list(schemes) == ["nested", "uncoded", "gc:1", "ignore:1", "streaming"]
    for name, entry in schemes.items():
        assert set(entry) == KEYS, name
        assert entry["iterations"] == 4
        assert entry["failed"] == 0 and entry["respawns"] == 0  # finite slowdown, no crashes
        assert 0 < entry["mean_latency"] <= entry["p95_latency"] * 4
        assert 0 < entry["predicted_mean_latency"] < math.inf
        assert 0 < entry["mean_tasks_per_worker"] <= 3
    for name in ("nested", "uncoded", "gc:1", "streaming"):
        assert schemes[name]["max_decode_error"] < 1e-9
    assert schemes["ignore:1"]["max_decode_error"] > 1e-6  # one partition dropped: inexact
    # communication: uncoded and ignore upload once per worker they use, GC(1) n - 1 or more
    assert schemes["uncoded"]["uploads_per_iteration"] == 5
    assert schemes["ignore:1"]["uploads_per_iteration"] >= 4
    assert 4 <= schemes["gc:1"]["uploads_per_iteration"] <= 5
    assert 3 <= schemes["nested"]["uploads_per_iteration"] <= 5  # n - s responders, s ∈ 0..2
    # the reported prediction is the theory's conditional mean for the same model
    from gclib.analysis.latency import expected_latency

    model = RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
    assert schemes["gc:1"]["predicted_mean_latency"] == pytest.approx(
        expected_latency(5, [1], model, conditional=True)
    )


def test_model_latency_is_that_of_the_draws_the_pool_ran(capsys):
    """With tasks of exactly one unit (no stragglers, an exponential part of mean 1e-9) the
    model's latency of any draw is known by hand: GC(s) waits for s + 1 tasks, the others for
    one. The pool, never faster than its model, measures at least that."""
    schemes = demo_json(
        capsys,
        *("--schemes", "nested,uncoded,gc:1,gc:2,streaming"),
        *("--straggler-prob", "0", "--rate", "1e9"),
    )
    by_hand = {"nested": 1.0, "uncoded": 1.0, "gc:1": 2.0, "gc:2": 3.0, "streaming": 1.0}
    for name, latency in by_hand.items():
        assert schemes[name]["model_mean_latency"] == pytest.approx(latency, rel=1e-6)
        assert schemes[name]["mean_latency"] >= schemes[name]["model_mean_latency"]


def test_crashes_and_unresponsive_workers_are_counted(capsys):
    schemes = demo_json(
        capsys,
        "--schemes",
        "uncoded,nested",
        "--slowdown",
        "inf",
        "--straggler-prob",
        "0.1",
        "--crash-prob",
        "0.2",
        "--deadline",
        "10",
        "--iterations",
        "6",
        "--seed",
        "1",
    )
    uncoded, nested = schemes["uncoded"], schemes["nested"]
    # an iteration fails unless it finishes by the deadline 10. A worker answers with
    # probability 0.9 · 0.8 and then has k tasks (1 + Exp(1) each) done by t with probability
    # P(k + Gamma(k, 1) ≤ t). Uncoded needs every worker's first task: about 0.19 per iteration
    responsive = 0.9 * 0.8
    done = [responsive * special.gammainc(k, 10 - k) for k in (1, 2, 3)]  # P(N(10) ≥ k)
    assert uncoded["predicted_failure_probability"] == pytest.approx(1 - done[0] ** 5, rel=1e-9)
    # nested (levels 0..2) finishes when, for some s, n - s workers have s + 1 tasks done: summed
    # here over the task counts N_i(10) ∈ {0, 1, 2, 3} of the 5 workers
    at_least = [1.0, *done, 0.0]
    exactly = [at_least[k] - at_least[k + 1] for k in range(4)]
    finish = 0.0
    for counts in itertools.product(range(4), repeat=5):
        if any(sum(c >= s + 1 for c in counts) >= 5 - s for s in range(3)):
            finish += math.prod(exactly[c] for c in counts)
    assert nested["predicted_failure_probability"] == pytest.approx(1 - finish, rel=1e-9)
    assert uncoded["failed"] > 0 and uncoded["respawns"] > 0
    assert nested["respawns"] > 0
    for entry in (uncoded, nested):
        assert entry["iterations"] == 6
        if entry["failed"] < 6:
            assert entry["max_decode_error"] < 1e-9
        else:
            assert entry["mean_latency"] is None and entry["p95_latency"] is None


def test_table_and_plot(capsys, tmp_path):
    figure = tmp_path / "demo.png"
    captured = run_demo(capsys, "--schemes", "nested,gc:2,streaming", "--plot", str(figure))
    for word in ("nested", "GC(2)", "streaming", "predicted"):
        assert word in captured.out
    # every prediction is exact now, the coverage bound included: no Monte Carlo mark
    rows = [line.split() for line in captured.out.splitlines() if line.split()[:1] == ["streaming"]]
    assert len(rows) == 1 and not rows[0][3].endswith("*")
    assert "predicted by Monte Carlo" not in captured.out
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "options",
    [
        ["--workers", "0"],
        ["--workers", "4", "--smax", "4"],
        ["--schemes", "fast"],
        ["--schemes", "gc:7"],
        ["--levels", "0,9"],
        ["--slowdown", "0.5"],
        ["--straggler-prob", "1.5"],
        ["--stragglers", "20"],
        ["--crash-prob", "-0.1"],
        ["--time-unit", "0"],
        ["--time-unit", "inf"],
        ["--deadline", "-3"],
        ["--iterations", "zero"],
        ["--plot", "figure.txt"],
    ],
)
def test_bad_options_exit_with_status_2(capsys, options):
    try:
        status = main(["demo", *options])
    except SystemExit as exit_:  # argparse rejects malformed values itself
        status = exit_.code
    captured = capsys.readouterr()
    assert status == 2
    assert "usage:" in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


def test_command_line_usage_error_has_no_traceback():
    completed = subprocess.run(
        [sys.executable, "-m", "gclib", "demo", "--time-unit", "-1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert "--time-unit" in completed.stderr and "Traceback" not in completed.stderr
    assert completed.stdout == ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_summarises_what_finished_and_leaves_no_process():
    import signal
    import time

    command = [sys.executable, "-m", "gclib", "demo", "--json", "--iterations", "100000"]
    command += ["--workers", "5", "--smax", "2", "--schemes", "nested,uncoded"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(children(process.pid)) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # some iterations finish
    workers = children(process.pid)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted: summarising" in err and "Traceback" not in err
    payload = json.loads(out)
    assert payload["interrupted"] is True
    nested = payload["schemes"]["nested"]
    assert 0 < nested["iterations"] < 100000
    assert nested["mean_latency"] > 0 and nested["max_decode_error"] < 1e-9
    assert "uncoded" not in payload["schemes"]  # never started
    time.sleep(0.5)
    assert len(workers) == 5 and not [pid for pid in workers if running(pid)]
