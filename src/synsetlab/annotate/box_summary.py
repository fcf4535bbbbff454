"""Progress and cost of a box project: what ``annotate status`` and the datasheet show."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synsetlab.annotate.box_projects import require_box_project
from synsetlab.annotate.projects import get_project
from synsetlab.catalog.annotation import (
    AnnotationProject,
    Annotator,
    AnnotatorState,
    BoxDrawing,
    BoxItem,
    BoxTask,
)

__all__ = ["BoxProgress", "box_progress"]


@dataclass
class BoxProgress:
    """A box project's state and its cost in annotator actions and seconds."""

    slug: str
    target_quality: float
    #: Images to box (gold excluded), by status.
    images: int = 0
    drawing: int = 0
    verifying: int = 0
    covered: int = 0
    #: Crowd drawings (and proposals), by status; gold images' drawings excluded.
    drawn: int = 0
    accepted: int = 0
    rejected: int = 0
    pending: int = 0
    #: Tasks answered, by kind, with gold ones, and annotator seconds on all of them.
    actions: dict[str, int] = field(default_factory=dict)
    gold_actions: int = 0
    seconds: float = 0.0
    open_tasks: int = 0
    annotators: int = 0
    stopped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def seconds_per_box(self) -> float:
        """Annotator seconds per accepted box (NaN when none)."""
        return self.seconds / self.accepted if self.accepted else float("nan")

    @property
    def actions_per_box(self) -> float:
        """Tasks answered per accepted box (NaN when none)."""
        return sum(self.actions.values()) / self.accepted if self.accepted else float("nan")


def box_progress(s: Session, project: str | AnnotationProject) -> BoxProgress:
    """Where ``project`` stands (a box project; a label project is refused)."""
    if isinstance(project, str):
        project = get_project(s, project)
    require_box_project(project)
    out = BoxProgress(project.slug, float(project.target_quality or 0.0))
    for status, n in s.execute(
        select(BoxItem.status, func.count())
        .where(BoxItem.project_id == project.id, BoxItem.gold.is_(False))
        .group_by(BoxItem.status)
    ):
        setattr(out, status.value, int(n))
    out.images = out.drawing + out.verifying + out.covered
    for status, n in s.execute(
        select(BoxDrawing.status, func.count())
        .join(BoxItem, BoxItem.id == BoxDrawing.item_id)
        .where(BoxItem.project_id == project.id, BoxItem.gold.is_(False))
        .group_by(BoxDrawing.status)
    ):
        setattr(out, status.value, int(n))
    out.drawn = out.accepted + out.rejected + out.pending
    for kind, gold, n, seconds in s.execute(
        select(BoxTask.kind, BoxTask.gold.is_not(None), func.count(), func.sum(BoxTask.seconds))
        .where(BoxTask.project_id == project.id, BoxTask.submitted_at.is_not(None))
        .group_by(BoxTask.kind, BoxTask.gold.is_not(None))
    ):
        out.actions[kind] = out.actions.get(kind, 0) + int(n)
        out.gold_actions += int(n) if gold else 0
        out.seconds += float(seconds or 0.0)
    out.open_tasks = int(
        s.scalar(
            select(func.count()).where(
                BoxTask.project_id == project.id, BoxTask.submitted_at.is_(None)
            )
        )
        or 0
    )
    people = s.execute(
        select(Annotator.name, Annotator.state, Annotator.stop_reason).where(
            Annotator.project_id == project.id
        )
    ).all()
    out.annotators = len(people)
    out.stopped = [(n, r) for n, st, r in people if st is AnnotatorState.stopped]
    return out
