"""ILSVRC classification-with-localization: box overlap and the top-k localization error.

The rule of the ILSVRC classification-with-localization devkit (``evaluation/eval_clsloc.m``,
the 2012 task's evaluation): an image is localised correctly when one of its first ``k``
guesses names the image's class **and** its box overlaps at least one ground-truth box of that
class by IoU ``>= 0.5``. As in ILSVRC-2012, every ground-truth box of an image is taken to be
of the image's class, so the ground truth here is just each image's label and boxes.

Boxes are ``(xmin, ymin, xmax, ymax)`` in pixels with the devkit's inclusive convention: a box
covers pixels ``xmin..xmax``, so its width is ``xmax - xmin + 1`` (ILSVRC's XML coordinates are
1-based and inclusive). Overlap is intersection over union of these pixel areas, as the
devkit's ``compute_overlap.m`` computes it (an intersection counts only when both its sides
are positive).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["IOU_THRESHOLD", "box_iou", "localization_correct", "localization_error"]

#: The ILSVRC overlap a guessed box needs with a ground-truth box to count.
IOU_THRESHOLD = 0.5


def box_iou(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Intersection over union of boxes, elementwise with numpy broadcasting.

    Args:
        a, b: ``(..., 4)`` boxes ``xmin, ymin, xmax, ymax`` (inclusive pixel coordinates:
            width = ``xmax - xmin + 1``); the leading shapes broadcast against each other.

    Returns:
        ``(...)`` float64 in ``[0, 1]``; 0 for boxes that do not meet; NaN where a box has
        NaN coordinates (a missing guess: its area is NaN), which compares false with any
        threshold.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[-1:] != (4,) or b.shape[-1:] != (4,):
        raise ValueError(f"boxes must have 4 coordinates in the last axis: {a.shape}, {b.shape}")
    ax0, ay0, ax1, ay1 = np.moveaxis(a, -1, 0)
    bx0, by0, bx1, by1 = np.moveaxis(b, -1, 0)
    iw = np.minimum(ax1, bx1) - np.maximum(ax0, bx0) + 1
    ih = np.minimum(ay1, by1) - np.maximum(ay0, by0) + 1
    # The devkit counts an overlap only when both sides are positive.
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = (ax1 - ax0 + 1) * (ay1 - ay0 + 1) + (bx1 - bx0 + 1) * (by1 - by0 + 1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def localization_correct(
    guess_labels: ArrayLike,
    guess_boxes: ArrayLike,
    labels: ArrayLike,
    gt_boxes: Sequence[ArrayLike],
    *,
    k: int = 5,
    iou_threshold: float = IOU_THRESHOLD,
) -> np.ndarray:
    """Whether each image is localised by one of its first ``k`` guesses (the ILSVRC rule).

    Image ``i`` is correct when some guess ``j < k`` has ``guess_labels[i, j] == labels[i]``
    and ``box_iou(guess_boxes[i, j], g) >= iou_threshold`` for some ground-truth box ``g`` of
    the image. Work is spread over the (image, ground-truth box) pairs, so it costs
    ``O(k x total boxes)`` however unevenly the boxes fall.

    Args:
        guess_labels: ``(N, M)`` integer class indices, ``M >= k``, best first; ``-1`` means no
            guess (a submission may give fewer than ``k``).
        guess_boxes: ``(N, M, 4)`` float boxes of those guesses; NaN for a missing guess.
        labels: ``(N,)`` true class indices (``>= 0``).
        gt_boxes: ``N`` arrays of shape ``(B_i, 4)``, every image's ground-truth boxes
            (``B_i >= 1``: an image without a box could never be localised).
        k: guesses that count per image, ``>= 1``.
        iou_threshold: the overlap a box needs, in ``(0, 1]``.

    Returns:
        ``(N,)`` bool.
    """
    g, boxes, y = _guesses(guess_labels, guess_boxes, labels, k)
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    owner, gt = _ground_truth(gt_boxes, len(y))
    right_class = g == y[:, None]  # (N, k)
    iou = box_iou(boxes[owner], gt[:, None, :])  # (total gt boxes, k)
    hit = (right_class[owner] & (iou >= iou_threshold)).any(axis=1)
    return np.bincount(owner, weights=hit, minlength=len(y)) > 0


def localization_error(
    guess_labels: ArrayLike,
    guess_boxes: ArrayLike,
    labels: ArrayLike,
    gt_boxes: Sequence[ArrayLike],
    *,
    k: int = 5,
    iou_threshold: float = IOU_THRESHOLD,
) -> float:
    """ILSVRC top-k localization error: 1 - the fraction of images
    :func:`localization_correct` accepts (same arguments)."""
    correct = localization_correct(
        guess_labels, guess_boxes, labels, gt_boxes, k=k, iou_threshold=iou_threshold
    )
    return float(1.0 - correct.mean())


# Validation --------------------------------------------------------------------------------------


def _guesses(
    guess_labels: ArrayLike, guess_boxes: ArrayLike, labels: ArrayLike, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``k`` guessed labels ``(N, k)`` and boxes ``(N, k, 4)``, and the labels."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer of at least 1, got {k!r}")
    g = np.asarray(guess_labels)
    if g.ndim != 2 or not np.issubdtype(g.dtype, np.integer):
        raise ValueError(
            f"guess_labels must be (N, k) integer class indices, got {g.dtype} {g.shape}"
        )
    if g.shape[1] < k:
        raise ValueError(f"guess_labels have {g.shape[1]} guesses per image, fewer than k={k}")
    b = np.asarray(guess_boxes, dtype=np.float64)
    if b.shape != (*g.shape, 4):
        raise ValueError(f"guess_boxes must have shape {(*g.shape, 4)}, got {b.shape}")
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be (N,) integer class indices, got {y.dtype} {y.shape}")
    if len(y) != len(g):
        raise ValueError(f"guess_labels has {len(g)} images but labels has {len(y)}")
    if len(y) == 0:
        raise ValueError("labels is empty: nothing to score")
    if (y < 0).any():
        i = int(np.argmax(y < 0))
        raise ValueError(f"hidden labels cannot be scored: labels[{i}] = {y[i]}")
    bad = g[:, :k] < -1
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"guess_labels[{i}, {j}] = {g[i, j]} is neither a class index nor -1")
    return g[:, :k].astype(np.int64, copy=False), b[:, :k], y.astype(np.int64, copy=False)


def _ground_truth(gt_boxes: Sequence[ArrayLike], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ground-truth box ``(M, 4)`` and the image it belongs to ``(M,)``."""
    if len(gt_boxes) != n:
        raise ValueError(f"gt_boxes has {len(gt_boxes)} images but labels has {n}")
    arrays = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in gt_boxes]
    counts = np.fromiter(map(len, arrays), dtype=np.int64, count=n)
    if not counts.all():
        missing = np.flatnonzero(counts == 0)
        raise ValueError(
            f"{len(missing)} of {n} images have no ground-truth box (e.g. image {missing[0]}): "
            "a localization challenge needs boxes for every test image"
        )
    gt = np.concatenate(arrays)
    bad = ~np.isfinite(gt).all(axis=1) | (gt[:, 2] < gt[:, 0]) | (gt[:, 3] < gt[:, 1])
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"ground-truth box {gt[row].tolist()} is not finite with xmin <= xmax, ymin <= ymax"
        )
    return np.repeat(np.arange(n), counts), gt
