"""``--plot`` of every subcommand: bad paths are refused before any work, and a figure that cannot
be written loses none of the results printed before it."""

from __future__ import annotations

import json

import pytest

import gclib.plotting.style
from gclib.cli.main import main

SMALL_POOL = "-n 4 --smax 1 --iterations 1 --schemes nested --time-unit 0.001".split()
QUICK = {
    "latency": ["latency"],
    "demo": ["demo", *SMALL_POOL],
    "train": ["train", *SMALL_POOL, "--no-progress"],
}


@pytest.mark.parametrize("command", sorted(QUICK))
@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("figure.txt", ".png, .pdf or .svg"),
        ("a-file/figure.png", "not a writable folder"),
        ("folder.png", "is a directory"),
    ],
)
def test_an_unusable_plot_path_is_a_usage_error_before_any_work(
    command, where, message, tmp_path, capsys
):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "folder.png").mkdir()
    status = main([*QUICK[command], "--plot", str(tmp_path / where)])
    captured = capsys.readouterr()
    assert status == 2
    assert message in captured.err
    assert captured.out == ""  # refused before anything ran
    assert "Traceback" not in captured.err


def test_missing_folders_of_the_plot_path_are_created(tmp_path, capsys):
    target = tmp_path / "new" / "folder" / "latency.png"
    assert main(["latency", "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"figure written to {target}" in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(QUICK))
def test_a_figure_that_cannot_be_written_keeps_the_results(command, tmp_path, capsys, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gclib.plotting.style, "save_figure", disk_full)
    status = main([*QUICK[command], "--json", "--plot", str(tmp_path / "figure.png")])
    captured = capsys.readouterr()
    assert status == 1
    assert "could not write the figure" in captured.err
    assert "No space left on device" in captured.err
    payload = json.loads(captured.out)  # the results were printed in full before the figure
    assert payload["schemes"]
