"""Users, teams and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from synsetlab.annotate.members import projects_of
from synsetlab.catalog.challenge import Role
from synsetlab.challenge import accounts
from synsetlab.server.deps import ApiAccount, ApiMember, LimitsDep, WorkspaceDep
from synsetlab.server.schemas import AnnotatorMeOut, LoginIn, MeOut, RegisterIn, TeamIn, TokenOut

router = APIRouter(tags=["accounts"])


@router.post("/register", status_code=status.HTTP_201_CREATED)
def register(body: RegisterIn, request: Request, ws: WorkspaceDep, limits: LimitsDep) -> TokenOut:
    """Create a user (and optionally a team they own); returns an API token, shown once."""
    limits.hit("login", request)
    with ws.session() as s:
        user = accounts.create_user(s, body.user, body.password)
        team = None
        if body.team:
            approved = not ws.settings.server.team_approval
            team = accounts.create_team(s, user, body.team, approved=approved).name
        return TokenOut(
            token=accounts.issue_token(s, user, name="register"), user=user.name, team=team
        )


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(body: LoginIn, request: Request, ws: WorkspaceDep, limits: LimitsDep) -> TokenOut:
    """Log in with a password and get a new API token, shown once."""
    limits.hit("login", request)
    with ws.session() as s:
        user = accounts.authenticate(s, body.user, body.password)
        token = accounts.issue_token(s, user, name=body.name)
        return TokenOut(token=token, user=user.name, team=accounts.member(s, user).team_name)


@router.delete("/tokens")
def revoke_tokens(who: ApiAccount, ws: WorkspaceDep) -> dict[str, int]:
    """Revoke every token of the calling user, this one included (any account, annotators'
    included)."""
    with ws.session() as s:
        return {"revoked": accounts.revoke_tokens(s, accounts.get_user(s, who.user_id))}


@router.get("/me")
def me(who: ApiAccount, ws: WorkspaceDep) -> MeOut | AnnotatorMeOut:
    """Who the token is of: a participant's or admin's team; an annotator account's
    annotation projects (its own name and state in each)."""
    if who.role is not Role.annotator:
        return MeOut.of(who)
    with ws.session() as s:
        return AnnotatorMeOut.of(who, projects_of(s, who.user_id))


@router.post("/teams", status_code=status.HTTP_201_CREATED)
def create_team(body: TeamIn, who: ApiMember, ws: WorkspaceDep) -> MeOut:
    with ws.session() as s:
        user = accounts.get_user(s, who.user_id)
        accounts.create_team(s, user, body.name, approved=not ws.settings.server.team_approval)
        return MeOut.of(accounts.member(s, user))


@router.post("/teams/{name}/join", status_code=status.HTTP_202_ACCEPTED)
def join_team(name: str, who: ApiMember, ws: WorkspaceDep) -> dict[str, str]:
    """Ask to join a team; its owner approves."""
    with ws.session() as s:
        accounts.request_to_join(s, accounts.get_user(s, who.user_id), name)
    return {"state": "pending"}


@router.post("/teams/{name}/members/{user}")
def approve_member(name: str, user: str, who: ApiMember, ws: WorkspaceDep) -> dict[str, str]:
    """The team's owner lets a user who asked to join in."""
    with ws.session() as s:
        accounts.approve_member(s, accounts.get_user(s, who.user_id), name, user)
    return {"state": "active"}
