"""Submitting, scoring and selecting: the rules a submission goes through.

Order matters for fairness: a file is validated against the answer key before anything is
stored, so a malformed file never costs quota. A valid one is counted and recorded in one
transaction that first takes the team's row lock (an UPDATE of ``teams.submit_lock``): on
PostgreSQL that row lock, on SQLite the database write lock, serialises a team's concurrent
submissions, so exactly the quota is accepted however many arrive at once. Scoring runs
after that transaction commits, so a slow score never holds the lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from synsetlab.catalog import Challenge, Phase, Submission, SubmissionStatus, Team
from synsetlab.catalog.models import utcnow
from synsetlab.challenge.accounts import Member
from synsetlab.challenge.answers import AnswerKey
from synsetlab.challenge.challenges import (
    get_challenge,
    load_answer_key,
    open_phase,
    phase_ended,
    phase_state,
)
from synsetlab.challenge.errors import (
    ForbiddenError,
    NotFoundError,
    PhaseClosedError,
    QuotaExceededError,
)
from synsetlab.challenge.formats import Predictions, parse_submission
from synsetlab.challenge.ladder import pack_losses
from synsetlab.challenge.phases import as_utc, day_start
from synsetlab.challenge.scoring import (
    PRIMARY_METRIC,
    PartitionScore,
    image_correct,
    partition_scores,
)
from synsetlab.workspace import Workspace

log = logging.getLogger(__name__)

#: Largest submission file accepted, in bytes: a 100,000-image localization CSV is ~10 MB.
MAX_SUBMISSION_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Quota:
    """What a team has used of a phase's quotas, and what is left (None: no limit)."""

    used_today: int
    used_total: int
    scoring: int
    left_today: int | None
    left_total: int | None


def submit(
    ws: Workspace,
    who: Member,
    slug: str,
    data: bytes,
    *,
    filename: str = "",
    fmt: str | None = None,
    now: datetime | None = None,
) -> Submission:
    """Validate, count, store and score ``data`` as a submission of ``who``'s team.

    Raises :class:`~synsetlab.challenge.formats.SubmissionError` for an invalid file,
    :class:`ForbiddenError` without an approved team, :class:`PhaseClosedError` outside the
    phases, :class:`QuotaExceededError` past a quota: in every case nothing is stored and no
    quota is used. Returns the scored (or, if scoring crashed, failed) submission.
    """
    now = as_utc(now) if now else utcnow()
    if who.team_id is None:
        raise ForbiddenError("you are not in a team yet: create one or ask to join one")
    if not who.team_approved:
        raise ForbiddenError(f"team {who.team_name!r} waits for an admin's approval")
    with ws.session() as s:
        challenge = get_challenge(s, slug)
        phase = open_phase(challenge, now)
        if phase is None:
            raise PhaseClosedError(_closed_message(challenge, now))
    key, predictions = _parse(ws, challenge, data, fmt)
    with ws.session() as s:
        _take_team_lock(s, who.team_id)
        _check_quota(s, phase, who.team_id, now)
        # Stored once counted, before the row commits: every row has its file.
        file_sha = ws.blobs.put(data)
        row = Submission(
            challenge_id=challenge.id,
            phase_id=phase.id,
            team_id=who.team_id,
            user_id=who.user_id,
            file_sha256=file_sha,
            filename=filename[:256],
            format=predictions.format,
            status=SubmissionStatus.scoring,
            created_at=now,
        )
        s.add(row)
        s.flush()
        submission_id = row.id
    return _score(ws, challenge, key, submission_id, predictions)


def rescore_interrupted(ws: Workspace, *, older_than: timedelta = timedelta(minutes=10)) -> int:
    """Score again the submissions left "scoring" by a server that stopped mid-way.

    An accepted submission is never lost: its file is in the blob store, so it is parsed and
    scored again (rows younger than ``older_than`` may still be in another worker's hands
    and are left alone). Returns how many were scored again.
    """
    cutoff = utcnow() - older_than
    with ws.session() as s:
        stale = s.execute(
            select(Submission.id, Submission.file_sha256, Submission.format, Challenge)
            .join(Challenge, Challenge.id == Submission.challenge_id)
            .where(Submission.status == SubmissionStatus.scoring, Submission.created_at < cutoff)
        ).all()
    for submission_id, file_sha, fmt, challenge in stale:
        key, predictions = _parse(ws, challenge, ws.blobs.get(file_sha), fmt)
        _score(ws, challenge, key, submission_id, predictions)
    return len(stale)


def add_baseline(ws: Workspace, slug: str, name: str, data: bytes, *, fmt: str | None = None):
    """Score ``data`` as a baseline of the challenge, shown and marked on every board."""
    with ws.session() as s:
        challenge = get_challenge(s, slug)
    key, predictions = _parse(ws, challenge, data, fmt)
    with ws.session() as s:
        row = Submission(
            challenge_id=challenge.id,
            baseline=name[:128],
            file_sha256=ws.blobs.put(data),
            filename=name[:256],
            format=predictions.format,
        )
        s.add(row)
        s.flush()
        submission_id = row.id
    return _score(ws, challenge, key, submission_id, predictions)


def quota(s: Session, phase: Phase, team_id: int, now: datetime) -> Quota:
    """What ``team_id`` has used of ``phase``'s quotas at ``now``; failed ones do not count.
    Every count, the submissions being scored included, is of this phase alone."""
    counted = (
        select(func.count())
        .select_from(Submission)
        .where(
            Submission.team_id == team_id,
            Submission.phase_id == phase.id,
            Submission.status != SubmissionStatus.failed,
        )
    )
    total = s.scalar(counted) or 0
    today = s.scalar(counted.where(Submission.created_at >= day_start(now))) or 0
    scoring = (
        s.scalar(
            select(func.count())
            .select_from(Submission)
            .where(
                Submission.team_id == team_id,
                Submission.phase_id == phase.id,
                Submission.status == SubmissionStatus.scoring,
            )
        )
        or 0
    )
    return Quota(
        used_today=today,
        used_total=total,
        scoring=scoring,
        left_today=None if phase.per_day is None else max(phase.per_day - today, 0),
        left_total=None if phase.total is None else max(phase.total - total, 0),
    )


def select_final(
    ws: Workspace, who: Member, slug: str, submission_ids: list[int], *, now: datetime | None = None
) -> None:
    """Choose the team's submissions for the private ranking of their phase (replacing an
    earlier choice), while that phase is open. No ids clear the choice in the open phase:
    the team's best public submissions then stand for it.

    Another team's submission is refused exactly as a missing one (:class:`NotFoundError`),
    so ids cannot be probed for which exist.
    """
    now = as_utc(now) if now else utcnow()
    if who.team_id is None:
        raise ForbiddenError("only a team's members select its submissions")
    with ws.session() as s:
        challenge = get_challenge(s, slug)
        rows = list(
            s.scalars(
                select(Submission).where(
                    Submission.id.in_(submission_ids),
                    Submission.challenge_id == challenge.id,
                    Submission.team_id == who.team_id,
                )
            )
        )
        found = {r.id for r in rows}
        if missing := [i for i in submission_ids if i not in found]:
            raise NotFoundError(
                f"your team has no submission {missing[0]} in challenge {slug!r}; "
                "see your submissions for their ids"
            )
        if any(r.status is not SubmissionStatus.scored for r in rows):
            raise ForbiddenError("only scored submissions can be selected")
        phases = {r.phase_id for r in rows}
        if len(phases) > 1:
            raise ForbiddenError("select submissions of one phase at a time")
        phase = s.get(Phase, phases.pop()) if phases else open_phase(challenge, now)
        if phase is None:
            raise PhaseClosedError(_closed_message(challenge, now))
        if phase_state(phase, now) != "open":
            raise PhaseClosedError(f"phase {phase.name!r} is not open: its selection is final")
        if len(rows) > phase.select:
            raise ForbiddenError(
                f"phase {phase.name!r} allows {phase.select} selected submissions, not {len(rows)}"
            )
        s.execute(
            update(Submission)
            .where(Submission.team_id == who.team_id, Submission.phase_id == phase.id)
            .values(selected=Submission.id.in_(submission_ids))
        )


def visible_scores(submission: Submission, now: datetime) -> dict[str, Any]:
    """The scores of ``submission`` that may be shown at ``now``: the public partition
    always, the private partition and the whole test set only once its phase has ended."""
    scores = submission.scores or {}
    phase = submission.phase
    # A baseline has no phase: boards decide when its private score shows.
    if phase is not None and phase_ended(phase, now):
        return dict(scores)
    return {k: v for k, v in scores.items() if k == "public"}


def _take_team_lock(s: Session, team_id: int) -> None:
    # The first statement of the transaction is a write: it waits for any other submission
    # of this team to commit, and holds the others off until this one does.
    s.execute(update(Team).where(Team.id == team_id).values(submit_lock=Team.submit_lock + 1))


def _check_quota(s: Session, phase: Phase, team_id: int, now: datetime) -> None:
    used = quota(s, phase, team_id, now)
    if phase.per_day is not None and used.left_today == 0:
        tomorrow = day_start(now) + timedelta(days=1)
        raise QuotaExceededError(
            f"your team has used its {phase.per_day} submissions of today in phase "
            f"{phase.name!r}; the quota resets at {tomorrow:%Y-%m-%d %H:%M} UTC",
            retry_after=max(int((tomorrow - now).total_seconds()), 1),
        )
    if phase.total is not None and used.left_total == 0:
        raise QuotaExceededError(
            f"your team has used all {phase.total} submissions of phase {phase.name!r}"
        )
    if phase.concurrent is not None and used.scoring >= phase.concurrent:
        raise QuotaExceededError(
            f"{used.scoring} of your team's submissions are being scored; phase "
            f"{phase.name!r} allows {phase.concurrent} at once, so retry when they finish",
            retry_after=5,
        )


def _parse(
    ws: Workspace, challenge: Challenge, data: bytes, fmt: str | None
) -> tuple[AnswerKey, Predictions]:
    """The challenge's answer key and ``data`` checked against it (SubmissionError if not)."""
    key = load_answer_key(ws.blobs, challenge.answer_key_sha256)
    predictions = parse_submission(
        data, key, task=challenge.task, fmt=fmt, max_bytes=MAX_SUBMISSION_BYTES
    )
    return key, predictions


def _score(
    ws: Workspace,
    challenge: Challenge,
    key: AnswerKey,
    submission_id: int,
    predictions: Predictions,
) -> Submission:
    scores: dict[str, PartitionScore] = {}
    try:
        correct = image_correct(predictions, key, task=challenge.task)
        scores = partition_scores(correct, key, predictions=predictions)
    except Exception as e:  # a scorer bug must not leave a submission "scoring" forever
        log.exception("scoring submission %d failed", submission_id)
        error = f"scoring failed: {e}"
    with ws.session() as s:
        row = s.get_one(Submission, submission_id)
        row.scored_at = utcnow()
        if scores:
            row.scores = {name: part.to_dict() for name, part in scores.items()}
            row.public_score = scores["public"].primary.value
            row.private_score = _private(scores).primary.value
            primary = PRIMARY_METRIC[challenge.task]
            if primary in correct:  # per-image errors, for the Ladder (none for mean AP)
                row.public_correct = pack_losses(correct[primary][key.public])
            row.status = SubmissionStatus.scored
        else:
            row.status, row.error = SubmissionStatus.failed, error
        s.flush()
        # Loaded for callers after the session closes.
        row.challenge  # noqa: B018
        row.phase  # noqa: B018
        row.team  # noqa: B018
        return row


def _private(scores: dict[str, PartitionScore]) -> PartitionScore:
    # Without a private partition (public fraction 1) the final ranking uses the whole set.
    return scores.get("private", scores["all"])


def _closed_message(challenge: Challenge, now: datetime) -> str:
    upcoming = [p for p in challenge.phases if now < as_utc(p.starts_at)]
    if upcoming:
        nxt = upcoming[0]
        return (
            f"challenge {challenge.slug!r} accepts no submissions now; phase {nxt.name!r} "
            f"opens at {as_utc(nxt.starts_at):%Y-%m-%d %H:%M} UTC"
        )
    return f"challenge {challenge.slug!r} has ended: its last phase closed"


def team_submissions(s: Session, challenge: Challenge, team_id: int) -> list[Submission]:
    """A team's submissions to ``challenge``, newest first, with phase and team loaded."""
    rows = list(
        s.scalars(
            select(Submission)
            .where(Submission.challenge_id == challenge.id, Submission.team_id == team_id)
            .order_by(Submission.created_at.desc(), Submission.id.desc())
        )
    )
    for row in rows:
        row.phase  # noqa: B018
        row.team  # noqa: B018
    return rows


def quota_now(
    s: Session, challenge: Challenge, who: Member | None, now: datetime
) -> tuple[Phase, Quota] | None:
    """The open phase and what ``who``'s team has left of it; None without either."""
    phase = open_phase(challenge, now)
    if phase is None or who is None or who.team_id is None:
        return None
    return phase, quota(s, phase, who.team_id, now)
