"""Alembic migrations build exactly the ORM's schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from synsetlab.catalog import (
    Base,
    Image,
    Label,
    LabelState,
    Source,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from synsetlab.catalog.migrate import alembic_config
from synsetlab.workspace import Workspace


def test_migrations_match_the_models(workspace: Workspace) -> None:
    with workspace.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert current_revision(workspace.engine) == head_revision()


def test_downgrade_to_base_and_up_again(workspace: Workspace) -> None:
    command.downgrade(alembic_config(workspace.engine), "base")
    assert set(inspect(workspace.engine).get_table_names()) <= {"alembic_version"}
    upgrade(workspace.engine)
    assert "images" in inspect(workspace.engine).get_table_names()


def test_upgrade_is_a_no_op_when_current(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_a_source_key_is_unique_within_its_source(workspace: Workspace) -> None:
    def image(source: Source, key: str) -> Image:
        return Image(
            sha256="0" * 64, size_bytes=1, format="JPEG", width=1, height=1, mode="RGB",
            exif_orientation=None, source=source, source_key=key, source_split=None,
        )  # fmt: skip

    with workspace.session() as s:
        src = Source(kind="imagefolder", uri="/x", options={"split": "train"})
        img = image(src, "a.jpg")
        img.labels.append(Label(wnid="n01530575", state=LabelState.verified))
        s.add(img)
    with workspace.session() as s:
        got = s.scalars(select(Image)).one()
        assert got.source.options == {"split": "train"}
        assert got.labels[0].state is LabelState.verified
    with pytest.raises(IntegrityError), workspace.session() as s:
        s.add(image(s.get(Source, got.source_id), "a.jpg"))
