"""Reviewing findings one at a time: the queue, one finding's view, a decision on it, undo.

What the bulk commands (``synsetlab findings exclude --kind ...``) decide per kind, a
reviewer decides here per finding, after looking: ``keep`` (the image is fine), ``exclude``
or ``relabel``. Each is a :class:`~synsetlab.catalog.Decision` with its author, undone as
any other. The site's ``/review`` page is a thin adapter over this module.

A label issue whose suggestion the reviewer doubts may go to the crowd instead
(:func:`synsetlab.annotate.ask.ask_about_findings` asks the questions): :func:`send_to_crowd`
records that as a ``keep`` with the reason ``crowd:<kind>`` (:func:`crowd_reason`). Like any
keep it changes nothing in a version and takes the finding out of the queue; undone, the
finding comes back (the crowd's questions stay: their votes are never thrown away). The view
of a label issue shows what the crowd says of both classes (:attr:`ReviewItem.crowd`).

Only findings about one image are reviewed here; class-level ones (``small-class``,
``class-overlap``) are decided with the balance and class commands.

A finding has been decided when an active decision links to it, or when an active decision
on its image carries its kind's reason (``finding:<kind>``, as the bulk commands record,
``kept:<kind>`` or ``crowd:<kind>``): a finding replaced by a later run of its analysis loses
its link, not its decision. Findings about excluded images leave the queue too: nothing is
left to decide.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, get_args

from PIL import Image as PILImage
from PIL import ImageOps
from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from synsetlab.blobs import BlobStore
from synsetlab.catalog.annotation import AnnotationItem, AnnotationProject
from synsetlab.catalog.models import (
    Decision,
    DecisionAction,
    Finding,
    Image,
    Label,
    LabelState,
    SplitAssignment,
    as_utc,
)
from synsetlab.curate import decisions
from synsetlab.curate.kinds import (
    EXACT_DUPLICATE,
    LABEL_ISSUE,
    NEAR_DUPLICATE,
    QUALITY_KINDS,
    SPLIT_LEAK,
)
from synsetlab.errors import UserError
from synsetlab.taxonomy import Taxonomy
from synsetlab.taxonomy.errors import UnknownSynsetError

Action = Literal["keep", "exclude", "relabel"]
ACTIONS: tuple[str, ...] = get_args(Action)
#: Kinds whose findings name a cluster of copies (``detail["cluster"]``), shown side by side.
CLUSTER_KINDS: tuple[str, ...] = (EXACT_DUPLICATE, NEAR_DUPLICATE, SPLIT_LEAK)
#: Most members of one cluster a view shows (a crowded near-duplicate cluster has hundreds).
MAX_CLUSTER = 24
#: Longest side of a served thumbnail, in pixels: the bounds of ``thumbnail_jpeg``'s ``size``.
THUMB_MIN, THUMB_MAX = 32, 1024


class ReviewError(UserError, ValueError):
    """A review decision that cannot be taken as asked; the message says what to do."""


class FindingNotFoundError(ReviewError, LookupError):
    """No finding (or decision) with that id: the analysis may have run again since."""


class ReviewConflictError(ReviewError):
    """The finding is decided already, the decision undone already, or a hidden test label
    would move without ``allow_hidden_test``."""


def kept_reason(kind: str) -> str:
    """The reason a ``keep`` of a finding of ``kind`` records (``finding:<kind>`` is the
    reason of exclusions and relabels, as the bulk commands record them)."""
    return f"kept:{kind}"


def crowd_reason(kind: str) -> str:
    """The reason of the ``keep`` that records a finding of ``kind`` sent to the crowd."""
    return f"crowd:{kind}"


def _reasons(kind: str) -> list[str]:
    """Every reason that decides a finding of ``kind`` (see the module doc)."""
    return [f"finding:{kind}", kept_reason(kind), crowd_reason(kind)]


# The queue -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One finding waiting for review."""

    finding_id: int
    kind: str
    score: float | None
    image_id: int


def _decided() -> ColumnElement[bool]:
    """SQL: the finding in the enclosing query has an active decision (see module doc)."""
    d = aliased(Decision)
    return exists().where(
        d.undone_at.is_(None),
        or_(
            d.finding_id == Finding.id,
            and_(
                d.image_id == Finding.image_id,
                or_(
                    d.reason == literal("finding:") + Finding.kind,
                    d.reason == literal("kept:") + Finding.kind,
                    d.reason == literal("crowd:") + Finding.kind,
                ),
            ),
        ),
    )


def _excluded() -> ColumnElement[bool]:
    """SQL: the finding's image is taken out by an active ``exclude``, for whatever reason."""
    d = aliased(Decision)
    return exists().where(
        d.undone_at.is_(None), d.action == DecisionAction.exclude, d.image_id == Finding.image_id
    )


def _pending() -> tuple[ColumnElement[bool], ...]:
    return (Finding.image_id.is_not(None), ~_decided(), ~_excluded())


def review_queue(
    s: Session, *, kind: str | None = None, limit: int | None = None
) -> list[QueueEntry]:
    """Findings about one image not decided yet, by kind, then most severe (highest score)
    first, then id; only ``kind``'s when given; at most ``limit``."""
    query = (
        select(Finding.id, Finding.kind, Finding.score, Finding.image_id)
        .where(*_pending())
        .order_by(Finding.kind, Finding.score.desc().nulls_last(), Finding.id)
        .limit(limit)
    )
    if kind is not None:
        query = query.where(Finding.kind == kind)
    return [QueueEntry(*row) for row in s.execute(query)]


def pending_counts(s: Session) -> dict[str, int]:
    """Findings waiting for review, per kind (sorted); kinds with none left out."""
    query = select(Finding.kind, func.count()).where(*_pending()).group_by(Finding.kind)
    return dict(sorted(s.execute(query).all()))


# One finding's view ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelView:
    wnid: str
    name: str
    #: candidate, verified or rejected.
    state: str


@dataclass(frozen=True, slots=True)
class ImageView:
    """An image as a reviewer sees it (its pixels come from ``/thumbs/{sha256}``)."""

    image_id: int
    sha256: str
    source_key: str
    #: The split of the next version when assigned, else the one its source gave (or None).
    split: str | None
    #: In the hidden test split: its label is a challenge's answer key.
    hidden_test: bool
    width: int
    height: int
    size_bytes: int
    labels: list[LabelView]
    #: The class an active relabel decision gives it (the latest), if any.
    relabelled_to: str | None
    excluded: bool


@dataclass(frozen=True, slots=True)
class ClassView:
    wnid: str
    name: str
    gloss: str
    #: A few images of the class (verified labels first), none hidden or excluded.
    examples: list[ImageView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DecisionView:
    id: int
    finding_id: int | None
    image_id: int
    action: str
    wnid: str | None
    reason: str
    author: str | None
    created_at: str
    undone_at: str | None
    undone_by: str | None
    #: A keep that records the finding sent to the crowd (``reason`` ``crowd:<kind>``).
    crowd: bool = False

    @classmethod
    def of(cls, d: Decision) -> DecisionView:
        return cls(
            id=d.id,
            finding_id=d.finding_id,
            image_id=d.image_id,
            action=d.action.value,
            wnid=d.wnid,
            reason=d.reason,
            author=d.author,
            created_at=_iso(d.created_at),
            undone_at=None if d.undone_at is None else _iso(d.undone_at),
            undone_by=d.undone_by,
            crowd=d.action is DecisionAction.keep and d.reason.startswith("crowd:"),
        )


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class CrowdView:
    """One crowd question about the finding's image: does it show ``wnid``?"""

    project: str
    wnid: str
    #: pending, accepted or rejected (a gold question stays pending: its answer is known).
    status: str
    yes: int
    no: int
    #: P(the image shows ``wnid`` | votes), once the class's consensus table exists.
    posterior: float | None
    #: The known answer of a gold question; None for a question under verification.
    gold: bool | None


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """Everything the review page shows of one finding.

    ``view`` says which of the optional parts are filled: ``cluster`` (duplicates and split
    leaks: every member), ``label`` (a label issue: ``given``, ``suggested`` with examples,
    their ``lca``), ``quality`` (``value`` against ``threshold``) or ``image`` (just the image).
    """

    finding_id: int
    kind: str
    score: float | None
    detail: dict[str, Any]
    view: Literal["cluster", "label", "quality", "image"]
    image: ImageView
    #: The active decision on this finding, if it has one.
    decision: DecisionView | None = None
    cluster: list[ImageView] = field(default_factory=list)
    #: Members of the cluster in all; ``cluster`` shows at most :data:`MAX_CLUSTER`.
    cluster_size: int = 0
    given: ClassView | None = None
    suggested: ClassView | None = None
    lca: ClassView | None = None
    value: float | None = None
    threshold: float | None = None
    #: A label issue's questions to the crowd about its image and either class, if any.
    crowd: list[CrowdView] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def review_item(
    s: Session, finding_id: int, *, taxonomy: Taxonomy, examples: int = 4
) -> ReviewItem:
    """The view of finding ``finding_id``, with ``examples`` images of each class a label
    issue names. :class:`FindingNotFoundError` if there is none."""
    f = _finding(s, finding_id)
    image = _image_views(s, [f.image_id], taxonomy)[f.image_id]
    common = {"finding_id": f.id, "kind": f.kind, "score": f.score, "detail": dict(f.detail),
              "image": image, "decision": _decision_of(s, f)}  # fmt: skip
    if f.kind in CLUSTER_KINDS and "cluster" in f.detail:
        members = _cluster_members(s, f)
        views = _image_views(s, members[:MAX_CLUSTER], taxonomy)
        return ReviewItem(**common, view="cluster", cluster=list(views.values()),
                          cluster_size=len(members))  # fmt: skip
    if f.kind == LABEL_ISSUE and f.detail.get("given") and f.detail.get("suggested"):
        given, suggested = f.detail["given"], f.detail["suggested"]

        def shown(wnid: str) -> ClassView:
            ids = _examples(s, wnid, not_id=f.image_id, limit=examples)
            return _class_view(taxonomy, wnid, list(_image_views(s, ids, taxonomy).values()))

        lca = f.detail.get("lca")
        return ReviewItem(**common, view="label", given=shown(given), suggested=shown(suggested),
                          lca=_class_view(taxonomy, lca, []) if lca else None,
                          crowd=_crowd_views(s, f.image_id, [given, suggested]))  # fmt: skip
    if f.kind in QUALITY_KINDS:
        return ReviewItem(**common, view="quality", value=f.detail.get("value"),
                          threshold=f.detail.get("threshold"))  # fmt: skip
    return ReviewItem(**common, view="image")


def _crowd_views(s: Session, image_id: int, wnids: list[str]) -> list[CrowdView]:
    """The questions of every annotation project about ``image_id`` and ``wnids``."""
    query = (
        select(AnnotationItem, AnnotationProject.slug)
        .join(AnnotationProject, AnnotationProject.id == AnnotationItem.project_id)
        .where(AnnotationItem.image_id == image_id, AnnotationItem.wnid.in_(wnids))
        .order_by(AnnotationItem.project_id, AnnotationItem.id)
    )
    return [
        CrowdView(slug, q.wnid, q.status.value, q.yes_votes, q.no_votes, q.posterior, q.gold)
        for q, slug in s.execute(query)
    ]


def _finding(s: Session, finding_id: int) -> Finding:
    f = s.get(Finding, finding_id)
    if f is None:
        raise FindingNotFoundError(
            f"no finding {finding_id}: its analysis may have run again since; reload the queue"
        )
    if f.image_id is None:
        raise ReviewError(
            f"finding {finding_id} ({f.kind}) is about a class, not an image: decide it with "
            "`synsetlab curate balance` or the class commands"
        )
    return f


def _cluster_members(s: Session, f: Finding) -> list[int]:
    """Image ids of ``f``'s cluster (findings of its kind naming the same cluster), with
    the other image a split leak or a near duplicate names; ascending."""
    query = select(Finding.image_id).where(
        Finding.kind == f.kind, Finding.detail["cluster"].as_string() == str(f.detail["cluster"])
    )
    ids = {i for i in s.scalars(query) if i is not None} | {f.image_id}
    for key in ("other_image_id", "nearest_image_id"):
        if isinstance(f.detail.get(key), int):
            ids.add(f.detail[key])
    present = s.scalars(select(Image.id).where(Image.id.in_(ids)))
    return sorted(present)


def _image_views(s: Session, image_ids: list[int], taxonomy: Taxonomy) -> dict[int, ImageView]:
    """Views of ``image_ids`` (those in the catalog), in the order given."""
    rows = {r.id: r for r in s.scalars(select(Image).where(Image.id.in_(image_ids)))}
    splits = {
        i: (split, hidden)
        for i, split, hidden in s.execute(
            select(SplitAssignment.image_id, SplitAssignment.split, SplitAssignment.hidden).where(
                SplitAssignment.image_id.in_(image_ids)
            )
        )
    }
    labels: dict[int, list[Label]] = {i: [] for i in image_ids}
    for label in s.scalars(select(Label).where(Label.image_id.in_(image_ids)).order_by(Label.id)):
        labels[label.image_id].append(label)
    relabelled: dict[int, str] = {}
    excluded: set[int] = set()
    active = (
        select(Decision)
        .where(Decision.undone_at.is_(None), Decision.image_id.in_(image_ids))
        .order_by(Decision.id)
    )
    for d in s.scalars(active):
        if d.action is DecisionAction.exclude:
            excluded.add(d.image_id)
        elif d.action is DecisionAction.relabel and d.wnid is not None:
            relabelled[d.image_id] = d.wnid  # the latest wins, as in catalog.current
    out = {}
    for i in image_ids:
        if i not in rows:
            continue
        r = rows[i]
        split, hidden = splits.get(i, (r.source_split, False))
        out[i] = ImageView(
            image_id=i, sha256=r.sha256, source_key=r.source_key, split=split,
            hidden_test=bool(hidden), width=r.width, height=r.height,
            size_bytes=r.size_bytes,
            labels=[LabelView(x.wnid, taxonomy.name_of(x.wnid), x.state.value)
                    for x in labels[i]],
            relabelled_to=relabelled.get(i), excluded=i in excluded,
        )  # fmt: skip
    return out


def _class_view(taxonomy: Taxonomy, wnid: str, examples: list[ImageView]) -> ClassView:
    try:
        gloss = taxonomy.get(wnid).gloss
    except UnknownSynsetError:  # a class the workspace no longer defines: show its id
        gloss = ""
    return ClassView(wnid, taxonomy.name_of(wnid), gloss, examples)


def _examples(s: Session, wnid: str, *, not_id: int, limit: int) -> list[int]:
    """Up to ``limit`` images labelled ``wnid`` (verified first, then by id), other than
    ``not_id``; hidden test images never (their labels are the answer key), nor excluded ones."""
    if limit <= 0:
        return []
    hidden = select(SplitAssignment.image_id).where(SplitAssignment.hidden)
    gone = select(Decision.image_id).where(
        Decision.undone_at.is_(None), Decision.action == DecisionAction.exclude
    )
    rank = func.min(case((Label.state == LabelState.verified, 0), else_=1))
    query = (
        select(Label.image_id)
        .where(
            Label.wnid == wnid,
            Label.state != LabelState.rejected,
            Label.image_id != not_id,
            Label.image_id.not_in(hidden),
            Label.image_id.not_in(gone),
        )
        .group_by(Label.image_id)
        .order_by(rank, Label.image_id)
        .limit(limit)
    )
    return list(s.scalars(query))


def _decision_of(s: Session, f: Finding) -> DecisionView | None:
    """The latest active decision on ``f`` (see the module doc for what counts)."""
    query = (
        select(Decision)
        .where(
            Decision.undone_at.is_(None),
            or_(
                Decision.finding_id == f.id,
                and_(Decision.image_id == f.image_id, Decision.reason.in_(_reasons(f.kind))),
            ),
        )
        .order_by(Decision.id.desc())
        .limit(1)
    )
    d = s.scalars(query).first()
    return None if d is None else DecisionView.of(d)


# Deciding ------------------------------------------------------------------------------------


def decide(
    s: Session,
    finding_id: int,
    action: Action | str,
    *,
    author: str | None,
    wnid: str | None = None,
    allow_hidden_test: bool = False,
) -> DecisionView:
    """Decide finding ``finding_id``: ``keep`` its image as it is, ``exclude`` it from future
    versions, or ``relabel`` it to ``wnid`` (default: the class a label issue suggests).

    ``author`` is recorded with the decision (a site account's name; ``None``: nobody).
    An image of the hidden test split is relabelled only with ``allow_hidden_test``: its
    label is a challenge's answer key, and moving it moves every score computed against it
    (the rule of ``synsetlab findings relabel --include-hidden-test``).

    Raises :class:`FindingNotFoundError`, :class:`ReviewConflictError` (decided already, or a
    hidden test relabel not allowed) or :class:`ReviewError` (an unknown action, a relabel
    without a class or to a class no image has).
    """
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
    f = _finding(s, finding_id)
    _refuse_decided(f, _decision_of(s, f))
    reason = f"finding:{f.kind}"
    if action == "keep":
        d = Decision(image_id=f.image_id, action=DecisionAction.keep, reason=kept_reason(f.kind),
                     finding_id=f.id, author=author)  # fmt: skip
        s.add(d)
    elif action == "exclude":
        d = Decision(image_id=f.image_id, action=DecisionAction.exclude, reason=reason,
                     finding_id=f.id, author=author)  # fmt: skip
        s.add(d)
    else:
        target = _relabel_target(s, f, wnid)
        if _hidden_test(s, f.image_id) and not allow_hidden_test:
            raise ReviewConflictError(
                f"image {f.image_id} is in the hidden test split: its label is a challenge's "
                "answer key, and relabelling it moves every score computed against it; decide "
                "again with allow_hidden_test to relabel it anyway, or keep it"
            )
        d = Decision(image_id=f.image_id, action=DecisionAction.relabel, wnid=target,
                     reason=reason, finding_id=f.id, author=author)  # fmt: skip
        s.add(d)
    s.flush()
    return DecisionView.of(d)


def _refuse_decided(f: Finding, before: DecisionView | None) -> None:
    if before is None:
        return
    what = "sent to the crowd" if before.crowd else f"decided already ({before.action}"
    raise ReviewConflictError(
        f"finding {f.id} was {what} by {before.author or 'nobody recorded'}"
        f"{'' if before.crowd else ')'}; undo decision {before.id} first"
    )


@dataclass(frozen=True, slots=True)
class LabelQuestion:
    """What a label issue asks: does image ``image_id`` show ``given``, or ``suggested``?"""

    finding_id: int
    image_id: int
    given: str
    suggested: str
    #: The image is in the hidden test split (its label is a challenge's answer key).
    hidden_test: bool
    #: The finding's active decision, if any (a crowd one included).
    decision: DecisionView | None


def label_question(s: Session, finding_id: int) -> LabelQuestion:
    """The classes label issue ``finding_id`` weighs against each other, for the crowd.

    Raises :class:`FindingNotFoundError`, or :class:`ReviewError` for a finding of another
    kind or one that names no suggested class.
    """
    f = _finding(s, finding_id)
    given, suggested = f.detail.get("given"), f.detail.get("suggested")
    if f.kind != LABEL_ISSUE or not given or not suggested:
        raise ReviewError(
            f"finding {finding_id} ({f.kind}) is not a label issue with a given and a suggested "
            "class: only those go to the crowd; keep, exclude or relabel it instead"
        )
    return LabelQuestion(
        f.id, f.image_id, given, suggested, _hidden_test(s, f.image_id), _decision_of(s, f)
    )


def send_to_crowd(s: Session, finding_id: int, *, author: str | None) -> DecisionView:
    """Record that label issue ``finding_id`` went to the crowd: a ``keep`` with the reason
    ``crowd:<kind>`` and its author, undone as any decision. Call it once its questions are
    asked (:func:`synsetlab.annotate.ask.ask_about_findings` does both).

    Idempotent: a finding already sent returns that decision. Raises
    :class:`FindingNotFoundError`, :class:`ReviewError` (not a label issue, or an image of
    the hidden test split: never shown to the crowd) or :class:`ReviewConflictError` (kept,
    excluded or relabelled already: undo that first).
    """
    question = label_question(s, finding_id)
    before = question.decision
    if before is not None and before.crowd:
        return before
    if question.hidden_test:
        raise ReviewError(
            f"finding {finding_id} is about image {question.image_id} of the hidden test split: "
            "it never goes to the crowd (its label is a challenge's answer key); keep, exclude "
            "or relabel it instead"
        )
    f = _finding(s, finding_id)
    _refuse_decided(f, before)
    d = Decision(image_id=f.image_id, action=DecisionAction.keep, reason=crowd_reason(f.kind),
                 finding_id=f.id, author=author)  # fmt: skip
    s.add(d)
    s.flush()
    return DecisionView.of(d)


def _hidden_test(s: Session, image_id: int) -> bool:
    """Whether ``image_id`` is in the hidden test split (as ``decisions.hidden_test_ids``)."""
    query = select(SplitAssignment.hidden).where(SplitAssignment.image_id == image_id)
    return bool(s.scalars(query).first())


def _relabel_target(s: Session, f: Finding, wnid: str | None) -> str:
    if wnid is None:
        wnid = f.detail.get("suggested")
        if not wnid:
            raise ReviewError(
                f"finding {f.id} ({f.kind}) suggests no class: give the class to relabel to"
            )
        return wnid
    if s.scalars(select(Label.id).where(Label.wnid == wnid).limit(1)).first() is None:
        raise ReviewError(
            f"no image of the catalog is labelled {wnid!r}: relabel to one of its classes"
        )
    return wnid


def undo(s: Session, *, author: str | None, decision_id: int | None = None) -> DecisionView:
    """Undo decision ``decision_id``, or, without it, the latest active decision ``author``
    took; ``author`` is recorded as who undid it. The finding goes back into the queue.

    Raises :class:`FindingNotFoundError` (no such decision), :class:`ReviewConflictError`
    (undone already, or nothing of ``author``'s left to undo).
    """
    if decision_id is not None:
        d = s.get(Decision, decision_id)
        if d is None:
            raise FindingNotFoundError(f"no decision {decision_id}")
        if d.undone_at is not None:
            raise ReviewConflictError(
                f"decision {decision_id} was undone already (by {d.undone_by or 'nobody recorded'})"
            )
    else:
        if author is None:
            raise ReviewError("say which decision to undo, or whose latest one")
        query = (
            select(Decision)
            .where(Decision.undone_at.is_(None), Decision.author == author)
            .order_by(Decision.id.desc())
            .limit(1)
        )
        d = s.scalars(query).first()
        if d is None:
            raise ReviewConflictError(f"{author} has no active decision left to undo")
    decisions.undo(s, decision_ids=[d.id], author=author)
    s.refresh(d)
    return DecisionView.of(d)


# Thumbnails ----------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def thumbnail_jpeg(blobs: BlobStore, sha256: str, size: int) -> bytes:
    """The image ``sha256`` as a JPEG at most ``size`` px on its longer side (never enlarged),
    EXIF orientation applied, as the datasheet's thumbnails. The last 1024 made are kept in
    memory (a few MiB): a reviewer steps through one cluster's members several times."""
    if not THUMB_MIN <= size <= THUMB_MAX:
        raise ReviewError(f"thumbnail size {size} must be {THUMB_MIN}-{THUMB_MAX} px")
    with PILImage.open(io.BytesIO(blobs.get(sha256))) as img:
        img.draft("RGB", (size, size))  # JPEG: decode at a fraction of full size, much faster
        small = ImageOps.exif_transpose(img)
        if small.mode not in ("RGB", "L"):  # JPEG holds neither alpha, palettes nor 16 bits
            small = small.convert("RGB")
        small.thumbnail((size, size))
        out = io.BytesIO()
        small.save(out, "JPEG", quality=85)
    return out.getvalue()


def catalog_has_blob(s: Session, sha256: str) -> bool:
    """Whether an image of the catalog has content ``sha256`` (what a thumbnail may show)."""
    return s.scalars(select(Image.id).where(Image.sha256 == sha256).limit(1)).first() is not None
