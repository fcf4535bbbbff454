"""A tiny synthetic-scenes version for the detector evaluation tests, made the way a user
makes one: ``synthetic generate --kind scenes``, ``ingest kaggle-loc``, ``split``,
``version freeze``; and hand-made detections of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from synsetlab.cli.app import app
from synsetlab.detect.evaluate import GroundTruth
from synsetlab.detect.records import ImageDetections
from synsetlab.manifest import Manifest
from synsetlab.versions import load_version
from synsetlab.workspace import open_workspace

runner = CliRunner(env={"COLUMNS": "200"})
#: circle, triangle, rectangle (sorted: the class index order).
CLASSES = ("n13873502", "n13879320", "n13883346")


def make_scenes_workspace(root: Path, *, per_class: int = 6) -> Path:
    """A workspace at ``root / "ws"`` with version ``v1`` of 64x48 scenes without box faults
    (every object boxed): ``per_class`` images a class, 2 a class in val and in test."""
    scenes = root / "scenes"
    ws = root / "ws"
    commands = [
        ["synthetic", "generate", str(scenes), "--kind", "scenes", "--per-class",
         str(per_class), "--classes", "circle,triangle,rectangle", "--size", "64x48",
         "--loose-box-rate", "0", "--missing-box-rate", "0", "--wrong-class-rate", "0"],
        ["init", str(ws)],
        ["-w", str(ws), "ingest", "kaggle-loc", str(scenes), "--workers", "0"],
        ["-w", str(ws), "split", "--val-per-class", "2", "--test-per-class", "2"],
        ["-w", str(ws), "version", "freeze", "--name", "v1"],
    ]  # fmt: skip
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"{args}\n{result.output}"
    return ws


def load_manifest(ws: Path, name: str = "v1") -> Manifest:
    workspace = open_workspace(ws)
    try:
        return load_version(workspace, name).manifest
    finally:
        workspace.close()


def perfect_detections(truth: GroundTruth, *, shift: float = 0.0) -> list[ImageDetections]:
    """Every ground-truth object detected once, boxes moved right and down by ``shift``
    pixels, scores falling from 0.9 in each image."""
    out = []
    for image_id, objects in zip(truth.image_ids, truth.objects, strict=True):
        n = len(objects)
        out.append(
            ImageDetections(
                sha256=image_id,
                boxes=objects[:, 1:] + shift,
                scores=np.linspace(0.9, 0.5, n),
                labels=objects[:, 0].astype(np.int64),
            )
        )
    return out


def noisy_detections(truth: GroundTruth, *, seed: int = 0, extra: int = 4) -> list[ImageDetections]:
    """Every object found with jittered boxes, plus ``extra`` random false detections an
    image, random scores: a detector that is neither perfect nor useless."""
    rng = np.random.default_rng(seed)
    out = []
    for image_id, objects, (w, h) in zip(
        truth.image_ids, truth.objects, truth.sizes.tolist(), strict=True
    ):
        jittered = objects[:, 1:] + rng.normal(0, 1.5, (len(objects), 4))
        corners = rng.uniform(0, [w - 1, h - 1], (extra, 2))
        sides = rng.uniform(3, 20, (extra, 2))
        false = np.column_stack([corners, corners + sides])
        boxes = np.concatenate([jittered, false])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
        labels = np.r_[objects[:, 0], rng.integers(0, len(truth.classes), extra)]
        out.append(
            ImageDetections(
                sha256=image_id,
                boxes=boxes,
                scores=rng.uniform(0, 1, len(boxes)),
                labels=labels.astype(np.int64),
            )
        )
    return out
