"""Scores of a parsed submission on each partition of the answer key, with 95% intervals.

Each image's correctness is computed once per metric with the library's metric functions
(:func:`~synsetlab.metrics.topk_correct`, :func:`~synsetlab.metrics.localization_correct`);
a partition's score is the error over its images and the percentile bootstrap interval of
that error (:func:`~synsetlab.metrics.bootstrap_interval`). Lower is better for every score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synsetlab.challenge.answers import AnswerKey
from synsetlab.challenge.formats import MAX_GUESSES, Predictions, check_task
from synsetlab.metrics.classification import topk_correct
from synsetlab.metrics.intervals import bootstrap_interval
from synsetlab.metrics.localization import localization_correct

__all__ = [
    "INTERVAL_LEVEL",
    "METRIC_NAMES",
    "PRIMARY_METRIC",
    "MetricValue",
    "PartitionScore",
    "image_correct",
    "partition_scores",
    "score_submission",
]

#: The metric each task ranks by, as in ILSVRC: top-5 error for classification, top-5
#: localization error for localization.
PRIMARY_METRIC = {"classification": "top5_error", "localization": "localization_error"}
#: How people write each metric.
METRIC_NAMES = {
    "top1_error": "top-1 error",
    "top5_error": "top-5 error",
    "localization_error": "localization error",
}
#: Coverage of every interval.
INTERVAL_LEVEL = 0.95


@dataclass(frozen=True)
class MetricValue:
    """An error rate and its bootstrap interval (``low <= value <= high`` up to 1/N)."""

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
    top1_error: MetricValue
    top5_error: MetricValue
    #: None for a classification challenge.
    localization_error: MetricValue | None = None

    @property
    def primary(self) -> MetricValue:
        """The ranking metric: localization error when scored, else top-5 error."""
        if self.localization_error is not None:
            return self.localization_error
        return self.top5_error

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"n_images", "top1_error": {"value", "low", "high"}, ...}``."""
        loc = self.localization_error
        return {
            "n_images": self.n_images,
            "top1_error": self.top1_error.to_dict(),
            "top5_error": self.top5_error.to_dict(),
            "localization_error": None if loc is None else loc.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionScore:
        loc = data.get("localization_error")
        return cls(
            n_images=int(data["n_images"]),
            top1_error=MetricValue.from_dict(data["top1_error"]),
            top5_error=MetricValue.from_dict(data["top5_error"]),
            localization_error=None if loc is None else MetricValue.from_dict(loc),
        )


def score_submission(
    predictions: Predictions, key: AnswerKey, *, task: str
) -> dict[str, PartitionScore]:
    """Score a parsed submission (:func:`~synsetlab.challenge.formats.parse_submission`).

    Args:
        predictions: rows aligned with ``key.image_ids``.
        key: the answer key.
        task: ``"classification"`` or ``"localization"`` (which needs boxes in both).

    Returns:
        ``{"public": ..., "private": ..., "all": ...}``; no ``"private"`` when the key has no
        private partition.
    """
    return partition_scores(image_correct(predictions, key, task=task), key)


def partition_scores(correct: dict[str, np.ndarray], key: AnswerKey) -> dict[str, PartitionScore]:
    """The scores of each partition from :func:`image_correct`'s per-image correctness."""
    partitions = {"public": key.public}
    if key.has_private:
        partitions["private"] = ~key.public
    partitions["all"] = np.ones(key.n_images, dtype=np.bool_)
    return {
        name: PartitionScore(
            n_images=int(mask.sum()),
            **{metric: MetricValue.of(c[mask]) for metric, c in correct.items()},
        )
        for name, mask in partitions.items()
    }


def image_correct(predictions: Predictions, key: AnswerKey, *, task: str) -> dict[str, np.ndarray]:
    """Each image's correctness under each metric of ``task``: metric name -> ``(N,)`` bool,
    rows aligned with ``key.image_ids`` (what the scores, the Ladder and similarity use)."""
    check_task(task)
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
