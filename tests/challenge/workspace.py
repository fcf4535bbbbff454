"""A workspace holding a frozen version with a hidden test split, for challenge tests.

The version is registered the way ``versions.freeze`` stores one (manifest bytes in the blob
store, a ``versions`` row keyed by their sha256), from a manifest built here, so tests control
the test labels and boxes exactly.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from synsetlab.catalog import Role, Version
from synsetlab.catalog.models import utcnow
from synsetlab.challenge import accounts
from synsetlab.challenge.accounts import Member
from synsetlab.challenge.challenges import create_challenge
from synsetlab.challenge.phases import PhaseSpec
from synsetlab.ingest.records import Box
from synsetlab.manifest import Manifest, ManifestEntry
from synsetlab.workspace import Workspace, init_workspace

CLASSES = ("n01440764", "n01443537", "n01484850", "n01491361")
TEST_PER_CLASS = 10


def sha(i: int) -> str:
    return hashlib.sha256(f"image {i}".encode()).hexdigest()


def entry(i: int, wnid: str, split: str, *, digest: str | None = None) -> ManifestEntry:
    """Image ``i`` of class ``wnid`` in ``split`` (its sha256 is ``sha(i)`` unless
    ``digest``); a test image has one box."""
    return ManifestEntry(
        image_id=i,
        sha256=digest or sha(i),
        wnid=wnid,
        split=split,
        hidden=split == "test",
        source="test",
        source_key=f"{split}/{i}",
        format="JPEG",
        width=100,
        height=80,
        boxes=(Box(wnid, 10.0, 10.0, 60.0, 50.0),) if split == "test" else (),
    )


def v1_entries() -> list[ManifestEntry]:
    """4 classes, 3 train and 10 hidden test images each (ids 1-12 train, 13-52 test)."""
    entries = []
    i = 0
    for split, count in (("train", 3), ("test", TEST_PER_CLASS)):
        for wnid in CLASSES:
            for _ in range(count):
                i += 1
                entries.append(entry(i, wnid, split))
    return entries


def add_version(ws: Workspace, name: str, entries: list[ManifestEntry]) -> str:
    """Register a frozen version of ``entries`` as ``versions.freeze`` stores one."""
    manifest = Manifest(classes=CLASSES, entries=tuple(entries))
    version_id = ws.blobs.put(manifest.to_bytes())
    with ws.session() as s:
        s.add(Version(id=version_id, name=name, images=len(entries), classes=len(CLASSES)))
    return version_id


def make_workspace(root: Path, *, name: str = "v1", db_url: str | None = None) -> Workspace:
    """A workspace with version ``name``: 4 classes, 3 train and 10 hidden test images each,
    every test image with one box."""
    ws = init_workspace(root, db_url=db_url)
    add_version(ws, name, v1_entries())
    return ws


def hidden_images(ws: Workspace, version: str = "v1") -> list[tuple[str, str]]:
    """(ImageId, true wnid) of the version's test images, sorted by ImageId."""
    from synsetlab.versions import load_version

    manifest = load_version(ws, version).manifest
    return sorted({(e.sha256, e.wnid) for e in manifest.split("test")})


def phase(name: str, start: timedelta, end: timedelta, **quotas) -> PhaseSpec:
    """A phase from ``now + start`` to ``now + end``."""
    now = utcnow()
    return PhaseSpec(name, now + start, now + end, **quotas)


def open_challenge(ws: Workspace, slug: str = "shapes", **kwargs) -> str:
    """A classification challenge with one phase open now for a day (5/day by default).

    Its partition seed is 0 unless given (``seed=None``: the default random secret one), so
    that tests see the same public and private images on every run."""
    phases = kwargs.pop("phases", None) or [
        phase("dev", timedelta(hours=-1), timedelta(days=1), per_day=5)
    ]
    kwargs.setdefault("seed", 0)
    create_challenge(ws, "v1", name=kwargs.pop("name", slug), slug=slug, phases=phases, **kwargs)
    return slug


def team_member(ws: Workspace, user: str, team: str | None = None, role=Role.participant) -> Member:
    """A user (password ``password-of-<user>``), owner of ``team`` when given."""
    with ws.session() as s:
        row = accounts.create_user(s, user, f"password-of-{user}", role=role)
        if team:
            accounts.create_team(s, row, team)
        return accounts.member(s, row)


def kaggle_csv(ws: Workspace, *, correct: float = 1.0, seed: int = 0, version: str = "v1") -> bytes:
    """A kaggle-format submission whose top-1 guess is right for about ``correct`` of the
    images (the others guess only wrong classes)."""
    rng = np.random.default_rng(seed)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["ImageId", "PredictionString"])
    for image_id, wnid in hidden_images(ws, version):
        wrong = [c for c in CLASSES if c != wnid]
        guesses = [wnid, *wrong] if rng.random() < correct else wrong
        writer.writerow([image_id, " ".join(guesses)])
    return buf.getvalue().encode()


def ago(**delta) -> datetime:
    return utcnow() - timedelta(**delta)
