"""init, status, quickstart and ingest errors as a user meets them on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.cli.app import app

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(autouse=True)
def _no_ambient_workspace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)


def test_quickstart_builds_a_workspace_and_reports_planted_faults(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["quickstart", "demo", "--per-class", "6", "--workers", "0", "--no-label-issues",
         "--epochs", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    truth = json.loads((tmp_path / "demo/sources/shapes/truth.json").read_text())
    counts = truth["counts"]
    out = result.stdout
    assert f"{counts['total'] - counts['corrupt']} images added" in out
    assert f"{counts['corrupt']} files rejected" in out
    row = next(line for line in out.splitlines() if "corrupt files" in line)
    assert row.split("│")[2].strip() == row.split("│")[3].strip() == str(counts["corrupt"])
    status = runner.invoke(app, ["-w", str(tmp_path / "demo"), "status"])
    assert status.exit_code == 0 and "n13873502" in status.stdout and "circle" in status.stdout
    assert "8. trained tiny-cpu on v1: 1 epochs" in out and "val top-1 error" in out
    submission = (tmp_path / "demo" / "submission.csv").read_text().splitlines()
    assert submission[0] == "ImageId,PredictionString" and len(submission) > 1
    assert (tmp_path / "demo" / "runs" / "tiny-cpu-v1" / "eval-v1-val" / "metrics.json").exists()
    assert "9. challenge quickstart on v1's hidden test split" in out
    assert "class prior (baseline)" in out and "quickstart-team" in out
    assert "/c/quickstart/leaderboard" in out and "(shown once): ssl_" in out


def test_quickstart_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    args = ["quickstart", "demo", "--per-class", "5", "--workers", "0", "--no-label-issues",
            "--no-train"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--force" in again.stderr
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    small = runner.invoke(app, ["quickstart", "tiny", "--per-class", "2"])
    assert small.exit_code == 1 and "at least 5" in small.stderr


def test_quickstart_never_deletes_a_folder_that_is_not_a_workspace(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    result = runner.invoke(app, ["quickstart", "mine", "--force", "--no-label-issues"])
    assert result.exit_code == 1 and "refusing" in result.stderr
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_status_of_a_new_workspace(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", "ws"]).exit_code == 0
    result = runner.invoke(app, ["--workspace", "ws", "status"])
    assert result.exit_code == 0, result.output
    assert "0 images" in result.stdout


def test_commands_outside_a_workspace_say_what_to_do() -> None:
    for args in (["status"], ["ingest", "imagefolder", "."]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert "synsetlab init" in result.stderr
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "imagefolder", "no-such-folder"], "is not a folder"),
        (["ingest", "manifest", "nothing.csv"], "not found"),
        (["ingest", "imagefolder", ".", "--map", "missing.txt"], "cannot read class map"),
        (["ingest", "ilsvrc2012", "."], "ILSVRC2012"),
        (["ingest", "kaggle-loc", "."], "Kaggle download"),
        (["ingest", "cifar", "."], "cifar"),
        (["ingest", "idx", "missing-idx.gz"], "missing-idx.gz"),
    ],
)
def test_ingest_errors_are_one_clear_line(args: list[str], message: str) -> None:
    assert runner.invoke(app, ["init", "ws"]).exit_code == 0
    result = runner.invoke(app, ["-w", "ws", *args])
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("synsetlab ")
