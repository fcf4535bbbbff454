"""Scoring against scikit-learn, a loop over the ILSVRC definition and a hand-computed example."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from sklearn.metrics import top_k_accuracy_score

from synsetlab.challenge import (
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    PRIMARY_METRIC,
    AnswerKey,
    MetricValue,
    PartitionScore,
    Predictions,
    parse_submission,
    score_submission,
)
from synsetlab.challenge.scoring import image_correct, partition_scores
from synsetlab.metrics import (
    bootstrap_interval,
    match_detections,
    mean_ap_interval,
    mean_average_precision,
    topk_predictions,
)
from tests.metrics.test_detection import random_problem, reference_ap

NAN4 = [np.nan] * 4


def make_key(labels, *, boxes=None, public=None, num_classes=None, objects=()) -> AnswerKey:
    labels = np.asarray(labels)
    n = len(labels)
    c = num_classes or int(labels.max()) + 1
    ids = tuple(sorted(hashlib.sha256(f"{i}".encode()).hexdigest() for i in range(n)))
    return AnswerKey(
        classes=tuple(f"n{i:08d}" for i in range(c)),
        image_ids=ids,
        labels=labels,
        boxes=tuple(boxes) if boxes is not None else tuple(np.empty((0, 4)) for _ in range(n)),
        public=np.ones(n, dtype=bool) if public is None else np.asarray(public),
        objects=objects,
    )


# A hand-computed example --------------------------------------------------------------------------

# Four images of classes 0..3 (boxes [1, 1, 10, 10]); images 0 and 1 public.
HAND_GUESSES = np.array(
    [
        [0, 1, 2, 3, 4],  # right at top-1, box right         -> top1, top5, loc correct
        [2, 1, -1, -1, -1],  # right at top-2, box too small  -> top5 only
        [5, 4, 3, 1, 2],  # right at top-5, box right         -> top5 and loc
        [0, 1, 2, -1, -1],  # never right                     -> all wrong
    ]
)
GOOD, SMALL = [1, 1, 10, 10], [1, 1, 4, 4]  # IoU 16/100 for SMALL


@pytest.fixture
def hand() -> tuple[AnswerKey, Predictions]:
    key = make_key(
        [0, 1, 2, 3],
        boxes=[np.array([GOOD], dtype=float)] * 4,
        public=[True, True, False, False],
        num_classes=6,
    )
    boxes = np.full((4, 5, 4), np.nan)
    boxes[0, :] = GOOD
    boxes[1, :2] = SMALL
    boxes[2, :] = GOOD
    boxes[3, :3] = GOOD
    return key, Predictions(labels=HAND_GUESSES, boxes=boxes, format="kaggle")


def test_hand_example_classification(hand) -> None:
    key, predictions = hand
    scores = score_submission(predictions, key, task="classification")
    assert list(scores) == ["public", "private", "all"]
    assert scores["all"].n_images == 4
    assert scores["all"].top1_error.value == 0.75
    assert scores["all"].top5_error.value == 0.25
    assert scores["all"].localization_error is None
    assert scores["public"].top1_error.value == 0.5 and scores["public"].top5_error.value == 0.0
    assert scores["private"].top1_error.value == 1.0 and scores["private"].top5_error.value == 0.5
    assert scores["all"].primary is scores["all"].top5_error


def test_hand_example_localization(hand) -> None:
    key, predictions = hand
    scores = score_submission(predictions, key, task="localization")
    assert scores["all"].localization_error.value == 0.5  # images 0 and 2
    assert scores["public"].localization_error.value == 0.5  # image 1's box is too small
    assert scores["private"].localization_error.value == 0.5
    assert scores["all"].primary is scores["all"].localization_error
    assert PRIMARY_METRIC == {
        "classification": "top5_error",
        "localization": "localization_error",
        "detection": "mean_ap",
    }


def test_intervals_are_the_bootstrap_of_each_partition(hand) -> None:
    key, predictions = hand
    scores = score_submission(predictions, key, task="classification")
    top5_private = np.array([True, False])  # images 2 and 3
    low, high = bootstrap_interval(top5_private)
    assert scores["private"].top5_error == MetricValue(value=0.5, low=low, high=high)


def test_no_private_board_when_everything_is_public() -> None:
    key = make_key([0, 1, 2])
    predictions = Predictions(labels=np.array([[0, -1, -1, -1, -1]] * 3), boxes=None, format="json")
    scores = score_submission(predictions, key, task="classification")
    assert list(scores) == ["public", "all"]
    assert scores["public"] == scores["all"]
    assert scores["all"].top1_error.value == pytest.approx(2 / 3)


# Against scikit-learn and a loop ------------------------------------------------------------------


def test_topk_errors_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    n, c = 5000, 50
    scores = rng.random((n, c))
    labels = rng.integers(0, c, n)
    scores[np.arange(n), labels] += rng.random(n) * 0.3  # better than chance
    key = make_key(labels, num_classes=c, public=rng.random(n) < 0.5)
    guesses = topk_predictions(scores, 5)
    result = score_submission(Predictions(guesses, None, "kaggle"), key, task="classification")
    everything = range(c)
    for name, mask in (("all", np.ones(n, bool)), ("public", key.public), ("private", ~key.public)):
        for k, metric in ((1, "top1_error"), (5, "top5_error")):
            accuracy = top_k_accuracy_score(labels[mask], scores[mask], k=k, labels=everything)
            assert getattr(result[name], metric).value == pytest.approx(1 - accuracy)
        assert result[name].n_images == mask.sum()


def test_localization_matches_a_loop_over_the_ilsvrc_definition() -> None:
    rng = np.random.default_rng(1)
    n, c = 2000, 10
    labels = rng.integers(0, c, n)
    gt = []
    for count in rng.integers(1, 4, n):
        xy = rng.integers(1, 300, (count, 2)).astype(float)
        gt.append(np.concatenate([xy, xy + rng.integers(10, 200, (count, 2))], axis=1))
    guesses = np.stack([rng.permutation(c)[:5] for _ in range(n)])
    fewer = rng.random(n) < 0.2
    guesses[fewer, 3:] = -1
    boxes = np.empty((n, 5, 4))
    for i in range(n):
        boxes[i] = gt[i][rng.integers(0, len(gt[i]))] + rng.normal(0, 20, (5, 4))
    boxes[..., 2:] = np.maximum(boxes[..., 2:], boxes[..., :2])
    boxes[guesses < 0] = np.nan
    key = make_key(labels, boxes=gt, num_classes=c, public=rng.random(n) < 0.3)
    result = score_submission(Predictions(guesses, boxes, "kaggle"), key, task="localization")

    def iou(a, b) -> float:  # the devkit's compute_overlap, inclusive pixels
        iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
        ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
        if iw <= 0 or ih <= 0:
            return 0.0
        area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
        area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
        return iw * ih / (area_a + area_b - iw * ih)

    correct = []
    for i in range(n):
        # error = min over guesses of max(wrong class, no gt box overlapping by 0.5)
        errors = [
            int(guesses[i, j] != labels[i] or max(iou(boxes[i, j], g) for g in gt[i]) < 0.5)
            for j in range(5)
            if guesses[i, j] >= 0
        ]
        correct.append(min(errors, default=1) == 0)
    correct = np.array(correct)
    assert 0.1 < correct.mean() < 0.9
    for name, mask in (("all", np.ones(n, bool)), ("public", key.public), ("private", ~key.public)):
        assert result[name].localization_error.value == pytest.approx(1 - correct[mask].mean())


# End to end and JSON ------------------------------------------------------------------------------


def test_parse_then_score_a_kaggle_file(hand) -> None:
    key, _ = hand
    rows = ["ImageId,PredictionString"]
    for image_id, guesses in zip(key.image_ids, HAND_GUESSES, strict=True):
        rows.append(f"{image_id}," + " ".join(key.classes[g] for g in guesses if g >= 0))
    data = ("\n".join(rows) + "\n").encode()
    predictions = parse_submission(data, key, task="classification")
    scores = score_submission(predictions, key, task="classification")
    assert (scores["all"].top1_error.value, scores["all"].top5_error.value) == (0.75, 0.25)


def test_partition_score_round_trips_through_json(hand) -> None:
    key, predictions = hand
    for task in ("classification", "localization"):
        for score in score_submission(predictions, key, task=task).values():
            data = json.loads(json.dumps(score.to_dict(), allow_nan=False))
            assert PartitionScore.from_dict(data) == score
            assert set(data) == {"n_images", "top1_error", "top5_error", "localization_error"}
            assert set(data["top5_error"]) == {"value", "low", "high"}
            value = score.primary
            assert value.low <= value.value <= value.high


def test_refusals(hand) -> None:
    key, predictions = hand
    with pytest.raises(ValueError, match="unknown task"):
        score_submission(predictions, key, task="segmentation")
    with pytest.raises(ValueError, match="localization needs predicted boxes"):
        score_submission(Predictions(predictions.labels, None, "kaggle"), key, task="localization")
    with pytest.raises(ValueError, match=r"predictions have shape \(3, 5\), not \(4, 5\)"):
        score_submission(
            Predictions(predictions.labels[:3], None, "kaggle"), key, task="classification"
        )
    no_boxes = make_key([0, 1, 2, 3], num_classes=6)
    with pytest.raises(ValueError, match="4 of 4 images have no ground-truth box"):
        score_submission(predictions, no_boxes, task="localization")


# Detection ----------------------------------------------------------------------------------------

# Image 0 (public): one object of class 0; image 1 (public): one of class 1;
# image 2 (private): one of class 0 and one of class 1; image 3 (private): none.
DET_OBJECTS = [
    np.array([[0, 1, 1, 100, 100]]),
    np.array([[1, 1, 1, 50, 50]]),
    np.array([[0, 1, 1, 100, 100], [1, 200, 200, 300, 300]]),
    np.empty((0, 5)),
]
DET_DETECTIONS = np.array(
    [
        [0, 0, 0.9, 1, 1, 100, 100],  # TP
        [1, 1, 0.4, 1, 1, 50, 50],  # TP
        [1, 0, 0.8, 1, 1, 50, 50],  # FP: no class-0 object in image 1
        [2, 0, 0.7, 1, 1, 100, 100],  # TP
        [2, 1, 0.95, 1, 1, 10, 10],  # FP
        [3, 1, 0.5, 1, 1, 10, 10],  # FP
    ]
)


@pytest.fixture
def det() -> tuple[AnswerKey, Predictions]:
    key = make_key(
        [0, 1, 0, 1], public=[True, True, False, False], num_classes=3, objects=DET_OBJECTS
    )
    labels = np.full((4, 5), -1)
    return key, Predictions(labels, None, "kaggle", detections=DET_DETECTIONS)


def test_hand_example_detection(det) -> None:
    key, predictions = det
    scores = score_submission(predictions, key, task="detection")
    assert list(scores) == ["public", "private", "all"]
    # public: class 0 ranks 0.9 TP, 0.8 FP -> AP 1; class 1: 0.4 TP -> AP 1.
    assert scores["public"].mean_ap.value == 1.0
    # private: class 0: 0.7 TP -> 1; class 1 (one object): 0.95 FP, 0.5 FP -> 0.
    assert scores["private"].mean_ap.value == 0.5
    # all: class 0 (two objects): 0.9 TP, 0.8 FP, 0.7 TP -> 1/2 + 1/2 * 2/3;
    # class 1 (two objects): 0.95 FP, 0.5 FP, 0.4 TP -> 1/2 * 1/3.
    assert scores["all"].mean_ap.value == pytest.approx((5 / 6 + 1 / 6) / 2)
    for score in scores.values():
        assert score.top1_error is None and score.top5_error is None
        assert score.localization_error is None
        assert score.primary is score.mean_ap
        assert score.mean_ap.low <= score.mean_ap.value <= score.mean_ap.high
    assert scores["all"].n_images == 4 and scores["private"].n_images == 2


def test_detection_names_and_direction() -> None:
    assert frozenset({"mean_ap"}) == HIGHER_IS_BETTER
    assert METRIC_NAMES["mean_ap"] == "mean AP"
    assert all(m not in HIGHER_IS_BETTER for m in ("top1_error", "top5_error"))


def test_detection_has_no_per_image_correctness_but_partitions_score(det) -> None:
    key, predictions = det
    assert image_correct(predictions, key, task="detection") == {}
    scores = partition_scores({}, key, predictions=predictions)
    assert scores == score_submission(predictions, key, task="detection")
    with pytest.raises(ValueError, match="detection needs predicted detections"):
        image_correct(Predictions(predictions.labels, None, "kaggle"), key, task="detection")


def test_detection_scores_match_the_metric_and_a_loop() -> None:
    rng = np.random.default_rng(3)
    c = 6
    detections, objects = random_problem(rng, 400, c)
    public = rng.random(400) < 0.5
    key = make_key(np.zeros(400, int), public=public, num_classes=c, objects=objects)
    predictions = Predictions(np.full((400, 5), -1), None, "json", detections=detections)
    scores = score_submission(predictions, key, task="detection")
    assert scores["all"].mean_ap.value == pytest.approx(
        mean_average_precision(detections, objects, num_classes=c), abs=1e-12
    )
    for name, mask in (("public", public), ("private", ~public)):
        rows = np.flatnonzero(mask)
        new = {int(i): k for k, i in enumerate(rows)}
        own = [[new[int(d[0])], *d[1:]] for d in detections.tolist() if mask[int(d[0])]]
        expected = np.nanmean(reference_ap(own, [objects[i] for i in rows], c))
        assert scores[name].mean_ap.value == pytest.approx(expected, abs=1e-12)
        matches = match_detections(detections, objects, num_classes=c).subset(mask)
        low, high = mean_ap_interval(matches, level=0.95, resamples=200, seed=0)
        assert (scores[name].mean_ap.low, scores[name].mean_ap.high) == (low, high)
    again = score_submission(predictions, key, task="detection")
    assert again == scores  # the bootstrap is seeded


def test_detection_score_round_trips_through_json(det) -> None:
    key, predictions = det
    for score in score_submission(predictions, key, task="detection").values():
        data = json.loads(json.dumps(score.to_dict(), allow_nan=False))
        assert set(data) == {"n_images", "mean_ap"}
        assert set(data["mean_ap"]) == {"value", "low", "high"}
        assert PartitionScore.from_dict(data) == score


def test_parse_then_score_a_detection_file(det) -> None:
    key, _ = det
    rows = ["ImageId,PredictionString"]
    for i, image_id in enumerate(key.image_ids):
        groups = [
            f"{key.classes[int(d[1])]} {d[2]} {d[3]:g} {d[4]:g} {d[5]:g} {d[6]:g}"
            for d in DET_DETECTIONS
            if d[0] == i
        ]
        rows.append(f"{image_id},{' '.join(groups)}")
    data = ("\n".join(rows) + "\n").encode()
    predictions = parse_submission(data, key, task="detection")
    scores = score_submission(predictions, key, task="detection")
    assert scores["all"].mean_ap.value == pytest.approx(0.5)
    assert scores["public"].mean_ap.value == 1.0


def test_detection_refusals(det) -> None:
    key, predictions = det
    no_objects = make_key([0, 1, 0, 1], num_classes=3)
    with pytest.raises(ValueError, match="none of the 4 images has a ground-truth object"):
        score_submission(predictions, no_objects, task="detection")
    only_private = [np.empty((0, 5))] * 2 + DET_OBJECTS[2:]
    key = make_key(
        [0, 1, 0, 1], public=[True, True, False, False], num_classes=3, objects=only_private
    )
    with pytest.raises(ValueError, match="the public partition has no ground-truth object"):
        score_submission(predictions, key, task="detection")
    with pytest.raises(ValueError, match="this score holds no metric"):
        PartitionScore(n_images=3).primary  # noqa: B018
