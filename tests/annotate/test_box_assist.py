"""A detector's proposals in a box project: stored as drawings of source ``proposal`` for
the crowd to verify, accepted ones aggregated into the catalog; a classifier refused.

The detector is the detector tests' tiny one, trained for a few seconds on another scenes
dataset of the same three shapes: its boxes are poor (IoU with the truth mostly under 0.7),
so the simulated crowd rejects most of them; one proposal is verified by hand to follow a
good one into the catalog.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import func, select
from typer.testing import CliRunner

from synsetlab.annotate import AnnotationError, annotator_for, get_project
from synsetlab.annotate.box_assign import next_box_task
from synsetlab.annotate.box_assist import propose_boxes
from synsetlab.annotate.box_crowd import BoxCrowdConfig, SimulatedBoxCrowd
from synsetlab.annotate.box_outcomes import aggregate_boxes
from synsetlab.annotate.box_projects import create_box_project
from synsetlab.annotate.box_run import box_truth, simulate_box_project
from synsetlab.annotate.box_submit import submit_box_task
from synsetlab.annotate.projects import create_project
from synsetlab.catalog import Box
from synsetlab.catalog.annotation import (
    AnnotationProject,
    BoxDrawing,
    BoxItem,
    BoxItemStatus,
    DrawingStatus,
)
from synsetlab.cli.app import app
from synsetlab.detect import train_detector
from synsetlab.detect.predict import LoadedDetector, load_detector
from synsetlab.taxonomy import Taxonomy
from synsetlab.versions import load_version
from synsetlab.workspace import Workspace, open_workspace
from tests.annotate.boxes_world import CLASSES, build, copy
from tests.detect.scenes_version import make_scenes_workspace
from tests.detect.tiny_detector import tiny_config

NAME = "shapes-boxes"
runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny detector and a tiny classifier of circles, triangles and rectangles."""
    root = tmp_path_factory.mktemp("assist")
    ws_root = make_scenes_workspace(root, per_class=6)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ws = open_workspace(ws_root)
    try:
        v = load_version(ws, "v1")
        train_detector(v.manifest, ws.blobs, tiny_config(epochs=2), root / "det", version_id=v.id)
    finally:
        ws.close()
        torch.set_num_threads(threads)
    args = ["-w", str(ws_root), "train", "v1", "--recipe", "tiny-cpu", "--epochs", "1",
            "--batch-size", "4", "--set", "data.image_size=32", "--set",
            'model_kwargs={"channels": [8, 16, 32, 64], "stem_width": 8}',
            "--out", str(root / "cls"), "--device", "cpu"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return root / "det" / "best.pt", root / "cls" / "best.pt"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("assist-ws"), gold_per_class=2, per_class=3)


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Iterator[Workspace]:
    ws = copy(template, tmp_path / "ws")
    with ws.session() as s:
        create_box_project(s, NAME, taxonomy=Taxonomy.wordnet(), classes=list(CLASSES))
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def detector(checkpoints: tuple[Path, Path]) -> LoadedDetector:
    return load_detector(checkpoints[0])


def _proposals(ws: Workspace) -> list[BoxDrawing]:
    with ws.session() as s:
        rows = s.scalars(select(BoxDrawing).where(BoxDrawing.source == "proposal")).all()
        s.expunge_all()
        return list(rows)


def _person(ws: Workspace, name: str) -> int:
    with ws.session() as s:
        return annotator_for(s, get_project(s, NAME), name=name).id


def test_proposals_are_verified_and_accepted_ones_reach_the_catalog(
    ws: Workspace, detector: LoadedDetector
) -> None:
    report = propose_boxes(ws, NAME, detector, checkpoint="det.pt", min_score=0.0)
    proposals = _proposals(ws)
    assert report.proposals == len(proposals) > 0 and report.items == 9
    assert all(p.annotator_id is None and p.score is not None for p in proposals)
    assert all(p.status is DrawingStatus.pending for p in proposals)
    with ws.session() as s:
        waiting = {i for (i,) in s.execute(select(BoxItem.id).where(
            BoxItem.status == BoxItemStatus.verifying))}  # fmt: skip
    assert waiting == {p.item_id for p in proposals}
    # Verification comes first: three people say yes to the first proposal; it is accepted.
    first = proposals[0]
    for name in ("v1", "v2", "v3"):
        who = _person(ws, name)
        with ws.session() as s:
            get_project(s, NAME).gold_fraction = 0.0
        with ws.session() as s:
            task = next_box_task(s, NAME, who)
        assert task.kind == "quality" and task.drawing_id == first.id
        assert task.drawing == (first.xmin, first.ymin, first.xmax, first.ymax)
        with ws.session() as s:
            submit_box_task(s, task.id, who, {"drawing_id": first.id, "answer": True})
    with ws.session() as s:
        assert s.get(BoxDrawing, first.id).status is DrawingStatus.accepted
    # The simulated crowd decides the rest through the same functions.
    run = simulate_box_project(ws, NAME, SimulatedBoxCrowd(BoxCrowdConfig(workers=10)),
                               box_truth(ws, NAME))  # fmt: skip
    assert run.actions["quality"] >= len(proposals)
    after = _proposals(ws)
    assert all(p.status is not DrawingStatus.pending and p.yes_votes + p.no_votes > 0
               for p in after)  # fmt: skip
    accepted = {p.id for p in after if p.status is DrawingStatus.accepted}
    assert first.id in accepted
    with ws.session() as s:
        aggregate_boxes(s, NAME)
    with ws.session() as s:
        crowd = set(s.scalars(select(Box.drawing_id).where(Box.drawing_id.is_not(None))))
    assert accepted <= crowd


def test_the_score_threshold_and_a_second_run(ws: Workspace, detector: LoadedDetector) -> None:
    none = propose_boxes(ws, NAME, detector, min_score=1.0)
    assert none.proposals == 0 and none.below_score > 0 and not _proposals(ws)
    with ws.session() as s:
        assert s.scalar(select(func.count()).where(BoxItem.status == BoxItemStatus.verifying)) == 0
    some = propose_boxes(ws, NAME, detector, min_score=0.0, max_per_item=1)
    assert some.proposals == some.items_proposed == len(_proposals(ws)) > 0
    assert all(p.score >= 0.0 for p in _proposals(ws))
    # Someone is asked about one proposal; running again replaces the others, not doubling
    # them, and keeps the one asked about.
    with ws.session() as s:
        get_project(s, NAME).gold_fraction = 0.0
    with ws.session() as s:
        asked = next_box_task(s, NAME, _person(ws, "ann"))
    assert asked.kind == "quality"
    again = propose_boxes(ws, NAME, detector, min_score=0.0, max_per_item=1)
    assert again.replaced == some.proposals - 1
    left = {p.id for p in _proposals(ws)}
    assert asked.drawing_id in left and len(left) == again.proposals + 1 == some.proposals


def test_bad_assists_are_refused_and_nothing_is_written(
    ws: Workspace, detector: LoadedDetector
) -> None:
    with pytest.raises(AnnotationError, match=r"min score 1\.5"):
        propose_boxes(ws, NAME, detector, min_score=1.5)
    dogs = dataclasses.replace(detector, classes=["n02084071", "n02121808", "n01503061"])
    with pytest.raises(AnnotationError, match="none of the project's classes"):
        propose_boxes(ws, NAME, dogs, checkpoint="dogs.pt")
    with ws.session() as s:
        create_project(s, "labels", taxonomy=Taxonomy.wordnet(), classes=list(CLASSES))
    with pytest.raises(AnnotationError, match="verifies labels, it has no boxes"):
        propose_boxes(ws, "labels", detector)
    assert not _proposals(ws)


def test_cli_create_with_a_detector_and_refuses_a_classifier(
    template: Path, tmp_path: Path, checkpoints: tuple[Path, Path]
) -> None:
    det, cls = checkpoints
    ws_dir = tmp_path / "ws"
    copy(template, ws_dir).close()
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(CLASSES) + "\n")
    base = ["-w", str(ws_dir), "annotate", "create", NAME, "--kind", "boxes", "--classes",
            str(classes), "--device", "cpu"]  # fmt: skip
    refused = runner.invoke(app, [*base, "--assist", str(cls)])
    assert refused.exit_code == 1
    assert "a box project's proposals come from a detector checkpoint" in refused.stderr
    assert "is a classifier checkpoint, not a detector" in refused.stderr
    ws = open_workspace(ws_dir)
    try:
        with ws.session() as s:
            assert s.scalar(select(func.count()).select_from(AnnotationProject)) == 0
    finally:
        ws.close()
    done = runner.invoke(app, [*base, "--assist", str(det), "--min-score", "0"])
    assert done.exit_code == 0, done.output
    assert "proposals from" in done.stdout and "to verify instead of drawing" in done.stdout
    again = runner.invoke(app, ["-w", str(ws_dir), "annotate", "assist", NAME, "--from",
                                str(det), "--min-score", "0", "--device", "cpu"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "replacing" in again.stdout
    wrong = runner.invoke(app, ["-w", str(ws_dir), "annotate", "assist", NAME, "--from",
                                str(cls), "--device", "cpu"])  # fmt: skip
    assert wrong.exit_code == 1 and "not a detector" in wrong.stderr
    labels = runner.invoke(app, ["-w", str(ws_dir), "annotate", "create", "x", "--classes",
                                 str(classes), "--min-score", "0.5"])  # fmt: skip
    assert labels.exit_code == 1 and "--min-score is for box projects" in labels.stderr
