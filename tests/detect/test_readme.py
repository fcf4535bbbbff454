"""The README's detector example, run as written on a small scenes version ``v1``: a
classifier, a detector started from it, its evaluation and the three submissions."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.cli.app import app
from tests.cli.test_readme import code_blocks
from tests.detect.scenes_version import make_scenes_workspace

runner = CliRunner(env={"COLUMNS": "200"})


def test_the_readme_detector_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = next(b for b in code_blocks("### Detectors") if "train-detector" in str(b))
    # 16 scenes a class: 12 train (36 in all, more than the classifier recipe's batch of 32).
    ws = make_scenes_workspace(tmp_path, per_class=16)
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(ws)
    for line in block:
        result = runner.invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, f"{line}\n{result.output}"
    metrics = json.loads((ws / "runs/det/eval-v1-val/metrics.json").read_text())
    assert metrics["task"] == "detection" and metrics["images"] == 6
    assert {"map", "ap50", "ap75"} <= set(metrics["coco"]) and "map" in metrics["det"]
    # One row per detection (devkit: image class score xmin ymin xmax ymax); five guesses of a
    # class and a box (Kaggle CSV) for each of the 6 test images.
    for row in (ws / "det.txt").read_text().split("\n"):
        assert row == "" or len(row.split()) == 7
    for name in ("loc.csv", "loc-det.csv"):
        lines = (ws / name).read_text().splitlines()
        assert lines[0] == "ImageId,PredictionString" and len(lines) == 7
