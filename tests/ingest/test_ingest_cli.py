"""The new user's path on the command line: a typo in a classes file, then the corrected run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.cli.app import app
from tests.ingest.fakes import DIGIT_WNIDS, make_fake_idx

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def in_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init", "ws"]).exit_code == 0
    monkeypatch.chdir(tmp_path / "ws")
    return tmp_path / "ws"


def test_typo_is_refused_and_a_source_can_be_removed_and_ingested_again(
    in_workspace: Path,
) -> None:
    images, labels, classes = make_fake_idx(in_workspace / "mnist", n=10)
    good = classes.read_text()
    classes.write_text(good.replace(DIGIT_WNIDS[9], "n1374527"))
    args = ["ingest", "idx", str(images), "--labels", str(labels), "--classes", str(classes)]
    typo = runner.invoke(app, [*args, "--workers", "0"])
    assert typo.exit_code == 1
    assert typo.stderr.startswith("error: nothing was ingested: 1 class is neither")
    assert f"'n1374527' (did you mean {DIGIT_WNIDS[9]} nine, " in typo.stderr
    assert len(typo.stderr.strip().splitlines()) == 1, typo.stderr
    assert "0 images" in runner.invoke(app, ["status"]).stdout

    # The first run went through with a wrong (but known) class; the fix changes its options.
    classes.write_text(good.replace(DIGIT_WNIDS[9], DIGIT_WNIDS[8]))
    assert runner.invoke(app, [*args, "--workers", "0"]).exit_code == 0
    classes.write_text(good)
    refused = runner.invoke(app, [*args, "--workers", "0"])
    assert refused.exit_code == 1 and "--replace" in refused.stderr

    kept = runner.invoke(app, ["ingest", "remove", "1"], input="n\n")
    assert kept.exit_code == 1
    assert "10 images" in runner.invoke(app, ["status"]).stdout
    removed = runner.invoke(app, ["ingest", "remove", str(images), "--yes"])
    assert removed.exit_code == 0, removed.output
    assert (
        "removed source 1 (idx " in removed.stdout
        and ": 10 images with 10 labels" in removed.stdout
    )
    assert runner.invoke(app, [*args, "--workers", "0"]).exit_code == 0

    # --replace does both in one command.
    classes.write_text(good.replace(DIGIT_WNIDS[9], DIGIT_WNIDS[8]))
    replaced = runner.invoke(app, [*args, "--workers", "0", "--replace"])
    assert replaced.exit_code == 0, replaced.output
    assert "10 added" in replaced.stdout
    status = runner.invoke(app, ["status"]).stdout
    assert "10 images" in status and DIGIT_WNIDS[9] not in status

    missing = runner.invoke(app, ["ingest", "remove", "9", "--yes"])
    assert missing.exit_code == 1 and "no source '9'" in missing.stderr
