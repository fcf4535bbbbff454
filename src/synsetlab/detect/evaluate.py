"""Scoring a detector's predictions on a version's split: ILSVRC DET mean AP and COCO mAP side
by side, per class, and the files an evaluation leaves beside its checkpoint.

Pure functions over :class:`~synsetlab.detect.records.ImageDetections` and a split's ground
truth; nothing here runs a model.

- **ILSVRC DET** (:mod:`synsetlab.metrics.detection`): each ground-truth box needs IoU
  ``min(0.5, w h / ((w + 10) (h + 10)))``, APs over all points of the precision envelope, and
  a percentile bootstrap interval of the mean over images.
- **COCO** (pycocotools' ``COCOeval``, built in memory): AP averaged over IoU 0.50:0.05:0.95
  and 101 recall points, AP50, AP75, and AP by object area (small < 32², medium < 96²,
  large; ``None`` where the split has no object of that size). COCOeval keeps at most 100
  detections of a class per image.

Both average over the classes that have at least one ground-truth box in the split: a class
without one has no AP (NaN in the per-class table), whatever was detected of it, and does not
enter either mean. An image without ground-truth boxes still counts: its detections are false
positives.

Ground truth follows the challenge's answer key (:func:`synsetlab.challenge.answers.answer_key`):
one row per distinct image (sha256), rows sorted by sha256; an image's objects are its boxes
of the version's classes under the class each was drawn as, each distinct box once, sorted.
The same predictions therefore get the same DET mean AP here as from the challenge scorer.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synsetlab.atomic import atomic_file
from synsetlab.detect.records import ImageDetections
from synsetlab.errors import UserError
from synsetlab.manifest import Manifest, ManifestEntry
from synsetlab.metrics.detection import DetectionMatches, match_detections, mean_ap_interval

__all__ = [
    "COCO_AREAS",
    "ClassResult",
    "DetectionEvaluationError",
    "DetectorEvaluation",
    "GroundTruth",
    "SplitImages",
    "align_detections",
    "check_classes",
    "coco_metrics",
    "det_matches",
    "detection_rows",
    "detector_evaluation_dir",
    "evaluate_detections",
    "ground_truth",
    "split_images",
    "to_coco_xywh",
    "write_detector_evaluation",
]

#: COCO's area ranges in square pixels of the stored image: ``(name, low, high)``.
COCO_AREAS = (("small", 0.0, 32.0**2), ("medium", 32.0**2, 96.0**2), ("large", 96.0**2, 1e10))
#: Bootstrap resamples of the DET mean AP interval (as the challenge scorer draws).
INTERVAL_RESAMPLES = 200


class DetectionEvaluationError(UserError, ValueError):
    """Detections or a split that cannot be scored as asked (hidden labels, no boxes, other
    classes, images of another split); the message says what to do instead."""


# The split ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SplitImages:
    """The distinct images of a split, sorted by sha256 (the challenge's ``ImageId`` order),
    with their stored sizes: all a submission writer may know of a hidden test split."""

    #: Sorted, unique sha256 of the images.
    image_ids: tuple[str, ...]
    #: ``(N, 2)`` int64 ``width, height`` of each image as stored (boxes' pixel space).
    sizes: np.ndarray

    @property
    def n_images(self) -> int:
        return len(self.image_ids)


@dataclass(frozen=True, eq=False)
class GroundTruth(SplitImages):
    """A labelled split's answers, row ``i`` being ``image_ids[i]``."""

    #: The version's classes (sorted wnids): class ``c`` is ``classes[c]``.
    classes: tuple[str, ...] = ()
    #: Per image, ``(B_i, 5)`` float64 ``class, xmin, ymin, xmax, ymax`` (0-based inclusive
    #: pixels): every box of one of ``classes`` (detection's ground truth).
    objects: tuple[np.ndarray, ...] = ()
    #: ``(N,)`` int64 class of each image (its label, for localization).
    labels: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    #: Per image, ``(B_i, 4)`` float64 boxes of the image's own class (localization's ground
    #: truth, as the challenge's answer key keeps them); ``(0, 4)`` when it has none.
    label_boxes: tuple[np.ndarray, ...] = ()

    @property
    def n_objects(self) -> int:
        return sum(len(o) for o in self.objects)


def split_images(manifest: Manifest, split: str) -> SplitImages:
    """The distinct images of ``split`` and their sizes; labels and boxes are not read, so a
    hidden test split is fine here."""
    groups = _groups(manifest, split)
    ids = tuple(sorted(groups))
    sizes = np.array([[groups[i][0].width, groups[i][0].height] for i in ids], dtype=np.int64)
    return SplitImages(image_ids=ids, sizes=sizes.reshape(-1, 2))


def ground_truth(manifest: Manifest, split: str) -> GroundTruth:
    """The labels and boxes of a labelled split (rules: module docstring).

    Raises:
        DetectionEvaluationError: the split is empty, or its labels are hidden.
    """
    groups = _groups(manifest, split)
    if any(e.hidden for group in groups.values() for e in group):
        raise DetectionEvaluationError(
            f"the {split!r} split's labels are hidden: only the challenge scorer reads them; "
            "evaluate on val, or make a submission (synsetlab submission --task detection)"
        )
    index = manifest.class_index
    ids = tuple(sorted(groups))
    objects, labels, label_boxes = [], [], []
    for image_id in ids:
        group = groups[image_id]
        first = group[0]  # copies filed under two classes: the first entry's class
        found = {
            (index[b.wnid], b.xmin, b.ymin, b.xmax, b.ymax)
            for e in group
            for b in e.boxes
            if b.wnid in index
        }
        own = {
            (b.xmin, b.ymin, b.xmax, b.ymax)
            for e in group
            for b in e.boxes
            if b.wnid in (first.wnid, e.relabelled_from)
        }
        objects.append(np.array(sorted(found), dtype=np.float64).reshape(-1, 5))
        label_boxes.append(np.array(sorted(own), dtype=np.float64).reshape(-1, 4))
        labels.append(index.get(first.wnid, -1))
    sizes = np.array([[groups[i][0].width, groups[i][0].height] for i in ids], dtype=np.int64)
    return GroundTruth(
        image_ids=ids,
        sizes=sizes.reshape(-1, 2),
        classes=tuple(manifest.classes),
        objects=tuple(objects),
        labels=np.array(labels, dtype=np.int64),
        label_boxes=tuple(label_boxes),
    )


def _groups(manifest: Manifest, split: str) -> dict[str, list[ManifestEntry]]:
    """sha256 -> the split's entries holding those bytes (copies are one image)."""
    groups: dict[str, list[ManifestEntry]] = {}
    for entry in manifest.split(split):
        groups.setdefault(entry.sha256, []).append(entry)
    if not groups:
        present = ", ".join(manifest.splits) or "none"
        raise DetectionEvaluationError(
            f"split {split!r} of this version has no images (splits: {present}): give one of those"
        )
    return groups


def check_classes(classes: Sequence[str], manifest: Manifest) -> None:
    """Refuse a detector whose classes (wnids, in its label order) are not the version's."""
    if tuple(classes) != tuple(manifest.classes):
        shared = len(set(classes) & set(manifest.classes))
        raise DetectionEvaluationError(
            f"the detector predicts {len(classes)} classes and the version has "
            f"{len(manifest.classes)} ({shared} shared): use a version with the detector's "
            "classes, or train a detector on this one (synsetlab train-detector)"
        )


# Detections as arrays -----------------------------------------------------------------------------


def align_detections(
    detections: Sequence[ImageDetections], images: SplitImages
) -> list[ImageDetections]:
    """One :class:`ImageDetections` per row of ``images``, in its order.

    ``detections`` may name an image more than once (copies of one file in the split, as
    ``predict_split`` gives one per manifest entry); the first is kept.

    Raises:
        DetectionEvaluationError: an image of another split, or an image with none.
    """
    row_of = {image_id: i for i, image_id in enumerate(images.image_ids)}
    rows: list[ImageDetections | None] = [None] * images.n_images
    for d in detections:
        row = row_of.get(d.sha256)
        if row is None:
            raise DetectionEvaluationError(
                f"detections of image {d.sha256[:16]}..., which is not in the split: predict "
                "the split you score"
            )
        if rows[row] is None:
            rows[row] = d
    missing = [images.image_ids[i] for i, d in enumerate(rows) if d is None]
    if missing:
        raise DetectionEvaluationError(
            f"{len(missing)} of {images.n_images} images have no detections (e.g. "
            f"{missing[0][:16]}...): give an ImageDetections, possibly empty, for every image"
        )
    return rows  # type: ignore[return-value]  # no None left


def detection_rows(aligned: Sequence[ImageDetections], *, num_classes: int) -> np.ndarray:
    """``(M, 7)`` float64 rows ``image_row, class, score, xmin, ymin, xmax, ymax`` of every
    detection, image by image in row order and within an image as given (what
    :func:`~synsetlab.metrics.detection.match_detections` and a parsed submission hold).

    Raises:
        DetectionEvaluationError: a class index outside ``0..num_classes-1``, a score or
            coordinate that is not finite, or a box with ``xmax < xmin`` or ``ymax < ymin``.
    """
    parts = []
    for row, d in enumerate(aligned):
        boxes = np.asarray(d.boxes, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        scores = np.asarray(d.scores, dtype=np.float64).reshape(-1)
        labels = np.asarray(d.labels).reshape(-1)
        if len(scores) != n or len(labels) != n:
            raise DetectionEvaluationError(
                f"image {d.sha256[:16]}... has {n} boxes, {len(scores)} scores and "
                f"{len(labels)} labels: give one of each per detection"
            )
        parts.append(np.column_stack([np.full(n, row), labels, scores, boxes]))
    out = np.concatenate(parts) if parts else np.empty((0, 7))
    _check_rows(out, aligned, num_classes)
    return out


def _check_rows(rows: np.ndarray, aligned: Sequence[ImageDetections], num_classes: int) -> None:
    def where(i: int) -> str:
        return f"a detection of image {aligned[int(rows[i, 0])].sha256[:16]}..."

    cls = rows[:, 1]
    bad = (cls != np.round(cls)) | (cls < 0) | (cls >= num_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise DetectionEvaluationError(
            f"{where(i)} has class {cls[i]:g}, not one of 0..{num_classes - 1}"
        )
    finite = np.isfinite(rows[:, 2:]).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise DetectionEvaluationError(f"{where(i)} has a score or box that is not finite")
    flipped = (rows[:, 5] < rows[:, 3]) | (rows[:, 6] < rows[:, 4])
    if flipped.any():
        i = int(np.argmax(flipped))
        raise DetectionEvaluationError(
            f"{where(i)} has xmax < xmin or ymax < ymin: {rows[i, 3:].tolist()} (boxes are "
            "0-based inclusive pixels xmin, ymin, xmax, ymax)"
        )


# COCO ---------------------------------------------------------------------------------------------


def to_coco_xywh(boxes: np.ndarray) -> np.ndarray:
    """ILSVRC boxes ``xmin, ymin, xmax, ymax`` (inclusive pixels: box ``0 0 9 9`` covers 10 x
    10 pixels) as COCO's ``x, y, width, height`` in continuous coordinates, where that box
    is ``0 0 10 10``: ``width = xmax - xmin + 1``. With this +1 COCO's IoU of two boxes is the
    ILSVRC devkit's, and a box's area its pixel count.

    Args:
        boxes: ``(..., 4)``.

    Returns:
        ``(..., 4)`` float64.
    """
    b = np.asarray(boxes, dtype=np.float64)
    out = b.copy()
    out[..., 2] = b[..., 2] - b[..., 0] + 1
    out[..., 3] = b[..., 3] - b[..., 1] + 1
    return out


@dataclass(frozen=True)
class CocoResult:
    """COCO's box metrics; a value is None where the split has no object it could score."""

    #: AP at IoU .50:.05:.95, averaged over classes with objects.
    map: float
    ap50: float
    ap75: float
    ap_small: float | None
    ap_medium: float | None
    ap_large: float | None
    #: Average recall, at most 100 detections per image and class.
    ar100: float
    #: ``(C,)`` per-class AP@[.5:.95]; NaN for a class without objects.
    per_class: np.ndarray
    #: ``(C,)`` per-class AP50; NaN for a class without objects.
    per_class_ap50: np.ndarray

    def to_dict(self) -> dict[str, float | None]:
        return {
            "map": self.map,
            "ap50": self.ap50,
            "ap75": self.ap75,
            "ap_small": self.ap_small,
            "ap_medium": self.ap_medium,
            "ap_large": self.ap_large,
            "ar100": self.ar100,
        }


def coco_metrics(rows: np.ndarray, truth: GroundTruth) -> CocoResult:
    """COCO box AP of detections (``(M, 7)`` rows of :func:`detection_rows`) on ``truth``,
    with pycocotools' ``COCOeval`` over a ``COCO`` built in memory (no files).

    Image ``i`` is COCO image ``i + 1`` and class ``c`` category ``c + 1``; boxes are
    converted with :func:`to_coco_xywh`.

    Raises:
        DetectionEvaluationError: the split has no ground-truth object.
    """
    from pycocotools.coco import COCO  # a heavy import, only for evaluation
    from pycocotools.cocoeval import COCOeval

    c = len(truth.classes)
    if truth.n_objects == 0:
        raise _no_objects(truth)
    gt_rows = np.concatenate([o for o in truth.objects if len(o)])
    gt_image = np.repeat(np.arange(truth.n_images), [len(o) for o in truth.objects])
    xywh = to_coco_xywh(gt_rows[:, 1:])
    annotations = [
        {
            "id": k + 1,
            "image_id": int(image) + 1,
            "category_id": int(cls) + 1,
            "bbox": box,
            "area": box[2] * box[3],
            "iscrowd": 0,
        }
        for k, (image, cls, box) in enumerate(
            zip(gt_image.tolist(), gt_rows[:, 0].tolist(), xywh.tolist(), strict=True)
        )
    ]
    w, h = truth.sizes.T.tolist() if truth.n_images else ([], [])
    images = [{"id": i + 1, "width": int(w[i]), "height": int(h[i])} for i in range(truth.n_images)]
    categories = [{"id": k + 1, "name": wnid} for k, wnid in enumerate(truth.classes)]
    quiet = contextlib.redirect_stdout(io.StringIO())  # pycocotools prints as it goes
    with quiet:
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations, "categories": categories}
        gt.createIndex()
        if len(rows) == 0:
            zeros = np.where(_has_objects(truth), 0.0, np.nan)
            areas = _area_counts(gt_rows)
            return CocoResult(
                map=0.0, ap50=0.0, ap75=0.0, ap_small=0.0 if areas[0] else None,
                ap_medium=0.0 if areas[1] else None, ap_large=0.0 if areas[2] else None,
                ar100=0.0, per_class=zeros, per_class_ap50=zeros.copy(),
            )  # fmt: skip
        # loadRes's numpy form: image, x, y, w, h, score, category.
        results = np.column_stack(
            [rows[:, 0] + 1, to_coco_xywh(rows[:, 3:]), rows[:, 2], rows[:, 1] + 1]
        )
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, iouType="bbox")
        evaluator.params.areaRngLbl = ["all", *(name for name, _, _ in COCO_AREAS)]
        evaluator.params.areaRng = [[0.0, 1e10], *([lo, hi] for _, lo, hi in COCO_AREAS)]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    # precision: (IoU thresholds, recall points, classes, areas, max detections); -1 = no
    # objects. Area 0 is "all", max detections 2 is 100.
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    per_class = np.full(c, np.nan)
    per_class_ap50 = np.full(c, np.nan)
    for k in range(c):
        p = precision[:, :, k]
        if (p > -1).any():
            per_class[k] = float(p[p > -1].mean())
            p50 = p[0]
            per_class_ap50[k] = float(p50[p50 > -1].mean())

    def stat(i: int) -> float | None:
        return None if stats[i] < 0 else float(stats[i])

    return CocoResult(
        map=float(stats[0]), ap50=float(stats[1]), ap75=float(stats[2]),
        ap_small=stat(3), ap_medium=stat(4), ap_large=stat(5), ar100=float(stats[8]),
        per_class=per_class, per_class_ap50=per_class_ap50,
    )  # fmt: skip


def _area_counts(gt_rows: np.ndarray) -> list[int]:
    xywh = to_coco_xywh(gt_rows[:, 1:])
    area = xywh[:, 2] * xywh[:, 3]
    return [int(((area >= lo) & (area < hi)).sum()) for _, lo, hi in COCO_AREAS]


def _has_objects(truth: GroundTruth) -> np.ndarray:
    counts = np.zeros(len(truth.classes), dtype=np.int64)
    for o in truth.objects:
        np.add.at(counts, o[:, 0].astype(np.int64), 1)
    return counts > 0


def _no_objects(truth: GroundTruth) -> DetectionEvaluationError:
    return DetectionEvaluationError(
        f"none of the {truth.n_images} images of the split has a box of the version's classes: "
        "draw boxes (synsetlab annotate create --kind boxes) or ingest them, and freeze a "
        "new version"
    )


# The evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassResult:
    """One class's row of the per-class table."""

    wnid: str
    #: Ground-truth boxes of the class in the split.
    objects: int
    #: Detections of the class.
    detections: int
    #: ILSVRC DET AP; NaN without objects.
    det_ap: float
    #: COCO AP@[.5:.95] and AP50; NaN without objects.
    coco_ap: float
    coco_ap50: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "wnid": self.wnid,
            "objects": self.objects,
            "detections": self.detections,
            "det_ap": _finite(self.det_ap),
            "coco_ap": _finite(self.coco_ap),
            "coco_ap50": _finite(self.coco_ap50),
        }


@dataclass(frozen=True)
class DetectorEvaluation:
    """A detector's scores on a split: ILSVRC DET and COCO side by side, and per class."""

    n_images: int
    n_objects: int
    n_detections: int
    #: ILSVRC DET mean AP over the classes with objects.
    det_map: float
    #: Its 95% percentile bootstrap interval over images (None when not asked for).
    det_map_interval: tuple[float, float] | None
    coco: CocoResult
    #: One row per class of the version, in class order.
    classes: tuple[ClassResult, ...]

    @property
    def scored_classes(self) -> int:
        """Classes with objects: those both means average over."""
        return sum(c.objects > 0 for c in self.classes)

    def worst(self, n: int = 5) -> list[ClassResult]:
        """The ``n`` scored classes with the lowest DET AP (then COCO AP), worst first."""
        scored = [c for c in self.classes if c.objects > 0]
        return sorted(scored, key=lambda c: (c.det_ap, c.coco_ap, c.wnid))[:n]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"images", "objects", "detections", "scored_classes", "det":
        {"map", "low", "high"}, "coco": {"map", "ap50", "ap75", "ap_small", "ap_medium",
        "ap_large", "ar100"}, "per_class": [...]}``; NaN is written as null."""
        low, high = self.det_map_interval or (None, None)
        return {
            "images": self.n_images,
            "objects": self.n_objects,
            "detections": self.n_detections,
            "scored_classes": self.scored_classes,
            "det": {"map": _finite(self.det_map), "low": _finite(low), "high": _finite(high)},
            "coco": self.coco.to_dict(),
            "per_class": [c.to_dict() for c in self.classes],
        }


def det_matches(rows: np.ndarray, truth: GroundTruth) -> DetectionMatches:
    """ILSVRC DET matching of ``rows`` (:func:`detection_rows`) against ``truth``."""
    return match_detections(rows, truth.objects, num_classes=len(truth.classes))


def evaluate_detections(
    detections: Sequence[ImageDetections], truth: GroundTruth, *, interval: bool = True
) -> DetectorEvaluation:
    """ILSVRC DET and COCO metrics of a detector's predictions on a labelled split.

    Args:
        detections: at least one per image of ``truth`` (:func:`align_detections`); labels
            index ``truth.classes``.
        truth: from :func:`ground_truth`.
        interval: also the bootstrap interval of the DET mean AP (200 resamples, seed 0, as
            the challenge scorer).

    Raises:
        DetectionEvaluationError: detections that do not fit the split (see
            :func:`align_detections`, :func:`detection_rows`), or a split without objects.
    """
    if truth.n_objects == 0:
        raise _no_objects(truth)
    aligned = align_detections(detections, truth)
    c = len(truth.classes)
    rows = detection_rows(aligned, num_classes=c)
    matches = det_matches(rows, truth)
    det_ap = matches.average_precision()
    det_map = float(matches.mean_ap())
    bounds = None
    if interval:
        bounds = mean_ap_interval(matches, resamples=INTERVAL_RESAMPLES, seed=0)
    coco = coco_metrics(rows, truth)
    objects = np.zeros(c, dtype=np.int64)
    for o in truth.objects:
        np.add.at(objects, o[:, 0].astype(np.int64), 1)
    found = np.bincount(rows[:, 1].astype(np.int64), minlength=c)
    per_class = tuple(
        ClassResult(
            wnid=wnid,
            objects=int(objects[k]),
            detections=int(found[k]),
            det_ap=float(det_ap[k]),
            coco_ap=float(coco.per_class[k]),
            coco_ap50=float(coco.per_class_ap50[k]),
        )
        for k, wnid in enumerate(truth.classes)
    )
    return DetectorEvaluation(
        n_images=truth.n_images,
        n_objects=truth.n_objects,
        n_detections=len(rows),
        det_map=det_map,
        det_map_interval=bounds,
        coco=coco,
        classes=per_class,
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


# Files --------------------------------------------------------------------------------------------


def detector_evaluation_dir(checkpoint: Path | str, version: str, split: str) -> Path:
    """Where an evaluation's files go by default: ``eval-VERSION-SPLIT/`` beside the
    checkpoint, as ``synsetlab evaluate`` lays out a classifier's."""
    return Path(checkpoint).parent / f"eval-{version}-{split}"


def write_detector_evaluation(
    evaluation: DetectorEvaluation,
    out_dir: Path,
    *,
    split: str,
    extra: dict[str, Any] | None = None,
    names: Sequence[str] | None = None,
) -> list[Path]:
    """Write ``metrics.json`` (the evaluation, the split and ``extra``: checkpoint, version),
    ``per_class.csv`` (a row per class: wnid, name, objects, detections, det_ap, coco_ap,
    coco_ap50; empty where a class has no objects) and ``per_class_ap.png`` (the scored
    classes' DET and COCO APs as bars, worst first) to ``out_dir``, each atomically.

    Args:
        names: a display name per class ("circle n13873502"); the wnids when None.

    Returns:
        The paths written.
    """
    from synsetlab.detect.plots import plot_class_ap  # matplotlib, only when writing

    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(names) if names is not None else [c.wnid for c in evaluation.classes]
    document = {"task": "detection", "split": split, **evaluation.to_dict(), **(extra or {})}
    metrics = out_dir / "metrics.json"
    with atomic_file(metrics, "w", encoding="utf-8") as f:
        f.write(json.dumps(document, indent=1, allow_nan=False))
    table = out_dir / "per_class.csv"
    with atomic_file(table, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["wnid", "name", "objects", "detections", "det_ap", "coco_ap", "coco_ap50"])
        for row, name in zip(evaluation.classes, names, strict=True):
            writer.writerow(
                [row.wnid, name, row.objects, row.detections,
                 *(_cell(v) for v in (row.det_ap, row.coco_ap, row.coco_ap50))]
            )  # fmt: skip
    plot = plot_class_ap(evaluation, names, out_dir / "per_class_ap.png")
    return [metrics, table, plot]


def _cell(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6f}"
