"""The annotation API (``/api/annotate``): an annotator's projects, next page, answers and
progress; and the thumbnails their pages show (``/annotate/thumbs``).

Any account may call it (annotator accounts can call nothing else), by API token or by the
``/annotate`` page's session cookie with its CSRF header. Which projects and pages a caller
may work on is the library's rule (:mod:`synsetlab.annotate.members`); a page is submitted
idempotently (:func:`synsetlab.annotate.submit.submit_task`), so a client may retry a PUT
whose answer it did not get.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from synsetlab.annotate.assign import PageImage, Task, next_task
from synsetlab.annotate.box_assign import BoxTaskView, next_box_task
from synsetlab.annotate.box_submit import submit_box_task
from synsetlab.annotate.errors import AnnotationConflictError, AnnotationNotFoundError
from synsetlab.annotate.invites import check_invite, redeem_invite
from synsetlab.annotate.members import (
    annotator_of_box_task,
    annotator_of_task,
    image_shown_to,
    join_project,
    joinable_projects,
    member_of,
    member_progress,
    projects_of,
    visible_project,
)
from synsetlab.annotate.submit import submit_task
from synsetlab.catalog.annotation import AnnotationProject
from synsetlab.challenge import accounts
from synsetlab.curate.review import THUMB_MAX, THUMB_MIN
from synsetlab.server.api import review as review_api
from synsetlab.server.deps import AnnotateMember, WorkspaceDep

router = APIRouter(prefix="/api/annotate", tags=["annotate"])
#: Outside ``/api``: the page's <img>s load with its cookie.
thumbs_router = APIRouter(include_in_schema=False)

#: Thumbnail sizes (px a side) of a page's questions and of its examples.
THUMB = 192
EXAMPLE_THUMB = 112


class JoinIn(BaseModel):
    #: An invitation's code; needed for projects that ask about hidden test images.
    code: str | None = Field(default=None, max_length=128)


class AnswersIn(BaseModel):
    #: Question id (as JSON keys are: a string) -> yes (true) or no (false), each question of
    #: the page once. Checked by the library, which names what does not fit.
    answers: dict[str, Any]
    #: Seconds the annotator spent: on the whole page, or per question id.
    seconds: float | dict[str, float] | None = None


def thumb_url(sha256: str, size: int) -> str:
    return f"/annotate/thumbs/{sha256}?size={size}"


def _image(image: PageImage, size: int, *, question: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"sha256": image.sha256, "thumb": thumb_url(image.sha256, size)}
    return {"item_id": image.item_id, **out} if question else out


def task_json(task: Task) -> dict[str, Any]:
    """A page as the API shows it: no image id, nothing that tells gold from the rest."""
    return {
        "id": task.id,
        "project": task.project,
        "wnid": task.wnid,
        "lemmas": list(task.lemmas),
        "gloss": task.gloss,
        "question": task.question,
        "images": [_image(i, THUMB, question=True) for i in task.images],
        "examples": [_image(i, EXAMPLE_THUMB, question=False) for i in task.examples],
        "issued_at": task.issued_at.isoformat(),
        "expires_at": task.expires_at.isoformat(),
    }


def _project_json(p: AnnotationProject) -> dict[str, Any]:
    return {
        "project": p.slug,
        "kind": p.kind,
        "classes": [
            {"wnid": c.wnid, "name": c.lemmas.split("; ")[0], "gloss": c.gloss} for c in p.classes
        ],
    }


@router.get("/projects")
def projects(who: AnnotateMember, ws: WorkspaceDep) -> dict[str, Any]:
    """The projects you annotate, with your progress, and those you may join.

    Response: ``{"projects": [{"project", "kind": "labels"|"boxes", "classes": [{"wnid",
    "name", "gloss"}], "progress": PROGRESS}], "joinable": [{"project", "kind",
    "classes"}]}``; PROGRESS as ``/projects/{slug}/progress`` gives it.
    """
    with ws.session() as s:
        mine = [
            {**_project_json(p), "progress": member_progress(s, p, a).to_dict()}
            for p, a in projects_of(s, who.user_id)
        ]
        user = accounts.get_user(s, who.user_id)
        others = [_project_json(p) for p in joinable_projects(s, user)]
    return {"projects": mine, "joinable": others}


@router.post("/projects/{slug}/join", status_code=status.HTTP_201_CREATED)
def join(slug: str, body: JoinIn, who: AnnotateMember, ws: WorkspaceDep) -> dict[str, Any]:
    """Join a project, by yourself or with an invitation's code (used up)."""
    with ws.session() as s:
        project = visible_project(s, slug, accounts.get_user(s, who.user_id))
        user = accounts.get_user(s, who.user_id)
        if body.code is None:
            annotator = join_project(s, project, user)
        else:
            invited_to = check_invite(s, body.code)
            if invited_to.id != project.id:
                raise AnnotationConflictError(
                    f"this invitation is to project {invited_to.slug!r}, not {slug!r}"
                )
            annotator = redeem_invite(s, body.code, user)
        return {"project": project.slug, "annotator": annotator.name}


@router.get("/projects/{slug}/next")
def next_page(
    slug: str,
    who: AnnotateMember,
    ws: WorkspaceDep,
    after: Annotated[int | None, Query(description="the page you are answering")] = None,
) -> dict[str, Any]:
    """Your open page, else a new one. With ``after``, another page than that one (fetched
    ahead while it is answered). ``task`` is null when there is no work for you now, and
    ``message`` says why; a stopped annotator is refused (403)."""
    with ws.session() as s:
        project = visible_project(s, slug, accounts.get_user(s, who.user_id))
        annotator = member_of(s, project, who.user_id)
        task = next_task(s, project, annotator, besides=after)
        if task is not None:
            return {"task": task_json(task), "message": None}
        return {"task": None, "message": member_progress(s, project, annotator).waiting}


@router.put("/tasks/{task_id}")
def submit(task_id: int, body: AnswersIn, who: AnnotateMember, ws: WorkspaceDep) -> dict[str, Any]:
    """Answer page ``task_id``: every question once. Sending the same answers again stores
    nothing new (``repeat``); other answers to an answered page are refused (409)."""
    with ws.session() as s:
        annotator = annotator_of_task(s, task_id, who.user_id)
        done = submit_task(s, task_id, annotator, body.answers, client_seconds=body.seconds)
    # What followed in the catalog (decisions, votes carried up) stays out: on a page with
    # gold questions it would tell which answers were gold.
    return {
        "task_id": done.task_id,
        "stored": done.votes,
        "repeat": done.repeat,
        "fast": done.fast,
        "stopped": done.stopped,
    }


@router.get("/projects/{slug}/progress")
def progress(slug: str, who: AnnotateMember, ws: WorkspaceDep) -> dict[str, Any]:
    """Your pages, answers and state in a project, and the work left.

    Response: ``{"project", "annotator", "state", "stop_reason", "pages", "answers",
    "fast", "open_pages", "undecided", "left_for_you", "kind", "images",
    "images_covered", "boxes_accepted", "your_boxes"}``. A label project: pages answered,
    votes, questions undecided and those you have not answered (the box fields 0). A box
    project: tasks answered (as ``pages`` and ``answers``), open tasks, its images to box,
    those covered, boxes accepted and of them yours; ``undecided``: images not covered.
    """
    with ws.session() as s:
        project = visible_project(s, slug, accounts.get_user(s, who.user_id))
        return member_progress(s, project, member_of(s, project, who.user_id)).to_dict()


class BoxAnswerIn(BaseModel):
    #: The task's answer, by kind (checked by the library, which names what does not fit):
    #: draw ``{"box": [xmin, ymin, xmax, ymax]}``, ``{"extreme": [[x, y] x 4]}`` or
    #: ``{"box": null}`` (none left), optionally with ``"wnid"``; quality
    #: ``{"drawing_id": ID, "answer": bool}``; coverage ``{"item_id": ID, "answer": bool}``.
    answer: dict[str, Any]
    #: Seconds the annotator spent on the task.
    seconds: float | None = None


#: Longest side of the image a box task shows; boxes are in the stored image's pixels
#: (``width`` x ``height``), so a page scales what it draws by width / shown width.
BOX_IMAGE = 512


def box_task_json(task: BoxTaskView) -> dict[str, Any]:
    """A box task as the API shows it: nothing tells gold from the rest."""
    return {
        "id": task.id,
        "project": task.project,
        "kind": task.kind,
        "item_id": task.item_id,
        "wnid": task.wnid,
        "lemmas": list(task.lemmas),
        "gloss": task.gloss,
        "question": task.question,
        "image": {
            "sha256": task.sha256,
            "url": thumb_url(task.sha256, min(max(task.width, task.height, THUMB_MIN), BOX_IMAGE)),
            "width": task.width,
            "height": task.height,
            "orientation": task.orientation or 1,
        },
        "boxes": [list(b) for b in task.shown],
        "drawing": None
        if task.drawing is None
        else {"id": task.drawing_id, "box": list(task.drawing)},
        "issued_at": task.issued_at.isoformat(),
        "expires_at": task.expires_at.isoformat(),
    }


@router.get("/projects/{slug}/boxes/next")
def next_box(slug: str, who: AnnotateMember, ws: WorkspaceDep) -> dict[str, Any]:
    """Your open box task, else a new one, of a box project.

    Response: ``{"task": TASK | null, "message": str | null}``; TASK is
    ``{"id", "project", "kind": "draw"|"quality"|"coverage", "item_id", "wnid", "lemmas",
    "gloss", "question", "image": {"sha256", "url", "width", "height", "orientation"},
    "boxes": [[xmin, ymin, xmax, ymax], ...] (accepted so far), "drawing": {"id", "box"} |
    null (quality tasks), "issued_at", "expires_at"}``. Boxes are 0-based inclusive pixels of
    the stored image; the picture at ``url`` is turned upright by its EXIF ``orientation``.
    A stopped annotator is refused (403), a label project too (400).
    """
    with ws.session() as s:
        project = visible_project(s, slug, accounts.get_user(s, who.user_id))
        annotator = member_of(s, project, who.user_id)
        task = next_box_task(s, project, annotator)
        if task is not None:
            return {"task": box_task_json(task), "message": None}
        return {"task": None, "message": member_progress(s, project, annotator).waiting}


@router.put("/box-tasks/{task_id}")
def submit_box(
    task_id: int, body: BoxAnswerIn, who: AnnotateMember, ws: WorkspaceDep
) -> dict[str, Any]:
    """Answer box task ``task_id``. Request: ``{"answer": {...}, "seconds": float | null}``
    (see :class:`BoxAnswerIn`). Response: ``{"task_id", "kind", "stored", "repeat",
    "stopped"}``. The same answer again stores nothing (``repeat``); refused with nothing
    written: a box outside the image, inverted or without area, a class the task does not
    ask about, a drawing or image not on the task, a coverage answer without boxes shown
    (400); another's task or one's own box (403); no such task (404); a closed task or
    another answer to an answered one (409)."""
    with ws.session() as s:
        annotator = annotator_of_box_task(s, task_id, who.user_id)
        done = submit_box_task(s, task_id, annotator, body.answer, seconds=body.seconds)
    return {
        "task_id": done.task_id,
        "kind": done.kind,
        "stored": done.stored,
        "repeat": done.repeat,
        "stopped": done.stopped,
    }


@thumbs_router.get("/annotate/thumbs/{sha256}")
def thumbnail(
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    who: AnnotateMember,
    ws: WorkspaceDep,
    size: Annotated[int, Query(ge=THUMB_MIN, le=THUMB_MAX)] = THUMB,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """An image your pages show, resized and cached as the review page's thumbnails are
    (the same code: ETag, 304, immutable)."""
    with ws.session() as s:
        if not image_shown_to(s, who.user_id, sha256):
            raise AnnotationNotFoundError(f"no image {sha256} on your pages")
    return review_api.thumbnail(sha256, who, ws, size, if_none_match)


__all__ = ["box_task_json", "router", "task_json", "thumbs_router"]
