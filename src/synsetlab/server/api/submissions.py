"""Submitting predictions, listing your team's submissions, selecting final ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile, status
from starlette.concurrency import run_in_threadpool

from synsetlab.catalog.models import utcnow
from synsetlab.challenge.challenges import get_challenge
from synsetlab.challenge.errors import ForbiddenError
from synsetlab.challenge.submissions import (
    select_final,
    submit,
    team_submissions,
)
from synsetlab.server.deps import ApiMember, LimitsDep, WorkspaceDep, read_upload
from synsetlab.server.schemas import SelectionIn, SubmissionOut

router = APIRouter(prefix="/challenges/{slug}", tags=["submissions"])


@router.post("/submissions", status_code=status.HTTP_201_CREATED)
async def create_submission(
    slug: str,
    request: Request,
    who: ApiMember,
    ws: WorkspaceDep,
    limits: LimitsDep,
    file: Annotated[UploadFile, File(description="kaggle CSV, devkit text or JSON")],
    format: Annotated[str | None, Form()] = None,
) -> SubmissionOut:
    """Validate, count against your team's quota, and score a submission file."""
    limits.hit("submit", request)
    data = await read_upload(file)
    sub = await run_in_threadpool(
        submit, ws, who, slug, data, filename=file.filename or "", fmt=format
    )
    return SubmissionOut.of(sub, utcnow())


@router.get("/submissions")
def my_submissions(slug: str, who: ApiMember, ws: WorkspaceDep) -> list[SubmissionOut]:
    """Your team's submissions, newest first (nobody else's)."""
    if who.team_id is None:
        raise ForbiddenError("you are not in a team, so you have no submissions")
    now = utcnow()
    with ws.session() as s:
        rows = team_submissions(s, get_challenge(s, slug), who.team_id)
        return [SubmissionOut.of(r, now) for r in rows]


@router.put("/selection")
def select(slug: str, body: SelectionIn, who: ApiMember, ws: WorkspaceDep) -> dict[str, list[int]]:
    """Choose the submissions that count for the private ranking."""
    select_final(ws, who, slug, body.submission_ids)
    return {"selected": body.submission_ids}
