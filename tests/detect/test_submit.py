"""Detection and localization submissions: written here, parsed and scored by the challenge's
own code against an answer key of the same version, with the scores evaluation gives."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from synsetlab.challenge.answers import answer_key
from synsetlab.challenge.formats import MAX_DETECTIONS, parse_submission
from synsetlab.challenge.scoring import score_submission
from synsetlab.detect.evaluate import (
    DetectionEvaluationError,
    align_detections,
    evaluate_detections,
    ground_truth,
    split_images,
)
from synsetlab.detect.localization import (
    classifier_guesses,
    detector_guesses,
    localization_result,
)
from synsetlab.detect.records import ImageDetections
from synsetlab.detect.submit import (
    detection_submission,
    localization_submission,
    submission_format,
    write_text,
)
from synsetlab.manifest import Manifest
from tests.detect.scenes_version import load_manifest, make_scenes_workspace, noisy_detections

FORMATS = ("devkit", "kaggle", "json")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return load_manifest(make_scenes_workspace(tmp_path_factory.mktemp("scenes")))


def _as_test_split(manifest: Manifest) -> Manifest:
    """The val split hidden as a test split is: the scorer's view of a challenge."""
    entries = [
        replace(e, split="test", hidden=True) if e.split == "val" else e
        for e in manifest.entries
        if e.split != "test"
    ]
    return Manifest(classes=manifest.classes, entries=tuple(entries))


def _without_labels(manifest: Manifest) -> Manifest:
    """Every hidden entry's class and boxes erased: what a writer must do without."""
    entries = [replace(e, wnid="", boxes=()) if e.hidden else e for e in manifest.entries]
    return Manifest(classes=manifest.classes, entries=tuple(entries))


@pytest.mark.parametrize("fmt", FORMATS)
def test_detection_submission_scores_what_evaluation_gives(scenes: Manifest, fmt: str) -> None:
    truth = ground_truth(scenes, "val")
    detections = noisy_detections(truth, seed=1)
    evaluated = evaluate_detections(detections, truth)
    challenge = _as_test_split(scenes)
    key = answer_key(challenge, public_fraction=1.0, seed=0)
    images = split_images(challenge, "test")
    text = detection_submission(detections, images, scenes.classes, fmt=fmt)
    # The writer reads no label: erasing them changes nothing it writes.
    blind = split_images(_without_labels(challenge), "test")
    assert detection_submission(detections, blind, scenes.classes, fmt=fmt) == text
    parsed = parse_submission(text.encode(), key, task="detection")
    assert parsed.format == fmt
    score = score_submission(parsed, key, task="detection")["all"].mean_ap
    assert score.value == evaluated.det_map
    assert (score.low, score.high) == evaluated.det_map_interval
    assert 0 < score.value < 1


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("how", ["classifier", "detector"])
def test_localization_submission_scores_what_evaluation_gives(
    scenes: Manifest, fmt: str, how: str
) -> None:
    truth = ground_truth(scenes, "val")
    aligned = align_detections(noisy_detections(truth, seed=2, extra=6), truth)
    if how == "detector":
        guesses = detector_guesses(aligned, num_classes=3)
    else:
        rng = np.random.default_rng(0)
        top = np.array([rng.permutation(3) for _ in range(truth.n_images)])[:, :2]
        guesses = classifier_guesses(top, aligned, truth, num_classes=3)
    evaluated = localization_result(guesses, truth)
    challenge = _as_test_split(scenes)
    key = answer_key(challenge, public_fraction=1.0, seed=0)
    images = split_images(challenge, "test")
    text = localization_submission(guesses, images, scenes.classes, fmt=fmt)
    blind = split_images(_without_labels(challenge), "test")
    assert localization_submission(guesses, blind, scenes.classes, fmt=fmt) == text
    parsed = parse_submission(text.encode(), key, task="localization")
    assert parsed.format == fmt
    scores = score_submission(parsed, key, task="localization")["all"]
    assert scores.localization_error.value == evaluated.error
    assert scores.top5_error.value == evaluated.top5_error
    assert evaluated.images == truth.n_images


def test_images_without_detections_have_empty_rows(scenes: Manifest) -> None:
    images = split_images(scenes, "test")
    empty = [
        ImageDetections(i, np.empty((0, 4)), np.empty(0), np.empty(0, np.int64))
        for i in images.image_ids
    ]
    found = ImageDetections(images.image_ids[1], np.array([[1, 2, 3.5, 4]]), np.array([0.25]),
                            np.array([2]))  # fmt: skip
    dets = [found, *empty]
    kaggle = detection_submission(dets, images, scenes.classes, fmt="kaggle").splitlines()
    assert kaggle[0] == "ImageId,PredictionString" and len(kaggle) == 7
    assert kaggle[1] == f"{images.image_ids[0]},"
    assert kaggle[2] == f"{images.image_ids[1]},{scenes.classes[2]} 0.25 1 2 3.5 4"
    devkit = detection_submission(dets, images, scenes.classes, fmt="devkit")
    assert devkit == "2 3 0.25 1 2 3.5 4\n"
    guesses = detector_guesses(align_detections(dets, images), num_classes=3)
    devkit = localization_submission(guesses, images, scenes.classes, fmt="devkit")
    assert devkit.split("\n") == ["", "3 1 2 3.5 4", "", "", "", "", ""]


def test_formats_follow_the_suffix(tmp_path: Path) -> None:
    assert [submission_format(f"det{s}") for s in (".txt", ".CSV", ".json")] == [
        "devkit", "kaggle", "json",
    ]  # fmt: skip
    with pytest.raises(DetectionEvaluationError, match=r"\.txt \(devkit\), \.csv \(kaggle\)"):
        submission_format("det.xlsx")
    out = write_text("a\n", tmp_path / "det.txt")
    assert out.read_text() == "a\n"


def test_more_detections_than_a_submission_takes_are_refused(scenes: Manifest) -> None:
    images = split_images(scenes, "test")
    n = MAX_DETECTIONS + 1
    boxes = np.tile([1.0, 1.0, 5.0, 5.0], (n, 1))
    many = [ImageDetections(images.image_ids[0], boxes, np.ones(n), np.zeros(n, np.int64))]
    many += [
        ImageDetections(i, np.empty((0, 4)), np.empty(0), np.empty(0, np.int64))
        for i in images.image_ids[1:]
    ]
    with pytest.raises(DetectionEvaluationError, match=f"{n} detections, more than the 100"):
        detection_submission(many, images, scenes.classes, fmt="devkit")
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        detection_submission(many, images, scenes.classes, fmt="xml")
