"""Recording and reading findings. An analysis replaces its own kinds' findings on each run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from synsetlab.catalog.models import Finding, Image


@dataclass(frozen=True, slots=True)
class NewFinding:
    """A finding about to be recorded (see :class:`synsetlab.catalog.Finding`)."""

    kind: str
    image_id: int | None = None
    wnid: str | None = None
    score: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def replace_findings(s: Session, kinds: Sequence[str], findings: Iterable[NewFinding]) -> int:
    """Delete earlier findings of ``kinds`` and record ``findings`` (all of those kinds).

    Decisions that cited a replaced finding keep their reason; their link is cleared.
    Returns the number recorded.
    """
    rows = []
    for f in findings:
        if f.kind not in kinds:
            raise ValueError(f"finding of kind {f.kind!r} given to a run replacing {list(kinds)}")
        rows.append(
            {"kind": f.kind, "image_id": f.image_id, "wnid": f.wnid, "score": f.score,
             "detail": f.detail}
        )  # fmt: skip
    s.execute(delete(Finding).where(Finding.kind.in_(kinds)))
    if rows:
        s.execute(insert(Finding), rows)
    return len(rows)


def list_findings(
    s: Session, *, kind: str | None = None, limit: int | None = None
) -> list[Finding]:
    """Findings, most severe first (highest score), optionally of one kind."""
    query = select(Finding).order_by(Finding.kind, Finding.score.desc().nulls_last(), Finding.id)
    if kind is not None:
        query = query.where(Finding.kind == kind)
    return list(s.scalars(query.limit(limit)))


def count_findings(s: Session) -> dict[str, int]:
    """Number of findings per kind."""
    rows = s.execute(
        select(Finding.kind, func.count()).group_by(Finding.kind).order_by(Finding.kind)
    )
    return dict(rows.all())


def source_keys(s: Session, image_ids: Iterable[int]) -> dict[int, str]:
    """image id -> the path or archive member it came from, for showing findings."""
    rows = s.execute(select(Image.id, Image.source_key).where(Image.id.in_(list(image_ids))))
    return dict(rows.all())
