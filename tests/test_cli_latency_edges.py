"""``gclib latency`` at the edges: nearly deterministic tasks, times beyond double precision, a
shared link, one Monte Carlo iteration, interrupts, a closed standard output and problems too
large for the exact theory's time limit."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest

from gclib import RuntimeModel
from gclib.cli import latency as latency_cli
from gclib.cli.main import build_parser, main


def run(capsys, *options):
    """Exit status, standard output and standard error of ``gclib latency``; any warning
    (overflow, invalid values) is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            status = main(["latency", "--no-progress", *options])
        except SystemExit as exit_:
            status = exit_.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, captured.out, captured.err


def latency_json(capsys, *options):
    status, out, err = run(capsys, "--json", *options)
    assert status == 0, err
    return json.loads(out)


@pytest.mark.parametrize(
    "options",
    [
        ["--rate", "1e4"],
        ["--rate", "1e8"],
        ["--rate", "1e308"],
        ["--slowdown", "1e6"],
        ["--shift", "1e6"],
        ["--upload-cost", "1e100"],
    ],
)
def test_nearly_deterministic_tasks_have_the_right_load(capsys, options):
    """Uncoded: exactly one task and one upload per worker, and every exact load agrees with the
    Monte Carlo of the same model."""
    payload = latency_json(
        capsys, "--schemes", "uncoded,gc:1,nested", "--mc", "20000", "--seed", "2", *options
    )
    uncoded = payload["schemes"]["uncoded"]
    assert uncoded["mean_tasks_per_worker"] == pytest.approx(1.0, abs=1e-8)
    assert uncoded["uploads_per_iteration"] == pytest.approx(10.0, abs=1e-7)
    if options[1] == "1e308":
        return  # the sampled times themselves round to ties at this rate
    for name, row in payload["schemes"].items():
        for exact, sampled in (
            ("mean_tasks_per_worker", "mc_mean_tasks_per_worker"),
            ("uploads_per_iteration", "mc_uploads_per_iteration"),
            ("signals_per_iteration", "mc_signals_per_iteration"),
        ):
            assert row[exact] == pytest.approx(row[sampled], rel=0.02, abs=1e-9), (name, exact)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--slowdown", "1e308"], "use --slowdown inf for unresponsive workers"),
        (["--shift", "1e308"], "--shift and --rate must give a mean task time"),
        (["--rate", "1e-308"], "--shift and --rate must give a mean task time"),
        (["--signal-cost", "1e308"], "--signal-cost must be at most"),
        (
            ["--rate", "1e308", "--slowdown", "1.000000000001"],
            "--rate must be at most 1e+08 or inf",
        ),
        (["--time-limit", "-1"], "--time-limit must be a number of seconds >= 0"),
    ],
)
def test_times_beyond_double_precision_are_refused_with_what_to_use(capsys, options, message):
    status, out, err = run(capsys, "--schemes", "uncoded,nested", *options)
    assert status == 2
    assert message in err.splitlines()[-1]
    assert out == ""


def test_one_monte_carlo_iteration_has_no_standard_error(capsys):
    status, out, _ = run(capsys, "--schemes", "uncoded,nested", "--mc", "1")
    assert status == 0
    rows = [line for line in out.splitlines() if line.startswith(("uncoded", "nested"))]
    assert len(rows) == 2
    for line in rows:
        assert "nan" not in line
        assert line.split()[-3:-1] == ["±", "-"]


def test_shared_link_says_which_values_are_exact(capsys):
    """The nested code's mean, failure probability and load are exact on a shared link (its
    requested uploads queue after the stop); its quantiles are not, nor anything of the eager
    schemes."""
    options = ["--shared-link", "--upload-cost", "2", "--schemes", "nested,gc:2"]
    payload = latency_json(capsys, *options, "--mc", "20000", "--seed", "4")
    nested, gc2 = payload["schemes"]["nested"], payload["schemes"]["gc:2"]
    assert nested["theory"] == "mean" and gc2["theory"] == "none"
    assert nested["failure_probability"] == 0.0
    assert nested["p50_latency"] is None and nested["p95_latency"] is None
    z = (nested["expected_latency"] - nested["mc_mean_latency"]) / nested["mc_stderr"]
    assert abs(z) < 5
    assert nested["mean_tasks_per_worker"] == pytest.approx(
        nested["mc_mean_tasks_per_worker"], rel=0.02
    )
    assert nested["uploads_per_iteration"] == pytest.approx(
        nested["mc_uploads_per_iteration"], rel=0.02
    )
    assert gc2["expected_latency"] is None and gc2["failure_probability"] is None
    status, out, _ = run(capsys, *options)
    assert status == 0
    notes = out.strip().splitlines()[-2:]
    assert notes[0].startswith("nested: exact mean, P(fail), load and communication")
    assert notes[1].startswith("GC(2): no exact theory under this model")


def test_an_interrupt_says_which_schemes_it_left_out(capsys, monkeypatch):
    computed = latency_cli.latency_summary
    calls = []

    def interrupted_on_the_second(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return computed(*args, **kwargs)

    monkeypatch.setattr(latency_cli, "latency_summary", interrupted_on_the_second)
    status, out, err = run(capsys, "--schemes", "uncoded,gc:1,nested")
    assert status == 130
    assert "exact theory of 1 of 3 schemes" in err
    assert "GC(1), nested: exact theory not computed, the run was interrupted" in out
    assert "no exact" not in out


def test_a_missing_standard_output_is_left_to_the_command_line(capsys, monkeypatch):
    """Python starts `gclib latency >&-` without ``sys.stdout``: the subcommand writes nothing
    and leaves the outcome to ``gclib.cli.main`` (no AttributeError of its own)."""
    args = build_parser().parse_args(["latency", "--schemes", "uncoded", "--no-progress"])
    monkeypatch.setattr(sys, "stdout", None)
    assert args.handler(args) == 0
    assert capsys.readouterr().err == ""


def test_a_theory_beyond_the_time_limit_is_refused_up_front(capsys):
    """n = 200, s_max = 199: the estimate (about a quarter of an hour) refuses at once."""
    status, out, err = run(capsys, "--workers", "200", "--smax", "199")
    assert status == 2 and out == ""
    message = err.splitlines()[-1]
    for advice in ("--time-limit 120 s", "--schemes", "--smax", "--mc K", "0: no limit"):
        assert advice in message


def test_with_monte_carlo_the_slowest_schemes_are_left_to_it(capsys):
    payload = latency_json(
        capsys, "--workers", "200", "--smax", "199", "--schemes", "uncoded,nested", "--mc", "50"
    )
    uncoded, nested = payload["schemes"]["uncoded"], payload["schemes"]["nested"]
    assert uncoded["theory"] == "exact" and uncoded["mean_tasks_per_worker"] == pytest.approx(1)
    assert nested["theory"] == "skipped" and nested["expected_latency"] is None
    assert nested["mc_mean_latency"] is not None


def test_the_coverage_programs_time_counts_towards_the_limit(capsys):
    """n = 100 000: the classic codes and the nested code take seconds, the coverage program of
    cover and streaming hours; the estimate names them and refuses at once."""
    status, out, err = run(capsys, "--workers", "100000")
    assert status == 2 and out == ""
    message = err.splitlines()[-1]
    assert "more than --time-limit 120 s" in message
    slowest = message.split("(", 1)[1].split(",")[:2]
    assert {part.split()[0] for part in slowest} == {"cover", "streaming"}


@pytest.mark.parametrize(
    "model",
    [
        RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=8.0),
        RuntimeModel(1.0, 1.0, stragglers=3, slowdown=8.0),
        RuntimeModel(0.0, 2.0),
        RuntimeModel(2.0, 0.5, crash_prob=0.01),
    ],
    ids=["bernoulli", "fixed", "exponential", "crashes"],
)
def test_the_coverage_work_estimate_assumes_no_fewer_points_than_the_program_takes(
    model, monkeypatch
):
    """The estimate counts the time points of the expected coverage time at their typical upper
    end; the program, counted here, takes no more, and not under a third of them where its mean
    is finite (an infinite mean takes none: the estimate is then generous)."""
    from gclib.analysis import coverage

    evaluated = []
    survival = coverage._survival

    def counting(n, s_max, model, t):
        evaluated.append(len(t))
        return survival(n, s_max, model, t)

    monkeypatch.setattr(coverage, "_survival", counting)
    for n, s_max in [(10, 4), (100, 2), (300, 9)]:
        for cached in vars(coverage).values():  # earlier tests may have computed these
            if hasattr(cached, "cache_clear"):
                cached.cache_clear()
        evaluated.clear()
        coverage.expected_coverage_time(n, s_max, model)
        coverage.coverage_survival(np.linspace(0.5, 20.0, 50), n, s_max, model)  # quantiles' share
        points = sum(evaluated)
        elements, _ = coverage.coverage_work(n, s_max, model)
        tracked = 0 if len(model.worker_groups(n)) == 1 else 3
        assumed = elements // (n * (tracked + 1) * (s_max + 1) ** 2)
        assert points <= assumed + 50, (n, s_max, points)
        if model.crash_prob == 0.0:  # a finite mean: its quadrature takes most of the points
            assert points >= assumed / 3, (n, s_max, points)
