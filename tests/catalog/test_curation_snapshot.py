"""The curation record a version keeps: about its images only, its analyses' last runs, and
the same bytes back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from synsetlab.catalog.curation import CurationSnapshot, KindRecord, snapshot_curation
from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import as_utc
from synsetlab.curate.decisions import exclude
from synsetlab.curate.findings import NewFinding, RunFacts, replace_findings
from synsetlab.curate.kinds import BALANCE_KINDS, QUALITY_KINDS
from synsetlab.workspace import Workspace
from tests.curate.conftest import CLASSES, fill


def test_a_snapshot_holds_what_concerns_its_images(workspace: Workspace, tmp_path: Path) -> None:
    fill(workspace, tmp_path / "photos", per_class=2)
    with workspace.session() as s:
        ids = [i.image_id for i in current_images(s)]
        replace_findings(s, ["blurry"], [NewFinding("blurry", i, score=float(i)) for i in ids])
        replace_findings(s, ["small-class"], [NewFinding("small-class", wnid=CLASSES[0])])
        exclude(s, ids[:3], reason="by hand")
    mine = ids[1:3]
    with workspace.session() as s:
        snapshot = snapshot_curation(s, mine)
    assert [(f.kind, f.image_id) for f in snapshot.findings] == [
        ("blurry", mine[1]),
        ("blurry", mine[0]),
        ("small-class", None),
    ]  # fmt: skip  (most severe first; class-level findings concern every image)
    assert snapshot.decisions == {"by hand": 2}
    assert {k: r.findings for k, r in snapshot.kinds.items()} == {"blurry": 6, "small-class": 1}
    assert all(r.recorded_at.endswith("+00:00") for r in snapshot.kinds.values())
    data = snapshot.to_bytes()
    assert CurationSnapshot.from_bytes(data) == snapshot
    assert CurationSnapshot.from_bytes(data).to_bytes() == data


def test_a_snapshot_holds_each_analysis_s_last_run(workspace: Workspace, tmp_path: Path) -> None:
    fill(workspace, tmp_path / "photos", per_class=1)
    with workspace.session() as s:
        replace_findings(s, QUALITY_KINDS, [], run=RunFacts({"min_side": 32}, images=3))
        replace_findings(s, BALANCE_KINDS, [])
        replace_findings(s, QUALITY_KINDS, [], run=RunFacts({"min_side": 64}, images=3))
    with workspace.session() as s:
        snapshot = snapshot_curation(s, [])
    assert snapshot.runs is not None and list(snapshot.runs) == ["balance", "quality"]
    quality = snapshot.runs["quality"]
    assert (quality.params, quality.images, quality.findings, quality.complete) == (
        {"min_side": 64}, 3, 0, True,
    )  # fmt: skip
    assert quality.ran and quality.finished_at is not None
    assert quality.finished_at.endswith("+00:00")
    balance = snapshot.runs["balance"]
    assert balance.params is None and balance.complete is None  # the run told nothing more
    data = snapshot.to_bytes()
    assert CurationSnapshot.from_bytes(data) == snapshot


def test_a_snapshot_taken_before_runs_were_recorded_reads_back_byte_for_byte() -> None:
    old = (
        b'{"decisions":{"by hand":1},"findings":[{"detail":{},"id":1,"image_id":2,"kind":"blurry",'
        b'"score":1.5,"wnid":null}],"format":"synsetlab-curation-1","kinds":{"blurry":'
        b'{"findings":4,"recorded_at":"2026-12-01T10:00:00+00:00"}},'
        b'"taken_at":"2026-12-02T09:30:00+00:00"}'
    )
    snapshot = CurationSnapshot.from_bytes(old)
    assert snapshot.runs is None
    assert snapshot.kinds["blurry"] == KindRecord(4, "2026-12-01T10:00:00+00:00")
    assert snapshot.to_bytes() == old


def test_a_foreign_document_is_not_read_as_a_snapshot() -> None:
    with pytest.raises(ValueError, match="not a synsetlab curation snapshot"):
        CurationSnapshot.from_bytes(b'{"format": "something-else"}')


def test_datetimes_from_the_catalog_become_aware_utc() -> None:
    naive = datetime(2026, 12, 7, 10, 30)  # as SQLite hands it back
    assert as_utc(naive) == datetime(2026, 12, 7, 10, 30, tzinfo=timezone.utc)
    paris = datetime(2026, 12, 7, 11, 30, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(paris) == naive.replace(tzinfo=timezone.utc)
    assert as_utc(paris).tzinfo is timezone.utc
