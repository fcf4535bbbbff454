"""The JSON shapes of the API (they are also its OpenAPI schema), built from library objects.

Only what a caller may see goes in: a submission's scores pass through
:func:`~synsetlab.challenge.submissions.visible_scores`, so private scores never leave the
server before their phase ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from synsetlab.catalog import Challenge, Phase, Submission
from synsetlab.catalog.annotation import AnnotationProject, Annotator
from synsetlab.challenge.accounts import Member
from synsetlab.challenge.challenges import current_phase, get_challenge, phase_state
from synsetlab.challenge.phases import as_utc
from synsetlab.challenge.scoring import PRIMARY_METRIC, lower_is_better
from synsetlab.challenge.submissions import Quota, quota_now, visible_scores


class RegisterIn(BaseModel):
    user: str = Field(description="a new user name")
    password: str = Field(min_length=8)
    team: str | None = Field(default=None, description="create this team with you as owner")


class LoginIn(BaseModel):
    user: str
    password: str
    name: str = Field(default="", max_length=64, description="what the token is for")


class TeamIn(BaseModel):
    name: str


class SelectionIn(BaseModel):
    submission_ids: list[int]


class TokenOut(BaseModel):
    token: str = Field(description="shown once: only its hash is stored")
    user: str
    team: str | None


class MeOut(BaseModel):
    user: str
    role: str
    team: str | None
    team_approved: bool

    @classmethod
    def of(cls, who: Member) -> MeOut:
        return cls(
            user=who.user_name,
            role=who.role.value,
            team=who.team_name,
            team_approved=who.team_approved,
        )


class MyProjectOut(BaseModel):
    """An annotation project the caller annotates: their own name and state in it, nothing
    of other annotators, and nothing of the project's questions (gold or hidden test)."""

    project: str
    annotator: str = Field(description="your name in the project")
    state: str = Field(description="active, or stopped (GET .../progress says why)")


class AnnotatorMeOut(BaseModel):
    """An annotator account, which has no team: its annotation projects instead."""

    user: str
    role: str
    annotation_projects: list[MyProjectOut]

    @classmethod
    def of(
        cls, who: Member, projects: Iterable[tuple[AnnotationProject, Annotator]]
    ) -> AnnotatorMeOut:
        mine = [
            MyProjectOut(project=p.slug, annotator=a.name, state=a.state.value) for p, a in projects
        ]
        return cls(user=who.user_name, role=who.role.value, annotation_projects=mine)


class PhaseOut(BaseModel):
    name: str
    starts_at: datetime
    ends_at: datetime
    state: str
    per_day: int | None
    total: int | None
    concurrent: int | None
    select: int

    @classmethod
    def of(cls, phase: Phase, now: datetime) -> PhaseOut:
        return cls(
            name=phase.name,
            starts_at=as_utc(phase.starts_at),
            ends_at=as_utc(phase.ends_at),
            state=phase_state(phase, now),
            per_day=phase.per_day,
            total=phase.total,
            concurrent=phase.concurrent,
            select=phase.select,
        )


class QuotaOut(BaseModel):
    phase: str
    used_today: int
    used_total: int
    left_today: int | None
    left_total: int | None
    scoring: int

    @classmethod
    def of(cls, phase: Phase, q: Quota) -> QuotaOut:
        return cls(phase=phase.name, **q.__dict__)


class ChallengeOut(BaseModel):
    slug: str
    name: str
    task: str
    version_id: str
    n_images: int
    public_fraction: float
    metric: str
    lower_is_better: bool = True
    rules: str
    ladder: bool
    current_phase: str
    phases: list[PhaseOut]
    quota: QuotaOut | None = None

    @classmethod
    def of(cls, c: Challenge, now: datetime, quota: QuotaOut | None = None) -> ChallengeOut:
        return cls(
            slug=c.slug,
            name=c.name,
            task=c.task,
            version_id=c.version_id,
            n_images=c.n_images,
            public_fraction=c.public_fraction,
            metric=PRIMARY_METRIC[c.task],
            lower_is_better=lower_is_better(c.task),
            rules=c.rules,
            ladder=c.ladder,
            current_phase=current_phase(c, now).name,
            phases=[PhaseOut.of(p, now) for p in c.phases],
            quota=quota,
        )


def challenge_view(s: Session, slug: str, who: Member | None, now: datetime) -> ChallengeOut:
    """Challenge ``slug`` as the API and the pages show it, with what ``who``'s team has left
    of the open phase's quota (None without a team or an open phase)."""
    c = get_challenge(s, slug)
    left = quota_now(s, c, who, now)
    return ChallengeOut.of(c, now, QuotaOut.of(*left) if left else None)


class SubmissionOut(BaseModel):
    id: int
    phase: str | None
    team: str | None
    baseline: str | None
    filename: str
    format: str
    status: str
    selected: bool
    error: str
    created_at: datetime
    scored_at: datetime | None
    scores: dict[str, Any] = Field(
        description="public scores; private and whole-set scores once the phase has ended"
    )

    @classmethod
    def of(cls, sub: Submission, now: datetime) -> SubmissionOut:
        return cls(
            id=sub.id,
            phase=sub.phase.name if sub.phase else None,
            team=sub.team.name if sub.team else None,
            baseline=sub.baseline,
            filename=sub.filename,
            format=sub.format,
            status=sub.status.value,
            selected=sub.selected,
            error=sub.error,
            created_at=as_utc(sub.created_at),
            scored_at=as_utc(sub.scored_at) if sub.scored_at else None,
            scores=visible_scores(sub, now),
        )
