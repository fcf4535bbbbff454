"""Invitations to annotate a project: single-use codes that expire, kept only as hashes.

``synsetlab annotate invite`` prints each code once, as a link ``/annotate/join/<code>``;
whoever follows it creates an annotator account (or uses the one they are logged in with)
and joins the project (:func:`redeem_invite`). A code is 128 random bits, so its sha256 is
enough to store (as for API tokens) and a lookup is one indexed query.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from synsetlab.annotate.errors import (
    AnnotationConflictError,
    AnnotationError,
    AnnotationNotFoundError,
)
from synsetlab.annotate.members import join_project
from synsetlab.annotate.projects import get_project
from synsetlab.catalog.annotation import AnnotationProject, Annotator
from synsetlab.catalog.challenge import AnnotationInvite, User
from synsetlab.catalog.models import as_utc, utcnow

__all__ = [
    "INVITE_DAYS",
    "MAX_INVITES",
    "Invitation",
    "check_invite",
    "create_invites",
    "redeem_invite",
]

#: Days an invitation stays valid unless told otherwise.
INVITE_DAYS = 14.0
#: Invitations one call may create.
MAX_INVITES = 10_000
#: What an invitation link's path starts with.
JOIN_PATH = "/annotate/join/"


@dataclass(frozen=True)
class Invitation:
    """A new invitation: its code is shown now and never again."""

    code: str
    project: str
    expires_at: datetime

    @property
    def path(self) -> str:
        """The site's path that redeems it."""
        return JOIN_PATH + self.code


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def create_invites(
    s: Session,
    project: str | AnnotationProject,
    count: int,
    *,
    days: float = INVITE_DAYS,
    now: datetime | None = None,
) -> list[Invitation]:
    """``count`` new invitations to ``project``, each valid once within ``days`` days.

    Refused (:class:`AnnotationError`): a count outside 1..:data:`MAX_INVITES`, a validity
    that is not a positive number of days (at most a year); an unknown project (404).
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_INVITES:
        raise AnnotationError(
            f"{count!r} invitations: ask for a whole number from 1 to {MAX_INVITES}"
        )
    if not (isinstance(days, (int, float)) and math.isfinite(days) and 0 < days <= 366):
        raise AnnotationError(f"invitations valid {days!r} days: give a number in (0, 366]")
    if isinstance(project, str):
        project = get_project(s, project)
    now = now or utcnow()
    expires = now + timedelta(days=days)
    made = [Invitation(secrets.token_urlsafe(16), project.slug, expires) for _ in range(count)]
    s.add_all(
        AnnotationInvite(
            code_hash=_hash(i.code), project_id=project.id, created_at=now, expires_at=expires
        )
        for i in made
    )
    s.flush()
    return made


def check_invite(s: Session, code: str, *, now: datetime | None = None) -> AnnotationProject:
    """The project that ``code`` invites to, if it can still be redeemed; else the reason:
    :class:`AnnotationNotFoundError` (no such code), :class:`AnnotationConflictError` (used
    or expired). Nothing is written."""
    invite = _find(s, code)
    _check_usable(invite, now or utcnow())
    project = s.get(AnnotationProject, invite.project_id)
    assert project is not None  # the foreign key cascades
    return project


def redeem_invite(s: Session, code: str, user: User, *, now: datetime | None = None) -> Annotator:
    """Join ``user`` to the project ``code`` invites to, using the code up.

    A user who is an annotator of that project already keeps the code unused. Refused as
    :func:`check_invite` refuses, or as :func:`~synsetlab.annotate.members.join_project`
    does (a participant and a project about hidden test images). The caller commits; on any
    refusal nothing is written.
    """
    now = now or utcnow()
    project = check_invite(s, code, now=now)
    already = s.scalar(
        select(Annotator).where(Annotator.project_id == project.id, Annotator.user_id == user.id)
    )
    if already is not None:
        return already
    annotator = join_project(s, project, user, invited=True)
    # Used up in one statement, so that two people racing with one code cannot both win.
    used = s.execute(
        update(AnnotationInvite)
        .where(
            AnnotationInvite.code_hash == _hash(code),
            AnnotationInvite.used_at.is_(None),
            AnnotationInvite.expires_at > now,
        )
        .values(used_at=now, user_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise AnnotationConflictError(
            "this invitation was used a moment ago by someone else (each works once): ask the "
            "project's organiser for a new one"
        )
    return annotator


def _find(s: Session, code: str) -> AnnotationInvite:
    invite = (
        s.scalar(select(AnnotationInvite).where(AnnotationInvite.code_hash == _hash(code)))
        if isinstance(code, str) and code
        else None
    )
    if invite is None:
        raise AnnotationNotFoundError(
            "no such invitation: check that the link is whole, or ask the project's organiser "
            "for a new one"
        )
    return invite


def _check_usable(invite: AnnotationInvite, now: datetime) -> None:
    if invite.used_at is not None:
        raise AnnotationConflictError(
            "this invitation was used already (each works once): log in with the account made "
            "with it, or ask the project's organiser for a new one"
        )
    expires = as_utc(invite.expires_at)
    if expires <= now:
        raise AnnotationConflictError(
            f"this invitation expired on {expires:%Y-%m-%d %H:%M} UTC: ask the project's "
            "organiser for a new one"
        )
