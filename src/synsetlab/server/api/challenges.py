"""Challenges and their leaderboards (readable without logging in)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from synsetlab.catalog.models import utcnow
from synsetlab.challenge import leaderboard as boards
from synsetlab.challenge.challenges import current_phase, get_challenge, get_phase, list_challenges
from synsetlab.server.deps import OptionalApiMember, WorkspaceDep
from synsetlab.server.schemas import ChallengeOut, challenge_view

router = APIRouter(prefix="/challenges", tags=["challenges"])


@router.get("")
def challenges(ws: WorkspaceDep) -> list[ChallengeOut]:
    now = utcnow()
    with ws.session() as s:
        return [ChallengeOut.of(c, now) for c in list_challenges(s)]


@router.get("/{slug}")
def challenge(slug: str, ws: WorkspaceDep, who: OptionalApiMember) -> ChallengeOut:
    """A challenge, its phases, and (with a token) what your team has left of its quota."""
    with ws.session() as s:
        return challenge_view(s, slug, who, utcnow())


@router.get("/{slug}/leaderboard", response_model=None)
def leaderboard(
    slug: str,
    ws: WorkspaceDep,
    who: OptionalApiMember,
    phase: str | None = None,
    partition: Literal["public", "private"] = "public",
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | PlainTextResponse:
    """The public board, or the private one once the phase has ended; as JSON or CSV."""
    now = utcnow()
    with ws.session() as s:
        c = get_challenge(s, slug)
        p = get_phase(c, phase) if phase else current_phase(c, now)
        admin = who is not None and who.is_admin
        board = boards.leaderboard(s, c, p, partition, now=now, admin=admin)
    return _shaped(board, format)


@router.get("/{slug}/results", response_model=None)
def results(
    slug: str, ws: WorkspaceDep, who: OptionalApiMember, format: Literal["json", "csv"] = "json"
) -> dict[str, Any] | PlainTextResponse:
    """The final ranking, published when the last phase ends."""
    now = utcnow()
    with ws.session() as s:
        admin = who is not None and who.is_admin
        board = boards.results(s, get_challenge(s, slug), now=now, admin=admin)
    return _shaped(board, format)


def _shaped(board: boards.Board, format: str) -> dict[str, Any] | PlainTextResponse:
    if format == "csv":
        return PlainTextResponse(board.to_csv(), media_type="text/csv")
    return board.to_dict()
