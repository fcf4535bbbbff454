"""The participant workflow on a version whose hidden test split holds byte-identical copies.

The organiser exports the version (``export v1 --format imagefolder OUT``); a participant
predicts ``OUT/test`` (``predict CKPT OUT/test --format kaggle``) and submits the file. Each
content is one ``ImageId`` (its sha256) to the challenge, so the export must write it once:
a second copy named ``<sha256>_1`` made the submission an "unknown image id".
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.challenge.accounts import create_team, create_user, member
from synsetlab.challenge.answers import answer_key
from synsetlab.challenge.formats import parse_submission
from synsetlab.challenge.submissions import submit
from synsetlab.cli.app import app
from synsetlab.versions import load_version
from synsetlab.workspace import open_workspace
from tests.cli.test_train_commands import SMALL
from tests.tiny_version import CLASSES, picture

runner = CliRunner(env={"COLUMNS": "200"})
PER_CLASS = 8


def run(line: str) -> str:
    result = runner.invoke(app, shlex.split(line)[1:])
    assert result.exit_code == 0, f"{line}\n{result.output}"
    return result.stdout


@pytest.fixture(scope="module")
def organiser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Workspace ``ws``: every image ingested twice (two byte-identical files), split without
    `curate duplicates`, frozen as v1, a model trained a step, and the export ``exported``."""
    root = tmp_path_factory.mktemp("workflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SYNSETLAB_WORKSPACE", raising=False)
        patch.chdir(root)
        run("synsetlab init ws")
        ws = root / "ws"
        patch.chdir(ws)
        rows = ["path,wnid"]
        for label, wnid in enumerate(CLASSES):
            for i in range(PER_CLASS):
                data = picture(label, seed=100 * label + i)
                for copy in ("a", "b"):  # the same bytes under two names
                    path = ws / "photos" / copy / f"{wnid}_{i}.jpg"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                    rows.append(f"photos/{copy}/{wnid}_{i}.jpg,{wnid}")
        (ws / "photos.csv").write_text("\n".join(rows) + "\n")
        run("synsetlab ingest manifest photos.csv --workers 0")
        run("synsetlab split --val-per-class 2 --test-per-class 2 --seed 0")
        run("synsetlab version freeze --name v1")
        # Copies are one image to training too: 18 train images, under one batch of 32.
        run("synsetlab train v1 --recipe tiny-cpu --out runs/t --max-steps 1 --workers 0 "
            f"--batch-size 16 {SMALL}")  # fmt: skip
        run("synsetlab export v1 --format imagefolder exported")
        yield ws


def test_exported_test_images_are_one_file_per_image_id(organiser: Path) -> None:
    ws = open_workspace(organiser)
    manifest = load_version(ws, "v1").manifest
    ws.close()
    test = manifest.split("test")
    # Copies share a split, so the hidden split holds each content twice.
    assert len(test) == 2 * len({e.sha256 for e in test}) == 2 * len(CLASSES)
    train = {e.sha256 for e in manifest.entries if e.split != "test"}
    assert not train & {e.sha256 for e in test}  # no test image has a labelled copy
    files = sorted(p.name for p in (organiser / "exported" / "test").iterdir())
    assert files == sorted({f"{e.sha256}.jpg" for e in test})


def test_predictions_of_the_export_are_a_valid_submission(
    organiser: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(organiser)
    run("synsetlab predict runs/t/last.pt exported/test --format kaggle --out p.csv")
    data = (organiser / "p.csv").read_bytes()
    ws = open_workspace(organiser)
    key = answer_key(load_version(ws, "v1").manifest, public_fraction=0.5, seed=0)
    ws.close()
    ids = [row.split(",")[0] for row in data.decode().splitlines()[1:]]
    assert sorted(ids) == list(key.image_ids) and len(ids) == len(CLASSES)
    # Accepted as it is: every ImageId known, none missing, each image guessed.
    predictions = parse_submission(data, key, task="classification", fmt="kaggle")
    assert predictions.labels.shape == (len(CLASSES), 5) and (predictions.labels[:, 0] >= 0).all()


def test_the_challenge_scores_that_submission(
    organiser: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(organiser)
    today = date.today()
    run(f"synsetlab challenge create v1 --name Open --phase dev:{today - timedelta(days=1)}.."
        f"{today + timedelta(days=1)}")  # fmt: skip
    if not (organiser / "p.csv").exists():
        run("synsetlab predict runs/t/last.pt exported/test --format kaggle --out p.csv")
    ws = open_workspace(organiser)
    with ws.session() as s:
        user = create_user(s, "carol", "password-of-carol")
        create_team(s, user, "carols")
        who = member(s, user)
    sub = submit(ws, who, "open", (organiser / "p.csv").read_bytes())
    ws.close()
    assert sub.status.value == "scored"
    assert sub.scores["public"]["n_images"] + sub.scores["private"]["n_images"] == len(CLASSES)
