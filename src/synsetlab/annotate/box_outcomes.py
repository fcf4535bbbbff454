"""Accepted boxes into the catalog with provenance, and back out.

:func:`aggregate_boxes` writes each accepted drawing of a box project (gold images left out:
they have their boxes) as a catalog :class:`~synsetlab.catalog.Box` whose ``drawing_id``
names the drawing, whose votes and posterior are the evidence. Running it again first
removes the project's earlier boxes. :func:`undo_boxes` removes exactly the boxes that name
one of the project's drawings, and nothing a source ingested. Frozen versions read every
catalog box, so the next version holds the accepted ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from synsetlab.annotate.box_projects import require_box_project
from synsetlab.annotate.projects import get_project
from synsetlab.catalog.annotation import (
    AnnotationProject,
    BoxDrawing,
    BoxItem,
    BoxItemStatus,
    DrawingStatus,
)
from synsetlab.catalog.models import Box

__all__ = ["BoxesAggregated", "aggregate_boxes", "undo_boxes"]


@dataclass(frozen=True)
class BoxesAggregated:
    """What :func:`aggregate_boxes` wrote."""

    #: Catalog boxes written, on how many images, and of them images whose coverage is
    #: verified.
    boxes: int
    images: int
    covered: int
    #: Images still being drawn or verified (their accepted boxes are written all the same).
    unfinished: int
    #: The project's earlier boxes removed first.
    undone: int


def _project(s: Session, project: str | AnnotationProject) -> AnnotationProject:
    if isinstance(project, str):
        project = get_project(s, project)
    require_box_project(project)
    return project


def aggregate_boxes(s: Session, project: str | AnnotationProject) -> BoxesAggregated:
    """Write the project's accepted boxes into the catalog (replacing its earlier ones)."""
    project = _project(s, project)
    undone = undo_boxes(s, project)
    rows = s.execute(
        select(
            BoxDrawing.id, BoxItem.image_id, BoxItem.wnid, BoxDrawing.xmin, BoxDrawing.ymin,
            BoxDrawing.xmax, BoxDrawing.ymax,
        )
        .join(BoxItem, BoxItem.id == BoxDrawing.item_id)
        .where(
            BoxItem.project_id == project.id,
            BoxItem.gold.is_(False),
            BoxDrawing.status == DrawingStatus.accepted,
        )
        .order_by(BoxDrawing.id)
    ).all()  # fmt: skip
    if rows:
        s.execute(
            insert(Box),
            [
                {"image_id": image, "wnid": wnid, "xmin": x0, "ymin": y0, "xmax": x1,
                 "ymax": y1, "source_id": None, "drawing_id": drawing}
                for drawing, image, wnid, x0, y0, x1, y1 in rows
            ],
        )  # fmt: skip
    statuses = dict(
        s.execute(
            select(BoxItem.status, func.count())
            .where(BoxItem.project_id == project.id, BoxItem.gold.is_(False))
            .group_by(BoxItem.status)
        ).all()
    )
    covered = int(statuses.get(BoxItemStatus.covered, 0))
    s.flush()
    return BoxesAggregated(
        boxes=len(rows),
        images=len({r[1] for r in rows}),
        covered=covered,
        unfinished=sum(int(v) for v in statuses.values()) - covered,
        undone=undone,
    )


def undo_boxes(s: Session, project: str | AnnotationProject) -> int:
    """Remove the catalog boxes the project's aggregation wrote; returns how many."""
    project = _project(s, project)
    theirs = (
        select(BoxDrawing.id)
        .join(BoxItem, BoxItem.id == BoxDrawing.item_id)
        .where(BoxItem.project_id == project.id)
    )
    removed = s.execute(
        delete(Box).where(Box.drawing_id.in_(theirs)).execution_options(synchronize_session=False)
    ).rowcount
    s.flush()
    return int(removed or 0)
