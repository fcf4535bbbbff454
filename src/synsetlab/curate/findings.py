"""Recording and reading findings. An analysis replaces its own kinds' findings on each run,
and records the run itself beside them (:class:`synsetlab.catalog.models.AnalysisRun`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from synsetlab.catalog.models import AnalysisRun, Finding, Image
from synsetlab.curate.kinds import analysis_of


@dataclass(frozen=True, slots=True)
class NewFinding:
    """A finding about to be recorded (see :class:`synsetlab.catalog.Finding`)."""

    kind: str
    image_id: int | None = None
    wnid: str | None = None
    score: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFacts:
    """What a run of an analysis says about itself, recorded with its findings."""

    #: The settings it ran with, as JSON values (radius, crowd limit, thresholds...).
    params: dict[str, Any] = field(default_factory=dict)
    #: Images it looked at.
    images: int | None = None
    #: False when it left part of the catalog unexamined; ``note`` then says what, in words.
    complete: bool = True
    note: str = ""


def replace_findings(
    s: Session,
    kinds: Sequence[str],
    findings: Iterable[NewFinding],
    *,
    run: RunFacts | None = None,
) -> int:
    """Delete earlier findings of ``kinds`` and record ``findings`` (all of those kinds).

    When ``kinds`` are exactly one analysis's (:data:`synsetlab.curate.kinds.ANALYSIS_KINDS`),
    this is a completed run of it, and an ``AnalysisRun`` row records it in the same
    transaction, with ``run``'s facts (without ``run``: parameters, images and completeness
    not told). A run that finds nothing is recorded too: that is how the datasheet tells "ran,
    found nothing" from "not run". ``run`` with other kinds is refused.

    Decisions that cited a replaced finding keep their reason; their link is cleared.
    Returns the number recorded.
    """
    analysis = analysis_of(kinds)
    if run is not None:
        _check_run(run, kinds, analysis)
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
    if analysis is not None:
        told = run is not None
        s.add(
            AnalysisRun(
                analysis=analysis,
                params=dict(run.params) if told else None,
                images=run.images if told else None,
                findings=len(rows),
                complete=run.complete if told else None,
                note=run.note if told else "",
            )
        )
    return len(rows)


def _check_run(run: RunFacts, kinds: Sequence[str], analysis: str | None) -> None:
    if analysis is None:
        raise ValueError(
            f"a run is recorded for one analysis's kinds (curate.kinds.ANALYSIS_KINDS), "
            f"not for {list(kinds)}"
        )
    try:
        json.dumps(run.params, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{analysis} run params must be plain JSON values: {e}") from None
    if run.images is not None and run.images < 0:
        raise ValueError(f"{analysis} run looked at {run.images} images: not a count")


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
