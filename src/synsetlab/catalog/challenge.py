"""The challenge server's tables: accounts, teams, challenges, phases and submissions.

They live in the catalog database beside the images, so a challenge refers to a frozen version
by foreign key. Hidden labels are not stored here: a challenge keeps the sha256 of its answer
key in the blob store (see :mod:`synsetlab.challenge.answers`), which only scoring reads.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from synsetlab.catalog.models import Base, utcnow


class Role(str, enum.Enum):
    """What an account may do. An ``annotator`` may only annotate (the ``/annotate`` pages
    and API): no team, no submission, no review or admin page."""

    participant = "participant"
    admin = "admin"
    annotator = "annotator"


class MemberState(str, enum.Enum):
    """A join request waits for the team's owner; an active member may submit."""

    pending = "pending"
    active = "active"


class SubmissionStatus(str, enum.Enum):
    scoring = "scoring"
    scored = "scored"
    failed = "failed"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: argon2id hash (PHC string); the password itself is never stored.
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", native_enum=False, length=16), default=Role.participant
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: Teams wait for an admin's approval when the server asks for it (settings).
    approved: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Bumped at the start of every quota check: the row lock that serialises a team's
    #: concurrent submissions on SQLite and PostgreSQL alike.
    submit_lock: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    members: Mapped[list[TeamMember]] = relationship(back_populates="team")


class TeamMember(Base):
    __tablename__ = "team_members"

    #: One team per user: the 2015 ILSVRC rule against submitting through many accounts.
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    state: Mapped[MemberState] = mapped_column(
        Enum(MemberState, name="member_state", native_enum=False, length=16),
        default=MemberState.active,
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    team: Mapped[Team] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for the API and the CLI. Shown once; only its sha256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A logged-in browser. Its cookie carries a random id of which only the sha256 is kept
    here; logging out deletes the row, which ends the session for every copy of the cookie."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    user: Mapped[User] = relationship()


class AnnotationInvite(Base):
    """A single-use invitation to annotate a project, which expires. Its code is shown once
    (``synsetlab annotate invite``); only its sha256 is kept, as for API tokens. It sits
    beside the accounts because redeeming one may create an account (an annotator's)."""

    __tablename__ = "annotation_invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_projects.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Set once, when the code is redeemed; with the account that redeemed it.
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Challenge(Base):
    __tablename__ = "challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    version_id: Mapped[str] = mapped_column(ForeignKey("versions.id"))
    #: classification or localization.
    task: Mapped[str] = mapped_column(String(32))
    public_fraction: Mapped[float] = mapped_column(Float)
    #: The partition seed the organiser chose, which is public knowledge; None when it is
    #: the default random secret one, kept only in the answer key.
    seed: Mapped[int | None] = mapped_column(Integer)
    #: Blob holding the hidden answer key; read only by scoring.
    answer_key_sha256: Mapped[str] = mapped_column(String(64))
    n_images: Mapped[int] = mapped_column(Integer)
    rules: Mapped[str] = mapped_column(Text, default="")
    #: Public board in Ladder mode (Blum & Hardt 2015, parameter-free).
    ladder: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Hidden test images with a copy in a labelled split when the challenge was created
    #: (see :mod:`synsetlab.challenge.leakage`); None for challenges made before the check.
    leaked_images: Mapped[int | None] = mapped_column(Integer)
    #: Why the organiser created the challenge despite them (``--allow-leaks``).
    leak_override: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    phases: Mapped[list[Phase]] = relationship(
        back_populates="challenge", order_by="Phase.starts_at"
    )


class Phase(Base):
    """A time window of a challenge with its own quotas; [starts_at, ends_at) in UTC."""

    __tablename__ = "phases"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Quotas per team; None = no limit of that kind. Failed submissions do not count.
    per_day: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[int | None] = mapped_column(Integer)
    concurrent: Mapped[int | None] = mapped_column(Integer)
    #: How many submissions a team may select for the private ranking.
    select: Mapped[int] = mapped_column(Integer, default=1)

    challenge: Mapped[Challenge] = relationship(back_populates="phases")


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    #: None for a baseline, which belongs to the challenge rather than a phase or team.
    phase_id: Mapped[int | None] = mapped_column(ForeignKey("phases.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Set for a baseline: what it is (e.g. the checkpoint it came from).
    baseline: Mapped[str | None] = mapped_column(String(128))
    #: The uploaded file, stored in the blob store under this name.
    file_sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(256), default="")
    format: Mapped[str] = mapped_column(String(16))
    status: Mapped[SubmissionStatus] = mapped_column(
        Enum(SubmissionStatus, name="submission_status", native_enum=False, length=16),
        default=SubmissionStatus.scoring,
    )
    #: {"public": {...}, "private": {...}, "all": {...}}: PartitionScore.to_dict() each.
    scores: Mapped[dict] = mapped_column(JSON, default=dict)
    #: The primary metric of each partition, for ordering in SQL.
    public_score: Mapped[float | None] = mapped_column(Float)
    private_score: Mapped[float | None] = mapped_column(Float)
    #: Per-image public correctness (numpy packbits), for the Ladder and similarity checks.
    public_correct: Mapped[bytes | None] = mapped_column()
    selected: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    challenge: Mapped[Challenge] = relationship()
    team: Mapped[Team | None] = relationship()
    phase: Mapped[Phase | None] = relationship()
