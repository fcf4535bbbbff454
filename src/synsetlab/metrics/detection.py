"""ILSVRC object detection: matching detections to ground-truth objects, and mean AP.

The rule of the ILSVRC DET devkit (``evaluation/eval_detection.m``):

1. per class, the detections of all images are ranked by score, highest first (ties keep
   the order given);
2. in that order, each detection is matched to the not-yet-matched ground-truth box of its
   class in its image with the highest IoU, provided the IoU reaches that box's threshold
   ``min(0.5, w h / ((w + 10) (h + 10)))`` (``w``, ``h`` the box's inclusive pixel width and
   height: small objects get a looser threshold); ties in IoU go to the box listed first.
   A matched detection is a true positive, any other a false positive (a second detection
   of an object included);
3. the class's AP is the area under its precision-recall curve with precision replaced by
   its envelope (the highest precision at any recall at least as large), over all points as
   in PASCAL VOC 2010+ (``VOCap``);
4. mean AP averages the APs of the classes that have at least one ground-truth box; a class
   with boxes and no detections has AP 0.

Boxes follow :mod:`~synsetlab.metrics.localization`: ``xmin, ymin, xmax, ymax`` in inclusive
pixel coordinates, overlaps by :func:`~synsetlab.metrics.localization.box_iou`.

Matching looks at one image at a time, so it is done once (:func:`match_detections`) and the
APs of any multiset of the images follow from image weights (how many times each image
counts) without matching again: that is how :func:`mean_ap_interval` bootstraps.

>>> import numpy as np
>>> objects = [np.array([[0, 1, 1, 40, 40]]), np.empty((0, 5))]
>>> detections = np.array([[0, 0, 0.9, 2, 2, 40, 40], [1, 0, 0.8, 1, 1, 40, 40]])
>>> float(mean_average_precision(detections, objects, num_classes=1))
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import ArrayLike

from synsetlab.metrics.localization import box_iou

__all__ = [
    "DETECTION_IOU_THRESHOLD",
    "PIXEL_TOLERANCE",
    "DetectionMatches",
    "average_precision",
    "detection_thresholds",
    "match_detections",
    "mean_ap_interval",
    "mean_average_precision",
]

#: The largest IoU threshold of a ground-truth box (ILSVRC DET's ``defaultIOUthr``).
DETECTION_IOU_THRESHOLD = 0.5
#: Pixels of slack on each side of a small box (ILSVRC DET's ``pixelTolerance``).
PIXEL_TOLERANCE = 10
#: Bootstrap resamples are processed in chunks of about this many (resample, detection) cells.
_CHUNK_CELLS = 500_000


def detection_thresholds(gt_boxes: ArrayLike) -> np.ndarray:
    """The IoU each ground-truth box needs: ``min(0.5, w h / ((w + 10) (h + 10)))``.

    Args:
        gt_boxes: ``(G, 4)`` boxes ``xmin, ymin, xmax, ymax`` (width ``xmax - xmin + 1``).

    Returns:
        ``(G,)`` float64 in ``(0, 0.5]``.
    """
    b = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    w = b[:, 2] - b[:, 0] + 1
    h = b[:, 3] - b[:, 1] + 1
    t = PIXEL_TOLERANCE
    return np.minimum(DETECTION_IOU_THRESHOLD, w * h / ((w + t) * (h + t)))


@dataclass(frozen=True, eq=False)
class DetectionMatches:
    """Detections matched to the ground truth, ready to give APs under any image weights.

    Detections are held sorted by class, then by score (highest first). Build it with
    :func:`match_detections`.
    """

    num_classes: int
    n_images: int
    #: ``(M,)`` int64 image of each detection, sorted by class then score.
    image: np.ndarray
    #: ``(M,)`` bool: the detection is a true positive.
    tp: np.ndarray
    #: ``(C + 1,)`` class ``c``'s detections are ``[det_starts[c], det_starts[c + 1])``.
    det_starts: np.ndarray
    #: ``(G,)`` int64 image of each ground-truth box, sorted by class.
    gt_image: np.ndarray
    #: ``(C + 1,)`` offsets of each class's boxes in ``gt_image``.
    gt_starts: np.ndarray

    def subset(self, images: ArrayLike) -> DetectionMatches:
        """The matches of some images only (a partition), images renumbered in order.

        Args:
            images: ``(N,)`` bool, the images to keep.
        """
        keep = np.asarray(images, dtype=np.bool_)
        if keep.shape != (self.n_images,):
            raise ValueError(f"images must be ({self.n_images},) bool, got {keep.shape}")
        renumber = np.cumsum(keep) - 1
        det = keep[self.image]
        gt = keep[self.gt_image]
        return DetectionMatches(
            num_classes=self.num_classes,
            n_images=int(keep.sum()),
            image=renumber[self.image[det]],
            tp=self.tp[det],
            det_starts=_kept_starts(self.det_starts, det),
            gt_image=renumber[self.gt_image[gt]],
            gt_starts=_kept_starts(self.gt_starts, gt),
        )

    def average_precision(self, weights: ArrayLike | None = None) -> np.ndarray:
        """Each class's AP, the images counted ``weights`` times each.

        Integer weights give exactly the APs of the dataset holding each image that many
        times (the ranking keeps copies of one detection together, which changes no AP).

        Args:
            weights: ``(N,)`` or ``(R, N)`` non-negative image weights; None for all ones.

        Returns:
            ``(C,)`` (or ``(R, C)``) float64 APs; NaN for a class without ground-truth boxes
            (of positive weight).
        """
        w = np.ones(self.n_images) if weights is None else np.asarray(weights, np.float64)
        single = w.ndim == 1
        w = np.atleast_2d(w)
        if w.ndim != 2 or w.shape[1] != self.n_images:
            raise ValueError(f"weights must be (N,) or (R, N) with N={self.n_images}: {w.shape}")
        if (w < 0).any() or not np.isfinite(w).all():
            raise ValueError("weights must be finite and non-negative")
        # Resamples run along the last axis: cumulative sums down detections then add whole
        # contiguous rows, which numpy vectorises.
        w = np.ascontiguousarray(w.T)  # (N, R)
        positives = _segment_sums(w[self.gt_image], self.gt_starts)  # (C, R)
        hits = np.flatnonzero(self.tp)
        hit_starts = _kept_starts(self.det_starts, self.tp)
        hit_class = _segment_ids(hit_starts)
        area = np.zeros_like(positives)
        chunk = max(1, _CHUNK_CELLS // max(len(self.image), 1))
        for lo in range(0, w.shape[1], chunk):
            part = np.ascontiguousarray(w[:, lo : lo + chunk])
            area[:, lo : lo + chunk] = _precision_area(part, self, hits, hit_starts, hit_class)
        with np.errstate(invalid="ignore", divide="ignore"):
            ap = np.where(positives > 0, area / positives, np.nan).T
        return ap[0] if single else ap

    def mean_ap(self, weights: ArrayLike | None = None) -> float | np.ndarray:
        """Mean AP over the classes with ground truth: a float, or ``(R,)`` for ``(R, N)``
        weights; NaN when no class has any."""
        ap = self.average_precision(weights)
        scored = ~np.isnan(ap)
        count = scored.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(scored, ap, 0.0).sum(axis=-1) / count
        return float(mean) if np.ndim(mean) == 0 else mean


def match_detections(
    detections: ArrayLike, gt_objects: Sequence[ArrayLike], *, num_classes: int
) -> DetectionMatches:
    """Match every detection to the ground truth by the ILSVRC DET rule (module docstring).

    Args:
        detections: ``(M, 7)`` rows ``image, class, score, xmin, ymin, xmax, ymax``: the
            image's row in ``gt_objects`` and the class index as whole numbers; ties in score
            are ranked in row order.
        gt_objects: ``N`` arrays ``(B_i, 5)`` of rows ``class, xmin, ymin, xmax, ymax``,
            each image's ground-truth objects (``(0, 5)`` for none).
        num_classes: ``C``; classes are ``0..C-1``.

    Returns:
        The matches, from which :meth:`DetectionMatches.average_precision` reads the APs.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"num_classes must be an integer, got {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    n = len(gt_objects)
    gt_image, gt_class, gt_box = _ground_truth(gt_objects, num_classes)
    det_image, det_class, score, det_box = _detections(detections, n, num_classes)

    # Rank by class, then score (highest first); lexsort is stable, so ties keep row order.
    order = np.lexsort((-score, det_class))
    det_image, det_class, det_box = det_image[order], det_class[order], det_box[order]
    gt_order = np.lexsort((gt_image, gt_class))  # stable: an image's boxes keep their order
    gt_image, gt_class, gt_box = gt_image[gt_order], gt_class[gt_order], gt_box[gt_order]

    tp = _greedy_match(det_image, det_class, det_box, gt_image, gt_class, gt_box, n)
    classes = np.arange(num_classes + 1)
    return DetectionMatches(
        num_classes=int(num_classes),
        n_images=n,
        image=det_image,
        tp=tp,
        det_starts=np.searchsorted(det_class, classes),
        gt_image=gt_image,
        gt_starts=np.searchsorted(gt_class, classes),
    )


def average_precision(
    detections: ArrayLike, gt_objects: Sequence[ArrayLike], *, num_classes: int
) -> np.ndarray:
    """ILSVRC DET average precision of each class (arguments as :func:`match_detections`).

    Returns:
        ``(C,)`` float64 in ``[0, 1]``; NaN for a class without ground-truth boxes.
    """
    return match_detections(detections, gt_objects, num_classes=num_classes).average_precision()


def mean_average_precision(
    detections: ArrayLike, gt_objects: Sequence[ArrayLike], *, num_classes: int
) -> float:
    """ILSVRC DET mean AP over the classes with ground-truth boxes (arguments as
    :func:`match_detections`); NaN when there are no ground-truth boxes at all."""
    matches = match_detections(detections, gt_objects, num_classes=num_classes)
    return float(matches.mean_ap())


def mean_ap_interval(
    matches: DetectionMatches, *, level: float = 0.95, resamples: int = 200, seed: int = 0
) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean AP, over images.

    Each resample draws ``N`` of the images with replacement (``np.random.default_rng(seed)``,
    so the interval is deterministic) and computes the mean AP of the images drawn, each
    counted as many times as drawn. Unlike an error rate, mean AP is not an average over
    images, and the resampled values sit above the estimate: a drawn image's detections
    come in identical copies, which lifts the precision envelope (by about 3 standard
    deviations with ~100 objects per class). So the resampled values are first shifted by
    that bias, their mean minus the estimate; the bounds are then their ``(1 - level) / 2``
    and ``(1 + level) / 2`` quantiles, widened to hold the estimate if they do not.

    Args:
        matches: from :func:`match_detections` (a partition: :meth:`DetectionMatches.subset`).
        level: coverage, in ``(0, 1)``.
        resamples: bootstrap resamples, at least 1.
        seed: the generator's seed.

    Returns:
        ``(low, high)``; NaN for both when no image has a ground-truth box.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)):
        raise ValueError(f"resamples must be an integer, got {resamples!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    estimate = matches.mean_ap()
    if np.isnan(estimate):
        return float("nan"), float("nan")
    n = matches.n_images
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    chunk = max(1, _CHUNK_CELLS // max(n, len(matches.image), 1))
    for lo in range(0, resamples, chunk):
        r = min(chunk, resamples - lo)
        drawn = rng.integers(0, n, (r, n)) + n * np.arange(r)[:, None]
        weights = np.bincount(drawn.ravel(), minlength=r * n).reshape(r, n)
        values[lo : lo + r] = matches.mean_ap(weights)
    values -= np.nanmean(values) - estimate
    tail = (1.0 - level) / 2
    low, high = np.nanquantile(values, [tail, 1.0 - tail])
    return float(min(low, estimate)), float(max(high, estimate))


# Matching -----------------------------------------------------------------------------------------


def _greedy_match(
    det_image: np.ndarray,
    det_class: np.ndarray,
    det_box: np.ndarray,
    gt_image: np.ndarray,
    gt_class: np.ndarray,
    gt_box: np.ndarray,
    n_images: int,
) -> np.ndarray:
    """``(M,)`` true-positive flags of detections ranked by class then score.

    Matching is sequential only within one (image, class) group, so it runs in rounds: round
    ``r`` matches the ``r``-th ranked detection of every group at once (their candidate
    boxes are disjoint). Work is O(candidate pairs) plus one short step per round.
    """
    m = len(det_image)
    tp = np.zeros(m, dtype=np.bool_)
    if m == 0 or len(gt_image) == 0:
        return tp
    det_group = det_class * n_images + det_image
    gt_group = gt_class * n_images + gt_image  # sorted: by class, then image
    first = np.searchsorted(gt_group, det_group, side="left")
    count = np.searchsorted(gt_group, det_group, side="right") - first
    pair_det = np.repeat(np.arange(m), count)
    pair_gt = np.repeat(first, count) + _positions(count)
    iou = box_iou(det_box[pair_det], gt_box[pair_gt])
    ok = iou >= detection_thresholds(gt_box)[pair_gt]
    pair_det, pair_gt, iou = pair_det[ok], pair_gt[ok], iou[ok]
    if not len(pair_det):
        return tp

    # Each detection's rank within its group (the order is stable: by score within a group).
    by_group = np.argsort(det_group, kind="stable")
    grouped = det_group[by_group]
    new_group = np.r_[True, grouped[1:] != grouped[:-1]]
    rank = np.empty(m, dtype=np.int64)
    rank[by_group] = np.arange(m) - np.maximum.accumulate(np.where(new_group, np.arange(m), 0))

    # Per round, each detection's candidates best first: highest IoU, then the first box.
    order = np.lexsort((pair_gt, -iou, pair_det, rank[pair_det]))
    pair_det, pair_gt, pair_rank = pair_det[order], pair_gt[order], rank[pair_det[order]]
    taken = np.zeros(len(gt_image), dtype=np.bool_)
    bounds = np.flatnonzero(np.r_[True, pair_rank[1:] != pair_rank[:-1], True])
    for lo, hi in pairwise(bounds.tolist()):
        free = ~taken[pair_gt[lo:hi]]
        d, g = pair_det[lo:hi][free], pair_gt[lo:hi][free]
        best = np.ones(len(d), dtype=np.bool_)
        best[1:] = d[1:] != d[:-1]
        taken[g[best]] = True
        tp[d[best]] = True
    return tp


# AP from weights ----------------------------------------------------------------------------------


def _precision_area(
    weights: np.ndarray,
    matches: DetectionMatches,
    hits: np.ndarray,
    hit_starts: np.ndarray,
    hit_class: np.ndarray,
) -> np.ndarray:
    """``(C, R)`` area under each class's precision envelope, times its positives, for
    ``(N, R)`` image weights.

    Recall only grows at true positives, and precision just after a false positive is below
    precision at the true positive before it, so the envelope at every true positive is the
    highest precision at that or a later true positive of the class: the sum runs over true
    positives only (``VOCap`` summed over the points where recall changes).
    """
    r = weights.shape[1]
    seen_all = np.cumsum(weights[matches.image], axis=0)  # detections so far, all classes
    before = np.concatenate([np.zeros((1, r)), seen_all])[matches.det_starts[:-1]]
    seen = seen_all[hits] - before[hit_class]  # this class's detections up to each hit
    gain = weights[matches.image[hits]]  # each true positive's weight: its recall step
    found = _segment_cumsum(gain, hit_starts, hit_class)
    precision = np.divide(found, seen, out=np.zeros_like(found), where=seen > 0)
    envelope = _segment_suffix_max(precision, hit_starts)
    return _segment_sums(gain * envelope, hit_starts)


# Segments: rows of a (K, R) array split into consecutive runs by ``starts`` -----------------------


def _segment_ids(starts: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(starts) - 1), np.diff(starts))


def _segment_cumsum(x: np.ndarray, starts: np.ndarray, ids: np.ndarray) -> np.ndarray:
    total = np.cumsum(x, axis=0)
    before = np.concatenate([np.zeros((1, x.shape[1])), total])[starts[:-1]]
    return total - before[ids]


def _segment_sums(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``(C, R)`` sums of each segment (0 for an empty one)."""
    out = np.zeros((len(starts) - 1, x.shape[1]))
    filled = np.flatnonzero(np.diff(starts))
    if filled.size:
        out[filled] = np.add.reduceat(x, starts[filled], axis=0)
    return out


def _segment_suffix_max(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Within each segment, the maximum of each row and all later ones."""
    out = np.empty_like(x)
    for lo, hi in pairwise(starts.tolist()):
        if hi > lo:
            out[lo:hi] = np.maximum.accumulate(x[lo:hi][::-1], axis=0)[::-1]
    return out


def _kept_starts(starts: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Segment offsets after filtering the segmented items by ``keep``."""
    return np.concatenate([[0], np.cumsum(keep)])[starts]


def _positions(counts: np.ndarray) -> np.ndarray:
    """``0..count-1`` for each count, concatenated."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


# Validation ---------------------------------------------------------------------------------------


def _detections(
    detections: ArrayLike, n_images: int, num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d = np.asarray(detections, dtype=np.float64)
    if d.size == 0:
        d = d.reshape(0, 7)
    if d.ndim != 2 or d.shape[1] != 7:
        raise ValueError(
            f"detections must be (M, 7) rows image, class, score, xmin, ymin, xmax, ymax; "
            f"got {d.shape}"
        )
    if not np.isfinite(d).all():
        row = int(np.argmin(np.isfinite(d).all(axis=1)))
        raise ValueError(f"detection {row} is not finite: {d[row].tolist()}")
    image, cls = d[:, 0], d[:, 1]
    bad = (image != np.round(image)) | (image < 0) | (image >= n_images)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"detection {row} names image {image[row]:g}, not one of 0..{n_images - 1}"
        )
    bad = (cls != np.round(cls)) | (cls < 0) | (cls >= num_classes)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"detection {row} names class {cls[row]:g}, not one of 0..{num_classes - 1}"
        )
    _check_boxes(d[:, 3:], "detection")
    return image.astype(np.int64), cls.astype(np.int64), d[:, 2], d[:, 3:]


def _ground_truth(
    gt_objects: Sequence[ArrayLike], num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ground-truth box's image ``(G,)``, class ``(G,)`` and box ``(G, 4)``."""
    arrays = [np.asarray(o, dtype=np.float64) for o in gt_objects]
    arrays = [a.reshape(0, 5) if a.size == 0 else a for a in arrays]
    if not all(a.ndim == 2 and a.shape[1] == 5 for a in arrays):
        shape = next(a.shape for a in arrays if a.ndim != 2 or a.shape[1] != 5)
        raise ValueError(
            f"gt_objects must hold (B_i, 5) arrays of rows class, xmin, ymin, xmax, ymax; "
            f"got {shape}"
        )
    counts = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
    gt = np.concatenate(arrays) if arrays else np.empty((0, 5))
    if not np.isfinite(gt).all():
        row = int(np.argmin(np.isfinite(gt).all(axis=1)))
        raise ValueError(f"ground-truth object {gt[row].tolist()} is not finite")
    cls = gt[:, 0]
    bad = (cls != np.round(cls)) | (cls < 0) | (cls >= num_classes)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"ground-truth object {gt[row].tolist()} has class {cls[row]:g}, not one of "
            f"0..{num_classes - 1}"
        )
    _check_boxes(gt[:, 1:], "ground-truth box")
    return np.repeat(np.arange(len(arrays)), counts), cls.astype(np.int64), gt[:, 1:]


def _check_boxes(boxes: np.ndarray, what: str) -> None:
    flipped = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if flipped.any():
        row = int(np.argmax(flipped))
        raise ValueError(f"{what} {row} has xmax < xmin or ymax < ymin: {boxes[row].tolist()}")
