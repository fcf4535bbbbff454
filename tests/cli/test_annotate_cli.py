"""``synsetlab annotate`` as a user meets it: the README's block run as written on a synthetic
workspace, each bad input a one-line error, and a start-up that imports nothing heavy."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from synsetlab.catalog import Label, LabelState
from synsetlab.cli.app import app
from synsetlab.workspace import open_workspace
from tests.cli.test_readme import README, code_blocks
from tests.cli.test_startup import HEAVY

runner = CliRunner(env={"COLUMNS": "200"})

#: The README's annotation block (section "## Annotation"), run from the README once it is
#: there; until then from this copy, which is the block proposed for it.
BLOCK = """\
synsetlab annotate create shapes-verify --classes classes.txt --target-precision 0.997 --max-votes 10 --gold 0.1
synsetlab annotate simulate shapes-verify --workers 50 --spammers 0.1 --seed 0
synsetlab annotate status shapes-verify
synsetlab annotate aggregate shapes-verify --method dynamic
synsetlab annotate export shapes-verify --format crowdkit out/crowd
synsetlab annotate import shapes-verify out/crowd/votes.csv
synsetlab annotate aggregate shapes-verify --method dawid-skene
synsetlab annotate export shapes-verify --format label-studio out/label-studio
synsetlab annotate aggregate shapes-verify --undo
"""  # noqa: E501
SECTION = "## Annotation"
#: circle, triangle, star
CLASSES_TXT = "n13873502  # circle\nn13879320  # triangle\nn13881644  # star\n"


def run(line: str) -> str:
    result = runner.invoke(app, shlex.split(line, comments=True)[1:])
    assert result.exit_code == 0, f"{line}\n{result.output}"
    return result.stdout


def fail(args: list[str]) -> str:
    """Run a command that must fail with one error line; returns that line."""
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("annotate-cli")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        run("synsetlab init ws")
        os.chdir(root / "ws")
        run("synsetlab synthetic generate shapes --per-class 12")
        run("synsetlab ingest manifest shapes/manifest.csv --workers 0")
    finally:
        os.chdir(cwd)
    (root / "ws" / "classes.txt").write_text(CLASSES_TXT)
    return root / "ws"


@pytest.fixture
def shapes(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import shutil

    shutil.copytree(template, tmp_path / "ws")
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path / "ws")
    return tmp_path / "ws"


def readme_block() -> list[str]:
    if SECTION in README.read_text():
        lines = next(b for b in code_blocks(SECTION) if any("annotate" in x for x in b))
    else:
        lines = BLOCK.splitlines()
    return [line for line in lines if line.startswith("synsetlab ")]


def label_states(root: Path) -> dict[int, LabelState]:
    ws = open_workspace(root)
    try:
        with ws.session() as s:
            return dict(s.execute(select(Label.id, Label.state)).all())
    finally:
        ws.close()


def test_the_annotation_block_runs_as_written(shapes: Path) -> None:
    before = label_states(shapes)
    outputs = {}
    for line in readme_block():
        outputs[line] = run(line)
        if "aggregate shapes-verify --method dynamic" in line:
            decided = label_states(shapes)
            assert decided != before
            assert set(decided.values()) >= {LabelState.verified, LabelState.rejected}
    text = "\n".join(outputs.values())
    asked = int(re.search(r"created project shapes-verify: (\d+) candidate labels of 3 ", text)[1])
    assert "50 simulated workers answered" in text and "planted wrong labels" in text
    assert "estimated from the votes" in text and "circle" in text
    assert re.search(r"(ready|short) *│", text)  # each class's table state
    assert "labels verified" in text and "replacing" in text
    assert "imported 0 votes (" in text  # the project's own votes: each stored once
    votes = (shapes / "out" / "crowd" / "votes.csv").read_text().splitlines()
    assert votes[0] == "task,worker,label,seconds" and len(votes) > asked * 5
    tasks = json.loads((shapes / "out" / "label-studio" / "tasks.json").read_text())
    assert len(tasks) == asked and tasks[0]["annotations"]
    assert label_states(shapes) == before  # the last line undid the outcomes


def test_every_annotate_command_has_help_with_an_example() -> None:
    for command in ("create", "list", "status", "simulate", "aggregate", "export", "import"):
        result = runner.invoke(app, ["annotate", command, "--help"])
        assert result.exit_code == 0 and "Example: synsetlab annotate" in result.stdout, command


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["annotate", "status", "nope"], "no annotation project 'nope' (projects: none)"),
        (["annotate", "create", "v", "--target-precision", "1.5"], "target precision 1.5"),
        (["annotate", "create", "v", "--gold", "1"], "gold 1.0 (a share of each page"),
        (["annotate", "create", "Bad Name"], "project name 'Bad Name'"),
        (["annotate", "create", "v", "--classes", "missing.txt"], "cannot read the classes file"),
        (["annotate", "create", "v", "--classes", "bad.txt"], "unknown class(es) n99999999"),
        (["annotate", "aggregate", "v", "--method", "vote"], "--method 'vote': choose one of"),
        (["annotate", "export", "v", "out", "--format", "coco"], "--format 'coco': choose one"),
        (["annotate", "simulate", "v", "--accuracy", "0.4"], "--accuracy 0.4"),
        (["annotate", "import", "v", "votes.csv"], "no annotation project 'v'"),
    ],
)
def test_bad_input_is_one_clear_line(shapes: Path, args: list[str], message: str) -> None:
    (shapes / "bad.txt").write_text("n99999999\n")
    assert message in fail(args)


def test_project_conflicts_and_bad_vote_files(shapes: Path) -> None:
    run("synsetlab annotate create v --classes classes.txt")
    assert "exists already" in fail(["annotate", "create", "v"])
    (shapes / "votes.csv").write_text("task,worker,label\n1:n13873502,w,maybe\n")
    line = fail(["annotate", "import", "v", "votes.csv", "--add-workers"])
    assert "votes.csv line 2: label 'maybe' is not yes/no" in line
    line = fail(["annotate", "simulate", "v", "--workers", "3"])
    assert "3 workers, but each image of the initial subset needs 10 votes" in line
    listed = run("synsetlab annotate list")
    assert "│ v " in listed and "│ 3 " in listed


def test_annotate_help_imports_nothing_heavy(tmp_path: Path) -> None:
    heavy = HEAVY | {"pandas", "crowdkit"}
    code = (
        "import sys\nsys.argv = ['synsetlab', 'annotate', '--help']\n"
        "from synsetlab.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "import json\nprint(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))"
    )
    env = {k: v for k, v in os.environ.items() if k != "SYNSETLAB_WORKSPACE"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "simulate" in done.stdout and imported & heavy == set()


def test_the_quickstart_crowd_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app,
        [
            "quickstart",
            "demo",
            "--per-class",
            "5",
            "--workers",
            "0",
            "--no-label-issues",
            "--no-train",
        ],
    )
    assert result.exit_code == 0, result.output
    truth = json.loads((tmp_path / "demo/sources/shapes/truth.json").read_text())
    planted = truth["counts"]["wrong-label"]
    line = next(x for x in result.stdout.splitlines() if "simulated workers" in x)
    found = re.search(r"(\d+) labels verified and (\d+) rejected \((\d+) of (\d+) planted", line)
    verified, rejected, caught, wrong = map(int, found.groups())
    # Wrong labels: the planted ones and their duplicates (which copy the label).
    assert wrong >= planted and caught >= wrong - 1 and rejected - caught <= 2
    rows = [x for x in result.stdout.splitlines() if x.startswith("│ wrong labels")]
    row = next(x for x in rows if "annotate" in x)
    assert [c.strip() for c in row.split("│")[2:4]] == [str(wrong), str(caught)]
    assert f"labels by state: rejected {rejected}, verified {verified}" in result.stdout
    # v1 was frozen from the candidates: the same as without the crowd.
    again = runner.invoke(
        app,
        [
            "quickstart",
            "plain",
            "--per-class",
            "5",
            "--workers",
            "0",
            "--no-label-issues",
            "--no-train",
            "--no-crowd",
        ],
    )
    assert again.exit_code == 0, again.output
    ids = [re.search(r"froze version v1 \((\w+)\)", r.stdout)[1] for r in (result, again)]
    assert ids[0] == ids[1]
    assert "labels by state: candidate" in again.stdout
