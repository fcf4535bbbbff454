"""``synsetlab annotate create --assist CKPT`` and ``synsetlab annotate assist PROJECT --from
CKPT`` on a real workspace with a checkpoint trained for seconds, and what they refuse."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from synsetlab.catalog import AnnotationItem, AnnotationProject
from synsetlab.cli.app import app
from synsetlab.workspace import open_workspace
from tests.annotate.test_assist import CIRCLE, HEART, RECTANGLE, TRIANGLE, World, build_world

runner = CliRunner(env={"COLUMNS": "200"})


def run(line: str) -> str:
    result = runner.invoke(app, shlex.split(line)[1:])
    assert result.exit_code == 0, f"{line}\n{result.output}"
    return result.stdout


def fail(line: str) -> str:
    """Run a command that must fail with one error line; returns that line."""
    result = runner.invoke(app, shlex.split(line)[1:])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def stored(root: Path) -> tuple[int, int]:
    """(projects, questions with a prior) in the workspace at ``root``."""
    ws = open_workspace(root)
    try:
        with ws.session() as s:
            projects = s.scalar(select(func.count()).select_from(AnnotationProject))
            priors = s.scalar(select(func.count()).where(AnnotationItem.prior.is_not(None)))
            return int(projects or 0), int(priors or 0)
    finally:
        ws.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("assist-cli"))


@pytest.fixture
def shapes(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(world.workspace, tmp_path / "ws")
    (tmp_path / "ws" / "classes.txt").write_text(
        f"{CIRCLE}  # circle\n{RECTANGLE}  # rectangle\n{TRIANGLE}  # triangle\n"
    )
    (tmp_path / "ws" / "heart.txt").write_text(f"{HEART}  # heart\n")
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path / "ws")
    return tmp_path / "ws"


def test_create_with_assist_then_assist_again(shapes: Path, world: World) -> None:
    ckpt = world.checkpoint
    out = run(
        f"synsetlab annotate create shapes-verify --classes classes.txt --gold 0.1 "
        f"--assist {ckpt} --device cpu"
    )
    assert "created project shapes-verify: 120 candidate labels of 3 classes" in out
    assert re.search(r"assist: 120 of 120 questions got a prior from .*best\.pt", out)
    assert "calibration: project, temperature" in out and "priors: min 0.003" in out
    assert stored(shapes) == (1, 120)
    again = run(f"synsetlab annotate assist shapes-verify --from {ckpt} --device cpu")
    assert "assist: 120 of 120 questions" in again and "replaced 120 earlier priors" in again
    assert "Next: synsetlab annotate simulate shapes-verify" in again
    assert stored(shapes) == (1, 120)


def test_assist_help_has_an_example() -> None:
    result = runner.invoke(app, ["annotate", "assist", "--help"])
    assert result.exit_code == 0 and "Example: synsetlab annotate assist" in result.stdout
    result = runner.invoke(app, ["annotate", "create", "--help"])
    assert "--assist" in result.stdout


def test_bad_input_is_one_line_and_writes_nothing(shapes: Path, world: World) -> None:
    ckpt = world.checkpoint
    # A checkpoint that knows none of the classes: refused before the project is stored.
    line = fail(f"synsetlab annotate create hearts --classes heart.txt --assist {ckpt}")
    assert "predicts 3 classes" in line and "none of them a class of project 'hearts'" in line
    assert stored(shapes) == (0, 0)
    line = fail("synsetlab annotate create v --classes classes.txt --assist missing.pt")
    assert "missing.pt" in line
    assert stored(shapes) == (0, 0)
    line = fail(f"synsetlab annotate assist nope --from {ckpt}")
    assert "no annotation project 'nope'" in line
    run("synsetlab annotate create v --classes classes.txt")
    assert "--batch-size 0" in fail(f"synsetlab annotate assist v --from {ckpt} --batch-size 0")
    assert "unknown device 'tpu'" in fail(f"synsetlab annotate assist v --from {ckpt} --device tpu")
    assert stored(shapes) == (1, 0)
