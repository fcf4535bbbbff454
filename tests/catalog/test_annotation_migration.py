"""Migration 0007 (annotation tables) on SQLite and PostgreSQL: up over a catalog with
images, down again without touching them, and the tables in use on either database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, select

from synsetlab.annotate import (
    ProjectOptions,
    aggregate_project,
    annotator_for,
    create_project,
    get_project,
    next_task,
    submit_task,
    undo_outcomes,
)
from synsetlab.catalog import (
    AnnotationOutcome,
    AnnotationVote,
    Label,
    current_revision,
    head_revision,
    upgrade,
)
from synsetlab.catalog.migrate import alembic_config
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace
from tests.curate.conftest import CLASSES, fill

TABLES = {
    "annotation_projects",
    "annotation_classes",
    "annotation_items",
    "annotators",
    "annotation_tasks",
    "annotation_task_items",
    "annotation_votes",
    "annotation_outcomes",
}


def test_0007_goes_up_over_a_catalog_and_down_without_touching_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    fill(workspace, tmp_path / "photos", per_class=2)
    with workspace.session() as s:
        labels = s.execute(select(Label.id, Label.image_id, Label.wnid, Label.state)).all()
    cfg = alembic_config(workspace.engine)
    command.downgrade(cfg, "0006")
    assert not TABLES & set(inspect(workspace.engine).get_table_names())
    upgrade(workspace.engine)
    assert current_revision(workspace.engine) == head_revision()
    assert set(inspect(workspace.engine).get_table_names()) >= TABLES
    with workspace.session() as s:
        assert s.execute(select(Label.id, Label.image_id, Label.wnid, Label.state)).all() == labels


def test_a_project_votes_and_outcomes_on_either_database(
    workspace: Workspace, tmp_path: Path
) -> None:
    fill(workspace, tmp_path / "photos", per_class=4)
    with workspace.session() as s:
        before = dict(s.execute(select(Label.id, Label.state)).all())
        create_project(
            s,
            "verify",
            taxonomy=Taxonomy.wordnet(),
            classes=list(CLASSES),
            options=ProjectOptions(
                initial_items=4, initial_votes=2, max_votes=3, page_size=4, gold=0.0
            ),
        )
        people = [annotator_for(s, get_project(s, "verify"), name=f"a{i}").id for i in range(4)]
    for _ in range(6):
        for person in people:
            with workspace.session() as s:
                task = next_task(s, "verify", person)
                if task is not None:
                    submit_task(s, task.id, person, dict.fromkeys(task.item_ids, True))
                    again = submit_task(s, task.id, person, dict.fromkeys(task.item_ids, True))
                    assert again.repeat
    with workspace.session() as s:
        votes = s.execute(select(AnnotationVote.item_id, AnnotationVote.annotator_id)).all()
        assert len(votes) == len(set(votes)) > 0
        # Two yes votes a label say little to a 0.997 target; a majority accepts them.
        done = aggregate_project(s, "verify", method="majority")
        assert done.verified == len(before) and done.rejected == 0
        assert len(s.scalars(select(AnnotationOutcome)).all()) == done.verified + done.rejected
    with workspace.session() as s:
        undo_outcomes(s, "verify")
        assert dict(s.execute(select(Label.id, Label.state)).all()) == before
    command.downgrade(alembic_config(workspace.engine), "0006")
    upgrade(workspace.engine)
