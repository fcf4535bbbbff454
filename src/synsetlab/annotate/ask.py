"""Questions asked one at a time: a reviewer's doubt about a label, sent to the crowd.

:func:`ask_crowd` adds questions "does image I show synset S?" to a project after its
creation; :func:`ask_about_findings` asks, for each label issue, about its image against
the class it was given and the class curation suggests (both: the crowd then says which is
right), and records each finding as sent (:func:`synsetlab.curate.review.send_to_crowd`).

How the questions join dynamic consensus (:mod:`~synsetlab.annotate.assign`,
:mod:`~synsetlab.annotate.decide`):

- a class the project lacks is added with its lemmas and gloss, as
  :func:`~synsetlab.annotate.projects.create_project` adds one, and its ancestors among the
  project's classes (and it becomes an ancestor of the classes it is one of: a yes for a
  beagle is a yes for a dog); its first questions are drawn into its initial subset, which
  gets ``initial_votes`` votes each before the class's table exists, and it gets gold
  questions as at creation (never about the images asked of it);
- a class still collecting its initial subset (no table yet) tops the subset up to the
  project's ``initial_items`` from the new questions;
- a class with its table takes the new questions into its normal queue.

Refused: an image of the hidden test split (its label is a challenge's answer key, and a
question about it shows annotators that answer; no project option lets one through here),
unknown images or classes. Left out, each with its reason: a question the project asks
already (pending, or decided: its outcome is reported, never asked again; a gold question),
an image a curation decision excluded.

The project is named; the default :data:`DEFAULT_PROJECT` is created with the defaults of
:class:`~synsetlab.annotate.projects.ProjectOptions` on first use, any other must exist
(``synsetlab annotate create``). The caller commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from numbers import Integral
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from synsetlab.annotate.assign import lock_project
from synsetlab.annotate.errors import (
    AnnotationConflictError,
    AnnotationError,
    AnnotationForbiddenError,
    AnnotationNotFoundError,
)
from synsetlab.annotate.projects import (
    ProjectOptions,
    add_gold,
    class_rng,
    class_row,
    get_project,
    gold_pool,
    initial_subset,
    new_project,
)
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationItem,
    AnnotationProject,
    ItemStatus,
)
from synsetlab.catalog.models import Decision, DecisionAction, Finding, Image, SplitAssignment
from synsetlab.curate import review
from synsetlab.curate.kinds import LABEL_ISSUE
from synsetlab.taxonomy import Taxonomy

__all__ = [
    "DEFAULT_PROJECT",
    "Asked",
    "FindingsAsked",
    "NotAsked",
    "Question",
    "ask_about_findings",
    "ask_crowd",
    "label_issues_to_ask",
]

#: The project questions go to when none is named; created on first use with the defaults.
DEFAULT_PROJECT = "review"


@dataclass(frozen=True)
class Question:
    """A question added: does image ``image_id`` show ``wnid``?"""

    image_id: int
    wnid: str
    #: Drawn into its class's initial subset (it gets ``initial_votes`` votes).
    initial: bool = False


@dataclass(frozen=True)
class NotAsked:
    """A question left out, and why."""

    image_id: int
    wnid: str
    reason: str
    #: The project's question about it: pending, accepted or rejected (None: there is none).
    status: str | None = None
    yes: int = 0
    no: int = 0
    #: The known answer of a gold question.
    gold: bool | None = None


@dataclass
class Asked:
    """What :func:`ask_crowd` added to ``project``, and what it left out."""

    project: str
    #: The project was created by this call (the default project, on first use).
    created: bool
    added: list[Question] = field(default_factory=list)
    skipped: list[NotAsked] = field(default_factory=list)
    #: Classes the project gained, with their gold questions.
    new_classes: list[str] = field(default_factory=list)
    gold_positive: int = 0
    gold_negative: int = 0

    def waiting(self) -> set[tuple[int, str]]:
        """(image, wnid) of the questions that now wait for the crowd: added, or asked
        before and still pending."""
        pending = {
            (x.image_id, x.wnid)
            for x in self.skipped
            if x.status == ItemStatus.pending.value and x.gold is None
        }
        return pending | {(q.image_id, q.wnid) for q in self.added}

    def decided(self) -> list[NotAsked]:
        """The questions the crowd had answered already (accepted or rejected)."""
        done = (ItemStatus.accepted.value, ItemStatus.rejected.value)
        return [x for x in self.skipped if x.status in done]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ask_crowd(
    s: Session,
    project: str | AnnotationProject,
    questions: Iterable[tuple[int, str]],
    *,
    taxonomy: Taxonomy,
) -> Asked:
    """Add ``questions`` ((image id, wnid) pairs) to ``project`` (see the module doc).

    Idempotent: a question the project has is reported in ``skipped``, never added twice.
    Raises :class:`AnnotationError` (no question, an unknown class),
    :class:`AnnotationNotFoundError` (an unknown image; an unknown project other than
    :data:`DEFAULT_PROJECT`) or :class:`AnnotationForbiddenError` (an image of the hidden
    test split); nothing is written then.
    """
    pairs = _checked(s, questions, taxonomy)
    project, created = _project(s, project)
    if not created:
        lock_project(s, project)  # no page is composed while questions come in
    report = Asked(project.slug, created)
    images = sorted({i for i, _ in pairs})
    existing = {
        (q.image_id, q.wnid): q
        for chunk in _chunks(images)
        for q in s.scalars(
            select(AnnotationItem).where(
                AnnotationItem.project_id == project.id, AnnotationItem.image_id.in_(chunk)
            )
        )
    }
    excluded = _excluded(s, images)
    new: dict[str, list[int]] = defaultdict(list)
    for image_id, wnid in pairs:
        found = existing.get((image_id, wnid))
        if found is not None:
            report.skipped.append(_asked_before(found))
        elif image_id in excluded:
            report.skipped.append(
                NotAsked(image_id, wnid, "excluded by a curation decision: no version holds it")
            )
        else:
            new[wnid].append(image_id)
    if new:
        _add(s, project, new, taxonomy=taxonomy, report=report)
    return report


def _checked(
    s: Session, questions: Iterable[tuple[int, str]], taxonomy: Taxonomy
) -> list[tuple[int, str]]:
    """The (image id, wnid) pairs, each once in the order given; every refusal of the
    module doc raised before anything is written."""
    pairs: list[tuple[int, str]] = []
    for pair in questions:
        try:
            image_id, wnid = pair
        except (TypeError, ValueError):
            raise AnnotationError(f"question {pair!r}: give (image id, wnid) pairs") from None
        if isinstance(image_id, bool) or not isinstance(image_id, Integral):
            raise AnnotationError(f"question {pair!r}: the image id must be a whole number")
        if not isinstance(wnid, str):
            raise AnnotationError(f"question {pair!r}: the class must be a wnid, e.g. n02084071")
        pairs.append((int(image_id), wnid.strip()))
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        raise AnnotationError("nothing to ask: give at least one (image id, wnid) question")
    unknown = sorted({w for _, w in pairs if w not in taxonomy})
    if unknown:
        raise AnnotationError(
            f"unknown class(es) {', '.join(unknown[:5])}: neither a WordNet 3.0 noun synset nor "
            "a class of this workspace (`synsetlab taxonomy search TEXT` finds wnids)"
        )
    ids = sorted({i for i, _ in pairs})
    known = {i for c in _chunks(ids) for i in s.scalars(select(Image.id).where(Image.id.in_(c)))}
    missing = [i for i in ids if i not in known]
    if missing:
        raise AnnotationNotFoundError(
            f"no image {', '.join(map(str, missing[:5]))} in the catalog: ask about images "
            "`synsetlab findings list` shows"
        )
    hidden = sorted(
        i
        for c in _chunks(ids)
        for i in s.scalars(
            select(SplitAssignment.image_id).where(
                SplitAssignment.hidden, SplitAssignment.image_id.in_(c)
            )
        )
    )
    if hidden:
        raise AnnotationForbiddenError(
            f"image {', '.join(map(str, hidden[:5]))} {'is' if len(hidden) == 1 else 'are'} in "
            "the hidden test split: a label there is a challenge's answer key, and a question "
            "about it would show annotators the answer, so it never goes to the crowd; leave "
            f"{'it' if len(hidden) == 1 else 'them'} out, and keep, exclude or relabel it yourself"
        )
    return pairs


def _project(s: Session, project: str | AnnotationProject) -> tuple[AnnotationProject, bool]:
    if isinstance(project, AnnotationProject):
        return project, False
    if project == DEFAULT_PROJECT:
        found = s.scalar(select(AnnotationProject).where(AnnotationProject.slug == project))
        if found is not None:
            return found, False
        # Two reviewers' first use at once: one makes it, the other uses that one.
        try:
            with s.begin_nested():
                return new_project(s, project, options=ProjectOptions()), True
        except (IntegrityError, AnnotationConflictError):
            found = s.scalar(select(AnnotationProject).where(AnnotationProject.slug == project))
            assert found is not None
            return found, False
    try:
        return get_project(s, project), False
    except AnnotationNotFoundError as e:
        raise AnnotationNotFoundError(
            f"{e}; or ask in {DEFAULT_PROJECT!r}, made on first use"
        ) from None


def _excluded(s: Session, image_ids: list[int]) -> set[int]:
    """Those of ``image_ids`` an active curation decision excludes."""
    active = select(Decision.image_id).where(
        Decision.undone_at.is_(None), Decision.action == DecisionAction.exclude
    )
    return {
        i for c in _chunks(image_ids) for i in s.scalars(active.where(Decision.image_id.in_(c)))
    }


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    """Slices of ``ids`` small enough for one ``IN (...)`` on any database."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _asked_before(q: AnnotationItem) -> NotAsked:
    votes = f"{q.yes_votes} yes, {q.no_votes} no"
    if q.gold is not None:
        reason = (
            f"a gold question of the project (its answer is known: {'yes' if q.gold else 'no'})"
        )
    elif q.status is ItemStatus.pending:
        reason = f"asked already, waiting for the crowd ({votes})"
    else:
        odds = "" if q.posterior is None else f", P(yes) {q.posterior:.3f}"
        reason = f"decided already: {q.status.value} ({votes}{odds}); not asked again"
    return NotAsked(q.image_id, q.wnid, reason, q.status.value, q.yes_votes, q.no_votes, q.gold)


def _add(
    s: Session,
    project: AnnotationProject,
    new: dict[str, list[int]],
    *,
    taxonomy: Taxonomy,
    report: Asked,
) -> None:
    """Add the questions ``new`` (wnid -> image ids), their classes first where missing."""
    classes = {
        c.wnid: c
        for c in s.scalars(select(AnnotationClass).where(AnnotationClass.project_id == project.id))
    }
    added = [w for w in new if w not in classes]
    if added:
        among = set(classes) | set(added)
        for klass in classes.values():
            above = taxonomy.ancestors(klass.wnid) & set(added) if klass.wnid in taxonomy else set()
            if above:
                klass.ancestors = sorted(set(klass.ancestors or ()) | above)
        for wnid in added:
            classes[wnid] = class_row(project, wnid, taxonomy=taxonomy, among=among)
            s.add(classes[wnid])
        s.flush()
        report.new_classes = added
    in_subset = dict(
        s.execute(
            select(AnnotationItem.class_id, func.count())
            .where(
                AnnotationItem.project_id == project.id,
                AnnotationItem.initial,
                AnnotationItem.gold.is_(None),
            )
            .group_by(AnnotationItem.class_id)
        ).all()
    )
    pool: tuple[list[int], dict] | None = None
    for wnid, image_ids in new.items():
        klass = classes[wnid]
        images = sorted(image_ids)
        rng = class_rng(project.seed, wnid)
        # Until its table exists, a class's new questions fill its initial subset up.
        room = 0 if klass.estimated_at is not None else project.initial_items
        room = max(0, room - in_subset.get(klass.id, 0))
        initial = initial_subset(images, rng, room) if room else set()
        s.add_all(
            AnnotationItem(
                project_id=project.id,
                class_id=klass.id,
                image_id=i,
                wnid=wnid,
                initial=i in initial,
                yes_votes=0,
                no_votes=0,
            )
            for i in images
        )
        report.added += [Question(i, wnid, i in initial) for i in images]
        if wnid in added and project.gold_fraction > 0:
            if pool is None:
                pool = gold_pool(
                    s, include_hidden_test=ProjectOptions.of(project).include_hidden_test
                )
            usable, labels = pool
            asked = set(images)  # an image asked about is no known answer for its class
            positive, negative = add_gold(
                s,
                project,
                klass,
                [i for i in usable if i not in asked],
                labels,
                taxonomy=taxonomy,
                rng=rng,
            )
            report.gold_positive += positive
            report.gold_negative += negative
    s.flush()


# Label issues -------------------------------------------------------------------------------


@dataclass
class FindingsAsked:
    """What :func:`ask_about_findings` asked, and the decision recording each finding sent."""

    asked: Asked
    #: Finding id -> its ``crowd:`` decision; None where nothing waits for the crowd (both
    #: questions decided already, or left out): the finding stays in the review queue.
    sent: dict[int, review.DecisionView | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "asked": self.asked.to_dict(),
            "sent": {i: None if d is None else asdict(d) for i, d in self.sent.items()},
        }


def ask_about_findings(
    s: Session,
    project: str | AnnotationProject,
    finding_ids: Sequence[int],
    *,
    taxonomy: Taxonomy,
    author: str | None,
) -> FindingsAsked:
    """Ask the crowd about each label issue of ``finding_ids``: its image against the class
    it was given and against the suggested one; record each finding with a question waiting
    as sent to the crowd under ``author`` (undone as any decision).

    Idempotent: a finding sent already asks nothing new and keeps its decision. Raises as
    :func:`ask_crowd` (a hidden test image: :class:`AnnotationForbiddenError`), and
    :class:`~synsetlab.curate.review.ReviewError` for a finding that is not a label issue,
    :class:`~synsetlab.curate.review.ReviewConflictError` for one kept, excluded or
    relabelled already; nothing is written then.
    """
    asks = [review.label_question(s, i) for i in dict.fromkeys(finding_ids)]
    for q in asks:
        if q.decision is not None and not q.decision.crowd:
            review.send_to_crowd(s, q.finding_id, author=author)  # raises, saying why
    pairs = [(q.image_id, wnid) for q in asks for wnid in (q.given, q.suggested)]
    asked = ask_crowd(s, project, pairs, taxonomy=taxonomy)
    waiting = asked.waiting()
    sent: dict[int, review.DecisionView | None] = {}
    for q in asks:
        if q.decision is not None:
            sent[q.finding_id] = q.decision
        elif {(q.image_id, q.given), (q.image_id, q.suggested)} & waiting:
            sent[q.finding_id] = review.send_to_crowd(s, q.finding_id, author=author)
        else:
            sent[q.finding_id] = None
    return FindingsAsked(asked, sent)


def label_issues_to_ask(
    s: Session, *, min_score: float | None = None, limit: int | None = None
) -> tuple[list[int], int]:
    """Label issues waiting for review that name a suggested class, most severe first, with
    a score of at least ``min_score`` (when given), at most ``limit``: their finding ids,
    and how many were left out for being about images of the hidden test split (never sent
    to the crowd)."""
    hidden = set(s.scalars(select(SplitAssignment.image_id).where(SplitAssignment.hidden)))
    entries = [
        e
        for e in review.review_queue(s, kind=LABEL_ISSUE)
        if min_score is None or (e.score is not None and e.score >= min_score)
    ]
    # Every label issue's detail at once: the queue may hold tens of thousands.
    details = dict(
        s.execute(select(Finding.id, Finding.detail).where(Finding.kind == LABEL_ISSUE)).all()
    )
    chosen, left_out = [], 0
    for e in entries:
        detail = details.get(e.finding_id) or {}
        if not (detail.get("given") and detail.get("suggested")):
            continue
        if e.image_id in hidden:
            left_out += 1
        elif limit is None or len(chosen) < limit:
            chosen.append(e.finding_id)
    return chosen, left_out
