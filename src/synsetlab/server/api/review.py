"""Reviewing curation findings one at a time (the ``/review`` page's API), and thumbnails.

Curators only (:func:`synsetlab.server.deps.may_review`), by API token or by the review
page's session cookie with its CSRF header. Every decision is recorded under the account's
name, and undone as any other (:mod:`synsetlab.curate.review`). A label issue may go to the
crowd instead: its image is asked about against both classes in an annotation project
(:mod:`synsetlab.annotate.ask`), and the finding is recorded as sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from synsetlab.annotate import ask
from synsetlab.annotate.projects import list_projects
from synsetlab.challenge.errors import NotFoundError
from synsetlab.curate import review
from synsetlab.server.deps import ReviewMember, WorkspaceDep

router = APIRouter(prefix="/api/review", tags=["review"])
#: ``/thumbs/...`` sits outside ``/api``: images load with the page's cookie, as any <img>.
thumbs_router = APIRouter(include_in_schema=False)


class DecideIn(BaseModel):
    action: review.Action
    #: The class to relabel to; default: the one a label issue suggests.
    wnid: str | None = Field(default=None, max_length=64)
    #: Relabel an image of the hidden test split (a challenge's answer key) all the same.
    allow_hidden_test: bool = False


class CrowdIn(BaseModel):
    #: The annotation project to ask in; the default one is made on first use.
    project: str = Field(default=ask.DEFAULT_PROJECT, min_length=1, max_length=64)


class UndoIn(BaseModel):
    #: The decision to undo; default: your latest active one.
    decision_id: int | None = None


@router.get("/queue")
def queue(
    who: ReviewMember,
    ws: WorkspaceDep,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """Findings waiting for review (by kind, most severe first), and how many per kind."""
    with ws.session() as s:
        pending = review.pending_counts(s)
        items = review.review_queue(s, kind=kind, limit=limit)
    total = pending.get(kind, 0) if kind else sum(pending.values())
    return {"pending": pending, "total": total, "items": [_entry(e) for e in items]}


@router.get("/items/{finding_id}")
def item(
    finding_id: int,
    who: ReviewMember,
    ws: WorkspaceDep,
    examples: Annotated[int, Query(ge=0, le=12)] = 4,
) -> dict[str, Any]:
    """One finding as the page shows it: its image, its cluster or classes, its decision."""
    taxonomy = ws.taxonomy()
    with ws.session() as s:
        return review.review_item(s, finding_id, taxonomy=taxonomy, examples=examples).to_dict()


@router.post("/items/{finding_id}/decision")
def decide(finding_id: int, body: DecideIn, who: ReviewMember, ws: WorkspaceDep) -> dict[str, Any]:
    """Keep, exclude or relabel the finding's image, recorded under your name."""
    with ws.session() as s:
        d = review.decide(
            s,
            finding_id,
            body.action,
            author=who.user_name,
            wnid=body.wnid,
            allow_hidden_test=body.allow_hidden_test,
        )
        pending = review.pending_counts(s)
    return {"decision": d, "pending": pending}


@router.get("/crowd")
def crowd_projects(who: ReviewMember, ws: WorkspaceDep) -> dict[str, Any]:
    """The annotation projects a label issue can go to, oldest first, and the default one
    (made on first use with the default options)."""
    with ws.session() as s:
        slugs = [p.slug for p in list_projects(s)]
    return {"projects": slugs, "default": ask.DEFAULT_PROJECT}


@router.post("/items/{finding_id}/crowd")
def crowd(finding_id: int, body: CrowdIn, who: ReviewMember, ws: WorkspaceDep) -> dict[str, Any]:
    """Ask the crowd whether a label issue's image shows its given class, and whether it
    shows the suggested one. The finding is recorded as sent under your name (``decision``;
    null when the crowd answered both already: ``asked.skipped`` says how). Never an image
    of the hidden test split (403)."""
    taxonomy = ws.taxonomy()
    with ws.session() as s:
        result = ask.ask_about_findings(
            s, body.project, [finding_id], taxonomy=taxonomy, author=who.user_name
        )
        pending = review.pending_counts(s)
    return {
        "asked": result.asked.to_dict(),
        "decision": result.sent[finding_id],
        "pending": pending,
    }


@router.post("/undo")
def undo(body: UndoIn, who: ReviewMember, ws: WorkspaceDep) -> dict[str, Any]:
    """Undo a decision (default: your latest); its finding goes back into the queue."""
    with ws.session() as s:
        d = review.undo(s, author=who.user_name, decision_id=body.decision_id)
        pending = review.pending_counts(s)
    return {"undone": d, "pending": pending}


def _entry(e: review.QueueEntry) -> dict[str, Any]:
    return {"finding_id": e.finding_id, "kind": e.kind, "score": e.score, "image_id": e.image_id}


#: Thumbnails are named by content and size, so a browser may keep them as long as it likes;
#: ``private``: they are shown to curators only, never to be kept by a shared cache.
THUMB_CACHE = "private, max-age=31536000, immutable"


@thumbs_router.get("/thumbs/{sha256}")
def thumbnail(
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    who: ReviewMember,
    ws: WorkspaceDep,
    size: Annotated[int, Query(ge=review.THUMB_MIN, le=review.THUMB_MAX)] = 256,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A catalog image as a JPEG of at most ``size`` px a side, with an ETag (304 when the
    browser has it). Only images of the catalog: the blob store holds manifests and answer
    keys too."""
    with ws.session() as s:
        if not review.catalog_has_blob(s, sha256):
            raise NotFoundError(f"no image of the catalog has content {sha256}")
    etag = f'"{sha256[:32]}-{size}"'
    headers = {"ETag": etag, "Cache-Control": THUMB_CACHE}
    if if_none_match and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    data = review.thumbnail_jpeg(ws.blobs, sha256, size)
    return Response(data, media_type="image/jpeg", headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match list with ``etag``."""
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


__all__ = ["router", "thumbs_router"]
