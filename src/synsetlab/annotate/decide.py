"""Dynamic consensus over stored votes: each class's table, each question's status.

The arithmetic is :mod:`synsetlab.annotate.consensus`; this module keeps its state in the
catalog. A class's table is estimated once every question of its initial subset has
``initial_votes`` votes, and again whenever an annotator is stopped (their votes no longer
count). Each question is then accepted, rejected or left pending by
:func:`~synsetlab.annotate.consensus.next_actions`; a question of the initial subset is not
decided before it has its ``initial_votes`` votes (the table rests on them). Votes of stopped
annotators are discounted everywhere: ``yes_votes`` and ``no_votes`` count active annotators.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, object_session

from synsetlab.annotate.consensus import (
    ACCEPT,
    REJECT,
    VOTE,
    ConsensusTable,
    Pooled,
    estimate_table,
    fit_independence,
    next_actions,
    posterior,
)
from synsetlab.annotate.votes import make_votes
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationItem,
    AnnotationProject,
    AnnotationVote,
    Annotator,
    AnnotatorState,
    ItemStatus,
)
from synsetlab.catalog.models import utcnow

__all__ = [
    "recount",
    "refresh_class",
    "table_from_json",
    "table_size",
    "table_to_json",
    "vote_values",
]

_STATUS = {ACCEPT: ItemStatus.accepted, REJECT: ItemStatus.rejected, VOTE: ItemStatus.pending}


def table_size(project: AnnotationProject) -> int:
    """The most votes a table covers: the vote limit, or more if the initial subset gets more."""
    return max(project.max_votes, project.initial_votes)


def table_to_json(table: ConsensusTable) -> dict[str, Any]:
    """``table`` as JSON-safe lists (NaN cells as null: PostgreSQL's JSON refuses NaN)."""

    def cells(array: np.ndarray) -> list:
        return np.where(np.isnan(array), None, array).tolist()

    return {
        "p_correct": cells(table.p_correct),
        "counts": cells(table.counts),
        "prevalence": table.prevalence,
        "sensitivity": table.sensitivity,
        "specificity": table.specificity,
        "items": table.items,
        "strength": table.strength,
    }


def table_from_json(data: dict[str, Any]) -> ConsensusTable:
    """The table :func:`table_to_json` wrote."""
    return ConsensusTable(
        p_correct=np.array(data["p_correct"], dtype=float),
        counts=np.array(data["counts"], dtype=float),
        prevalence=float(data["prevalence"]),
        sensitivity=float(data["sensitivity"]),
        specificity=float(data["specificity"]),
        items=int(data["items"]),
        strength=float(data["strength"]),
    )


def recount(s: Session, item_ids: Iterable[int]) -> None:
    """Set ``yes_votes``/``no_votes`` of ``item_ids`` from the votes of active annotators."""
    ids = sorted(set(item_ids))
    if not ids:
        return
    tally: dict[int, tuple[int, int]] = {i: (0, 0) for i in ids}
    for chunk in _chunks(ids):
        query = (
            select(
                AnnotationVote.item_id,
                func.sum(case((AnnotationVote.answer, 1), else_=0)),
                func.sum(case((AnnotationVote.answer, 0), else_=1)),
            )
            .join(Annotator, Annotator.id == AnnotationVote.annotator_id)
            .where(AnnotationVote.item_id.in_(chunk), Annotator.state == AnnotatorState.active)
            .group_by(AnnotationVote.item_id)
        )
        for item_id, yes, no in s.execute(query):
            tally[item_id] = (int(yes), int(no))
    s.execute(
        update(AnnotationItem),
        [{"id": i, "yes_votes": y, "no_votes": n, "value": None} for i, (y, n) in tally.items()],
    )


def refresh_class(
    s: Session,
    project: AnnotationProject,
    klass: AnnotationClass,
    item_ids: Collection[int] | None = None,
    *,
    reestimate: bool = False,
    now: datetime | None = None,
) -> int:
    """Bring ``klass`` up to date after votes changed; returns questions newly decided.

    Estimates the table once the initial subset is complete (or again, with ``reestimate``,
    after votes were discounted), then decides ``item_ids`` (counts already recounted), or
    every question of the class when the table changed.
    """
    now = now or utcnow()
    estimated = False
    # ``estimated_at`` says whether there is a table without reading it (a few kB of JSON).
    has_table = klass.estimated_at is not None
    if (reestimate or not has_table) and (has_table or _subset_complete(s, project, klass)):
        table = _estimate(s, project, klass)
        if table is not None:
            klass.consensus = table_to_json(table)
            klass.estimated_at = now
            estimated = has_table = True
            # A new table values every question of the class anew (annotate.assign).
            s.execute(
                update(AnnotationItem)
                .where(AnnotationItem.class_id == klass.id)
                .values(value=None)
                .execution_options(synchronize_session=False)
            )
    if not has_table:
        return 0
    return _decide(s, project, klass, None if estimated else item_ids, now=now)


def vote_values(
    yes: np.ndarray,
    no: np.ndarray,
    prior: np.ndarray,
    *,
    klass: AnnotationClass,
    project: AnnotationProject,
) -> np.ndarray:
    """``(n,)`` probability that one more vote decides each question (accept or reject).

    ``yes``, ``no``: ``(n,)`` votes so far of questions of ``klass`` (which has a table);
    ``prior``: ``(n,)`` model probabilities, NaN where none. The next vote is yes with
    probability P(right)·sensitivity + P(wrong)·(1 - specificity) under the table's
    independence model.
    """
    grids = _grids(klass, project)
    table = grids.table
    yes, no = _capped(yes, no, table.max_votes - 1)
    out = np.empty(len(yes), dtype=float)
    has = ~np.isnan(prior)
    out[~has] = grids.value[yes[~has], no[~has]]
    if has.any():
        y, n, pr = yes[has], no[has], prior[has]
        p = posterior(y, n, table=table, prior=pr)
        p_yes = p * table.sensitivity + (1.0 - p) * (1.0 - table.specificity)
        after_yes = _prior_actions(y + 1, n, pr, table, project, min_votes=1)
        after_no = _prior_actions(y, n + 1, pr, table, project, min_votes=1)
        out[has] = p_yes * (after_yes != VOTE) + (1.0 - p_yes) * (after_no != VOTE)
    return out


@dataclass(frozen=True)
class _Grids:
    """A table's posterior, actions and vote values at every (yes, no) cell, computed once."""

    table: ConsensusTable
    #: ``(V + 1, V + 1)``: P(correct) and, per ``min_votes``, the action (NaN/None past V).
    posterior: np.ndarray
    actions: dict[int, np.ndarray]
    #: ``(V + 1, V + 1)``: P(one more vote decides); 0 where no vote is left in the table.
    value: np.ndarray


#: Grids by table and options: questions are decided and valued by lookup, since
#: ``next_actions`` searches the whole table on every call. Tables are a few kB each.
_GRIDS: dict[tuple, _Grids] = {}
_GRIDS_KEPT = 1024


def _grids(klass: AnnotationClass, project: AnnotationProject) -> _Grids:
    # A table is estimated at most once per ``estimated_at``; the database's URL tells
    # workspaces apart (class ids repeat across them). The table's JSON is read only on a miss.
    session = object_session(klass)
    key = (
        None if session is None else str(session.get_bind().url),
        klass.id,
        klass.estimated_at,
        project.target_precision,
        project.max_votes,
        project.initial_votes,
    )
    found = _GRIDS.get(key)
    if found is not None:
        return found
    data = klass.consensus or {}
    table = table_from_json(data)
    size = table.max_votes
    y, n = np.indices((size + 1, size + 1))
    inside = y + n <= size
    p = np.full(y.shape, np.nan)
    p[inside] = posterior(y[inside], n[inside], table=table)
    actions = {}
    for min_votes in {1, min(project.initial_votes, project.max_votes)}:
        grid = np.full(y.shape, None, dtype=object)
        grid[inside] = next_actions(
            y[inside],
            n[inside],
            table=table,
            target_precision=project.target_precision,
            max_votes=project.max_votes,
            min_votes=min(min_votes, project.max_votes),
        )
        actions[min_votes] = grid
    value = np.zeros(y.shape)
    room = y + n < size
    after = actions[1]
    p_yes = p[room] * table.sensitivity + (1.0 - p[room]) * (1.0 - table.specificity)
    value[room] = p_yes * (after[y[room] + 1, n[room]] != VOTE) + (1.0 - p_yes) * (
        after[y[room], n[room] + 1] != VOTE
    )
    if len(_GRIDS) >= _GRIDS_KEPT:
        _GRIDS.clear()
    _GRIDS[key] = found = _Grids(table, p, actions, value)
    return found


def _subset_complete(s: Session, project: AnnotationProject, klass: AnnotationClass) -> bool:
    short = s.scalar(
        select(func.count())
        .select_from(AnnotationItem)
        .where(
            AnnotationItem.class_id == klass.id,
            AnnotationItem.initial,
            AnnotationItem.gold.is_(None),
            AnnotationItem.yes_votes + AnnotationItem.no_votes < project.initial_votes,
        )
    )
    return short == 0


def _estimate(
    s: Session, project: AnnotationProject, klass: AnnotationClass
) -> ConsensusTable | None:
    """The class's table from the active annotators' votes on its initial subset, with its
    gold questions' votes anchoring how the crowd answers (see ``estimate_table``'s gold)."""
    rows = s.execute(
        select(
            AnnotationVote.item_id,
            AnnotationVote.annotator_id,
            AnnotationVote.answer,
            AnnotationItem.gold,
        )
        .join(AnnotationItem, AnnotationItem.id == AnnotationVote.item_id)
        .join(Annotator, Annotator.id == AnnotationVote.annotator_id)
        .where(
            AnnotationItem.class_id == klass.id,
            AnnotationItem.initial | AnnotationItem.gold.is_not(None),
            Annotator.state == AnnotatorState.active,
        )
        .order_by(AnnotationVote.id)
    ).all()
    if not any(gold is None for *_, gold in rows):
        return None
    item, worker, answer, gold = zip(*rows, strict=True)
    known = {i: g for i, g in zip(item, gold, strict=True) if g is not None}
    return estimate_table(
        make_votes(item, worker, answer),
        gold=known or None,
        pooled=_pooled(s, project),
        max_votes=table_size(project),
    )


def _pooled(s: Session, project: AnnotationProject) -> Pooled | None:
    """The independence model of the project's initial subsets and gold, every class
    together, from the counted votes: the prior of each class's own fit."""
    rows = s.execute(
        select(AnnotationItem.yes_votes, AnnotationItem.no_votes, AnnotationItem.gold).where(
            AnnotationItem.project_id == project.id,
            AnnotationItem.initial | AnnotationItem.gold.is_not(None),
            AnnotationItem.yes_votes + AnnotationItem.no_votes > 0,
        )
    ).all()
    subset = np.array([(y, n) for y, n, g in rows if g is None], dtype=float).reshape(-1, 2)
    if not len(subset):
        return None
    gold = np.array([(y, n, g) for y, n, g in rows if g is not None], dtype=float).reshape(-1, 3)
    _, params = fit_independence(
        subset[:, 0], subset[:, 1], gold=(gold[:, 0], gold[:, 1], gold[:, 2]) if len(gold) else None
    )
    return Pooled(*params)


def _decide(
    s: Session,
    project: AnnotationProject,
    klass: AnnotationClass,
    item_ids: Collection[int] | None,
    *,
    now: datetime,
) -> int:
    grids = _grids(klass, project)
    table = grids.table
    query = select(
        AnnotationItem.id,
        AnnotationItem.initial,
        AnnotationItem.yes_votes,
        AnnotationItem.no_votes,
        AnnotationItem.prior,
        AnnotationItem.status,
        AnnotationItem.posterior,
    ).where(AnnotationItem.class_id == klass.id, AnnotationItem.gold.is_(None))
    if item_ids is not None:
        if not item_ids:
            return 0
        query = query.where(AnnotationItem.id.in_(sorted(item_ids)))
    rows = s.execute(query).all()
    if not rows:
        return 0
    columns = (np.array(c, dtype=object) for c in zip(*rows, strict=True))
    ids, initial, yes, no, prior, status, old_posterior = columns
    initial = initial.astype(bool)
    yes, no = _capped(yes.astype(int), no.astype(int), table.max_votes)
    prior = np.array([np.nan if p is None else p for p in prior], dtype=float)
    has = ~np.isnan(prior)
    actions = np.empty(len(ids), dtype=object)
    p = np.empty(len(ids), dtype=float)
    p[~has] = grids.posterior[yes[~has], no[~has]]
    if has.any():
        p[has] = posterior(yes[has], no[has], table=table, prior=prior[has])
    for group, min_votes in (
        (initial, min(project.initial_votes, project.max_votes)),
        (~initial, 1),
    ):
        plain = group & ~has
        actions[plain] = grids.actions[min_votes][yes[plain], no[plain]]
        given = group & has
        if given.any():
            actions[given] = _prior_actions(
                yes[given], no[given], prior[given], table, project, min_votes=min_votes
            )
    changes, decided = [], 0
    for i in range(len(ids)):
        new = _STATUS[actions[i]]
        if (
            new is status[i]
            and old_posterior[i] is not None
            and abs(old_posterior[i] - p[i]) < 1e-12
        ):
            continue
        change = {"id": int(ids[i]), "status": new, "posterior": float(p[i])}
        if new is not status[i]:
            change["decided_at"] = None if new is ItemStatus.pending else now
            decided += new is not ItemStatus.pending
        changes.append(change)
    if changes:
        # One statement per key set: executemany needs the same columns in every row.
        for keys in ({"id", "status", "posterior"}, {"id", "status", "posterior", "decided_at"}):
            batch = [c for c in changes if set(c) == keys]
            if batch:
                s.execute(update(AnnotationItem), batch)
    return decided


def _prior_actions(
    yes: np.ndarray,
    no: np.ndarray,
    prior: np.ndarray,
    table: ConsensusTable,
    project: AnnotationProject,
    *,
    min_votes: int,
) -> np.ndarray:
    """next_actions of questions that each have a model prior."""
    return next_actions(
        yes,
        no,
        table=table,
        target_precision=project.target_precision,
        max_votes=project.max_votes,
        min_votes=min(min_votes, project.max_votes),
        prior=prior,
    )


def _capped(yes: np.ndarray, no: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts scaled into the table where a question has more votes than it covers (a yes
    carried up from a descendant can add one past the limit): same share of yes."""
    yes, no = np.asarray(yes, dtype=int), np.asarray(no, dtype=int)
    total = yes + no
    over = total > size
    if over.any():
        scaled = np.rint(yes[over] * size / total[over]).astype(int)
        yes, no = yes.copy(), no.copy()
        yes[over], no[over] = scaled, size - scaled
    return yes, no


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    """Slices of ``ids`` small enough for one ``IN (...)`` on any database."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
