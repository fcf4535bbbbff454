"""Curators' decisions: exclude or relabel images, each undoable, none deleting anything.

Every function that records or undoes decisions takes ``author``: who acted, as a site
account's name or ``os:<login>`` from the CLI (see :class:`synsetlab.catalog.Decision`);
``None`` records nobody.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from synsetlab.catalog.models import (
    BlobSignals,
    Decision,
    DecisionAction,
    Finding,
    Image,
    Label,
    LabelState,
    SplitAssignment,
)

Keep = Literal["first", "best", "none"]


def excluded_ids(s: Session) -> set[int]:
    """Images an active ``exclude`` decision takes out of future versions."""
    query = select(Decision.image_id).where(
        Decision.undone_at.is_(None), Decision.action == DecisionAction.exclude
    )
    return set(s.scalars(query))


def exclude(
    s: Session,
    image_ids: Iterable[int],
    *,
    reason: str,
    finding_ids: dict[int, int] | None = None,
    author: str | None = None,
) -> int:
    """Exclude images from future versions; already excluded ones are left as they are.

    ``finding_ids`` maps an image id to the finding that motivated its exclusion.
    Returns how many images were newly excluded.
    """
    already = excluded_ids(s)
    new = [i for i in dict.fromkeys(image_ids) if i not in already]
    links = finding_ids or {}
    s.add_all(
        Decision(
            image_id=i,
            action=DecisionAction.exclude,
            reason=reason,
            finding_id=links.get(i),
            author=author,
        )
        for i in new
    )
    return len(new)


def relabel(
    s: Session,
    image_id: int,
    wnid: str,
    *,
    reason: str,
    finding_id: int | None = None,
    author: str | None = None,
) -> None:
    """Give an image another class in future versions (its source labels stay as they were)."""
    s.add(
        Decision(
            image_id=image_id,
            action=DecisionAction.relabel,
            wnid=wnid,
            reason=reason,
            finding_id=finding_id,
            author=author,
        )
    )


def undo(
    s: Session,
    *,
    decision_ids: Iterable[int] | None = None,
    reason: str | None = None,
    author: str | None = None,
) -> int:
    """Undo active decisions: the given ids, or all whose reason is ``reason``, or all.

    ``author`` is recorded as who undid them (``undone_by``). Returns how many were undone.
    """
    query = update(Decision).where(Decision.undone_at.is_(None))
    if decision_ids is not None:
        query = query.where(Decision.id.in_(list(decision_ids)))
    if reason is not None:
        query = query.where(Decision.reason == reason)
    values = {"undone_at": datetime.now(timezone.utc), "undone_by": author}
    return s.execute(query.values(**values)).rowcount or 0


def exclude_findings(
    s: Session, kind: str, *, keep: Keep = "first", author: str | None = None
) -> int:
    """Exclude the images that findings of ``kind`` name.

    Findings with a ``cluster`` in their detail (duplicates) are grouped: ``keep="first"`` keeps
    the lowest image id of each cluster, ``"best"`` the one :func:`keep_ranking` prefers
    (verified label, sharpest, largest), ``"none"`` excludes the whole cluster. Returns how many
    images were newly excluded. The reason recorded is ``finding:<kind>``, which ``undo`` can
    target.
    """
    findings = [f for f in s.scalars(select(Finding).where(Finding.kind == kind)) if f.image_id]
    clusters: dict[object, list[int]] = defaultdict(list)
    chosen: dict[int, int] = {}  # image id -> finding id
    for f in findings:
        if "cluster" in f.detail:
            clusters[f.detail["cluster"]].append(f.image_id)
        chosen.setdefault(f.image_id, f.id)
    rank = keep_ranking(s) if keep == "best" else None
    for members in clusters.values():
        ordered = rank.order(members) if rank else sorted(set(members))
        kept = [] if keep == "none" else ordered[:1]
        for image_id in kept:
            chosen.pop(image_id, None)
    return exclude(s, sorted(chosen), reason=f"finding:{kind}", finding_ids=chosen, author=author)


def hidden_test_ids(s: Session) -> set[int]:
    """Images in the hidden test split of the next version: their labels are the answer key,
    which only scoring code reads."""
    return set(s.scalars(select(SplitAssignment.image_id).where(SplitAssignment.hidden)))


@dataclass
class RelabelReport:
    """What :func:`relabel_findings` did."""

    relabelled: int
    #: Images of the hidden test split whose findings were passed over (``include_hidden_test``
    #: not given): their labels stay as they are.
    hidden_test_skipped: int = 0


def relabel_findings(
    s: Session,
    *,
    min_score: float = 0.5,
    include_hidden_test: bool = False,
    author: str | None = None,
) -> RelabelReport:
    """Relabel every image whose ``label-issue`` finding scores at least ``min_score`` to the
    class the finding suggests. Undone with reason ``finding:label-issue``.

    Images in the hidden test split are passed over (and counted) unless
    ``include_hidden_test``: a hidden label is the answer key of a challenge, and changing it
    moves every score computed against it, so it takes a deliberate choice.
    """
    query = select(Finding).where(Finding.kind == "label-issue", Finding.score >= min_score)
    hidden = hidden_test_ids(s)
    report = RelabelReport(relabelled=0)
    for f in s.scalars(query.order_by(Finding.id)):
        if not (f.image_id and f.detail.get("suggested")):
            continue
        if f.image_id in hidden and not include_hidden_test:
            report.hidden_test_skipped += 1
            continue
        relabel(
            s,
            f.image_id,
            f.detail["suggested"],
            reason="finding:label-issue",
            finding_id=f.id,
            author=author,
        )
        report.relabelled += 1
    return report


@dataclass
class KeepRanking:
    """Which images to keep first when some must go: verified label, sharper, larger."""

    #: (image id, wnid) of verified labels.
    verified: set[tuple[int, str]] = field(default_factory=set)
    #: image id -> (sharpness, pixels); empty when quality is not preferred.
    quality: dict[int, tuple[float, int]] = field(default_factory=dict)

    def order(
        self, image_ids: Iterable[int], *, wnid: str | None = None, seed: int = 0
    ) -> list[int]:
        """``image_ids``, the one to keep most first.

        With ``wnid``, only a verified label of that class counts; ties are broken by a shuffle
        seeded by ``seed`` and the class, so one class's draw does not depend on the others.
        """
        ids = sorted(set(image_ids))
        rng = np.random.default_rng([seed, zlib.crc32((wnid or "").encode())])
        shuffle = dict(zip(ids, rng.permutation(len(ids)).tolist(), strict=True))
        verified_ids = {i for i, _ in self.verified}

        def key(image_id: int) -> tuple[bool, float, int, int]:
            sharp, pixels = self.quality.get(image_id, (-math.inf, 0))
            verified = (image_id, wnid) in self.verified if wnid else image_id in verified_ids
            return (not verified, -sharp, -pixels, shuffle[image_id])

        return sorted(ids, key=key)


def keep_ranking(s: Session, *, prefer_quality: bool = True) -> KeepRanking:
    """Verified labels and, if asked, sharpness and size of every image (unmeasured: -inf)."""
    verified = s.execute(
        select(Label.image_id, Label.wnid).where(Label.state == LabelState.verified)
    )
    rank = KeepRanking(verified={(i, w) for i, w in verified})
    if prefer_quality:
        rows = s.execute(
            select(Image.id, Image.width, Image.height, BlobSignals.laplacian_var).outerjoin(
                BlobSignals, BlobSignals.sha256 == Image.sha256
            )
        )
        rank.quality = {i: (-math.inf if v is None else v, w * h) for i, w, h, v in rows}
    return rank
