"""The crowd's record kept with a version: canonical JSON that reads back as it was written."""

from __future__ import annotations

import json

import pytest

from synsetlab.catalog.crowd import (
    AnnotatorRecord,
    ClassRecord,
    CrowdSnapshot,
    ProjectRecord,
    VerifiedLabel,
    crowd_digest,
)
from synsetlab.catalog.curation import CurationSnapshot


def snapshot() -> CrowdSnapshot:
    project = ProjectRecord(
        slug="verify", created_at="2026-12-01T10:00:00+00:00", target_precision=0.997,
        max_votes=10, gold_fraction=0.1, min_accuracy=0.6, include_hidden_test=False,
        classes=("n1", "n2"), questions=40, gold_questions=8, votes=200, discounted_votes=12,
        annotators=9, stopped=1, method="dynamic", aggregated_at="2026-12-02T10:00:00+00:00",
        verified=30, rejected=6,
    )  # fmt: skip
    classes = {
        "n2": ClassRecord("n2", ("verify",), 20, 14, 4, None, 4.5, None, None),
        "n1": ClassRecord("n1", ("verify",), 20, 16, 2, 0.998, 5.1, 0.8, 0.4),
    }
    annotators = (
        AnnotatorRecord("verify", "stopped", "2 of 10 right", 20, 10, 0.25, 0.06, 0.52, 0.9),
        AnnotatorRecord("verify", "active", "", 30, 0, 0.5, 0.03, 0.97, None),
    )
    verified = (
        VerifiedLabel(3, "n1", "verify", "dynamic", 4, 0, 0.9991, "2026-12-02T10:00:00+00:00"),
        VerifiedLabel(5, "n2", "verify", "majority", 2, 1, None, "2026-12-02T10:00:00+00:00"),
    )
    return CrowdSnapshot(
        "2026-12-03T00:00:00+00:00", (project,), classes, annotators, 0.81, 0.05, verified
    )


def test_a_snapshot_reads_back_as_written_in_canonical_bytes() -> None:
    taken = snapshot()
    data = taken.to_bytes()
    assert CrowdSnapshot.from_bytes(data) == taken
    # The same record in another order of classes gives the same bytes.
    again = CrowdSnapshot(**{**taken.__dict__, "classes": dict(reversed(taken.classes.items()))})
    assert again.to_bytes() == data
    record = json.loads(data)
    assert record["format"] == "synsetlab-crowd-1"
    assert record["verified"][0] == [3, "n1", "verify", "dynamic", 4, 0, 0.9991,
                                     "2026-12-02T10:00:00+00:00"]  # fmt: skip
    assert taken.asked and taken.aggregated
    assert taken.verified_pairs() == {(3, "n1"), (5, "n2")}
    assert taken.classes["n2"].undecided == 2


def test_an_empty_snapshot_says_no_crowd_was_asked() -> None:
    empty = CrowdSnapshot("2026-12-03T00:00:00+00:00")
    assert not empty.asked and not empty.aggregated
    assert CrowdSnapshot.from_bytes(empty.to_bytes()) == empty


def test_other_records_are_refused() -> None:
    curation = CurationSnapshot("2026-12-03T00:00:00+00:00", (), {}, {}, {})
    with pytest.raises(ValueError, match="not a synsetlab crowd snapshot"):
        CrowdSnapshot.from_bytes(curation.to_bytes())


def test_the_digest_names_the_set_of_labels() -> None:
    pairs = [(5, "n2"), (3, "n1")]
    assert crowd_digest(pairs) == crowd_digest(reversed(pairs))
    assert crowd_digest(pairs) != crowd_digest([(3, "n1")])
    assert crowd_digest(pairs) != crowd_digest([(5, "n1"), (3, "n2")])
