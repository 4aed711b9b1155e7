"""Distributed training through the worker pool against gradient descent computed here.

The reference trajectory, the loss and the accuracies are computed in this file from the data
with plain numpy and scipy (one-hot labels, ``scipy.special.softmax``), independently of
gclib's gradient functions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from sklearn.datasets import load_digits

import gclib.plotting
from gclib import RuntimeModel
from gclib.training import (
    DEFAULT_ITERATIONS,
    DEFAULT_L2,
    DEFAULT_LEARNING_RATE,
    SoftmaxObjective,
    TrainingData,
    gradient_descent,
    load_dataset,
    plot_training,
    train,
)

WORKERS = 6
S_MAX = 2
STEPS = 8
STEP_SIZE = 0.5
L2 = 1e-3
EXACT = ("uncoded", "gc:1", "gc:2", "nested", "streaming")
SCHEMES = (*EXACT, "ignore:1")


@pytest.fixture(scope="module")
def data() -> TrainingData:
    return load_dataset("digits", seed=0)


def reference_descent(data: TrainingData, steps: int, step_size: float, l2: float) -> np.ndarray:
    """``W_{k+1} = W_k − η (Xᵀ(softmax(X W_k) − Y)/N + λ W̃_k)``, ``W_0 = 0``; ``W̃`` drops the
    intercept row (the last one)."""
    features, labels = data.train_features, data.train_labels
    onehot = np.eye(data.classes)[labels]
    params = np.zeros((features.shape[1], data.classes))
    trajectory = [params]
    for _ in range(steps):
        gradient = features.T @ (special.softmax(features @ params, axis=1) - onehot)
        gradient /= len(labels)
        gradient[:-1] += l2 * params[:-1]
        params = params - step_size * gradient
        trajectory.append(params)
    return np.stack(trajectory)


def reference_loss(data: TrainingData, params: np.ndarray, l2: float) -> float:
    scores = data.train_features @ params
    rows = np.arange(len(data.train_labels))
    mean = np.mean(special.logsumexp(scores, axis=1) - scores[rows, data.train_labels])
    return float(mean + 0.5 * l2 * np.sum(params[:-1] ** 2))


def accuracy(features: np.ndarray, labels: np.ndarray, params: np.ndarray) -> float:
    return float(np.mean(np.argmax(features @ params, axis=1) == labels))


# ---------------------------------------------------------------------------------- data
def test_digits_are_split_standardised_and_complete(data):
    raw, labels = load_digits(return_X_y=True)
    assert data.classes == 10 and data.features == raw.shape[1] + 1
    assert len(data.train_labels) + len(data.test_labels) == len(labels)
    assert len(data.test_labels) == pytest.approx(0.25 * len(labels), abs=1)
    np.testing.assert_array_equal(data.train_features[:, -1], 1.0)
    np.testing.assert_array_equal(data.test_features[:, -1], 1.0)
    # undo the standardisation: the rows are the digits' rows, each exactly once
    train_raw = data.train_features[:, :-1] * data.feature_scale + data.feature_mean
    test_raw = data.test_features[:, :-1] * data.feature_scale + data.feature_mean
    np.testing.assert_allclose(data.feature_mean, train_raw.mean(axis=0), atol=1e-9)
    spread = train_raw.std(axis=0)
    np.testing.assert_allclose(data.feature_scale, np.where(spread > 0, spread, 1.0), rtol=1e-9)
    rebuilt = np.vstack([train_raw, test_raw]).round(6)
    rebuilt_labels = np.concatenate([data.train_labels, data.test_labels])
    ours = sorted(zip(map(tuple, rebuilt), rebuilt_labels.tolist(), strict=True))
    theirs = sorted(zip(map(tuple, raw.astype(float).round(6)), labels.tolist(), strict=True))
    assert ours == theirs
    # stratified: every class keeps its share in the test rows
    for digit in range(10):
        assert np.mean(data.test_labels == digit) == pytest.approx(
            np.mean(labels == digit), rel=0.05
        )


def test_the_split_depends_on_the_seed_only(data):
    again = load_dataset(seed=0)
    other = load_dataset(seed=1)
    np.testing.assert_array_equal(again.train_features, data.train_features)
    assert not np.array_equal(other.train_labels, data.train_labels)


def test_partitions_cover_the_training_rows_in_order(data):
    parts = data.partitions(WORKERS)
    sizes = [len(y) for _, y in parts]
    assert len(parts) == WORKERS and max(sizes) - min(sizes) <= 1
    np.testing.assert_array_equal(np.vstack([x for x, _ in parts]), data.train_features)
    np.testing.assert_array_equal(np.concatenate([y for _, y in parts]), data.train_labels)


@pytest.mark.parametrize(("name", "fraction"), [("mnist", 0.25), ("digits", 1.0), (3, 0.25)])
def test_bad_data_set_arguments_raise(name, fraction):
    with pytest.raises(ValueError, match="Argument"):
        load_dataset(name, test_fraction=fraction)


# ---------------------------------------------------------------------------------- objective
def test_objective_matches_an_independent_computation(data):
    objective = SoftmaxObjective(data, l2=0.01)
    params = np.random.default_rng(3).standard_normal(objective.shape) * 0.1
    assert objective.loss(params) == pytest.approx(reference_loss(data, params, 0.01), rel=1e-12)
    one_step = reference_descent(data, 1, 1.0, 0.01)  # W_1 = −∇F(0)
    np.testing.assert_allclose(-objective.gradient(np.zeros(objective.shape)), one_step[1])
    # central differences of F on a few coordinates
    rng = np.random.default_rng(4)
    gradient = objective.gradient(params)
    for _ in range(5):
        i, c = rng.integers(objective.shape[0]), rng.integers(objective.shape[1])
        step = np.zeros_like(params)
        step[i, c] = 1e-6
        slope = (objective.loss(params + step) - objective.loss(params - step)) / 2e-6
        assert gradient[i, c] == pytest.approx(slope, rel=1e-5, abs=1e-8)
    for split, features, labels in [
        ("train", data.train_features, data.train_labels),
        ("test", data.test_features, data.test_labels),
    ]:
        assert objective.accuracy(params, split) == accuracy(features, labels, params)


def test_reference_gradient_descent_matches_the_loop_here(data):
    ours = gradient_descent(SoftmaxObjective(data, L2), 5, 0.3)
    np.testing.assert_allclose(ours, reference_descent(data, 5, 0.3, L2), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_defaults_reach_90_percent_test_accuracy(seed):
    data = load_dataset(seed=seed)
    final = reference_descent(data, DEFAULT_ITERATIONS, DEFAULT_LEARNING_RATE, DEFAULT_L2)[-1]
    assert accuracy(data.test_features, data.test_labels, final) >= 0.9


# ---------------------------------------------------------------------------------- pool
@pytest.fixture(scope="module")
def runs(data):
    model = RuntimeModel(1.0, 1.0, straggler_prob=0.3, slowdown=4.0, crash_prob=0.1)
    return train(
        data,
        ",".join(SCHEMES),
        workers=WORKERS,
        s_max=S_MAX,
        model=model,
        iterations=STEPS,
        learning_rate=STEP_SIZE,
        l2=L2,
        time_unit=0.002,
        seed=3,
    )


def test_exact_schemes_follow_gradient_descent_under_stragglers_and_crashes(data, runs):
    reference = reference_descent(data, STEPS, STEP_SIZE, L2)
    scale = np.abs(reference).max()
    assert list(runs) == list(SCHEMES)
    assert sum(runs[name].lost for name in EXACT) > 0  # crashes did happen
    assert runs["uncoded"].failed > 0  # and made uncoded iterations fail
    for name in EXACT:
        run = runs[name]
        assert run.params.shape == (STEPS + 1, *reference.shape[1:])
        updated = [0] + [k for k in range(1, STEPS + 1) if k not in run.failed_iterations]
        # a failed iteration leaves the parameters unchanged ...
        for k in run.failed_iterations:
            np.testing.assert_array_equal(run.params[k], run.params[k - 1])
            assert run.latency[k] == math.inf and math.isnan(run.gradient_error[k])
        # ... and the updates are exactly those of gradient descent, in order
        np.testing.assert_allclose(
            run.params[updated], reference[: len(updated)], rtol=1e-9, atol=1e-9 * scale
        )
        assert run.max_gradient_error < 1e-9


def test_ignore_stragglers_leaves_the_trajectory_and_reports_its_error(data, runs):
    run = runs["ignore:1"]
    reference = reference_descent(data, STEPS, STEP_SIZE, L2)
    finished = [k for k in range(1, STEPS + 1) if k not in run.failed_iterations]
    assert finished
    assert all(run.gradient_error[k] > 1e-6 for k in finished)
    assert run.max_gradient_error > 1e-3
    assert np.abs(run.params[-1] - reference[len(finished)]).max() > 1e-6 * np.abs(reference).max()


def test_recorded_metrics_agree_with_the_parameters(data, runs):
    for name, run in runs.items():
        assert len(run.loss) == len(run.wall_clock) == len(run.latency) == STEPS + 1
        assert run.wall_clock[0] == 0.0 and run.latency[0] == 0.0
        for k in range(STEPS + 1):
            params = run.params[k]
            assert run.loss[k] == pytest.approx(reference_loss(data, params, L2), rel=1e-10)
            assert run.test_accuracy[k] == accuracy(data.test_features, data.test_labels, params)
            assert run.train_accuracy[k] == accuracy(data.train_features, data.train_labels, params)
        steps = np.diff(run.wall_clock)
        assert np.all(steps > 0), name
        for k in range(1, STEPS + 1):
            if math.isfinite(run.latency[k]):
                # the wall-clock adds the decoding time to the pool's latency × time unit
                assert steps[k - 1] >= run.latency[k] * run.time_unit - 1e-12
        np.testing.assert_allclose(
            np.asarray(run.model_time) * run.time_unit, run.wall_clock, rtol=1e-12
        )
        reached = run.time_to_accuracy(0.5)
        first = next(k for k, a in enumerate(run.test_accuracy) if a >= 0.5)
        assert reached == run.wall_clock[first]
        assert run.time_to_accuracy(1.01) == math.inf


def test_plot_training_draws_every_scheme(runs):
    fig, (loss_ax, accuracy_ax) = plot_training(runs)
    labels = [line.get_label() for line in loss_ax.get_lines()]
    assert labels == [gclib.plotting.scheme_label(name) for name in runs]
    assert len(fig.legends[0].get_texts()) == len(runs)
    assert loss_ax.get_yscale() == "log"
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"s_max": 6}, "s_max"),
        ({"schemes": "gc:3"}, "scheme"),
        ({"schemes": "fast"}, "scheme"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"iterations": 0}, "iterations"),
        ({"workers": 2000}, "workers"),
        ({"l2": -1.0}, "l2"),
    ],
)
def test_bad_training_arguments_raise_before_any_worker_starts(data, kwargs, message):
    options = {
        "schemes": "nested",
        "workers": WORKERS,
        "s_max": S_MAX,
        "model": RuntimeModel(1.0, 1.0),
        "iterations": 2,
    }
    options.update(kwargs)
    with pytest.raises(ValueError, match=message):
        train(data, **options)


@pytest.mark.parametrize("stop", [True, False])
def test_an_interrupt_ends_training_with_what_finished(data, monkeypatch, stop):
    import gclib.runtime.pool

    calls = {"count": 0}
    original = gclib.runtime.pool.WorkerPool.run_iteration

    def interrupted_on_the_eleventh(self, *args, **kwargs):
        calls["count"] += 1
        if calls["count"] == STEPS + 3:  # the third iteration of the second scheme
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(gclib.runtime.pool.WorkerPool, "run_iteration", interrupted_on_the_eleventh)
    arguments = {
        "workers": WORKERS,
        "s_max": S_MAX,
        "model": RuntimeModel(1.0, 1.0, straggler_prob=0.2, slowdown=3.0),
        "iterations": STEPS,
        "learning_rate": STEP_SIZE,
        "l2": L2,
        "time_unit": 0.001,
        "seed": 1,
        "stop_on_interrupt": stop,
    }
    if not stop:
        with pytest.raises(KeyboardInterrupt):
            train(data, "uncoded,nested,gc:1", **arguments)
        return
    runs = train(data, "uncoded,nested,gc:1", **arguments)
    assert list(runs) == ["uncoded", "nested"]  # gc:1 never started
    assert runs["uncoded"].iterations == STEPS and runs["nested"].iterations == 2
    reference = reference_descent(data, STEPS, STEP_SIZE, L2)
    nested = runs["nested"]
    for values in nested.summary().values():
        if isinstance(values, list) and values and not isinstance(values[0], int | bool):
            assert len(values) == 3
    assert nested.params.shape == (3, *reference.shape[1:])
    np.testing.assert_allclose(nested.params, reference[:3], rtol=1e-9, atol=1e-12)
