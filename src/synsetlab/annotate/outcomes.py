"""From votes to label states: aggregation writes outcomes, undo restores what they replaced.

:func:`aggregate_project` decides each candidate question of a project by one method and sets
its label rows to ``verified`` or ``rejected``, each change an
:class:`~synsetlab.catalog.AnnotationOutcome` with its evidence (method, yes and no votes,
posterior). Running it again first undoes the project's earlier outcomes, so a project has one
set of outcomes at a time. :func:`undo_outcomes` restores every label to the state it had,
unless something else changed it since (then it is left alone, and counted).

Methods:

- ``dynamic``: the questions dynamic consensus decided as votes came in (their status); the
  undecided keep their state;
- ``majority``: the majority of each question's votes, ties rejected;
- ``dawid-skene``: crowd-kit's Dawid-Skene with the gold questions fixed to their answers,
  accepted when the posterior is above one half.

Votes of stopped annotators never count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from synsetlab.annotate.aggregate import dawid_skene, majority_vote
from synsetlab.annotate.errors import AnnotationError
from synsetlab.annotate.projects import get_project
from synsetlab.annotate.votes import make_votes
from synsetlab.catalog.annotation import (
    AnnotationItem,
    AnnotationOutcome,
    AnnotationProject,
    AnnotationVote,
    Annotator,
    AnnotatorState,
    ItemStatus,
)
from synsetlab.catalog.crowd import VerifiedLabel
from synsetlab.catalog.models import Label, LabelState, as_utc, utcnow

__all__ = [
    "METHODS",
    "Aggregated",
    "Method",
    "Undone",
    "aggregate_project",
    "undo_outcomes",
    "verified_labels",
]

Method = Literal["dynamic", "dawid-skene", "majority"]
METHODS: tuple[str, ...] = ("dynamic", "dawid-skene", "majority")


@dataclass(frozen=True)
class Aggregated:
    """What :func:`aggregate_project` wrote."""

    method: str
    #: Label rows set to verified, and to rejected.
    verified: int
    rejected: int
    #: Candidate questions left undecided (no votes, or dynamic consensus still collecting).
    undecided: int
    #: Earlier outcomes of the project undone first.
    undone: int


@dataclass(frozen=True)
class Undone:
    """What :func:`undo_outcomes` restored."""

    #: Labels given back the state they had before the outcome.
    restored: int
    #: Labels whose state changed since the outcome (another project, a curator): left as is.
    changed_since: int


def aggregate_project(
    s: Session, project: str | AnnotationProject, *, method: Method = "dynamic"
) -> Aggregated:
    """Decide the project's candidate questions by ``method`` and write the label states."""
    if method not in METHODS:
        raise AnnotationError(f"aggregation method {method!r}: choose one of {', '.join(METHODS)}")
    if isinstance(project, str):
        project = get_project(s, project)
    now = utcnow()
    undone = undo_outcomes(s, project, now=now)
    decisions = _decisions(s, project, method)
    candidates = s.execute(
        select(AnnotationItem.id, AnnotationItem.image_id, AnnotationItem.wnid).where(
            AnnotationItem.project_id == project.id, AnnotationItem.gold.is_(None)
        )
    ).all()
    labels: dict[tuple[int, str], list[Label]] = defaultdict(list)
    for label in _labels_of(s, {(image, wnid) for _, image, wnid in candidates}):
        labels[(label.image_id, label.wnid)].append(label)
    verified = rejected = undecided = 0
    for item_id, image_id, wnid in candidates:
        decision = decisions.get(item_id)
        if decision is None:
            undecided += 1
            continue
        accept, yes, no, posterior = decision
        state = LabelState.verified if accept else LabelState.rejected
        for label in labels[(image_id, wnid)]:
            if label.state is not LabelState.candidate:
                continue
            s.add(
                AnnotationOutcome(
                    project_id=project.id,
                    label_id=label.id,
                    method=method,
                    state_before=label.state,
                    state_after=state,
                    yes_votes=yes,
                    no_votes=no,
                    posterior=posterior,
                    created_at=now,
                )
            )
            label.state = state
            verified += accept
            rejected += not accept
    s.flush()
    return Aggregated(method, verified, rejected, undecided, undone.restored)


def undo_outcomes(
    s: Session, project: str | AnnotationProject, *, now: datetime | None = None
) -> Undone:
    """Undo the project's active outcomes, newest first: each label gets back the state it
    had, unless it changed since (then it keeps its state). Outcome rows are kept."""
    if isinstance(project, str):
        project = get_project(s, project)
    now = now or utcnow()
    active = s.scalars(
        select(AnnotationOutcome)
        .where(AnnotationOutcome.project_id == project.id, AnnotationOutcome.undone_at.is_(None))
        .order_by(AnnotationOutcome.id.desc())
    ).all()
    wanted = sorted({o.label_id for o in active})
    labels = {
        label.id: label
        for start in range(0, len(wanted), 500)
        for label in s.scalars(select(Label).where(Label.id.in_(wanted[start : start + 500])))
    }
    restored = changed = 0
    for outcome in active:
        label = labels.get(outcome.label_id)
        if label is not None and label.state is outcome.state_after:
            label.state = outcome.state_before
            restored += 1
        else:
            changed += 1
        outcome.undone_at = now
    s.flush()
    return Undone(restored, changed)


def verified_labels(s: Session, image_ids: Iterable[int]) -> list[VerifiedLabel]:
    """The labels of ``image_ids`` that are verified now because a crowd outcome verified
    them, with the evidence, by image then wnid: what a frozen version records. Labels
    verified by a source are not listed.
    """
    ids = set(image_ids)
    query = (
        select(AnnotationOutcome, Label.image_id, Label.wnid, AnnotationProject.slug)
        .join(Label, Label.id == AnnotationOutcome.label_id)
        .join(AnnotationProject, AnnotationProject.id == AnnotationOutcome.project_id)
        .where(
            AnnotationOutcome.undone_at.is_(None),
            AnnotationOutcome.state_after == LabelState.verified,
            Label.state == LabelState.verified,
        )
        .order_by(AnnotationOutcome.id)
    )
    # The latest outcome per label stands.
    out: dict[tuple[int, str], VerifiedLabel] = {}
    for outcome, image_id, wnid, slug in s.execute(query):
        if image_id in ids:
            out[image_id, wnid] = VerifiedLabel(
                image_id=image_id,
                wnid=wnid,
                project=slug,
                method=outcome.method,
                yes=outcome.yes_votes,
                no=outcome.no_votes,
                posterior=outcome.posterior,
                decided_at=as_utc(outcome.created_at).isoformat(timespec="seconds"),
            )
    return [out[key] for key in sorted(out)]


def _decisions(
    s: Session, project: AnnotationProject, method: str
) -> dict[int, tuple[bool, int, int, float | None]]:
    """Candidate question id -> (accept, yes, no, posterior) of those ``method`` decides."""
    if method == "dynamic":
        rows = s.execute(
            select(
                AnnotationItem.id,
                AnnotationItem.status,
                AnnotationItem.yes_votes,
                AnnotationItem.no_votes,
                AnnotationItem.posterior,
            ).where(
                AnnotationItem.project_id == project.id,
                AnnotationItem.gold.is_(None),
                AnnotationItem.status != ItemStatus.pending,
            )
        ).all()
        return {i: (st is ItemStatus.accepted, y, n, p) for i, st, y, n, p in rows}
    votes = s.execute(
        select(
            AnnotationVote.item_id,
            AnnotationVote.annotator_id,
            AnnotationVote.answer,
            AnnotationItem.gold,
        )
        .join(AnnotationItem, AnnotationItem.id == AnnotationVote.item_id)
        .join(Annotator, Annotator.id == AnnotationVote.annotator_id)
        .where(AnnotationItem.project_id == project.id, Annotator.state == AnnotatorState.active)
        .order_by(AnnotationVote.id)
    ).all()
    if not votes:
        return {}
    item, worker, answer, gold = zip(*votes, strict=True)
    table = make_votes(item, worker, answer)
    known = {i: g for i, g in zip(item, gold, strict=True) if g is not None}
    result = (
        majority_vote(table, gold=known or None)
        if method == "majority"
        else dawid_skene(table, gold=known or None)
    )
    counts = table.groupby("task")["label"].agg(["sum", "count"])
    out = {}
    for task, row in result.items.iterrows():
        if row["gold"]:
            continue
        yes = int(counts.loc[task, "sum"])
        out[int(task)] = (
            bool(row["decision"]),
            yes,
            int(counts.loc[task, "count"]) - yes,
            float(row["p_yes"]),
        )
    return out


def _labels_of(s: Session, pairs: set[tuple[int, str]]) -> list[Label]:
    """The label rows of (image id, wnid) pairs."""
    images = sorted({image for image, _ in pairs})
    out: list[Label] = []
    for start in range(0, len(images), 500):
        chunk = images[start : start + 500]
        out += [
            label
            for label in s.scalars(select(Label).where(Label.image_id.in_(chunk)))
            if (label.image_id, label.wnid) in pairs
        ]
    return out
