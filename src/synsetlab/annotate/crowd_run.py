"""A simulated crowd working on a catalog project through :func:`next_task` and
:func:`submit_task`, the functions a server's routes call, many workers interleaved.

Each round, every active worker asks for a page (in a seeded random order), then every worker
answers and submits the page they got: pages are open at the same time, as on a busy site.
Rounds go on until no worker gets a page (every question decided, or none left that a worker
has not answered) or the vote budget is spent. Each call runs in its own transaction, as
each request would.

The crowd needs each question's truth. :func:`catalog_truth` takes it from a synthetic
source's ``truth.json`` where the images came from one, and otherwise trusts the source's
label (the crowd then tests the procedure, not the labels); gold questions keep their answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synsetlab.annotate.assign import next_task
from synsetlab.annotate.crowd import SimulatedCrowd
from synsetlab.annotate.errors import AnnotationError, AnnotationForbiddenError
from synsetlab.annotate.projects import annotator_for, get_project
from synsetlab.annotate.submit import submit_task
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationItem,
    AnnotationVote,
    ItemStatus,
)
from synsetlab.catalog.models import Image, Source
from synsetlab.workspace import Workspace

__all__ = ["CrowdRun", "Truth", "catalog_truth", "simulate_project"]

#: Prefix of the simulated workers' annotator names, apart from people's.
SIMULATED = "sim-"
#: Workers in a row who find no page before a round stops asking.
IDLE_STREAK = 5


@dataclass(frozen=True)
class Truth:
    """Each question's truth, as far as the catalog knows it."""

    #: Question id -> the candidate label (or gold answer) is right.
    right: dict[int, bool]
    #: Candidate questions whose truth came from a synthetic source's record (the rest were
    #: taken as right).
    recorded: int


@dataclass
class CrowdRun:
    """What :func:`simulate_project` did, and how the decisions compare with the truth."""

    rounds: int = 0
    pages: int = 0
    #: Answers given, gold included, and of them on gold questions.
    votes: int = 0
    gold_votes: int = 0
    fast_votes: int = 0
    #: Simulated workers stopped for their gold answers (annotator names).
    stopped: list[str] = field(default_factory=list)
    #: Candidate questions, and how they stand after the run.
    questions: int = 0
    accepted: int = 0
    rejected: int = 0
    pending: int = 0
    #: Against the truth: accepted questions whose label is right, wrong labels rejected,
    #: wrong labels in all.
    accepted_right: int = 0
    wrong_rejected: int = 0
    wrong: int = 0
    #: The budget ran out before every question was decided.
    out_of_budget: bool = False

    @property
    def precision(self) -> float:
        """Share of accepted labels that are right (NaN when none accepted)."""
        return self.accepted_right / self.accepted if self.accepted else float("nan")

    @property
    def votes_per_image(self) -> float:
        """Answers on candidate questions per candidate question."""
        return (self.votes - self.gold_votes) / self.questions if self.questions else float("nan")


def catalog_truth(ws: Workspace, project: str) -> Truth:
    """The truth of ``project``'s questions: synthetic sources' records, else the label.

    A question about synset S of an image whose true class is T is right when T is S or a
    descendant of S (a beagle is a dog).
    """
    from synsetlab.synthetic import load_truth

    with ws.session() as s:
        p = get_project(s, project)
        rows = s.execute(
            select(
                AnnotationItem.id,
                AnnotationItem.wnid,
                AnnotationItem.gold,
                Image.source_key,
                Source.uri,
            )
            .join(Image, Image.id == AnnotationItem.image_id)
            .join(Source, Source.id == Image.source_id)
            .where(AnnotationItem.project_id == p.id)
        ).all()
        # Ancestors among the project's classes answer most questions without WordNet.
        known_ancestors = {
            wnid: set(ancestors)
            for wnid, ancestors in s.execute(
                select(AnnotationClass.wnid, AnnotationClass.ancestors).where(
                    AnnotationClass.project_id == p.id
                )
            )
        }
    taxonomy = None
    records: dict[str, dict[str, str | None] | None] = {}
    right: dict[int, bool] = {}
    recorded = 0
    for item_id, wnid, gold, key, uri in rows:
        if uri not in records:
            folder = Path(uri).parent
            records[uri] = (
                {f.path: f.true_wnid for f in load_truth(folder).files}
                if (folder / "truth.json").is_file()
                else None
            )
        true_wnid = (records[uri] or {}).get(key)
        if true_wnid is None:
            right[item_id] = True if gold is None else bool(gold)
            continue
        if true_wnid == wnid:
            right[item_id] = True
        elif true_wnid in known_ancestors:
            right[item_id] = wnid in known_ancestors[true_wnid]
        else:
            taxonomy = taxonomy or ws.taxonomy()
            right[item_id] = true_wnid in taxonomy and wnid in taxonomy.ancestors(true_wnid)
        recorded += gold is None
    return Truth(right, recorded)


def simulate_project(
    ws: Workspace,
    project: str,
    crowd: SimulatedCrowd,
    truth: Mapping[int, bool],
    *,
    difficulty: float = 0.0,
    budget: int | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> CrowdRun:
    """Let ``crowd`` answer ``project``'s pages until every question is decided, no worker is
    left for the rest, or ``budget`` answers are given; ``truth``: question id -> right.

    ``on_progress(n, total)`` is told of questions newly decided after each round.
    """
    if budget is not None and budget < 1:
        raise AnnotationError(f"budget {budget}: give at least one answer")
    with ws.session() as s:
        p = get_project(s, project)
        if len(crowd.ids) < p.initial_votes:
            raise AnnotationError(
                f"{len(crowd.ids)} workers, but each image of the initial subset needs "
                f"{p.initial_votes} votes from different people: simulate at least "
                f"{p.initial_votes} workers"
            )
        ids = {w: annotator_for(s, p, name=SIMULATED + w).id for w in crowd.ids}
        _, candidates, everything = _count(s, p.id)
    missing = set(everything) - set(truth)
    if missing:
        raise AnnotationError(f"no truth for {len(missing)} question(s), e.g. {min(missing)}")
    rng = np.random.default_rng(crowd.config.seed)
    run = CrowdRun(questions=candidates)
    active = list(crowd.ids)
    decided = 0
    if on_progress:
        on_progress(0, run.questions)
    while active:
        pages = []
        idle = 0
        for w in [active[i] for i in rng.permutation(len(active))]:
            if budget is not None and run.votes >= budget:
                run.out_of_budget = True
                break
            with ws.session() as s:
                try:
                    task = next_task(s, project, ids[w])
                except AnnotationForbiddenError:  # stopped since the last round
                    active.remove(w)
                    continue
            if task is not None:
                pages.append((w, task))
                run.votes += len(task.images)
                idle = 0
            else:
                idle += 1
                # The open pages hold what is left: the others wait for the next round,
                # unless nobody got a page yet (then everyone is asked, before giving up).
                if pages and idle == IDLE_STREAK:
                    break
        if not pages:
            break
        run.rounds += 1
        for w, task in pages:
            items = task.item_ids
            answers = crowd.answer(
                w, np.array([truth[i] for i in items], dtype=bool), difficulty=difficulty
            )
            with ws.session() as s:
                done = submit_task(
                    s,
                    task.id,
                    ids[w],
                    dict(zip(items, answers.labels.tolist(), strict=True)),
                    client_seconds=dict(zip(items, answers.seconds.tolist(), strict=True)),
                )
            run.pages += 1
            run.fast_votes += done.fast
            if done.stopped:
                run.stopped.append(SIMULATED + w)
                active.remove(w)
        with ws.session() as s:
            now_decided = _decided(s, p.id)
        if on_progress and now_decided != decided:
            on_progress(now_decided - decided, run.questions)
        decided = now_decided
        if run.out_of_budget:
            break
    with ws.session() as s:
        _score(s, p.id, list(ids.values()), truth, run)
    return run


def _count(s: Session, project_id: int) -> tuple[int, int, list[int]]:
    """(decided candidate questions, candidate questions, every question id) of a project."""
    rows = s.execute(
        select(AnnotationItem.id, AnnotationItem.gold, AnnotationItem.status).where(
            AnnotationItem.project_id == project_id
        )
    ).all()
    candidates = [status for _, gold, status in rows if gold is None]
    decided = sum(status is not ItemStatus.pending for status in candidates)
    return decided, len(candidates), [item_id for item_id, _, _ in rows]


def _decided(s: Session, project_id: int) -> int:
    """Candidate questions of a project decided so far (counted by the database: a round's
    check must not read every question)."""
    return s.scalar(
        select(func.count()).where(
            AnnotationItem.project_id == project_id,
            AnnotationItem.gold.is_(None),
            AnnotationItem.status != ItemStatus.pending,
        )
    )


def _score(
    s: Session, project_id: int, workers: list[int], truth: Mapping[int, bool], run: CrowdRun
) -> None:
    rows = s.execute(
        select(AnnotationItem.id, AnnotationItem.status).where(
            AnnotationItem.project_id == project_id, AnnotationItem.gold.is_(None)
        )
    ).all()
    for item_id, status in rows:
        right = truth[item_id]
        run.wrong += not right
        if status is ItemStatus.accepted:
            run.accepted += 1
            run.accepted_right += right
        elif status is ItemStatus.rejected:
            run.rejected += 1
            run.wrong_rejected += not right
        else:
            run.pending += 1
    # Counted from what was stored: the simulated workers' answers (carried-up yes excluded).
    on_gold = AnnotationItem.gold.is_not(None)
    votes, gold = s.execute(
        select(func.count(), func.count().filter(on_gold))
        .select_from(AnnotationVote)
        .join(AnnotationItem, AnnotationItem.id == AnnotationVote.item_id)
        .where(AnnotationVote.annotator_id.in_(workers), AnnotationVote.propagated.is_(False))
    ).one()
    run.votes, run.gold_votes = int(votes), int(gold)
