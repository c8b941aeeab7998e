"""Security headers, cross-site request checks and the Origin rule for sockets."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "ea_csrf"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
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
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault(
                    "Permissions-Policy", "camera=(self), microphone=(), geolocation=()"
                )
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
