"""What curation had recorded about a version's images when the version was frozen.

Curation replaces its findings on every run and decisions can be undone, but a version never
changes, so neither may what its datasheet says about it. Freezing therefore keeps a
:class:`CurationSnapshot` beside the manifest: the findings about the version's images (and
class-level ones), the active decisions about them, per kind of finding how many the
workspace held and when they were recorded, and each analysis's last completed run. It is
stored as canonical JSON in the blob store; the version's summary keeps its address under
``"curation"``.

Snapshots taken before analyses recorded their runs have no ``runs`` (``None``): all they can
say of an analysis that left no finding is that none is on record.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synsetlab.catalog.models import (
    AnalysisRun,
    Decision,
    DecisionAction,
    Finding,
    as_utc,
    utcnow,
)

FORMAT = "synsetlab-curation-1"


@dataclass(frozen=True, slots=True)
class RecordedFinding:
    """One finding as it stood at the snapshot (see :class:`synsetlab.catalog.Finding`)."""

    id: int
    kind: str
    image_id: int | None
    wnid: str | None
    score: float | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class KindRecord:
    """The findings of one kind the whole workspace held: an analysis replaces its kinds'
    findings on every run, so their time is the time of its last run that found any."""

    findings: int
    recorded_at: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The last completed run of one analysis (see :class:`.models.AnalysisRun`)."""

    analysis: str
    #: When it finished (ISO 8601, UTC). ``None``: the record a catalog got when it began to
    #: keep runs, about a time nobody kept track of (findings may still show a run then).
    finished_at: str | None
    #: Its settings; ``None`` when the run did not tell them (nor ``images``, ``complete``).
    params: dict[str, Any] | None
    #: Images it looked at.
    images: int | None
    #: Findings it recorded, about the whole workspace.
    findings: int
    #: False when it left part of the catalog unexamined; ``note`` says what.
    complete: bool | None
    note: str

    @property
    def ran(self) -> bool:
        """True for a run on record; False for the record of the time before runs were kept."""
        return self.finished_at is not None


@dataclass(frozen=True)
class CurationSnapshot:
    """Curation's record about a set of images at one moment."""

    #: When the snapshot was taken (ISO 8601, UTC).
    taken_at: str
    #: Findings about the images, and class-level ones, most severe first.
    findings: tuple[RecordedFinding, ...]
    #: Active decisions about the images: reason -> number of decisions.
    decisions: dict[str, int]
    #: Every kind of finding the workspace held (about any image): kind -> count and time.
    kinds: dict[str, KindRecord]
    #: Each analysis's last completed run, by analysis name: one missing here had not run.
    #: ``None`` in snapshots taken before analyses recorded their runs.
    runs: dict[str, RunRecord] | None = None

    def to_bytes(self) -> bytes:
        """Canonical JSON: the same snapshot always gives the same bytes."""
        record = {"format": FORMAT, **asdict(self)}
        if self.runs is None:  # written as before runs were recorded, byte for byte
            del record["runs"]
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> CurationSnapshot:
        record = json.loads(data)
        if record.pop("format", None) != FORMAT:
            raise ValueError("not a synsetlab curation snapshot")
        runs = record.get("runs")
        return cls(
            taken_at=record["taken_at"],
            findings=tuple(RecordedFinding(**f) for f in record["findings"]),
            decisions=dict(record["decisions"]),
            kinds={k: KindRecord(**v) for k, v in record["kinds"].items()},
            runs=None if runs is None else {k: RunRecord(**v) for k, v in runs.items()},
        )


def snapshot_curation(s: Session, image_ids: Iterable[int]) -> CurationSnapshot:
    """What curation holds now about ``image_ids`` (a version's images, excluded and
    unlabelled ones included), with class-level findings, the workspace's kinds and each
    analysis's last completed run."""
    ids = set(image_ids)
    ordered = select(Finding).order_by(Finding.score.desc().nulls_last(), Finding.id)
    findings = tuple(
        RecordedFinding(f.id, f.kind, f.image_id, f.wnid, f.score, dict(f.detail or {}))
        for f in s.scalars(ordered)
        if f.image_id is None or f.image_id in ids
    )
    # A keep changes nothing in the version: it only takes a finding out of the review queue.
    active = select(Decision.image_id, Decision.reason).where(
        Decision.undone_at.is_(None), Decision.action != DecisionAction.keep
    )
    decisions = Counter(reason for image_id, reason in s.execute(active) if image_id in ids)
    per_kind = select(Finding.kind, func.count(), func.max(Finding.created_at)).group_by(
        Finding.kind
    )
    kinds = {kind: KindRecord(n, _iso(at)) for kind, n, at in s.execute(per_kind)}
    return CurationSnapshot(
        taken_at=_iso(utcnow()),
        findings=findings,
        decisions=dict(sorted(decisions.items())),
        kinds=dict(sorted(kinds.items())),
        runs=last_runs(s),
    )


def last_runs(s: Session) -> dict[str, RunRecord]:
    """Each analysis's last completed run (the highest id), by analysis name, sorted."""
    last = select(func.max(AnalysisRun.id)).group_by(AnalysisRun.analysis)
    runs = {
        r.analysis: RunRecord(
            analysis=r.analysis,
            finished_at=None if r.finished_at is None else _iso(r.finished_at),
            params=None if r.params is None else dict(r.params),
            images=r.images,
            findings=r.findings,
            complete=r.complete,
            note=r.note,
        )
        for r in s.scalars(select(AnalysisRun).where(AnalysisRun.id.in_(last)))
    }
    return dict(sorted(runs.items()))


def _iso(at: datetime) -> str:
    return as_utc(at).isoformat(timespec="seconds")
