"""Users, teams, membership, API tokens and web sessions: the rules, over a catalog session.

Passwords are hashed with argon2id (argon2-cffi's defaults). API tokens and web session ids
are 256-bit random strings; only their sha256 is stored, which is enough for a secret of that
entropy and lets a lookup use an index instead of a slow hash per row. A web session lives in
the database, not only in the browser's cookie, so logging out ends it for every copy of the
cookie.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from synsetlab.catalog import (
    ApiToken,
    MemberState,
    Role,
    Submission,
    Team,
    TeamMember,
    User,
)
from synsetlab.catalog.challenge import WebSession
from synsetlab.catalog.models import utcnow
from synsetlab.challenge.errors import (
    ChallengeError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)
from synsetlab.challenge.phases import as_utc

#: User and team names: what a leaderboard shows and a URL can carry. Matched whole
#: (``fullmatch``): ``$`` would also accept a trailing newline.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,63}")
MIN_PASSWORD = 8
TOKEN_PREFIX = "ssl_"
#: How stale ``api_tokens.last_used_at`` may be.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
#: How long a web login lasts (the session cookie's max-age too).
SESSION_LIFETIME = timedelta(days=14)

_hasher = PasswordHasher()
# Verified against when a user name is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class Member:
    """Who is acting: the user, and the team they are an active member of (if any)."""

    user_id: int
    user_name: str
    role: Role
    team_id: int | None
    team_name: str | None
    team_approved: bool

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin


def check_name(name: str, what: str) -> str:
    """``name`` if it is a valid user or team name (``what``), else :class:`ChallengeError`."""
    if not _NAME.fullmatch(name):
        raise ChallengeError(
            f"{what} name {name!r} must be 2-64 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def create_user(s: Session, name: str, password: str, *, role: Role = Role.participant) -> User:
    """A new user; raises :class:`ConflictError` when the name is taken."""
    check_name(name, "user")
    if len(password) < MIN_PASSWORD:
        raise ChallengeError(f"a password needs at least {MIN_PASSWORD} characters")
    if s.scalar(select(exists().where(User.name == name))):
        raise ConflictError(f"user name {name!r} is taken; log in, or choose another name")
    user = User(name=name, password_hash=_hasher.hash(password), role=role)
    s.add(user)
    s.flush()
    return user


def authenticate(s: Session, name: str, password: str) -> User:
    """The user with this name and password; :class:`UnauthorizedError` otherwise (same message
    and about the same time whether the name or the password is wrong)."""
    user = s.scalar(select(User).where(User.name == name))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise UnauthorizedError("wrong user name or password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def member(s: Session, user: User) -> Member:
    """``user`` with the team they actively belong to."""
    row = s.execute(
        select(Team.id, Team.name, Team.approved)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user.id, TeamMember.state == MemberState.active)
    ).first()
    team_id, team_name, approved = row if row else (None, None, False)
    return Member(user.id, user.name, user.role, team_id, team_name, bool(approved))


def create_team(s: Session, owner: User, name: str, *, approved: bool = True) -> Team:
    """A team with ``owner`` as its first member. One team per user."""
    check_name(name, "team")
    if s.scalar(select(exists().where(Team.name == name))):
        raise ConflictError(f"team name {name!r} is taken; ask its owner to let you join instead")
    _not_in_a_team(s, owner)
    team = Team(name=name, owner_id=owner.id, approved=approved)
    s.add(team)
    s.flush()
    s.add(TeamMember(user_id=owner.id, team_id=team.id, state=MemberState.active))
    s.flush()
    return team


def request_to_join(s: Session, user: User, team_name: str) -> TeamMember:
    """Ask to join a team; the owner approves with :func:`approve_member`."""
    team = team_by_name(s, team_name)
    _not_in_a_team(s, user)
    ensure_membership_open(s, team.id)
    row = TeamMember(user_id=user.id, team_id=team.id, state=MemberState.pending)
    s.add(row)
    s.flush()
    return row


def approve_member(s: Session, owner: User, team_name: str, user_name: str) -> None:
    team = team_by_name(s, team_name)
    if team.owner_id != owner.id and owner.role is not Role.admin:
        raise ForbiddenError(f"only the owner of team {team_name!r} approves its members")
    ensure_membership_open(s, team.id)
    row = s.scalar(
        select(TeamMember)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team.id, User.name == user_name)
    )
    if row is None:
        raise NotFoundError(f"{user_name!r} has not asked to join team {team_name!r}")
    row.state = MemberState.active


def ensure_membership_open(s: Session, team_id: int) -> None:
    """Refuse membership changes once a phase the team has submitted to has started.

    A team enters a challenge with its first submission; from then on who is in it is frozen
    for as long as that challenge has phases, so no one can lend a team their quota.
    """
    entered = s.scalar(
        select(exists().where(Submission.team_id == team_id, Submission.phase_id.is_not(None)))
    )
    if entered:
        raise ConflictError(
            "team membership is frozen: the team has entered a challenge whose phase has started"
        )


def team_by_name(s: Session, name: str) -> Team:
    team = s.scalar(select(Team).where(Team.name == name))
    if team is None:
        raise NotFoundError(f"no team named {name!r}")
    return team


def approve_team(s: Session, admin: User, team_name: str) -> Team:
    if admin.role is not Role.admin:
        raise ForbiddenError("approving teams needs the admin role")
    team = team_by_name(s, team_name)
    team.approved = True
    return team


def _not_in_a_team(s: Session, user: User) -> None:
    if s.scalar(select(exists().where(TeamMember.user_id == user.id))):
        raise ConflictError(
            f"{user.name!r} is already in a team (or waiting to join one): one team per person"
        )


def issue_token(s: Session, user: User, *, name: str = "") -> str:
    """A new API token for ``user``. The only time the token is seen: it is stored hashed."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    s.add(ApiToken(token_hash=_token_hash(token), user_id=user.id, name=name))
    s.flush()
    return token


def user_for_token(s: Session, token: str) -> User:
    """The user a live token belongs to; :class:`UnauthorizedError` for an unknown or
    revoked one."""
    row = s.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None:
        raise UnauthorizedError(
            "unknown or revoked API token; create one with `synsetlab team token`"
        )
    now = utcnow()
    # Kept to the minute: a write on every authenticated request would serialise readers
    # behind writers on SQLite.
    last = row.last_used_at
    if last is None or now - as_utc(last) > TOKEN_USE_RESOLUTION:
        row.last_used_at = now
    return row.user


def revoke_tokens(s: Session, user: User) -> int:
    """Revoke every live token of ``user``; returns how many."""
    rows = s.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for row in rows:
        row.revoked_at = utcnow()
    return len(rows)


def start_session(
    s: Session, user: User, *, replacing: str | None = None, now: datetime | None = None
) -> str:
    """A new web session of ``user``; returns its id, for the signed cookie only. The session
    ``replacing`` (the browser's previous one, if any) ends."""
    now = now or utcnow()
    if replacing:
        end_session(s, replacing)
    # Expired sessions go here rather than in a background job: logins are rare enough.
    s.execute(delete(WebSession).where(WebSession.expires_at < now))
    session_id = secrets.token_urlsafe(32)
    s.add(
        WebSession(
            token_hash=_token_hash(session_id),
            user_id=user.id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    s.flush()
    return session_id


def session_user(s: Session, session_id: str) -> User | None:
    """The user of a live web session; None once it has ended or expired."""
    # One query: the user joined to its session row, not the row and then its lazy user.
    row = s.execute(
        select(User, WebSession.expires_at)
        .join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.token_hash == _token_hash(session_id))
    ).first()
    if row is None or as_utc(row.expires_at) <= utcnow():
        return None
    return row[0]


def end_session(s: Session, session_id: str) -> None:
    """Log a web session out: its cookie, and every copy of it, stops working."""
    s.execute(delete(WebSession).where(WebSession.token_hash == _token_hash(session_id)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


__all__ = [
    "Member",
    "TeamView",
    "approve_member",
    "approve_team",
    "authenticate",
    "check_name",
    "create_team",
    "create_user",
    "end_session",
    "ensure_membership_open",
    "get_user",
    "issue_token",
    "member",
    "request_to_join",
    "revoke_tokens",
    "session_user",
    "start_session",
    "team_by_name",
    "team_of",
    "teams_waiting",
    "user_for_token",
]


@dataclass(frozen=True)
class TeamView:
    """A user's team as its page shows it: members and their state."""

    name: str
    approved: bool
    #: The user owns the team (approves members).
    owner: bool
    #: The user's own request to join is still pending.
    pending: bool
    members: tuple[tuple[str, str], ...]


def team_of(s: Session, user_id: int) -> TeamView | None:
    """The team ``user_id`` belongs to or asked to join, if any."""
    row = s.execute(
        select(Team, TeamMember.state)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user_id)
    ).first()
    if row is None:
        return None
    team, state = row
    members = s.execute(
        select(User.name, TeamMember.state)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team.id)
        .order_by(User.name)
    ).all()
    return TeamView(
        name=team.name,
        approved=team.approved,
        owner=team.owner_id == user_id,
        pending=state is MemberState.pending,
        members=tuple((name, st.value) for name, st in members),
    )


def teams_waiting(s: Session) -> list[str]:
    """Names of the teams waiting for an admin's approval."""
    return list(s.scalars(select(Team.name).where(Team.approved.is_(False)).order_by(Team.id)))


def get_user(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user
