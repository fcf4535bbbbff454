"""What a version's datasheet says of crowd verification, from the record frozen with it.

Freezing keeps the crowd's record (:mod:`synsetlab.catalog.crowd`), so the page says what the
crowd had decided when the version was frozen, however annotation goes on: per class, how many
of the version's labels the crowd verified, what it accepted and rejected, the estimated
precision, votes per image and agreement; the projects with their settings; and the
annotators' quality on gold. Where no project had asked about the version's classes, or none
had turned its votes into label states, the page says so. A version frozen before synsetlab
kept the record gets the workspace's record of now, marked as such.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from synsetlab.catalog.crowd import AnnotatorRecord, ClassRecord, CrowdSnapshot, ProjectRecord
from synsetlab.manifest import Manifest
from synsetlab.report.curation import shown_time
from synsetlab.report.figures import annotator_quality_png
from synsetlab.versions import LoadedVersion, crowd_now, crowd_record, crowd_verified
from synsetlab.workspace import Workspace

#: ``not run``: no project had asked about the version's classes. ``not aggregated``: some
#: had collected votes, none had written label states. ``aggregated``: some outcome was in force.
CrowdState = Literal["not run", "not aggregated", "aggregated"]

#: The command that starts crowd verification, named where it had not run.
COMMAND = "synsetlab annotate create"
#: Stopped annotators listed on the page (the rest are counted).
MAX_STOPPED_ROWS = 20


@dataclass(frozen=True)
class CrowdClassRow:
    """One class of the version: its labels, and what the crowd decided about it."""

    wnid: str
    name: str
    #: The version's images of the class, and those whose label the crowd had verified.
    images: int
    crowd_verified: int
    #: The crowd's decisions on the class (every project, every image asked); ``None`` when
    #: no project asked about it.
    record: ClassRecord | None


@dataclass
class CrowdSection:
    """The datasheet's crowd section."""

    state: CrowdState
    #: A record taken now for a version frozen before synsetlab kept one (it may change).
    live: bool
    taken_at: str
    projects: list[ProjectRecord] = field(default_factory=list)
    rows: list[CrowdClassRow] = field(default_factory=list)
    #: Over every class: what :class:`CrowdClassRow` holds per class.
    total: CrowdClassRow | None = None
    #: Labelled images of the version.
    images: int = 0
    #: Test images (labels hidden) whose label is crowd-verified, and whose label is not.
    verified_test: int = 0
    unverified_test: int = 0
    annotators: list[AnnotatorRecord] = field(default_factory=list)
    #: Annotators with gold answers, and quartiles of their accuracy on gold.
    with_gold: int = 0
    quartiles: tuple[float, float, float] | None = None
    gold_accuracy: float | None = None
    fast_share: float | None = None
    figure: str | None = None

    @property
    def stopped(self) -> list[AnnotatorRecord]:
        """Stopped annotators, least accurate first."""
        out = [a for a in self.annotators if a.state == "stopped"]
        return sorted(out, key=lambda a: (a.gold_accuracy, a.project))

    @property
    def stopped_shown(self) -> list[AnnotatorRecord]:
        """The stopped annotators the page lists; the rest are counted."""
        return self.stopped[:MAX_STOPPED_ROWS]

    @property
    def shown_at(self) -> str:
        """When the record was taken, as the page shows times."""
        return shown_time(self.taken_at)

    @property
    def verified(self) -> int:
        return self.total.crowd_verified if self.total else 0

    @property
    def votes(self) -> int:
        return sum(p.votes for p in self.projects)

    @property
    def discounted(self) -> int:
        return sum(p.discounted_votes for p in self.projects)


def load_crowd(ws: Workspace, version: LoadedVersion) -> tuple[CrowdSnapshot, bool]:
    """The crowd's record frozen with ``version``, and ``False``; for a version frozen before
    synsetlab kept one, the workspace's record of now, and ``True`` (it may change)."""
    frozen = crowd_record(ws, version)
    if frozen is not None:
        return frozen, False
    m = version.manifest
    with ws.session() as s:
        held = [e.image_id for e in (*m.entries, *m.unlabelled)]
        return crowd_now(s, held, m.classes), True


def crowd_section(
    snapshot: CrowdSnapshot,
    manifest: Manifest,
    classes: Sequence[tuple[str, str]],
    out_dir: Path,
    *,
    live: bool = False,
) -> CrowdSection:
    """The section for ``manifest`` from ``snapshot``; ``classes``: (wnid, name) in the
    order the page lists them. Writes the annotator figure into ``out_dir``."""
    state: CrowdState = (
        "aggregated" if snapshot.aggregated else "not aggregated" if snapshot.asked else "not run"
    )
    section = CrowdSection(state, live, snapshot.taken_at, images=len(manifest.entries))
    if state == "not run":
        return section
    section.projects = list(snapshot.projects)
    verified = crowd_verified(manifest, snapshot)
    images = Counter(e.wnid for e in manifest.entries)
    mine = Counter(e.wnid for e in manifest.entries if (e.image_id, e.wnid) in verified)
    hidden = [(e.image_id, e.wnid) in verified for e in manifest.entries if e.hidden]
    section.verified_test, section.unverified_test = sum(hidden), len(hidden) - sum(hidden)
    section.rows = [
        CrowdClassRow(w, name, images[w], mine[w], snapshot.classes.get(w)) for w, name in classes
    ]
    section.total = CrowdClassRow(
        "", "all classes", len(manifest.entries), sum(mine.values()), _total(snapshot.classes)
    )
    section.annotators = list(snapshot.annotators)
    graded = [a for a in snapshot.annotators if a.gold_answers]
    section.with_gold = len(graded)
    if graded:
        q1, q2, q3 = np.quantile([a.gold_accuracy for a in graded], [0.25, 0.5, 0.75])
        section.quartiles = (float(q1), float(q2), float(q3))
        thresholds = {p.slug: p.min_accuracy for p in snapshot.projects}
        section.figure = annotator_quality_png(
            graded, thresholds, out_dir / "annotator_quality.png"
        ).name
    section.gold_accuracy = snapshot.gold_accuracy
    section.fast_share = snapshot.fast_share
    return section


def _total(records: Mapping[str, ClassRecord]) -> ClassRecord | None:
    """The classes' records pooled: sums, and means weighted by what each averages over."""
    rows = list(records.values())
    if not rows:
        return None
    questions = sum(r.questions for r in rows)
    return ClassRecord(
        wnid="",
        projects=tuple(sorted({p for r in rows for p in r.projects})),
        questions=questions,
        verified=sum(r.verified for r in rows),
        rejected=sum(r.rejected for r in rows),
        estimated_precision=_weighted(
            [(r.estimated_precision, r.verified) for r in rows if r.estimated_precision is not None]
        ),
        votes_per_image=_weighted(
            [(r.votes_per_image, r.questions) for r in rows if r.votes_per_image is not None]
        ),
        # Agreement and kappa are per class (chance agreement rests on the class's yes rate):
        # their mean over classes, each class counted once.
        agreement=_weighted([(r.agreement, 1) for r in rows if r.agreement is not None]),
        kappa=_weighted([(r.kappa, 1) for r in rows if r.kappa is not None]),
    )


def _weighted(pairs: Sequence[tuple[float, int]]) -> float | None:
    weight = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / weight if weight else None
