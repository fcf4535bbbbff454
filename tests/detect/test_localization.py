"""Localization from a detector: a classifier's classes with the detector's best boxes, or the
detector alone, and the top-5 localization error."""

from __future__ import annotations

import numpy as np
import pytest

from synsetlab.detect.evaluate import (
    DetectionEvaluationError,
    GroundTruth,
    align_detections,
    ground_truth,
)
from synsetlab.detect.localization import (
    best_boxes,
    classifier_guesses,
    detector_guesses,
    localization_result,
    whole_image_boxes,
)
from synsetlab.detect.records import ImageDetections
from synsetlab.ingest.records import Box
from synsetlab.manifest import Manifest, ManifestEntry
from tests.detect.scenes_version import load_manifest, make_scenes_workspace, perfect_detections

A, B, C = "n01440764", "n01443537", "n01484850"


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> GroundTruth:
    return ground_truth(load_manifest(make_scenes_workspace(tmp_path_factory.mktemp("s"))), "val")


def _entry(i: int, wnid: str, boxes: tuple[Box, ...]) -> ManifestEntry:
    return ManifestEntry(
        image_id=i, sha256=f"{i:064x}", wnid=wnid, split="val", hidden=False, source="test",
        source_key=f"val/{i}", format="JPEG", width=100, height=80, boxes=boxes,
    )  # fmt: skip


@pytest.fixture
def small() -> GroundTruth:
    """Image 0 (an A): an A box and a B box. Image 1 (a B): one B box filling the frame.
    Image 2 (a C): no box at all."""
    entries = [
        _entry(0, A, (Box(A, 10, 10, 40, 40), Box(B, 50, 20, 90, 70))),
        _entry(1, B, (Box(B, 0, 0, 99, 79),)),
        _entry(2, C, ()),
    ]
    return ground_truth(Manifest(classes=(A, B, C), entries=tuple(entries)), "val")


def _dets(image_id: str, rows: list[tuple[int, float, tuple[float, ...]]]) -> ImageDetections:
    return ImageDetections(
        sha256=image_id,
        boxes=np.array([r[2] for r in rows], dtype=np.float64).reshape(-1, 4),
        scores=np.array([r[1] for r in rows], dtype=np.float64),
        labels=np.array([r[0] for r in rows], dtype=np.int64),
    )


def _small_detections(small: GroundTruth) -> list[ImageDetections]:
    img0, img1, img2 = small.image_ids
    return [
        _dets(
            img0,
            [
                (0, 0.3, (0, 0, 5, 5)),
                (0, 0.8, (11, 11, 40, 41)),
                (1, 0.9, (50, 20, 90, 70)),
                (0, 0.8, (60, 60, 70, 70)),
            ],
        ),
        _dets(img1, []),
        _dets(img2, [(2, 0.2, (1, 1, 50, 50))]),
    ]


def test_best_boxes_take_each_class_highest_score_first_listed_on_ties(
    small: GroundTruth,
) -> None:
    score, boxes = best_boxes(_small_detections(small), 3)
    assert score.tolist() == [[0.8, 0.9, -np.inf], [-np.inf] * 3, [-np.inf, -np.inf, 0.2]]
    assert boxes[0, 0].tolist() == [11, 11, 40, 41]  # of the two at 0.8, the first listed
    assert boxes[0, 1].tolist() == [50, 20, 90, 70]
    assert np.isnan(boxes[1]).all() and np.isnan(boxes[0, 2]).all()


def test_classifier_classes_get_the_detectors_boxes_or_the_whole_image(
    small: GroundTruth,
) -> None:
    top = np.array([[0, 1, 2], [1, 0, 2], [0, 2, 1]])
    guesses = classifier_guesses(top, _small_detections(small), small, num_classes=3)
    assert guesses.labels.tolist() == [[0, 1, 2, -1, -1], [1, 0, 2, -1, -1], [0, 2, 1, -1, -1]]
    whole = [0, 0, 99, 79]
    assert guesses.boxes[0, :3].tolist() == [[11, 11, 40, 41], [50, 20, 90, 70], whole]
    assert guesses.boxes[1, :3].tolist() == [whole] * 3  # the detector found nothing there
    assert guesses.boxes[2, 1].tolist() == [1, 1, 50, 50]
    assert np.isnan(guesses.boxes[:, 3:]).all()
    assert whole_image_boxes(small).tolist() == [whole] * 3


def test_localization_error_by_hand(small: GroundTruth) -> None:
    """Image 0's A guess overlaps its A box by IoU 30 x 31 / (31 x 31 + 30 x 32 - 30 x 31)
    > 0.5: right. Image 1's B guess is the whole image, which is its box: right. Image 2 has
    no box of its class and is left out."""
    top = np.array([[1, 0, 2], [1, 0, 2], [2, 0, 1]])
    guesses = classifier_guesses(top, _small_detections(small), small, num_classes=3)
    result = localization_result(guesses, small)
    assert (result.error, result.top5_error) == (0.0, 0.0)
    assert (result.images, result.images_without_boxes) == (2, 1)
    wrong_class = classifier_guesses(
        np.array([[1], [1], [2]]), _small_detections(small), small, num_classes=3
    )
    result = localization_result(wrong_class, small)
    assert (result.error, result.top5_error) == (0.5, 0.5)  # image 0 guesses B only
    assert result.to_dict() == {
        "localization_error": 0.5, "top5_error": 0.5, "images": 2, "images_without_boxes": 1,
    }  # fmt: skip


def test_detector_alone_ranks_classes_by_their_best_score(small: GroundTruth) -> None:
    guesses = detector_guesses(_small_detections(small), num_classes=3)
    assert guesses.labels.tolist() == [[1, 0, -1, -1, -1], [-1] * 5, [2, -1, -1, -1, -1]]
    assert guesses.boxes[0, :2].tolist() == [[50, 20, 90, 70], [11, 11, 40, 41]]
    assert np.isnan(guesses.boxes[0, 2:]).all() and np.isnan(guesses.boxes[1]).all()
    result = localization_result(guesses, small)
    assert result.error == 0.5  # image 0 localised; image 1 has no guess


def test_perfect_detector_localises_every_scene(truth: GroundTruth) -> None:
    aligned = align_detections(perfect_detections(truth), truth)
    alone = localization_result(detector_guesses(aligned, num_classes=3), truth)
    assert alone.error == 0.0 and alone.images == truth.n_images
    # A classifier that always puts the true class last of five still localises.
    others = np.array([[c for c in (0, 1, 2) if c != y] + [int(y)] for y in truth.labels])
    paired = classifier_guesses(others, aligned, truth, num_classes=3)
    assert localization_result(paired, truth).error == 0.0
    first_only = classifier_guesses(others[:, :1], aligned, truth, num_classes=3)
    assert localization_result(first_only, truth).error == 1.0


def test_bad_input_is_refused(small: GroundTruth) -> None:
    dets = _small_detections(small)
    with pytest.raises(ValueError, match="a row for each of the 3 images"):
        classifier_guesses(np.zeros((2, 5), np.int64), dets, small, num_classes=3)
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        classifier_guesses(np.full((3, 5), 3), dets, small, num_classes=3)
    with pytest.raises(DetectionEvaluationError, match=r"names class 2, not one of 0\.\.1"):
        detector_guesses(dets, num_classes=2)
    no_boxes = ground_truth(Manifest(classes=(A,), entries=(_entry(0, A, ()),)), "val")
    guesses = detector_guesses([_dets(no_boxes.image_ids[0], [])], num_classes=1)
    with pytest.raises(DetectionEvaluationError, match="none of the 1 images has a box"):
        localization_result(guesses, no_boxes)
