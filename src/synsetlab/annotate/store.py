"""What follows new votes, wherever they came from (a page, an import): count them, stop the
annotators whose gold answers are confidently bad, and bring the classes' decisions up to date.

A stopped annotator's votes stay stored but stop counting: every question they answered is
recounted, and the tables of the classes whose initial subset they voted on are estimated
again, which can send decided questions back for votes (as in
:func:`synsetlab.annotate.simulate.simulate_verification`).

Every function here runs under the project's lock (:func:`.assign.lock_project`): counts are
read and written by one writer at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.orm import Session, defer

from synsetlab.annotate.decide import recount, refresh_class
from synsetlab.annotate.quality import MIN_GOLD_ANSWERS, workers_to_stop
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationItem,
    AnnotationProject,
    AnnotationVote,
    Annotator,
    AnnotatorState,
    ItemStatus,
)

__all__ = ["Settled", "count_votes", "propagate_yes_votes", "settle", "stop_below_gold"]

_ITEMS = AnnotationItem.__table__


@dataclass
class Settled:
    """What :func:`settle` changed."""

    #: Questions newly accepted or rejected.
    decided: int = 0
    #: Annotators stopped for their gold answers (names).
    stopped: list[str] = field(default_factory=list)


def count_votes(s: Session, votes: Mapping[int, tuple[int, bool]]) -> None:
    """Add new votes of an active annotator to their questions' counts.

    ``votes``: question id -> (class id, answer). One statement for all of them; counting up
    is safe because the caller holds the project's lock.
    """
    if not votes:
        return
    statement = (
        update(_ITEMS)
        .where(_ITEMS.c.id == bindparam("item"))
        .values(
            yes_votes=_ITEMS.c.yes_votes + bindparam("add_yes"),
            no_votes=_ITEMS.c.no_votes + bindparam("add_no"),
            value=None,  # stale: the next page computes it (see annotate.assign)
        )
    )
    s.connection().execute(
        statement,
        [
            {"item": i, "add_yes": int(answer), "add_no": int(not answer)}
            for i, (_, answer) in sorted(votes.items())
        ],
    )


def settle(
    s: Session,
    project: AnnotationProject,
    items: Mapping[int, int],
    annotator_ids: Iterable[int],
    *,
    now: datetime,
) -> Settled:
    """After votes on ``items`` (question id -> class id) were stored and counted: stop those
    of ``annotator_ids`` (who gave new gold answers) whose gold accuracy is confidently below
    the project's, discount their votes, re-estimate and decide."""
    result = Settled()
    by_class: dict[int, set[int]] = defaultdict(set)
    for item_id, class_id in items.items():
        by_class[class_id].add(item_id)
    reestimate: set[int] = set()
    stopped = _stop_bad_annotators(s, project, set(annotator_ids), now)
    if stopped:
        result.stopped = [a.name for a in stopped]
        theirs = s.execute(
            select(AnnotationItem.id, AnnotationItem.class_id, AnnotationItem.initial)
            .join(AnnotationVote, AnnotationVote.item_id == AnnotationItem.id)
            .where(AnnotationVote.annotator_id.in_([a.id for a in stopped]))
        ).all()
        recount(s, [item_id for item_id, _, _ in theirs])
        for item_id, class_id, initial in theirs:
            by_class[class_id].add(item_id)
            if initial:
                reestimate.add(class_id)
    for class_id in sorted(by_class.keys() | reestimate):
        klass = s.get(AnnotationClass, class_id, options=[defer(AnnotationClass.consensus)])
        assert klass is not None
        result.decided += refresh_class(
            s,
            project,
            klass,
            by_class.get(class_id, set()),
            reestimate=class_id in reestimate,
            now=now,
        )
    return result


def propagate_yes_votes(
    s: Session,
    project: AnnotationProject,
    annotator_id: int,
    yes_images: Mapping[int, Collection[int]],
    *,
    task_id: int | None,
    now: datetime,
) -> list[tuple[int, int]]:
    """A yes for a synset is a yes for its ancestors among the project's classes: add the
    annotator's yes on each undecided question (image, ancestor) they have not answered.

    ``yes_images``: class id -> images the annotator said yes to. Returns the (question id,
    class id) pairs voted.
    """
    added: list[tuple[int, int]] = []
    for class_id, images in yes_images.items():
        klass = s.get(AnnotationClass, class_id, options=[defer(AnnotationClass.consensus)])
        if klass is None or not klass.ancestors or not images:
            continue
        answered = select(AnnotationVote.item_id).where(AnnotationVote.annotator_id == annotator_id)
        targets = s.execute(
            select(AnnotationItem.id, AnnotationItem.class_id).where(
                AnnotationItem.project_id == project.id,
                AnnotationItem.wnid.in_(klass.ancestors),
                AnnotationItem.image_id.in_(sorted(images)),
                AnnotationItem.gold.is_(None),
                AnnotationItem.status == ItemStatus.pending,
                AnnotationItem.id.not_in(answered),
            )
        ).all()
        s.add_all(
            AnnotationVote(
                item_id=item_id,
                annotator_id=annotator_id,
                task_id=task_id,
                answer=True,
                seconds=None,
                fast=False,
                propagated=True,
                created_at=now,
            )
            for item_id, _ in targets
        )
        added += [(int(i), int(c)) for i, c in targets]
    return added


def _stop_bad_annotators(
    s: Session, project: AnnotationProject, annotator_ids: set[int], now: datetime
) -> list[Annotator]:
    """Stop the active ones among ``annotator_ids`` confidently below the gold accuracy bar."""
    if not annotator_ids:
        return []
    right = case((AnnotationVote.answer == AnnotationItem.gold, 1), else_=0)
    rows = s.execute(
        select(AnnotationVote.annotator_id, func.count(), func.sum(right))
        .join(AnnotationItem, AnnotationItem.id == AnnotationVote.item_id)
        .join(Annotator, Annotator.id == AnnotationVote.annotator_id)
        .where(
            AnnotationVote.annotator_id.in_(sorted(annotator_ids)),
            AnnotationItem.gold.is_not(None),
            Annotator.state == AnnotatorState.active,
        )
        .group_by(AnnotationVote.annotator_id)
    ).all()
    stopped = stop_below_gold(s, project, rows, now=now, gold="gold answers",
                              discounted="their votes")  # fmt: skip
    s.flush()
    return stopped


def stop_below_gold(
    s: Session,
    project: AnnotationProject,
    rows: Sequence[Sequence[Any]],
    *,
    now: datetime,
    gold: str,
    discounted: str,
) -> list[Annotator]:
    """Stop the annotators of ``rows`` (``(annotator id, gold answers, right ones)``, active
    ones) whom :func:`~synsetlab.annotate.quality.workers_to_stop` finds confidently below
    the project's accuracy; their stop reason counts their ``gold`` (``"gold answers"``) and
    says that ``discounted`` (``"their votes"``) no longer count. Flushes nothing."""
    # No verdict before MIN_GOLD_ANSWERS (workers_to_stop's rule): skip building its table.
    rows = [r for r in rows if r[1] >= MIN_GOLD_ANSWERS]
    if not rows:
        return []
    quality = pd.DataFrame(
        {"answers": [int(r[1]) for r in rows], "correct": [int(r[2] or 0) for r in rows]},
        index=pd.Index([r[0] for r in rows], name="worker"),
    )
    stopped = []
    for annotator_id in workers_to_stop(quality, min_accuracy=project.min_accuracy):
        person = s.get(Annotator, int(annotator_id))
        assert person is not None
        answers, correct = (int(v) for v in quality.loc[annotator_id, ["answers", "correct"]])
        person.state = AnnotatorState.stopped
        person.stopped_at = now
        person.stop_reason = (
            f"{correct} of {answers} {gold} right, confidently below the project's "
            f"{project.min_accuracy:.0%} accuracy; {discounted} no longer count"
        )
        stopped.append(person)
    return stopped
