"""Crowd verification's tables: projects, their questions, annotators, pages, votes, outcomes.

One :class:`AnnotationItem` is one question, "does image I show synset S?", asked about a
candidate label (``gold`` is NULL) or a gold question whose answer is known (``gold`` True for
a verified label, False for an image whose labels are unrelated to S in the hierarchy). An
image that two sources both label S is one question, hence items are keyed by (image, synset)
rather than by label row: the outcome then moves every candidate label row of that pair.

A :class:`AnnotationTask` is one page handed to one annotator: one synset, a few images
(:class:`AnnotationTaskItem`), gold mixed in. Its votes (:class:`AnnotationVote`) are unique per
(item, annotator), so a vote is stored once and an image never reaches the same person twice.
Aggregation turns items into :class:`AnnotationOutcome` rows that change ``labels.state``;
undoing one (``undone_at``) restores the state it replaced, as curation decisions do.
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
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from synsetlab.catalog.models import Base, LabelState, utcnow

__all__ = [
    "BOX_SOURCES",
    "AnnotationClass",
    "AnnotationItem",
    "AnnotationOutcome",
    "AnnotationProject",
    "AnnotationTask",
    "AnnotationTaskItem",
    "AnnotationVote",
    "Annotator",
    "AnnotatorState",
    "BoxCoverageVote",
    "BoxDrawing",
    "BoxItem",
    "BoxItemStatus",
    "BoxQualityVote",
    "BoxTask",
    "DrawingStatus",
    "ItemStatus",
    "ProjectKind",
]


class ItemStatus(str, enum.Enum):
    """Where a question stands in dynamic consensus; gold questions stay ``pending``."""

    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"


class ProjectKind(str, enum.Enum):
    """What a project asks: yes/no about candidate labels, or boxes around objects."""

    labels = "labels"
    boxes = "boxes"


class BoxItemStatus(str, enum.Enum):
    """Where an (image, synset) to box stands: it wants a box drawn, its boxes or its
    coverage are being verified, or every instance is boxed."""

    drawing = "drawing"
    verifying = "verifying"
    covered = "covered"


class DrawingStatus(str, enum.Enum):
    """A drawn box under quality verification, accepted or rejected."""

    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"


#: Where a drawing came from: drawn (two corners), extreme clicking (four extreme points, the
#: box they span), a detector's proposal, or a gold box (a catalog box, perhaps perturbed).
BOX_SOURCES: tuple[str, ...] = ("drawn", "extreme", "proposal", "gold")


class AnnotatorState(str, enum.Enum):
    """An active annotator gets pages; a stopped one does not, and their votes do not count."""

    active = "active"
    stopped = "stopped"


class AnnotationProject(Base):
    """A crowd verification project over some classes' candidate labels, and its options."""

    __tablename__ = "annotation_projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    #: Precision an accepted label must reach (its posterior), in (0.5, 1).
    target_precision: Mapped[float] = mapped_column(Float)
    #: Votes after which an image is decided whatever its posterior.
    max_votes: Mapped[int] = mapped_column(Integer)
    #: Images per class in the initial subset, and the votes each of them gets.
    initial_items: Mapped[int] = mapped_column(Integer)
    initial_votes: Mapped[int] = mapped_column(Integer)
    #: Share of a page's answers that are gold questions, in [0, 1).
    gold_fraction: Mapped[float] = mapped_column(Float)
    #: Questions per page (gold included, as near as the gold share rounds).
    page_size: Mapped[int] = mapped_column(Integer)
    #: Seconds per answer under which nobody can have looked: such votes are flagged.
    min_seconds: Mapped[float] = mapped_column(Float)
    #: Gold accuracy an annotator must not be confidently below, or they are stopped.
    min_accuracy: Mapped[float] = mapped_column(Float)
    #: Minutes a page stays open; a page submitted later is refused and its images go back.
    task_minutes: Mapped[int] = mapped_column(Integer)
    #: Seed of page composition and gold choice.
    seed: Mapped[int] = mapped_column(Integer)
    #: Anything else recorded at creation (images skipped and why).
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    #: ``labels`` (verify candidate labels) or ``boxes`` (draw, verify and cover boxes).
    kind: Mapped[str] = mapped_column(String(16), default=ProjectKind.labels.value)
    #: Box projects: the posterior a box's quality, and an image's coverage, must reach.
    target_quality: Mapped[float | None] = mapped_column(Float)
    #: Bumped by every page issued or submitted: the row lock that serialises a project's
    #: writes, so PostgreSQL keeps counts and decisions as consistent as SQLite's one writer.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    classes: Mapped[list[AnnotationClass]] = relationship(
        back_populates="project", order_by="AnnotationClass.id"
    )


class AnnotationClass(Base):
    """One synset of a project: what the page asks, and its dynamic-consensus table."""

    __tablename__ = "annotation_classes"
    __table_args__ = (UniqueConstraint("project_id", "wnid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_projects.id", ondelete="CASCADE"), index=True
    )
    wnid: Mapped[str] = mapped_column(String(64))
    #: The synset's lemmas (``; ``-joined, usual name first) and gloss, shown on each page.
    lemmas: Mapped[str] = mapped_column(Text)
    gloss: Mapped[str] = mapped_column(Text, default="")
    #: The project's classes that are ancestors of this one: a yes here is a yes for them.
    ancestors: Mapped[list] = mapped_column(JSON, default=list)
    #: The consensus table estimated from the initial subset (see
    #: :func:`synsetlab.annotate.decide.table_to_json`); NULL while the subset collects votes.
    consensus: Mapped[dict | None] = mapped_column(JSON)
    estimated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    project: Mapped[AnnotationProject] = relationship(back_populates="classes")


class AnnotationItem(Base):
    """One question of a project: does image ``image_id`` show ``wnid``?"""

    __tablename__ = "annotation_items"
    __table_args__ = (
        UniqueConstraint("project_id", "image_id", "wnid"),
        # Handing out a page walks these, best value first (annotate.assign): the project's
        # best question, then its class's best.
        Index("ix_annotation_items_queue", "project_id", "status", "value"),
        Index("ix_annotation_items_class_queue", "class_id", "status", "value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_projects.id", ondelete="CASCADE"), index=True
    )
    class_id: Mapped[int] = mapped_column(ForeignKey("annotation_classes.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    wnid: Mapped[str] = mapped_column(String(64))
    #: NULL for a candidate label under verification; the known answer of a gold question.
    gold: Mapped[bool | None] = mapped_column(Boolean)
    #: In the class's initial subset, which gets ``initial_votes`` votes for the table.
    initial: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Yes and no votes of active annotators (stopped annotators' votes are discounted).
    yes_votes: Mapped[int] = mapped_column(Integer, default=0)
    no_votes: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[ItemStatus] = mapped_column(
        Enum(ItemStatus, name="annotation_item_status", native_enum=False, length=16),
        default=ItemStatus.pending,
    )
    #: P(the candidate label is right | votes) from the class's table; NULL before it.
    posterior: Mapped[float | None] = mapped_column(Float)
    #: A model's calibrated probability that the label is right (model assistance), if any.
    prior: Mapped[float | None] = mapped_column(Float)
    #: What one more vote is worth here (annotate.assign orders pages by it): above 1 for the
    #: initial subset, else the chance that the vote decides the question; -1 while it cannot
    #: be asked (no class table yet). NULL when votes, prior or table changed since computed.
    value: Mapped[float | None] = mapped_column(Float)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Annotator(Base):
    """Someone who answers a project's pages: a web account, or a named outside worker."""

    __tablename__ = "annotators"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        UniqueConstraint("project_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_projects.id", ondelete="CASCADE"), index=True
    )
    #: The user name for web accounts; the worker id for simulated or imported workers.
    name: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[AnnotatorState] = mapped_column(
        Enum(AnnotatorState, name="annotator_state", native_enum=False, length=16),
        default=AnnotatorState.active,
    )
    #: Why the annotator was stopped (gold accuracy and its interval).
    stop_reason: Mapped[str] = mapped_column(Text, default="")
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnnotationTask(Base):
    """One page issued to one annotator: one synset, its images in ``items``."""

    __tablename__ = "annotation_tasks"
    __table_args__ = (
        Index("ix_annotation_tasks_project_id_submitted_at", "project_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_projects.id", ondelete="CASCADE")
    )
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("annotators.id", ondelete="CASCADE"), index=True
    )
    class_id: Mapped[int] = mapped_column(ForeignKey("annotation_classes.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: After this, the page is closed: its images are free again and a submit is refused.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    items: Mapped[list[AnnotationTaskItem]] = relationship(order_by="AnnotationTaskItem.position")


class AnnotationTaskItem(Base):
    """One image of a page, in the order shown."""

    __tablename__ = "annotation_task_items"

    task_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_items.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)


class AnnotationVote(Base):
    """One annotator's answer to one question; at most one per (item, annotator)."""

    __tablename__ = "annotation_votes"
    __table_args__ = (UniqueConstraint("item_id", "annotator_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("annotation_items.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("annotators.id", ondelete="CASCADE"), index=True
    )
    #: The page it was given on; NULL for imported votes.
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("annotation_tasks.id", ondelete="SET NULL"), index=True
    )
    #: True = "yes, the image shows the synset".
    answer: Mapped[bool] = mapped_column(Boolean)
    #: Seconds the annotator spent on this answer, when known.
    seconds: Mapped[float | None] = mapped_column(Float)
    #: Faster than the project's ``min_seconds``: nobody can have looked.
    fast: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A yes carried up from a yes on a descendant synset of the same image, not asked.
    propagated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnnotationOutcome(Base):
    """A label state set by aggregation, with its evidence; undone by setting ``undone_at``."""

    __tablename__ = "annotation_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_projects.id", ondelete="CASCADE"), index=True
    )
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    #: ``dynamic``, ``dawid-skene`` or ``majority``.
    method: Mapped[str] = mapped_column(String(32))
    state_before: Mapped[LabelState] = mapped_column(
        Enum(LabelState, name="label_state", native_enum=False, length=16)
    )
    state_after: Mapped[LabelState] = mapped_column(
        Enum(LabelState, name="label_state", native_enum=False, length=16)
    )
    #: The votes the decision rested on, and P(label right) where the method gives one.
    yes_votes: Mapped[int] = mapped_column(Integer)
    no_votes: Mapped[int] = mapped_column(Integer)
    posterior: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BoxItem(Base):
    """One (image, synset) of a box project: draw a box around every ``wnid`` in the image.

    ``gold`` items are those whose image has catalog boxes of ``wnid`` already: they are never
    boxed again, and serve as gold (a drawing scored by IoU against them; their boxes, or a
    perturbed copy, shown for quality verification; coverage with all or all but one shown).
    """

    __tablename__ = "box_items"
    __table_args__ = (
        UniqueConstraint("project_id", "image_id", "wnid"),
        Index("ix_box_items_queue", "project_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_projects.id", ondelete="CASCADE")
    )
    class_id: Mapped[int] = mapped_column(ForeignKey("annotation_classes.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    wnid: Mapped[str] = mapped_column(String(64))
    gold: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[BoxItemStatus] = mapped_column(
        Enum(BoxItemStatus, name="box_item_status", native_enum=False, length=16),
        default=BoxItemStatus.drawing,
    )
    #: Accepted drawings: coverage is asked of this many boxes.
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    #: Coverage votes (of active annotators) asked at the current ``accepted``.
    coverage_yes: Mapped[int] = mapped_column(Integer, default=0)
    coverage_no: Mapped[int] = mapped_column(Integer, default=0)
    #: P(every instance boxed | coverage votes at the current count); NULL before any.
    coverage_posterior: Mapped[float | None] = mapped_column(Float)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BoxTask(Base):
    """One unit of box work issued to one annotator: draw a box on an item, judge one
    drawing's quality, or say whether an item's accepted boxes cover every instance.

    A gold task (``gold`` not NULL) has a known answer: for ``quality`` whether the shown
    drawing is good, for ``coverage`` whether the ``shown`` boxes cover the image, for
    ``draw`` True (the drawing is scored by IoU); ``correct`` is set when it is submitted.
    """

    __tablename__ = "box_tasks"
    __table_args__ = (Index("ix_box_tasks_project_id_submitted_at", "project_id", "submitted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_projects.id", ondelete="CASCADE")
    )
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("annotators.id", ondelete="CASCADE"), index=True
    )
    #: ``draw``, ``quality`` or ``coverage``.
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(ForeignKey("box_items.id", ondelete="CASCADE"), index=True)
    #: The drawing a quality task asks about, or the one a draw task produced.
    drawing_id: Mapped[int | None] = mapped_column(
        ForeignKey("box_drawings.id", ondelete="CASCADE"), index=True
    )
    #: The boxes shown as boxed already, ``[[xmin, ymin, xmax, ymax], ...]``.
    shown: Mapped[list] = mapped_column(JSON, default=list)
    gold: Mapped[bool | None] = mapped_column(Boolean)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Seconds the annotator spent, when known.
    seconds: Mapped[float | None] = mapped_column(Float)


class BoxDrawing(Base):
    """One box on one item: drawn by an annotator, or a detector's proposal, or gold.

    Stored in 0-based inclusive pixels of the stored image, as catalog boxes are.
    """

    __tablename__ = "box_drawings"
    __table_args__ = (Index("ix_box_drawings_item_id_status", "item_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("box_items.id", ondelete="CASCADE"))
    #: NULL for proposals and gold boxes.
    annotator_id: Mapped[int | None] = mapped_column(
        ForeignKey("annotators.id", ondelete="CASCADE"), index=True
    )
    #: One of :data:`BOX_SOURCES`.
    source: Mapped[str] = mapped_column(String(16))
    xmin: Mapped[float] = mapped_column("x_min", Float)
    ymin: Mapped[float] = mapped_column("y_min", Float)
    xmax: Mapped[float] = mapped_column("x_max", Float)
    ymax: Mapped[float] = mapped_column("y_max", Float)
    #: A proposal's detector score.
    score: Mapped[float | None] = mapped_column(Float)
    #: Gold drawings: True for a catalog box, False for a perturbed one; NULL otherwise.
    gold: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[DrawingStatus] = mapped_column(
        Enum(DrawingStatus, name="box_drawing_status", native_enum=False, length=16),
        default=DrawingStatus.pending,
    )
    #: Quality votes of active annotators, and P(good | votes).
    yes_votes: Mapped[int] = mapped_column(Integer, default=0)
    no_votes: Mapped[int] = mapped_column(Integer, default=0)
    posterior: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BoxQualityVote(Base):
    """ "Is this box tight and on a <synset>?": one annotator's answer about one drawing."""

    __tablename__ = "box_quality_votes"
    __table_args__ = (UniqueConstraint("drawing_id", "annotator_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drawing_id: Mapped[int] = mapped_column(ForeignKey("box_drawings.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("annotators.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("box_tasks.id", ondelete="SET NULL"), index=True
    )
    answer: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BoxCoverageVote(Base):
    """ "Is every <synset> in the image boxed?", asked when the item had ``boxes`` accepted
    boxes: unique per (item, annotator, boxes), so a new accepted box reopens the question."""

    __tablename__ = "box_coverage_votes"
    __table_args__ = (UniqueConstraint("item_id", "annotator_id", "boxes"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("box_items.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("annotators.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("box_tasks.id", ondelete="SET NULL"), index=True
    )
    answer: Mapped[bool] = mapped_column(Boolean)
    boxes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
