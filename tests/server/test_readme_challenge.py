"""The README's challenge block, run as written against a real ``synsetlab serve``."""

from __future__ import annotations

import re
import shlex
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.catalog import Challenge, Phase
from synsetlab.challenge.accounts import create_team, create_user, member
from synsetlab.challenge.challenges import load_answer_key
from synsetlab.challenge.submissions import submit
from synsetlab.cli.app import app
from synsetlab.workspace import open_workspace
from tests.cli.test_readme import code_blocks
from tests.cli.test_train_commands import SMALL
from tests.server.live import serve

runner = CliRunner(env={"COLUMNS": "200"})


def run(line: str, *, code: int = 0, input: str | None = None) -> str:
    result = runner.invoke(app, shlex.split(line, comments=True)[1:], input=input)
    assert result.exit_code == code, f"{line}\n{result.output}"
    return result.output


@pytest.fixture
def trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with version v1 of synthetic shapes, a tiny model trained on it and its
    submission for the hidden test split."""
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    run("synsetlab init ws")
    monkeypatch.chdir(tmp_path / "ws")
    run("synsetlab synthetic generate shapes --per-class 8")
    run("synsetlab ingest manifest shapes/manifest.csv --workers 0")
    run("synsetlab split --val-per-class 1 --test-per-class 3")
    run("synsetlab version freeze --name v1")
    run(f"synsetlab train v1 --recipe tiny-cpu --epochs 1 --batch-size 16 {SMALL}")
    run("synsetlab submission runs/tiny-cpu-v1/best.pt v1 submission.csv")
    return tmp_path / "ws"


def test_the_challenge_block_runs_as_written(trained: Path) -> None:
    today = date.today()
    lines = [line for line in code_blocks("## Challenges")[0] if line.startswith("synsetlab ")]
    # The block's dates, moved so that the dev phase is open now.
    dates = {
        "2026-12-01": today - timedelta(days=1),
        "2027-01-15": today + timedelta(days=30),
        "2027-01-16": today + timedelta(days=31),
        "2027-01-20": today + timedelta(days=40),
    }
    token = url = None
    outputs = {}
    with ExitStack() as stack:  # stops the server however the test ends
        for line in lines:
            for old, new in dates.items():
                line = line.replace(old, new.isoformat())
            if url:  # the README names port 8000; this test's server has a free port
                line = line.replace("http://127.0.0.1:8000", url)
            verb = " ".join(line.split()[1:3])
            if verb.startswith("serve"):
                continue  # the server runs as a real process, started below
            if verb == "challenge add-admin":
                outputs[verb] = run(line.split("<")[0], input="organiser-password\n")
            elif verb.startswith("team register"):
                outputs[verb] = run(line, input="alice-password\nalice-password\n")
                token = outputs[verb].split("keep it secret):")[1].split()[0]
            elif verb.startswith("submit"):
                outputs[verb] = run(line.replace('"$TOKEN"', token))
            elif "--private" in line:
                assert "revealed when it ends" in run(line, code=1)
                end_the_dev_phase(trained)
                outputs["private"] = run(line)
            else:
                outputs[verb] = run(line)
            if verb == "challenge baseline":  # the challenge exists: start the server
                url = stack.enter_context(serve(trained))
    created = re.search(
        r"challenge shapes-2026: classification on (\d+) test images, 2 phase\(s\); "
        r"(\d+) images score the public board",
        outputs["challenge create"],
    )
    assert created, outputs["challenge create"]
    ws = open_workspace(trained)
    with ws.session() as s:
        c = s.query(Challenge).filter_by(slug="shapes-2026").one()
        key = load_answer_key(ws.blobs, c.answer_key_sha256)
    ws.close()
    # what it says is what the answer key holds (distinct test images; public ones)
    assert (int(created[1]), int(created[2])) == (key.n_images, int(key.public.sum()))
    assert str(key.seed) not in outputs["challenge create"] and c.seed is None  # secret seed
    assert "public: top1_error" in outputs["submit --server"]
    board = outputs["leaderboard --server"]
    assert "vision-lab" in board and "(baseline)" in board
    assert outputs["private"].splitlines()[0].startswith("rank,name,baseline,top5_error")
    assert "no cross-team pair" in outputs["challenge similar"]


def end_the_dev_phase(root: Path) -> None:
    ws = open_workspace(root)
    with ws.session() as s:
        dev = s.query(Phase).filter_by(name="dev").one()
        dev.ends_at = dev.starts_at + timedelta(seconds=1)
    ws.close()


def test_a_participant_with_only_the_exported_test_images_can_submit(trained: Path) -> None:
    """The organiser exports the hidden test images (named by ImageId); a participant
    predicts those files as a kaggle submission, which the challenge accepts."""
    run("synsetlab export v1 --format imagefolder exported")
    run(
        "synsetlab challenge create v1 --name Open --phase "
        f"dev:{date.today() - timedelta(days=1)}..{date.today() + timedelta(days=1)}"
    )
    run("synsetlab predict runs/tiny-cpu-v1/best.pt exported/test --format kaggle --out p.csv")
    rows = (trained / "p.csv").read_text().splitlines()
    expected = (trained / "submission.csv").read_text().splitlines()
    assert rows[0] == "ImageId,PredictionString"
    # the same images, named as the version knows them; the same model gives the same guesses
    assert [r.split(",")[0] for r in rows] == [r.split(",")[0] for r in expected]
    assert sum(a == b for a, b in zip(rows, expected, strict=True)) >= 0.9 * len(rows)
    ws = open_workspace(trained)
    with ws.session() as s:
        user = create_user(s, "carol", "password-of-carol")
        create_team(s, user, "carols")
        who = member(s, user)
    sub = submit(ws, who, "open", (trained / "p.csv").read_bytes())
    ws.close()
    assert sub.status.value == "scored" and sub.scores["public"]["n_images"] > 0
