"""ILSVRC DET mean AP: a hand-computed example, a plain-Python eval_detection.m, the bootstrap."""

from __future__ import annotations

import time

import numpy as np
import pytest

from synsetlab.metrics import (
    average_precision,
    detection_thresholds,
    match_detections,
    mean_ap_interval,
    mean_average_precision,
)

EMPTY = np.empty((0, 5))


# The devkit, one detection at a time --------------------------------------------------------------


def reference_ap(detections, objects, num_classes: int) -> list[float]:
    """eval_detection.m and VOCap, written plainly."""

    def iou(a, b) -> float:
        iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
        ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
        if iw <= 0 or ih <= 0:
            return 0.0
        ua = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
        return iw * ih / (ua - iw * ih)

    aps = []
    for c in range(num_classes):
        gt = {i: [list(o[1:]) for o in image if int(o[0]) == c] for i, image in enumerate(objects)}
        npos = sum(len(g) for g in gt.values())
        dets = sorted((d for d in detections if int(d[1]) == c), key=lambda d: -d[2])
        taken = {i: [False] * len(g) for i, g in gt.items()}
        tp, fp = [], []
        for d in dets:
            i, box = int(d[0]), list(d[3:])
            best, kbest = -np.inf, -1
            for k, g in enumerate(gt[i]):
                if taken[i][k]:
                    continue
                w, h = g[2] - g[0] + 1, g[3] - g[1] + 1
                thr = min(0.5, w * h / ((w + 10) * (h + 10)))
                ov = iou(box, g)
                if ov >= thr and ov > best:
                    best, kbest = ov, k
            if kbest >= 0:
                taken[i][kbest] = True
            tp.append(int(kbest >= 0))
            fp.append(int(kbest < 0))
        if npos == 0:
            aps.append(float("nan"))
            continue
        ctp = np.cumsum(tp)
        cfp = np.cumsum(fp)
        rec = [t / npos for t in ctp]
        prec = [t / (t + f) for t, f in zip(ctp, cfp, strict=True)]
        mrec = [0.0, *rec, 1.0]
        mpre = [0.0, *prec, 0.0]
        for j in range(len(mpre) - 2, -1, -1):
            mpre[j] = max(mpre[j], mpre[j + 1])
        aps.append(
            sum(
                (mrec[j] - mrec[j - 1]) * mpre[j]
                for j in range(1, len(mrec))
                if mrec[j] != mrec[j - 1]
            )
        )
    return aps


def random_problem(rng: np.random.Generator, n: int, c: int, *, ties: bool = False):
    objects = []
    detections = []
    for i in range(n):
        k = int(rng.integers(0, 4))
        xy = rng.integers(1, 200, (k, 2)).astype(float)
        wh = rng.integers(2, 120, (k, 2)).astype(float)
        boxes = np.concatenate([xy, xy + wh], axis=1)
        classes = rng.integers(0, c, k)
        objects.append(np.column_stack([classes, boxes]) if k else EMPTY)
        for _ in range(int(rng.integers(0, 7))):
            if k and rng.random() < 0.7:  # near an object, often of its class
                j = int(rng.integers(0, k))
                box = boxes[j] + rng.normal(0, 8, 4)
                cls = classes[j] if rng.random() < 0.8 else rng.integers(0, c)
            else:
                x, y = rng.uniform(0, 200, 2)
                box = np.array([x, y, x + rng.uniform(1, 100), y + rng.uniform(1, 100)])
                cls = rng.integers(0, c)
            box[2:] = np.maximum(box[2:], box[:2])
            score = rng.integers(0, 5) / 4 if ties else rng.random()
            detections.append([i, cls, score, *box])
    return np.array(detections).reshape(-1, 7), objects


# A hand-computed example --------------------------------------------------------------------------

# Class 0: two objects (images 0 and 1); class 1: one object (image 1); class 2: none.
HAND_OBJECTS = [
    np.array([[0, 1, 1, 100, 100]]),
    np.array([[0, 1, 1, 50, 50], [1, 200, 200, 300, 300]]),
]
HAND_DETECTIONS = np.array(
    [
        [0, 0, 0.9, 1, 1, 100, 100],  # TP (first object of class 0)
        [0, 0, 0.8, 2, 2, 100, 100],  # FP: a second detection of a matched object
        [1, 0, 0.7, 300, 300, 400, 400],  # FP: overlaps nothing
        [1, 0, 0.6, 1, 1, 50, 50],  # TP
        [1, 1, 0.5, 200, 200, 300, 300],  # TP: the only object of class 1
        [0, 2, 0.4, 1, 1, 10, 10],  # FP of a class without objects: no AP
    ]
)


def test_hand_example() -> None:
    ap = average_precision(HAND_DETECTIONS, HAND_OBJECTS, num_classes=3)
    # class 0: precision 1, 1/2, 1/3, 2/4 at recall 1/2, 1/2, 1/2, 1; the envelope is 1 up to
    # recall 1/2 and 1/2 up to 1: AP = 1/2 * 1 + 1/2 * 1/2.
    assert ap[0] == pytest.approx(0.75)
    assert ap[1] == 1.0
    assert np.isnan(ap[2])
    assert mean_average_precision(HAND_DETECTIONS, HAND_OBJECTS, num_classes=3) == 0.875
    matches = match_detections(HAND_DETECTIONS, HAND_OBJECTS, num_classes=3)
    assert matches.tp.tolist() == [True, False, False, True, True, False]


def test_a_class_with_objects_and_no_detections_counts_zero() -> None:
    objects = [np.array([[0, 1, 1, 10, 10], [1, 5, 5, 50, 50]])]
    detections = np.array([[0, 0, 1.0, 1, 1, 10, 10]])
    ap = average_precision(detections, objects, num_classes=2)
    np.testing.assert_array_equal(ap, [1.0, 0.0])
    assert mean_average_precision(detections, objects, num_classes=2) == 0.5


def test_no_detections_at_all_and_no_objects_at_all() -> None:
    objects = [np.array([[0, 1, 1, 10, 10]]), EMPTY]
    assert mean_average_precision(np.empty((0, 7)), objects, num_classes=2) == 0.0
    assert np.isnan(mean_average_precision(np.empty((0, 7)), [EMPTY, EMPTY], num_classes=2))


def test_small_objects_get_a_looser_threshold() -> None:
    # A 10 x 10 object needs IoU 100 / 400 = 0.25; a 100 x 100 one needs 0.5.
    np.testing.assert_allclose(
        detection_thresholds([[1, 1, 10, 10], [1, 1, 100, 100], [1, 1, 1, 1]]),
        [0.25, 0.5, 1 / 121],
    )
    small = [np.array([[0, 1, 1, 10, 10]])]
    shifted = np.array([[0, 0, 1.0, 4, 1, 13, 10]])  # IoU 70 / 130 > 0.25 ... and
    half = np.array([[0, 0, 1.0, 1, 1, 10, 3]])  # IoU 30 / 100 >= 0.25
    quarter = np.array([[0, 0, 1.0, 1, 1, 10, 2]])  # IoU 20 / 100 < 0.25
    assert mean_average_precision(shifted, small, num_classes=1) == 1.0
    assert mean_average_precision(half, small, num_classes=1) == 1.0
    assert mean_average_precision(quarter, small, num_classes=1) == 0.0


def test_the_best_free_box_is_taken_and_ties_go_to_the_first() -> None:
    # Two identical objects: the first detection takes the first, the second the other.
    objects = [np.array([[0, 1, 1, 40, 40], [0, 1, 1, 40, 40], [0, 30, 30, 80, 80]])]
    detections = np.array([[0, 0, 0.9, 1, 1, 40, 40], [0, 0, 0.8, 1, 1, 40, 40]])
    matches = match_detections(detections, objects, num_classes=1)
    assert matches.tp.tolist() == [True, True]
    assert matches.average_precision()[0] == pytest.approx(2 / 3)
    # Each detection takes the free box it overlaps most, not the first one that is enough.
    objects = [np.array([[0, 1, 1, 40, 40], [0, 11, 1, 50, 40]])]
    detections = np.array([[0, 0, 0.9, 8, 1, 47, 40], [0, 0, 0.8, 1, 1, 40, 40]])
    tp = match_detections(detections, objects, num_classes=1).tp
    assert tp.tolist() == [True, True]
    detections = np.array([[0, 0, 0.9, 6, 1, 45, 40], [0, 0, 0.8, 14, 1, 53, 40]])
    assert reference_ap(detections, objects, 1)[0] == pytest.approx(
        average_precision(detections, objects, num_classes=1)[0]
    )


def test_ties_in_score_keep_the_row_order() -> None:
    objects = [np.array([[0, 1, 1, 40, 40]])]
    right, wrong = [0, 0, 0.5, 1, 1, 40, 40], [0, 0, 0.5, 100, 100, 140, 140]
    assert mean_average_precision(np.array([right, wrong]), objects, num_classes=1) == 1.0
    assert mean_average_precision(np.array([wrong, right]), objects, num_classes=1) == 0.5


# Against the plain-Python devkit ------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "ties"), [(0, False), (1, False), (2, True), (3, True)])
def test_matches_a_plain_python_eval_detection(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    c = 7
    detections, objects = random_problem(rng, 300, c, ties=ties)
    expected = reference_ap(detections.tolist(), objects, c)
    got = average_precision(detections, objects, num_classes=c)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert 0.1 < np.nanmean(got) < 0.95
    assert mean_average_precision(detections, objects, num_classes=c) == pytest.approx(
        np.nanmean(expected), abs=1e-12
    )


def test_rows_in_any_order_give_the_same_aps_without_ties() -> None:
    rng = np.random.default_rng(4)
    detections, objects = random_problem(rng, 200, 5)
    shuffled = detections[rng.permutation(len(detections))]
    np.testing.assert_array_equal(
        average_precision(detections, objects, num_classes=5),
        average_precision(shuffled, objects, num_classes=5),
    )


def test_pycocotools_agrees_roughly() -> None:
    """COCO interpolates precision at 101 recall points and thresholds IoU at 0.5 for every
    box (no small-object slack, no +1 pixel): on large boxes the APs come out close."""
    coco_mod = pytest.importorskip("pycocotools.coco")
    cocoeval_mod = pytest.importorskip("pycocotools.cocoeval")
    rng = np.random.default_rng(5)
    c = 4
    detections, objects = random_problem(rng, 150, c)
    ours = average_precision(detections, objects, num_classes=c)

    images = [{"id": i + 1, "width": 400, "height": 400} for i in range(len(objects))]
    annotations = []
    for i, image in enumerate(objects):
        for cls, x0, y0, x1, y1 in image.tolist():
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1, "category_id": int(cls) + 1,
                "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1], "area": (x1 - x0 + 1) * (y1 - y0 + 1),
                "iscrowd": 0,
            })  # fmt: skip
    gt = coco_mod.COCO()
    gt.dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k + 1} for k in range(c)],
    }
    gt.createIndex()
    results = [
        {"image_id": int(d[0]) + 1, "category_id": int(d[1]) + 1, "score": float(d[2]),
         "bbox": [d[3], d[4], d[5] - d[3] + 1, d[6] - d[4] + 1]}
        for d in detections.tolist()
    ]  # fmt: skip
    evaluation = cocoeval_mod.COCOeval(gt, gt.loadRes(results), "bbox")
    evaluation.params.iouThrs = np.array([0.5])
    evaluation.params.maxDets = [1000, 1000, 1000]
    evaluation.params.areaRng = [[0, 1e10]] * 3
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, :, 0, -1]  # (101 recalls, classes)
    coco = np.where(precision > -1, precision, np.nan).mean(axis=0)
    np.testing.assert_allclose(ours, coco, atol=0.05)


# Weights and the bootstrap ------------------------------------------------------------------------


def test_integer_weights_are_the_aps_of_duplicated_images() -> None:
    rng = np.random.default_rng(6)
    c = 5
    detections, objects = random_problem(rng, 120, c)
    weights = rng.integers(0, 4, len(objects))
    copies = np.repeat(np.arange(len(objects)), weights)  # new image j is image copies[j]
    new_of = {}
    for j, i in enumerate(copies.tolist()):
        new_of.setdefault(i, []).append(j)
    duplicated = [[j, *d[1:]] for d in detections.tolist() for j in new_of.get(int(d[0]), [])]
    expected = reference_ap(duplicated, [objects[i] for i in copies], c)
    matches = match_detections(detections, objects, num_classes=c)
    np.testing.assert_allclose(matches.average_precision(weights), expected, atol=1e-12)
    two = matches.average_precision(np.stack([weights, np.ones(len(objects))]))
    np.testing.assert_allclose(two[0], expected, atol=1e-12)
    np.testing.assert_array_equal(two[1], matches.average_precision())


def test_subset_is_the_partition_on_its_own() -> None:
    rng = np.random.default_rng(7)
    detections, objects = random_problem(rng, 200, 6)
    keep = rng.random(len(objects)) < 0.4
    rows = np.flatnonzero(keep)
    renumber = {int(i): k for k, i in enumerate(rows)}
    own = np.array([[renumber[int(d[0])], *d[1:]] for d in detections if keep[int(d[0])]])
    matches = match_detections(detections, objects, num_classes=6)
    np.testing.assert_array_equal(
        matches.subset(keep).average_precision(),
        average_precision(own, [objects[i] for i in rows], num_classes=6),
    )
    np.testing.assert_allclose(
        matches.subset(keep).average_precision(),
        matches.average_precision(keep.astype(float)),
        rtol=1e-12,
    )


def test_the_interval_is_deterministic_and_holds_the_estimate() -> None:
    rng = np.random.default_rng(8)
    detections, objects = random_problem(rng, 400, 5)
    matches = match_detections(detections, objects, num_classes=5)
    low, high = mean_ap_interval(matches)
    assert (low, high) == mean_ap_interval(matches)
    assert low <= matches.mean_ap() <= high
    assert 0.01 < high - low < 0.3
    narrower = mean_ap_interval(matches, level=0.5)
    assert low <= narrower[0] <= narrower[1] <= high
    assert mean_ap_interval(matches, seed=1) != (low, high)
    empty = match_detections(np.empty((0, 7)), [EMPTY] * 3, num_classes=2)
    assert all(np.isnan(mean_ap_interval(empty)))


def test_ten_thousand_images_score_fast() -> None:
    rng = np.random.default_rng(9)
    n, c = 10_000, 200
    counts = rng.integers(1, 4, n)
    classes = rng.integers(0, c, counts.sum())
    xy = rng.uniform(0, 300, (counts.sum(), 2))
    boxes = np.concatenate([xy, xy + rng.uniform(20, 200, (counts.sum(), 2))], axis=1)
    gt = np.column_stack([classes, boxes])
    objects = np.split(gt, np.cumsum(counts)[:-1])
    owner = np.repeat(np.arange(n), counts)
    pick = rng.integers(0, len(gt), 5 * n)  # ~5 per image, near some object
    detections = np.column_stack([owner[pick], gt[pick, 0], rng.random(5 * n), gt[pick, 1:]])
    detections[:, 3:] += rng.normal(0, 15, (5 * n, 4))
    detections[:, 5:] = np.maximum(detections[:, 5:], detections[:, 3:5])
    start = time.perf_counter()
    matches = match_detections(detections, objects, num_classes=c)
    value = matches.mean_ap()
    mean_ap_interval(matches)
    seconds = time.perf_counter() - start
    assert 0.1 < value < 0.9
    assert seconds < 3.0  # about 0.3 s on a laptop; generous for shared CI


# Refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detections", "message"),
    [
        (np.zeros((2, 6)), r"must be \(M, 7\)"),
        ([[0, 0, np.nan, 1, 1, 2, 2]], "not finite"),
        ([[2, 0, 1, 1, 1, 2, 2]], "names image 2, not one of 0..1"),
        ([[0.5, 0, 1, 1, 1, 2, 2]], "names image 0.5"),
        ([[0, 3, 1, 1, 1, 2, 2]], "names class 3, not one of 0..2"),
        ([[0, 0, 1, 5, 1, 2, 2]], "xmax < xmin"),
    ],
)
def test_bad_detections_are_refused(detections, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        match_detections(detections, [EMPTY, EMPTY], num_classes=3)


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        ([np.zeros((1, 4))], r"\(B_i, 5\)"),
        ([np.array([[5, 1, 1, 2, 2]])], "has class 5, not one of 0..2"),
        ([np.array([[0, 1, 1, np.inf, 2]])], "not finite"),
        ([np.array([[0, 1, 3, 2, 2]])], "xmax < xmin or ymax < ymin"),
    ],
)
def test_bad_ground_truth_is_refused(objects, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        match_detections(np.empty((0, 7)), objects, num_classes=3)


def test_bad_weights_and_options_are_refused() -> None:
    matches = match_detections(HAND_DETECTIONS, HAND_OBJECTS, num_classes=3)
    with pytest.raises(ValueError, match="weights must be"):
        matches.average_precision(np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        matches.average_precision(np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="level must be"):
        mean_ap_interval(matches, level=1.0)
    with pytest.raises(ValueError, match="resamples must be at least 1"):
        mean_ap_interval(matches, resamples=0)
    with pytest.raises(ValueError, match="num_classes must be"):
        match_detections(HAND_DETECTIONS, HAND_OBJECTS, num_classes=0)
