"""The catalog's tables (SQLAlchemy 2 ORM). Schema changes go through Alembic migrations.

One ``Image`` row is one file as found in one source: the same bytes found twice are two rows
with the same sha256 (curation reports them as exact duplicates) and one blob.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints keep Alembic migrations portable between SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime.

    SQLite hands back naive datetimes for timezone-aware columns; they were written in UTC.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class LabelState(str, enum.Enum):
    """Where a label stands: proposed by a source, confirmed, or judged wrong."""

    candidate = "candidate"
    verified = "verified"
    rejected = "rejected"


class Source(Base):
    """A place images came from: a folder, an archive set, a manifest, an array file."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("kind", "uri"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    uri: Mapped[str] = mapped_column(Text)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Image(Base):
    """One decoded, stored image file as found in a source."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("source_id", "source_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    #: Pillow's format name of the decoded bytes (JPEG, PNG, ...), whatever the file extension.
    format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    #: Pillow mode as stored (RGB, L, CMYK, P, I;16, ...).
    mode: Mapped[str] = mapped_column(String(16))
    #: EXIF orientation tag (1-8) when present; pixels are stored as found, unrotated.
    exif_orientation: Mapped[int | None] = mapped_column(Integer)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    #: Path or archive member the image came from, unique within its source.
    source_key: Mapped[str] = mapped_column(Text)
    #: Split the source assigned (ILSVRC train/val, CIFAR train/test), if any.
    source_split: Mapped[str | None] = mapped_column(String(16))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    source: Mapped[Source] = relationship()
    labels: Mapped[list[Label]] = relationship(back_populates="image")
    boxes: Mapped[list[Box]] = relationship(back_populates="image")


class Label(Base):
    """A class proposed for an image, by a source or later by annotators."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("image_id", "wnid", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    #: A WordNet 3.0 noun wnid or a workspace class id.
    wnid: Mapped[str] = mapped_column(String(64), index=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    state: Mapped[LabelState] = mapped_column(
        Enum(LabelState, name="label_state", native_enum=False, length=16),
        default=LabelState.candidate,
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    image: Mapped[Image] = relationship(back_populates="labels")


class Box(Base):
    """An object box in pixel coordinates of the stored (unrotated) image.

    Columns are named ``x_min``... because PostgreSQL reserves ``xmin`` and ``xmax``.
    """

    __tablename__ = "boxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    wnid: Mapped[str] = mapped_column(String(64))
    xmin: Mapped[float] = mapped_column("x_min", Float)
    ymin: Mapped[float] = mapped_column("y_min", Float)
    xmax: Mapped[float] = mapped_column("x_max", Float)
    ymax: Mapped[float] = mapped_column("y_max", Float)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    #: The crowd drawing this box was accepted from (annotate aggregate); NULL for a source's
    #: boxes. Undoing a box project's aggregation removes exactly the rows that name one.
    drawing_id: Mapped[int | None] = mapped_column(
        ForeignKey("box_drawings.id", ondelete="SET NULL"), index=True
    )

    image: Mapped[Image] = relationship(back_populates="boxes")


class RejectedFile(Base):
    """A file a source offered that did not enter the catalog, and why."""

    __tablename__ = "rejected_files"
    __table_args__ = (UniqueConstraint("source_id", "source_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    source_key: Mapped[str] = mapped_column(Text)
    #: Short machine-readable reason, e.g. ``truncated``; see ``ingest.decode.Reason``.
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CustomClass(Base):
    """A class the workspace adds to WordNet (a medical finding, a product part)."""

    __tablename__ = "custom_classes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    gloss: Mapped[str] = mapped_column(Text, default="")
    #: A WordNet wnid or another custom class id.
    parent: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BlobSignals(Base):
    """What curation measures once per distinct image content (by sha256), from one decode.

    Hashes are 64-bit perceptual hashes stored as signed integers (two's complement), since
    neither SQLite nor PostgreSQL has an unsigned 64-bit type.
    """

    __tablename__ = "blob_signals"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: DCT perceptual hash (pHash) of the image, and of its mirror image.
    phash: Mapped[int] = mapped_column(BigInteger)
    phash_flip: Mapped[int] = mapped_column(BigInteger)
    #: Difference hash (dHash): a second opinion with other failure modes.
    dhash: Mapped[int] = mapped_column(BigInteger)
    #: pHash and dHash of the picture's centre (a few % trimmed from each side), compared
    #: with other pictures' whole-frame hashes: a slightly cropped copy lines up with the
    #: centre. NULL for content measured before they existed (measured again on demand).
    phash_inset: Mapped[int | None] = mapped_column(BigInteger)
    dhash_inset: Mapped[int | None] = mapped_column(BigInteger)
    #: Mean grey level (0-255) of a 256-px thumbnail, and the largest standard deviation of
    #: its R, G and B values: near 0 only for a blank picture.
    mean: Mapped[float] = mapped_column(Float)
    std: Mapped[float] = mapped_column(Float)
    #: Variance of the Laplacian of the grey thumbnail: low means blurry.
    laplacian_var: Mapped[float] = mapped_column(Float)
    #: Hasler-Suesstrunk colourfulness of the thumbnail: ~0 for grey images.
    colourfulness: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Finding(Base):
    """Something curation noticed about an image or a class. Findings never delete anything."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: e.g. exact-duplicate, near-duplicate, too-small, blurry, label-issue, class-overlap.
    kind: Mapped[str] = mapped_column(String(32), index=True)
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), index=True
    )
    #: The class a class-level finding is about (imbalance, overlap), or the label in question.
    wnid: Mapped[str | None] = mapped_column(String(64))
    #: Larger means more certain or more severe; the meaning is the kind's (see curate/).
    score: Mapped[float | None] = mapped_column(Float)
    #: Kind-specific facts: cluster id, the other image, distance, suggested class, threshold.
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnalysisRun(Base):
    """One completed run of a curation analysis, written with its findings in one transaction.

    An analysis replaces its kinds' findings on every run, so a run that finds nothing leaves
    no finding: this row is how "ran and found nothing" differs from "not run". A run that
    fails or is killed leaves no row (and its previous findings). The latest row per analysis
    is the one that counts; earlier ones are its history.

    A catalog that held images when it was upgraded to keep runs gets one row per analysis
    with ``finished_at`` NULL: runs before that moment were not recorded, so for those
    analyses only their findings (if any) tell that they ran.
    """

    __tablename__ = "analysis_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: A name of ``curate.kinds.ANALYSIS_KINDS``: duplicates, quality, balance, label-issues.
    analysis: Mapped[str] = mapped_column(String(32), index=True)
    #: When it finished; NULL for the record of what came before runs were kept (see above).
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: The settings it ran with (radius, crowd limit, thresholds...); NULL when not told.
    params: Mapped[dict | None] = mapped_column(JSON)
    #: Images it looked at; NULL when not told.
    images: Mapped[int | None] = mapped_column(Integer)
    #: Findings it recorded (of its kinds, about any image or class).
    findings: Mapped[int] = mapped_column(Integer)
    #: False when it left part of the catalog unexamined (``note`` says what); NULL: not told.
    complete: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")


class DecisionAction(str, enum.Enum):
    """What a decision does: take the image out, give it another class, or nothing at all
    (``keep``: a reviewer looked at the finding and found the image fine)."""

    exclude = "exclude"
    relabel = "relabel"
    keep = "keep"


class Decision(Base):
    """A curator's decision about an image; undone by setting ``undone_at``, never deleted.

    ``author`` and ``undone_by`` say who, in words rather than by foreign key: decisions come
    from site accounts, from the CLI (which knows only the OS login) and from library calls,
    and the record must outlive a deleted account.
    """

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    action: Mapped[DecisionAction] = mapped_column(
        Enum(DecisionAction, name="decision_action", native_enum=False, length=16)
    )
    #: The new class, for ``relabel``.
    wnid: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Who decided: a site account's name, or ``os:<login>`` from the CLI (the login the OS
    #: reports, not authenticated); NULL when not told (and for decisions before revision 0008).
    author: Mapped[str | None] = mapped_column(String(64))
    #: Who undid it, in the same form as ``author``.
    undone_by: Mapped[str | None] = mapped_column(String(64))


class SplitAssignment(Base):
    """The split an image is in for the next frozen version (train, val or test)."""

    __tablename__ = "split_assignments"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    split: Mapped[str] = mapped_column(String(16), index=True)
    #: Hidden labels are read only by scoring code (the challenge's test set).
    hidden: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SplitRun(Base):
    """The parameters of a ``split`` run; the latest one is recorded in the next version."""

    __tablename__ = "split_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Version(Base):
    """A frozen dataset version. Its id is the sha256 of its manifest, stored in the blob store."""

    __tablename__ = "versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    images: Mapped[int] = mapped_column(Integer)
    classes: Mapped[int] = mapped_column(Integer)
    #: Images per split, parameters of the split, counts of decisions applied.
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
