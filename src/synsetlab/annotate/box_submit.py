"""Answers to box tasks: :func:`submit_box_task` checks one, stores it once, then decides.

What each kind takes (``answer``, a JSON object):

- ``draw``: ``{"box": [xmin, ymin, xmax, ymax]}``, or ``{"extreme": [[x, y] x 4]}`` (the
  object's extreme points; the box they span is stored, source ``extreme``), or
  ``{"box": null}``: no unboxed <synset> is left (a coverage yes at the current boxes);
  optionally ``"wnid"``, which must be the task's;
- ``quality``: ``{"drawing_id": ID, "answer": true|false}``;
- ``coverage``: ``{"item_id": ID, "answer": true|false}``.

Refused, nothing written (:mod:`synsetlab.annotate.errors`): an unknown task (404); another
annotator's task, a stopped annotator, a vote on one's own box (403); a closed task, or one
answered before with another answer (409); a box outside the image, inverted or without
area, a box for a class the task does not ask about, an answer naming a drawing or an image
not on the task, a coverage answer about an image with no box shown (400). A repeat of the
stored answer stores nothing (``repeat``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from synsetlab.annotate.box_decide import (
    refresh_drawings,
    refresh_items,
    stop_bad_box_annotators,
)
from synsetlab.annotate.box_geometry import GOOD_IOU, best_iou, check_box, extreme_box
from synsetlab.annotate.errors import (
    AnnotationConflictError,
    AnnotationError,
    AnnotationForbiddenError,
    AnnotationNotFoundError,
)
from synsetlab.catalog.annotation import (
    AnnotationProject,
    Annotator,
    AnnotatorState,
    BoxCoverageVote,
    BoxDrawing,
    BoxItem,
    BoxQualityVote,
    BoxTask,
    DrawingStatus,
)
from synsetlab.catalog.models import Image, as_utc, utcnow

__all__ = ["BoxSubmitted", "submit_box_task"]


@dataclass(frozen=True)
class BoxSubmitted:
    """What one submit stored."""

    task_id: int
    kind: str
    #: False for a repeat of the stored answer.
    stored: bool
    repeat: bool = False
    #: The drawing a draw task stored (None: "none left").
    drawing_id: int | None = None
    #: The annotator was stopped for their gold tasks after this one.
    stopped: bool = False


def submit_box_task(
    s: Session,
    task_id: int,
    annotator: Annotator | int,
    answer: Mapping[str, object],
    *,
    seconds: float | None = None,
    now: datetime | None = None,
) -> BoxSubmitted:
    """Store ``annotator``'s ``answer`` to box task ``task_id`` (see the module docstring).

    ``seconds``: the time the annotator spent (default: from issue to submit). The caller
    commits.
    """
    now = now or utcnow()
    annotator_id = annotator if isinstance(annotator, int) else annotator.id
    if not isinstance(task_id, int) or isinstance(task_id, bool):
        raise AnnotationNotFoundError(f"no box task {task_id!r}: ask for one with next_box_task")
    locked = s.execute(
        update(AnnotationProject)
        .where(
            AnnotationProject.id
            == select(BoxTask.project_id).where(BoxTask.id == task_id).scalar_subquery()
        )
        .values(revision=AnnotationProject.revision + 1)
        .returning(AnnotationProject.id)
        .execution_options(synchronize_session=False)
    ).first()
    if locked is None:
        raise AnnotationNotFoundError(f"no box task {task_id!r}: ask for one with next_box_task")
    task, project, person = s.execute(
        select(BoxTask, AnnotationProject, Annotator)
        .join(AnnotationProject, AnnotationProject.id == BoxTask.project_id)
        .join(Annotator, Annotator.id == BoxTask.annotator_id)
        .where(BoxTask.id == task_id)
        .execution_options(populate_existing=True)
    ).one()
    if task.annotator_id != annotator_id:
        raise AnnotationForbiddenError(
            f"box task {task_id} was issued to another annotator: submit your own tasks"
        )
    if not isinstance(answer, Mapping):
        raise AnnotationError(
            f"the answer to box task {task_id} must be a JSON object, not {type(answer).__name__}"
        )
    item, image = s.execute(
        select(BoxItem, Image)
        .join(Image, Image.id == BoxItem.image_id)
        .where(BoxItem.id == task.item_id)
    ).one()
    parsed = _parse(task, item, (image.width, image.height), answer)
    if task.submitted_at is not None:
        if _stored(s, task) != parsed:
            raise AnnotationConflictError(
                f"box task {task.id} was answered before with another answer; an answer is "
                "final (ask for the next task)"
            )
        return BoxSubmitted(task.id, task.kind, False, repeat=True, drawing_id=task.drawing_id)
    if as_utc(task.expires_at) <= now:
        raise AnnotationConflictError(
            f"box task {task.id} closed at {as_utc(task.expires_at):%Y-%m-%d %H:%M} UTC (tasks "
            f"stay open {project.task_minutes} minutes) and went to others; ask for the next task"
        )
    if person.state is AnnotatorState.stopped:
        raise AnnotationForbiddenError(
            f"annotator {person.name!r} was stopped in project {project.slug!r}: "
            f"{person.stop_reason}"
        )
    if seconds is not None and not (
        isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0
    ):
        raise AnnotationError(f"seconds {seconds!r}: give a time >= 0 in seconds")
    task.submitted_at = now
    task.seconds = (
        float(seconds)
        if seconds is not None
        else max((now - as_utc(task.issued_at)).total_seconds(), 0.0)
    )
    drawing_id = None
    if task.kind == "draw":
        drawing_id = _store_draw(s, project, task, item, person, parsed, now)
    elif task.kind == "quality":
        _store_quality(s, project, task, person, parsed[1], now)
    else:
        _store_coverage(s, project, task, item, person, parsed[1], now)
    stopped = False
    if task.gold is not None:
        stopped = bool(stop_bad_box_annotators(s, project, [person.id], now=now))
    s.flush()
    return BoxSubmitted(task.id, task.kind, True, drawing_id=drawing_id, stopped=stopped)


def _parse(
    task: BoxTask, item: BoxItem, size: tuple[int, int], answer: Mapping[str, object]
) -> tuple:
    """The answer checked against the task: ``("box", source, corners | None)`` for a draw,
    ``("yes/no", bool)`` for the others."""
    if task.kind == "draw":
        unknown = set(answer) - {"box", "extreme", "wnid"}
        if unknown or ("box" in answer) == ("extreme" in answer):
            raise AnnotationError(
                f'box task {task.id} asks to draw a box: answer {{"box": [xmin, ymin, xmax, '
                'ymax]}, {"extreme": [[x, y], ...4]} or {"box": null} (none left)'
                + (f"; unexpected {sorted(unknown)}" if unknown else "")
            )
        wnid = answer.get("wnid")
        if wnid is not None and wnid != item.wnid:
            raise AnnotationError(
                f"a box for {wnid!r}, but box task {task.id} asks about {item.wnid} only: "
                "draw boxes of that class"
            )
        if "extreme" in answer:
            return ("box", "extreme", extreme_box(answer["extreme"], size))
        if answer["box"] is None:
            return ("box", "none", None)
        return ("box", "drawn", check_box(answer["box"], size))
    name = "drawing_id" if task.kind == "quality" else "item_id"
    if set(answer) != {name, "answer"}:
        raise AnnotationError(
            f'box task {task.id} is a {task.kind} question: answer {{"{name}": ID, '
            f'"answer": true|false}}, not {sorted(answer)}'
        )
    named = answer.get(name)
    if task.kind == "quality" and named != task.drawing_id:
        raise AnnotationError(
            f"drawing {named!r} is not on box task {task.id}: it asks about drawing "
            f"{task.drawing_id}"
        )
    if task.kind == "coverage":
        if named != task.item_id:
            raise AnnotationError(
                f"image {named!r} is not on box task {task.id}: it asks about item {task.item_id}"
            )
        if not task.shown:
            raise AnnotationError(
                f"item {task.item_id} has no boxes shown on box task {task.id}: there is no "
                "coverage to judge; draw a box first"
            )
    value = answer.get("answer")
    if not isinstance(value, bool):
        raise AnnotationError(
            f"the answer to box task {task.id} is {value!r}: answers are yes/no (true/false)"
        )
    return ("yes/no", value)


def _stored(s: Session, task: BoxTask) -> tuple:
    """What was stored for a submitted task, in :func:`_parse`'s shape."""
    if task.kind == "draw":
        if task.drawing_id is None:
            return ("box", "none", None)
        d = s.get(BoxDrawing, task.drawing_id)
        assert d is not None
        return ("box", d.source, (d.xmin, d.ymin, d.xmax, d.ymax))
    if task.kind == "quality":
        vote = s.scalar(select(BoxQualityVote.answer).where(BoxQualityVote.task_id == task.id))
    else:
        vote = s.scalar(select(BoxCoverageVote.answer).where(BoxCoverageVote.task_id == task.id))
    return ("yes/no", bool(vote))


def _store_draw(
    s: Session,
    project: AnnotationProject,
    task: BoxTask,
    item: BoxItem,
    person: Annotator,
    parsed: tuple,
    now: datetime,
) -> int | None:
    _, source, corners = parsed
    if task.gold is not None:
        truth = [
            (d.xmin, d.ymin, d.xmax, d.ymax)
            for d in s.scalars(
                select(BoxDrawing).where(BoxDrawing.item_id == item.id, BoxDrawing.gold.is_(True))
            )
        ]
        task.correct = corners is not None and best_iou(corners, truth)[0] >= GOOD_IOU
    if corners is None:
        if task.gold is None and not s.scalar(
            select(BoxCoverageVote.id).where(
                BoxCoverageVote.item_id == item.id,
                BoxCoverageVote.annotator_id == person.id,
                BoxCoverageVote.boxes == item.accepted,
            )
        ):
            s.add(
                BoxCoverageVote(
                    item_id=item.id, annotator_id=person.id, task_id=task.id, answer=True,
                    boxes=item.accepted, created_at=now,
                )
            )  # fmt: skip
            s.flush()
            refresh_items(s, project, [item.id], now=now)
        return None
    drawing = BoxDrawing(
        item_id=item.id,
        annotator_id=person.id,
        source=source,
        xmin=corners[0],
        ymin=corners[1],
        xmax=corners[2],
        ymax=corners[3],
        # A gold image's drawing is decided by its IoU with the known boxes, never voted on.
        status=DrawingStatus.pending
        if task.gold is None
        else (DrawingStatus.accepted if task.correct else DrawingStatus.rejected),
        yes_votes=0,
        no_votes=0,
        created_at=now,
        decided_at=None if task.gold is None else now,
    )
    s.add(drawing)
    s.flush()
    task.drawing_id = drawing.id
    if task.gold is None:
        refresh_items(s, project, [item.id], now=now)
    return drawing.id


def _store_quality(
    s: Session,
    project: AnnotationProject,
    task: BoxTask,
    person: Annotator,
    answer: bool,
    now: datetime,
) -> None:
    drawing = s.get(BoxDrawing, task.drawing_id)
    assert drawing is not None
    if drawing.annotator_id == person.id:
        raise AnnotationForbiddenError(
            f"drawing {drawing.id} is your own box: others verify it (ask for the next task)"
        )
    s.add(
        BoxQualityVote(
            drawing_id=drawing.id, annotator_id=person.id, task_id=task.id, answer=answer,
            created_at=now,
        )
    )  # fmt: skip
    s.flush()
    if task.gold is not None:
        task.correct = answer == task.gold
        return
    items = refresh_drawings(s, project, [drawing.id], now=now)
    refresh_items(s, project, items, now=now)


def _store_coverage(
    s: Session,
    project: AnnotationProject,
    task: BoxTask,
    item: BoxItem,
    person: Annotator,
    answer: bool,
    now: datetime,
) -> None:
    shown = len(task.shown)
    exists = s.scalar(
        select(BoxCoverageVote.id).where(
            BoxCoverageVote.item_id == item.id,
            BoxCoverageVote.annotator_id == person.id,
            BoxCoverageVote.boxes == shown,
        )
    )
    if exists is None:
        s.add(
            BoxCoverageVote(
                item_id=item.id, annotator_id=person.id, task_id=task.id, answer=answer,
                boxes=shown, created_at=now,
            )
        )  # fmt: skip
        s.flush()
    if task.gold is not None:
        task.correct = answer == task.gold
        return
    refresh_items(s, project, [item.id], now=now)
