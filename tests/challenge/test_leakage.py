"""``challenge create`` refuses a version whose hidden test images have copies in its
labelled splits, unless the organiser gives a reason, which the challenge records."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from synsetlab.catalog import Challenge, Image, Source
from synsetlab.challenge.challenges import create_challenge
from synsetlab.challenge.errors import ChallengeError, LeakError
from synsetlab.challenge.leakage import Leak, find_leaks
from synsetlab.cli.app import app
from synsetlab.curate.findings import NewFinding, replace_findings
from synsetlab.versions import load_version
from tests.challenge.workspace import add_version, entry, phase, sha, v1_entries

#: v2 = v1 plus train image 100, a byte-for-byte copy of test image 13, and train image 101,
#: which `curate duplicates` found near test image 20 (and test image 21 near test image 22).
EXACT_TEST, EXACT_COPY = 13, 100
NEAR_TEST, NEAR_COPY = 20, 101
DEV = phase("dev", timedelta(hours=-1), timedelta(days=1))
runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def leaky(ws):
    """``ws`` with version v2 (see above) and the near-duplicate findings on its images."""
    entries = v1_entries()
    wnid_of = {e.image_id: e.wnid for e in entries}
    entries += [
        entry(EXACT_COPY, wnid_of[EXACT_TEST], "train", digest=sha(EXACT_TEST)),
        entry(NEAR_COPY, wnid_of[NEAR_TEST], "train"),
    ]
    add_version(ws, "v2", entries)
    with ws.session() as s:
        # The catalog rows the findings point at, with the ids the manifest gives them.
        source = Source(kind="test", uri="/test", options={})
        s.add(source)
        s.flush()
        for e in entries:
            s.add(
                Image(
                    id=e.image_id, sha256=e.sha256, size_bytes=1, format="JPEG", width=100,
                    height=80, mode="RGB", exif_orientation=None, source_id=source.id,
                    source_key=e.source_key, source_split=None,
                )
            )  # fmt: skip
        s.flush()
        clusters = {NEAR_TEST: "c-leak", NEAR_COPY: "c-leak", 21: "c-test", 22: "c-test"}
        replace_findings(
            s,
            ["near-duplicate"],
            [
                NewFinding("near-duplicate", image_id, score=0.9, detail={"cluster": cluster})
                for image_id, cluster in clusters.items()
            ],
        )
    return ws


def challenges(ws) -> int:
    with ws.session() as s:
        return s.scalar(select(func.count()).select_from(Challenge))


def test_test_images_with_copies_in_labelled_splits_are_found(leaky):
    with leaky.session() as s:
        assert find_leaks(s, load_version(leaky, "v2").manifest) == [
            Leak(EXACT_TEST, "exact", EXACT_COPY, "train"),
            Leak(NEAR_TEST, "near", NEAR_COPY, "train"),
        ]
        # v1 has no copy; a near pair inside the test split is no leak
        assert find_leaks(s, load_version(leaky, "v1").manifest) == []


def test_create_refuses_a_leaking_version_with_the_list_and_writes_nothing(leaky):
    with pytest.raises(LeakError) as refused:
        create_challenge(leaky, "v2", name="Leaky", phases=[DEV])
    message = str(refused.value)
    assert message.startswith("2 hidden test images of version 'v2' have a copy")
    assert f"test image {EXACT_TEST} = train image {EXACT_COPY}" in message
    assert f"test image {NEAR_TEST} = train image {NEAR_COPY} (near)" in message
    assert "`synsetlab split`" in message and "--allow-leaks REASON" in message
    assert [leak.test_image for leak in refused.value.leaks] == [EXACT_TEST, NEAR_TEST]
    assert challenges(leaky) == 0
    with pytest.raises(ChallengeError, match="needs a reason"):
        create_challenge(leaky, "v2", name="Leaky", phases=[DEV], allow_leaks="  ")
    assert challenges(leaky) == 0


def test_an_explicit_override_is_recorded_on_the_challenge(leaky):
    reason = "copies known; the ILSVRC-2012 val set had them too"
    c = create_challenge(leaky, "v2", name="Leaky", phases=[DEV], allow_leaks=reason)
    assert (c.leaked_images, c.leak_override) == (2, reason)
    clean = create_challenge(leaky, "v1", name="Clean", phases=[DEV], allow_leaks=reason)
    assert (clean.leaked_images, clean.leak_override) == (0, None)  # nothing was allowed


def test_the_cli_lists_the_leaks_and_records_an_override(leaky):
    root = str(leaky.root)
    create = ["-w", root, "challenge", "create", "v2", "--name", "Leaky", "--phase",
              f"dev:{DEV.starts_at:%Y-%m-%d}..{DEV.ends_at:%Y-%m-%d}"]  # fmt: skip
    refused = runner.invoke(app, create)
    assert refused.exit_code == 1, refused.output
    assert "test images with a copy" in refused.output  # the whole list, as a table
    assert "exact (same sha256)" in refused.output and "near (curate duplicates)" in refused.output
    assert "error:" in refused.output and "--allow-leaks" in refused.output
    allowed = runner.invoke(app, [*create, "--allow-leaks", "baseline comparison only"])
    assert allowed.exit_code == 0, allowed.output
    assert "2 hidden test images have a copy" in allowed.output
    assert "recorded on the challenge: baseline comparison only" in allowed.output
    listed = runner.invoke(app, ["-w", root, "challenge", "list"])
    # The table may wrap the reason over two rows: read its cells as one text.
    cells = re.sub(r"[\s│┃]+", " ", listed.output)
    assert "2: baseline comparison only" in cells
