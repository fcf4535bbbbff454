"""ILSVRC localization: inclusive-pixel IoU and the top-k rule, against hand values and a loop."""

from __future__ import annotations

import numpy as np
import pytest

from synsetlab.metrics import box_iou, localization_correct, localization_error

NAN4 = [np.nan] * 4


# IoU ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ([1, 1, 10, 10], [1, 1, 10, 10], 1.0),
        ([1, 1, 10, 10], [1, 1, 5, 10], 50 / 100),  # 10 x 10 and 5 x 10 pixels
        ([1, 1, 10, 10], [10, 1, 19, 10], 10 / 190),  # sharing one column of pixels
        ([1, 1, 10, 10], [11, 1, 20, 10], 0.0),  # adjacent, no shared pixel
        ([1, 1, 10, 10], [50, 50, 60, 60], 0.0),
        ([3, 3, 3, 3], [3, 3, 3, 3], 1.0),  # a one-pixel box
        ([0, 0, 9, 19], [5, 10, 14, 29], 50 / 350),  # 10x20 and 10x20, 5x10 shared
    ],
)
def test_box_iou_with_inclusive_pixels(a: list[float], b: list[float], iou: float) -> None:
    assert box_iou(a, b) == pytest.approx(iou)
    assert box_iou(b, a) == pytest.approx(iou)


def test_box_iou_matches_the_devkit_formula_on_random_boxes() -> None:
    rng = np.random.default_rng(0)
    a_min, b_min = rng.uniform(0, 100, (2, 500, 2))
    a = np.concatenate([a_min, a_min + rng.uniform(0, 50, (500, 2))], axis=1)
    b = np.concatenate([b_min, b_min + rng.uniform(0, 50, (500, 2))], axis=1)
    for (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1), got in zip(a, b, box_iou(a, b), strict=True):
        # compute_overlap.m of the ILSVRC-2012 devkit
        iw = min(ax1, bx1) - max(ax0, bx0) + 1
        ih = min(ay1, by1) - max(ay0, by0) + 1
        if iw > 0 and ih > 0:
            ua = (ax1 - ax0 + 1) * (ay1 - ay0 + 1) + (bx1 - bx0 + 1) * (by1 - by0 + 1) - iw * ih
            expected = iw * ih / ua
        else:
            expected = 0.0
        assert got == pytest.approx(expected)


def test_box_iou_broadcasts_and_propagates_nan() -> None:
    guesses = np.array([[[1, 1, 10, 10], NAN4]])  # (1, 2, 4)
    gt = np.array([[1, 1, 10, 10], [1, 1, 5, 10], [20, 20, 30, 30]])  # (3, 4)
    iou = box_iou(guesses[:, :, None, :], gt[None, None, :, :])
    assert iou.shape == (1, 2, 3)
    np.testing.assert_allclose(iou[0, 0], [1.0, 0.5, 0.0])
    assert np.isnan(iou[0, 1]).all()
    assert not (iou[0, 1] >= 0.5).any()


def test_box_iou_needs_four_coordinates() -> None:
    with pytest.raises(ValueError, match="4 coordinates"):
        box_iou([1, 2, 3], [1, 2, 3, 4])


# The ILSVRC rule ---------------------------------------------------------------------------------


def test_localization_correct_hand_example() -> None:
    gt = [
        np.array([[1, 1, 10, 10]]),
        np.array([[1, 1, 10, 10], [50, 50, 80, 80]]),
        np.array([[1, 1, 10, 10]]),
        np.array([[1, 1, 10, 10]]),
        np.array([[1, 1, 10, 10]]),
    ]
    labels = np.array([0, 1, 2, 3, 4])
    guess_labels = np.array(
        [
            [0, 9],  # right class, right box
            [7, 1],  # second guess: right class, matches the second gt box
            [2, 5],  # right class, box misses (IoU 0)
            [5, 3],  # right box under the wrong class, right class with a bad box
            [-1, -1],  # no guess
        ]
    )
    guess_boxes = np.array(
        [
            [[1, 1, 10, 10], [1, 1, 10, 10]],
            [[1, 1, 10, 10], [52, 52, 80, 80]],
            [[30, 30, 40, 40], [1, 1, 10, 10]],
            [[1, 1, 10, 10], [1, 1, 3, 3]],
            [NAN4, NAN4],
        ],
        dtype=float,
    )
    correct = localization_correct(guess_labels, guess_boxes, labels, gt, k=2)
    np.testing.assert_array_equal(correct, [True, True, False, False, False])
    assert localization_error(guess_labels, guess_boxes, labels, gt, k=2) == pytest.approx(0.6)
    # only the first guess counts at k=1: image 1 is then wrong
    top1 = localization_correct(guess_labels, guess_boxes, labels, gt, k=1)
    np.testing.assert_array_equal(top1, [True, False, False, False, False])


def test_an_iou_of_exactly_one_half_counts() -> None:
    gt = [np.array([[1, 1, 10, 10]])]
    half = np.array([[[1, 1, 5, 10]]], dtype=float)  # 50 of 100 pixels
    assert localization_correct(np.array([[0]]), half, np.array([0]), gt, k=1)[0]
    assert not localization_correct(
        np.array([[0]]), half, np.array([0]), gt, k=1, iou_threshold=0.51
    )[0]


def _loop(guess_labels, guess_boxes, labels, gt_boxes, k=5, threshold=0.5) -> np.ndarray:
    """The ILSVRC-2012 definition, one image and one guess at a time."""

    def iou(a, b) -> float:
        iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
        ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
        if not (iw > 0 and ih > 0):
            return 0.0
        union = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
        return iw * ih / (union - iw * ih)

    out = []
    for i in range(len(labels)):
        ok = False
        for j in range(k):
            if guess_labels[i][j] != labels[i]:
                continue
            if any(iou(guess_boxes[i][j], g) >= threshold for g in gt_boxes[i]):
                ok = True
        out.append(ok)
    return np.array(out)


def random_problem(n: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    gt = []
    for count in rng.integers(1, 4, n):
        xy = rng.uniform(0, 200, (count, 2))
        gt.append(np.concatenate([xy, xy + rng.uniform(5, 150, (count, 2))], axis=1))
    guess_labels = np.stack([rng.permutation(classes)[:5] for _ in range(n)])
    # put the true class among the guesses of most images (possibly twice: the rule allows it)
    hit = rng.random(n) < 0.6
    guess_labels[hit, rng.integers(0, 5, hit.sum())] = labels[hit]
    guess_boxes = np.empty((n, 5, 4))
    for i in range(n):
        base = gt[i][rng.integers(0, len(gt[i]))]
        guess_boxes[i] = base + rng.normal(0, 15, (5, 4))
    guess_boxes[..., 2:] = np.maximum(guess_boxes[..., 2:], guess_boxes[..., :2])
    none = rng.random((n, 5)) < 0.1
    guess_labels[none] = -1
    guess_boxes[none] = np.nan
    return guess_labels, guess_boxes, labels, gt


@pytest.mark.parametrize("k", [1, 3, 5])
def test_localization_correct_matches_a_loop_on_random_data(k: int) -> None:
    guess_labels, guess_boxes, labels, gt = random_problem(3000, 20, seed=k)
    got = localization_correct(guess_labels, guess_boxes, labels, gt, k=k)
    expected = _loop(guess_labels, guess_boxes, labels, gt, k=k)
    np.testing.assert_array_equal(got, expected)
    assert 0.05 < got.mean() < 0.95  # both outcomes well represented


def test_one_image_with_many_boxes_costs_no_padding() -> None:
    guess_labels, guess_boxes, labels, gt = random_problem(50, 5, seed=9)
    gt[3] = np.tile(gt[3][:1], (10_000, 1))  # padding all images to this would be 500k boxes
    got = localization_correct(guess_labels, guess_boxes, labels, gt)
    np.testing.assert_array_equal(got, _loop(guess_labels, guess_boxes, labels, gt))


# Bad input ---------------------------------------------------------------------------------------


def test_images_without_boxes_cannot_be_scored() -> None:
    guess_labels, guess_boxes, labels, gt = random_problem(10, 5, seed=1)
    gt[2] = np.empty((0, 4))
    gt[7] = np.empty((0, 4))
    with pytest.raises(
        ValueError, match=r"2 of 10 images have no ground-truth box \(e.g. image 2\)"
    ):
        localization_correct(guess_labels, guess_boxes, labels, gt)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: {**a, "k": 0}, "k must be an integer of at least 1"),
        (lambda a: {**a, "k": 6}, "fewer than k=6"),
        (lambda a: {**a, "guess_labels": a["guess_labels"].astype(float)}, "integer class"),
        (lambda a: {**a, "guess_boxes": a["guess_boxes"][:, :4]}, "guess_boxes must have shape"),
        (lambda a: {**a, "labels": a["labels"][:5]}, "10 images but labels has 5"),
        (lambda a: {**a, "labels": np.full(10, -1)}, "hidden labels cannot be scored"),
        (lambda a: {**a, "gt_boxes": a["gt_boxes"][:9]}, "gt_boxes has 9 images"),
        (lambda a: {**a, "iou_threshold": 0.0}, r"iou_threshold must be in \(0, 1\]"),
        (
            lambda a: {**a, "guess_labels": np.where(a["guess_labels"] < 0, -2, a["guess_labels"])},
            "neither a class index nor -1",
        ),
        (
            lambda a: {**a, "gt_boxes": [np.array([[5.0, 1, 2, 9]])] * 10},
            "ground-truth box .* is not finite with xmin <= xmax",
        ),
    ],
)
def test_bad_input_is_refused(change, message: str) -> None:
    guess_labels, guess_boxes, labels, gt = random_problem(10, 5, seed=2)
    guess_labels[0, 0] = -1
    args = {"guess_labels": guess_labels, "guess_boxes": guess_boxes, "labels": labels,
            "gt_boxes": gt}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        localization_correct(**change(args))
