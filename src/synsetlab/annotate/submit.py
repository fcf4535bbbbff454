"""Answers to a page: :func:`submit_task` stores each vote exactly once, then settles.

A submit is idempotent per page: the same answers again (a retried request, a double click)
return what the first stored; other answers to an answered page are refused. The page is
claimed under the project's lock (:func:`~synsetlab.annotate.assign.lock_project`) before
anything is written, and the vote table's unique (question, annotator) makes a second copy of
a vote impossible even so. Everything is written in the caller's transaction: a refusal
leaves nothing half-written.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from synsetlab.annotate.errors import (
    AnnotationConflictError,
    AnnotationError,
    AnnotationForbiddenError,
    AnnotationNotFoundError,
)
from synsetlab.annotate.store import count_votes, propagate_yes_votes, settle
from synsetlab.catalog.annotation import (
    AnnotationItem,
    AnnotationProject,
    AnnotationTask,
    AnnotationTaskItem,
    AnnotationVote,
    Annotator,
    AnnotatorState,
)
from synsetlab.catalog.models import as_utc, utcnow

__all__ = ["Submitted", "submit_task"]


@dataclass(frozen=True)
class Submitted:
    """What one submit stored and what followed."""

    task_id: int
    #: Votes stored by this call (0 for a repeat).
    votes: int
    #: True when the page had been submitted with the same answers: nothing new was stored.
    repeat: bool = False
    #: Answers faster than the project's ``min_seconds`` (flagged, still counted).
    fast: int = 0
    #: Yes votes carried up to ancestor synsets of the same images.
    propagated: int = 0
    #: Questions decided (accepted or rejected) as a result.
    decided: int = 0
    #: The annotator was stopped for their gold answers after this page.
    stopped: bool = False


def submit_task(
    s: Session,
    task_id: int,
    annotator: Annotator | int,
    answers: Mapping[int, bool],
    *,
    client_seconds: float | Mapping[int, float] | None = None,
    now: datetime | None = None,
) -> Submitted:
    """Store ``annotator``'s ``answers`` (question id -> yes/no) to page ``task_id``.

    ``answers`` must name exactly the page's questions (ids may be given as decimal strings,
    as JSON keys are). ``client_seconds``: the time the annotator spent, per question or for
    the whole page (split evenly); without it, the time from issue to submit. Refused: an
    unknown page (404), another annotator's page or a stopped annotator (403), a page that
    closed or was answered before with other answers (409), answers that do not fit the page
    (400). The caller commits.
    """
    now = now or utcnow()
    annotator_id = annotator if isinstance(annotator, int) else annotator.id
    given = _normalised(answers)
    # The project's lock first (see lock_project), found through the page; then the page,
    # project and annotator in one read, under the lock: a concurrent submit of this page may
    # have just committed, or the annotator been stopped.
    locked = (
        s.execute(
            update(AnnotationProject)
            .where(
                AnnotationProject.id
                == select(AnnotationTask.project_id)
                .where(AnnotationTask.id == task_id)
                .scalar_subquery()
            )
            .values(revision=AnnotationProject.revision + 1)
            .returning(AnnotationProject.id)
            .execution_options(synchronize_session=False)
        ).first()
        if isinstance(task_id, int) and not isinstance(task_id, bool)
        else None
    )
    if locked is None:
        raise AnnotationNotFoundError(f"no page {task_id!r}: ask for one with next_task")
    task, project, person = s.execute(
        select(AnnotationTask, AnnotationProject, Annotator)
        .join(AnnotationProject, AnnotationProject.id == AnnotationTask.project_id)
        .join(Annotator, Annotator.id == AnnotationTask.annotator_id)
        .where(AnnotationTask.id == task_id)
        .execution_options(populate_existing=True)
    ).one()
    if task.annotator_id != annotator_id:
        raise AnnotationForbiddenError(
            f"page {task_id} was issued to another annotator: submit your own pages"
        )
    page = s.execute(
        select(
            AnnotationTaskItem.item_id,
            AnnotationItem.class_id,
            AnnotationItem.image_id,
            AnnotationItem.gold,
            AnnotationVote.answer,
            AnnotationVote.task_id,
            AnnotationVote.propagated,
        )
        .join(AnnotationItem, AnnotationItem.id == AnnotationTaskItem.item_id)
        .outerjoin(
            AnnotationVote,
            (AnnotationVote.item_id == AnnotationTaskItem.item_id)
            & (AnnotationVote.annotator_id == annotator_id),
        )
        .where(AnnotationTaskItem.task_id == task.id)
        .order_by(AnnotationTaskItem.position)
    ).all()
    on_page = [row.item_id for row in page]
    _check_fit(given, on_page, task.id)

    if task.submitted_at is not None:
        stored = {
            row.item_id: row.answer for row in page if row.task_id == task.id and not row.propagated
        }
        if any(given[i] != answer for i, answer in stored.items()):
            raise AnnotationConflictError(
                f"page {task.id} was submitted before with other answers; a vote is final "
                "(ask for the next page)"
            )
        return Submitted(task.id, 0, repeat=True)
    if as_utc(task.expires_at) <= now:
        raise AnnotationConflictError(
            f"page {task.id} closed at {as_utc(task.expires_at):%Y-%m-%d %H:%M} UTC (pages stay "
            f"open {project.task_minutes} minutes) and its images went to others; ask for the "
            "next page"
        )
    if person.state is AnnotatorState.stopped:
        raise AnnotationForbiddenError(
            f"annotator {person.name!r} was stopped in project {project.slug!r}: "
            f"{person.stop_reason}"
        )

    seconds = _seconds(client_seconds, on_page, task, now)
    # A vote that arrived since the page was issued (an import, a yes carried up) stands.
    new = [row for row in page if row.answer is None]
    fast = [
        seconds[row.item_id] is not None and seconds[row.item_id] < project.min_seconds
        for row in new
    ]
    if new:
        s.execute(
            insert(AnnotationVote),
            [
                {
                    "item_id": row.item_id,
                    "annotator_id": annotator_id,
                    "task_id": task.id,
                    "answer": given[row.item_id],
                    "seconds": seconds[row.item_id],
                    "fast": f,
                    "propagated": False,
                    "created_at": now,
                }
                for row, f in zip(new, fast, strict=True)
            ],
        )
    task.submitted_at = now
    yes_images: dict[int, set[int]] = defaultdict(set)
    for row in new:
        if row.gold is None and given[row.item_id]:
            yes_images[row.class_id].add(row.image_id)
    carried = propagate_yes_votes(s, project, annotator_id, yes_images, task_id=task.id, now=now)
    s.flush()
    counted = {row.item_id: (row.class_id, given[row.item_id]) for row in new}
    counted.update((item_id, (class_id, True)) for item_id, class_id in carried)
    count_votes(s, counted)
    settled = settle(
        s,
        project,
        {item_id: class_id for item_id, (class_id, _) in counted.items()},
        [annotator_id] if any(row.gold is not None for row in new) else [],
        now=now,
    )
    return Submitted(
        task.id,
        len(new),
        fast=sum(fast),
        propagated=len(carried),
        decided=settled.decided,
        stopped=person.name in settled.stopped,
    )


def _normalised(answers: Mapping[int, bool]) -> dict[int, bool]:
    """``answers`` as {question id: bool}; ids may be decimal strings, answers 0/1."""
    if not isinstance(answers, Mapping):
        raise AnnotationError(
            f"answers must map each question id of the page to yes/no, not {type(answers).__name__}"
        )
    out: dict[int, bool] = {}
    for key, value in answers.items():
        item = key if isinstance(key, int) and not isinstance(key, bool) else None
        if isinstance(key, str) and key.strip().isdigit():
            item = int(key)
        if item is None:
            raise AnnotationError(f"answer key {key!r} is not a question id (a whole number)")
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            out[item] = bool(value)
        else:
            raise AnnotationError(
                f"the answer to question {item} is {value!r}: answers are yes/no (true/false)"
            )
    return out


def _check_fit(given: dict[int, bool], on_page: list[int], task_id: int) -> None:
    missing = [i for i in on_page if i not in given]
    extra = sorted(set(given) - set(on_page))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no answer to question(s) {', '.join(map(str, missing[:5]))}")
        if extra:
            parts.append(f"question(s) {', '.join(map(str, extra[:5]))} are not on it")
        raise AnnotationError(
            f"the answers do not fit page {task_id}: {'; '.join(parts)}; answer each of its "
            f"{len(on_page)} questions once"
        )


def _seconds(
    client: float | Mapping[int, float] | None,
    on_page: list[int],
    task: AnnotationTask,
    now: datetime,
) -> dict[int, float | None]:
    """Seconds per question: the client's, per question or split evenly, else the server's."""
    if client is None:
        total = (now - as_utc(task.issued_at)).total_seconds()
        return {i: max(total, 0.0) / len(on_page) for i in on_page}
    if isinstance(client, Mapping):
        values = {int(k): client[k] for k in client}
        out: dict[int, float | None] = {i: values.get(i) for i in on_page}
    else:
        out = {i: float(client) / len(on_page) for i in on_page}
    for i, value in out.items():
        if value is not None and not (
            isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
        ):
            raise AnnotationError(
                f"seconds for question {i} is {value!r}: give a time >= 0 in seconds"
            )
        out[i] = None if value is None else float(value)
    return out
