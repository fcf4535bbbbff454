"""ILSVRC-style challenges: answer keys, submission formats and scoring.

The scoring core is pure and fast: :func:`answer_key` turns a frozen version's test split into
an :class:`AnswerKey`, :func:`parse_submission` checks a submission strictly against it, and
:func:`score_submission` gives its errors (or, for detection, its mean AP) with intervals on the
public and private boards.
"""

from synsetlab.challenge.answers import AnswerKey, answer_key
from synsetlab.challenge.formats import (
    FORMATS,
    KAGGLE_HEADER,
    MAX_DETECTIONS,
    MAX_GUESSES,
    TASKS,
    Predictions,
    SubmissionError,
    check_task,
    detect_format,
    kaggle_csv,
    parse_submission,
)
from synsetlab.challenge.scoring import (
    HIGHER_IS_BETTER,
    INTERVAL_LEVEL,
    METRIC_NAMES,
    PRIMARY_METRIC,
    MetricValue,
    PartitionScore,
    score_submission,
)

__all__ = [
    "FORMATS",
    "HIGHER_IS_BETTER",
    "INTERVAL_LEVEL",
    "KAGGLE_HEADER",
    "MAX_DETECTIONS",
    "MAX_GUESSES",
    "METRIC_NAMES",
    "PRIMARY_METRIC",
    "TASKS",
    "AnswerKey",
    "MetricValue",
    "PartitionScore",
    "Predictions",
    "SubmissionError",
    "answer_key",
    "check_task",
    "detect_format",
    "kaggle_csv",
    "parse_submission",
    "score_submission",
]
