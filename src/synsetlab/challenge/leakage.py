"""Hidden test images with a copy in a labelled split: a leak a challenge must not start with.

Whoever trains on a version's labelled splits (train, val) learns the label of every test
image that has a copy there, so a challenge on that version rewards remembering over
predicting. Copies are found two ways:

- ``exact``: the same bytes (sha256), read from the manifest alone, so always checked;
- ``near``: images that ``synsetlab curate duplicates`` put in one near-duplicate cluster
  (resized, re-encoded, cropped copies), checked where those findings exist: run it before
  ``split`` and ``version freeze`` to have near copies kept together and checked.

Each leaking test image is reported once, with one of its copies (an exact one first).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from synsetlab.catalog import Finding
from synsetlab.curate.kinds import NEAR_DUPLICATE as NEAR_KIND
from synsetlab.manifest import Manifest

__all__ = ["Leak", "find_leaks", "leak_message"]

#: Leaks named in the one-line refusal; the CLI prints the whole list above it.
SHOWN = 10


@dataclass(frozen=True, order=True)
class Leak:
    """A hidden test image and one of its copies in a labelled split (catalog image ids)."""

    test_image: int
    kind: Literal["exact", "near"]
    other_image: int
    other_split: str


def find_leaks(s: Session, manifest: Manifest, *, split: str = "test") -> list[Leak]:
    """Every image of ``split`` with a copy among the version's labelled images of other
    splits, sorted by test image id.

    Args:
        s: a catalog session (near-duplicate findings are read from it).
        manifest: the version's manifest.
        split: the split whose labels are hidden from participants.
    """
    test = [e for e in manifest.entries if e.split == split]
    labelled = [e for e in manifest.entries if e.split != split and not e.hidden]
    copies: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for e in labelled:
        copies[e.sha256].append((e.image_id, e.split))
    found: dict[int, Leak] = {}
    for e in test:
        if e.image_id not in found and copies.get(e.sha256):
            other, other_split = min(copies[e.sha256])
            found[e.image_id] = Leak(e.image_id, "exact", other, other_split)
    split_of = {e.image_id: e.split for e in labelled}
    test_ids = {e.image_id for e in test}
    for cluster in _near_clusters(s, test_ids | set(split_of)):
        others = sorted(i for i in cluster if i in split_of)
        if not others:
            continue
        for image_id in sorted(i for i in cluster if i in test_ids and i not in found):
            found[image_id] = Leak(image_id, "near", others[0], split_of[others[0]])
    return sorted(found.values())


def leak_message(leaks: Sequence[Leak], version: str) -> str:
    """The refusal of a challenge on ``version``: how many leak, the first few, what to do."""
    exact = sum(leak.kind == "exact" for leak in leaks)
    shown = ", ".join(
        f"test image {leak.test_image} = {leak.other_split} image {leak.other_image}"
        f"{' (near)' if leak.kind == 'near' else ''}"
        for leak in leaks[:SHOWN]
    )
    more = f" and {len(leaks) - SHOWN} more" if len(leaks) > SHOWN else ""
    return (
        f"{len(leaks)} hidden test images of version {version!r} have a copy in a labelled "
        f"split ({exact} exact, same sha256; {len(leaks) - exact} near, from `synsetlab "
        f"curate duplicates`), so their labels are not hidden: {shown}{more}. Split again "
        "(`synsetlab split` keeps copies in one split) or exclude the copies (`synsetlab "
        "findings exclude --kind exact-duplicate`), then freeze a new version; or pass "
        "--allow-leaks REASON to create the challenge anyway, with the reason recorded on it"
    )


def _near_clusters(s: Session, image_ids: set[int]) -> list[set[int]]:
    """The version's images grouped by near-duplicate cluster (clusters of one left out)."""
    members: dict[str, set[int]] = defaultdict(set)
    # All findings of the kind, filtered here: an IN list of a whole version's ids would
    # outgrow SQLite's bound-parameter limit.
    rows = s.execute(select(Finding.image_id, Finding.detail).where(Finding.kind == NEAR_KIND))
    for image_id, detail in rows:
        if image_id in image_ids and "cluster" in detail:
            members[detail["cluster"]].add(image_id)
    return [ids for ids in members.values() if len(ids) > 1]
