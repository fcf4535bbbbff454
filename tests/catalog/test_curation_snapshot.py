"""The curation record a version keeps: about its images only, and the same bytes back."""

from __future__ import annotations

from pathlib import Path

from synsetlab.catalog.curation import CurationSnapshot, snapshot_curation
from synsetlab.catalog.current import current_images
from synsetlab.curate.decisions import exclude
from synsetlab.curate.findings import NewFinding, replace_findings
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
