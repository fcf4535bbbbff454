"""The datasheet page: every section, its figures and thumbnails, written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from synsetlab.catalog import Version
from synsetlab.catalog.current import current_images
from synsetlab.curate.decisions import exclude, undo
from synsetlab.curate.findings import NewFinding, replace_findings
from synsetlab.report import build_datasheet
from synsetlab.report.curation import ANALYSES
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


def curate_again(ws: Workspace) -> None:
    """Curation after the freeze: other findings, an analysis that had not run, decisions undone."""
    with ws.session() as s:
        ids = [i.image_id for i in current_images(s, include_excluded=True)]
        replace_findings(s, ["near-duplicate", "label-issue", "blurry"], [])
        replace_findings(s, ["exact-duplicate"], [
            NewFinding("exact-duplicate", ids[5], score=1.0, detail={"cluster": "x"}),
            NewFinding("exact-duplicate", ids[6], score=1.0, detail={"cluster": "x"}),
        ])  # fmt: skip
        undo(s, reason="finding:blurry")
        exclude(s, [ids[7]], reason="by hand")


def test_a_frozen_versions_datasheet_does_not_change_with_later_curation(
    version: Workspace, tmp_path: Path
) -> None:
    first = build_datasheet(version, "v1", tmp_path / "first").read_text()
    curate_again(version)
    again = build_datasheet(version, "v1", tmp_path / "again").read_text()
    assert again == first
    assert sorted(p.name for p in (tmp_path / "again" / "thumbs").iterdir()) == sorted(
        p.name for p in (tmp_path / "first" / "thumbs").iterdir()
    )
    # What the page says is what curation held at the freeze.
    assert "As recorded when the version was frozen" in first
    assert "finding:blurry" in first and "by hand" not in first


def test_the_datasheet_says_which_analyses_left_no_record(
    version: Workspace, tmp_path: Path
) -> None:
    html = build_datasheet(version, "v1", tmp_path / "report").read_text()
    # The fixture recorded near-duplicate, blurry and label-issue findings: those analyses
    # ran. Class balance left neither findings nor decisions: it may not have run.
    rows = {
        a.name: html.split(f"<tr><td>{a.name}</td>", 1)[1].split("</tr>", 1)[0] for a in ANALYSES
    }
    assert "run: 2 findings in the workspace, recorded " in rows["duplicate search"]
    assert "near-duplicate 2" in rows["duplicate search"]
    assert "run: 1 findings in the workspace" in rows["quality"] and "blurry 1" in rows["quality"]
    assert "no record of a run: not run, or run without finding anything" in rows["class balance"]
    assert "<code>synsetlab curate balance</code>" in rows["class balance"]
    assert "No curation has been run" not in html


def test_no_record_is_never_shown_as_nothing_found(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    fill(sqlite_workspace, tmp_path / "photos", per_class=5)
    assign_splits(sqlite_workspace, SplitPlan(val_per_class=1, test_per_class=1))
    freeze(sqlite_workspace, "v1")
    html = build_datasheet(sqlite_workspace, "v1", tmp_path / "report").read_text()
    assert "No duplicates found" not in html
    assert "Duplicate search: not on record (not run, or run without finding any)." in html
    assert "Quality: not on record" in html and "Label issues: not on record" in html


def test_versions_frozen_before_curation_was_kept_say_their_record_is_live(
    version: Workspace, tmp_path: Path
) -> None:
    with version.session() as s:
        row = s.scalar(select(Version).where(Version.name == "v1"))
        row.summary = {k: v for k, v in row.summary.items() if k != "curation"}
    html = build_datasheet(version, "v1", tmp_path / "report").read_text()
    assert "This version was frozen before synsetlab kept curation" in html
    assert "near-duplicate 2" in html  # the workspace's findings now


def test_analyses_name_every_kind_curation_records() -> None:
    from synsetlab.curate.label_issues import KINDS

    assert ANALYSES[-1].kinds == KINDS  # written out to keep torch out of reports
