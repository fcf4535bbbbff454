"""ILSVRC classification-with-localization from a detector: five guesses per image, each a
class and a box, and their top-5 localization error.

Two ways to guess:

- **classifier + detector** (:func:`classifier_guesses`): a classifier's five best classes,
  each with the detector's highest-scoring box of that class in the image. When the detector
  found nothing of a class, the guess's box is the whole image (``0, 0, width - 1, height -
  1``): a guess needs a box, and the whole image is the box that is right most often for a
  class the classifier believes in but the detector missed (an object filling the frame).
- **detector alone** (:func:`detector_guesses`): the five classes with the highest detection
  scores in the image (each class's best score), each with its best box. An image where the
  detector found fewer than five classes gets fewer guesses (-1 and NaN boxes, as a parsed
  submission holds them): the rest count as wrong, as ILSVRC counts missing guesses.

Scored with :func:`synsetlab.metrics.localization.localization_correct` against each image's
label and the boxes of its class (:class:`~synsetlab.detect.evaluate.GroundTruth`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synsetlab.detect.evaluate import DetectionEvaluationError, GroundTruth, SplitImages
from synsetlab.detect.records import ImageDetections
from synsetlab.metrics.localization import localization_correct

__all__ = [
    "GUESSES",
    "LocalizationGuesses",
    "LocalizationResult",
    "best_boxes",
    "classifier_guesses",
    "detector_guesses",
    "localization_result",
    "whole_image_boxes",
]

#: Guesses per image, as ILSVRC scores.
GUESSES = 5


@dataclass(frozen=True, eq=False)
class LocalizationGuesses:
    """Every image's guesses, best first; row ``i`` is the split's image ``i``."""

    #: ``(N, 5)`` int64 class indices; -1 where no guess.
    labels: np.ndarray
    #: ``(N, 5, 4)`` float64 boxes ``xmin, ymin, xmax, ymax`` (0-based inclusive pixels);
    #: NaN where no guess.
    boxes: np.ndarray


def whole_image_boxes(images: SplitImages) -> np.ndarray:
    """``(N, 4)`` each image's whole frame as an inclusive box: ``0, 0, w - 1, h - 1``."""
    w, h = images.sizes[:, 0], images.sizes[:, 1]
    zero = np.zeros(images.n_images)
    return np.column_stack([zero, zero, w - 1, h - 1]).astype(np.float64)


def best_boxes(aligned: Sequence[ImageDetections], num_classes: int) -> tuple[np.ndarray, ...]:
    """Each image's best detection of every class: ``(N, C)`` float64 best score (-inf where
    none) and ``(N, C, 4)`` its box (NaN where none).

    Args:
        aligned: one per image, in row order
            (:func:`~synsetlab.detect.evaluate.align_detections`).
        num_classes: ``C``.
    """
    n = len(aligned)
    score = np.full((n, num_classes), -np.inf)
    boxes = np.full((n, num_classes, 4), np.nan)
    for row, d in enumerate(aligned):
        labels = np.asarray(d.labels, dtype=np.int64).reshape(-1)
        if not len(labels):
            continue
        if labels.min() < 0 or labels.max() >= num_classes:
            raise DetectionEvaluationError(
                f"a detection of image {d.sha256[:16]}... names class {int(labels.max())}, "
                f"not one of 0..{num_classes - 1}"
            )
        scores = np.asarray(d.scores, dtype=np.float64).reshape(-1)
        b = np.asarray(d.boxes, dtype=np.float64).reshape(-1, 4)
        # Per class, the highest score; ties go to the detection listed first.
        order = np.lexsort((np.arange(len(labels)), -scores, labels))
        first = np.r_[True, labels[order][1:] != labels[order][:-1]]
        best = order[first]
        score[row, labels[best]] = scores[best]
        boxes[row, labels[best]] = b[best]
    return score, boxes


def classifier_guesses(
    top_classes: np.ndarray,
    aligned: Sequence[ImageDetections],
    images: SplitImages,
    *,
    num_classes: int,
) -> LocalizationGuesses:
    """A classifier's best classes, each with the detector's best box of it (the whole image
    where the detector found none; module docstring).

    Args:
        top_classes: ``(N, k)`` int64 class indices best first, ``k >= 1`` (the first five
            are used); row ``i`` is ``images.image_ids[i]``.
        aligned: the detector's detections, one per image in the same order.
        images: the split's images (their sizes give the whole-image boxes).
        num_classes: classes of the classifier and the detector (the version's).
    """
    top = np.asarray(top_classes)
    n = images.n_images
    if top.ndim != 2 or top.shape[0] != n or len(aligned) != n:
        raise ValueError(
            f"top_classes {top.shape} and {len(aligned)} detections must have a row for each "
            f"of the {n} images"
        )
    if top.size and (top.min() < 0 or top.max() >= num_classes):
        raise ValueError(f"top_classes must be class indices in [0, {num_classes})")
    k = min(GUESSES, top.shape[1])
    _, best = best_boxes(aligned, num_classes)
    labels = np.full((n, GUESSES), -1, dtype=np.int64)
    labels[:, :k] = top[:, :k]
    boxes = np.full((n, GUESSES, 4), np.nan)
    rows = np.arange(n)[:, None]
    boxes[:, :k] = best[rows, labels[:, :k]]
    missing = np.isnan(boxes[:, :k]).any(axis=2)
    whole = np.broadcast_to(whole_image_boxes(images)[:, None, :], (n, k, 4))
    boxes[:, :k][missing] = whole[missing]
    return LocalizationGuesses(labels=labels, boxes=boxes)


def detector_guesses(
    aligned: Sequence[ImageDetections], *, num_classes: int
) -> LocalizationGuesses:
    """The detector alone: each image's five classes of highest detection score, each with
    its best box; fewer where it found fewer classes (module docstring)."""
    score, best = best_boxes(aligned, num_classes)
    n = len(aligned)
    k = min(GUESSES, num_classes)
    # Highest score first; ties to the lower class index (a stable sort of -score).
    order = np.argsort(-score, axis=1, kind="stable")[:, :k]
    found = np.isfinite(np.take_along_axis(score, order, axis=1))
    labels = np.full((n, GUESSES), -1, dtype=np.int64)
    labels[:, :k] = np.where(found, order, -1)
    boxes = np.full((n, GUESSES, 4), np.nan)
    boxes[:, :k] = np.where(found[..., None], best[np.arange(n)[:, None], order], np.nan)
    return LocalizationGuesses(labels=labels, boxes=boxes)


@dataclass(frozen=True)
class LocalizationResult:
    """Top-5 localization error and what it was computed over."""

    #: ILSVRC top-5 localization error over the images with a box of their class.
    error: float
    #: Top-5 classification error of the same guesses over the same images.
    top5_error: float
    #: Images scored.
    images: int
    #: Images left out: no ground-truth box of their own class, so never localisable.
    images_without_boxes: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "localization_error": self.error,
            "top5_error": self.top5_error,
            "images": self.images,
            "images_without_boxes": self.images_without_boxes,
        }


def localization_result(guesses: LocalizationGuesses, truth: GroundTruth) -> LocalizationResult:
    """The top-5 localization error of ``guesses`` on a labelled split.

    Images without a ground-truth box of their own class are left out (the challenge refuses
    a test split with such images; here they are counted in ``images_without_boxes``).

    Raises:
        DetectionEvaluationError: no image of the split has a box of its class.
    """
    has = np.array([len(b) > 0 for b in truth.label_boxes], dtype=np.bool_)
    if not has.any():
        raise DetectionEvaluationError(
            f"none of the {truth.n_images} images has a box of its own class: localization "
            "needs them (draw or ingest boxes and freeze a new version)"
        )
    labels, boxes, y = guesses.labels[has], guesses.boxes[has], truth.labels[has]
    gt = [b for b, keep in zip(truth.label_boxes, has.tolist(), strict=True) if keep]
    correct = localization_correct(labels, boxes, y, gt, k=GUESSES)
    classified = (labels == y[:, None]).any(axis=1)
    return LocalizationResult(
        error=float(1.0 - correct.mean()),
        top5_error=float(1.0 - classified.mean()),
        images=int(has.sum()),
        images_without_boxes=int((~has).sum()),
    )
