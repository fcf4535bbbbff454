"""Near-identical submissions from different teams: the trace of one group submitting through
several accounts (the ILSVRC 2015 case), or of shared predictions.

Two submissions agree on an image when their five guesses are the same, in the same order;
the report lists cross-team pairs whose agreement reaches a threshold. Independent models
disagree on a good share of images even at equal accuracy, so near-total agreement is a
signal for the organisers to look at, not proof.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from synsetlab.catalog import Submission, SubmissionStatus, Team
from synsetlab.challenge.challenges import get_challenge, load_answer_key
from synsetlab.challenge.errors import ChallengeError
from synsetlab.challenge.formats import parse_submission
from synsetlab.workspace import Workspace


@dataclass(frozen=True)
class SimilarPair:
    team_a: str
    submission_a: int
    team_b: str
    submission_b: int
    #: Share of test images on which both gave the same five guesses in the same order.
    agreement: float


def guess_codes(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """One int64 per image that is equal exactly when two ``(N, 5)`` guess rows are equal."""
    base = np.int64(num_classes + 1)  # +1: "no guess" (-1) is a value of its own
    powers = base ** np.arange(labels.shape[1], dtype=np.int64)
    return (labels.astype(np.int64) + 1) @ powers


def similar_submissions(ws: Workspace, slug: str, *, threshold: float = 0.95) -> list[SimilarPair]:
    """Cross-team pairs of scored submissions to ``slug`` that agree on at least
    ``threshold`` of the test images, most similar first."""
    if not 0.0 < threshold <= 1.0:
        raise ChallengeError(f"threshold must be in (0, 1], got {threshold}")
    with ws.session() as s:
        challenge = get_challenge(s, slug)
        if challenge.task == "detection":
            raise ChallengeError(
                "the similarity report compares five guesses per image; detection "
                "submissions have none"
            )
        rows = s.execute(
            select(Submission.id, Submission.file_sha256, Submission.format, Team.name)
            .join(Team, Team.id == Submission.team_id)
            .where(
                Submission.challenge_id == challenge.id,
                Submission.status == SubmissionStatus.scored,
            )
            .order_by(Submission.id)
        ).all()
    key = load_answer_key(ws.blobs, challenge.answer_key_sha256)
    codes = [
        guess_codes(
            parse_submission(ws.blobs.get(sha), key, task=challenge.task, fmt=fmt).labels,
            len(key.classes),
        )
        for _, sha, fmt, _ in rows
    ]
    pairs = []
    # Every cross-team pair: quadratic in submissions (not images), fine for a report.
    for (i, a), (j, b) in itertools.combinations(enumerate(rows), 2):
        if a.name == b.name:
            continue
        agreement = float((codes[i] == codes[j]).mean())
        if agreement >= threshold:
            pairs.append(SimilarPair(a.name, a.id, b.name, b.id, agreement))
    return sorted(pairs, key=lambda p: (-p.agreement, p.submission_a, p.submission_b))
