"""What a detector predicts for one image: a leaf module that training, evaluation and
submissions share (it imports no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ImageDetections"]


@dataclass(frozen=True, slots=True)
class ImageDetections:
    """One image's detections, best score first.

    Boxes are ILSVRC's: 0-based inclusive pixel coordinates of the image as stored (before
    EXIF rotation), the convention of the catalog, the manifests and
    :mod:`synsetlab.metrics.detection`.
    """

    #: The image's sha256 (a manifest entry's key; the challenge's ImageId).
    sha256: str
    #: ``(N, 4)`` float64 ``xmin, ymin, xmax, ymax``.
    boxes: np.ndarray
    #: ``(N,)`` float64 confidences in [0, 1].
    scores: np.ndarray
    #: ``(N,)`` int64 indices into the detector's classes (its wnids, background excluded).
    labels: np.ndarray
