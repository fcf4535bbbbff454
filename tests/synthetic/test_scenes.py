"""Synthetic scenes: several figures an image with true boxes, planted box faults, the Kaggle
LOC files they are written in, and their way into a workspace's catalog."""

from __future__ import annotations

import csv
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import func, select
from tests.cli.test_readme import code_blocks
from typer.testing import CliRunner

from synsetlab.catalog.models import Box
from synsetlab.cli.app import app
from synsetlab.synthetic import (
    SHAPE_CLASSES,
    SceneConfig,
    SceneTruth,
    SyntheticConfigError,
    generate_scenes,
    load_scene_truth,
    load_truth,
)
from synsetlab.synthetic._render import SUPERSAMPLE, paint_figure
from synsetlab.synthetic._scenes import _pixel_box, _place_one
from synsetlab.workspace import open_workspace

runner = CliRunner(env={"COLUMNS": "200"})
CLASSES = ("n13873502", "n13879320", "n13883346")  # circle, triangle, rectangle
#: 24 images; rates high enough that every fault is planted a few times.
SMALL = SceneConfig(
    classes=CLASSES,
    per_class=8,
    image_size=(64, 48),
    seed=3,
    loose_box_rate=0.1,
    missing_box_rate=0.1,
    wrong_class_rate=0.1,
)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SceneTruth]:
    out = tmp_path_factory.mktemp("scenes") / "scenes"
    generate_scenes(out, SMALL)
    return out, load_scene_truth(out)


def _solution(out: Path) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    with (out / "LOC_train_solution.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["ImageId", "PredictionString"]
    boxes = {}
    for image_id, text in rows[1:]:
        fields = text.split()
        boxes[image_id] = [
            (fields[i], tuple(int(v) for v in fields[i + 1 : i + 5]))
            for i in range(0, len(fields), 5)
        ]
    return boxes


def test_same_config_gives_identical_files(scenes: tuple[Path, SceneTruth], tmp_path: Path) -> None:
    out, truth = scenes
    generate_scenes(tmp_path / "again", SMALL)
    assert load_scene_truth(tmp_path / "again") == truth
    for name in ("LOC_train_solution.csv", "LOC_synset_mapping.txt", "truth.json"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes()
    other = SceneConfig(**{**SMALL.__dict__, "seed": 4})
    generate_scenes(tmp_path / "other", other)
    assert load_scene_truth(tmp_path / "other").images != truth.images


def test_images_hold_several_objects_with_tight_boxes_inside(
    scenes: tuple[Path, SceneTruth],
) -> None:
    out, truth = scenes
    assert truth.counts["images"] == 24 == len(truth.images)
    assert max(len(image.objects) for image in truth.images) > 1
    assert truth.counts["objects"] > truth.counts["images"]
    scales = [obj.scale for image in truth.images for obj in image.objects]
    assert min(scales) < 0.2 and max(scales) > 0.4  # many scales
    for image in truth.images:
        with Image.open(out / image.path) as picture:
            assert picture.size == image.size == (64, 48)
        areas = []
        for obj in image.objects:
            xmin, ymin, xmax, ymax = obj.box
            assert 0 <= xmin < xmax < 64 and 0 <= ymin < ymax < 48  # inclusive pixels
            # tight: the box is about the figure's nominal size, not the image's
            longer = max(xmax - xmin, ymax - ymin)
            assert longer <= obj.scale * 48 * 1.6 + 2
            areas.append((xmax - xmin) * (ymax - ymin))
        # the label is the class of the largest object, which is listed first
        assert image.objects[0].wnid == image.wnid
        assert areas[0] == max(areas)
        assert image.path.split("/")[-2] == image.wnid


def test_planted_faults_are_recorded_and_in_the_annotation(
    scenes: tuple[Path, SceneTruth],
) -> None:
    out, truth = scenes
    n = truth.counts["objects"]
    expected = int(0.1 * n + 0.5)
    assert truth.counts["loose"] == truth.counts["missing"] == truth.counts["wrong-class"]
    assert truth.counts["loose"] == expected > 0
    assert truth.counts["boxes"] == n - expected
    solution = _solution(out)
    for image in truth.images:
        listed = solution.get(Path(image.path).stem, [])
        annotated = [
            (obj.annotated_wnid, obj.annotated_box)
            for obj in image.objects
            if obj.annotated_box is not None
        ]
        assert listed == annotated
        for obj in image.objects:
            if obj.fault is None:
                assert (obj.annotated_wnid, obj.annotated_box) == (obj.wnid, obj.box)
            elif obj.fault == "missing":
                assert obj.annotated_box is None and obj.annotated_wnid is None
            elif obj.fault == "wrong-class":
                assert obj.annotated_box == obj.box
                assert obj.annotated_wnid in CLASSES and obj.annotated_wnid != obj.wnid
            else:
                assert obj.fault == "loose" and obj.annotated_wnid == obj.wnid
                box, loose = obj.box, obj.annotated_box
                assert loose is not None
                assert loose[0] <= box[0] and loose[1] <= box[1]
                assert loose[2] >= box[2] and loose[3] >= box[3]
                assert loose != box


def test_figure_truth_reader_refuses_scenes(scenes: tuple[Path, SceneTruth]) -> None:
    with pytest.raises(SyntheticConfigError, match="load_scene_truth"):
        load_truth(scenes[0])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_objects": 0}, "max_objects must be at least 1"),
        ({"scale_range": (0.5, 0.2)}, "scale_range"),
        ({"max_iou": 1.5}, "max_iou"),
        ({"loose_factor": (0.9, 1.2)}, "loose_factor"),
        ({"missing_box_rate": 1.0}, "missing_box_rate must be in [0, 1)"),
        ({"loose_box_rate": 0.5, "missing_box_rate": 0.5}, "must be below 1"),
        ({"classes": ("n13873502",)}, "wrong_class_rate > 0 needs at least two classes"),
        ({"classes": ("n00000000",)}, "unknown wnid"),
    ],
)
def test_bad_config_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(SyntheticConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        SceneConfig(**{**SMALL.__dict__, **changes})


def test_cli_scenes_then_ingest_puts_boxes_in_the_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    args = ["synthetic", "generate", "scenes/", "--kind", "scenes", "--per-class", "3"]
    args += ["--classes", "circle,triangle", "--size", "48x48", "--missing-box-rate", "0.2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "loose" in result.stdout and "ingest kaggle-loc" in result.stdout
    truth = load_scene_truth(tmp_path / "scenes")
    assert truth.counts["missing"] > 0

    assert runner.invoke(app, ["init", "ws"]).exit_code == 0
    ingest = runner.invoke(app, ["-w", "ws", "ingest", "kaggle-loc", "scenes", "--workers", "0"])
    assert ingest.exit_code == 0, ingest.output
    with open_workspace(tmp_path / "ws").session() as session:
        rows = session.execute(select(Box.wnid, Box.xmin, Box.ymin, Box.xmax, Box.ymax)).all()
    stored = sorted((w, (int(a), int(b), int(c), int(d))) for w, a, b, c, d in rows)
    expected = sorted(
        (obj.annotated_wnid, obj.annotated_box)
        for image in truth.images
        for obj in image.objects
        if obj.annotated_box is not None
    )
    assert stored == expected and len(stored) == truth.counts["boxes"]


def test_cli_refuses_an_unknown_kind(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synthetic", "generate", str(tmp_path / "x"), "--kind", "boxes"])
    assert result.exit_code == 1
    assert "--kind must be one of figures, scenes" in result.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("wnid", sorted(SHAPE_CLASSES))
def test_true_box_is_the_painted_figures_extent(wnid: str) -> None:
    """Painted alone on a flat canvas, a figure's pixels fill its true box to within a pixel."""
    size = (80, 60)
    big = (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        placed = _place_one(wnid, float(rng.uniform(0.1, 0.7)), big, float(min(big)), rng)
        canvas = Image.new("RGB", big, (0, 0, 0))
        base = np.zeros(3)
        reach = paint_figure(
            ImageDraw.Draw(canvas), SHAPE_CLASSES[wnid], placed.points, placed.radius, base, rng
        )
        x0, y0, x1, y1 = _pixel_box(placed.box + np.array([-reach, -reach, reach, reach]), size)
        box = (x0, y0, x1 + 1, y1 + 1)  # inclusive pixels -> the edges they span
        painted = np.asarray(canvas).any(axis=2)
        ys, xs = np.nonzero(painted)
        s = SUPERSAMPLE
        extent = (xs.min() / s, ys.min() / s, (xs.max() + 1) / s, (ys.max() + 1) / s)
        assert box[0] <= extent[0] + 0.01 and box[1] <= extent[1] + 0.01
        assert box[2] >= extent[2] - 0.01 and box[3] >= extent[3] - 0.01
        assert all(abs(a - b) <= 1.5 for a, b in zip(box, extent, strict=True)), (box, extent)


def test_the_readme_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = next(b for b in code_blocks("## Ingestion") if any("--kind scenes" in x for x in b))
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init", "ws"]).exit_code == 0
    monkeypatch.chdir(tmp_path / "ws")
    for line in block:
        result = runner.invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, f"{line}\n{result.output}"
    truth = load_scene_truth(tmp_path / "ws" / "scenes")
    with open_workspace(tmp_path / "ws").session() as session:
        boxes = session.scalar(select(func.count()).select_from(Box))
    assert len(truth.images) == 1000 and boxes == truth.counts["boxes"] > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--kind", "scenes", "--corrupt-rate", "0.1"],
            "--corrupt-rate has no effect with --kind scenes",
        ),
        (
            ["--max-objects", "2", "--missing-box-rate", "0"],
            "--max-objects, --missing-box-rate have",
        ),
    ],
)
def test_options_of_the_other_kind_are_refused_not_ignored(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["synthetic", "generate", str(tmp_path / "x"), *args])
    assert result.exit_code == 1 and message in result.stderr, result.output
    assert not (tmp_path / "x").exists()
