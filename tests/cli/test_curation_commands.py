"""The curation block of the README, run as written on a synthetic workspace."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.catalog.current import current_images
from synsetlab.cli.app import app
from synsetlab.curate.decisions import hidden_test_ids
from synsetlab.curate.findings import NewFinding, replace_findings
from synsetlab.workspace import open_workspace
from tests.cli.test_readme import code_blocks

runner = CliRunner(env={"COLUMNS": "200"})


def run(line: str) -> str:
    result = runner.invoke(app, shlex.split(line, comments=True)[1:])
    assert result.exit_code == 0, f"{line}\n{result.output}"
    return result.stdout


@pytest.fixture
def shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    run("synsetlab init ws")
    monkeypatch.chdir(tmp_path / "ws")
    run("synsetlab synthetic generate shapes --per-class 12")
    run("synsetlab ingest manifest shapes/manifest.csv --workers 0")
    return tmp_path / "ws"


def test_the_curation_block_runs_as_written(shapes: Path) -> None:
    lines = [line for line in code_blocks("## Curation")[0] if line.startswith("synsetlab ")]
    for line in lines:
        line = line.replace("--min 50 --max 1300", "--min 5 --max 11")
        line = line.replace(
            "--val-per-class 50 --test-per-class 100", "--val-per-class 2 --test-per-class 2"
        )
        line = line.replace("curate label-issues", "curate label-issues --epochs 2")
        if line.startswith("synsetlab version diff"):
            run("synsetlab split --val-per-class 3 --test-per-class 2 --seed 1")
            run("synsetlab version freeze --name v2")
        out = run(line)
        if line.startswith("synsetlab curate balance"):
            assert "excluded" in out and (shapes / "reports" / "balance.png").is_file()
        if line.startswith("synsetlab version diff"):
            assert "moved between splits" in out
    assert (shapes / "out" / "imagefolder" / "classes.txt").is_file()
    assert (shapes / "reports" / "v1" / "index.html").is_file()


def test_version_and_export_errors_are_clear(shapes: Path) -> None:
    result = runner.invoke(app, ["version", "freeze", "--name", "v1"])
    assert result.exit_code == 1 and "synsetlab split" in result.stderr
    run("synsetlab split --val-per-class 2 --test-per-class 2")
    run("synsetlab version freeze --name v1")
    again = runner.invoke(app, ["version", "freeze", "--name", "v1"])
    assert again.exit_code == 1 and "exists already" in again.stderr
    bad = runner.invoke(app, ["split", "--val-per-class", "20", "--test-per-class", "20"])
    assert bad.exit_code == 1 and "fewer images than" in bad.stderr
    unknown = runner.invoke(app, ["export", "v1", "--format", "tfrecord", "out"])
    assert unknown.exit_code == 1 and "imagefolder" in unknown.stderr
    run("synsetlab export v1 --format coco out")
    busy = runner.invoke(app, ["export", "v1", "--format", "coco", "out"])
    assert busy.exit_code == 1 and "--force" in busy.stderr
    run("synsetlab export v1 --format coco out --force")
    for args in (
        ["findings", "undo"],
        ["findings", "exclude", "--kind", "blurry", "--keep", "all"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_label_issues_prints_its_estimate_and_leaves_the_hidden_test_split_out(
    shapes: Path,
) -> None:
    run("synsetlab split --val-per-class 2 --test-per-class 2 --seed 0")
    out = run("synsetlab curate label-issues --epochs 1 --folds 2 --image-size 16 --workers 0")
    assert "checking 108 images in 10 classes with a quick model (4 steps on 108 images)" in out
    assert out.index("about ") < out.index("likely label issues")  # the estimate comes first
    assert "20 images of the hidden test split left out" in out  # 2 a class, 10 classes


def test_relabel_warns_and_keeps_hidden_test_labels_unless_asked(shapes: Path) -> None:
    run("synsetlab split --val-per-class 2 --test-per-class 2 --seed 0")
    ws = open_workspace(shapes)
    with ws.session() as s:
        test_image = min(hidden_test_ids(s))
        given = next(c.wnid for c in current_images(s) if c.image_id == test_image)
        other = "n13873502" if given != "n13873502" else "n13879320"  # circle, or triangle
        detail = {"given": given, "suggested": other}
        replace_findings(
            s, ["label-issue"], [NewFinding("label-issue", test_image, given, 0.9, detail)]
        )
    ws.close()

    out = run("synsetlab findings relabel")
    assert "relabelled 0 images" in out
    assert "warning: 1 images of the hidden test split kept their labels" in out
    assert "--include-hidden-test" in out
    out = run("synsetlab findings relabel --include-hidden-test")
    assert "relabelled 1 images" in out and "warning" not in out
    ws = open_workspace(shapes)
    with ws.session() as s:
        assert next(c.wnid for c in current_images(s) if c.image_id == test_image) == other
    ws.close()
