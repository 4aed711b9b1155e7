"""The README's example runs, and the values its comments state are the ones it computes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_the_readme_has_one_python_example():
    assert len(python_blocks()) == 1


def test_the_python_example_runs_and_its_comments_are_true():
    source = python_blocks()[0]
    namespace: dict = {}
    exec(compile(source, str(README), "exec"), namespace)  # noqa: S102 - our own README
    gclib, model = namespace["gclib"], namespace["model"]
    assert gclib.expected_latency(10, [0, 1, 2, 3, 4], model) == pytest.approx(8.79, abs=0.005)
    assert gclib.expected_latency(10, [2], model) == pytest.approx(18.28, abs=0.005)
    assert gclib.expected_latency(10, namespace["cover"], model) == pytest.approx(4.86, abs=0.005)
    runs = namespace["runs"]
    assert runs["cover"].mean_latency == pytest.approx(4.86, abs=0.05)
    assert runs["cover"].mean_uploads < runs["nested"].mean_uploads
    assert gclib.best_level_set(10, 2, model, s_max=4).levels == (1, 4)
    for value in re.findall(r"#.*?(\d+\.\d+)", source):  # every number a comment states
        assert value in {"8.79", "18.28", "4.86"}, value
