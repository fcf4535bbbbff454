"""``synsetlab evaluate-detector`` and ``synsetlab submission --task detection|localization``
on a real tiny detector and classifier trained on a tiny scenes version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.challenge.answers import answer_key
from synsetlab.challenge.formats import parse_submission
from synsetlab.challenge.scoring import score_submission
from synsetlab.cli.app import app
from synsetlab.detect import resolve_detector_config, train_detector
from synsetlab.detect.evaluate import evaluate_detections, ground_truth
from synsetlab.detect.predict import load_detector, predict_split
from synsetlab.versions import load_version
from synsetlab.workspace import open_workspace
from tests.detect.scenes_version import load_manifest, make_scenes_workspace

runner = CliRunner(env={"COLUMNS": "200"})
#: The tiny-det-cpu recipe at a quarter of its width and 64 px: a second to train on CPU.
TINY_DETECTOR = {
    "epochs": 1, "batch_size": 4, "min_size": 64, "max_size": 64, "amp": False,
    "device": "cpu", "fpn_channels": 16, "box_head_size": 32,
    "backbone_kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8},
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A scenes workspace, a detector trained on it, and a classifier: (ws, det, cls)."""
    root = tmp_path_factory.mktemp("cli")
    ws_root = make_scenes_workspace(root)
    ws = open_workspace(ws_root)
    try:
        v = load_version(ws, "v1")
        config = resolve_detector_config("tiny-det-cpu", TINY_DETECTOR)
        train_detector(v.manifest, ws.blobs, config, root / "det", version_id=v.id)
    finally:
        ws.close()
    args = ["-w", str(ws_root), "train", "v1", "--recipe", "tiny-cpu", "--epochs", "1",
            "--batch-size", "4", "--set", "data.image_size=32", "--set",
            'model_kwargs={"channels": [8, 16, 32, 64], "stem_width": 8}',
            "--out", str(root / "cls"), "--device", "cpu"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return ws_root, root / "det" / "best.pt", root / "cls" / "best.pt"


def _run(ws: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["-w", str(ws), *args])
    return result.exit_code, result.stdout, result.stderr


def test_help_shows_the_example() -> None:
    result = runner.invoke(app, ["evaluate-detector", "--help"])
    assert result.exit_code == 0
    assert "Example: synsetlab evaluate-detector runs/det/best.pt v1 --split val" in result.stdout
    help_text = runner.invoke(app, ["submission", "--help"]).stdout
    assert "--task localization --detector" in help_text and "--task detection" in help_text


def test_evaluate_detector_writes_what_the_library_computes(
    trained: tuple[Path, Path, Path],
) -> None:
    ws, det, _ = trained
    code, out, err = _run(ws, "evaluate-detector", str(det), "v1", "--split", "val")
    assert code == 0, out + err
    for row in ("ILSVRC DET mean AP", "COCO mAP@[.5:.95]", "COCO AP50", "COCO AP75"):
        assert row in out
    assert "classes by DET AP" in out and "circle n13873502" in out
    folder = det.parent / "eval-v1-val"
    assert sorted(p.name for p in folder.iterdir()) == [
        "metrics.json", "per_class.csv", "per_class_ap.png",
    ]  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["version"] == "v1" and metrics["checkpoint"] == str(det)
    manifest = load_manifest(ws)
    truth = ground_truth(manifest, "val")
    workspace = open_workspace(ws)
    try:
        detections = predict_split(load_detector(det), manifest, workspace.blobs, split="val")
    finally:
        workspace.close()
    expected = evaluate_detections(detections, truth)
    assert metrics["det"]["map"] == pytest.approx(expected.det_map)
    assert metrics["coco"]["map"] == pytest.approx(expected.coco.map)
    assert metrics["images"] == truth.n_images == 6


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".json"])
def test_detection_submission_scores_as_evaluation(
    trained: tuple[Path, Path, Path], tmp_path: Path, suffix: str
) -> None:
    ws, det, _ = trained
    out = tmp_path / f"det{suffix}"
    code, stdout, err = _run(ws, "submission", str(det), "v1", str(out), "--task", "detection",
                             "--split", "val")  # fmt: skip
    assert code == 0, stdout + err
    assert f"wrote 6 detection predictions for v1/val to {out}" in stdout
    manifest = load_manifest(ws)
    key = answer_key(manifest, public_fraction=1.0, seed=0, split="val")
    parsed = parse_submission(out.read_bytes(), key, task="detection")
    score = score_submission(parsed, key, task="detection")["all"].mean_ap.value
    if not (det.parent / "eval-v1-val" / "metrics.json").is_file():
        assert _run(ws, "evaluate-detector", str(det), "v1")[0] == 0
    metrics = json.loads((det.parent / "eval-v1-val" / "metrics.json").read_text())
    assert score == pytest.approx(metrics["det"]["map"])


@pytest.mark.parametrize("with_classifier", [True, False])
def test_localization_submission_of_the_hidden_test_split(
    trained: tuple[Path, Path, Path], tmp_path: Path, with_classifier: bool
) -> None:
    ws, det, cls = trained
    out = tmp_path / "loc.csv"
    first = [str(cls), "v1", str(out), "--task", "localization", "--detector", str(det)]
    if not with_classifier:
        first = [str(det), "v1", str(out), "--task", "localization"]
    code, stdout, err = _run(ws, "submission", *first)
    assert code == 0, stdout + err
    assert "wrote 6 localization predictions for v1/test" in stdout
    key = answer_key(load_manifest(ws), public_fraction=1.0, seed=0)
    parsed = parse_submission(out.read_bytes(), key, task="localization")
    scores = score_submission(parsed, key, task="localization")["all"]
    assert 0.0 <= scores.localization_error.value <= 1.0
    if with_classifier:  # five guesses an image from the 3-class classifier: all classes
        assert scores.top5_error.value == 0.0
        assert (parsed.labels[:, :3] >= 0).all()


def test_classification_submission_is_unchanged(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    ws, _, cls = trained
    out = tmp_path / "sub.csv"
    code, stdout, err = _run(ws, "submission", str(cls), "v1", str(out))
    assert code == 0, stdout + err
    assert f"wrote 6 predictions for v1/test to {out}" in stdout
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,PredictionString" and len(lines) == 7
    key = answer_key(load_manifest(ws), public_fraction=1.0, seed=0)
    parse_submission(out.read_bytes(), key, task="classification")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{det}", "v1", "{out}"], "is a detector: give --task detection"),
        (["{cls}", "v1", "{out}", "--task", "detection"], "is a classifier: --task detection"),
        (["{cls}", "v1", "{out}", "--task", "localization"], "needs boxes from --detector"),
        (["{det}", "v1", "{out}", "--task", "localization", "--detector", "{det}"],
         "is already a detector"),
        (["{cls}", "v1", "{out}", "--task", "localization", "--detector", "{cls}"],
         "is not a detector checkpoint"),
        (["{cls}", "v1", "{out}", "--detector", "{det}"], "--detector is for --task localization"),
        (["{det}", "v1", "{out}", "--task", "boxes"], "unknown --task 'boxes'"),
        (["{det}", "v1", "{stem}.xlsx", "--task", "detection"], "cannot tell the submission"),
    ],
)  # fmt: skip
def test_submission_refuses_the_wrong_checkpoint_or_task(
    trained: tuple[Path, Path, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    ws, det, cls = trained
    out = tmp_path / "sub.csv"
    values = {"det": str(det), "cls": str(cls), "out": str(out), "stem": str(tmp_path / "sub")}
    code, stdout, err = _run(ws, "submission", *(a.format(**values) for a in args))
    assert code == 1, stdout + err
    assert message in err
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["evaluate", "{det}", "v1"], "not a classifier: resume it with `synsetlab train-det"),
        (["predict", "{det}", "{scenes}"], "evaluate it with `synsetlab evaluate-detector`"),
        (["train", "v1", "--resume", "{det}"], "is a detector from `synsetlab train-detector`"),
        (["finetune", "v1", "--from", "{det}"], "is a detector from `synsetlab train-detector`"),
        (["train", "v1", "--pretrained", "{det}", "--batch-size", "2"], "is a detector from"),
        (["train-detector", "v1", "--resume", "{cls}"], "is a classifier checkpoint, not a det"),
        (["evaluate-detector", "{cls}", "v1"], "is a classifier checkpoint, not a detector"),
        (["evaluate-detector", "{det}", "v1", "--split", "test"], "labels are hidden"),
        (["evaluate-detector", "{det}", "v1", "--split", "holdout"], "has no images"),
        (["evaluate-detector", "{det}", "v9"], "no version 'v9'"),
        (["evaluate-detector", "{scenes}/nothing.pt", "v1"], "does not exist"),
    ],
)
def test_classifier_and_detector_commands_refuse_each_other(
    trained: tuple[Path, Path, Path], command: list[str], message: str
) -> None:
    ws, det, cls = trained
    values = {"det": str(det), "cls": str(cls), "scenes": str(ws.parent / "scenes")}
    before = sorted(det.parent.iterdir()) + sorted(cls.parent.iterdir())
    code, stdout, err = _run(ws, *(a.format(**values) for a in command))
    assert code == 1, stdout + err
    assert message in err
    assert sorted(det.parent.iterdir()) + sorted(cls.parent.iterdir()) == before
