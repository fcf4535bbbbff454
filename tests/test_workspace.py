"""Workspaces and settings: creation, discovery, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from synsetlab.catalog import current_revision, head_revision
from synsetlab.settings import SettingsError, load_settings
from synsetlab.workspace import WorkspaceError, find_workspace, init_workspace, open_workspace


def test_init_creates_config_catalog_and_blob_store(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "birds")
    root = tmp_path / "birds"
    assert (root / "synsetlab.toml").is_file()
    assert (root / "catalog.db").is_file()
    assert (root / "blobs").is_dir()
    assert current_revision(ws.engine) == head_revision()
    tables = set(inspect(ws.engine).get_table_names())
    assert {"images", "labels", "boxes", "sources", "rejected_files", "custom_classes"} <= tables
    with ws.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    ws.close()


def test_init_twice_keeps_the_workspace(tmp_path: Path) -> None:
    init_workspace(tmp_path / "w").close()
    (tmp_path / "w" / "synsetlab.toml").write_text("max_image_pixels = 1234\n")
    ws = init_workspace(tmp_path / "w")
    assert ws.settings.max_image_pixels == 1234
    ws.close()


def test_open_finds_the_workspace_from_a_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_workspace(tmp_path / "w").close()
    sub = tmp_path / "w" / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    assert find_workspace() == (tmp_path / "w").resolve()
    ws = open_workspace()
    assert ws.root == (tmp_path / "w").resolve()
    ws.close()


def test_open_without_workspace_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    with pytest.raises(WorkspaceError, match="synsetlab init"):
        open_workspace()
    with pytest.raises(WorkspaceError, match="not a synsetlab workspace"):
        open_workspace(tmp_path)


def test_settings_priority_env_over_file_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "synsetlab.toml").write_text('max_image_pixels = 500\nblob_url = "memory://x"\n')
    monkeypatch.setenv("SYNSETLAB_MAX_IMAGE_PIXELS", "700")
    settings = load_settings(tmp_path)
    assert settings.max_image_pixels == 700
    assert settings.resolved_blob_url() == "memory://x"
    assert settings.resolved_db_url() == f"sqlite:///{tmp_path.resolve() / 'catalog.db'}"
    assert load_settings(tmp_path, max_image_pixels=9).max_image_pixels == 9


def test_bad_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "synsetlab.toml").write_text("max_image_pixels = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(tmp_path)
    (tmp_path / "synsetlab.toml").write_text("no_such_setting = 1\n")
    with pytest.raises(SettingsError, match="no_such_setting"):
        load_settings(tmp_path)


def test_db_url_from_environment_points_at_another_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("SYNSETLAB_DB_URL", f"sqlite:///{other}")
    ws = init_workspace(tmp_path / "w")
    assert other.is_file() and not (tmp_path / "w" / "catalog.db").exists()
    ws.close()


def test_quality_thresholds_from_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "synsetlab.toml").write_text("[quality]\nmin_std = 3.0\nmin_side = 48\n")
    monkeypatch.setenv("SYNSETLAB_QUALITY__MIN_SIDE", "32")
    quality = load_settings(tmp_path).quality
    assert (quality.min_std, quality.min_side, quality.max_aspect) == (3.0, 32, 4.0)
    (tmp_path / "synsetlab.toml").write_text("[quality]\nmin_sidee = 3\n")
    with pytest.raises(SettingsError, match="min_sidee"):
        load_settings(tmp_path)
