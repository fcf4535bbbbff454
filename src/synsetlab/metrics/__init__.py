"""Metrics: pure functions over numpy arrays, shared by training, evaluation and
challenge scoring.

>>> import numpy as np
>>> from synsetlab.metrics import topk_error
>>> scores = np.array([[0.7, 0.2, 0.1], [0.5, 0.1, 0.4]])
>>> topk_error(scores, np.array([0, 2]), k=1)
0.5
>>> topk_error(scores, np.array([0, 2]), k=2)
0.0

Localization (:mod:`~synsetlab.metrics.localization`), detection's mean AP
(:mod:`~synsetlab.metrics.detection`) and error intervals
(:mod:`~synsetlab.metrics.intervals`) follow the same conventions. The figures live in
:mod:`synsetlab.metrics.plots`, imported on demand so that scoring does not load matplotlib.
"""

from synsetlab.metrics.classification import (
    ClassificationReport,
    MistakeSeverity,
    ReliabilityBins,
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    mistake_severity,
    per_class_accuracy,
    reliability_bins,
    topk_correct,
    topk_error,
    topk_predictions,
)
from synsetlab.metrics.detection import (
    DETECTION_IOU_THRESHOLD,
    DetectionMatches,
    average_precision,
    detection_thresholds,
    match_detections,
    mean_ap_interval,
    mean_average_precision,
)
from synsetlab.metrics.intervals import bootstrap_interval, intervals_overlap
from synsetlab.metrics.localization import (
    IOU_THRESHOLD,
    box_iou,
    localization_correct,
    localization_error,
)

__all__ = [
    "DETECTION_IOU_THRESHOLD",
    "IOU_THRESHOLD",
    "ClassificationReport",
    "DetectionMatches",
    "MistakeSeverity",
    "ReliabilityBins",
    "average_precision",
    "bootstrap_interval",
    "box_iou",
    "classification_report",
    "confusion_matrix",
    "detection_thresholds",
    "expected_calibration_error",
    "intervals_overlap",
    "localization_correct",
    "localization_error",
    "match_detections",
    "mean_ap_interval",
    "mean_average_precision",
    "mistake_severity",
    "per_class_accuracy",
    "reliability_bins",
    "topk_correct",
    "topk_error",
    "topk_predictions",
]
