"""`synsetlab findings list` on a narrow terminal: whole image keys, classes by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from synsetlab.catalog.current import current_images
from synsetlab.curate.findings import NewFinding, replace_findings
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.pipeline import ingest
from synsetlab.workspace import Workspace
from tests.images import jpeg

BRAMBLING, GOLDFINCH, FINCH = "n01530575", "n01531178", "n01529672"
LONG = "a-photo-whose-file-name-is-much-longer-than-a-narrow-terminal-column-0001.jpg"

runner = CliRunner(env={"COLUMNS": "80"})


def cells(stdout: str) -> list[list[str]]:
    """The table's rows, each cell's lines joined back together without spaces."""
    rows: list[list[str]] = []
    for line in stdout.splitlines():
        parts = [p.replace(" ", "") for p in line.split("│")[1:-1]]
        if not parts:
            continue
        if parts[0]:  # a new row; an empty id cell continues the row above
            rows.append(parts)
        else:
            rows[-1] = [a + b for a, b in zip(rows[-1], parts, strict=True)]
    return rows


@pytest.fixture
def workspace_with_findings(
    sqlite_workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Workspace:
    folder = tmp_path / "photos" / BRAMBLING
    folder.mkdir(parents=True)
    (folder / LONG).write_bytes(jpeg((32, 32), seed=1))
    ingest(sqlite_workspace, open_imagefolder(tmp_path / "photos"), workers=0)
    with sqlite_workspace.session() as s:
        (image,) = current_images(s)
        replace_findings(
            s,
            ["label-issue"],
            [NewFinding("label-issue", image.image_id, wnid=BRAMBLING, score=0.9,
                        detail={"given": BRAMBLING, "suggested": GOLDFINCH, "lca": FINCH})],
        )  # fmt: skip
    monkeypatch.setenv("SYNSETLAB_WORKSPACE", str(sqlite_workspace.root))
    return sqlite_workspace


def test_findings_list_shows_whole_keys_and_class_names(workspace_with_findings: Workspace) -> None:
    from synsetlab.cli.app import app

    result = runner.invoke(app, ["findings", "list"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    (row,) = [r for r in cells(result.stdout) if r[1] == "label-issue"]
    image, wnid, detail = row[2], row[3], row[5]
    assert image == f"{BRAMBLING}/{LONG}"
    assert wnid == f"{BRAMBLING}brambling"
    assert f"suggested={GOLDFINCH}goldfinch" in detail
    assert f"lca={FINCH}finch" in detail  # the lowest common ancestor of the two, named
