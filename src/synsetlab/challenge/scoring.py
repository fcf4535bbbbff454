"""Scores of a parsed submission on each partition of the answer key, with 95% intervals.

Classification and localization: each image's correctness is computed once per metric with
the library's metric functions (:func:`~synsetlab.metrics.topk_correct`,
:func:`~synsetlab.metrics.localization_correct`); a partition's score is the error over its
images and the percentile bootstrap interval of that error
(:func:`~synsetlab.metrics.bootstrap_interval`). Lower is better for these.

Detection: a partition's score is the ILSVRC DET mean AP of its images
(:mod:`synsetlab.metrics.detection`; detections are matched once, per image), and its
interval a percentile bootstrap over the partition's images: :data:`MEAN_AP_RESAMPLES`
resamples drawn by ``np.random.default_rng(MEAN_AP_SEED)``, so the same submission always
gets the same interval (:func:`~synsetlab.metrics.mean_ap_interval` says how it is
bias-corrected). Higher is better (:data:`HIGHER_IS_BETTER`). There is no per-image
correctness for detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synsetlab.challenge.answers import AnswerKey
from synsetlab.challenge.formats import MAX_GUESSES, Predictions, check_task
from synsetlab.metrics.classification import topk_correct
from synsetlab.metrics.detection import DetectionMatches, match_detections, mean_ap_interval
from synsetlab.metrics.intervals import bootstrap_interval
from synsetlab.metrics.localization import localization_correct

__all__ = [
    "HIGHER_IS_BETTER",
    "INTERVAL_LEVEL",
    "MEAN_AP_RESAMPLES",
    "MEAN_AP_SEED",
    "METRIC_NAMES",
    "PRIMARY_METRIC",
    "MetricValue",
    "PartitionScore",
    "image_correct",
    "lower_is_better",
    "partition_scores",
    "score_submission",
]

#: The metric each task ranks by, as in ILSVRC: top-5 error for classification, top-5
#: localization error for localization, mean AP for detection.
PRIMARY_METRIC = {
    "classification": "top5_error",
    "localization": "localization_error",
    "detection": "mean_ap",
}
#: Metrics where a larger value is better; every other metric is an error rate.
HIGHER_IS_BETTER = frozenset({"mean_ap"})


def lower_is_better(task: str) -> bool:
    """Whether ``task``'s ranking metric is an error (lower is better) or mean AP (higher)."""
    return PRIMARY_METRIC[task] not in HIGHER_IS_BETTER


#: How people write each metric.
METRIC_NAMES = {
    "top1_error": "top-1 error",
    "top5_error": "top-5 error",
    "localization_error": "localization error",
    "mean_ap": "mean AP",
}
#: Coverage of every interval.
INTERVAL_LEVEL = 0.95
#: Bootstrap resamples of a mean AP interval, and the seed that draws them.
MEAN_AP_RESAMPLES = 200
MEAN_AP_SEED = 0


@dataclass(frozen=True)
class MetricValue:
    """A metric (an error rate, or a mean AP) and its bootstrap interval (``low <= value <=
    high``, for an error rate up to 1/N)."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, correct: np.ndarray) -> MetricValue:
        """The error ``1 - mean(correct)`` of ``(N,)`` bool outcomes and its interval."""
        low, high = bootstrap_interval(correct, level=INTERVAL_LEVEL)
        return cls(value=float(1.0 - correct.mean()), low=low, high=high)

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricValue:
        return cls(value=float(data["value"]), low=float(data["low"]), high=float(data["high"]))


@dataclass(frozen=True)
class PartitionScore:
    """A submission's scores on one partition (public, private or all)."""

    n_images: int
    #: None for a detection challenge.
    top1_error: MetricValue | None = None
    #: None for a detection challenge.
    top5_error: MetricValue | None = None
    #: Only for a localization challenge.
    localization_error: MetricValue | None = None
    #: Only for a detection challenge (higher is better).
    mean_ap: MetricValue | None = None

    @property
    def primary(self) -> MetricValue:
        """The ranking metric: mean AP, else localization error, else top-5 error, whichever
        is scored first."""
        for value in (self.mean_ap, self.localization_error, self.top5_error):
            if value is not None:
                return value
        raise ValueError("this score holds no metric")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready. Classification and localization: ``{"n_images", "top1_error": {"value",
        "low", "high"}, "top5_error", "localization_error"}`` (``localization_error`` null for
        classification); detection: ``{"n_images", "mean_ap": {...}}``."""
        data: dict[str, Any] = {"n_images": self.n_images}
        if self.top1_error is not None and self.top5_error is not None:
            loc = self.localization_error
            data["top1_error"] = self.top1_error.to_dict()
            data["top5_error"] = self.top5_error.to_dict()
            data["localization_error"] = None if loc is None else loc.to_dict()
        if self.mean_ap is not None:
            data["mean_ap"] = self.mean_ap.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionScore:
        def value(name: str) -> MetricValue | None:
            found = data.get(name)
            return None if found is None else MetricValue.from_dict(found)

        return cls(
            n_images=int(data["n_images"]),
            top1_error=value("top1_error"),
            top5_error=value("top5_error"),
            localization_error=value("localization_error"),
            mean_ap=value("mean_ap"),
        )


def score_submission(
    predictions: Predictions, key: AnswerKey, *, task: str
) -> dict[str, PartitionScore]:
    """Score a parsed submission (:func:`~synsetlab.challenge.formats.parse_submission`).

    Args:
        predictions: rows aligned with ``key.image_ids``.
        key: the answer key.
        task: ``"classification"``, ``"localization"`` (which needs boxes in both) or
            ``"detection"`` (which needs detections and the key's objects).

    Returns:
        ``{"public": ..., "private": ..., "all": ...}``; no ``"private"`` when the key has no
        private partition.
    """
    correct = image_correct(predictions, key, task=task)
    return partition_scores(correct, key, predictions=predictions if task == "detection" else None)


def partition_scores(
    correct: dict[str, np.ndarray], key: AnswerKey, *, predictions: Predictions | None = None
) -> dict[str, PartitionScore]:
    """The scores of each partition from :func:`image_correct`'s per-image correctness.

    Args:
        correct: :func:`image_correct`'s result (empty for detection).
        key: the answer key.
        predictions: parsed predictions; when they hold detections (a detection submission),
            each partition's mean AP is scored from them. Ignored otherwise.
    """
    partitions = {"public": key.public}
    if key.has_private:
        partitions["private"] = ~key.public
    partitions["all"] = np.ones(key.n_images, dtype=np.bool_)
    matches = None
    if predictions is not None and predictions.detections is not None:
        matches = _match(predictions.detections, key)
    scores = {}
    for name, mask in partitions.items():
        values = {metric: MetricValue.of(c[mask]) for metric, c in correct.items()}
        if matches is not None:
            values["mean_ap"] = _mean_ap(matches, mask, name)
        scores[name] = PartitionScore(n_images=int(mask.sum()), **values)
    return scores


def image_correct(predictions: Predictions, key: AnswerKey, *, task: str) -> dict[str, np.ndarray]:
    """Each image's correctness under each metric of ``task``: metric name -> ``(N,)`` bool,
    rows aligned with ``key.image_ids`` (what the scores, the Ladder and similarity use).
    Empty for detection, whose mean AP is not a sum over images; its predictions and the
    key are checked all the same."""
    check_task(task)
    if task == "detection":
        if predictions.detections is None:
            raise ValueError("detection needs predicted detections: parse with task='detection'")
        _check_objects(key)
        return {}
    labels = predictions.labels
    if labels.shape != (key.n_images, MAX_GUESSES):
        raise ValueError(
            f"predictions have shape {labels.shape}, not ({key.n_images}, {MAX_GUESSES}): "
            "parse them against this answer key"
        )
    c = len(key.classes)
    correct = {
        "top1_error": topk_correct(labels, key.labels, k=1, num_classes=c),
        "top5_error": topk_correct(labels, key.labels, k=MAX_GUESSES, num_classes=c),
    }
    if task == "localization":
        if predictions.boxes is None:
            raise ValueError("localization needs predicted boxes: parse with task='localization'")
        correct["localization_error"] = localization_correct(
            labels, predictions.boxes, key.labels, key.boxes, k=MAX_GUESSES
        )
    return correct


def _check_objects(key: AnswerKey) -> None:
    if not key.has_objects:
        raise ValueError(
            f"none of the {key.n_images} images has a ground-truth object of the challenge's "
            "classes: a detection challenge needs boxes in its answer key"
        )


def _match(detections: np.ndarray, key: AnswerKey) -> DetectionMatches:
    _check_objects(key)
    if len(detections) and detections[:, 0].max() >= key.n_images:
        raise ValueError(
            f"detections name image row {int(detections[:, 0].max())} but the key has "
            f"{key.n_images} images: parse them against this answer key"
        )
    return match_detections(detections, key.objects, num_classes=len(key.classes))


def _mean_ap(matches: DetectionMatches, mask: np.ndarray, partition: str) -> MetricValue:
    part = matches if mask.all() else matches.subset(mask)
    value = part.mean_ap()
    if np.isnan(value):
        raise ValueError(
            f"the {partition} partition has no ground-truth object, so it has no mean AP: "
            "create the challenge with another seed or public fraction"
        )
    low, high = mean_ap_interval(
        part, level=INTERVAL_LEVEL, resamples=MEAN_AP_RESAMPLES, seed=MEAN_AP_SEED
    )
    return MetricValue(value=float(value), low=low, high=high)
