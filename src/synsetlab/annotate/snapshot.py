"""Take the crowd's record about a version at its freeze (:class:`~synsetlab.catalog.crowd.
CrowdSnapshot`): what each project had asked and decided, per class, and about whom.

Per class, the counts come from the outcomes in force (what became label states), not from
dynamic consensus's running statuses: a project aggregated by majority vote, or one that went
on collecting votes after its aggregation, is described by the states its votes wrote.

Agreement is Fleiss' observed agreement, which allows a different number of votes per image:
for each image with ``n >= 2`` counted votes of which ``y`` are yes, the share of its
``n (n - 1) / 2`` pairs of votes that agree, ``(y (y - 1) + (n - y) (n - y - 1)) / (n (n - 1))``,
averaged over those images; kappa compares it with the agreement ``p^2 + (1 - p)^2`` that
votes would reach by chance at the class's share ``p`` of yes votes. Dynamic consensus asks
more people about the images they disagree on, so both read lower than they would for a fixed
number of votes per image.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synsetlab.annotate.outcomes import verified_labels
from synsetlab.annotate.summary import annotation_summary
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationItem,
    AnnotationOutcome,
    AnnotationProject,
    AnnotationVote,
    Annotator,
    AnnotatorState,
)
from synsetlab.catalog.crowd import (
    AnnotatorRecord,
    ClassRecord,
    CrowdSnapshot,
    ProjectRecord,
)
from synsetlab.catalog.models import Label, LabelState, as_utc, utcnow

__all__ = ["POSTERIOR_METHODS", "fleiss_agreement", "snapshot_crowd"]

#: Methods whose posterior estimates P(label right); majority's is its share of yes votes.
POSTERIOR_METHODS = frozenset({"dynamic", "dawid-skene"})


def snapshot_crowd(s: Session, image_ids: Iterable[int], classes: Iterable[str]) -> CrowdSnapshot:
    """What the crowd holds now about a version: its images ``image_ids`` (labelled and
    unlabelled) and its ``classes`` (wnids)."""
    taken_at = _iso_now()
    wanted = set(classes)
    asked: dict[int, list[str]] = defaultdict(list)
    for project_id, wnid in s.execute(select(AnnotationClass.project_id, AnnotationClass.wnid)):
        asked[project_id].append(wnid)
    project_ids = sorted(p for p, wnids in asked.items() if wanted & set(wnids))
    if not project_ids:
        return CrowdSnapshot(taken_at=taken_at)
    projects = {
        p.id: p
        for p in s.scalars(select(AnnotationProject).where(AnnotationProject.id.in_(project_ids)))
    }
    items = s.execute(
        select(
            AnnotationItem.project_id,
            AnnotationItem.wnid,
            AnnotationItem.gold.is_(None),
            AnnotationItem.yes_votes,
            AnnotationItem.no_votes,
        ).where(AnnotationItem.project_id.in_(project_ids))
    ).all()
    decided = _outcomes(s, project_ids)
    verdicts = verified_labels(s, image_ids)
    summary = annotation_summary(s, sorted(wanted))
    records = [
        _project_record(s, projects[p], sorted(asked[p]), items, decided) for p in project_ids
    ]
    slugs = {p: projects[p].slug for p in project_ids}
    return CrowdSnapshot(
        taken_at=taken_at,
        projects=tuple(sorted(records, key=lambda r: r.slug)),
        classes=_class_records(wanted, items, decided, slugs),
        annotators=tuple(
            AnnotatorRecord(
                project=q.project,
                state=q.state,
                stop_reason=q.stop_reason,
                votes=q.votes,
                gold_answers=q.gold_answers,
                gold_accuracy=q.gold_accuracy,
                lower=q.lower,
                upper=q.upper,
                fast_share=q.fast_share,
            )
            for q in summary.quality
        ),
        gold_accuracy=summary.gold_accuracy,
        fast_share=summary.fast_share,
        verified=tuple(verdicts),
    )


def fleiss_agreement(yes: np.ndarray, votes: np.ndarray) -> tuple[float | None, float | None]:
    """Fleiss' observed agreement and kappa of yes/no votes, ``votes[i]`` on image ``i`` of
    which ``yes[i]`` yes (``(n_images,)`` integer arrays; images with under two votes are
    left out). Each is ``None`` where it is undefined (see the module docstring)."""
    yes, votes = np.asarray(yes, dtype=float), np.asarray(votes, dtype=float)
    keep = votes >= 2
    if not keep.any():
        return None, None
    y, n = yes[keep], votes[keep]
    observed = float(np.mean((y * (y - 1) + (n - y) * (n - y - 1)) / (n * (n - 1))))
    p = float(y.sum() / n.sum())
    chance = p * p + (1 - p) * (1 - p)
    kappa = None if chance >= 1.0 else (observed - chance) / (1.0 - chance)
    return observed, kappa


#: (project id, image id, wnid) -> (verified?, method, posterior, written at)
_Decided = dict[tuple[int, int, str], tuple[bool, str, float | None, str]]


def _outcomes(s: Session, project_ids: list[int]) -> _Decided:
    """The outcomes in force of the projects, one per question (its label rows agree); an
    outcome a curator overrode since (the label's state is no longer the one it wrote) is
    not in force, as :func:`verified_labels` has it."""
    rows = s.execute(
        select(
            AnnotationOutcome.project_id,
            Label.image_id,
            Label.wnid,
            AnnotationOutcome.state_after,
            AnnotationOutcome.method,
            AnnotationOutcome.posterior,
            AnnotationOutcome.created_at,
        )
        .join(Label, Label.id == AnnotationOutcome.label_id)
        .where(
            AnnotationOutcome.project_id.in_(project_ids),
            AnnotationOutcome.undone_at.is_(None),
            Label.state == AnnotationOutcome.state_after,
        )
        .order_by(AnnotationOutcome.id)
    )
    return {
        (project, image, wnid): (
            state is LabelState.verified,
            method,
            posterior,
            as_utc(at).isoformat(timespec="seconds"),
        )
        for project, image, wnid, state, method, posterior, at in rows
    }


def _project_record(
    s: Session, p: AnnotationProject, classes: list[str], items: list, decided: _Decided
) -> ProjectRecord:
    mine = [row for row in items if row[0] == p.id]
    outcomes = [v for k, v in decided.items() if k[0] == p.id]
    votes, discounted = s.execute(
        select(func.count(), func.count().filter(Annotator.state == AnnotatorState.stopped))
        .select_from(AnnotationVote)
        .join(Annotator, Annotator.id == AnnotationVote.annotator_id)
        .where(Annotator.project_id == p.id)
    ).one()
    people = Counter(s.scalars(select(Annotator.state).where(Annotator.project_id == p.id)).all())
    methods = sorted({o[1] for o in outcomes})
    return ProjectRecord(
        slug=p.slug,
        created_at=as_utc(p.created_at).isoformat(timespec="seconds"),
        target_precision=p.target_precision,
        max_votes=p.max_votes,
        gold_fraction=p.gold_fraction,
        min_accuracy=p.min_accuracy,
        include_hidden_test=bool((p.options or {}).get("include_hidden_test", False)),
        classes=tuple(classes),
        questions=sum(1 for row in mine if row[2]),
        gold_questions=sum(1 for row in mine if not row[2]),
        votes=int(votes),
        discounted_votes=int(discounted),
        annotators=sum(people.values()),
        stopped=people[AnnotatorState.stopped],
        # One aggregation at a time replaces a project's outcomes: one method, one time.
        method=", ".join(methods) if methods else None,
        aggregated_at=max(o[3] for o in outcomes) if outcomes else None,
        verified=sum(o[0] for o in outcomes),
        rejected=sum(not o[0] for o in outcomes),
    )


def _class_records(
    wanted: set[str], items: list, decided: _Decided, slugs: dict[int, str]
) -> dict[str, ClassRecord]:
    by_class: dict[str, list] = defaultdict(list)
    for project, wnid, candidate, yes, no in items:
        if candidate and wnid in wanted:
            by_class[wnid].append((project, yes, no))
    outcomes: dict[str, list] = defaultdict(list)
    for (_, _, wnid), outcome in decided.items():
        outcomes[wnid].append(outcome)
    records = {}
    for wnid in sorted(by_class):
        rows = by_class[wnid]
        yes = np.array([r[1] for r in rows])
        votes = yes + np.array([r[2] for r in rows])
        mine = outcomes.get(wnid, [])
        estimated = [o[2] for o in mine if o[0] and o[1] in POSTERIOR_METHODS and o[2] is not None]
        agreement, kappa = fleiss_agreement(yes, votes)
        records[wnid] = ClassRecord(
            wnid=wnid,
            projects=tuple(sorted({slugs[r[0]] for r in rows})),
            questions=len(rows),
            verified=sum(o[0] for o in mine),
            rejected=sum(not o[0] for o in mine),
            estimated_precision=float(np.mean(estimated)) if estimated else None,
            votes_per_image=float(votes.mean()),
            agreement=agreement,
            kappa=kappa,
        )
    return records


def _iso_now() -> str:
    return utcnow().isoformat(timespec="seconds")
