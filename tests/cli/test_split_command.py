"""``synsetlab split`` on sources that give their own train/test: val carved from train,
byte-identical copies kept out of the hidden test split, ignored options refused, and the
recorded parameters of the frozen version saying what was done."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.cli.app import app
from synsetlab.versions import load_version
from synsetlab.workspace import open_workspace
from tests.images import jpeg

runner = CliRunner(env={"COLUMNS": "200"})
CLASSES = ("n01530575", "n01531178")


def run(line: str, code: int = 0) -> CliRunner:
    result = runner.invoke(app, shlex.split(line)[1:])
    assert result.exit_code == code, f"{line}\n{result.output}"
    return result


@pytest.fixture
def sourced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace whose one source gives train (6 a class) and test (2 a class), and put
    one content in both: photos/train/n01530575_0.jpg = photos/test/leak.jpg."""
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    run("synsetlab init ws")
    monkeypatch.chdir(tmp_path / "ws")
    photos = tmp_path / "ws" / "photos"
    rows = ["path,wnid,split"]
    for c, wnid in enumerate(CLASSES):
        for split, n in (("train", 6), ("test", 2)):
            for i in range(n):
                name = f"{split}/{wnid}_{i}.jpg"
                (photos / name).parent.mkdir(parents=True, exist_ok=True)
                (photos / name).write_bytes(jpeg(seed=100 * c + 10 * (split == "test") + i))
                rows.append(f"photos/{name},{wnid},{split}")
    (photos / "test" / "leak.jpg").write_bytes(jpeg(seed=0))
    rows.append(f"photos/test/leak.jpg,{CLASSES[0]},test")
    (tmp_path / "ws" / "manifest.csv").write_text("\n".join(rows) + "\n")
    run("synsetlab ingest manifest manifest.csv --workers 0")
    return tmp_path / "ws"


def test_from_source_carves_val_and_records_what_was_done(sourced: Path) -> None:
    out = run("synsetlab split --from-source --val-per-class 2 --seed 4").stdout
    assert "train 9, val 4, test 4" in " ".join(out.split())
    assert "1 byte-identical copies moved" in out
    assert "no val split" not in out
    run("synsetlab version freeze --name v1")
    ws = open_workspace(sourced)
    manifest = load_version(ws, "v1").manifest
    ws.close()
    assert manifest.params["split"] == {
        "mode": "from-source",
        "source_splits": "train, test",
        "val_per_class": 2,
        "seed": 4,
        "hide_test": True,
        "copies_moved": 1,
    }
    leak = jpeg(seed=0)
    from synsetlab.blobs import sha256_hex

    assert {e.split for e in manifest.entries if e.sha256 == sha256_hex(leak)} == {"train"}


def test_from_source_without_val_says_so_and_ignored_options_are_refused(sourced: Path) -> None:
    out = run("synsetlab split --from-source").stdout
    assert "no val split" in out and "--val-per-class" in out
    seed = run("synsetlab split --from-source --seed 2", code=1)
    assert "seed 2 is not used" in seed.stderr and len(seed.stderr.strip().splitlines()) == 1
    # Without val or test nothing is drawn in the stratified mode either.
    seed = run("synsetlab split --seed 2", code=1)
    assert "seed 2 is not used: without val or test" in seed.stderr
    test = run("synsetlab split --from-source --test-fraction 0.2", code=1)
    assert "sources already give a test split" in test.stderr
    both = run("synsetlab split --val-per-class 1 --val-fraction 0.2", code=1)
    assert "not both" in both.stderr
