"""Leaderboards: public during a phase, private once it has ended, and the final results.

Errors are lower-is-better, mean AP (detection) higher-is-better; "best" follows the
challenge's primary metric. A team appears once, with its best submission: on the
public board the best public score of the phase; on the private board the best private score
among the submissions it selected (or, if it selected none, among its ``select`` best public
ones, as Kaggle does). Baselines are listed and marked, never ranked against teams' prizes.
An entry is marked tied when its 95% interval overlaps the one ranked just above it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from synsetlab.catalog import Challenge, Phase, Submission, SubmissionStatus, Team
from synsetlab.challenge.challenges import phase_ended
from synsetlab.challenge.errors import ForbiddenError
from synsetlab.challenge.ladder import ladder_scores, unpack_losses
from synsetlab.challenge.phases import as_utc
from synsetlab.challenge.scoring import (
    PRIMARY_METRIC,
    MetricValue,
    PartitionScore,
    lower_is_better,
)
from synsetlab.metrics.intervals import intervals_overlap

Partition = Literal["public", "private"]


@dataclass(frozen=True)
class BoardEntry:
    #: 1-based rank among teams; baselines get None.
    rank: int | None
    name: str
    baseline: bool
    submission_id: int
    #: The primary metric (an error rate) and its 95% interval.
    score: float
    low: float
    high: float
    submitted_at: datetime
    #: Scored submissions the team made in the phase (0 for a baseline).
    submissions: int
    #: The interval overlaps that of the entry ranked just above: not a clear difference.
    tied: bool = False


@dataclass(frozen=True)
class Board:
    challenge: str
    phase: str
    partition: Partition
    metric: str
    entries: list[BoardEntry] = field(default_factory=list)
    lower_is_better: bool = True
    #: Shown in Ladder mode (public board only).
    ladder: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for entry in out["entries"]:
            entry["submitted_at"] = entry["submitted_at"].isoformat()
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(
            ["rank", "name", "baseline", self.metric, "low", "high", "tied", "submissions"]
        )
        for e in self.entries:
            writer.writerow(
                [
                    "" if e.rank is None else e.rank,
                    e.name,
                    int(e.baseline),
                    f"{e.score:.6f}",
                    f"{e.low:.6f}",
                    f"{e.high:.6f}",
                    int(e.tied),
                    e.submissions,
                ]
            )
        return buf.getvalue()


def leaderboard(
    s: Session,
    challenge: Challenge,
    phase: Phase,
    partition: Partition,
    *,
    now: datetime,
    admin: bool = False,
) -> Board:
    """The ``partition`` board of ``phase``. The private one is refused before the phase ends
    (:class:`ForbiddenError`), except to an admin."""
    if partition == "private" and not (admin or phase_ended(phase, now)):
        raise ForbiddenError(
            f"private scores of phase {phase.name!r} are revealed when it ends, at "
            f"{as_utc(phase.ends_at):%Y-%m-%d %H:%M} UTC"
        )
    metric = PRIMARY_METRIC[challenge.task]
    sign = 1.0 if lower_is_better(challenge.task) else -1.0  # sort keys: smaller is better
    rows = s.execute(
        select(Submission, Team.name)
        .outerjoin(Team, Team.id == Submission.team_id)
        .where(
            Submission.challenge_id == challenge.id,
            Submission.status == SubmissionStatus.scored,
            (Submission.phase_id == phase.id) | Submission.baseline.is_not(None),
        )
        .order_by(Submission.created_at, Submission.id)
    ).all()
    by_team: dict[str, list[Submission]] = {}
    baselines: list[Submission] = []
    for sub, team_name in rows:
        if sub.baseline is not None:
            baselines.append(sub)
        else:
            by_team.setdefault(team_name, []).append(sub)
    ladder = challenge.ladder and partition == "public"
    pick = _ladder_pick if ladder else _best
    teams = [pick(name, subs, partition, phase.select, sign) for name, subs in by_team.items()]
    teams.sort(key=lambda e: (sign * e.score, e.submitted_at, e.submission_id))
    ranked = _rank(teams)
    marked = [_entry(b.baseline or "", True, b, partition, 0) for b in baselines]
    entries = sorted([*ranked, *marked], key=lambda e: (sign * e.score, e.baseline, e.submitted_at))
    return Board(
        challenge.slug, phase.name, partition, metric, entries,
        lower_is_better=sign > 0, ladder=ladder,
    )  # fmt: skip


def _best(
    name: str, subs: list[Submission], partition: Partition, select_count: int, sign: float
) -> BoardEntry:
    """A team's entry: its best submission on the board's partition."""
    best = _representative(subs, partition, select_count, sign)
    return _entry(name, False, best, partition, len(subs))


def _ladder_pick(
    name: str, subs: list[Submission], partition: Partition, _select: int, _sign: float
) -> BoardEntry:
    """A team's entry in Ladder mode: the score the Ladder released after its last
    submission (see :mod:`synsetlab.challenge.ladder`)."""
    sample = PartitionScore.from_dict(subs[0].scores["public"])
    losses = [unpack_losses(s.public_correct or b"", sample.n_images) for s in subs]
    score, source = ladder_scores(losses)[-1]
    entry = _entry(name, False, subs[source], partition, len(subs))
    return replace(entry, score=score)


def _representative(
    subs: list[Submission], partition: Partition, select_count: int, sign: float
) -> Submission:
    """The submission that represents a team on the board (``sign``: +1 when lower scores
    are better, -1 when higher are)."""

    def public(x: Submission) -> tuple:
        return (sign * x.public_score, x.created_at, x.id)

    if partition == "public":
        return min(subs, key=public)
    chosen = [x for x in subs if x.selected]
    if not chosen:  # no choice made: the team's best public ones stand for it
        chosen = sorted(subs, key=public)[:select_count]
    return min(chosen, key=lambda x: (sign * x.private_score, x.created_at, x.id))


def _metric(sub: Submission, partition: Partition) -> MetricValue:
    scores = sub.scores
    key = partition if partition in scores else "all"
    return PartitionScore.from_dict(scores[key]).primary


def _entry(name: str, baseline: bool, sub: Submission, partition: Partition, n: int) -> BoardEntry:
    m = _metric(sub, partition)
    return BoardEntry(
        rank=None,
        name=name,
        baseline=baseline,
        submission_id=sub.id,
        score=m.value,
        low=m.low,
        high=m.high,
        submitted_at=as_utc(sub.created_at),
        submissions=n,
    )


def _rank(entries: list[BoardEntry]) -> list[BoardEntry]:
    """1-based ranks in the given order; equal scores share a rank; tied = intervals overlap."""
    out: list[BoardEntry] = []
    for i, e in enumerate(entries):
        above = out[-1] if out else None
        rank = above.rank if above and above.score == e.score else i + 1
        tied = above is not None and intervals_overlap((above.low, above.high), (e.low, e.high))
        out.append(replace(e, rank=rank, tied=tied))
    return out


def results(s: Session, challenge: Challenge, *, now: datetime, admin: bool = False) -> Board:
    """The final ranking: the private board of the challenge's last phase, once it ended."""
    return leaderboard(s, challenge, challenge.phases[-1], "private", now=now, admin=admin)
