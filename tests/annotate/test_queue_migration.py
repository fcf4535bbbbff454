"""Revision 0010 (the page queue's stored values) down and up on a catalog with votes: a
SQLite table rebuild must not cascade into the rows that point at the rebuilt table."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, select, text

from synsetlab.annotate import next_task, submit_task
from synsetlab.catalog import AnnotationVote
from synsetlab.catalog.migrate import alembic_config, current_revision, head_revision, upgrade
from synsetlab.workspace import Workspace
from tests.annotate.conftest import annotator, new_project

CHILDREN = ("annotation_votes", "annotation_task_items", "annotation_tasks")


def counts(ws: Workspace) -> dict[str, int]:
    with ws.engine.connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in CHILDREN}


def test_0010_down_and_up_keeps_votes_and_pages(shapes: Workspace) -> None:
    new_project(shapes, initial_items=4, initial_votes=2, page_size=4, gold=0.0)
    for name in ("a", "b"):
        person = annotator(shapes, name)
        with shapes.session() as s:
            page = next_task(s, "verify", person)
            submit_task(s, page.id, person, dict.fromkeys(page.item_ids, True))
    before = counts(shapes)
    assert before["annotation_votes"] == 8
    command.downgrade(alembic_config(shapes.engine), "0009")
    columns = {c["name"] for c in inspect(shapes.engine).get_columns("annotation_items")}
    assert "value" not in columns and counts(shapes) == before
    upgrade(shapes.engine)
    assert current_revision(shapes.engine) == head_revision() and counts(shapes) == before
    # Values come back as NULL and the next page computes them: work goes on.
    person = annotator(shapes, "c")
    with shapes.session() as s:
        assert next_task(s, "verify", person) is not None
        assert s.scalar(select(AnnotationVote.id).limit(1)) is not None
    # Foreign keys are on again for the catalog's connections after a migration.
    with shapes.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
