"""``synsetlab annotate ask``: label issues sent to the crowd from the command line, each bad
option a one-line error. Run through the whole ``synsetlab`` app, as a user types it."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from synsetlab.catalog import AnnotationItem, Decision
from synsetlab.cli.app import app
from synsetlab.workspace import init_workspace, open_workspace
from tests.cli.test_readme import code_blocks
from tests.curate.test_review import BRAMBLING, GOLDFINCH, ReviewCatalog, review_catalog

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def ws_cat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, ReviewCatalog]:
    ws = init_workspace(tmp_path / "ws")
    cat = review_catalog(ws, tmp_path / "photos")
    ws.close()
    monkeypatch.chdir(tmp_path / "ws")
    return tmp_path / "ws", cat


def run(line: str) -> str:
    result = runner.invoke(app, shlex.split(line)[1:])
    assert result.exit_code == 0, f"{line}\n{result.output}"
    return result.stdout


def test_label_issues_go_to_the_crowd(ws_cat) -> None:
    root, cat = ws_cat
    out = run("synsetlab annotate ask review --from-findings label-issue --min-score 0.5")
    assert "1 label issue(s) about hidden test images left out" in out
    assert "review: 2 question(s) asked about 1 label issue(s), 1 sent to the crowd" in out
    assert "(project created with the default options)" in out
    assert f"new classes: {BRAMBLING}, {GOLDFINCH}" in out
    again = run(f"synsetlab annotate ask --finding {cat.findings['label-issue:3']}")
    assert "review: 0 question(s) asked about 1 label issue(s), 1 sent" in again
    assert "not asked: waiting already 2" in again
    assert "no label issue waiting" in run("synsetlab annotate ask --from-findings label-issue")
    ws = open_workspace(root)
    with ws.session() as s:
        asked = s.execute(
            select(AnnotationItem.image_id, AnnotationItem.wnid).where(
                AnnotationItem.gold.is_(None)
            )
        ).all()
        reasons = list(s.scalars(select(Decision.reason)))
    ws.close()
    assert sorted(asked) == [(cat.ids[3], BRAMBLING), (cat.ids[3], GOLDFINCH)]
    assert reasons == ["crowd:label-issue"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("", "say which label issues to ask about"),
        ("--from-findings blurry", "only label issues go to the crowd"),
        ("--finding 1 --min-score 0.5", "--min-score and --limit choose among --from-findings"),
        ("nope --from-findings label-issue", "no annotation project 'nope'"),
        ("--finding HIDDEN", "is in the hidden test split"),
        ("--finding BLURRY", "is not a label issue"),
    ],
)
def test_bad_options_are_one_line_errors(ws_cat, args: str, message: str) -> None:
    _, cat = ws_cat
    args = args.replace("HIDDEN", str(cat.findings["label-issue:7"]))
    args = args.replace("BLURRY", str(cat.findings["blurry:2"]))
    result = runner.invoke(app, ["annotate", "ask", *shlex.split(args)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_the_readme_example_runs_as_written(ws_cat) -> None:
    block = next(
        b for b in code_blocks("### Label issues the reviewer doubts") if "annotate ask" in b[0]
    )
    (line,) = [x for x in block if x.startswith("synsetlab ")]
    out = run(line)
    assert "sent to the crowd" in out or "no label issue" in out, out
