"""Box work: :func:`next_box_task` hands an annotator one unit of a box project.

Three kinds of task, as ILSVRC's boxes were made (Su, Deng and Fei-Fei 2012):

- ``draw``: an image, a synset and the boxes accepted so far; "draw one box around a
  <synset> not yet boxed" (or extreme clicking: its four extreme points), or say none is left;
- ``quality``: one drawn box; "is this box tight and on a <synset>?";
- ``coverage``: an image and its accepted boxes; "is every <synset> in the image boxed?".

Order: pending drawings are verified first (the next draw depends on them), then the
coverage of images whose drawings are all decided, then drawing. Nobody verifies their own
box; an image is drawn on by one annotator at a time; a drawing is on at most
:data:`OPEN_PER_DRAWING` open tasks, beyond the votes it has, and never on more than the
votes that could still decide it (:func:`votes_to_decide`). Gold tasks (the project's gold
share of the tasks an annotator is given, each of the kind of work they would get otherwise,
never to someone with no work left) look like the rest. A task stays open ``task_minutes``;
after that its unit is free again and a submit is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Exists, func, select
from sqlalchemy.orm import Session

from synsetlab.annotate.assign import _annotator, lock_project, lock_project_named
from synsetlab.annotate.box_decide import ACCURACY_PRIOR
from synsetlab.annotate.box_projects import require_box_project
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationProject,
    Annotator,
    BoxCoverageVote,
    BoxDrawing,
    BoxItem,
    BoxItemStatus,
    BoxQualityVote,
    BoxTask,
    DrawingStatus,
)
from synsetlab.catalog.models import Image, as_utc, utcnow

__all__ = [
    "KINDS",
    "OPEN_PER_DRAWING",
    "BoxTaskView",
    "box_task_view",
    "next_box_task",
    "votes_to_decide",
]

#: The kinds of box task.
KINDS: tuple[str, ...] = ("draw", "quality", "coverage")
#: Open quality tasks a drawing may be on at a time (it needs a few votes, one each).
OPEN_PER_DRAWING = 3
#: Candidates read per kind when looking for a unit this annotator may take.
WINDOW = 64


@dataclass(frozen=True)
class BoxTaskView:
    """One box task as an annotator sees it. Gold tasks are not marked."""

    id: int
    project: str
    #: ``draw``, ``quality`` or ``coverage``.
    kind: str
    #: The (image, synset) unit the task is about: what a coverage answer names.
    item_id: int
    wnid: str
    lemmas: tuple[str, ...]
    gloss: str
    sha256: str
    width: int
    height: int
    #: The image's EXIF orientation (1-8; None: none recorded): the page shows the picture
    #: turned upright and maps its points back to the stored pixels the boxes are in.
    orientation: int | None
    #: Boxes accepted so far (draw: do not draw these again; coverage: are these all?).
    shown: tuple[tuple[float, float, float, float], ...]
    #: The box a quality task asks about (what its answer names), else None.
    drawing_id: int | None
    drawing: tuple[float, float, float, float] | None
    issued_at: datetime
    expires_at: datetime

    @property
    def question(self) -> str:
        """What the task asks."""
        name = self.lemmas[0]
        if self.kind == "draw":
            return f"Draw one box around a {name} not yet boxed, or say none is left: {self.gloss}"
        if self.kind == "quality":
            return f"Is this box tight around one {name}? ({self.gloss})"
        return f"Is every {name} in the image boxed? ({self.gloss})"


def next_box_task(
    s: Session,
    project: str | AnnotationProject,
    annotator: Annotator | int,
    *,
    now: datetime | None = None,
) -> BoxTaskView | None:
    """The annotator's open box task, else a new one; ``None`` when nothing is left for them.

    Refused: an unknown project or annotator, a label project, a stopped annotator
    (:class:`~synsetlab.annotate.AnnotationForbiddenError`). The caller commits.
    """
    now = now or utcnow()
    if isinstance(project, str):
        project = lock_project_named(s, project)
    else:
        lock_project(s, project)
    require_box_project(project)
    person = _annotator(s, project, annotator)
    open_task = s.scalar(
        select(BoxTask)
        .where(
            BoxTask.annotator_id == person.id,
            BoxTask.project_id == project.id,
            BoxTask.submitted_at.is_(None),
            BoxTask.expires_at > now,
        )
        .order_by(BoxTask.id.desc())
        .limit(1)
    )
    if open_task is not None:
        return box_task_view(s, open_task, project)
    unit = _quality_unit(s, project, person, now)
    unit = unit or _coverage_unit(s, project, person, now)
    unit = unit or _draw_unit(s, project, person, now)
    if unit is None:
        return None
    # Gold is a share of the work an annotator is given, of the kind they would do next (it
    # scores the skill in use, and looks like the rest). Someone with no real work gets no
    # gold either: gold drawn on every request, idle ones included, had made 27% of the
    # tasks gold (80 of them 25 s draws) where the project asked for 10%.
    rng = np.random.default_rng([project.seed, project.revision])
    if project.gold_fraction > 0 and rng.random() < project.gold_fraction:
        unit = _gold_unit(s, project, person, rng, kind=unit["kind"]) or unit
    task = BoxTask(
        project_id=project.id,
        annotator_id=person.id,
        issued_at=now,
        expires_at=now + timedelta(minutes=project.task_minutes),
        **unit,
    )
    s.add(task)
    s.flush()
    return box_task_view(s, task, project)


def box_task_view(s: Session, task: BoxTask, project: AnnotationProject) -> BoxTaskView:
    """The task as its annotator sees it."""
    item, klass, image = s.execute(
        select(BoxItem, AnnotationClass, Image)
        .join(AnnotationClass, AnnotationClass.id == BoxItem.class_id)
        .join(Image, Image.id == BoxItem.image_id)
        .where(BoxItem.id == task.item_id)
    ).one()
    drawing = s.get(BoxDrawing, task.drawing_id) if task.kind == "quality" else None
    return BoxTaskView(
        id=task.id,
        project=project.slug,
        kind=task.kind,
        item_id=item.id,
        wnid=item.wnid,
        lemmas=tuple(klass.lemmas.split("; ")),
        gloss=klass.gloss,
        sha256=image.sha256,
        width=image.width,
        height=image.height,
        orientation=image.exif_orientation,
        shown=tuple(tuple(float(v) for v in box) for box in task.shown or ()),
        drawing_id=None if drawing is None else drawing.id,
        drawing=None if drawing is None else _corners(drawing),
        issued_at=as_utc(task.issued_at),
        expires_at=as_utc(task.expires_at),
    )


def _corners(d: BoxDrawing) -> tuple[float, float, float, float]:
    return (d.xmin, d.ymin, d.xmax, d.ymax)


def _accepted_boxes(s: Session, item_id: int) -> list[list[float]]:
    return [
        list(_corners(d))
        for d in s.scalars(
            select(BoxDrawing)
            .where(BoxDrawing.item_id == item_id, BoxDrawing.status == DrawingStatus.accepted)
            .order_by(BoxDrawing.id)
        )
    ]


def _open_tasks(project: AnnotationProject, now: datetime):
    return (
        BoxTask.project_id == project.id,
        BoxTask.submitted_at.is_(None),
        BoxTask.expires_at > now,
    )


def _quality_unit(
    s: Session, project: AnnotationProject, person: Annotator, now: datetime
) -> dict | None:
    voted = select(BoxQualityVote.drawing_id).where(BoxQualityVote.annotator_id == person.id)
    flying = (
        select(BoxTask.drawing_id, func.count().label("n"))
        .where(*_open_tasks(project, now), BoxTask.kind == "quality")
        .group_by(BoxTask.drawing_id)
        .subquery()
    )
    rows = s.execute(
        select(
            BoxDrawing.id, BoxDrawing.item_id, func.coalesce(flying.c.n, 0), BoxDrawing.posterior,
            BoxDrawing.yes_votes + BoxDrawing.no_votes,
        )
        .join(BoxItem, BoxItem.id == BoxDrawing.item_id)
        .outerjoin(flying, flying.c.drawing_id == BoxDrawing.id)
        .where(
            BoxItem.project_id == project.id,
            BoxItem.gold.is_(False),
            BoxDrawing.status == DrawingStatus.pending,
            BoxDrawing.gold.is_(None),
            (BoxDrawing.annotator_id.is_(None)) | (BoxDrawing.annotator_id != person.id),
            BoxDrawing.id.not_in(voted),
            func.coalesce(flying.c.n, 0) < OPEN_PER_DRAWING,
        )
        .order_by(BoxDrawing.id)
        .limit(WINDOW)
    ).all()  # fmt: skip
    for drawing_id, item_id, open_now, posterior, votes in rows:
        if open_now < votes_to_decide(posterior, votes, project):
            return {"kind": "quality", "item_id": item_id, "drawing_id": drawing_id, "shown": []}
    return None


def _coverage_unit(
    s: Session, project: AnnotationProject, person: Annotator, now: datetime
) -> dict | None:
    mine = _coverage_said(person)
    pending = (
        select(BoxDrawing.id)
        .where(BoxDrawing.item_id == BoxItem.id, BoxDrawing.status == DrawingStatus.pending)
        .exists()
    )
    flying = (
        select(BoxTask.item_id, func.count().label("n"))
        .where(*_open_tasks(project, now), BoxTask.kind == "coverage")
        .group_by(BoxTask.item_id)
        .subquery()
    )
    rows = s.execute(
        select(
            BoxItem.id, func.coalesce(flying.c.n, 0), BoxItem.coverage_posterior,
            BoxItem.coverage_yes + BoxItem.coverage_no,
        )
        .outerjoin(flying, flying.c.item_id == BoxItem.id)
        .where(
            BoxItem.project_id == project.id,
            BoxItem.status == BoxItemStatus.verifying,
            BoxItem.gold.is_(False),
            BoxItem.accepted > 0,
            ~mine,
            ~pending,
            func.coalesce(flying.c.n, 0) < OPEN_PER_DRAWING,
        )
        .order_by(BoxItem.id)
        .limit(WINDOW)
    ).all()  # fmt: skip
    for item_id, open_now, posterior, votes in rows:
        if open_now < votes_to_decide(posterior, votes, project):
            return {"kind": "coverage", "item_id": item_id, "shown": _accepted_boxes(s, item_id)}
    return None


def _coverage_said(person: Annotator) -> Exists:
    """Whether ``person`` answered the coverage question of an image (a correlated
    ``BoxItem``) at its current number of accepted boxes."""
    return (
        select(BoxCoverageVote.id)
        .where(
            BoxCoverageVote.item_id == BoxItem.id,
            BoxCoverageVote.annotator_id == person.id,
            BoxCoverageVote.boxes == BoxItem.accepted,
        )
        .exists()
    )


def votes_to_decide(posterior: float | None, votes: int, project: AnnotationProject) -> int:
    """The fewest further votes that could decide a question at ``posterior`` (None: no vote
    yet) after ``votes``: agreeing newcomers' votes to reach the project's target either way,
    or the votes left before ``max_votes``; at least 1.

    More open tasks than this on one drawing (or image) would ask people about something
    already decided by the time they answer: with every task handed out at once, 16% of the
    quality votes had come after their box was decided.
    """
    target = float(project.target_quality or 0.95)
    mean = ACCURACY_PRIOR[0] / sum(ACCURACY_PRIOR)
    weight = math.log(mean / (1.0 - mean))
    logit = 0.0 if posterior is None else math.log(max(posterior, 1e-9) / max(1 - posterior, 1e-9))
    goal = math.log(target / (1.0 - target))
    either = min(
        math.ceil((goal - logit) / weight - 1e-9), math.ceil((goal + logit) / weight - 1e-9)
    )
    return max(1, min(either, project.max_votes - votes))


def _draw_unit(
    s: Session, project: AnnotationProject, person: Annotator, now: datetime
) -> dict | None:
    said_none = _coverage_said(person)
    drawing_now = select(BoxTask.item_id).where(*_open_tasks(project, now), BoxTask.kind == "draw")
    item_id = s.scalar(
        select(BoxItem.id)
        .where(
            BoxItem.project_id == project.id,
            BoxItem.status == BoxItemStatus.drawing,
            BoxItem.gold.is_(False),
            ~said_none,
            BoxItem.id.not_in(drawing_now),
        )
        # Images with fewer boxes first: coverage of the set grows fastest.
        .order_by(BoxItem.accepted, BoxItem.id)
        .limit(1)
    )
    if item_id is None:
        return None
    return {"kind": "draw", "item_id": item_id, "shown": _accepted_boxes(s, item_id)}


def _gold_unit(
    s: Session,
    project: AnnotationProject,
    person: Annotator,
    rng: np.random.Generator,
    *,
    kind: str,
) -> dict | None:
    """A gold task of ``kind`` on a gold image this annotator has not had yet."""
    given = select(BoxTask.item_id).where(
        BoxTask.annotator_id == person.id, BoxTask.gold.is_not(None)
    )
    rows = s.execute(
        select(BoxDrawing.id, BoxDrawing.item_id, BoxDrawing.gold)
        .join(BoxItem, BoxItem.id == BoxDrawing.item_id)
        .where(
            BoxItem.project_id == project.id,
            BoxItem.gold.is_(True),
            BoxDrawing.gold.is_not(None),
            BoxItem.id.not_in(given),
        )
        .order_by(BoxDrawing.id)
        .limit(WINDOW * 4)
    ).all()
    if not rows:
        return None
    drawing_id, item_id, good = rows[int(rng.integers(len(rows)))]
    if kind == "quality":
        return {
            "kind": "quality", "item_id": item_id, "drawing_id": drawing_id, "gold": bool(good),
            "shown": [],
        }  # fmt: skip
    if kind == "draw":
        return {"kind": "draw", "item_id": item_id, "gold": True, "shown": []}
    boxes = [
        list(_corners(d))
        for d in s.scalars(
            select(BoxDrawing)
            .where(BoxDrawing.item_id == item_id, BoxDrawing.gold.is_(True))
            .order_by(BoxDrawing.id)
        )
    ]
    # Known no: all boxes but one shown; with a single box that would show none, which is
    # no coverage question: then the known yes.
    complete = bool(rng.random() < 0.5) or len(boxes) < 2
    if not complete:
        boxes.pop(int(rng.integers(len(boxes))))
    return {"kind": "coverage", "item_id": item_id, "gold": complete, "shown": boxes}
