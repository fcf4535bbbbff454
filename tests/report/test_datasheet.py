"""The datasheet page: every section, its figures and thumbnails, written whole or not at all."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from PIL import Image
from sqlalchemy import select

from synsetlab.catalog import Version, upgrade
from synsetlab.catalog.curation import CurationSnapshot
from synsetlab.catalog.current import current_images
from synsetlab.catalog.migrate import alembic_config
from synsetlab.curate.balance import class_balance
from synsetlab.curate.decisions import exclude, undo
from synsetlab.curate.findings import NewFinding, RunFacts, replace_findings
from synsetlab.curate.kinds import ANALYSIS_KINDS
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


def curation_part(html: str) -> str:
    """The page down to the crowd section, which says of the crowd what it says (this
    module's versions had no crowd: "not run before this version was frozen")."""
    return html.split("<h2>Crowd verification at freeze</h2>", 1)[0]


def rows_of(html: str) -> dict[str, str]:
    """The curation table's record cell and findings cell of each analysis, by name."""
    return {
        a.name: html.split(f"<tr><td>{a.name}</td>", 1)[1].split("</tr>", 1)[0] for a in ANALYSES
    }


def run(ws: Workspace, key: str, findings: list[NewFinding], facts: RunFacts | None) -> None:
    """A completed run of analysis ``key`` that recorded ``findings``, as the analyses do."""
    with ws.session() as s:
        replace_findings(s, ANALYSIS_KINDS[key], findings, run=facts)


def test_findings_of_no_recorded_run_still_show_that_the_analysis_ran(
    version: Workspace, tmp_path: Path
) -> None:
    html = build_datasheet(version, "v1", tmp_path / "report").read_text()
    # The fixture recorded near-duplicate, blurry and label-issue findings outside any run:
    # those analyses ran. Class balance recorded no run, finding nor decision: not run.
    rows = rows_of(html)
    assert "run: 2 findings in the workspace, recorded " in rows["duplicate search"]
    assert "near-duplicate 2" in rows["duplicate search"]
    assert "run: 1 findings in the workspace" in rows["quality"] and "blurry 1" in rows["quality"]
    assert "not run before this version was frozen" in rows["class balance"]
    assert "<code>synsetlab curate balance</code>" in rows["class balance"]
    assert "No curation has been run" not in html


def test_each_analysis_says_when_it_ran_with_what_on_how_many_and_what_it_found(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_workspace
    fill(ws, tmp_path / "photos", per_class=6)
    with ws.session() as s:
        ids = [i.image_id for i in current_images(s)]
    near = [NewFinding("near-duplicate", i, score=0.9, detail={"cluster": "c1"}) for i in ids[:2]]
    run(ws, "duplicates", near, RunFacts({"max_distance": 8, "crowd_limit": 1000}, images=18))
    run(ws, "quality", [], RunFacts({"min_short_side": 32.0}, images=18))
    skipped = "6 images in classes under 5 images skipped"
    run(ws, "label-issues", [], RunFacts({"folds": 5}, images=12, complete=False, note=skipped))
    assign_splits(ws, SplitPlan(val_per_class=1, test_per_class=1))
    freeze(ws, "v1")
    html = build_datasheet(ws, "v1", tmp_path / "report").read_text()
    rows = rows_of(html)
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    assert re.search(f"ran {when} with crowd_limit=1000, max_distance=8 on 18 images, found 2",
                     rows["duplicate search"])  # fmt: skip
    assert "near-duplicate 2" in rows["duplicate search"]
    assert re.search(f"ran {when} with min_short_side=32.0 on 18 images, found nothing<",
                     rows["quality"])  # fmt: skip
    assert re.search(f"quality ran {when}\\)", html)  # in the quality section
    assert "No quality findings on this version&#39;s images (quality ran" in html
    assert "not run before this version was frozen" in rows["class balance"]
    assert re.search(f"ran {when} with folds=5 on 12 images, found nothing; incomplete: 6 images "
                     "in classes under 5 images skipped", rows["label issues"])  # fmt: skip
    assert "No label issues on this version&#39;s images, but the label issues run of " in html
    assert "was incomplete: 6 images in classes under 5 images skipped." in html
    assert "not on record" not in html and "no record" not in html


def test_runs_that_did_not_tell_their_settings_still_say_when_and_what_they_found(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_workspace
    fill(ws, tmp_path / "photos", per_class=4)
    class_balance(ws, min_count=5)  # every class is small: three findings
    assign_splits(ws, SplitPlan(val_per_class=1, test_per_class=1))
    freeze(ws, "v1")
    rows = rows_of(build_datasheet(ws, "v1", tmp_path / "report").read_text())
    assert re.search(r"ran [\d-]+ [\d:]+ UTC.*, found 3<", rows["class balance"])
    assert "small-class 3" in rows["class balance"]


def test_a_versions_datasheet_says_what_ran_before_it_not_after(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_workspace
    fill(ws, tmp_path / "photos", per_class=5)
    assign_splits(ws, SplitPlan(val_per_class=1, test_per_class=1))
    freeze(ws, "v1")
    before = build_datasheet(ws, "v1", tmp_path / "before").read_text()
    assert "No duplicates found" not in before
    assert "Duplicate search: not run before this version was frozen." in before
    assert "Quality: not run before" in before and "Label issues: not run before" in before
    for a in ANALYSES:
        assert "not run before this version was frozen" in rows_of(before)[a.name]
    with ws.session() as s:
        image = current_images(s)[0].image_id
    for key in ANALYSIS_KINDS:
        run(ws, key, [], RunFacts(images=15))
    run(ws, "quality", [NewFinding("blurry", image, score=1.0)], RunFacts(images=15))
    with ws.session() as s:
        exclude(s, [image], reason="by hand")  # so that v2 differs from v1
    freeze(ws, "v2")
    assert build_datasheet(ws, "v1", tmp_path / "after").read_text() == before
    v2 = build_datasheet(ws, "v2", tmp_path / "v2").read_text()
    rows = rows_of(v2)
    for name in ("duplicate search", "class balance", "label issues"):
        assert re.search(r"ran [\d-]+ [\d:]+ UTC on 15 images, found nothing<", rows[name])
    assert re.search(r"ran [\d-]+ [\d:]+ UTC on 15 images, found 1<", rows["quality"])
    assert "blurry 1" in rows["quality"]  # the excluded image's finding, shown as such
    assert "No duplicates among this version&#39;s images (duplicate search ran " in v2
    assert "not run before" not in curation_part(v2)


def test_versions_frozen_before_runs_were_recorded_keep_their_wording(
    version: Workspace, tmp_path: Path
) -> None:
    with version.session() as s:
        row = s.scalar(select(Version).where(Version.name == "v1"))
        snapshot = CurationSnapshot.from_bytes(version.blobs.get(row.summary["curation"]))
        old = dataclasses.replace(snapshot, runs=None)  # as freezes wrote it until now
        row.summary = {**row.summary, "curation": version.blobs.put(old.to_bytes())}
    html = build_datasheet(version, "v1", tmp_path / "report").read_text()
    rows = rows_of(html)
    assert "run: 2 findings in the workspace, recorded " in rows["duplicate search"]
    assert "no record of a run: not run, or run without finding anything" in rows["class balance"]
    assert "not run before" not in curation_part(html)
    # A run after the freeze changes nothing on the page.
    run(version, "balance", [], RunFacts(images=18))
    assert build_datasheet(version, "v1", tmp_path / "again").read_text() == html


def test_a_catalog_curated_before_it_kept_runs_does_not_claim_not_run(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_workspace
    fill(ws, tmp_path / "photos", per_class=5)
    with ws.session() as s:
        image = current_images(s)[0].image_id
        replace_findings(s, ["blurry"], [NewFinding("blurry", image, score=1.0)])
    command.downgrade(alembic_config(ws.engine), "0005")
    upgrade(ws.engine)  # as an existing workspace is, when it opens with this synsetlab
    assign_splits(ws, SplitPlan(val_per_class=1, test_per_class=1))
    freeze(ws, "v1")
    html = build_datasheet(ws, "v1", tmp_path / "report").read_text()
    rows = rows_of(html)
    assert "run: 1 findings in the workspace, recorded " in rows["quality"]
    for name in ("duplicate search", "class balance", "label issues"):
        assert "no record of a run: not run, or run without finding anything" in rows[name]
    assert "Duplicate search: not on record (not run, or run without finding any)." in html
    assert "not run before" not in curation_part(html)


def test_no_record_is_never_shown_as_nothing_found(version: Workspace, tmp_path: Path) -> None:
    with version.session() as s:
        row = s.scalar(select(Version).where(Version.name == "v1"))
        snapshot = CurationSnapshot.from_bytes(version.blobs.get(row.summary["curation"]))
        bare = CurationSnapshot(snapshot.taken_at, (), {}, {}, None)
        row.summary = {**row.summary, "curation": version.blobs.put(bare.to_bytes())}
    html = build_datasheet(version, "v1", tmp_path / "report").read_text()
    assert "No duplicates" not in html and "No quality findings" not in html
    assert "Duplicate search: not on record (not run, or run without finding any)." in html
    assert "Quality: not on record" in html and "Label issues: not on record" in html


def test_versions_frozen_before_curation_was_kept_say_their_record_is_live(
    version: Workspace, tmp_path: Path
) -> None:
    with version.session() as s:
        row = s.scalar(select(Version).where(Version.name == "v1"))
        row.summary = {k: v for k, v in row.summary.items() if k != "curation"}
    run(version, "balance", [], RunFacts(images=18))
    html = build_datasheet(version, "v1", tmp_path / "report").read_text()
    assert "This version was frozen before synsetlab kept curation" in html
    assert "near-duplicate 2" in html  # the workspace's findings now
    assert re.search(r"ran [\d-]+ [\d:]+ UTC on 18 images, found nothing<",
                     rows_of(html)["class balance"])  # fmt: skip


def test_analyses_name_every_kind_curation_records() -> None:
    from synsetlab.curate.label_issues import KINDS

    assert ANALYSES[-1].kinds == KINDS
    assert {a.key: a.kinds for a in ANALYSES} == ANALYSIS_KINDS
    assert ANALYSES[0].command == "synsetlab curate duplicates"


def test_the_datasheet_reads_kinds_without_loading_the_analyses() -> None:
    code = (
        "import sys, synsetlab.report\n"
        "heavy = {'torch', 'sklearn', 'cleanlab'} & {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
