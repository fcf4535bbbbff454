"""Every curation analysis records its completed run beside its findings, even an empty one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import AnalysisRun, Finding
from synsetlab.curate.balance import class_balance
from synsetlab.curate.duplicates import find_duplicates
from synsetlab.curate.findings import NewFinding, RunFacts, replace_findings
from synsetlab.curate.kinds import ANALYSIS_KINDS, QUALITY_KINDS, analysis_of
from synsetlab.curate.quality import find_quality_issues
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.pipeline import ingest
from synsetlab.workspace import Workspace
from tests.curate.conftest import CLASSES, fill


def runs(ws: Workspace) -> list[AnalysisRun]:
    with ws.session() as s:
        return list(s.scalars(select(AnalysisRun).order_by(AnalysisRun.id)))


def test_a_run_is_recorded_with_its_facts_and_one_that_finds_nothing_too(
    workspace: Workspace, tmp_path: Path
) -> None:
    fill(workspace, tmp_path / "photos", per_class=2)
    with workspace.session() as s:
        ids = [i.image_id for i in current_images(s)]
        facts = RunFacts({"max_distance": 8, "crowd_limit": 1000}, images=6, complete=False,
                         note="2 images with crowded hashes were not linked")  # fmt: skip
        near = [NewFinding("near-duplicate", i, detail={"cluster": "c"}) for i in ids[:2]]
        assert replace_findings(s, ANALYSIS_KINDS["duplicates"], near, run=facts) == 2
    with workspace.session() as s:
        assert replace_findings(s, QUALITY_KINDS, []) == 0  # ran, found nothing, told nothing
    dup, quality = runs(workspace)
    assert (dup.analysis, dup.params, dup.images, dup.findings) == (
        "duplicates", {"max_distance": 8, "crowd_limit": 1000}, 6, 2,
    )  # fmt: skip
    assert dup.complete is False and "crowded" in dup.note and dup.finished_at is not None
    assert (quality.analysis, quality.findings) == ("quality", 0)
    assert quality.params is None and quality.images is None and quality.complete is None


def test_kinds_of_no_single_analysis_replace_findings_but_record_no_run(
    sqlite_workspace: Workspace,
) -> None:
    with sqlite_workspace.session() as s:
        replace_findings(s, ["blurry"], [])
        replace_findings(s, ["near-duplicate", "blurry"], [])
    assert runs(sqlite_workspace) == []


@pytest.mark.parametrize(
    ("kinds", "facts", "message"),
    [
        (["blurry"], RunFacts(), r"one analysis's kinds .*not for \['blurry'\]"),
        (QUALITY_KINDS, RunFacts({"limit": object()}), "quality run params must be plain JSON"),
        (QUALITY_KINDS, RunFacts({"limit": float("nan")}), "quality run params must be plain"),
        (QUALITY_KINDS, RunFacts(images=-1), "looked at -1 images"),
    ],
)
def test_bad_run_facts_are_refused_and_nothing_is_replaced(
    sqlite_workspace: Workspace, tmp_path: Path, kinds: list[str], facts: RunFacts, message: str
) -> None:
    fill(sqlite_workspace, tmp_path / "photos", per_class=1)
    with sqlite_workspace.session() as s:
        replace_findings(s, QUALITY_KINDS, [NewFinding("blurry", current_images(s)[0].image_id)])
    with pytest.raises(ValueError, match=message), sqlite_workspace.session() as s:
        replace_findings(s, kinds, [], run=facts)
    with sqlite_workspace.session() as s:
        assert [f.kind for f in s.scalars(select(Finding))] == ["blurry"]
    assert len(runs(sqlite_workspace)) == 1


def test_a_run_that_fails_before_it_completes_leaves_no_run_and_the_old_findings(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    fill(sqlite_workspace, tmp_path / "photos", per_class=1)
    with sqlite_workspace.session() as s:
        image = current_images(s)[0].image_id
        replace_findings(s, QUALITY_KINDS, [NewFinding("blurry", image)])
    with pytest.raises(KeyboardInterrupt), sqlite_workspace.session() as s:
        replace_findings(s, QUALITY_KINDS, [])
        raise KeyboardInterrupt  # killed after writing, before the commit
    assert [r.findings for r in runs(sqlite_workspace)] == [1]
    with sqlite_workspace.session() as s:
        assert s.scalar(select(Finding.kind)) == "blurry"


def test_each_analysis_records_its_run_even_when_it_finds_nothing(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_workspace
    fill(ws, tmp_path / "photos", per_class=3)
    class_balance(ws)  # without limits: no finding
    find_duplicates(ws, workers=0)  # nine different pictures: no duplicate
    find_quality_issues(ws, workers=0)
    got = {r.analysis: r for r in runs(ws)}
    assert list(got) == ["balance", "duplicates", "quality"]
    assert got["balance"].findings == 0 and got["duplicates"].findings == 0
    with ws.session() as s:
        quality = s.scalars(select(Finding).where(Finding.kind.in_(QUALITY_KINDS))).all()
    assert got["quality"].findings == len(quality)


def test_label_issues_records_its_run_when_too_few_classes_leave_nothing_to_check(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    from synsetlab.curate.label_issues import find_label_issues

    fill(sqlite_workspace, tmp_path / "photos", per_class=2)
    report = find_label_issues(sqlite_workspace, folds=3)  # every class under 3 images
    assert report.images == 0
    (run,) = runs(sqlite_workspace)
    assert (run.analysis, run.findings) == ("label-issues", 0)


def test_the_analyses_are_known_by_their_kinds() -> None:
    from synsetlab.curate import balance, duplicates, label_issues, quality

    assert ANALYSIS_KINDS == {
        "duplicates": duplicates.KINDS,
        "quality": quality.QUALITY_KINDS,
        "balance": balance.BALANCE_KINDS,
        "label-issues": label_issues.KINDS,
    }
    assert analysis_of(reversed(label_issues.KINDS)) == "label-issues"
    assert analysis_of(["label-issue"]) is None
    every = [k for kinds in ANALYSIS_KINDS.values() for k in kinds]
    assert len(every) == len(set(every))  # a kind belongs to one analysis


def test_each_analysis_records_its_settings_images_and_completeness(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    from synsetlab.curate.hamming_index import SearchLimits
    from synsetlab.curate.label_issues import find_label_issues

    ws = sqlite_workspace
    fill(ws, tmp_path / "photos", per_class=3)
    flat = tmp_path / "flat" / CLASSES[0]
    flat.mkdir(parents=True)
    for k in range(6):  # almost flat grey pictures: their hashes crowd each other
        pixels = np.full((12, 12), 200, dtype=np.uint8)
        pixels[k, k] = 190
        PILImage.fromarray(pixels, "L").save(flat / f"flat{k}.png")
    ingest(ws, open_imagefolder(tmp_path / "flat"), workers=0)
    class_balance(ws, min_count=2, max_count=10)
    find_duplicates(ws, workers=0, limits=SearchLimits(crowd_limit=3))
    find_quality_issues(ws, workers=0)
    find_label_issues(ws, folds=10)  # every class under 10 images: none checked
    got = {r.analysis: r for r in runs(ws)}
    balance, duplicates, quality = got["balance"], got["duplicates"], got["quality"]
    assert balance.params == {"min_count": 2, "max_count": 10}
    assert (balance.images, balance.complete) == (15, True)
    assert duplicates.params["max_distance"] == 8 and duplicates.params["crowd_limit"] == 3
    assert duplicates.params["tolerance"] == {"mean": 15.0, "std": 8.0, "colourfulness": 12.0}
    assert (duplicates.images, duplicates.findings, duplicates.complete) == (15, 6, False)
    assert duplicates.note == "6 images with crowded hashes were not linked"
    assert quality.params == ws.settings.quality.model_dump()
    assert (quality.images, quality.complete) == (15, True)
    label = got["label-issues"]
    assert (label.images, label.complete, label.params["folds"]) == (0, False, 10)
    assert label.note == "15 images in classes of fewer than 10 images were not checked"
