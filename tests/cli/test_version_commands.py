"""``synsetlab version freeze / list / diff`` say how many labels rest on the crowd."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from synsetlab.catalog import Version
from synsetlab.cli.app import app
from synsetlab.versions import crowd_record, crowd_verified, load_version
from synsetlab.workspace import open_workspace
from tests.crowd_version import copy_workspace, crowd_template

runner = CliRunner(env={"COLUMNS": "200"})


def run(line: str, code: int = 0) -> str:
    result = runner.invoke(app, shlex.split(line)[1:])
    assert result.exit_code == code, f"{line}\n{result.output}"
    return result.output


@pytest.fixture
def crowd(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The crowd workspace (v1 frozen before the crowd verified), as the current folder."""
    copy_workspace(crowd_template(tmp_path_factory), tmp_path / "ws").close()
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path / "ws")
    return tmp_path / "ws"


def test_freeze_list_and_diff_count_crowd_verified_labels(crowd: Path) -> None:
    out = run("synsetlab version freeze --name v2")
    ws = open_workspace(crowd)
    try:
        v2 = load_version(ws, "v2")
        n = len(crowd_verified(v2.manifest, crowd_record(ws, v2)))
    finally:
        ws.close()
    assert n > 20 and f"; {n} labels crowd-verified" in out
    assert rows()["v2"][5] == str(n) and rows()["v1"][5] == "0"
    diff = run("synsetlab version diff v1 v2")
    assert f"crowd-verified labels: 0 -> {n} ({n} newly verified, 0 no longer)" in diff


def test_versions_frozen_before_the_crowd_record_say_so(crowd: Path) -> None:
    run("synsetlab version freeze --name v2")
    ws = open_workspace(crowd)
    try:
        with ws.session() as s:
            row = s.scalar(select(Version).where(Version.name == "v1"))
            keep = ("crowd", "crowd_verified")
            row.summary = {k: v for k, v in row.summary.items() if k not in keep}
    finally:
        ws.close()
    assert rows()["v1"][5] == "-"
    diff = run("synsetlab version diff v1 v2")
    assert "crowd-verified labels: not recorded by a version frozen before" in diff


def rows() -> dict[str, list[str]]:
    """``version list``'s table: the cells of each version's row, by name."""
    lines = run("synsetlab version list").splitlines()
    assert "crowd-verified" in lines[1]
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if "│" in line]
    return {row[0]: row for row in cells}
