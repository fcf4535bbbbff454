"""Migration 0011 (box tasks) on SQLite and PostgreSQL, and box work from many threads at
once on either: the project lock keeps every count equal to the votes stored."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, inspect, select

from synsetlab.annotate import annotator_for, get_project
from synsetlab.annotate.box_assign import next_box_task
from synsetlab.annotate.box_decide import refresh_drawings, refresh_items
from synsetlab.annotate.box_projects import BoxOptions, create_box_project
from synsetlab.annotate.box_submit import submit_box_task
from synsetlab.catalog import Box, current_revision, head_revision, upgrade
from synsetlab.catalog.annotation import (
    BoxCoverageVote,
    BoxDrawing,
    BoxItem,
    BoxQualityVote,
    BoxTask,
)
from synsetlab.catalog.migrate import alembic_config
from synsetlab.catalog.models import utcnow
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.kaggle_loc import open_kaggle_loc
from synsetlab.ingest.pipeline import ingest
from synsetlab.synthetic import generate_scenes
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace
from tests.annotate.boxes_world import CLASSES, scene_config

NAME = "boxes"
TABLES = {"box_items", "box_drawings", "box_tasks", "box_quality_votes", "box_coverage_votes"}


def fill(ws: Workspace, root: Path, *, gold: int = 1, todo: int = 3) -> None:
    """Scenes with a source's boxes (gold) and scenes with labels only (to box)."""
    generate_scenes(root / "gold", scene_config(gold, seed=11))
    generate_scenes(root / "todo", scene_config(todo, seed=12))
    ingest(ws, open_kaggle_loc(root / "gold"), workers=0)
    ingest(ws, open_imagefolder(root / "todo" / "ILSVRC" / "Data" / "CLS-LOC" / "train"), workers=0)


def _boxes(ws: Workspace) -> list[tuple]:
    with ws.session() as s:
        return s.execute(
            select(Box.id, Box.image_id, Box.wnid, Box.xmin, Box.ymin, Box.xmax, Box.ymax)
            .order_by(Box.id)
        ).all()  # fmt: skip


def test_0011_goes_down_and_up_over_a_catalog_with_box_work(
    workspace: Workspace, tmp_path: Path
) -> None:
    fill(workspace, tmp_path / "scenes")
    with workspace.session() as s:
        create_box_project(s, NAME, taxonomy=Taxonomy.wordnet(), classes=list(CLASSES),
                           options=BoxOptions(gold=0.0))  # fmt: skip
        who = annotator_for(s, get_project(s, NAME), name="ann").id
    with workspace.session() as s:
        task = next_box_task(s, NAME, who)
    with workspace.session() as s:
        submit_box_task(s, task.id, who, {"box": [1, 1, 20, 20]})
    boxes = _boxes(workspace)
    assert boxes  # the source's boxes
    command.downgrade(alembic_config(workspace.engine), "0010")
    engine = workspace.engine
    assert not TABLES & set(inspect(engine).get_table_names())
    assert "drawing_id" not in {c["name"] for c in inspect(engine).get_columns("boxes")}
    assert "kind" not in {c["name"] for c in inspect(engine).get_columns("annotation_projects")}
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert _boxes(workspace) == boxes
    # The tables work again: a new box project on the same catalog.
    with workspace.session() as s:
        create_box_project(s, "again", taxonomy=Taxonomy.wordnet(), classes=list(CLASSES))
        assert s.scalar(select(func.count()).select_from(BoxItem)) > 0


def test_0011_refuses_to_go_down_while_the_catalog_holds_crowd_boxes(
    workspace: Workspace, tmp_path: Path
) -> None:
    fill(workspace, tmp_path / "scenes")
    with workspace.session() as s:
        create_box_project(s, NAME, taxonomy=Taxonomy.wordnet(), classes=list(CLASSES),
                           options=BoxOptions(gold=0.0))  # fmt: skip
        who = annotator_for(s, get_project(s, NAME), name="ann").id
    with workspace.session() as s:
        task = next_box_task(s, NAME, who)
    with workspace.session() as s:
        submit_box_task(s, task.id, who, {"box": [1, 1, 20, 20]})
    with workspace.session() as s:  # as if the crowd had accepted it and aggregate had run
        drawing = s.scalars(select(BoxDrawing).where(BoxDrawing.annotator_id == who)).one()
        image_id = s.get(BoxItem, drawing.item_id).image_id
        s.add(Box(image_id=image_id, wnid=CLASSES[0], xmin=1, ymin=1, xmax=20, ymax=20,
                  drawing_id=drawing.id))  # fmt: skip
    boxes = _boxes(workspace)
    with pytest.raises(RuntimeError, match="annotate aggregate NAME --undo"):
        command.downgrade(alembic_config(workspace.engine), "0010")
    # Nothing changed: still at the head, the crowd's box and its provenance kept.
    assert current_revision(workspace.engine) == head_revision()
    assert _boxes(workspace) == boxes
    with workspace.session() as s:
        assert s.scalar(select(func.count()).where(Box.drawing_id.is_not(None))) == 1


def test_annotators_answering_at_once_keep_every_count_right(
    workspace: Workspace, tmp_path: Path
) -> None:
    fill(workspace, tmp_path / "scenes", gold=1, todo=2)
    with workspace.session() as s:
        create_box_project(s, NAME, taxonomy=Taxonomy.wordnet(), classes=list(CLASSES),
                           options=BoxOptions(gold=0.0))  # fmt: skip
        project = get_project(s, NAME)
        people = [annotator_for(s, project, name=f"a{i}").id for i in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(people))

    def answer(task) -> dict:
        if task.kind == "draw":
            return {"box": [2, 2, task.width // 2, task.height // 2]}
        if task.kind == "quality":
            return {"drawing_id": task.drawing_id, "answer": True}
        return {"item_id": task.item_id, "answer": True}

    def work(person: int) -> None:
        barrier.wait()
        try:
            for _ in range(6):
                with workspace.session() as s:
                    task = next_box_task(s, NAME, person)
                if task is None:
                    return
                for _ in range(2):  # a retried request stores nothing twice
                    with workspace.session() as s:
                        submit_box_task(s, task.id, person, answer(task), seconds=3)
        except BaseException as e:  # an exception in a thread is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=work, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with workspace.session() as s:
        votes = s.execute(select(BoxQualityVote.drawing_id, BoxQualityVote.annotator_id)).all()
        assert len(set(votes)) == len(votes) > 0
        drawn = s.execute(select(BoxDrawing.item_id, BoxDrawing.annotator_id)).all()
        # Nobody verified their own box.
        owner = dict(s.execute(select(BoxDrawing.id, BoxDrawing.annotator_id)).all())
        assert all(owner[d] != a for d, a in votes)
        # One drawing per draw task, one vote per quality task: nothing doubled.
        submitted = dict(
            s.execute(
                select(BoxTask.kind, func.count())
                .where(BoxTask.submitted_at.is_not(None))
                .group_by(BoxTask.kind)
            ).all()
        )
        coverage = s.scalar(select(func.count()).select_from(BoxCoverageVote))
        assert submitted.get("draw", 0) == len(drawn)
        assert submitted.get("quality", 0) == len(votes)
        assert submitted.get("coverage", 0) == coverage
        stored = {
            d.id: (d.yes_votes, d.no_votes, d.status)
            for d in s.scalars(select(BoxDrawing).where(BoxDrawing.gold.is_(None)))
        }
        items = {i.id: (i.status, i.accepted) for i in s.scalars(select(BoxItem))}
    # Counted under the lock as votes came in: the same as counting them all again now.
    with workspace.session() as s:
        project = get_project(s, NAME)
        refresh_drawings(s, project, list(stored), now=utcnow())
        refresh_items(s, project, list(items), now=utcnow())
        again = {
            d.id: (d.yes_votes, d.no_votes, d.status)
            for d in s.scalars(select(BoxDrawing).where(BoxDrawing.gold.is_(None)))
        }
        assert again == stored
        assert {i.id: (i.status, i.accepted) for i in s.scalars(select(BoxItem))} == items
        s.rollback()
