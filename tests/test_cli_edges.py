"""Edges of the command line: the prediction under a deadline, the pool's own overhead, standard
output that cannot be written, the plotting backend, wall times beyond what the pool can wait,
diverging training, interrupts at any moment, argument errors and the JSON of ``gclib train``."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import integrate

import gclib
from gclib.cli import demo as demo_module
from gclib.cli.main import build_parser, main
from gclib.cli.options import MAX_WAIT, write_plot
from gclib.runtime import default_deadline

SMALL_POOL = ["--workers", "4", "--smax", "1", "--iterations", "1", "--time-unit", "0.002"]
TRAIN = ["train", *SMALL_POOL, "--no-progress"]
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/dev/full, fork")


def command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "gclib", *argv]


def status_of(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse itself
        return int(exit_.code)


def refused(capsys, argv: list[str], message: str) -> str:
    """``gclib ARGV`` exits with status 2, ``message`` on the last line of stderr, no traceback,
    nothing on stdout; returns that line."""
    status = status_of(argv)
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert captured.out == "" and "Traceback" not in captured.err
    last = captured.err.strip().splitlines()[-1]
    assert message in last, last
    return last


def uncoded_under_deadline(n: int, deadline: float) -> tuple[float, float]:
    """``(P(T ≤ d), E[T | T ≤ d])`` of uncoded on ``n`` workers, one task of ``(1 + Exp(1)) f``
    each, ``f = 8`` with probability 0.2 (the default model), from the closed form
    ``F(t) = ((1 − p) H(t) + p H(t / 8))^n``, ``H(x) = 1 − e^{−(x − 1)}`` for ``x ≥ 1``."""

    def cdf(t: float) -> float:
        def one(x: float) -> float:
            return 1.0 - math.exp(-(x - 1.0)) if x >= 1.0 else 0.0

        return (0.8 * one(t) + 0.2 * one(t / 8.0)) ** n

    finish = cdf(deadline)
    partial, _ = integrate.quad(lambda t: finish - cdf(t), 0.0, deadline, points=[1.0, 8.0])
    return finish, partial / finish


# ------------------------------------------------------- 1. the prediction under a deadline
def test_demo_predicts_failures_and_mean_under_the_deadline(capsys):
    argv = ["demo", "--json", *SMALL_POOL, "--iterations", "2", "--schemes", "uncoded"]
    assert main([*argv, "--deadline", "5"]) == 0
    entry = json.loads(capsys.readouterr().out)["schemes"]["uncoded"]
    finish, mean = uncoded_under_deadline(4, 5.0)
    assert entry["predicted_failure_probability"] == pytest.approx(1.0 - finish, rel=1e-9)
    assert entry["predicted_mean_latency"] == pytest.approx(mean, rel=1e-7)


def test_the_demo_table_says_what_the_prediction_is_conditioned_on(capsys):
    argv = ["demo", *SMALL_POOL, "--iterations", "2", "--schemes", "uncoded", "--deadline", "5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    finish, _ = uncoded_under_deadline(4, 5.0)
    row = next(line.split() for line in out.splitlines() if line.startswith("uncoded"))
    assert f"{2 * (1 - finish):.1f}" in row  # (pred): iterations × P(T > deadline)
    assert "E[T | T <= deadline 5]" in out and "P(T > deadline)" in out


def test_train_predicts_under_its_deadline(capsys):
    argv = [*TRAIN, "--schemes", "uncoded", "--deadline", "5", "--json"]
    assert main(argv) == 0
    entry = json.loads(capsys.readouterr().out)["schemes"]["uncoded"]
    finish, mean = uncoded_under_deadline(4, 5.0)
    assert entry["predicted_failure_probability"] == pytest.approx(1.0 - finish, rel=1e-9)
    assert entry["predicted_mean_latency"] == pytest.approx(mean, rel=1e-7)


def test_monte_carlo_predictions_count_the_draws_past_the_deadline(monkeypatch):
    from gclib.analysis import prediction as module

    model = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0)
    scheme = gclib.parse_scheme("uncoded", 1)
    exact = module.predict_within(4, scheme, model, 5.0)
    monkeypatch.setattr(module, "has_exact_theory", lambda *args: False)
    estimate = module.predict_within(4, scheme, model, 5.0, rng=3)
    assert exact.method == "exact" and estimate.method == "monte carlo"
    finish, mean = uncoded_under_deadline(4, 5.0)
    # 20000 draws: standard errors about 0.0035 and 0.01
    assert estimate.failure_probability == pytest.approx(1.0 - finish, abs=0.02)
    assert estimate.mean_latency == pytest.approx(mean, abs=0.05)


# ----------------------------------------------------------- 2. the pool's own overhead
class _FakePool:
    """A pool whose idle iterations take the model's latency plus ``extra`` time units."""

    n, time_unit = 4, 0.05

    def __init__(self, extra: float, model_latency: float) -> None:
        self.extra, self.model_latency, self.deadlines = extra, model_latency, []

    def run_iteration(self, params, scheme, *, sample, deadline):
        self.deadlines.append(deadline)
        return type("Result", (), {"latency": self.model_latency + self.extra})()


@pytest.mark.parametrize("name", ["uncoded", "nested"])
def test_the_pool_overhead_leaves_out_the_emulated_communication(name):
    # tasks of no time: uncoded's latency is one upload, nested's one request round
    model = gclib.RuntimeModel(1.0, 1.0, upload_cost=1.0, signal_cost=0.25)
    scheme = gclib.parse_scheme(name, 1, n=4)
    by_hand = 1.0 if name == "uncoded" else 2 * 0.25 + 1.0
    pool = _FakePool(0.02, by_hand)
    overhead = demo_module._overhead(pool, scheme, np.zeros(3), 1, model)
    assert overhead == pytest.approx(0.02 * pool.time_unit)
    # measured with the model's generous deadline, whatever --deadline says
    assert min(pool.deadlines) >= default_deadline(model, 2)


def test_an_overhead_that_never_finished_gives_no_advice(capsys):
    model = gclib.RuntimeModel(1.0, 1.0)
    scheme = gclib.parse_scheme("uncoded", 1, n=4)
    assert demo_module._overhead(_FakePool(math.inf, 1.0), scheme, np.zeros(3), 1, model) is None
    record = demo_module.SchemeRun(scheme, overhead=None)
    prediction = demo_module.Prediction(5.0, 0.0, "exact")
    assert not demo_module._note_overhead({"uncoded": record}, {"uncoded": prediction}, 0.05)
    assert capsys.readouterr().err == ""


def test_nothing_finishing_by_the_deadline_gives_no_time_unit_advice(capsys):
    argv = ["demo", "--json", *SMALL_POOL, "--schemes", "nested", "--upload-cost", "1"]
    assert main([*argv, "--time-unit", "0.05", "--deadline", "1e-9"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["time_unit_too_fine"] is False and "note" not in captured.err
    nested = payload["schemes"]["nested"]
    assert nested["failed"] == 1 and nested["predicted_failure_probability"] == 1.0
    assert nested["pool_overhead"] is not None  # measured, without the upload it emulates


# ------------------------------------------------------------- 3. standard output
@LINUX
@pytest.mark.parametrize("subcommand", ["demo", "train"])
def test_a_full_disk_on_stdout_is_one_line_and_status_1(subcommand):
    argv = command(subcommand, *SMALL_POOL, "--schemes", "uncoded", "--no-progress")
    with open("/dev/full", "w") as full:
        done = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"gclib {subcommand}: error: cannot write the output: No space left on device"
    ]


def test_a_closed_pipe_ends_the_output_quietly():
    argv = command(*TRAIN, "--iterations", "40", "--every", "1", "--schemes", "uncoded,gc:1")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `head` does once it has read its lines
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141  # 128 + SIGPIPE, as other tools end
    assert err == ""


@pytest.mark.parametrize("subcommand", ["latency", "demo"])
def test_characters_the_encoding_lacks_are_replaced(subcommand):
    argv = ["latency", "--schemes", "gc:1"] if subcommand == "latency" else ["demo", *SMALL_POOL]
    environment = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run(
        command(*argv, "--schemes", "gc:1"),
        capture_output=True,
        env=environment,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert b"RuntimeModel(a=1, ?=1, p=0.2, ?=8)" in done.stdout


@pytest.mark.skipif(sys.platform.startswith("win"), reason="a POSIX shell")
def test_a_closed_stdout_is_no_error_in_any_subcommand():
    for subcommand in ("latency", "demo", "train"):
        argv = (
            ["latency"] if subcommand == "latency" else [subcommand, *SMALL_POOL, "--no-progress"]
        )
        argv = command(*argv, "--schemes", "gc:1", "--json")
        done = subprocess.run(
            ["sh", "-c", 'exec "$@" >&-', "sh", *argv], capture_output=True, text=True, timeout=120
        )
        assert (done.returncode, done.stderr) == (0, ""), subcommand


# ------------------------------------------------------------ 4. the plotting backend
@pytest.mark.parametrize(
    "argv", [["latency", "--schemes", "gc:1"], ["demo", *SMALL_POOL], TRAIN], ids=lambda a: a[0]
)
def test_an_unknown_mplbackend_still_gives_the_figure(argv, tmp_path):
    figure = tmp_path / "figure.png"
    environment = {**os.environ, "MPLBACKEND": "nonsense"}
    done = subprocess.run(
        command(*argv, "--schemes", "gc:1", "--json", "--plot", str(figure)),
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_any_failure_to_write_the_figure_is_one_line(capsys):
    def refuse() -> None:
        raise ValueError("Key backend: 'nonsense' is not\na valid value")

    assert write_plot("x.png", refuse) is False
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "gclib: error: could not write the figure 'x.png': ValueError: Key backend: 'nonsense' "
        "is not a valid value"
    ]


# ------------------------------------------------- 5. wall times the pool cannot wait
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--deadline", "1e308"],
            "--deadline 1e+308 at --time-unit 0.002 s is 2e+305 s of wall time",
        ),
        (["--time-unit", "1e308"], "lower --time-unit"),
        (["--slowdown", "1e12", "--straggler-prob", "0.3"], "--slowdown inf"),
        (["--slowdown", "1e9"], "--slowdown inf"),
        (["--slowdown", "1e12", "--deadline", "50"], "a slowed worker needs up to about"),
        (["--rate", "1e-12"], "raise --rate"),
        (["--upload-cost", "1e12", "--deadline", "50"], "the costs"),
        (["--deadline", str(MAX_WAIT / 0.002 * 1.01)], "a week (604800 s)"),
    ],
)
@pytest.mark.parametrize("subcommand", ["demo", "train"])
def test_wall_times_beyond_a_week_are_refused_before_any_work(capsys, subcommand, options, message):
    argv = [subcommand, *SMALL_POOL, "--schemes", "uncoded"]
    refused(capsys, [*argv, *options], message)


def test_a_deadline_just_within_a_week_is_taken(capsys):
    from gclib.cli.options import check_timing

    args = build_parser().parse_args(["demo", "--deadline", str(MAX_WAIT / 0.002 * 0.999)])
    args.time_unit = 0.002
    check_timing(args, gclib.RuntimeModel(1.0, 1.0), 1)  # no UsageError


# ------------------------------------------------------------- 6. diverging training
@pytest.mark.parametrize(
    ("rate", "says"),
    [("1e308", "the loss of uncoded is nan after iteration 1;"), ("1e6", "more than 100 times")],
)
def test_a_diverging_training_ends_with_status_1(capsys, rate, says):
    status = main([*TRAIN, "--schemes", "uncoded", "--iterations", "3", "--learning-rate", rate])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == "" and "Traceback" not in captured.err
    assert captured.err.startswith("gclib train: error: the training diverged: ")
    assert says in captured.err and f"--learning-rate {float(rate):g} is too large" in captured.err


def test_the_training_stops_where_the_loss_leaves_the_bound():
    from gclib.training import DEFAULT_L2, SoftmaxObjective, gradient_descent, load_dataset, train

    data = load_dataset(seed=0)
    model = gclib.RuntimeModel(1.0, 1.0, straggler_prob=0.0)
    runs = train(data, "uncoded,gc:1", workers=4, s_max=1, model=model, iterations=5,
                 learning_rate=1e6, time_unit=0.002)  # fmt: skip
    objective = SoftmaxObjective(data, DEFAULT_L2)
    reference = [objective.loss(p) for p in gradient_descent(objective, 1, learning_rate=1e6)]
    assert reference[1] > 100 * reference[0]  # the single-process step leaves the bound too
    for run in runs.values():
        assert run.diverged == 1 and run.iterations == 1
        assert run.loss == pytest.approx(reference, rel=1e-9)


def test_a_loss_that_ends_above_its_start_gets_a_note(capsys):
    argv = [*TRAIN, "--schemes", "uncoded", "--iterations", "2", "--learning-rate", "100"]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    loss = json.loads(captured.out)["schemes"]["uncoded"]["loss"]
    assert loss[0] < loss[-1] < loss[1] < 100 * loss[0]
    assert "gclib train: note: the loss of uncoded ended above its initial value" in captured.err


# ------------------------------------------------------------------- 7. interrupts
@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="os.fork")
def test_an_interrupt_inside_the_callbacks_of_a_fork_is_not_lost():
    # the callback below is registered before gclib's, as logging's is: it runs inside the fork
    script = textwrap.dedent(
        """
        import os, signal, threading
        armed = []
        os.register_at_fork(
            after_in_parent=lambda: signal.raise_signal(signal.SIGINT) if armed else None
        )
        from gclib.cli import interrupts
        with interrupts.interrupts_handled():
            try:
                armed.append(1)
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                armed.clear()
                os.waitpid(pid, 0)
                print("forked", flush=True)
                threading.Event().wait(20)  # the interrupt comes before, re-delivered
                print("missed", flush=True)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    # re-delivered at once, it may land before the print or after it, but it lands
    assert done.stdout.split() in (["forked", "interrupted"], ["interrupted"]), done.stderr
    assert "Exception ignored" not in done.stderr


class _InterruptedStart:
    """A worker pool that Ctrl-C interrupts while it starts."""

    def __init__(self, *args, **kwargs) -> None:
        signal.raise_signal(signal.SIGINT)


@pytest.mark.parametrize("subcommand", ["demo", "train"])
def test_an_interrupt_while_the_pool_starts_reports_an_empty_run(capsys, monkeypatch, subcommand):
    import gclib.runtime.pool

    monkeypatch.setattr(gclib.runtime.pool, "WorkerPool", _InterruptedStart)
    argv = [*SMALL_POOL, "--json", "--schemes", "uncoded"]
    argv += ["--no-progress"] if subcommand == "train" else []
    assert main([subcommand, *argv]) == 130
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["schemes"] == {} and payload["interrupted"] is True
    assert "Traceback" not in captured.err


def test_an_interrupt_while_the_demo_summarises_keeps_the_summary(capsys, monkeypatch):
    real = demo_module._note_overhead

    def interrupted(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)  # SIGTERM, after the pool has closed
        return real(*args, **kwargs)

    monkeypatch.setattr(demo_module, "_note_overhead", interrupted)
    assert main(["demo", *SMALL_POOL, "--json", "--schemes", "uncoded,gc:1"]) == 143
    payload = json.loads(capsys.readouterr().out)
    assert list(payload["schemes"]) == ["uncoded", "gc:1"] and payload["interrupted"] is True
    assert all(entry["iterations"] == 1 for entry in payload["schemes"].values())


# ------------------------------------------------------------- 8. argument errors
def test_demo_takes_no_progress_like_the_others():
    for subcommand in ("demo", "latency", "train"):
        assert build_parser().parse_args([subcommand, "--no-progress"]).no_progress is True


@pytest.mark.parametrize("subcommand", ["demo", "latency", "train"])
def test_unknown_arguments_are_reported_by_the_subcommand(capsys, subcommand):
    line = refused(capsys, [subcommand, "extra", "--bogus"], "unrecognized arguments")
    assert line == f"gclib {subcommand}: error: unrecognized arguments: extra --bogus"
    # before the subcommand: the top-level parser's
    line = refused(capsys, ["--bogus", subcommand], "unrecognized arguments")
    assert line == "gclib: error: unrecognized arguments: --bogus"


# ---------------------------------------------------------------------- 9. messages
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--schemes", "fast"], "--schemes must be one of"),
        (["--schemes", "gc:x"], "--schemes 'gc:x' needs an integer tolerance"),
        (["--levels", "4-0"], "--levels range '4-0' is reversed: write the lower level first"),
        (["--levels", ""], "--levels is empty"),
        (["--levels", " "], "--levels is empty"),
        (["--levels", ","], "--levels ',' has an empty item"),
        (["--levels", "1,,2"], "--levels '1,,2' has an empty item"),
        (["--schemes", "gc:1,,gc:2"], "--schemes 'gc:1,,gc:2' has an empty item"),
        (["--schemes", ""], "--schemes is empty"),
    ],
)
@pytest.mark.parametrize("subcommand", ["latency", "demo", "train"])
def test_list_options_are_named_and_checked_alike(capsys, subcommand, options, message):
    last = refused(capsys, [subcommand, *options], message)
    assert "--scheme " not in last


def test_levels_without_a_scheme_that_uses_them_get_a_note(capsys):
    argv = ["latency", "--levels", "1,3", "--schemes", "uncoded,gc:2", "--json"]
    assert main(argv) == 0
    note = "gclib latency: note: --levels only affects the nested and nested-eager schemes"
    assert note in capsys.readouterr().err
    assert main(["latency", "--levels", "1,3", "--schemes", "nested-eager", "--json"]) == 0
    assert "note" not in capsys.readouterr().err


# --------------------------------------------------------- 10. the output of gclib train
def test_train_follows_the_conventions_of_the_other_subcommands(capsys):
    options = ["--straggler-prob", "0.3", "--upload-cost", "0.5"]
    argv = [*TRAIN, "--iterations", "2", "--schemes", "uncoded,gc:1,ignore:1,streaming"]
    assert main([*argv, *options, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert main(["latency", "--workers", "4", "--smax", "1", *options, "--json"]) == 0
    assert payload["model"] == json.loads(capsys.readouterr().out)["model"]
    schemes = payload["schemes"]
    assert schemes["gc:1"]["level"] == [None, 1, 1]  # the start has no level: absent, null
    assert schemes["streaming"]["level"] == [None, None, None]  # streaming decodes no level
    assert main([*argv, *options]) == 0
    summary = capsys.readouterr().out.split("summary")[1]
    names = [line.split()[0] for line in summary.splitlines()[2:]]
    assert names == ["uncoded", "GC(1)", "ignore(1)", "streaming"]


def test_failed_iterations_have_no_level_in_json(capsys):
    argv = [*TRAIN, "--iterations", "2", "--schemes", "uncoded,gc:1", "--json"]
    argv += ["--stragglers", "1", "--slowdown", "inf", "--deadline", "20"]
    assert main(argv) == 0
    schemes = json.loads(capsys.readouterr().out)["schemes"]
    assert schemes["uncoded"]["failed_iterations"] == [1, 2]
    assert schemes["uncoded"]["level"] == [None, None, None]
