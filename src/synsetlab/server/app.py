"""The FastAPI application: the JSON API under /api, server-side pages everywhere else.

``create_app(workspace)`` is all a test or ``synsetlab serve`` needs. User errors
(:class:`~synsetlab.errors.UserError`) map to 4xx statuses in one place (:data:`STATUS`), with
their message, as JSON for the API and as a page for the browser. Any other exception is a
bug: it answers 500 without its message, and the server logs its traceback.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from synsetlab import __version__
from synsetlab.annotate.errors import (
    AnnotationConflictError,
    AnnotationForbiddenError,
    AnnotationNotFoundError,
)
from synsetlab.challenge.accounts import SESSION_LIFETIME
from synsetlab.challenge.errors import (
    ChallengeError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PhaseClosedError,
    QuotaExceededError,
    UnauthorizedError,
)
from synsetlab.challenge.formats import SubmissionError
from synsetlab.challenge.submissions import rescore_interrupted
from synsetlab.curate.review import FindingNotFoundError, ReviewConflictError
from synsetlab.errors import UserError
from synsetlab.server.api import annotate, review
from synsetlab.server.api import router as api_router
from synsetlab.server.deps import LoginRequired
from synsetlab.server.pages import render_bug, render_error
from synsetlab.server.pages import router as pages_router
from synsetlab.server.security import SECURITY_HEADERS, CsrfError, RateLimitedError, RateLimits
from synsetlab.workspace import Workspace

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "synsetlab_session"

#: HTTP status of each refusal (most specific class first); anything else is a bug (500).
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (SubmissionError, 422),
    (UnauthorizedError, 401),
    (ForbiddenError, 403),
    (CsrfError, 403),
    (NotFoundError, 404),
    (FindingNotFoundError, 404),
    (ConflictError, 409),
    (PhaseClosedError, 409),
    (ReviewConflictError, 409),
    (AnnotationNotFoundError, 404),
    (AnnotationForbiddenError, 403),
    (AnnotationConflictError, 409),
    (QuotaExceededError, 429),
    (RateLimitedError, 429),
    (ChallengeError, 400),
    (UserError, 400),
)


def create_app(ws: Workspace) -> FastAPI:
    """The challenge site over the workspace ``ws``.

    Raises ``ValueError`` outside development without a real secret key (see
    :class:`~synsetlab.settings.ServerSettings`).
    """
    settings = ws.settings.server
    secret = settings.checked_secret()
    if secret is None:
        log.warning("development server: sessions are signed with a random per-process key")
        secret = secrets.token_urlsafe(32)
    app = FastAPI(
        lifespan=_lifespan,
        title="synsetlab challenges",
        version=__version__,
        description="ILSVRC-style challenges on frozen synsetlab dataset versions.",
    )
    app.state.workspace = ws
    app.state.limits = RateLimits(settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        same_site="lax",
        https_only=not settings.development,
    )
    app.middleware("http")(_security_headers)
    if settings.trusted_proxies:
        # Added last, so outermost: the client address is settled before anything reads it.
        # `synsetlab serve` turns uvicorn's own proxy handling off, which believes
        # X-Forwarded-For from 127.0.0.1 by default.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api_router)
    app.include_router(review.router)
    app.include_router(review.thumbs_router)
    app.include_router(annotate.router)
    app.include_router(annotate.thumbs_router)
    app.include_router(pages_router)
    for exc_type, _ in STATUS:
        app.add_exception_handler(exc_type, _refusal)
    app.add_exception_handler(LoginRequired, _to_login)
    # Starlette calls this for any other exception, then raises it on to the server's log.
    app.add_exception_handler(Exception, _bug)
    return app


#: FastAPI's interactive API docs load Swagger UI / ReDoc from a CDN: their pages alone get
#: a policy that allows it.
_DOCS = ("/docs", "/redoc")
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com; font-src https://fonts.gstatic.com; "
    "frame-ancestors 'none'"
)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Submissions a stopped server accepted but did not finish scoring are scored now.
    rescored = await run_in_threadpool(rescore_interrupted, app.state.workspace)
    if rescored:
        log.warning("scored %d submissions left unscored by an earlier server", rescored)
    yield


async def _security_headers(request: Request, call_next) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    if request.url.path in _DOCS:
        response.headers["Content-Security-Policy"] = _DOCS_CSP
    return response


def status_of(exc: Exception) -> int:
    return next(code for exc_type, code in STATUS if isinstance(exc, exc_type))


async def _refusal(request: Request, exc: Exception) -> Response:
    code = status_of(exc)
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    if request.url.path.startswith("/api/"):
        body: dict = {"detail": str(exc)}
        if isinstance(exc, SubmissionError):
            body["line"] = exc.line
        return JSONResponse(body, status_code=code, headers=headers)
    return render_error(request, code, str(exc), headers=headers)


#: What a client is told of a bug: never the exception's own message, which may show
#: internals (paths, SQL, array shapes) and is no use to the user.
BUG_MESSAGE = "internal error: a bug in the server, not in your request; it has been logged"


async def _bug(request: Request, exc: Exception) -> Response:
    # Starlette answers a bug from outside every middleware, the security headers' included.
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": BUG_MESSAGE}, status_code=500, headers=SECURITY_HEADERS)
    return render_bug(request, BUG_MESSAGE, headers=SECURITY_HEADERS)


async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def app_from_environment() -> FastAPI:
    """The app for the workspace in ``$SYNSETLAB_WORKSPACE`` (what ``synsetlab serve`` hands
    uvicorn, so that each worker process builds its own)."""
    from synsetlab.workspace import open_workspace

    return create_app(open_workspace())
