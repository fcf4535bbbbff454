"""The README's box project example, run as written (``classes.txt`` names three shapes)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from synsetlab.catalog import Box
from synsetlab.cli.app import app
from synsetlab.workspace import open_workspace
from tests.cli.test_readme import code_blocks

runner = CliRunner(env={"COLUMNS": "200"})


def test_the_readme_box_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = next(
        b for b in code_blocks("### Boxes: draw, verify, cover") if "--kind boxes" in str(b)
    )
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init", "ws"]).exit_code == 0
    monkeypatch.chdir(tmp_path / "ws")
    (tmp_path / "ws" / "classes.txt").write_text("n13873502\nn13879320\nn13883346\n")
    outputs = {}
    for line in block:
        result = runner.invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, f"{line}\n{result.output}"
        outputs[line.split()[2] if line.startswith("synsetlab annotate") else line] = result.stdout
    assert "images of 3 classes to box" in outputs["create"]
    assert "mean IoU of accepted boxes" in outputs["simulate"]
    assert "shapes-boxes" in outputs["list"] and "boxes" in outputs["list"]
    with open_workspace(tmp_path / "ws").session() as session:
        crowd = session.scalar(select(func.count()).where(Box.drawing_id.is_not(None)))
    assert crowd > 0 and f"{crowd} accepted boxes written" in outputs["aggregate"]
