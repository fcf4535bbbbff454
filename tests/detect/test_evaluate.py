"""Detector evaluation: ILSVRC DET mean AP and COCO mAP of hand-made detections, on a tiny
scenes version and on a small case worked out by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from synsetlab.detect.evaluate import (
    DetectionEvaluationError,
    GroundTruth,
    check_classes,
    detector_evaluation_dir,
    evaluate_detections,
    ground_truth,
    split_images,
    to_coco_xywh,
    write_detector_evaluation,
)
from synsetlab.detect.records import ImageDetections
from synsetlab.ingest.records import Box
from synsetlab.manifest import Manifest, ManifestEntry
from tests.detect.scenes_version import (
    load_manifest,
    make_scenes_workspace,
    noisy_detections,
    perfect_detections,
)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return load_manifest(make_scenes_workspace(tmp_path_factory.mktemp("scenes")))


@pytest.fixture(scope="module")
def truth(scenes: Manifest) -> GroundTruth:
    return ground_truth(scenes, "val")


# The scenes version -------------------------------------------------------------------------------


def test_ground_truth_holds_every_box_of_the_split(scenes: Manifest, truth: GroundTruth) -> None:
    entries = scenes.split("val")
    assert truth.image_ids == tuple(sorted(e.sha256 for e in entries))
    assert truth.classes == scenes.classes
    assert truth.n_objects == sum(len(e.boxes) for e in entries) > truth.n_images
    by_id = {e.sha256: e for e in entries}
    for image_id, objects, label, own, size in zip(
        truth.image_ids, truth.objects, truth.labels, truth.label_boxes, truth.sizes, strict=True
    ):
        e = by_id[image_id]
        assert scenes.classes[label] == e.wnid
        assert sorted(map(tuple, objects[:, 1:].tolist())) == sorted(
            (b.xmin, b.ymin, b.xmax, b.ymax) for b in e.boxes
        )
        assert len(own) == sum(b.wnid == e.wnid for b in e.boxes) > 0
        assert size.tolist() == [e.width, e.height]


def test_perfect_detections_score_one_on_both(truth: GroundTruth) -> None:
    result = evaluate_detections(perfect_detections(truth), truth)
    assert result.det_map == 1.0
    assert result.det_map_interval == (1.0, 1.0)
    assert result.coco.map == pytest.approx(1.0)
    assert result.coco.ap50 == pytest.approx(1.0) and result.coco.ap75 == pytest.approx(1.0)
    assert result.coco.ar100 == pytest.approx(1.0)
    assert all(c.det_ap == 1.0 and c.coco_ap == pytest.approx(1.0) for c in result.classes)
    assert result.n_detections == result.n_objects == truth.n_objects
    assert result.scored_classes == 3


def test_shifted_boxes_lower_coco_before_det(truth: GroundTruth) -> None:
    """A pixel off keeps every box over IoU 0.5 (DET is still perfect) but misses COCO's
    strict thresholds; a few more pixels cost DET too, and COCO stays lower."""
    one = evaluate_detections(perfect_detections(truth, shift=1.0), truth, interval=False)
    assert one.det_map == 1.0
    assert one.coco.ap50 == pytest.approx(1.0)
    assert one.coco.map < one.coco.ap50 and one.coco.ap75 < 1.0
    four = evaluate_detections(perfect_detections(truth, shift=4.0), truth, interval=False)
    assert four.det_map < 1.0
    assert four.coco.map < one.coco.map
    assert four.coco.map < four.det_map
    assert four.det_map_interval is None


def test_noisy_detections_get_a_mean_inside_its_interval(truth: GroundTruth) -> None:
    result = evaluate_detections(noisy_detections(truth), truth)
    assert 0.0 < result.coco.map < result.coco.ap50 <= 1.0
    assert 0.0 < result.det_map < 1.0
    low, high = result.det_map_interval
    assert low <= result.det_map <= high and low < high
    det_aps = [c.det_ap for c in result.classes]
    assert result.det_map == pytest.approx(np.mean(det_aps))
    assert result.coco.map == pytest.approx(np.mean([c.coco_ap for c in result.classes]))
    worst = result.worst(2)
    assert [c.det_ap for c in worst] == sorted(det_aps)[:2]


def test_copies_in_the_detections_count_once(truth: GroundTruth) -> None:
    detections = perfect_detections(truth)
    twice = detections + [
        ImageDetections(d.sha256, d.boxes[:0], d.scores[:0], d.labels[:0]) for d in detections
    ]
    assert evaluate_detections(twice, truth, interval=False).det_map == 1.0


# A case worked out by hand ------------------------------------------------------------------------

A, B, C = "n01440764", "n01443537", "n01484850"


def _entry(i: int, wnid: str, boxes: tuple[Box, ...], split: str = "val") -> ManifestEntry:
    return ManifestEntry(
        image_id=i, sha256=f"{i:064x}", wnid=wnid, split=split, hidden=split == "test",
        source="test", source_key=f"{split}/{i}", format="JPEG", width=100, height=80,
        boxes=boxes,
    )  # fmt: skip


@pytest.fixture
def small() -> GroundTruth:
    """Image 0: an A (20 x 20 px) and a B (30 x 30); image 1: an A; image 2: no box. Class C
    has no box anywhere."""
    entries = [
        _entry(0, A, (Box(A, 0, 0, 19, 19), Box(B, 30, 30, 59, 59))),
        _entry(1, A, (Box(A, 10, 10, 29, 29),)),
        _entry(2, B, ()),
        _entry(3, A, (Box(A, 1, 1, 5, 5),), split="train"),
    ]
    return ground_truth(Manifest(classes=(A, B, C), entries=tuple(entries)), "val")


def _hand_detections(small: GroundTruth, *, with_empty_image: bool = True) -> list[ImageDetections]:
    img0, img1, img2 = small.image_ids
    rows = {  # image: (class, score, box)
        img0: [(0, 0.9, (0, 0, 19, 19)), (0, 0.6, (0, 0, 19, 19)), (1, 0.5, (33, 33, 62, 62))],
        img1: [(0, 0.7, (10, 10, 29, 29)), (2, 0.4, (0, 0, 9, 9))],
        img2: [(0, 0.8, (0, 0, 19, 19))] if with_empty_image else [],
    }
    return [
        ImageDetections(
            sha256=image,
            boxes=np.array([r[2] for r in found], dtype=np.float64).reshape(-1, 4),
            scores=np.array([r[1] for r in found]),
            labels=np.array([r[0] for r in found], dtype=np.int64),
        )
        for image, found in rows.items()
    ]


def test_a_small_case_checked_by_hand(small: GroundTruth) -> None:
    """Class A ranks TP (0.9), FP on the image without boxes (0.8), TP (0.7), FP a second
    detection of a found object (0.6): DET AP = 1/2 x 1 + 1/2 x 2/3. COCO interpolates
    precision at 101 recall points: 51 at precision 1 and 50 at 2/3, at every IoU threshold
    (the boxes are exact). B's box is 3 px off: IoU 27²/(2 x 30² - 27²) = 0.68, a DET true
    positive, and for COCO at 4 of its 10 thresholds (0.50 to 0.65). C has no ground truth:
    out of both means, though detected."""
    result = evaluate_detections(_hand_detections(small), small, interval=False)
    a, b, c = result.classes
    assert a.det_ap == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert b.det_ap == 1.0
    assert np.isnan(c.det_ap) and np.isnan(c.coco_ap) and (c.objects, c.detections) == (0, 1)
    assert result.det_map == pytest.approx((5 / 6 + 1) / 2)
    coco_a = (51 + 50 * 2 / 3) / 101
    assert a.coco_ap == pytest.approx(coco_a) and a.coco_ap50 == pytest.approx(coco_a)
    assert b.coco_ap == pytest.approx(0.4) and b.coco_ap50 == pytest.approx(1.0)
    assert result.coco.map == pytest.approx((coco_a + 0.4) / 2)
    assert result.coco.ap50 == pytest.approx((coco_a + 1) / 2)
    assert result.coco.ap75 == pytest.approx(coco_a / 2)
    assert result.coco.ap_small == pytest.approx(result.coco.map)  # 400 and 900 px² < 32²
    assert result.coco.ap_medium is None and result.coco.ap_large is None
    assert result.scored_classes == 2
    assert (result.n_images, result.n_objects, result.n_detections) == (3, 3, 6)


def test_the_image_without_boxes_counts_its_false_positives(small: GroundTruth) -> None:
    without = evaluate_detections(
        _hand_detections(small, with_empty_image=False), small, interval=False
    )
    assert without.classes[0].det_ap == 1.0  # TP, TP, then the repeat: precision 1 at both
    assert without.det_map == 1.0


def test_no_detections_at_all_score_zero(small: GroundTruth) -> None:
    empty = [
        ImageDetections(i, np.empty((0, 4)), np.empty(0), np.empty(0, np.int64))
        for i in small.image_ids
    ]
    result = evaluate_detections(empty, small)
    assert result.det_map == 0.0 and result.coco.map == 0.0 and result.coco.ap50 == 0.0
    assert result.coco.ap_medium is None
    assert [c.coco_ap for c in result.classes[:2]] == [0.0, 0.0]
    assert np.isnan(result.classes[2].coco_ap)


def test_coco_boxes_count_inclusive_pixels() -> None:
    boxes = np.array([[0, 0, 9, 9], [5.5, 2, 10, 4]])
    assert to_coco_xywh(boxes).tolist() == [[0, 0, 10, 10], [5.5, 2, 5.5, 3]]
    assert to_coco_xywh(boxes[0]).tolist() == [0, 0, 10, 10]


# Bad input ----------------------------------------------------------------------------------------


def test_hidden_and_empty_splits_are_refused(scenes: Manifest) -> None:
    with pytest.raises(DetectionEvaluationError, match="'test' split's labels are hidden"):
        ground_truth(scenes, "test")
    with pytest.raises(DetectionEvaluationError, match=r"no images \(splits: train, val, test\)"):
        ground_truth(scenes, "holdout")
    images = split_images(scenes, "test")  # no label is read: fine for the hidden split
    assert images.n_images == 6 and images.sizes.tolist() == [[64, 48]] * 6


def test_a_split_without_objects_is_refused() -> None:
    manifest = Manifest(classes=(A, B), entries=(_entry(0, A, ()), _entry(1, B, ())))
    truth = ground_truth(manifest, "val")
    none = [ImageDetections(i, np.empty((0, 4)), np.empty(0), np.empty(0)) for i in truth.image_ids]
    with pytest.raises(DetectionEvaluationError, match="draw boxes"):
        evaluate_detections(none, truth)


def test_detections_that_do_not_fit_the_split_are_refused(small: GroundTruth) -> None:
    good = _hand_detections(small)
    stranger = ImageDetections("f" * 64, np.empty((0, 4)), np.empty(0), np.empty(0, np.int64))
    with pytest.raises(DetectionEvaluationError, match="not in the split"):
        evaluate_detections([*good, stranger], small)
    with pytest.raises(DetectionEvaluationError, match="1 of 3 images have no detections"):
        evaluate_detections(good[:2], small)
    d = good[0]
    flipped = ImageDetections(d.sha256, d.boxes[:, [2, 1, 0, 3]], d.scores, d.labels)
    with pytest.raises(DetectionEvaluationError, match="xmax < xmin"):
        evaluate_detections([flipped, *good[1:]], small)
    unknown = ImageDetections(d.sha256, d.boxes, d.scores, d.labels + 3)
    with pytest.raises(DetectionEvaluationError, match=r"has class 3, not one of 0\.\.2"):
        evaluate_detections([unknown, *good[1:]], small)
    short = ImageDetections(d.sha256, d.boxes, d.scores[:1], d.labels)
    with pytest.raises(DetectionEvaluationError, match="3 boxes, 1 scores and 3 labels"):
        evaluate_detections([short, *good[1:]], small)
    nan = ImageDetections(d.sha256, d.boxes, d.scores * np.nan, d.labels)
    with pytest.raises(DetectionEvaluationError, match="not finite"):
        evaluate_detections([nan, *good[1:]], small)


def test_a_detector_of_other_classes_is_refused(scenes: Manifest) -> None:
    check_classes(scenes.classes, scenes)
    with pytest.raises(DetectionEvaluationError, match=r"predicts 2 classes .* has 3 \(2 shared\)"):
        check_classes(scenes.classes[:2], scenes)


# Files --------------------------------------------------------------------------------------------


def test_evaluation_files_beside_the_checkpoint(small: GroundTruth, tmp_path: Path) -> None:
    result = evaluate_detections(_hand_detections(small), small)
    out = detector_evaluation_dir(tmp_path / "run" / "best.pt", "v1", "val")
    assert out == tmp_path / "run" / "eval-v1-val"
    written = write_detector_evaluation(
        result, out, split="val", extra={"version": "v1"}, names=["tench", "goldfish", "shark"]
    )
    assert [p.name for p in written] == ["metrics.json", "per_class.csv", "per_class_ap.png"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "detection" and metrics["split"] == "val"
    assert metrics["version"] == "v1" and metrics["images"] == 3
    assert metrics["det"]["map"] == pytest.approx(result.det_map)
    assert metrics["det"]["low"] <= metrics["det"]["map"] <= metrics["det"]["high"]
    assert metrics["coco"]["map"] == pytest.approx(result.coco.map)
    assert metrics["coco"]["ap_medium"] is None
    assert metrics["per_class"][2] == {
        "wnid": C, "objects": 0, "detections": 1, "det_ap": None, "coco_ap": None,
        "coco_ap50": None,
    }  # fmt: skip
    with (out / "per_class.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["wnid", "name", "objects", "detections", "det_ap", "coco_ap", "coco_ap50"]
    assert rows[1][:4] == [A, "tench", "2", "4"] and float(rows[1][4]) == pytest.approx(5 / 6)
    assert rows[3] == [C, "shark", "0", "1", "", "", ""]
    assert (out / "per_class_ap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
