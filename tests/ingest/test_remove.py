"""Forgetting a source (``remove_source``, ``ingest --replace``): all of it or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from synsetlab.catalog import (
    Decision,
    Finding,
    Image,
    Label,
    RejectedFile,
    Source,
    SplitAssignment,
    Version,
)
from synsetlab.catalog.current import current_images
from synsetlab.curate.decisions import exclude
from synsetlab.curate.findings import NewFinding, replace_findings
from synsetlab.ingest.classes import UnknownClassError
from synsetlab.ingest.idx import open_idx
from synsetlab.ingest.ilsvrc2012 import open_ilsvrc2012
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.pipeline import ingest
from synsetlab.ingest.records import SourceError
from synsetlab.ingest.sources import SourceInUseError, find_source, remove_source
from synsetlab.splits import SplitPlan, assign_splits
from synsetlab.versions import freeze
from synsetlab.workspace import Workspace, init_workspace
from tests.images import jpeg
from tests.ingest.fakes import DIGIT_WNIDS, make_fake_idx, make_fake_ilsvrc2012
from tests.ingest.test_pipeline import catalog_state

TABLES = (Source, Image, Label, RejectedFile, Finding, Decision, SplitAssignment)
BRAMBLING, GOLDFINCH = "n01530575", "n01531178"


def counts(ws: Workspace) -> dict[str, int]:
    with ws.session() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES}


def photos(root: Path, seed: int) -> Path:
    """Two class folders of three JPEGs each, and one file that is not an image."""
    for c, wnid in enumerate((BRAMBLING, GOLDFINCH)):
        (root / wnid).mkdir(parents=True)
        for i in range(3):
            (root / wnid / f"{i}.jpg").write_bytes(jpeg((40, 32), seed=seed + 10 * c + i))
    (root / BRAMBLING / "notes.txt").write_text("not an image")
    return root


def test_a_corrected_rerun_replaces_the_earlier_run(workspace: Workspace, tmp_path: Path) -> None:
    images, labels, classes = make_fake_idx(tmp_path, n=20)
    ingest(workspace, open_idx(images, labels=labels, classes=classes), workers=0)
    # Labels 3 and 4 were swapped in the classes file; the corrected file changes the options.
    fixed = list(DIGIT_WNIDS)
    fixed[3], fixed[4] = fixed[4], fixed[3]
    classes.write_text("\n".join(fixed) + "\n")
    corrected = open_idx(images, labels=labels, classes=classes)
    with pytest.raises(SourceError, match=r"two meanings.*--replace.*synsetlab ingest remove 1"):
        ingest(workspace, corrected, workers=0)

    # A replacing run checks the classes first: a typo replaces nothing.
    before = catalog_state(workspace)
    classes.write_text("\n".join([*fixed[:9], "n1374527"]) + "\n")
    with pytest.raises(UnknownClassError):
        ingest(workspace, open_idx(images, labels=labels, classes=classes), replace=True)
    assert catalog_state(workspace) == before
    classes.write_text("\n".join(fixed) + "\n")

    report = ingest(workspace, corrected, workers=0, replace=True)
    assert (report.added, report.already_known) == (20, 0)
    with workspace.session() as s:
        (source,) = s.scalars(select(Source))
        assert source.options["classes"] == fixed
    # The catalog is what a first run with the corrected file gives.
    first = init_workspace(tmp_path / "first")
    ingest(first, open_idx(images, labels=labels, classes=classes), workers=0)
    assert catalog_state(workspace) == catalog_state(first)
    first.close()


def test_remove_deletes_a_source_and_all_that_depends_on_its_images(
    workspace: Workspace, tmp_path: Path
) -> None:
    ingest(workspace, open_imagefolder(photos(tmp_path / "a", seed=0)), workers=0)
    before_b = catalog_state(workspace)
    ingest(workspace, open_imagefolder(photos(tmp_path / "b", seed=100)), workers=0)
    with workspace.session() as s:
        by_source = {i.image_id: i for i in current_images(s)}
        b_id = s.scalar(select(Source.id).where(Source.uri == str(tmp_path / "b")))
        b_images = list(s.scalars(select(Image.id).where(Image.source_id == b_id)))
        replace_findings(s, ["blurry"], [NewFinding("blurry", i, score=1.0) for i in b_images])
        exclude(s, b_images[:2], reason="finding:blurry")
    assign_splits(workspace, SplitPlan(val_per_class=1, test_per_class=1))
    shas = {i.sha256 for i in by_source.values()}

    removed = remove_source(workspace, b_id)
    assert (removed.images, removed.labels, removed.rejected_files) == (6, 6, 1)
    assert (removed.findings, removed.decisions, removed.split_assignments) == (6, 2, 4)
    assert catalog_state(workspace) == before_b  # source a as it was, nothing of b left
    assert counts(workspace) == {
        "sources": 1, "images": 6, "labels": 6, "rejected_files": 1, "findings": 0,
        "decisions": 0, "split_assignments": 6,
    }  # fmt: skip
    assert all(workspace.blobs.exists(sha) for sha in shas)  # bytes stay for versions, reruns
    # The folder can be ingested again from scratch.
    again = ingest(workspace, open_imagefolder(tmp_path / "b"), workers=0)
    assert (again.added, again.rejected, again.already_known) == (6, 1, 0)


def test_a_source_in_a_frozen_version_is_not_removed(workspace: Workspace, tmp_path: Path) -> None:
    ingest(workspace, open_imagefolder(photos(tmp_path / "a", seed=0)), workers=0)
    assign_splits(workspace, SplitPlan(val_per_class=1, test_per_class=1))
    freeze(workspace, "v1")
    before = counts(workspace)
    with pytest.raises(SourceInUseError, match=r"is not removed: frozen versions hold its "
                       r"images: v1 \(6 images\)"):  # fmt: skip
        remove_source(workspace, 1)
    assert counts(workspace) == before
    with workspace.session() as s:
        assert s.scalar(select(func.count()).select_from(Version)) == 1
    images, labels, classes = make_fake_idx(tmp_path / "idx", n=10)
    ingest(workspace, open_idx(images, labels=labels, classes=classes), workers=0)
    classes.write_text("\n".join(reversed(DIGIT_WNIDS)) + "\n")
    # A source the version does not hold can be replaced beside it.
    ingest(workspace, open_idx(images, labels=labels, classes=classes), workers=0, replace=True)
    assert counts(workspace)["images"] == 16


def test_removal_looks_up_the_versions_holding_the_source_not_their_manifests(
    workspace: Workspace, tmp_path: Path
) -> None:
    ingest(workspace, open_imagefolder(photos(tmp_path / "a", seed=0)), workers=0)
    assign_splits(workspace, SplitPlan(val_per_class=1, test_per_class=1))
    v1 = freeze(workspace, "v1")
    ingest(workspace, open_imagefolder(photos(tmp_path / "b", seed=100)), workers=0)
    a_id, b_id = (find_source(workspace, str(tmp_path / d)).id for d in ("a", "b"))
    with workspace.session() as s:
        assert s.get(Version, v1.id).summary["sources"] == {str(a_id): 6}
    # A manifest of ImageNet's size takes a while to read; each version says which sources
    # its images come from, so none is read (this one could not be).
    workspace.blobs.fs.rm(workspace.blobs.path(v1.id))
    with pytest.raises(SourceInUseError, match=r"v1 \(6 images\)"):
        remove_source(workspace, a_id)
    assert remove_source(workspace, b_id).images == 6


def test_a_version_frozen_before_it_recorded_its_sources_is_read(
    workspace: Workspace, tmp_path: Path
) -> None:
    ingest(workspace, open_imagefolder(photos(tmp_path / "a", seed=0)), workers=0)
    assign_splits(workspace, SplitPlan(val_per_class=1, test_per_class=1))
    v1 = freeze(workspace, "v1")
    ingest(workspace, open_imagefolder(photos(tmp_path / "b", seed=100)), workers=0)
    with workspace.session() as s:
        row = s.get(Version, v1.id)
        row.summary = {k: v for k, v in row.summary.items() if k != "sources"}
    with pytest.raises(SourceInUseError, match=r"v1 \(6 images\)"):
        remove_source(workspace, find_source(workspace, str(tmp_path / "a")).id)
    assert remove_source(workspace, find_source(workspace, str(tmp_path / "b")).id).images == 6


def test_a_replacing_run_that_fails_midway_leaves_the_earlier_source_whole(
    workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "imagenet"
    make_fake_ilsvrc2012(root, train_per_class=8)  # more train images than a decode chunk
    ingest(workspace, open_ilsvrc2012(root), workers=0)
    assign_splits(workspace, SplitPlan(from_source=True))
    with workspace.session() as s:
        ids = list(s.scalars(select(Image.id)))
        replace_findings(s, ["blurry"], [NewFinding("blurry", i, score=1.0) for i in ids])
        exclude(s, ids[:2], reason="finding:blurry")
    before, rows = catalog_state(workspace), counts(workspace)

    # The val archive cannot be read once the run has listed and written the train images.
    spec = open_ilsvrc2012(root)
    (root / "ILSVRC2012_img_val.tar").unlink()
    written: list[int] = []
    with pytest.raises(FileNotFoundError):
        ingest(workspace, spec, workers=0, batch_size=2, replace=True,
               on_progress=lambda n, _: written.append(n))  # fmt: skip
    assert sum(written) > 2  # batches were written before it failed
    assert catalog_state(workspace) == before  # every image, label and box of the first run
    assert counts(workspace) == rows  # and the findings, decisions and splits about them


def test_find_source_by_id_or_path(workspace: Workspace, tmp_path: Path) -> None:
    ingest(workspace, open_imagefolder(photos(tmp_path / "a", seed=0)), workers=0)
    assert find_source(workspace, "1").uri == str(tmp_path / "a")
    assert find_source(workspace, str(tmp_path / "a" / ".." / "a")).id == 1
    with pytest.raises(SourceError, match=rf"no source '7' in this workspace \(sources: 1 "
                       rf"imagefolder {tmp_path / 'a'}\); give an id"):  # fmt: skip
        find_source(workspace, "7")
    with pytest.raises(SourceError, match="no source with id 7"):
        remove_source(workspace, 7)
