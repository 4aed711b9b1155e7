"""``gclib train`` from the command line, in process: output, JSON, plot and usage errors."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from _processes import children, running
from scipy import special

from gclib.cli.main import main
from gclib.cli.train import default_schemes
from gclib.training import DEFAULT_ITERATIONS, DEFAULT_L2, DEFAULT_LEARNING_RATE, load_dataset

SMALL = ["--workers", "4", "--smax", "2", "--time-unit", "0.001", "--no-progress"]


def status_of(argv: list[str]) -> int:
    """The exit status, whether ``main`` returns it or argparse exits."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code)


def run_json(argv: list[str], capsys) -> dict:
    assert main(["train", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "mnist"], "--dataset must be one of digits"),
        (["--schemes", "fastest"], "--scheme"),
        (["--schemes", "gc:5"], "[0, s_max]"),
        (["--schemes", "ignore:10"], "n - 1"),
        (["--smax", "10"], "--smax must be below --workers"),
        (["--workers", "3", "--smax", "4"], "--smax must be below --workers"),
        (["--stragglers", "11"], "--stragglers"),
        (["--straggler-prob", "1.5"], "--straggler-prob"),
        (["--learning-rate", "0"], "--learning-rate"),
        (["--l2", "-1"], "--l2"),
        (["--time-unit", "0"], "--time-unit"),
        (["--deadline", "-3"], "--deadline"),
        (["--plot", "figure.txt"], "--plot"),
        (["--workers", "2000", "--smax", "1"], "--workers must be at most"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(argv, message, capsys):
    assert main(["train", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and "Traceback" not in captured.err
    assert "usage: gclib train" in captured.err


@pytest.mark.parametrize("argv", [["--iterations", "0"], ["--learning-rate", "fast"]])
def test_malformed_numbers_exit_2(argv, capsys):
    assert status_of(["train", *argv]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_help_lists_the_options(capsys):
    assert status_of(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--dataset", "--schemes", "--iterations", "--learning-rate", "--seed"):
        assert option in text
    for option in ("--workers", "--smax", "--levels", "--straggler-prob", "--time-unit"):
        assert option in text


def test_default_schemes_cover_every_family():
    assert default_schemes(4).split(",") == [
        "uncoded",
        "gc:1",
        "gc:2",
        "gc:3",
        "gc:4",
        "nested",
        "ignore:2",
        "streaming",
    ]
    assert default_schemes(0).split(",") == ["uncoded", "nested", "streaming"]


def test_json_reports_every_scheme_and_iteration(tmp_path, capsys):
    plot = tmp_path / "training.png"
    payload = run_json([*SMALL, "--iterations", "4", "--plot", str(plot), "--seed", "2"], capsys)
    names = ["uncoded", "gc:1", "gc:2", "nested", "ignore:1", "streaming"]
    assert list(payload["schemes"]) == names
    assert payload["dataset"] == "digits" and payload["wall_clock_unit"] == "seconds"
    for name, record in payload["schemes"].items():
        for key in ("loss", "test_accuracy", "train_accuracy", "wall_clock", "latency"):
            assert len(record[key]) == 5, (name, key)
        assert record["failed"] == 0  # no crashes, finite slowdowns
        assert np.all(np.diff(record["wall_clock"]) > 0)
        assert record["loss"][-1] < record["loss"][0] == pytest.approx(math.log(10))
        exact = not name.startswith("ignore")
        assert (record["max_gradient_error"] < 1e-9) == exact
        if name != "streaming":
            assert record["predicted_mean_latency"] > 0
    # exact schemes share one trajectory, so one loss curve
    reference = payload["schemes"]["uncoded"]["loss"]
    for name in names[:4] + ["streaming"]:
        np.testing.assert_allclose(payload["schemes"][name]["loss"], reference, rtol=1e-9)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failed_iterations_are_counted_and_skip_the_update(capsys):
    # one unresponsive worker: GC(1) and nested finish, uncoded misses every deadline
    argv = [*SMALL, "--iterations", "2", "--schemes", "uncoded,gc:1,nested"]
    argv += ["--stragglers", "1", "--slowdown", "inf", "--deadline", "20"]
    payload = run_json(argv, capsys)
    uncoded = payload["schemes"]["uncoded"]
    assert uncoded["failed"] == 2 and uncoded["failed_iterations"] == [1, 2]
    assert uncoded["latency"][1:] == [None, None]  # infinite: null, listed in failed_iterations
    assert uncoded["loss"] == [uncoded["loss"][0]] * 3
    for name in ("gc:1", "nested"):
        assert payload["schemes"][name]["failed"] == 0
        assert payload["schemes"][name]["loss"][2] < payload["schemes"][name]["loss"][0]


def test_default_run_reaches_90_percent_through_the_pool(capsys):
    # the default problem, step, L2 and iteration count through the real pool (nested only)
    payload = run_json(["--schemes", "nested", "--time-unit", "0.001", "--no-progress"], capsys)
    record = payload["schemes"]["nested"]
    assert len(record["test_accuracy"]) == DEFAULT_ITERATIONS + 1
    assert record["test_accuracy"][-1] >= 0.9
    assert record["time_to_90"] <= record["wall_clock"][-1]
    # the final accuracy is that of single-process gradient descent, computed here
    data = load_dataset(seed=0)
    onehot = np.eye(10)[data.train_labels]
    params = np.zeros((data.features, 10))
    for _ in range(DEFAULT_ITERATIONS):
        gradient = (
            data.train_features.T
            @ (special.softmax(data.train_features @ params, axis=1) - onehot)
            / len(onehot)
        )
        gradient[:-1] += DEFAULT_L2 * params[:-1]
        params = params - DEFAULT_LEARNING_RATE * gradient
    expected = np.mean(np.argmax(data.test_features @ params, axis=1) == data.test_labels)
    assert record["test_accuracy"][-1] == pytest.approx(expected)


def test_table_output(capsys):
    argv = ["train", *SMALL, "--iterations", "3", "--schemes", "nested,ignore:1", "--every", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "model time units" in text and "measured seconds" in text
    assert "nested" in text and "ignore(1)" in text and "summary" in text
    rows = [line.split() for line in text.splitlines() if line.split()[:1] == ["3"]]
    assert len(rows) == 2  # the last iteration of each scheme


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_reports_the_iterations_that_finished(tmp_path):
    import os
    import signal
    import subprocess
    import time

    command = [sys.executable, "-m", "gclib", "train", "--json", *SMALL, "--iterations", "5000"]
    command += ["--schemes", "nested,uncoded", "--plot", str(tmp_path / "partial.png")]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )

    deadline = time.monotonic() + 90
    while not children(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3.0)  # some iterations finish
    workers = children(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C does: the whole group
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted: reporting" in err and "Traceback" not in err
    payload = json.loads(out)
    assert payload["interrupted"] is True and list(payload["schemes"]) == ["nested"]
    nested = payload["schemes"]["nested"]
    steps = len(nested["loss"])
    assert 1 < steps < 5001 and len(nested["wall_clock"]) == len(nested["test_accuracy"]) == steps
    assert (tmp_path / "partial.png").read_bytes()[:4] == b"\x89PNG"
    time.sleep(0.5)
    assert workers and not [pid for pid in workers if running(pid)]
