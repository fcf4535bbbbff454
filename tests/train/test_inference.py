"""Using a checkpoint: evaluation, prediction on files, submissions, and what is refused."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.cli.app import app
from synsetlab.manifest import Manifest
from synsetlab.taxonomy import Taxonomy
from synsetlab.train import CheckpointError, resolve_config, train
from synsetlab.train.inference import (
    display_names,
    evaluate_split,
    image_files,
    predict_files,
    predict_split,
    write_predictions,
    write_submission,
)
from synsetlab.train.weights import load_model
from tests.tiny_version import CLASSES, SMALL, TinyVersion, picture


@pytest.fixture(scope="module")
def checkpoint(tiny: TinyVersion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inference") / "run"
    config = resolve_config("tiny-cpu", {**SMALL, "epochs": 2, "batch_size": 12})
    train(tiny.manifest, tiny.blobs, config, out, version_id=tiny.version_id)
    return out / "best.pt"


def test_evaluation_scores_val_and_refuses_other_classes_and_hidden_labels(
    tiny: TinyVersion, checkpoint: Path, tmp_path: Path
) -> None:
    loaded = load_model(checkpoint)
    report = evaluate_split(loaded, tiny.manifest, tiny.blobs, "val", out_dir=tmp_path / "e")
    assert report.n_images == 12 and 0 <= report.top1_error <= 1
    assert {p.name for p in (tmp_path / "e").iterdir()} == {
        "metrics.json", "confusion.png", "reliability.png",
    }  # fmt: skip
    with pytest.raises(ValueError, match="'test' split's labels are hidden"):
        evaluate_split(loaded, tiny.manifest, tiny.blobs, "test")
    other = Manifest(
        classes=(*CLASSES[:2], "n01491361"),
        entries=tuple(dataclasses.replace(e, wnid="n01491361") if e.wnid == CLASSES[2] else e
                      for e in tiny.manifest.entries),
    )  # fmt: skip
    with pytest.raises(
        CheckpointError, match=r"predicts 3 classes and the version has 3 \(2 shared\)"
    ):
        evaluate_split(loaded, other, tiny.blobs, "val")


def test_plots_name_classes_by_lemma_and_wnid_where_the_taxonomy_knows_them() -> None:
    taxonomy = Taxonomy.wordnet()
    assert display_names([*CLASSES[:2], "x0000001"], taxonomy) == [
        "tench n01440764", "goldfish n01443537", "x0000001",
    ]  # fmt: skip
    assert display_names(CLASSES, None) == list(CLASSES)


def test_flip_tta_averages_an_image_and_its_mirror(tiny: TinyVersion, checkpoint: Path) -> None:
    loaded = load_model(checkpoint)
    _, plain = predict_split(loaded, tiny.manifest, tiny.blobs, "val")
    _, flipped = predict_split(loaded, tiny.manifest, tiny.blobs, "val", tta_flip=True)
    assert plain.probs.shape == flipped.probs.shape == (12, 3)
    assert abs(flipped.probs.sum(axis=1) - 1).max() < 1e-5
    assert (plain.probs != flipped.probs).any()


def test_predict_files_names_classes_and_skips_undecodable_files(
    checkpoint: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(picture(0, seed=1))
    (folder / "sub" / "b.JPG").write_bytes(picture(2, seed=2))
    (folder / "broken.jpg").write_bytes(b"not a picture")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    paths = image_files([folder])
    assert [p.name for p in paths] == ["a.jpg", "broken.jpg", "b.JPG"]
    predictions = predict_files(load_model(checkpoint), paths, taxonomy=Taxonomy.wordnet(), topk=2)
    assert [len(p.top) for p in predictions] == [2, 0, 2]
    wnid, lemma, probability = predictions[0].top[0]
    assert wnid in CLASSES and lemma in ("tench", "goldfish", "great white shark")
    assert 0 < probability <= 1
    for fmt in ("csv", "json", "kaggle"):  # the undecodable file is left out of every format
        assert "broken" not in write_predictions(predictions, fmt)
    assert len(json.loads(write_predictions(predictions, "json"))) == 2
    with pytest.raises(ValueError, match="none of the 1 file"):
        predict_files(load_model(checkpoint), [folder / "broken.jpg"], taxonomy=Taxonomy.wordnet())
    with pytest.raises(FileNotFoundError, match="missing does not exist"):
        image_files([tmp_path / "missing"])
    with pytest.raises(ValueError, match="--topk 0: give at least 1"):
        predict_files(load_model(checkpoint), paths, taxonomy=Taxonomy.wordnet(), topk=0)


def test_predictions_as_a_kaggle_submission_and_an_unknown_format(
    checkpoint: Path, tmp_path: Path
) -> None:
    for i, name in enumerate(["b7.jpg", "a3.jpg"]):
        (tmp_path / name).write_bytes(picture(i, seed=i))
    paths = image_files([tmp_path])
    predictions = predict_files(load_model(checkpoint), paths, taxonomy=Taxonomy.wordnet(), topk=3)
    rows = list(csv.reader(write_predictions(predictions, "kaggle").splitlines()))
    assert rows[0] == ["ImageId", "PredictionString"]
    assert [r[0] for r in rows[1:]] == ["a3", "b7"]  # file stems, sorted
    by_name = {Path(p.path).stem: [w for w, _, _ in p.top] for p in predictions}
    assert all(r[1].split() == by_name[r[0]] for r in rows[1:])
    with pytest.raises(ValueError, match="unknown format 'xml': csv, json, kaggle"):
        write_predictions(predictions, "xml")
    # The command refuses it before loading the checkpoint (here: a file that is none; a
    # missing one is refused even earlier).
    (tmp_path / "none.pt").write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(
        app, ["predict", str(tmp_path / "none.pt"), str(tmp_path), "--format", "xml"]
    )
    assert result.exit_code != 0 and "unknown format 'xml': csv, json, kaggle" in result.output


def test_a_submission_lists_every_test_image_once(
    tiny: TinyVersion, checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sub.csv"
    assert write_submission(load_model(checkpoint), tiny.manifest, tiny.blobs, out) == 6
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["ImageId", "PredictionString"]
    assert {r[0] for r in rows[1:]} == {e.sha256 for e in tiny.manifest.split("test")}
    assert all(sorted(r[1].split()) == sorted(CLASSES) for r in rows[1:])  # top-3 of 3


def test_option_mistakes_are_user_errors_naming_the_way_out() -> None:
    # The CLI prints a UserError as one line; a bare ValueError would be a bug's traceback.
    from synsetlab.errors import UserError
    from synsetlab.train.distributed import DeviceError, resolve_device
    from synsetlab.train.inference import EvaluationError
    from synsetlab.train.robustness import check_corruption, check_epsilon, check_severity

    with pytest.raises(DeviceError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    with pytest.raises(EvaluationError, match="known:"):
        check_corruption("spin")
    with pytest.raises(EvaluationError, match="1, 2, 3, 4, 5"):
        check_severity(7)
    with pytest.raises(EvaluationError, match="finite number"):
        check_epsilon(-1.0)
    assert issubclass(DeviceError, UserError) and issubclass(EvaluationError, UserError)
