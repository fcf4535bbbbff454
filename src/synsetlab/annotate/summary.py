"""Where annotation stands: a project's progress per class, and what a datasheet says of it.

Estimated precision of a class is the mean posterior of its accepted questions: under the
consensus table, the share of accepted labels expected to be right. Agreement is the share of
pairs of (counted) votes on the same question that agree. Annotator quality is their accuracy
on gold questions, a Beta posterior (:func:`synsetlab.annotate.quality.gold_quality`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synsetlab.annotate.projects import ProjectOptions, get_project
from synsetlab.annotate.quality import gold_quality
from synsetlab.annotate.votes import make_votes
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationItem,
    AnnotationProject,
    AnnotationTask,
    AnnotationVote,
    Annotator,
    AnnotatorState,
    ItemStatus,
)
from synsetlab.catalog.models import utcnow

__all__ = [
    "AnnotationSummary",
    "AnnotatorQuality",
    "ClassAnnotation",
    "ClassProgress",
    "ProjectProgress",
    "annotation_summary",
    "project_progress",
]


@dataclass(frozen=True)
class ClassProgress:
    """One class of a project."""

    wnid: str
    name: str
    #: Candidate questions, and the votes counted on them.
    images: int
    votes: int
    accepted: int
    rejected: int
    pending: int
    #: Mean posterior of the accepted: the share expected right; None when none accepted.
    estimated_precision: float | None
    #: The consensus table exists; else ``subset_short`` subset questions still need votes.
    table_ready: bool
    subset_short: int


@dataclass(frozen=True)
class AnnotatorQuality:
    """One annotator: votes, gold accuracy (posterior mean and 95% interval), speed."""

    name: str
    project: str
    state: str
    #: Why a stopped annotator was stopped ("" for active ones).
    stop_reason: str
    votes: int
    gold_answers: int
    gold_accuracy: float
    lower: float
    upper: float
    #: Share of their answers faster than the project's ``min_seconds``.
    fast_share: float | None


@dataclass(frozen=True)
class ProjectProgress:
    """A project's options and progress (``annotate status``)."""

    slug: str
    options: ProjectOptions
    classes: list[ClassProgress]
    annotators: list[AnnotatorQuality]
    #: Pages answered, and pages open now.
    pages: int
    open_pages: int
    #: Votes stored (gold and discounted included), on gold, flagged fast, discounted.
    votes: int
    gold_votes: int
    fast_votes: int
    discounted_votes: int
    #: Candidate labels left out at creation, by reason.
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def decided(self) -> int:
        return sum(c.accepted + c.rejected for c in self.classes)

    @property
    def images(self) -> int:
        return sum(c.images for c in self.classes)


@dataclass(frozen=True)
class ClassAnnotation:
    """What the crowd said about one class, over every project that asked about it."""

    wnid: str
    projects: tuple[str, ...]
    questions: int
    accepted: int
    rejected: int
    pending: int
    estimated_precision: float | None
    #: Votes counted per question asked (questions without votes included).
    votes_per_image: float | None
    #: Share of agreeing pairs among the votes on the same question; None with no pairs.
    agreement: float | None


@dataclass(frozen=True)
class AnnotationSummary:
    """Crowd verification of some classes, for a datasheet (JSON-safe via :meth:`to_dict`)."""

    classes: dict[str, ClassAnnotation]
    #: Annotators of the projects involved, and how many were stopped.
    annotators: int
    stopped: int
    #: Share of right answers on gold over every counted annotator (None without gold).
    gold_accuracy: float | None
    #: Share of answers flagged too fast.
    fast_share: float | None
    quality: list[AnnotatorQuality]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: what a frozen version keeps (the live state changes, a version not)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> AnnotationSummary:
        """The summary :meth:`to_dict` wrote."""
        classes = {
            wnid: ClassAnnotation(**{**c, "projects": tuple(c["projects"])})
            for wnid, c in record["classes"].items()
        }
        quality = [AnnotatorQuality(**q) for q in record["quality"]]
        return cls(**{**record, "classes": classes, "quality": quality})


def project_progress(s: Session, project: str | AnnotationProject) -> ProjectProgress:
    """Per class: questions, votes, accepted / rejected / pending, estimated precision."""
    if isinstance(project, str):
        project = get_project(s, project)
    classes = s.scalars(
        select(AnnotationClass)
        .where(AnnotationClass.project_id == project.id)
        .order_by(AnnotationClass.id)
    ).all()
    items = _items(s, [project.id])
    rows = []
    for klass in classes:
        mine = items.loc[(items["class_id"] == klass.id) & items["gold"].isna()]
        accepted = mine.loc[mine["status"] == ItemStatus.accepted.value]
        short = mine["initial"] & (mine["yes"] + mine["no"] < project.initial_votes)
        rows.append(
            ClassProgress(
                wnid=klass.wnid,
                name=klass.lemmas.split("; ")[0],
                images=len(mine),
                votes=int((mine["yes"] + mine["no"]).sum()),
                accepted=len(accepted),
                rejected=int((mine["status"] == ItemStatus.rejected.value).sum()),
                pending=int((mine["status"] == ItemStatus.pending.value).sum()),
                estimated_precision=_mean(accepted["posterior"]),
                table_ready=klass.consensus is not None,
                subset_short=0 if klass.consensus is not None else int(short.sum()),
            )
        )
    votes = _votes(s, [project.id])
    now = utcnow()
    tasks = s.execute(
        select(
            func.count().filter(AnnotationTask.submitted_at.is_not(None)),
            func.count().filter(
                AnnotationTask.submitted_at.is_(None), AnnotationTask.expires_at > now
            ),
        ).where(AnnotationTask.project_id == project.id)
    ).one()
    return ProjectProgress(
        slug=project.slug,
        options=ProjectOptions.of(project),
        classes=rows,
        annotators=_quality(s, [project.id], votes),
        pages=int(tasks[0]),
        open_pages=int(tasks[1]),
        votes=len(votes),
        gold_votes=int(votes["gold"].notna().sum()),
        fast_votes=int(votes["fast"].sum()),
        discounted_votes=int((votes["state"] == AnnotatorState.stopped.value).sum()),
        skipped=dict(project.options.get("skipped", {})),
    )


def annotation_summary(s: Session, wnids: Iterable[str]) -> AnnotationSummary:
    """What the crowd said about ``wnids`` (a version's classes), over every project.

    Per class: questions, accepted / rejected / pending, estimated precision, votes per image,
    agreement; over the annotators of the projects involved: their number, those stopped,
    gold accuracy, the share of answers too fast, and each one's quality.
    """
    wanted = set(wnids)
    projects = sorted(
        set(
            s.scalars(
                select(AnnotationClass.project_id).where(AnnotationClass.wnid.in_(sorted(wanted)))
            )
        )
    )
    slugs = dict(s.execute(select(AnnotationProject.id, AnnotationProject.slug)).all())
    items = _items(s, projects)
    items = items.loc[items["wnid"].isin(wanted) & items["gold"].isna()]
    classes = {}
    for wnid, mine in items.groupby("wnid", sort=True):
        accepted = mine.loc[mine["status"] == ItemStatus.accepted.value]
        k = (mine["yes"] + mine["no"]).to_numpy()
        y = mine["yes"].to_numpy()
        pairs = float((k * (k - 1) / 2).sum())
        agreeing = float((y * (y - 1) / 2 + (k - y) * (k - y - 1) / 2).sum())
        classes[str(wnid)] = ClassAnnotation(
            wnid=str(wnid),
            projects=tuple(sorted(slugs[p] for p in mine["project_id"].unique())),
            questions=len(mine),
            accepted=len(accepted),
            rejected=int((mine["status"] == ItemStatus.rejected.value).sum()),
            pending=int((mine["status"] == ItemStatus.pending.value).sum()),
            estimated_precision=_mean(accepted["posterior"]),
            votes_per_image=float(k.mean()) if len(k) else None,
            agreement=agreeing / pairs if pairs else None,
        )
    votes = _votes(s, projects)
    quality = _quality(s, projects, votes)
    counted = votes.loc[votes["state"] == AnnotatorState.active.value]
    on_gold = counted.loc[counted["gold"].notna()]
    return AnnotationSummary(
        classes=classes,
        annotators=len(quality),
        stopped=sum(q.state == AnnotatorState.stopped.value for q in quality),
        gold_accuracy=float((on_gold["answer"] == on_gold["gold"]).mean())
        if len(on_gold)
        else None,
        fast_share=float(votes["fast"].mean()) if len(votes) else None,
        quality=quality,
    )


def _items(s: Session, project_ids: list[int]) -> pd.DataFrame:
    rows = s.execute(
        select(
            AnnotationItem.project_id,
            AnnotationItem.class_id,
            AnnotationItem.wnid,
            AnnotationItem.gold,
            AnnotationItem.initial,
            AnnotationItem.yes_votes,
            AnnotationItem.no_votes,
            AnnotationItem.status,
            AnnotationItem.posterior,
        ).where(AnnotationItem.project_id.in_(project_ids))
    ).all()
    columns = [
        "project_id",
        "class_id",
        "wnid",
        "gold",
        "initial",
        "yes",
        "no",
        "status",
        "posterior",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["status"] = [getattr(st, "value", st) for st in frame["status"]]
    frame["gold"] = frame["gold"].astype(object)
    frame["initial"] = frame["initial"].astype(bool)
    frame["posterior"] = frame["posterior"].astype(float)
    return frame


def _votes(s: Session, project_ids: list[int]) -> pd.DataFrame:
    rows = s.execute(
        select(
            AnnotationVote.item_id,
            AnnotationVote.annotator_id,
            AnnotationVote.answer,
            AnnotationVote.seconds,
            AnnotationVote.fast,
            AnnotationItem.gold,
            Annotator.state,
        )
        .join(AnnotationItem, AnnotationItem.id == AnnotationVote.item_id)
        .join(Annotator, Annotator.id == AnnotationVote.annotator_id)
        .where(AnnotationItem.project_id.in_(project_ids))
    ).all()
    columns = ["item_id", "annotator_id", "answer", "seconds", "fast", "gold", "state"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["state"] = [getattr(st, "value", st) for st in frame["state"]]
    frame["fast"] = frame["fast"].astype(bool)
    return frame


def _quality(s: Session, project_ids: list[int], votes: pd.DataFrame) -> list[AnnotatorQuality]:
    people = s.execute(
        select(
            Annotator.id,
            Annotator.name,
            Annotator.state,
            Annotator.stop_reason,
            AnnotationProject.slug,
        )
        .join(AnnotationProject, AnnotationProject.id == Annotator.project_id)
        .where(Annotator.project_id.in_(project_ids))
        .order_by(Annotator.id)
    ).all()
    if not people:
        return []
    on_gold = votes.loc[votes["gold"].notna()]
    table = make_votes(
        on_gold["item_id"].to_numpy(),
        on_gold["annotator_id"].to_numpy(),
        on_gold["answer"].to_numpy(dtype=bool),
    )
    gold = pd.Series(
        {i: bool(g) for i, g in zip(on_gold["item_id"], on_gold["gold"], strict=True)},
        dtype=object,
    )
    quality = gold_quality(table, gold, workers=[p[0] for p in people])
    per_person = votes.groupby("annotator_id").agg(votes=("answer", "size"), fast=("fast", "mean"))
    out = []
    for annotator_id, name, state, reason, slug in people:
        row = quality.loc[annotator_id]
        counted = per_person.loc[annotator_id] if annotator_id in per_person.index else None
        out.append(
            AnnotatorQuality(
                name=name,
                project=slug,
                state=state.value,
                stop_reason=reason,
                votes=0 if counted is None else int(counted["votes"]),
                gold_answers=int(row["answers"]),
                gold_accuracy=float(row["accuracy"]),
                lower=float(row["lower"]),
                upper=float(row["upper"]),
                fast_share=None if counted is None else float(counted["fast"]),
            )
        )
    return out


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(np.mean(values)) if len(values) else None
