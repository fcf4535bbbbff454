"""Dependencies shared by routes: the workspace, who is asking, and the guards.

The JSON API knows callers only by ``Authorization: Bearer <token>``; pages only by the
signed session cookie, which carries the id of a session kept in the database (so that
logging out ends it on the server). Keeping the two apart is what keeps the API out of reach
of CSRF. The review and annotation routes are the exceptions, with a CSRF header
(:func:`review_member`, :func:`annotate_member`).

An annotator account may only annotate, see its own account and revoke its own API tokens
(:func:`api_account`): the guards of every other route that needs a login
(:func:`api_member`, :func:`page_member`) refuse it.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, UploadFile
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from synsetlab.catalog.challenge import Role
from synsetlab.challenge.accounts import Member, member, session_user, user_for_token
from synsetlab.challenge.errors import ForbiddenError, UnauthorizedError
from synsetlab.challenge.submissions import MAX_SUBMISSION_BYTES
from synsetlab.server.security import CsrfError, RateLimits, check_csrf, csrf_token
from synsetlab.workspace import Workspace

_bearer = HTTPBearer(auto_error=False, description="An API token from `synsetlab team register`")
#: The cookie's key for the web session id (:func:`synsetlab.challenge.accounts.start_session`).
SESSION_ID = "session_id"


class LoginRequired(Exception):  # noqa: N818 - a redirect, not an error
    """A page needs a logged-in user: the app redirects to the login page."""


async def read_upload(upload: UploadFile) -> bytes:
    """An uploaded submission, read no further than one byte past the size limit: enough for
    the parser to refuse an oversized file without the server holding all of it."""
    return await upload.read(MAX_SUBMISSION_BYTES + 1)


def get_workspace(request: Request) -> Workspace:
    return request.app.state.workspace


def get_limits(request: Request) -> RateLimits:
    return request.app.state.limits


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
LimitsDep = Annotated[RateLimits, Depends(get_limits)]


def api_account(
    ws: WorkspaceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Member:
    """The holder of the API token, of any role, annotators included: for the routes about
    one's own account (``/api/me``, revoking one's tokens) and nothing else."""
    if credentials is None:
        raise UnauthorizedError("this route needs 'Authorization: Bearer <API token>'")
    return _token_member(ws, credentials)


def api_member(who: Annotated[Member, Depends(api_account)]) -> Member:
    """The holder of the API token, unless it is an annotator account."""
    return _not_annotator(who)


def _token_member(ws: Workspace, credentials: HTTPAuthorizationCredentials) -> Member:
    with ws.session() as s:
        return member(s, user_for_token(s, credentials.credentials))


def _not_annotator(who: Member) -> Member:
    if who.role is Role.annotator:
        raise ForbiddenError(
            "an annotator account may only annotate (/annotate and /api/annotate); teams, "
            "submissions, review and admin need another account"
        )
    return who


def optional_api_member(
    ws: WorkspaceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Member | None:
    return None if credentials is None else api_member(api_account(ws, credentials))


def page_member_optional(request: Request, ws: WorkspaceDep) -> Member | None:
    session_id = request.session.get(SESSION_ID)
    if not isinstance(session_id, str):
        return None
    with ws.session() as s:
        user = session_user(s, session_id)
        if user is None:  # logged out, expired, or the user deleted: forget the cookie
            request.session.clear()
            return None
        return member(s, user)


def page_member(who: Annotated[Member | None, Depends(page_member_optional)]) -> Member:
    if who is None:
        raise LoginRequired()
    return _not_annotator(who)


def _admin(who: Member) -> Member:
    if not who.is_admin:
        raise ForbiddenError("this needs the admin role")
    return who


def api_admin(who: Annotated[Member, Depends(api_member)]) -> Member:
    return _admin(who)


def page_admin(who: Annotated[Member, Depends(page_member)]) -> Member:
    return _admin(who)


def may_review(who: Member) -> bool:
    """Who may review curation findings: admins, the organisers, who hold the challenges'
    answer keys anyway (review shows hidden test images and their labels). A curator role
    that may also compete must not be let in here."""
    return who.is_admin


def _curator(who: Member) -> Member:
    if not may_review(who):
        raise ForbiddenError("reviewing curation findings needs the admin role")
    return who


#: Header in which the review page's script echoes the session's CSRF token.
CSRF_HEADER = "X-CSRF-Token"


def review_member(
    request: Request,
    ws: WorkspaceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Member:
    """A curator, by API token or by the session cookie of the ``/review`` page.

    The review routes are the one part of the JSON API a page's script calls with the
    cookie. A cookie goes with cross-site requests, so a cookie request that changes
    anything must echo the session's CSRF token in :data:`CSRF_HEADER`.
    """
    if credentials is not None:
        return _curator(api_member(api_account(ws, credentials)))
    who = page_member_optional(request, ws)
    if who is None:
        raise UnauthorizedError("log in, or send 'Authorization: Bearer <API token>'")
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf_token(request).encode()):
            raise CsrfError("the page has expired or did not come from this site; reload it")
    return _curator(who)


def page_curator(who: Annotated[Member, Depends(page_member)]) -> Member:
    return _curator(who)


def _check_csrf_header(request: Request) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), csrf_token(request).encode()):
        raise CsrfError("the page has expired or did not come from this site; reload it")


def annotate_member(
    request: Request,
    ws: WorkspaceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Member:
    """Anyone with an account, annotators included, by API token or by the session cookie of
    the ``/annotate`` pages; a cookie request that changes anything echoes the session's
    CSRF token in :data:`CSRF_HEADER`, as for review. Which projects they may work on is the
    annotation library's rule (:mod:`synsetlab.annotate.members`)."""
    if credentials is not None:
        return _token_member(ws, credentials)
    who = page_member_optional(request, ws)
    if who is None:
        raise UnauthorizedError("log in, or send 'Authorization: Bearer <API token>'")
    if request.method not in ("GET", "HEAD"):
        _check_csrf_header(request)
    return who


def page_annotate_member(who: Annotated[Member | None, Depends(page_member_optional)]) -> Member:
    """A logged-in user of any role, annotators included, for the ``/annotate`` pages."""
    if who is None:
        raise LoginRequired()
    return who


ApiAccount = Annotated[Member, Depends(api_account)]
ApiMember = Annotated[Member, Depends(api_member)]
OptionalApiMember = Annotated[Member | None, Depends(optional_api_member)]
ApiAdmin = Annotated[Member, Depends(api_admin)]
PageMember = Annotated[Member, Depends(page_member)]
OptionalPageMember = Annotated[Member | None, Depends(page_member_optional)]
PageAdmin = Annotated[Member, Depends(page_admin)]
ReviewMember = Annotated[Member, Depends(review_member)]
PageCurator = Annotated[Member, Depends(page_curator)]
Csrf = Depends(check_csrf)
AnnotateMember = Annotated[Member, Depends(annotate_member)]
PageAnnotateMember = Annotated[Member, Depends(page_annotate_member)]
