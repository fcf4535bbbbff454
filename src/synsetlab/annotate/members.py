"""People on the annotation site: who may join a project, their projects, their progress, and
which images their pages may show them.

Joining. Any account may join a project by itself, except a project that asks about images
of the hidden test split (``--include-hidden-test``): a question about one shows its label,
a challenge's answer. Such a project takes annotator accounts only (which may not compete),
and only by invitation (:mod:`synsetlab.annotate.invites`); admins, who hold the answer keys
anyway, may join it too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from synsetlab.annotate.errors import AnnotationForbiddenError, AnnotationNotFoundError
from synsetlab.annotate.projects import NAME_PATTERN, annotator_for, get_project, list_projects
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationItem,
    AnnotationProject,
    AnnotationTask,
    AnnotationTaskItem,
    AnnotationVote,
    Annotator,
    BoxDrawing,
    BoxItem,
    BoxItemStatus,
    BoxTask,
    DrawingStatus,
    ItemStatus,
    ProjectKind,
)
from synsetlab.catalog.challenge import Role, User
from synsetlab.catalog.models import Image, Label, LabelState, SplitAssignment, utcnow

__all__ = [
    "MemberProgress",
    "annotator_of_box_task",
    "annotator_of_task",
    "asks_hidden_test",
    "image_shown_to",
    "join_project",
    "joinable_projects",
    "member_of",
    "member_progress",
    "projects_of",
    "visible_project",
]


def asks_hidden_test(project: AnnotationProject) -> bool:
    """The project asks about images of the hidden test split."""
    return bool(project.options.get("include_hidden_test", False))


def _refusal(project: AnnotationProject, user: User, *, invited: bool) -> str | None:
    """Why ``user`` may not join ``project`` (None: they may)."""
    if not asks_hidden_test(project) or user.role is Role.admin:
        return None
    if user.role is not Role.annotator:
        return (
            f"project {project.slug!r} asks about images of the hidden test split, whose labels "
            "are a challenge's answers: challenge participants may not annotate it (the "
            "organiser can invite an annotator account)"
        )
    if not invited:
        return (
            f"project {project.slug!r} asks about images of the hidden test split: it is open "
            "by invitation only; follow the link of your invitation"
        )
    return None


def join_project(
    s: Session, project: AnnotationProject, user: User, *, invited: bool = False
) -> Annotator:
    """``user``'s annotator in ``project``, created if they may join (see the module's
    docstring); ``invited``: they came with an invitation. :class:`AnnotationForbiddenError`
    says why not. The caller commits."""
    found = s.scalar(
        select(Annotator).where(Annotator.project_id == project.id, Annotator.user_id == user.id)
    )
    if found is not None:
        return found
    reason = _refusal(project, user, invited=invited)
    if reason:
        raise AnnotationForbiddenError(reason)
    # A web account's annotator takes its user name, unless an outside or simulated worker
    # of the project has it: then the account's id tells them apart.
    name = user.name
    taken = select(Annotator.id).where(Annotator.project_id == project.id, Annotator.name == name)
    if s.scalar(taken) is not None or not NAME_PATTERN.fullmatch(name):
        name = f"{user.name[:50]}@user{user.id}"
    return annotator_for(s, project, name=name, user_id=user.id)


def member_of(s: Session, project: AnnotationProject, user_id: int) -> Annotator:
    """The annotator of ``user_id`` in ``project``; :class:`AnnotationForbiddenError` when
    they have not joined it."""
    found = s.scalar(
        select(Annotator).where(Annotator.project_id == project.id, Annotator.user_id == user_id)
    )
    if found is None:
        raise AnnotationForbiddenError(
            f"you are not an annotator of project {project.slug!r}: join it from /annotate "
            "(or with your invitation's link)"
        )
    return found


def annotator_of_task(s: Session, task_id: int, user_id: int) -> Annotator:
    """The annotator of ``user_id`` who was given page ``task_id``: 404 for no such page, 403
    for a page of someone else."""
    task = s.get(AnnotationTask, task_id)
    if task is None:
        raise AnnotationNotFoundError(f"no page {task_id}: ask for your next page")
    found = s.scalar(
        select(Annotator).where(Annotator.id == task.annotator_id, Annotator.user_id == user_id)
    )
    if found is None:
        raise AnnotationForbiddenError(
            f"page {task_id} was issued to another annotator: submit your own pages"
        )
    return found


def projects_of(s: Session, user_id: int) -> list[tuple[AnnotationProject, Annotator]]:
    """The projects ``user_id`` annotates, oldest first, with their annotator in each."""
    rows = s.execute(
        select(AnnotationProject, Annotator)
        .join(Annotator, Annotator.project_id == AnnotationProject.id)
        .where(Annotator.user_id == user_id)
        .order_by(AnnotationProject.id)
    ).all()
    return [(p, a) for p, a in rows]


def joinable_projects(s: Session, user: User) -> list[AnnotationProject]:
    """Projects ``user`` has not joined and may join without an invitation."""
    mine = {p.id for p, _ in projects_of(s, user.id)}
    return [
        p for p in list_projects(s) if p.id not in mine and _refusal(p, user, invited=False) is None
    ]


@dataclass(frozen=True)
class MemberProgress:
    """One annotator's work in one project, as they may see it (no gold accuracy: it would
    tell them, page by page, which questions were gold)."""

    project: str
    annotator: str
    #: ``active`` or ``stopped`` (then ``stop_reason`` says why).
    state: str
    stop_reason: str
    #: Pages answered, answers given, of them faster than a person can look.
    pages: int
    answers: int
    fast: int
    open_pages: int
    #: Questions of the project not decided yet, and of them those they have not answered.
    #: A box project: images not covered yet (any of them may need their task).
    undecided: int
    left_for_you: int
    #: ``labels`` or ``boxes``. A box project counts tasks as pages and answers, and has
    #: its images to box, those covered, boxes accepted, and of them the annotator's.
    kind: str = "labels"
    images: int = 0
    images_covered: int = 0
    boxes_accepted: int = 0
    your_boxes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def waiting(self) -> str:
        """Why no page is there for them now, and what to do."""
        if self.state != "active":
            return f"You were stopped in project {self.project}: {self.stop_reason}"
        if self.kind == "boxes":
            if self.undecided == 0:
                return (
                    f"Every image of project {self.project} is boxed and covered: there is no "
                    "more work."
                )
            return (
                f"No box task for you now: the {self.undecided} images of project "
                f"{self.project} still open wait for other annotators (nobody verifies their "
                "own box), or are on their tasks. Try again in a few minutes."
            )
        if self.undecided == 0:
            return f"Every image of project {self.project} is decided: there is no more work."
        if self.left_for_you == 0:
            return (
                f"You have answered every image of project {self.project} that is still "
                "undecided: there is no more work for you."
            )
        return (
            f"No page for you now: the images of project {self.project} still undecided wait "
            "for other annotators' votes, or are on their pages. Try again in a few minutes."
        )


def member_progress(
    s: Session, project: AnnotationProject, annotator: Annotator, *, now: datetime | None = None
) -> MemberProgress:
    """Where ``annotator`` stands in ``project`` (a label or a box project)."""
    now = now or utcnow()
    if project.kind == ProjectKind.boxes.value:
        return _box_member_progress(s, project, annotator, now)
    mine = AnnotationTask.annotator_id == annotator.id
    pages, open_pages = s.execute(
        select(
            func.count().filter(AnnotationTask.submitted_at.is_not(None)),
            func.count().filter(
                AnnotationTask.submitted_at.is_(None), AnnotationTask.expires_at > now
            ),
        ).where(mine)
    ).one()
    answers, fast = s.execute(
        select(func.count(), func.count().filter(AnnotationVote.fast)).where(
            AnnotationVote.annotator_id == annotator.id, AnnotationVote.propagated.is_(False)
        )
    ).one()
    answered = select(AnnotationVote.item_id).where(AnnotationVote.annotator_id == annotator.id)
    undecided, left = s.execute(
        select(func.count(), func.count().filter(AnnotationItem.id.not_in(answered))).where(
            AnnotationItem.project_id == project.id,
            AnnotationItem.gold.is_(None),
            AnnotationItem.status == ItemStatus.pending,
        )
    ).one()
    return MemberProgress(
        project=project.slug,
        annotator=annotator.name,
        state=annotator.state.value,
        stop_reason=annotator.stop_reason,
        pages=int(pages),
        answers=int(answers),
        fast=int(fast),
        open_pages=int(open_pages),
        undecided=int(undecided),
        left_for_you=int(left),
    )


def _box_member_progress(
    s: Session, project: AnnotationProject, annotator: Annotator, now: datetime
) -> MemberProgress:
    done, open_tasks = s.execute(
        select(
            func.count().filter(BoxTask.submitted_at.is_not(None)),
            func.count().filter(BoxTask.submitted_at.is_(None), BoxTask.expires_at > now),
        ).where(BoxTask.annotator_id == annotator.id)
    ).one()
    images, covered = s.execute(
        select(func.count(), func.count().filter(BoxItem.status == BoxItemStatus.covered)).where(
            BoxItem.project_id == project.id, BoxItem.gold.is_(False)
        )
    ).one()
    accepted, yours = s.execute(
        select(func.count(), func.count().filter(BoxDrawing.annotator_id == annotator.id))
        .join(BoxItem, BoxItem.id == BoxDrawing.item_id)
        .where(
            BoxItem.project_id == project.id,
            BoxItem.gold.is_(False),
            BoxDrawing.status == DrawingStatus.accepted,
        )
    ).one()
    return MemberProgress(
        project=project.slug,
        annotator=annotator.name,
        state=annotator.state.value,
        stop_reason=annotator.stop_reason,
        pages=int(done),
        answers=int(done),
        fast=0,
        open_pages=int(open_tasks),
        undecided=int(images) - int(covered),
        left_for_you=int(images) - int(covered),
        kind=ProjectKind.boxes.value,
        images=int(images),
        images_covered=int(covered),
        boxes_accepted=int(accepted),
        your_boxes=int(yours),
    )


def image_shown_to(s: Session, user_id: int, sha256: str) -> bool:
    """Whether the pages of ``user_id`` show the image of content ``sha256``: a question on
    one of their pages, or a verified example of a synset they were asked about (never one
    of the hidden test split, as :func:`~synsetlab.annotate.assign.task_view` chooses)."""
    theirs = select(Annotator.id).where(Annotator.user_id == user_id)
    on_page = exists(
        select(AnnotationTaskItem.task_id)
        .join(AnnotationTask, AnnotationTask.id == AnnotationTaskItem.task_id)
        .join(AnnotationItem, AnnotationItem.id == AnnotationTaskItem.item_id)
        .join(Image, Image.id == AnnotationItem.image_id)
        .where(AnnotationTask.annotator_id.in_(theirs), Image.sha256 == sha256)
    )
    asked = (
        select(AnnotationClass.wnid)
        .join(AnnotationTask, AnnotationTask.class_id == AnnotationClass.id)
        .where(AnnotationTask.annotator_id.in_(theirs))
    )
    hidden = select(SplitAssignment.image_id).where(SplitAssignment.hidden)
    example = exists(
        select(Label.id)
        .join(Image, Image.id == Label.image_id)
        .where(
            Image.sha256 == sha256,
            Label.state == LabelState.verified,
            Label.wnid.in_(asked),
            Label.image_id.not_in(hidden),
        )
    )
    on_box_task = exists(
        select(BoxTask.id)
        .join(BoxItem, BoxItem.id == BoxTask.item_id)
        .join(Image, Image.id == BoxItem.image_id)
        .where(BoxTask.annotator_id.in_(theirs), Image.sha256 == sha256)
    )
    return bool(s.scalar(select(on_page | example | on_box_task)))


def annotator_of_box_task(s: Session, task_id: int, user_id: int) -> Annotator:
    """The annotator of ``user_id`` who was given box task ``task_id``: 404 for no such
    task, 403 for another annotator's."""
    task = s.get(BoxTask, task_id)
    if task is None:
        raise AnnotationNotFoundError(f"no box task {task_id}: ask for your next task")
    found = s.scalar(
        select(Annotator).where(Annotator.id == task.annotator_id, Annotator.user_id == user_id)
    )
    if found is None:
        raise AnnotationForbiddenError(
            f"box task {task_id} was issued to another annotator: submit your own tasks"
        )
    return found


def visible_project(s: Session, slug: str, user: User) -> AnnotationProject:
    """Project ``slug`` as the site shows it to ``user``. An unknown name is refused naming
    only the projects ``user`` annotates or may join, never one open by invitation only
    (:func:`get_project`'s message, for a curator on the workspace, names every project)."""
    try:
        return get_project(s, slug, list_names=False)
    except AnnotationNotFoundError:
        seen = [p.slug for p, _ in projects_of(s, user.id)]
        seen += [p.slug for p in joinable_projects(s, user)]
        raise AnnotationNotFoundError(
            f"no annotation project {slug!r} among those you annotate or may join "
            f"({', '.join(seen) or 'none'}); a project open by invitation only is joined "
            "with its invitation's link"
        ) from None
