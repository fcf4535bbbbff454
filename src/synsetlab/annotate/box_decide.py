"""Decisions of a box project as votes arrive: drawings accepted or rejected, images covered.

A drawing's quality posterior, like an image's coverage posterior, weighs each vote by its
annotator's accuracy on gold (naive Bayes, as the label consensus's independence model does,
:func:`~synsetlab.annotate.consensus.fit_independence`): starting from even odds, a yes adds
``logit(a)`` and a no subtracts it, where ``a`` is the annotator's posterior mean accuracy on
their gold tasks under a Beta(8, 2) prior (a newcomer counts as 0.8, and nobody counts as worse
than a coin: below 0.5 a vote adds nothing). A drawing is accepted when its posterior reaches
the project's ``target_quality``, rejected when it falls to ``1 - target_quality`` or has
``max_votes`` votes without reaching it. An image is covered when its coverage yes votes, asked
at its current number of accepted boxes, reach the target; a confident no sends it back to
drawing. Votes of stopped annotators never count.

Every function here runs under the project's lock (:func:`.assign.lock_project`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import numpy as np
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from synsetlab.annotate.store import stop_below_gold
from synsetlab.catalog.annotation import (
    AnnotationProject,
    Annotator,
    AnnotatorState,
    BoxCoverageVote,
    BoxDrawing,
    BoxItem,
    BoxItemStatus,
    BoxQualityVote,
    BoxTask,
    DrawingStatus,
)

__all__ = [
    "ACCURACY_PRIOR",
    "MAX_DRAWINGS",
    "accuracies",
    "refresh_drawings",
    "refresh_items",
    "stop_bad_box_annotators",
    "vote_posterior",
]

#: Beta prior of an annotator's accuracy before their gold answers (mean 0.8).
ACCURACY_PRIOR = (8.0, 2.0)
#: Drawings an image gets at most: past them it is closed as covered (a hopeless image, or a
#: crowd that cannot agree), so that no image cycles forever.
MAX_DRAWINGS = 12


def vote_posterior(answers: Iterable[tuple[bool, float]], prior: float = 0.5) -> float:
    """P(yes is right | votes): ``answers`` are (answer, annotator accuracy) pairs."""
    logit = float(np.log(prior / (1.0 - prior)))
    for answer, accuracy in answers:
        a = min(max(accuracy, 0.5), 0.999)
        weight = float(np.log(a / (1.0 - a)))
        logit += weight if answer else -weight
    return float(1.0 / (1.0 + np.exp(-logit)))


def accuracies(s: Session, annotator_ids: Iterable[int]) -> dict[int, float]:
    """Each annotator's posterior mean accuracy on their submitted gold tasks."""
    ids = sorted(set(annotator_ids))
    out = {i: ACCURACY_PRIOR[0] / sum(ACCURACY_PRIOR) for i in ids}
    if not ids:
        return out
    right = case((BoxTask.correct, 1), else_=0)
    for annotator_id, answers, correct in s.execute(
        select(BoxTask.annotator_id, func.count(), func.sum(right))
        .where(BoxTask.annotator_id.in_(ids), BoxTask.correct.is_not(None))
        .group_by(BoxTask.annotator_id)
    ):
        a, b = ACCURACY_PRIOR
        out[annotator_id] = (a + int(correct or 0)) / (a + b + int(answers))
    return out


def refresh_drawings(
    s: Session, project: AnnotationProject, drawing_ids: Iterable[int], *, now: datetime
) -> set[int]:
    """Recount and decide the pending crowd drawings among ``drawing_ids``; returns the items
    whose drawings changed (to refresh with :func:`refresh_items`)."""
    ids = sorted(set(drawing_ids))
    if not ids:
        return set()
    drawings = s.scalars(
        select(BoxDrawing).where(BoxDrawing.id.in_(ids), BoxDrawing.gold.is_(None))
    ).all()
    votes = s.execute(
        select(BoxQualityVote.drawing_id, BoxQualityVote.annotator_id, BoxQualityVote.answer)
        .join(Annotator, Annotator.id == BoxQualityVote.annotator_id)
        .where(BoxQualityVote.drawing_id.in_(ids), Annotator.state == AnnotatorState.active)
    ).all()
    acc = accuracies(s, (a for _, a, _ in votes))
    by_drawing: dict[int, list[tuple[bool, float]]] = defaultdict(list)
    for drawing_id, annotator_id, answer in votes:
        by_drawing[drawing_id].append((bool(answer), acc[annotator_id]))
    target = float(project.target_quality or 0.95)
    touched = set()
    for d in drawings:
        answers = by_drawing.get(d.id, [])
        d.yes_votes = sum(a for a, _ in answers)
        d.no_votes = len(answers) - d.yes_votes
        d.posterior = vote_posterior(answers) if answers else None
        if d.status is not DrawingStatus.pending:
            continue
        if answers and d.posterior >= target:
            d.status = DrawingStatus.accepted
        elif answers and (d.posterior <= 1.0 - target or len(answers) >= project.max_votes):
            d.status = DrawingStatus.rejected
        else:
            continue
        d.decided_at = now
        touched.add(d.item_id)
    s.flush()
    return touched


def refresh_items(
    s: Session, project: AnnotationProject, item_ids: Iterable[int], *, now: datetime
) -> int:
    """Bring the status of the (non-gold, uncovered) items among ``item_ids`` up to date from
    their drawings and coverage votes; returns how many became covered."""
    ids = sorted(set(item_ids))
    if not ids:
        return 0
    items = s.scalars(
        select(BoxItem).where(
            BoxItem.id.in_(ids), BoxItem.gold.is_(False), BoxItem.status != BoxItemStatus.covered
        )
    ).all()
    counts: dict[int, dict[DrawingStatus, int]] = defaultdict(lambda: defaultdict(int))
    for item_id, status, n in s.execute(
        select(BoxDrawing.item_id, BoxDrawing.status, func.count())
        .where(BoxDrawing.item_id.in_(ids))
        .group_by(BoxDrawing.item_id, BoxDrawing.status)
    ):
        counts[item_id][status] = int(n)
    votes = s.execute(
        select(
            BoxCoverageVote.item_id,
            BoxCoverageVote.annotator_id,
            BoxCoverageVote.answer,
            BoxCoverageVote.boxes,
        )
        .join(Annotator, Annotator.id == BoxCoverageVote.annotator_id)
        .where(BoxCoverageVote.item_id.in_(ids), Annotator.state == AnnotatorState.active)
    ).all()
    acc = accuracies(s, (a for _, a, _, _ in votes))
    target = float(project.target_quality or 0.95)
    by_item: dict[int, list[tuple[int, bool, float]]] = defaultdict(list)
    for item_id, annotator, answer, boxes in votes:  # grouped once, not scanned per item
        by_item[item_id].append((boxes, bool(answer), acc[annotator]))
    covered = 0
    for item in items:
        c = counts[item.id]
        item.accepted = c[DrawingStatus.accepted]
        answers = [(a, w) for boxes, a, w in by_item[item.id] if boxes == item.accepted]
        item.coverage_yes = sum(a for a, _ in answers)
        item.coverage_no = len(answers) - item.coverage_yes
        item.coverage_posterior = vote_posterior(answers) if answers else None
        drawn = sum(c.values())
        if c[DrawingStatus.pending]:
            item.status = BoxItemStatus.verifying
        elif (answers and item.coverage_posterior >= target) or drawn >= MAX_DRAWINGS:
            item.status = BoxItemStatus.covered
            item.decided_at = now
            covered += 1
        elif len(answers) >= project.max_votes:
            # Undecided after every vote it may get: the majority stands.
            if item.coverage_posterior >= 0.5:
                item.status = BoxItemStatus.covered
                item.decided_at = now
                covered += 1
            else:
                item.status = BoxItemStatus.drawing
        elif item.accepted == 0 or (answers and item.coverage_posterior <= 1.0 - target):
            item.status = BoxItemStatus.drawing
        else:
            item.status = BoxItemStatus.verifying
    s.flush()
    return covered


def stop_bad_box_annotators(
    s: Session, project: AnnotationProject, annotator_ids: Iterable[int], *, now: datetime
) -> list[Annotator]:
    """Stop the active ones among ``annotator_ids`` whose gold tasks are confidently below the
    project's accuracy (:func:`~synsetlab.annotate.quality.workers_to_stop`), reject their
    pending drawings, and recount everything they voted on."""
    ids = sorted(set(annotator_ids))
    if not ids:
        return []
    right = case((BoxTask.correct, 1), else_=0)
    rows = s.execute(
        select(BoxTask.annotator_id, func.count(), func.sum(right))
        .join(Annotator, Annotator.id == BoxTask.annotator_id)
        .where(
            BoxTask.annotator_id.in_(ids),
            BoxTask.correct.is_not(None),
            Annotator.state == AnnotatorState.active,
        )
        .group_by(BoxTask.annotator_id)
    ).all()
    stopped = stop_below_gold(s, project, rows, now=now, gold="gold box tasks",
                              discounted="their boxes and votes")  # fmt: skip
    if not stopped:
        return []
    gone = [p.id for p in stopped]
    s.execute(
        update(BoxDrawing)
        .where(BoxDrawing.annotator_id.in_(gone), BoxDrawing.status == DrawingStatus.pending)
        .values(status=DrawingStatus.rejected, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    s.flush()
    voted = set(
        s.scalars(select(BoxQualityVote.drawing_id).where(BoxQualityVote.annotator_id.in_(gone)))
    )
    items = refresh_drawings(s, project, voted, now=now)
    items |= set(s.scalars(select(BoxDrawing.item_id).where(BoxDrawing.annotator_id.in_(gone))))
    items |= set(
        s.scalars(select(BoxCoverageVote.item_id).where(BoxCoverageVote.annotator_id.in_(gone)))
    )
    s.expire_all()
    refresh_items(s, project, items, now=now)
    return stopped
