"""Revision 0008: decisions gain ``author`` and ``undone_by``, and the ``keep`` action."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, select, text

from synsetlab.catalog import Decision, DecisionAction, current_revision, head_revision, upgrade
from synsetlab.catalog.current import current_images
from synsetlab.catalog.migrate import alembic_config
from synsetlab.workspace import Workspace
from tests.curate.conftest import CLASSES, fill


def columns(ws: Workspace) -> set[str]:
    return {c["name"] for c in inspect(ws.engine).get_columns("decisions")}


def test_decisions_from_before_0008_keep_their_effect_and_no_author(
    workspace: Workspace, tmp_path: Path
) -> None:
    fill(workspace, tmp_path / "photos", per_class=2)
    with workspace.session() as s:
        ids = [c.image_id for c in current_images(s)]
    cfg = alembic_config(workspace.engine)
    command.downgrade(cfg, "0007")
    assert {"author", "undone_by"}.isdisjoint(columns(workspace))
    with workspace.engine.begin() as conn:  # as the code of revision 0007 wrote them
        conn.execute(
            text(
                "INSERT INTO decisions (image_id, action, wnid, reason, created_at) VALUES "
                "(:a, 'exclude', NULL, 'finding:blurry', CURRENT_TIMESTAMP), "
                "(:b, 'relabel', :w, 'finding:label-issue', CURRENT_TIMESTAMP)"
            ),
            {"a": ids[0], "b": ids[2], "w": CLASSES[0]},
        )
    upgrade(workspace.engine)
    assert current_revision(workspace.engine) == head_revision()
    with workspace.session() as s:
        rows = s.scalars(select(Decision).order_by(Decision.id)).all()
        assert [(d.action, d.author, d.undone_by) for d in rows] == [
            (DecisionAction.exclude, None, None),
            (DecisionAction.relabel, None, None),
        ]
        now = {c.image_id: c.wnid for c in current_images(s)}
    assert ids[0] not in now and now[ids[2]] == CLASSES[0]


def test_down_to_0007_drops_keeps_only_and_up_again(workspace: Workspace, tmp_path: Path) -> None:
    fill(workspace, tmp_path / "photos", per_class=2)
    with workspace.session() as s:
        ids = [c.image_id for c in current_images(s)]
        s.add_all([
            Decision(image_id=ids[0], action=DecisionAction.exclude, reason="r", author="curie"),
            Decision(image_id=ids[1], action=DecisionAction.keep, reason="kept:blurry",
                     author="curie"),
        ])  # fmt: skip
    cfg = alembic_config(workspace.engine)
    command.downgrade(cfg, "0007")
    assert current_revision(workspace.engine) == "0007"
    with workspace.engine.connect() as conn:
        left = conn.execute(text("SELECT image_id, action FROM decisions")).all()
    assert left == [(ids[0], "exclude")]  # 0007 cannot read a keep; a keep changed nothing
    upgrade(workspace.engine)
    assert {"author", "undone_by"} <= columns(workspace)
    with workspace.session() as s:
        (d,) = s.scalars(select(Decision)).all()
        assert (d.action, d.author) == (DecisionAction.exclude, None)
        s.add(Decision(image_id=ids[1], action=DecisionAction.keep, reason="k", author="x"))
    with workspace.session() as s:
        assert len(s.scalars(select(Decision)).all()) == 2
