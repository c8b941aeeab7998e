"""Security headers, cross-site request checks and the Origin rule for sockets."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "ea_csrf"
# A random id for this browser, set at join and kept a year: what a block follows when the
# blocked person clears the event cookie and joins again under another name.
DEVICE_COOKIE = "ea_device"
DEVICE_MAX_AGE = 365 * 86400
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(self), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


class SecurityHeaders:
    """Adds the headers every page gets: strict CSP (no inline script), no framing,
    referrer only to ourselves (secret links must not leak into other sites' logs).

    Not "no-referrer": under that policy browsers send ``Origin: null`` on same-origin
    form posts and fetches, so the Origin check refused every real join and resume."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security_headers(headers: MutableHeaders) -> None:
    """The headers of every response; set where a response bypasses the middleware."""
    for name, value in SECURITY_HEADERS:
        headers.setdefault(name, value)


_HTTP_ERRORS = {
    400: "This form could not be read: it has too many fields or a field is too large.",
    404: "Page not found.",
}


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no route; a form over its field limits) as our error
    page in the person's language instead of English plain text."""
    from eventapp.web.render import render

    assert isinstance(exc, HTTPException)
    text = _HTTP_ERRORS.get(exc.status_code)
    if text is None:
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    return render(request, "error.html", {"message": text}, status_code=exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    """The 500 page. Starlette sends it from outside every middleware, so it carries
    the security headers itself; it says nothing about the failure (that is logged)."""
    from eventapp.web.render import render

    try:
        response = render(
            request,
            "error.html",
            {"message": "Something went wrong on our side. Please try again in a moment."},
            status_code=500,
        )
    except Exception:  # the page itself failed: still answer, plainly
        response = PlainTextResponse("Internal Server Error", status_code=500)
    add_security_headers(response.headers)
    return response


def own_origin(conn: HTTPConnection) -> str:
    scheme = conn.url.scheme.replace("ws", "http")
    return f"{scheme}://{conn.headers.get('host', '')}"


def origin_allowed(conn: HTTPConnection, allowed: tuple[str, ...]) -> bool:
    """Same-origin, or listed in ALLOWED_ORIGINS. Browsers always send Origin on
    WebSocket handshakes and cross-site POSTs; a missing one is a non-browser client."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    if origin in allowed:
        return True
    host = conn.headers.get("host", "")
    return urlsplit(origin).netloc == host


def csrf_token(conn: HTTPConnection) -> tuple[str, bool]:
    """The double-submit token for this browser, and whether the cookie must be set."""
    token = conn.cookies.get(CSRF_COOKIE)
    if token and 20 <= len(token) <= 64:
        return token, False
    return secrets.token_urlsafe(24), True


def csrf_ok(conn: HTTPConnection, submitted: str | None, allowed: tuple[str, ...]) -> bool:
    cookie = conn.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or not origin_allowed(conn, allowed):
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def device_id(conn: HTTPConnection) -> str | None:
    """This browser's device id, if it has a well-formed one."""
    raw = conn.cookies.get(DEVICE_COOKIE)
    return raw if raw and 20 <= len(raw) <= 64 and raw.isascii() else None


def device_hash(conn: HTTPConnection, event_id: int) -> str:
    """The device id as stored for one event (a hash: the cookie itself never is)."""
    raw = device_id(conn)
    if raw is None:
        return ""
    return hashlib.sha256(f"{event_id}:{raw}".encode()).hexdigest()[:32]
