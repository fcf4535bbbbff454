"""Fixtures shared by the whole suite: workspaces on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from synsetlab.workspace import Workspace, init_workspace
from tests.tiny_version import TinyVersion, make_tiny_version

PG_ENV = "SYNSETLAB_TEST_PG_URL"


def _postgres_admin_url() -> str:
    """The server URL CI provides; skip locally when absent, fail in CI."""
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set: .ci/run must start PostgreSQL")
        pytest.skip(f"no PostgreSQL server: set {PG_ENV} (as .ci/run does) to run these")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin_url = make_url(_postgres_admin_url())
    name = f"synsetlab_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL at {admin_url.render_as_string()} not reachable: {e}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """``None`` (the workspace's default SQLite file) or a fresh PostgreSQL database URL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def workspace(tmp_path: Path, catalog_url: str | None) -> Iterator[Workspace]:
    """A new workspace, on SQLite and on PostgreSQL (each test runs once per database)."""
    ws = init_workspace(tmp_path / "ws", db_url=catalog_url)
    yield ws
    ws.close()


@pytest.fixture
def sqlite_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A new workspace on its default SQLite catalog."""
    ws = init_workspace(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyVersion:
    """A 3-class version of small JPEGs (16 train, 4 val, 2 hidden test per class)."""
    return make_tiny_version(tmp_path_factory.mktemp("tiny"))
