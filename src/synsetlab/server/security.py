"""Request-level protections: CSRF tokens for forms, rate limits, and response headers.

CSRF uses the synchronizer-token pattern: a random token kept in the signed session cookie
and echoed by every form as a hidden field. It is a dozen lines over Starlette's session
middleware, which is why no extra library is used. The JSON API is not exposed to CSRF: it
authenticates only with ``Authorization: Bearer`` tokens, never with the cookie.
"""

from __future__ import annotations

import hmac
import secrets
import time

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from synsetlab.errors import UserError
from synsetlab.settings import ServerSettings

CSRF_FIELD = "csrf_token"
_CSRF_KEY = "csrf"

#: Headers sent with every response: no sniffing, no framing, no third-party anything.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
}


class CsrfError(UserError):
    """A form came without the session's CSRF token."""


class RateLimitedError(UserError):
    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"too many {what} requests from your address; retry in {retry_after} s")
        self.retry_after = retry_after


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(_CSRF_KEY)
    if not token:
        token = request.session[_CSRF_KEY] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: Request) -> None:
    """Dependency of every form POST: the form's token must equal the session's."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(_CSRF_KEY)
    if not (isinstance(sent, str) and expected and hmac.compare_digest(sent, expected)):
        raise CsrfError("the form has expired or did not come from this site; reload and retry")


class RateLimits:
    """Moving-window limits per client address, in process memory (one uvicorn process;
    behind several, put the limits in the proxy or use a shared ``limits`` storage).

    The address is the one that connects, or the one a listed proxy forwards
    (``[server] trusted_proxies``): a header from anyone else changes nothing."""

    def __init__(self, settings: ServerSettings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limits = {"login": parse(settings.login_rate), "submit": parse(settings.submit_rate)}

    def hit(self, what: str, request: Request) -> None:
        """Count one ``what`` request ("login" or "submit"); :class:`RateLimitedError` past it."""
        item = self._limits[what]
        client = request.client.host if request.client else "unknown"
        if not self._limiter.hit(item, what, client):
            reset, _ = self._limiter.get_window_stats(item, what, client)
            raise RateLimitedError(what, max(int(reset - time.time()), 1))
