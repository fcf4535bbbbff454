"""Pages of work: :func:`next_task` gives an annotator the questions where a vote is worth most.

Order of value, per question the annotator has not answered yet:

1. the initial subset of each class, until it has its ``initial_votes`` votes (its table
   decides every other question of the class), the questions furthest from that first;
2. once the class's table exists, each undecided question by the probability that one more
   vote decides it (:func:`~synsetlab.annotate.decide.vote_values`), so that votes go where
   they settle something.

Decided questions are never handed out, and no question reaches the same annotator twice:
answered ones (a yes carried up from a descendant synset counts) and those on the annotator's
open pages are left out. An annotator has one open page, or two while a client fetches the
next page ahead (``besides``) so that it shows as soon as the current one is sent. A
question past the subset is on at most one open page at a time (the next decision depends on
each vote), a subset question on as many as it still needs votes.

A page holds questions of one synset (the page asks "select every image that shows a <lemma>:
<gloss>"), with gold questions of that synset mixed in at the project's gold share, in a
shuffled order. A page stays open ``task_minutes``; after that its questions are free again.

Each question's value is stored (``AnnotationItem.value``, NULL when its votes, prior or
table changed) and indexed, so a page reads a window of the best questions instead of the
whole project: issuing a page costs about the same at 60,000 questions as at 600.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Row, Select, func, insert, select, update
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from synsetlab.annotate.decide import vote_values
from synsetlab.annotate.errors import (
    AnnotationError,
    AnnotationForbiddenError,
    AnnotationNotFoundError,
)
from synsetlab.annotate.projects import EXAMPLES, get_project
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationItem,
    AnnotationProject,
    AnnotationTask,
    AnnotationTaskItem,
    AnnotationVote,
    Annotator,
    AnnotatorState,
    ItemStatus,
)
from synsetlab.catalog.models import Image, Label, LabelState, SplitAssignment, as_utc, utcnow

__all__ = [
    "PageImage",
    "Task",
    "lock_project",
    "lock_project_named",
    "next_task",
    "task_view",
]


@dataclass(frozen=True)
class PageImage:
    """One image of a page: the question's id (what an answer names) and the image."""

    item_id: int
    image_id: int
    sha256: str


@dataclass(frozen=True)
class Task:
    """One page for one annotator. Gold questions are not marked: they look like the rest."""

    id: int
    project: str
    annotator_id: int
    wnid: str
    #: The synset's lemmas, usual name first, and its gloss.
    lemmas: tuple[str, ...]
    gloss: str
    #: The questions, in the order to show them.
    images: tuple[PageImage, ...]
    #: Verified images of the synset, for reference (``item_id`` 0: not questions).
    examples: tuple[PageImage, ...]
    issued_at: datetime
    expires_at: datetime

    @property
    def question(self) -> str:
        """What the page asks."""
        return f"Select every image that shows a {self.lemmas[0]}: {self.gloss}"

    @property
    def item_ids(self) -> list[int]:
        return [image.item_id for image in self.images]


def lock_project(s: Session, project: AnnotationProject) -> None:
    """Take the project's row lock for the rest of the transaction.

    Issuing and submitting pages write counts, decisions and tables that depend on each
    other; one writer per project at a time keeps them consistent. SQLite has one writer
    anyway (and a first statement that writes makes the transaction take it at once, instead
    of failing to upgrade a read); on PostgreSQL this is the row lock that does the same.
    """
    revision = s.execute(
        update(AnnotationProject)
        .where(AnnotationProject.id == project.id)
        .values(revision=AnnotationProject.revision + 1)
        .returning(AnnotationProject.revision)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(project, "revision", revision)


def lock_project_named(s: Session, slug: str) -> AnnotationProject:
    """:func:`lock_project` by name, loading the project in the same statement."""
    project = s.scalar(
        update(AnnotationProject)
        .where(AnnotationProject.slug == slug)
        .values(revision=AnnotationProject.revision + 1)
        .returning(AnnotationProject)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if project is None:
        get_project(s, slug)  # raises, naming the projects there are
    assert project is not None
    return project


def next_task(
    s: Session,
    project: str | AnnotationProject,
    annotator: Annotator | int,
    *,
    now: datetime | None = None,
    besides: int | None = None,
) -> Task | None:
    """The annotator's open page, else a new one; ``None`` when nothing is left for them now.

    ``besides``: a page the annotator has open (the one they are answering): another page is
    returned, their other open one or a new one without its questions, so that a client can
    fetch the next page ahead. An annotator thus holds at most two open pages.

    Refused: an unknown project or annotator, an annotator of another project, a stopped
    annotator (:class:`AnnotationForbiddenError`). The caller commits.
    """
    now = now or utcnow()
    if isinstance(project, str):
        project = lock_project_named(s, project)
    else:
        lock_project(s, project)
    if project.kind == "boxes":
        raise AnnotationError(
            f"project {project.slug!r} is a box project: ask for box tasks (next_box_task, "
            f"GET /api/annotate/projects/{project.slug}/boxes/next)"
        )
    person = _annotator(s, project, annotator)
    is_open = [
        AnnotationTask.annotator_id == person.id,
        AnnotationTask.project_id == project.id,
        AnnotationTask.submitted_at.is_(None),
        AnnotationTask.expires_at > now,
    ]
    if besides is not None:
        is_open.append(AnnotationTask.id != besides)
    open_task = s.scalar(
        select(AnnotationTask).where(*is_open).order_by(AnnotationTask.id.desc()).limit(1)
    )
    if open_task is not None:
        return task_view(s, open_task, project)

    rng = np.random.default_rng([project.seed, project.revision])
    chosen = _choose(s, project, person, rng, now)
    if chosen is None:
        return None
    klass, real = chosen
    gold = _gold_for(s, project, person, klass, len(real), rng, now)
    order = [*real, *gold]
    order = [order[i] for i in rng.permutation(len(order))]
    task = AnnotationTask(
        project_id=project.id,
        annotator_id=person.id,
        class_id=klass.id,
        issued_at=now,
        expires_at=now + timedelta(minutes=project.task_minutes),
    )
    s.add(task)
    s.flush()
    s.execute(
        insert(AnnotationTaskItem),
        [{"task_id": task.id, "item_id": i, "position": p} for p, i in enumerate(order)],
    )
    return task_view(s, task, project)


def task_view(s: Session, task: AnnotationTask, project: AnnotationProject) -> Task:
    """The page ``task`` as an annotator sees it."""
    klass = s.get(AnnotationClass, task.class_id)
    assert klass is not None
    rows = s.execute(
        select(AnnotationTaskItem.item_id, AnnotationItem.image_id, Image.sha256)
        .join(AnnotationItem, AnnotationItem.id == AnnotationTaskItem.item_id)
        .join(Image, Image.id == AnnotationItem.image_id)
        .where(AnnotationTaskItem.task_id == task.id)
        .order_by(AnnotationTaskItem.position)
    ).all()
    images = tuple(PageImage(*row) for row in rows)
    shown = {image.image_id for image in images}
    # Examples are never questions: no image of the page, and no gold question of the class
    # (an example would give its answer away).
    hidden = select(SplitAssignment.image_id).where(SplitAssignment.hidden)
    gold = select(AnnotationItem.image_id).where(
        AnnotationItem.class_id == klass.id, AnnotationItem.gold.is_not(None)
    )
    verified = s.execute(
        select(Label.image_id, Image.sha256)
        .join(Image, Image.id == Label.image_id)
        .where(
            Label.wnid == klass.wnid,
            Label.state == LabelState.verified,
            Label.image_id.not_in(hidden),
            Label.image_id.not_in(gold),
        )
        .order_by(Label.image_id)
        .limit(EXAMPLES + len(shown))
    ).all()
    examples = [PageImage(0, i, sha) for i, sha in dict(verified).items() if i not in shown]
    return Task(
        id=task.id,
        project=project.slug,
        annotator_id=task.annotator_id,
        wnid=klass.wnid,
        lemmas=tuple(klass.lemmas.split("; ")),
        gloss=klass.gloss,
        images=images,
        examples=tuple(examples[:EXAMPLES]),
        issued_at=as_utc(task.issued_at),
        expires_at=as_utc(task.expires_at),
    )


def _annotator(s: Session, project: AnnotationProject, annotator: Annotator | int) -> Annotator:
    person = s.get(
        Annotator,
        annotator if isinstance(annotator, int) else annotator.id,
        populate_existing=True,  # read under the lock: it may have been stopped just now
    )
    if person is None or person.project_id != project.id:
        raise AnnotationNotFoundError(
            f"annotator {annotator if isinstance(annotator, int) else annotator.name!r} is not "
            f"part of project {project.slug!r}"
        )
    if person.state is AnnotatorState.stopped:
        raise AnnotationForbiddenError(
            f"annotator {person.name!r} was stopped in project {project.slug!r}: "
            f"{person.stop_reason}"
        )
    return person


def _choose(
    s: Session,
    project: AnnotationProject,
    person: Annotator,
    rng: np.random.Generator,
    now: datetime,
) -> tuple[AnnotationClass, list[int]] | None:
    """The class of the page and its questions (without gold), best first; None if none.

    Questions are read best value first through the queue index, a window at a time, so a
    page costs about the same on a project of 60,000 questions as on one of 600: the class is
    that of the best question this annotator may get, then the class's best questions fill
    the page.
    """
    _revalue(s, project)
    answered, on_open_pages = _answered_or_open(person, now)
    mine = (
        select(
            AnnotationItem.id,
            AnnotationItem.class_id,
            AnnotationItem.initial,
            AnnotationItem.yes_votes + AnnotationItem.no_votes,
            AnnotationItem.value,
        )
        .where(
            AnnotationItem.project_id == project.id,
            AnnotationItem.status == ItemStatus.pending,
            AnnotationItem.value >= 0,
            AnnotationItem.gold.is_(None),
            AnnotationItem.id.not_in(answered),
            AnnotationItem.id.not_in(on_open_pages),
        )
        .order_by(AnnotationItem.value.desc(), AnnotationItem.id)
    )
    if not project.options.get("include_hidden_test", False):
        # A split run after the project was made may have put its images in the hidden test
        # split: the page's question would show their label, a challenge's answer.
        mine = mine.where(AnnotationItem.image_id.not_in(_hidden_test()))
    wanted = _real_slots(project, rng)
    # The best question's window usually holds the page: read the class alone if not.
    best = _free(s, project, mine, wanted, now, same_class=True)
    if not best:
        return None
    class_id = best[0][1]
    if len(best) < wanted:
        best = _free(s, project, mine.where(AnnotationItem.class_id == class_id), wanted, now)
    klass = s.scalar(
        select(AnnotationClass)
        .where(AnnotationClass.id == class_id)
        .options(defer(AnnotationClass.consensus), defer(AnnotationClass.ancestors))
    )
    assert klass is not None
    return klass, [int(row[0]) for row in best]


#: Questions read per window of the queue, at least (more for large pages).
WINDOW = 64


def _free(
    s: Session,
    project: AnnotationProject,
    query: Select,
    wanted: int,
    now: datetime,
    *,
    same_class: bool = False,
) -> list[Row]:
    """The first ``wanted`` rows of ``query`` (best value first) that open pages leave free;
    with ``same_class``, only those of the first one's class, and no more than the first
    window holds.

    A subset question short of ``initial_votes`` is free while its votes and open pages stay
    under that; any other question while no open page holds it (the next decision depends on
    its vote).
    """
    size = max(WINDOW, 4 * wanted)
    out: list[Row] = []
    offset = 0
    connection = s.connection()  # plain rows: the ORM's per-row work is not needed
    while len(out) < wanted:
        rows = connection.execute(query.limit(size).offset(offset)).all()
        flying = _flying(s, project, [row[0] for row in rows], now)
        for row in rows:
            item_id, class_id, initial, votes, _ = row
            if same_class and out and class_id != out[0][1]:
                continue
            pages = flying.get(item_id, 0)
            short = initial and votes < project.initial_votes
            if (votes + pages < project.initial_votes) if short else pages == 0:
                out.append(row)
                if len(out) == wanted:
                    break
        if len(rows) < size or (same_class and out):
            break
        offset += size
        size *= 2
    return out


def _flying(s: Session, project: AnnotationProject, ids: list[int], now: datetime) -> dict:
    """Open pages holding each of ``ids`` (question id -> pages; absent: none)."""
    if not ids:
        return {}
    return dict(
        s.connection()
        .execute(
            select(AnnotationTaskItem.item_id, func.count())
            .join(AnnotationTask, AnnotationTask.id == AnnotationTaskItem.task_id)
            .where(
                AnnotationTask.project_id == project.id,
                AnnotationTask.submitted_at.is_(None),
                AnnotationTask.expires_at > now,
                AnnotationTaskItem.item_id.in_(ids),
            )
            .group_by(AnnotationTaskItem.item_id)
        )
        .all()
    )


def _revalue(s: Session, project: AnnotationProject) -> None:
    """Compute the stale (NULL) values of the project's pending questions.

    Whatever changes a question's votes, prior or class table sets its value to NULL; the
    next page computes those here, under the project's lock, so the stored order is never
    older than the votes. Values: ``1 + share of its votes still missing`` for a subset
    question short of ``initial_votes`` (the subset comes first: its table decides the
    rest), else the chance that one more vote decides it (:func:`vote_values`), or -1 while
    its class has no table.
    """
    rows = (
        s.connection()
        .execute(
            select(
                AnnotationItem.id,
                AnnotationItem.class_id,
                AnnotationItem.initial,
                AnnotationItem.yes_votes,
                AnnotationItem.no_votes,
                AnnotationItem.prior,
            ).where(
                AnnotationItem.project_id == project.id,
                AnnotationItem.status == ItemStatus.pending,
                AnnotationItem.value.is_(None),
                AnnotationItem.gold.is_(None),
            )
        )
        .all()
    )
    if not rows:
        return
    ids, class_of, initial, yes, no = (
        np.array(column, dtype=int) for column in list(zip(*rows, strict=True))[:5]
    )
    prior = np.array([np.nan if r[5] is None else r[5] for r in rows], dtype=float)
    votes = yes + no
    value = np.full(len(ids), -1.0)
    short = initial.astype(bool) & (votes < project.initial_votes)
    value[short] = 1.0 + (project.initial_votes - votes[short]) / project.initial_votes
    classes = s.scalars(
        select(AnnotationClass).where(
            AnnotationClass.id.in_(np.unique(class_of).tolist()),
            AnnotationClass.estimated_at.is_not(None),
        )
    )
    for klass in classes:
        rest = (class_of == klass.id) & ~short
        if rest.any():
            value[rest] = vote_values(
                yes[rest], no[rest], prior[rest], klass=klass, project=project
            )
    # Equal values (every unvoted question of a class, say) are put in a fixed order drawn
    # from the project's seed, below any difference that matters, so that the index hands
    # them out spread over the class rather than by id.
    value += TIE_JITTER * ((ids * _GOLDEN + project.seed * _PLASTIC) % 1.0)
    s.execute(
        update(AnnotationItem),
        [{"id": int(i), "value": float(v)} for i, v in zip(ids, value, strict=True)],
    )


#: Size of the order among equal values; values closer than this are equal for assignment.
TIE_JITTER = 1e-6
#: Fractional parts of the golden and plastic ratios: consecutive ids land far apart.
_GOLDEN, _PLASTIC = 0.6180339887498949, 0.3247179572447460


def _answered_or_open(person: Annotator, now: datetime) -> tuple[Select, Select]:
    """The questions ``person`` answered, and those on their open pages (a page fetched
    ahead must not repeat the one being answered)."""
    answered = select(AnnotationVote.item_id).where(AnnotationVote.annotator_id == person.id)
    on_open_pages = (
        select(AnnotationTaskItem.item_id)
        .join(AnnotationTask, AnnotationTask.id == AnnotationTaskItem.task_id)
        .where(
            AnnotationTask.annotator_id == person.id,
            AnnotationTask.submitted_at.is_(None),
            AnnotationTask.expires_at > now,
        )
    )
    return answered, on_open_pages


def _hidden_test() -> Select:
    """Images of the hidden test split, now."""
    return select(SplitAssignment.image_id).where(SplitAssignment.hidden)


def _real_slots(project: AnnotationProject, rng: np.random.Generator) -> int:
    """Questions to verify on a full page: the page less its gold, the fraction of a gold
    slot drawn at random so that gold is the project's share of answers on average."""
    gold = project.page_size * project.gold_fraction
    gold_slots = math.floor(gold + rng.random())
    return max(1, project.page_size - gold_slots)


def _gold_for(
    s: Session,
    project: AnnotationProject,
    person: Annotator,
    klass: AnnotationClass,
    real: int,
    rng: np.random.Generator,
    now: datetime,
) -> list[int]:
    """Gold questions of ``klass`` the annotator has not answered, gold/(1 - gold) per real
    question (a fraction drawn at random), known positives and negatives alike."""
    share = project.gold_fraction
    if share <= 0:
        return []
    count = math.floor(real * share / (1.0 - share) + rng.random())
    if count == 0:
        return []
    answered = _answered_or_open(person, now)
    query = select(AnnotationItem.id, AnnotationItem.gold).where(
        AnnotationItem.class_id == klass.id,
        AnnotationItem.gold.is_not(None),
        AnnotationItem.id.not_in(answered[0]),
        AnnotationItem.id.not_in(answered[1]),
    )
    if not project.options.get("include_hidden_test", False):
        query = query.where(AnnotationItem.image_id.not_in(_hidden_test()))
    pool = s.execute(query).all()
    if not pool:
        return []
    # Each gold question is a known positive or a known negative with equal chance, when the
    # class has both: an annotator who answers "no" to everything must not pass.
    by_answer = {True: [i for i, g in pool if g], False: [i for i, g in pool if not g]}
    chosen = []
    for _ in range(count):
        kinds = [k for k, ids in by_answer.items() if ids]
        if not kinds:
            break
        kind = kinds[int(rng.integers(len(kinds)))]
        ids = by_answer[kind]
        chosen.append(ids.pop(int(rng.integers(len(ids)))))
    return chosen
