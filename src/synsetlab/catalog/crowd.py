"""What crowd verification had recorded about a version when the version was frozen.

Annotation goes on after a freeze (more votes, aggregation again, undo), but a version never
changes, so neither may what it says about its labels. Freezing therefore keeps a
:class:`CrowdSnapshot` beside the manifest: which labels of the version's images the crowd had
verified, with the evidence (project, method, votes, posterior); per project, its options and
how far it had got; per class of the version, what the crowd decided and how much its
annotators agreed; and each annotator's quality on gold questions. It is stored as canonical
JSON in the blob store; the version's summary keeps its address under ``"crowd"``.

The record names hidden test images' verified labels, as the manifest holds their labels: it
is a curator's record, read by the datasheet and ``version diff``; nothing a participant reads
(exports, the challenge site) passes it on.

Records are plain data (no pandas): the datasheet reads them without loading the annotation
package. :func:`synsetlab.annotate.snapshot.snapshot_crowd` takes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields

FORMAT = "synsetlab-crowd-1"


@dataclass(frozen=True, slots=True)
class VerifiedLabel:
    """A label of one of the version's images that a crowd outcome had verified."""

    image_id: int
    wnid: str
    project: str
    #: ``dynamic``, ``dawid-skene`` or ``majority``.
    method: str
    #: Counted yes and no votes the decision rested on.
    yes: int
    no: int
    #: P(label right) where the method gives one (majority's is its share of yes votes).
    posterior: float | None
    #: When the outcome was written (ISO 8601, UTC).
    decided_at: str


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    """One annotation project that asked about the version's classes, as it stood."""

    slug: str
    created_at: str
    target_precision: float
    max_votes: int
    #: Share of each page that is gold.
    gold_fraction: float
    #: Gold accuracy an annotator had to stay above.
    min_accuracy: float
    include_hidden_test: bool
    #: Its classes (wnids), sorted.
    classes: tuple[str, ...]
    #: Candidate questions, and gold ones.
    questions: int
    gold_questions: int
    #: Votes stored (gold included), and of them those of stopped annotators (not counted).
    votes: int
    discounted_votes: int
    annotators: int
    stopped: int
    #: The method of its outcomes in force, and when they were written; ``None`` when its votes
    #: had not been aggregated into label states.
    method: str | None
    aggregated_at: str | None
    #: Questions its outcomes in force verified and rejected.
    verified: int
    rejected: int


@dataclass(frozen=True, slots=True)
class ClassRecord:
    """What the crowd decided about one class of the version, over the projects asking it."""

    wnid: str
    projects: tuple[str, ...]
    #: Candidate questions asked about the class.
    questions: int
    #: Questions verified and rejected by outcomes in force; the rest were undecided.
    verified: int
    rejected: int
    #: Mean posterior of the verified, where their method gives one (dynamic consensus,
    #: Dawid-Skene): the share of them expected right. ``None`` otherwise.
    estimated_precision: float | None
    #: Counted votes per question asked.
    votes_per_image: float | None
    #: Fleiss' observed agreement: per image with two or more counted votes, the share of
    #: pairs of its votes that agree, averaged over those images. ``None`` with no such image.
    agreement: float | None
    #: Fleiss' kappa: that agreement beyond the chance agreement of the class's yes rate;
    #: ``None`` where chance agreement is 1 (every vote alike) or no image had two votes.
    kappa: float | None

    @property
    def undecided(self) -> int:
        return max(self.questions - self.verified - self.rejected, 0)


@dataclass(frozen=True, slots=True)
class AnnotatorRecord:
    """One annotator's quality on gold (no name: a datasheet may be published)."""

    project: str
    #: ``active`` or ``stopped`` (their votes do not count).
    state: str
    stop_reason: str
    votes: int
    gold_answers: int
    #: Accuracy on gold: Beta posterior mean and 95% credible interval.
    gold_accuracy: float
    lower: float
    upper: float
    #: Share of their answers faster than a person can look.
    fast_share: float | None


@dataclass(frozen=True)
class CrowdSnapshot:
    """Crowd verification's record about a version, at one moment."""

    #: When it was taken (ISO 8601, UTC).
    taken_at: str
    #: Projects with a class among the version's, by slug; none: no crowd had been asked.
    projects: tuple[ProjectRecord, ...] = ()
    #: Per class of the version that a project asked about.
    classes: dict[str, ClassRecord] = field(default_factory=dict)
    annotators: tuple[AnnotatorRecord, ...] = ()
    #: Share of right answers on gold over the counted annotators, and of answers too fast.
    gold_accuracy: float | None = None
    fast_share: float | None = None
    #: Labels of the version's images (labelled or in its unlabelled pool) that crowd
    #: outcomes had verified, by (image id, wnid).
    verified: tuple[VerifiedLabel, ...] = ()

    @property
    def asked(self) -> bool:
        """True when some project had asked the crowd about the version's classes."""
        return bool(self.projects)

    @property
    def aggregated(self) -> bool:
        """True when some project's votes had become label states."""
        return any(p.method is not None for p in self.projects)

    def verified_pairs(self) -> set[tuple[int, str]]:
        """(image id, wnid) of every crowd-verified label on record."""
        return {(v.image_id, v.wnid) for v in self.verified}

    def to_bytes(self) -> bytes:
        """Canonical JSON: the same snapshot always gives the same bytes. Verified labels are
        rows (one list each, in :class:`VerifiedLabel`'s field order): a version may hold
        millions."""
        record = asdict(self)
        record["verified"] = [[getattr(v, f) for f in _VERIFIED] for v in self.verified]
        record = {"format": FORMAT, "verified_fields": list(_VERIFIED), **record}
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> CrowdSnapshot:
        record = json.loads(data)
        if record.pop("format", None) != FORMAT:
            raise ValueError("not a synsetlab crowd snapshot")
        names = record.pop("verified_fields")
        return cls(
            taken_at=record["taken_at"],
            projects=tuple(
                ProjectRecord(**{**p, "classes": tuple(p["classes"])}) for p in record["projects"]
            ),
            classes={
                w: ClassRecord(**{**c, "projects": tuple(c["projects"])})
                for w, c in record["classes"].items()
            },
            annotators=tuple(AnnotatorRecord(**a) for a in record["annotators"]),
            gold_accuracy=record["gold_accuracy"],
            fast_share=record["fast_share"],
            verified=tuple(
                VerifiedLabel(**dict(zip(names, row, strict=True))) for row in record["verified"]
            ),
        )


_VERIFIED = tuple(f.name for f in fields(VerifiedLabel))


def crowd_digest(pairs: Iterable[tuple[int, str]]) -> str:
    """sha256 of sorted ``image_id wnid`` lines: which labels rest on the crowd, as one value
    that a manifest can carry (two versions differing only there get different ids)."""
    lines = "".join(f"{image_id} {wnid}\n" for image_id, wnid in sorted(pairs))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()
