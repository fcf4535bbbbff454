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
from synsetlab.catalog.curation import last_runs
from synsetlab.catalog.current import current_images
from synsetlab.catalog.migrate import alembic_config
from synsetlab.catalog.models import AnalysisRun, Finding
from synsetlab.curate.findings import NewFinding, RunFacts, replace_findings
from synsetlab.curate.kinds import QUALITY_KINDS
from synsetlab.workspace import Workspace
from tests.curate.conftest import CLASSES, fill


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


def test_a_new_catalog_has_no_analysis_run(workspace: Workspace) -> None:
    with workspace.session() as s:
        assert s.scalars(select(AnalysisRun)).all() == []


def test_upgrading_a_curated_catalog_to_0006_says_runs_before_were_not_kept(
    workspace: Workspace, tmp_path: Path
) -> None:
    fill(workspace, tmp_path / "photos", per_class=2)
    with workspace.session() as s:
        ids = [i.image_id for i in current_images(s)]
        replace_findings(s, ["blurry"], [NewFinding("blurry", i) for i in ids[:4]])
        replace_findings(s, ["small-class"], [NewFinding("small-class", wnid=CLASSES[0])])
    cfg = alembic_config(workspace.engine)
    command.downgrade(cfg, "0005")
    assert "analysis_runs" not in inspect(workspace.engine).get_table_names()
    upgrade(workspace.engine)
    with workspace.session() as s:
        rows = s.scalars(select(AnalysisRun).order_by(AnalysisRun.analysis)).all()
        assert len(s.scalars(select(Finding)).all()) == 5  # the data came through
    assert {r.analysis: r.findings for r in rows} == {
        "balance": 1, "duplicates": 0, "label-issues": 0, "quality": 4,
    }  # fmt: skip
    for r in rows:
        assert r.finished_at is None and r.params is None and r.images is None
        assert r.complete is None and "not recorded" in r.note
    with workspace.session() as s:
        replace_findings(s, QUALITY_KINDS, [], run=RunFacts(images=6))
        assert last_runs(s)["quality"].ran and not last_runs(s)["duplicates"].ran
    command.downgrade(cfg, "0005")
    upgrade(workspace.engine)
    assert current_revision(workspace.engine) == head_revision()
