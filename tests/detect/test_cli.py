"""``synsetlab train-detector`` through the CLI: the documented example, and refusals."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.cli import detect as detect_cli
from synsetlab.cli.app import app
from synsetlab.detect.resolve import default_detector_recipe
from synsetlab.train.history import read_history
from tests.detect.conftest import ScenesVersion

runner = CliRunner(env={"COLUMNS": "200"})
#: The example of the command's help (and of the README's detection section).
EXAMPLE = "synsetlab train-detector v1 --recipe tiny-det-cpu --epochs 2"


@pytest.fixture
def in_workspace(det_scenes: ScenesVersion, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(det_scenes.root)
    return det_scenes.root


def test_without_a_recipe_the_machine_picks_one(in_workspace: Path) -> None:
    args = ["train-detector", "v1", "--batch-size", "2", "--max-steps", "1", "--device", "cpu",
            "--out", str(in_workspace / "runs" / "default")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "no --recipe: tiny-det-cpu" in result.stdout and "training fasterrcnn on" in result.stdout
    )
    assert default_detector_recipe("cuda:0") == "fasterrcnn-mobilenet"
    assert default_detector_recipe("cpu") == "tiny-det-cpu"


def test_a_box_fraction_is_said_in_the_images_it_trains_on(in_workspace: Path) -> None:
    args = ["train-detector", "v1", "--recipe", "tiny-det-cpu", "--box-fraction", "0.5",
            "--batch-size", "2", "--max-steps", "1",
            "--out", str(in_workspace / "runs" / "half")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "6 train images" in result.stdout and "(--box-fraction 0.5)" in result.stdout


def test_the_documented_example_runs_as_written(in_workspace: Path) -> None:
    assert f"Example: {EXAMPLE}" in (detect_cli.train_detector.__doc__ or "")
    result = runner.invoke(app, shlex.split(EXAMPLE)[1:])
    assert result.exit_code == 0, result.output
    out = in_workspace / "runs" / "det-tiny-det-cpu-v1"
    assert "12 train images" in result.stdout and "done: 2 epochs" in result.stdout
    assert "val DET mAP" in result.stdout and str(out / "best.pt") in result.stdout
    assert [r["epoch"] for r in read_history(out / "metrics.jsonl")] == [1, 2]
    # a classifier command refuses the detector, saying which command takes it
    for command in (["evaluate", str(out / "best.pt"), "v1"],
                    ["predict", str(out / "best.pt"), str(in_workspace)]):  # fmt: skip
        refused = runner.invoke(app, command)
        assert refused.exit_code == 1 and "evaluate-detector" in refused.stderr, refused.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "yolo"], "unknown detector 'yolo'"),
        (["--roi-op", "warp"], "roi_op: Input should be 'align' or 'pool'"),
        (["--box-fraction", "0"], "box_fraction: Input should be greater than 0"),
        (["--backbone-from", "nope.pt"], "nope.pt"),
        (["--recipe", "no-such"], "no detector recipe 'no-such'; shipped: fasterrcnn-mobilenet"),
    ],
)
def test_bad_options_are_refused_and_nothing_is_written(
    in_workspace: Path, args: list[str], message: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["train-detector", "v1", "--out", str(out), *args])
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.stderr.split()), result.stderr
    assert not out.exists()
