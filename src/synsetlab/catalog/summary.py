"""Counts over the catalog: what ``synsetlab status`` shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from synsetlab.catalog.models import Image, Label, RejectedFile, Source


@dataclass
class SourceCounts:
    id: int
    kind: str
    uri: str
    images: int
    rejected: int


@dataclass
class CatalogSummary:
    """Counts per class, source, label state, split and rejection reason."""

    images: int
    unique_blobs: int
    unlabelled: int
    #: wnid -> number of images holding a label of that class (any state but rejected).
    per_class: dict[str, int] = field(default_factory=dict)
    per_state: dict[str, int] = field(default_factory=dict)
    per_split: dict[str, int] = field(default_factory=dict)
    sources: list[SourceCounts] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    #: A few rejected files per reason: (source uri, key, detail).
    rejected_examples: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)


def summarize(s: Session, *, examples: int = 3) -> CatalogSummary:
    """Count what the catalog holds; ``examples`` rejected files are listed per reason."""
    images = s.scalar(select(func.count(Image.id))) or 0
    unique_blobs = s.scalar(select(func.count(distinct(Image.sha256)))) or 0
    live = Label.state != "rejected"
    per_class = dict(
        s.execute(
            select(Label.wnid, func.count(distinct(Label.image_id)))
            .where(live)
            .group_by(Label.wnid)
            .order_by(Label.wnid)
        ).all()
    )
    labelled = s.scalar(select(func.count(distinct(Label.image_id))).where(live)) or 0
    per_state = {
        str(getattr(state, "value", state)): n
        for state, n in s.execute(select(Label.state, func.count()).group_by(Label.state))
    }
    per_split = {
        split or "none": n
        for split, n in s.execute(
            select(Image.source_split, func.count()).group_by(Image.source_split)
        )
    }
    image_counts = dict(
        s.execute(select(Image.source_id, func.count()).group_by(Image.source_id)).all()
    )
    rejected_counts = dict(
        s.execute(
            select(RejectedFile.source_id, func.count()).group_by(RejectedFile.source_id)
        ).all()
    )
    sources = [
        SourceCounts(
            src.id, src.kind, src.uri, image_counts.get(src.id, 0), rejected_counts.get(src.id, 0)
        )
        for src in s.scalars(select(Source).order_by(Source.id))
    ]
    by_reason = dict(
        s.execute(
            select(RejectedFile.reason, func.count())
            .group_by(RejectedFile.reason)
            .order_by(func.count().desc(), RejectedFile.reason)
        ).all()
    )
    rejected_examples = {
        reason: [
            tuple(row)
            for row in s.execute(
                select(Source.uri, RejectedFile.source_key, RejectedFile.detail)
                .join(Source, Source.id == RejectedFile.source_id)
                .where(RejectedFile.reason == reason)
                .order_by(RejectedFile.id)
                .limit(examples)
            )
        ]
        for reason in by_reason
    }
    return CatalogSummary(
        images=images,
        unique_blobs=unique_blobs,
        unlabelled=images - labelled,
        per_class=per_class,
        per_state=per_state,
        per_split=per_split,
        sources=sources,
        rejected_by_reason=by_reason,
        rejected_examples=rejected_examples,  # type: ignore[arg-type]
    )
