"""Server-side pages (Jinja2): plain HTML forms, usable without JavaScript.

Every POST carries the session's CSRF token and answers with a redirect (post/redirect/get),
with a one-time "flash" message in the session saying what happened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from synsetlab.annotate.invites import check_invite, redeem_invite
from synsetlab.annotate.members import (
    join_project,
    joinable_projects,
    member_of,
    member_progress,
    projects_of,
    visible_project,
)
from synsetlab.catalog.annotation import AnnotationProject, ProjectKind
from synsetlab.catalog.challenge import Role, User
from synsetlab.catalog.models import utcnow
from synsetlab.challenge import accounts
from synsetlab.challenge import leaderboard as boards
from synsetlab.challenge.accounts import Member
from synsetlab.challenge.challenges import current_phase, get_challenge, get_phase, list_challenges
from synsetlab.challenge.errors import ForbiddenError
from synsetlab.challenge.formats import FORMATS, SubmissionError
from synsetlab.challenge.scoring import METRIC_NAMES, PRIMARY_METRIC
from synsetlab.challenge.submissions import (
    MAX_SUBMISSION_BYTES,
    select_final,
    submit,
    team_submissions,
)
from synsetlab.curate.review import pending_counts
from synsetlab.server.deps import (
    CSRF_HEADER,
    SESSION_ID,
    Csrf,
    LimitsDep,
    OptionalPageMember,
    PageAdmin,
    PageAnnotateMember,
    PageCurator,
    PageMember,
    WorkspaceDep,
    read_upload,
)
from synsetlab.server.schemas import ChallengeOut, SubmissionOut, challenge_view
from synsetlab.server.security import CSRF_FIELD, csrf_token
from synsetlab.workspace import Workspace

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["metric"] = lambda name: METRIC_NAMES.get(name, name)
router = APIRouter(include_in_schema=False)
_FLASH = "flash"


def page(request: Request, name: str, who=None, status_code: int = 200, **context) -> Response:
    """Render template ``name`` with what every page needs: user, CSRF token, flash."""
    return templates.TemplateResponse(
        request,
        name,
        {
            "who": who,
            "csrf_field": CSRF_FIELD,
            "csrf_token": csrf_token(request),
            "flash": request.session.pop(_FLASH, None),
            **context,
        },
        status_code=status_code,
    )


def render_error(request: Request, code: int, message: str, headers=None) -> Response:
    response = page(request, "error.html", status_code=code, code=code, message=message)
    response.headers.update(headers or {})
    return response


def render_bug(request: Request, message: str, *, headers: dict[str, str]) -> Response:
    """The 500 page. Rendered outside the session middleware, so it reads no session."""
    context = {"who": None, "csrf_field": CSRF_FIELD, "csrf_token": "", "flash": None}
    return templates.TemplateResponse(
        request, "error.html", {**context, "code": 500, "message": message}, status_code=500,
        headers=headers,
    )  # fmt: skip


def redirect(request: Request, url: str, flash: str | None = None) -> RedirectResponse:
    if flash:
        request.session[_FLASH] = flash
    return RedirectResponse(url, status_code=303)


def _local(url: str | None) -> str:
    """``url`` if it is a path on this site, else ``/``: no open redirects after login."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/"


# Accounts -----------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def index(request: Request, ws: WorkspaceDep, who: OptionalPageMember) -> Response:
    now = utcnow()
    with ws.session() as s:
        rows = [ChallengeOut.of(c, now) for c in list_challenges(s)]
    return page(request, "index.html", who, challenges=rows)


@router.get("/register", response_class=HTMLResponse)
def register_form(request: Request, who: OptionalPageMember) -> Response:
    return page(request, "register.html", who)


@router.post("/register", dependencies=[Csrf])
def register(
    request: Request,
    ws: WorkspaceDep,
    limits: LimitsDep,
    user: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    return _register(request, ws, limits, user, password, Role.participant, "/team",
                     f"Welcome, {user}. Create a team or ask to join one.")  # fmt: skip


def _register(
    request: Request, ws: Any, limits: Any, user: str, password: str, role: Role, to: str,
    message: str,
) -> Response:  # fmt: skip
    """Create an account of ``role``, log it in and go to ``to``: the participants' and the
    annotators' sign-up forms differ only in these."""
    limits.hit("login", request)
    with ws.session() as s:
        _log_in(request, s, accounts.create_user(s, user, password, role=role))
    return redirect(request, to, message)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, who: OptionalPageMember, next: str = "/") -> Response:
    return page(request, "login.html", who, next=_local(next))


@router.post("/login", dependencies=[Csrf])
def login(
    request: Request,
    ws: WorkspaceDep,
    limits: LimitsDep,
    user: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    limits.hit("login", request)
    with ws.session() as s:
        account = accounts.authenticate(s, user, password)
        _log_in(request, s, account)
    if account.role is Role.annotator and _local(next) == "/":
        next = "/annotate"  # the only pages an annotator account may use
    return redirect(request, _local(next))


def _log_in(request: Request, s: Session, user: User) -> None:
    """A new server-side session for ``user`` in a fresh cookie (and CSRF token); the one the
    browser held, maybe someone else's, ends on the server."""
    session_id = accounts.start_session(s, user, replacing=request.session.get(SESSION_ID))
    request.session.clear()
    request.session[SESSION_ID] = session_id


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request, ws: WorkspaceDep) -> Response:
    """End the session on the server: a copy of the cookie stops working too."""
    session_id = request.session.get(SESSION_ID)
    if session_id:
        with ws.session() as s:
            accounts.end_session(s, session_id)
    request.session.clear()
    return redirect(request, "/", "Logged out.")


@router.get("/team", response_class=HTMLResponse)
def team(request: Request, ws: WorkspaceDep, who: PageMember) -> Response:
    with ws.session() as s:
        view = accounts.team_of(s, who.user_id)
    return page(request, "team.html", who, team=view)


@router.post("/team/create", dependencies=[Csrf])
def team_create(
    request: Request, ws: WorkspaceDep, who: PageMember, name: Annotated[str, Form()]
) -> Response:
    with ws.session() as s:
        accounts.create_team(
            s,
            accounts.get_user(s, who.user_id),
            name,
            approved=not ws.settings.server.team_approval,
        )
    return redirect(request, "/team", f"Team {name} created.")


@router.post("/team/join", dependencies=[Csrf])
def team_join(
    request: Request, ws: WorkspaceDep, who: PageMember, name: Annotated[str, Form()]
) -> Response:
    with ws.session() as s:
        accounts.request_to_join(s, accounts.get_user(s, who.user_id), name)
    return redirect(request, "/team", f"Asked to join {name}; its owner will approve.")


@router.post("/team/approve", dependencies=[Csrf])
def team_approve(
    request: Request, ws: WorkspaceDep, who: PageMember, user: Annotated[str, Form()]
) -> Response:
    if who.team_name is None:
        raise ForbiddenError("you are not in a team")
    with ws.session() as s:
        accounts.approve_member(s, accounts.get_user(s, who.user_id), who.team_name, user)
    return redirect(request, "/team", f"{user} joined the team.")


@router.post("/team/token", dependencies=[Csrf], response_class=HTMLResponse)
def team_token(request: Request, ws: WorkspaceDep, who: PageMember) -> Response:
    """A new API token, shown on this response only (never stored in clear)."""
    with ws.session() as s:
        token = accounts.issue_token(s, accounts.get_user(s, who.user_id), name="web")
    response = page(request, "token.html", who, token=token)
    response.headers["Cache-Control"] = "no-store"
    return response


# Challenges -------------------------------------------------------------------------------


@router.get("/c/{slug}", response_class=HTMLResponse)
def challenge(request: Request, slug: str, ws: WorkspaceDep, who: OptionalPageMember) -> Response:
    with ws.session() as s:
        view = challenge_view(s, slug, who, utcnow())
    return page(request, "challenge.html", who, c=view)


def _submit_form(
    request: Request, ws: Workspace, who: Member, slug: str, error: str | None = None
) -> Response:
    """The submit page; with ``error``, the reason a file was refused (status 422)."""
    with ws.session() as s:
        view = challenge_view(s, slug, who, utcnow())
    return page(
        request,
        "submit.html",
        who,
        status_code=422 if error else 200,
        c=view,
        formats=FORMATS,
        max_mib=MAX_SUBMISSION_BYTES // 2**20,
        error=error,
    )


@router.get("/c/{slug}/submit", response_class=HTMLResponse)
def submit_form(request: Request, slug: str, ws: WorkspaceDep, who: PageMember) -> Response:
    return _submit_form(request, ws, who, slug)


@router.post("/c/{slug}/submit", dependencies=[Csrf])
async def submit_page(
    request: Request,
    slug: str,
    ws: WorkspaceDep,
    who: PageMember,
    limits: LimitsDep,
    file: UploadFile,
    format: Annotated[str, Form()] = "",
) -> Response:
    limits.hit("submit", request)
    data = await read_upload(file)
    try:
        sub = await run_in_threadpool(
            submit, ws, who, slug, data, filename=file.filename or "", fmt=format or None
        )
    except SubmissionError as e:  # shown on the form, so the user can fix the file
        return await run_in_threadpool(_submit_form, request, ws, who, slug, str(e))
    message = f"Submission {sub.id} is {sub.status.value}."
    public = sub.scores.get("public")
    if public:
        metric = PRIMARY_METRIC[sub.challenge.task]
        message += f" Public {METRIC_NAMES[metric]}: {public[metric]['value']:.4f}."
    return redirect(request, f"/c/{slug}/submissions", message)


@router.get("/c/{slug}/submissions", response_class=HTMLResponse)
def submissions(request: Request, slug: str, ws: WorkspaceDep, who: PageMember) -> Response:
    now = utcnow()
    with ws.session() as s:
        c = get_challenge(s, slug)
        rows = [] if who.team_id is None else team_submissions(s, c, who.team_id)
        shown = [SubmissionOut.of(r, now) for r in rows]
        view = ChallengeOut.of(c, now)
    return page(request, "submissions.html", who, c=view, submissions=shown)


@router.post("/c/{slug}/select", dependencies=[Csrf])
async def select_submissions(
    request: Request, slug: str, ws: WorkspaceDep, who: PageMember
) -> Response:
    form = await request.form()
    ids = [int(v) for v in form.getlist("submission") if str(v).isdigit()]
    await run_in_threadpool(select_final, ws, who, slug, ids)
    return redirect(request, f"/c/{slug}/submissions", f"Selected: {ids or 'none'}.")


@router.get("/c/{slug}/leaderboard", response_class=HTMLResponse)
def leaderboard(
    request: Request,
    slug: str,
    ws: WorkspaceDep,
    who: OptionalPageMember,
    phase: str | None = None,
    partition: Literal["public", "private"] = "public",
) -> Response:
    now = utcnow()
    with ws.session() as s:
        c = get_challenge(s, slug)
        p = get_phase(c, phase) if phase else current_phase(c, now)
        view = ChallengeOut.of(c, now)
        try:
            admin = who is not None and who.is_admin  # organisers may look early
            board = boards.leaderboard(s, c, p, partition, now=now, admin=admin)
            hidden = None
        except ForbiddenError as e:  # the private board before its time: say when
            board, hidden = None, str(e)
    return page(request, "leaderboard.html", who, c=view, board=board, hidden=hidden, phase=p.name)


@router.get("/c/{slug}/results", response_class=HTMLResponse)
def results(request: Request, slug: str, ws: WorkspaceDep, who: OptionalPageMember) -> Response:
    now = utcnow()
    with ws.session() as s:
        c = get_challenge(s, slug)
        view = ChallengeOut.of(c, now)
        try:
            admin = who is not None and who.is_admin
            board, hidden = boards.results(s, c, now=now, admin=admin), None
        except ForbiddenError as e:
            board, hidden = None, str(e)
    return page(request, "results.html", who, c=view, board=board, hidden=hidden)


# Admin ------------------------------------------------------------------------------------


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, ws: WorkspaceDep, who: PageAdmin) -> Response:
    with ws.session() as s:
        waiting = accounts.teams_waiting(s)
    return page(request, "admin.html", who, waiting=waiting)


@router.post("/admin/teams/approve", dependencies=[Csrf])
def admin_approve(
    request: Request, ws: WorkspaceDep, who: PageAdmin, name: Annotated[str, Form()]
) -> Response:
    with ws.session() as s:
        accounts.approve_team(s, accounts.get_user(s, who.user_id), name)
    return redirect(request, "/admin", f"Team {name} approved.")


# Review of curation findings ---------------------------------------------------------------


@router.get("/review", response_class=HTMLResponse)
def review(request: Request, ws: WorkspaceDep, who: PageCurator, kind: str = "") -> Response:
    """Curation findings one at a time, decided with the keyboard (static/review.js)."""
    with ws.session() as s:
        pending = pending_counts(s)
    return page(request, "review.html", who, pending=pending, kind=kind, csrf_header=CSRF_HEADER)


# Annotation ---------------------------------------------------------------------------------
# The page of work is static/annotate.js over /api/annotate; these pages let people in.


@router.get("/annotate", response_class=HTMLResponse)
def annotate_index(request: Request, ws: WorkspaceDep, who: PageAnnotateMember) -> Response:
    """Your projects with your progress, and those you may join."""
    with ws.session() as s:
        mine = [(p, member_progress(s, p, a)) for p, a in projects_of(s, who.user_id)]
        rows = [
            {"slug": p.slug, "kind": p.kind, "classes": _class_names(p), "progress": progress}
            for p, progress in mine
        ]
        user = accounts.get_user(s, who.user_id)
        joinable = [
            {"slug": p.slug, "kind": p.kind, "classes": _class_names(p)}
            for p in joinable_projects(s, user)
        ]
    return page(request, "annotate_index.html", who, mine=rows, joinable=joinable)


def _class_names(project: AnnotationProject) -> str:
    """The project's classes by their usual names, the first few."""
    names = [c.lemmas.split("; ")[0] for c in project.classes]
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")


@router.get("/annotate/join", response_class=HTMLResponse)
def annotate_register_form(request: Request, who: OptionalPageMember) -> Response:
    """An annotator account, without an invitation (it may join open projects)."""
    if who is not None:
        return redirect(request, "/annotate")
    return page(request, "annotate_join.html", who, project=None, code=None)


@router.post("/annotate/join", dependencies=[Csrf])
def annotate_register(
    request: Request,
    ws: WorkspaceDep,
    limits: LimitsDep,
    user: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    return _register(request, ws, limits, user, password, Role.annotator, "/annotate",
                     f"Welcome, {user}. Join a project to start.")  # fmt: skip


@router.get("/annotate/join/{code}", response_class=HTMLResponse)
def annotate_invited(
    request: Request, code: str, ws: WorkspaceDep, who: OptionalPageMember
) -> Response:
    """An invitation: create an annotator account, or join with the one you are logged in."""
    with ws.session() as s:
        project = check_invite(s, code)
        slug, classes = project.slug, _class_names(project)
        if who is not None and any(p.id == project.id for p, _ in projects_of(s, who.user_id)):
            return redirect(request, f"/annotate/{slug}", f"You annotate {slug} already.")
    response = page(
        request, "annotate_join.html", who, project={"slug": slug, "classes": classes}, code=code
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/annotate/join/{code}", dependencies=[Csrf])
def annotate_join_invited(
    request: Request,
    code: str,
    ws: WorkspaceDep,
    limits: LimitsDep,
    who: OptionalPageMember,
    user: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    limits.hit("login", request)
    with ws.session() as s:
        slug = check_invite(s, code).slug  # before an account is made for nothing
        if who is None:
            account = accounts.create_user(s, user, password, role=Role.annotator)
        else:
            account = accounts.get_user(s, who.user_id)
        redeem_invite(s, code, account)  # refused: the account is not made either
        if who is None:
            _log_in(request, s, account)
    return redirect(request, f"/annotate/{slug}", f"You joined {slug}. Thank you for helping.")


@router.post("/annotate/{slug}/join", dependencies=[Csrf])
def annotate_join(
    request: Request, slug: str, ws: WorkspaceDep, who: PageAnnotateMember
) -> Response:
    with ws.session() as s:
        user = accounts.get_user(s, who.user_id)
        join_project(s, visible_project(s, slug, user), user)
    return redirect(request, f"/annotate/{slug}", f"You joined {slug}.")


@router.get("/annotate/{slug}", response_class=HTMLResponse)
def annotate(request: Request, slug: str, ws: WorkspaceDep, who: PageAnnotateMember) -> Response:
    """One page of work at a time, answered with the keyboard (static/annotate.js); a box
    project's draw, quality and coverage tasks on a canvas (static/annotate_boxes.js)."""
    with ws.session() as s:
        project = visible_project(s, slug, accounts.get_user(s, who.user_id))
        member_of(s, project, who.user_id)  # 403 with where to join
        boxes = project.kind == ProjectKind.boxes.value
    template = "annotate_boxes.html" if boxes else "annotate.html"
    return page(request, template, who, project=slug, csrf_header=CSRF_HEADER)


__all__ = ["render_bug", "render_error", "router", "templates"]
