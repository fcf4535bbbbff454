"""The dataset as it stands now: every image with its one label, after curators' decisions.

An image's label is, in order: the latest active ``relabel`` decision; else its one verified
class; else its one candidate class. Rejected labels never count. An image with two verified
classes, or two candidates and none verified, has no label (``conflict`` says so): ILSVRC
images have exactly one. An active ``exclude`` decision takes an image out of the dataset.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from synsetlab.catalog.models import Decision, DecisionAction, Image, Label, LabelState


@dataclass(frozen=True, slots=True)
class CurrentImage:
    image_id: int
    sha256: str
    #: The image's one class, or ``None`` (unlabelled, or conflicting labels).
    wnid: str | None
    excluded: bool
    source_split: str | None
    #: The label the sources give, before any relabel decision (``wnid`` when none).
    source_wnid: str | None = None
    #: Two or more classes that compete, sorted, when no decision settled them; else empty.
    competing: tuple[str, ...] = ()

    @property
    def conflict(self) -> bool:
        """Two or more classes compete and no decision settled it."""
        return bool(self.competing)


def current_images(s: Session, *, include_excluded: bool = False) -> list[CurrentImage]:
    """Every image with its resolved label, by image id; excluded ones only if asked."""
    verified: dict[int, set[str]] = defaultdict(set)
    candidate: dict[int, set[str]] = defaultdict(set)
    for image_id, wnid, state in s.execute(select(Label.image_id, Label.wnid, Label.state)):
        if state is LabelState.verified:
            verified[image_id].add(wnid)
        elif state is LabelState.candidate:
            candidate[image_id].add(wnid)
    relabel: dict[int, str] = {}
    excluded: set[int] = set()
    active = select(Decision).where(Decision.undone_at.is_(None)).order_by(Decision.id)
    for d in s.scalars(active):
        if d.action is DecisionAction.exclude:
            excluded.add(d.image_id)
        elif d.wnid is not None:
            relabel[d.image_id] = d.wnid  # the latest wins
    out = []
    rows = s.execute(select(Image.id, Image.sha256, Image.source_split).order_by(Image.id))
    for image_id, sha, split in rows:
        if image_id in excluded and not include_excluded:
            continue
        source_wnid, competing = _source_label(verified[image_id], candidate[image_id])
        wnid = relabel.get(image_id, source_wnid)
        if image_id in relabel:
            competing = ()
        out.append(
            CurrentImage(
                image_id,
                sha,
                wnid,
                image_id in excluded,
                split,
                source_wnid,
                competing,
            )
        )
    return out


def _source_label(verified: set[str], candidate: set[str]) -> tuple[str | None, tuple[str, ...]]:
    """The one label the sources give, or the classes that compete for it (sorted)."""
    for pool in (verified, candidate):
        if len(pool) == 1:
            return next(iter(pool)), ()
        if len(pool) > 1:
            return None, tuple(sorted(pool))
    return None, ()
