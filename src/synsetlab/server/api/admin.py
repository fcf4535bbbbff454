"""Routes for the admin role only."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from synsetlab.challenge import accounts
from synsetlab.challenge.similarity import similar_submissions
from synsetlab.server.deps import ApiAdmin, WorkspaceDep

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/teams/{name}/approve")
def approve_team(name: str, who: ApiAdmin, ws: WorkspaceDep) -> dict[str, str | bool]:
    """Let a team that waits for approval submit."""
    with ws.session() as s:
        team = accounts.approve_team(s, accounts.get_user(s, who.user_id), name)
        return {"team": team.name, "approved": team.approved}


@router.get("/challenges/{slug}/similar")
def similar(
    slug: str, who: ApiAdmin, ws: WorkspaceDep, threshold: float = 0.95
) -> list[dict[str, str | int | float]]:
    """Near-identical submissions from different teams (see ``synsetlab challenge similar``)."""
    return [asdict(p) for p in similar_submissions(ws, slug, threshold=threshold)]
