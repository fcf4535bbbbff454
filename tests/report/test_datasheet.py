"""The datasheet page: every section, its figures and thumbnails, written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from synsetlab.catalog.current import current_images
from synsetlab.curate.decisions import exclude
from synsetlab.curate.findings import NewFinding, replace_findings
from synsetlab.report import build_datasheet
from synsetlab.splits import SplitPlan, assign_splits
from synsetlab.versions import freeze
from synsetlab.workspace import Workspace
from tests.curate.conftest import CLASSES, fill


@pytest.fixture
def version(sqlite_workspace: Workspace, tmp_path: Path) -> Workspace:
    fill(sqlite_workspace, tmp_path / "photos", per_class=6)
    with sqlite_workspace.session() as s:
        ids = [i.image_id for i in current_images(s)]
        replace_findings(
            s,
            ["near-duplicate", "label-issue", "blurry"],
            [
                NewFinding("near-duplicate", ids[1], score=0.9, detail={"cluster": "c1"}),
                NewFinding("near-duplicate", ids[2], score=0.9, detail={"cluster": "c1"}),
                NewFinding("blurry", ids[3], score=2.0),
                NewFinding("label-issue", ids[4], wnid=CLASSES[0], score=0.8,
                           detail={"given": CLASSES[0], "suggested": CLASSES[1]}),
            ],
        )  # fmt: skip
        exclude(s, [ids[0]], reason="finding:blurry")
    assign_splits(sqlite_workspace, SplitPlan(val_per_class=1, test_per_class=1))
    freeze(sqlite_workspace, "v1")
    return sqlite_workspace


def test_datasheet_has_every_section(version: Workspace, tmp_path: Path) -> None:
    page = build_datasheet(version, "v1", tmp_path / "report")
    html = page.read_text()
    for heading in ("Sizes per split and class", "Hierarchy coverage", "Duplicates and leakage",
                    "Quality", "Top label issues", "Decisions taken"):  # fmt: skip
        assert heading in html
    assert "brambling" in html and "looks like <b>goldfinch</b>" in html
    assert "finding:blurry" in html
    assert "All classes lie under <b>finch" in html
    for png in ("split_sizes.png", "hierarchy.png"):
        with Image.open(page.parent / png) as img:
            assert img.format == "PNG" and img.width > 300
    thumbs = list((page.parent / "thumbs").glob("*.jpg"))
    assert len(thumbs) == 4  # two duplicates, one blurry, one label issue
    for t in thumbs:
        assert f'src="thumbs/{t.name}"' in html


def test_existing_folder_is_refused_and_failures_leave_nothing(
    version: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="--force"):
        build_datasheet(version, "v1", out)
    assert (out / "mine.txt").exists()
    with pytest.raises(ValueError, match="no version"):
        build_datasheet(version, "v9", tmp_path / "other")
    assert not (tmp_path / "other").exists()
    assert not list(tmp_path.glob(".other.partial-*"))
    build_datasheet(version, "v1", out, force=True)
    assert not (out / "mine.txt").exists() and (out / "index.html").exists()
