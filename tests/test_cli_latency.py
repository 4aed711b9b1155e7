"""``gclib latency`` from the command line: JSON against the theory and Monte Carlo, the table
and the usage errors."""

from __future__ import annotations

import json
import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from gclib.cli.main import main

# DESIGN.md section 4: the reference scenario's expected latencies
REFERENCE = {
    "uncoded": 18.36,
    "gc:1": 20.50,
    "gc:2": 18.28,
    "gc:3": 14.63,
    "gc:4": 12.68,
    "nested": 8.79,
}


def latency_json(capsys, *options):
    status = main(["latency", "--json", *options])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_default_is_the_reference_scenario_with_its_values(capsys):
    payload = latency_json(capsys)
    assert payload["n"] == 10 and payload["s_max"] == 4 and payload["levels"] == [0, 1, 2, 3, 4]
    schemes = payload["schemes"]
    assert list(schemes) == [
        *["uncoded", "gc:1", "gc:2", "gc:3", "gc:4"],
        *["nested", "nested-eager", "cover", "streaming"],
    ]
    for name, value in REFERENCE.items():
        assert schemes[name]["expected_latency"] == pytest.approx(value, abs=0.006), name
        assert schemes[name]["failure_probability"] == 0.0
    # streaming: the exact coverage program (DESIGN.md: about 4.86)
    assert schemes["streaming"]["expected_latency"] == pytest.approx(4.86, abs=0.01)
    # every GC(s) worker computes s + 1 tasks unless it is stopped; uncoded exactly one
    assert schemes["uncoded"]["mean_tasks_per_worker"] == pytest.approx(1.0)
    assert schemes["gc:4"]["uploads_per_iteration"] == pytest.approx(6.0)


def test_monte_carlo_agrees_with_the_exact_values(capsys):
    payload = latency_json(capsys, "--mc", "40000", "--seed", "3")
    assert payload["mc_iterations"] == 40000
    for name, row in payload["schemes"].items():
        assert row["mc_failed"] == 0
        if name == "streaming":
            # the coverage bound lies below every scheme (DESIGN.md: about 4.86)
            assert 4.7 < row["mc_mean_latency"] < 5.0
            continue
        z = (row["mc_mean_latency"] - row["expected_latency"]) / row["mc_stderr"]
        assert abs(z) < 4.5, (name, z)
        assert row["mc_mean_tasks_per_worker"] == pytest.approx(
            row["mean_tasks_per_worker"], rel=0.02
        )


def test_unresponsive_workers_beyond_the_tolerance_make_the_mean_infinite(capsys):
    n, p = 6, 0.1
    payload = latency_json(
        capsys,
        "--workers",
        str(n),
        "--smax",
        "2",
        "--schemes",
        "nested,gc:1",
        "--straggler-prob",
        str(p),
        "--slowdown",
        "inf",
    )
    for name, tolerance in (("nested", 2), ("gc:1", 1)):
        row = payload["schemes"][name]
        assert row["expected_latency"] is None  # JSON has no infinity: null, and P(T = inf) > 0
        # P(more than s unresponsive workers), counted over every set of silent workers
        never = sum(
            p**k * (1 - p) ** (n - k) * len(list(combinations(range(n), k)))
            for k in range(tolerance + 1, n + 1)
        )
        assert row["failure_probability"] == pytest.approx(never)
        assert never == pytest.approx(stats.binom.sf(tolerance, n, p))


def test_fixed_count_and_levels_options(capsys):
    payload = latency_json(
        capsys, "--stragglers", "2", "--levels", "0,2", "--schemes", "nested,gc:2", "--rate", "inf"
    )
    # deterministic unit tasks with exactly two workers slowed 8x: nested with S = {0, 2}
    # decodes at level 2 after 3 tasks (the slow workers need 8 per task), GC(2) too
    nested, gc2 = payload["schemes"]["nested"], payload["schemes"]["gc:2"]
    assert nested["levels"] == [0, 2]
    assert nested["expected_latency"] == pytest.approx(3.0)
    assert gc2["expected_latency"] == pytest.approx(3.0)
    assert payload["model"]["stragglers"] == 2 and payload["model"]["straggler_prob"] == 0.0


def test_table_lists_every_scheme(capsys):
    assert main(["latency", "--mc", "2000"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].startswith("n = 10, s_max = 4")
    assert "Monte Carlo: 2000 iterations" in lines[0]
    names = [line.split()[0] for line in lines[2:] if not line.startswith("*")]
    assert names == [
        *["uncoded", "GC(1)", "GC(2)", "GC(3)", "GC(4)"],
        *["nested", "nested-eager", "cover", "streaming"],
    ]
    nested = lines[2 + names.index("nested")].split()
    assert float(nested[1]) == pytest.approx(REFERENCE["nested"], abs=0.006)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "3", "--smax", "5"], "--smax must be below --workers"),
        (["--schemes", "gc:9"], "needs a tolerance"),
        (["--schemes", "fast"], "must be one of"),
        (["--levels", "0,9"], "--levels"),
        (["--rate", "0"], "--rate must be positive"),
        (["--straggler-prob", "1.5"], "--straggler-prob"),
        (["--stragglers", "11"], "--stragglers must be at most"),
        (["--straggler-prob", "0.1", "--stragglers", "2"], "exclude each other"),
        (["--slowdown", "abc"], "expected a number"),
        (["--mc", "-1"], "--mc"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(argv, message, capsys):
    try:
        status = main(["latency", *argv])
    except SystemExit as exit_:  # argparse rejects malformed values while parsing
        status = exit_.code
    assert status == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_infinite_values_are_null_beside_a_positive_failure_probability(capsys):
    payload = latency_json(capsys, "--slowdown", "inf", "--schemes", "uncoded", "--mc", "200")
    row = payload["schemes"]["uncoded"]
    assert row["expected_latency"] is None
    assert row["p95_latency"] is None
    assert row["mc_mean_latency"] is None and row["mc_stderr"] is None
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in row.values())
    assert np.isclose(row["failure_probability"], 1 - 0.8**10)  # what says "infinite"
    assert row["mc_failed"] > 0


def test_without_monte_carlo_the_coverage_bound_comes_from_its_exact_theory(capsys):
    assert main(["latency"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("* load and communication by Monte Carlo")
    cells = lines[-2].split()
    assert cells[0] == "streaming" and "-" not in cells
    assert float(cells[1]) == pytest.approx(4.86, abs=0.01)
    assert "--mc K" not in "\n".join(lines)  # nothing left for Monte Carlo alone
