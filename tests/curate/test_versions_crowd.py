"""Frozen versions record which labels the crowd verified, and later annotation leaves the
record alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from synsetlab.annotate import aggregate_project, undo_outcomes
from synsetlab.catalog import AnnotationOutcome, Label, LabelState, Version
from synsetlab.versions import (
    VersionError,
    crowd_record,
    crowd_verified,
    diff_crowd,
    freeze,
    list_versions,
    load_version,
)
from synsetlab.workspace import Workspace
from tests.crowd_version import copy_workspace, crowd_template


@pytest.fixture
def crowd(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Workspace]:
    """v1 frozen before the crowd; its votes since aggregated by dynamic consensus."""
    ws = copy_workspace(crowd_template(tmp_path_factory), tmp_path / "ws")
    yield ws
    ws.close()


def verified_now(ws: Workspace) -> set[tuple[int, str]]:
    """(image, wnid) of labels verified by a crowd outcome in force."""
    with ws.session() as s:
        rows = s.execute(
            select(Label.image_id, Label.wnid)
            .join(AnnotationOutcome, AnnotationOutcome.label_id == Label.id)
            .where(AnnotationOutcome.undone_at.is_(None), Label.state == LabelState.verified)
        )
        return set(rows.all())


def test_a_version_records_the_labels_the_crowd_verified(crowd: Workspace) -> None:
    v1 = load_version(crowd, "v1")
    before = crowd_record(crowd, v1)
    assert before is not None and not before.asked and before.verified == ()
    assert "crowd" not in v1.manifest.params  # the manifest as versions wrote it before
    assert b'"crowd"' not in crowd.blobs.get(v1.id)

    v2 = freeze(crowd, "v2")
    record = crowd_record(crowd, v2)
    pairs = crowd_verified(v2.manifest, record)
    labelled = {(e.image_id, e.wnid) for e in v2.manifest.entries}
    assert pairs == verified_now(crowd) & labelled and len(pairs) > 20
    assert v2.manifest.params["crowd"]["verified"] == len(pairs)
    assert {v.summary.get("crowd_verified") for v in list_versions(crowd)} == {0, len(pairs)}
    for v in record.verified:
        assert (v.project, v.method) == ("verify", "dynamic")
        assert v.posterior >= 0.997 and v.yes >= 1 and v.decided_at.endswith("+00:00")
    assert record.projects[0].verified >= len(pairs) and record.projects[0].stopped >= 1
    # The project left the hidden test split out: none of its labels rests on the crowd.
    hidden = {e.image_id for e in v2.manifest.entries if e.hidden}
    assert hidden and not hidden & {image for image, _ in pairs}

    change = diff_crowd(v1.manifest, before, v2.manifest, record)
    assert (change.verified_a, change.verified_b) == (0, len(pairs))
    assert change.newly_verified == sorted(image for image, _ in pairs) and change.no_longer == []


def test_later_annotation_does_not_change_a_frozen_record(crowd: Workspace) -> None:
    v2 = freeze(crowd, "v2")
    with crowd.session() as s:
        address = s.get(Version, v2.id).summary["crowd"]
    frozen = crowd.blobs.get(address)
    with crowd.session() as s:
        undo_outcomes(s, "verify")
    with crowd.session() as s:
        aggregate_project(s, "verify", method="majority")
    assert crowd_record(crowd, v2).to_bytes() == frozen
    with crowd.session() as s:
        undo_outcomes(s, "verify")
    # Every label is a candidate again, as when v1 was frozen: the same content.
    with pytest.raises(VersionError, match="nothing changed since version 'v1'"):
        freeze(crowd, "v3")


def test_verification_alone_makes_a_new_version(crowd: Workspace) -> None:
    # A curator puts the labels the crowd rejected back to candidate: the version then holds
    # the images v1 held, under the same labels; only which of them rest on the crowd differs.
    with crowd.session() as s:
        for label in s.scalars(select(Label).where(Label.state == LabelState.rejected)):
            label.state = LabelState.candidate
    v1 = load_version(crowd, "v1")
    v3 = freeze(crowd, "v3")
    assert {(e.image_id, e.wnid) for e in v3.manifest.entries} == {
        (e.image_id, e.wnid) for e in v1.manifest.entries
    }
    assert v3.id != v1.id
    change = diff_crowd(v1.manifest, crowd_record(crowd, v1), v3.manifest, crowd_record(crowd, v3))
    assert change.verified_b == len(change.newly_verified) > 20
    # Aggregating again (new outcomes, a new time) to the very same labels changes nothing.
    with crowd.session() as s:
        undo_outcomes(s, "verify")
        aggregate_project(s, "verify")
        for label in s.scalars(select(Label).where(Label.state == LabelState.rejected)):
            label.state = LabelState.candidate
    with pytest.raises(VersionError, match="nothing changed since version 'v3'"):
        freeze(crowd, "v4")


def test_versions_frozen_before_the_record_was_kept_have_none(crowd: Workspace) -> None:
    with crowd.session() as s:
        row = s.scalar(select(Version).where(Version.name == "v1"))
        row.summary = {k: v for k, v in row.summary.items() if k != "crowd"}
    assert crowd_record(crowd, load_version(crowd, "v1")) is None
