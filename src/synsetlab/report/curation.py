"""Which analyses had been run when a version was frozen, as its datasheet states them.

An analysis leaves a trace only through what it records: findings of its kinds (replaced on
every run, so their time is its last run's) and, for class balance, its exclude decisions. A
run that finds nothing records nothing, so "no record" can mean "not run" or "found nothing":
the datasheet says exactly that, never "none found".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from synsetlab.catalog.curation import CurationSnapshot, snapshot_curation
from synsetlab.catalog.models import Version
from synsetlab.curate.balance import BALANCE_KINDS, REASON_MAX, REASON_MIN
from synsetlab.curate.duplicates import KINDS as DUPLICATE_KINDS
from synsetlab.curate.quality import QUALITY_KINDS
from synsetlab.versions import LoadedVersion
from synsetlab.workspace import Workspace

#: curate.label_issues.KINDS, written out: importing that module loads torch and sklearn.
LABEL_ISSUE_KINDS: tuple[str, ...] = ("label-issue", "class-overlap")


@dataclass(frozen=True)
class Analysis:
    """One curation analysis: the command that runs it and what it records."""

    name: str
    command: str
    kinds: tuple[str, ...]
    #: Reasons of the decisions it takes itself (balance excludes images as it runs).
    reasons: tuple[str, ...] = ()


ANALYSES = (
    Analysis("duplicate search", "synsetlab curate duplicates", DUPLICATE_KINDS),
    Analysis("quality", "synsetlab curate quality", QUALITY_KINDS),
    Analysis("class balance", "synsetlab curate balance", BALANCE_KINDS, (REASON_MIN, REASON_MAX)),
    Analysis("label issues", "synsetlab curate label-issues", LABEL_ISSUE_KINDS),
)


@dataclass(frozen=True)
class AnalysisState:
    """What the snapshot shows of one analysis."""

    analysis: Analysis
    #: True when something it records was there; False: not run, or run and found nothing.
    recorded: bool
    #: One sentence: when it recorded what, or that nothing is on record.
    summary: str
    #: Its findings on the version's images (and class-level ones), by kind.
    here: dict[str, int]


def load_curation(ws: Workspace, version: LoadedVersion) -> tuple[CurationSnapshot, bool]:
    """The curation snapshot frozen with ``version``, and ``False``; for a version frozen
    before synsetlab kept one, a snapshot of the workspace now, and ``True`` (it may change)."""
    with ws.session() as s:
        summary = s.scalar(select(Version.summary).where(Version.id == version.id)) or {}
        address = summary.get("curation")
        if address:
            return CurationSnapshot.from_bytes(ws.blobs.get(address)), False
        m = version.manifest
        held = [e.image_id for e in (*m.entries, *m.unlabelled)]
        return snapshot_curation(s, [*held, *m.excluded]), True


def analysis_states(snapshot: CurationSnapshot) -> list[AnalysisState]:
    """The state of each analysis of :data:`ANALYSES` in ``snapshot``."""
    here = Counter(f.kind for f in snapshot.findings)
    states = []
    for a in ANALYSES:
        kinds = {k: snapshot.kinds[k] for k in a.kinds if k in snapshot.kinds}
        decided = sum(n for reason, n in snapshot.decisions.items() if reason in a.reasons)
        counts = {k: here[k] for k in a.kinds if here[k]}
        if kinds:
            total = sum(r.findings for r in kinds.values())
            when = max(r.recorded_at for r in kinds.values())
            summary = f"run: {total} findings in the workspace, recorded {_shown(when)}"
        elif decided:
            summary = f"run: no findings; its decisions excluded {decided} images"
        else:
            summary = "no record of a run: not run, or run without finding anything"
        states.append(AnalysisState(a, bool(kinds or decided), summary, counts))
    return states


def _shown(iso: str) -> str:
    """``2026-12-06T22:15:03+00:00`` as ``2026-12-06 22:15 UTC``."""
    return iso[:16].replace("T", " ") + " UTC"
