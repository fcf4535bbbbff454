"""Curators' decisions: exclude or relabel images, each undoable, none deleting anything."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import (
    BlobSignals,
    Decision,
    DecisionAction,
    Finding,
    Image,
    Label,
    LabelState,
)

Keep = Literal["first", "best", "none"]


def exclude(
    s: Session, image_ids: Iterable[int], *, reason: str, finding_id: int | None = None
) -> int:
    """Exclude images from future versions; already excluded ones are left as they are."""
    already = _active_excluded(s)
    new = [i for i in dict.fromkeys(image_ids) if i not in already]
    s.add_all(
        Decision(image_id=i, action=DecisionAction.exclude, reason=reason, finding_id=finding_id)
        for i in new
    )
    return len(new)


def relabel(
    s: Session, image_id: int, wnid: str, *, reason: str, finding_id: int | None = None
) -> None:
    """Give an image another class in future versions (its source labels stay as they were)."""
    s.add(
        Decision(
            image_id=image_id,
            action=DecisionAction.relabel,
            wnid=wnid,
            reason=reason,
            finding_id=finding_id,
        )
    )


def undo(
    s: Session, *, decision_ids: Iterable[int] | None = None, reason: str | None = None
) -> int:
    """Undo active decisions: the given ids, or all whose reason is ``reason``, or all."""
    query = update(Decision).where(Decision.undone_at.is_(None))
    if decision_ids is not None:
        query = query.where(Decision.id.in_(list(decision_ids)))
    if reason is not None:
        query = query.where(Decision.reason == reason)
    return s.execute(query.values(undone_at=datetime.now(timezone.utc))).rowcount or 0


def exclude_findings(s: Session, kind: str, *, keep: Keep = "first") -> int:
    """Exclude the images that findings of ``kind`` name.

    Findings with a ``cluster`` in their detail (duplicates) are grouped: ``keep="first"`` keeps
    the lowest image id of each cluster, ``"best"`` the one with a verified label and the
    sharpest, largest picture, ``"none"`` excludes the whole cluster. Returns how many images
    were newly excluded. The reason recorded is ``finding:<kind>``, which ``undo`` can target.
    """
    findings = [f for f in s.scalars(select(Finding).where(Finding.kind == kind)) if f.image_id]
    clusters: dict[object, list[Finding]] = defaultdict(list)
    singles: list[Finding] = []
    for f in findings:
        if "cluster" in f.detail:
            clusters[f.detail["cluster"]].append(f)
        else:
            singles.append(f)
    chosen = [(f.image_id, f.id) for f in singles]
    rank = _quality_rank(s) if keep == "best" else {}
    for members in clusters.values():
        if keep == "best":  # best first; among equals the lowest id
            ordered = sorted(members, key=lambda f: (rank[f.image_id], -f.image_id), reverse=True)
        else:
            ordered = sorted(members, key=lambda f: f.image_id)
        start = 0 if keep == "none" else 1
        chosen.extend((f.image_id, f.id) for f in ordered[start:])
    already = _active_excluded(s)
    added = 0
    for image_id, finding_id in chosen:
        if image_id not in already:
            already.add(image_id)
            added += exclude(s, [image_id], reason=f"finding:{kind}", finding_id=finding_id)
    return added


def _active_excluded(s: Session) -> set[int]:
    return {i.image_id for i in current_images(s, include_excluded=True) if i.excluded}


def _quality_rank(s: Session) -> dict[int, tuple]:
    """image id -> sort key, higher is better: verified label, sharpness, pixels."""
    verified = set(s.scalars(select(Label.image_id).where(Label.state == LabelState.verified)))
    rows = s.execute(
        select(Image.id, Image.width, Image.height, BlobSignals.laplacian_var).outerjoin(
            BlobSignals, BlobSignals.sha256 == Image.sha256
        )
    )
    return {image_id: (image_id in verified, sharp or 0.0, w * h) for image_id, w, h, sharp in rows}
