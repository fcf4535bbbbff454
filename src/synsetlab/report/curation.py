"""Which analyses had been run when a version was frozen, as its datasheet states them.

Each analysis records its completed runs (:class:`synsetlab.catalog.models.AnalysisRun`), and
a version keeps the last run of each in its curation snapshot, so its datasheet says per
analysis: when it ran, with which settings, on how many images, what it found (or that it
found nothing), whether it was incomplete; or that it had not run before the freeze.

Versions frozen before runs were recorded, and catalogs curated before they kept runs, know
an analysis only by what it recorded: findings of its kinds (replaced on every run, so their
time is its last run's) and, for class balance, its exclude decisions. There "no record" can
mean "not run" or "found nothing", and the datasheet says exactly that, never "none found".
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from synsetlab.catalog.curation import CurationSnapshot, RunRecord, snapshot_curation
from synsetlab.catalog.models import Version
from synsetlab.curate.kinds import ANALYSIS_KINDS, REASON_MAX, REASON_MIN
from synsetlab.versions import LoadedVersion
from synsetlab.workspace import Workspace


@dataclass(frozen=True)
class Analysis:
    """One curation analysis: how the page names it, its runs' name, what it records."""

    name: str
    #: The name its runs are recorded under (:data:`synsetlab.curate.kinds.ANALYSIS_KINDS`).
    key: str
    kinds: tuple[str, ...]
    #: Reasons of the decisions it takes itself (balance excludes images as it runs).
    reasons: tuple[str, ...] = ()

    @property
    def command(self) -> str:
        """The command that runs it."""
        return f"synsetlab curate {self.key}"


ANALYSES = (
    Analysis("duplicate search", "duplicates", ANALYSIS_KINDS["duplicates"]),
    Analysis("quality", "quality", ANALYSIS_KINDS["quality"]),
    Analysis("class balance", "balance", ANALYSIS_KINDS["balance"], (REASON_MIN, REASON_MAX)),
    Analysis("label issues", "label-issues", ANALYSIS_KINDS["label-issues"]),
)

#: ``ran``: its last run before the freeze is on record. ``not run``: it had not run then.
#: Where runs were not recorded (older versions, or before the catalog kept them):
#: ``on record`` when its findings or decisions show that it ran, ``no record`` otherwise
#: (not run, or run without finding anything).
Status = Literal["ran", "not run", "on record", "no record"]


@dataclass(frozen=True)
class AnalysisState:
    """What the snapshot shows of one analysis."""

    analysis: Analysis
    status: Status
    #: One sentence: its run (when, settings, images, findings), or what is on record.
    summary: str
    #: Its findings on the version's images (and class-level ones), by kind.
    here: dict[str, int]
    #: Its last run before the freeze, when one is on record.
    run: RunRecord | None = None

    @property
    def recorded(self) -> bool:
        """True when it is known to have run before the freeze."""
        return self.status in ("ran", "on record")

    def nothing_here(self, base: str) -> str:
        """The sentence for a section that shows none of its findings on this version's
        images: ``base`` ("No duplicates among this version's images") and when the analysis
        ran, or that it had not run. (For ``no record`` the page keeps its own wording.)"""
        name = self.analysis.name
        if self.status == "not run":
            return f"{name.capitalize()}: not run before this version was frozen."
        if self.status == "on record" or self.run is None:
            return f"{base}."
        when = shown_time(self.run.finished_at or "")
        if self.run.complete is False:
            gap = f": {self.run.note}" if self.run.note else ""
            return f"{base}, but the {name} run of {when} was incomplete{gap}."
        return f"{base} ({name} ran {when})."


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
    runs = snapshot.runs
    states = []
    for a in ANALYSES:
        kinds = {k: snapshot.kinds[k] for k in a.kinds if k in snapshot.kinds}
        decided = sum(n for reason, n in snapshot.decisions.items() if reason in a.reasons)
        counts = {k: here[k] for k in a.kinds if here[k]}
        run = None if runs is None else runs.get(a.key)
        if run is not None and run.ran:
            states.append(AnalysisState(a, "ran", run_summary(run, decided), counts, run))
        elif kinds:
            total = sum(r.findings for r in kinds.values())
            when = max(r.recorded_at for r in kinds.values())
            summary = f"run: {total} findings in the workspace, recorded {shown_time(when)}"
            states.append(AnalysisState(a, "on record", summary, counts))
        elif decided:
            summary = f"run: no findings; its decisions excluded {decided} images"
            states.append(AnalysisState(a, "on record", summary, counts))
        elif runs is None or run is not None:  # run: the record of a time nobody kept track
            summary = "no record of a run: not run, or run without finding anything"
            states.append(AnalysisState(a, "no record", summary, counts))
        else:
            summary = "not run before this version was frozen"
            states.append(AnalysisState(a, "not run", summary, counts))
    return states


def run_summary(run: RunRecord, decided: int = 0) -> str:
    """``ran 2026-12-06 22:15 UTC with radius=8 on 120 images, found 5``, and what follows:
    the images its decisions excluded, what it left unexamined."""
    text = f"ran {shown_time(run.finished_at or '')}"
    if run.params:
        text += " with " + ", ".join(f"{k}={_value(v)}" for k, v in sorted(run.params.items()))
    if run.images is not None:
        text += f" on {run.images} images"
    text += f", found {run.findings}" if run.findings else ", found nothing"
    if decided:
        text += f"; its decisions excluded {decided} images"
    if run.complete is False:
        text += f"; incomplete: {run.note}" if run.note else "; incomplete"
    return text


def shown_time(iso: str) -> str:
    """``2026-12-06T22:15:03+00:00`` as ``2026-12-06 22:15 UTC``."""
    return iso[:16].replace("T", " ") + " UTC"


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
