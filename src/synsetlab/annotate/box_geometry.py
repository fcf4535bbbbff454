"""Boxes as annotators give them: checked against the image, compared by IoU, perturbed for gold.

Boxes are ``(xmin, ymin, xmax, ymax)`` in 0-based inclusive pixels of the stored image, as
ILSVRC's files and the catalog's ``boxes`` hold them: the whole image of width W and height H
is ``(0, 0, W - 1, H - 1)``. Extreme clicking (Papadopoulos et al. 2017) gives the four
extreme points of an object (left-, top-, right-, bottom-most); the box is the one they span.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from synsetlab.annotate.errors import AnnotationError
from synsetlab.metrics.localization import box_iou

__all__ = [
    "GOOD_IOU",
    "BoxCorners",
    "best_iou",
    "check_box",
    "extreme_box",
    "perturbed",
]

BoxCorners = tuple[float, float, float, float]

#: IoU with a true box at which a drawn box counts as right. 0.7, not the detection metrics'
#: 0.5: people cannot tell boxes apart above about 0.7 (Papadopoulos et al. 2017 measured
#: expert drawers agreeing at 0.88 IoU on average, and ILSVRC's quality check asked for a
#: tight box, Su et al. 2012), while 0.5 passes a box twice the object's area.
GOOD_IOU = 0.7


def check_box(box: object, size: tuple[int, int], *, what: str = "the box") -> BoxCorners:
    """``box`` as four floats, refused (:class:`AnnotationError`) unless it lies in an image of
    ``size`` = (width, height), is not inverted, and has an area (not a point or a line)."""
    if isinstance(box, dict):
        keys = ("xmin", "ymin", "xmax", "ymax")
        if set(box) != set(keys):
            raise AnnotationError(
                f"{what} needs exactly the keys xmin, ymin, xmax, ymax, not {sorted(box)}"
            )
        box = [box[k] for k in keys]
    if not isinstance(box, Sequence) or isinstance(box, str) or len(box) != 4:
        raise AnnotationError(
            f"{what} is {box!r}: give [xmin, ymin, xmax, ymax] in pixels of the image"
        )
    values = []
    for v in box:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise AnnotationError(f"{what} is {list(box)!r}: its corners must be finite numbers")
        values.append(float(v))
    xmin, ymin, xmax, ymax = values
    width, height = size
    if xmax < xmin or ymax < ymin:
        raise AnnotationError(
            f"{what} {values} is inverted: xmin must be <= xmax and ymin <= ymax (top-left "
            "corner first)"
        )
    if xmax == xmin or ymax == ymin:
        raise AnnotationError(
            f"{what} {values} has no area (a point or a line): drag from one corner to the "
            "opposite one"
        )
    if xmin < 0 or ymin < 0 or xmax > width - 1 or ymax > height - 1:
        raise AnnotationError(
            f"{what} {values} lies outside the {width}x{height} image: corners are pixels from "
            f"0 to {width - 1} across and 0 to {height - 1} down"
        )
    return xmin, ymin, xmax, ymax


def extreme_box(points: object, size: tuple[int, int]) -> BoxCorners:
    """The box spanned by four extreme points ``[[x, y], ...]`` (any order), checked as
    :func:`check_box` checks a box."""
    if (
        not isinstance(points, Sequence)
        or len(points) != 4
        or not all(isinstance(p, Sequence) and len(p) == 2 for p in points)
    ):
        raise AnnotationError(
            f"extreme points {points!r}: give the four points [[x, y], ...] of the object's "
            "left-, top-, right- and bottom-most pixels"
        )
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    for v in (*xs, *ys):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise AnnotationError(f"extreme points {points!r}: coordinates must be finite numbers")
    return check_box([min(xs), min(ys), max(xs), max(ys)], size, what="the extreme points' box")


def best_iou(box: Sequence[float], others: Sequence[Sequence[float]]) -> tuple[float, int]:
    """The highest IoU of ``box`` with any of ``others``, and which (-1 and 0.0 if none)."""
    if len(others) == 0:
        return 0.0, -1
    ious = box_iou(np.asarray(box, dtype=float)[None, :], np.asarray(others, dtype=float))
    best = int(np.argmax(ious))
    return float(ious[best]), best


def perturbed(box: Sequence[float], size: tuple[int, int], rng: np.random.Generator) -> BoxCorners:
    """A bad copy of ``box`` for quality gold: grown loose or shifted off the object, clipped
    to the image, with IoU below :data:`GOOD_IOU` to the original where the image allows."""
    width, height = size
    xmin, ymin, xmax, ymax = (float(v) for v in box)
    w, h = xmax - xmin + 1, ymax - ymin + 1
    out = (xmin, ymin, xmax, ymax)
    for _ in range(20):
        if rng.random() < 0.5:  # loose: 1.6 to 2.2 times each side
            gx, gy = (rng.uniform(0.3, 0.6) * w, rng.uniform(0.3, 0.6) * h)
            cand = (xmin - gx, ymin - gy, xmax + gx, ymax + gy)
        else:  # shifted by half to one side
            dx = rng.choice([-1, 1]) * rng.uniform(0.4, 0.9) * w
            dy = rng.choice([-1, 1]) * rng.uniform(0.0, 0.5) * h
            cand = (xmin + dx, ymin + dy, xmax + dx, ymax + dy)
        cand = (
            float(np.clip(round(cand[0]), 0, width - 2)),
            float(np.clip(round(cand[1]), 0, height - 2)),
            float(np.clip(round(cand[2]), 1, width - 1)),
            float(np.clip(round(cand[3]), 1, height - 1)),
        )
        if cand[2] > cand[0] and cand[3] > cand[1]:
            out = cand
            if best_iou(cand, [box])[0] < GOOD_IOU:
                break
    return out
