"""Limits on what one HTTP request may cost us: body size, body time, header time.

The join code is on the projector, so anyone in (or near) the hall can reach every
anonymous route with a script. Nothing here trusts ``Content-Length``: the body limit
counts the bytes as they stream in, and the body clock runs while the app waits for
them. The numbers are in the README ("Security").

``BodyLimits`` is ASGI middleware (any server). ``GuardedH11Protocol`` is the uvicorn
protocol ``python -m eventapp serve`` runs: uvicorn has no timeout for the request line
and headers, so a client that sends one byte every few seconds would hold its socket
for ever.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import h11
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from eventapp.i18n import translator
from eventapp.organizing.imports import MAX_BYTES as IMPORT_MAX_BYTES

# Anonymous routes (join, resume, networking forms, privacy): the largest real form, a
# full networking profile, is about 3 KB; 16 KB leaves room and costs nothing.
ANONYMOUS_BODY_BYTES = 16 * 1024
# Organiser forms other than imports: settings, a pitch, a confirmation.
ORGANIZER_BODY_BYTES = 64 * 1024
# Organiser imports: the file (imports.MAX_BYTES) plus the form around it. A little above
# the console's own check (file + 64 KB), which answers an honest Content-Length with the
# console page; this is the backstop for bodies that lie or declare nothing.
IMPORT_BODY_BYTES = IMPORT_MAX_BYTES + 128 * 1024
# The whole body must have arrived this long after the app first asks for it: a few KB
# take milliseconds even on bad hall Wi-Fi; a 1 MB import takes seconds on 1 Mbit/s.
ANONYMOUS_BODY_SECONDS = 10.0
ORGANIZER_BODY_SECONDS = 60.0
# The request line and all headers must have arrived this long after the connection
# opened (or after the previous response on a kept-alive connection started waiting).
HEADER_SECONDS = 10.0
# Longest request line plus headers uvicorn's h11 parser buffers (its default is 16 KB).
MAX_HEADER_BYTES = 16 * 1024
# Idle kept-alive connection (uvicorn --timeout-keep-alive; its default is 5 s).
KEEP_ALIVE_SECONDS = 5
# Form fields per form: a profile has about 25 (interests repeat); organiser forms fewer.
MAX_FORM_FIELDS = 60

_ORGANIZER = re.compile(r"^/e/[^/]+/organizer/[^/]+(/.*)?$")
_IMPORT = re.compile(r"^/e/[^/]+/organizer/[^/]+/import/[^/]+$")


MAX_ID = 2**63 - 1  # the largest BIGINT / SQLite integer


def at_most(bound: int) -> str:
    """A regex matching the decimal numbers 1..bound without leading zeros, so a path
    with a larger number does not match its route at all (404, not an overflow)."""
    digits = str(bound)
    parts = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, d in enumerate(digits):
        low = "1" if i == 0 else "0"
        if int(d) > int(low):
            rest = len(digits) - i - 1
            parts.append(f"{digits[:i]}[{low}-{int(d) - 1}][0-9]{{{rest}}}")
    parts.append(digits)
    return "(?:" + "|".join(parts) + ")"


class IdConvertor(Convertor[int]):
    """``{name:id}`` in a route: a database id, 1..2^63-1."""

    regex = at_most(MAX_ID)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 1 <= value <= MAX_ID:
            raise ValueError("id out of range")
        return str(value)


# Route tables are built when the views modules are imported, and they import this module
# first; registering here (once, idempotent) makes ``{x:id}`` known before any route.
register_url_convertor("id", IdConvertor())


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    seconds: float
    # Refuse on the declared Content-Length before the app runs. Organiser routes answer
    # an honest oversized upload themselves, on the console page; the count still applies.
    refuse_declared: bool = True


def body_limit(path: str) -> BodyLimit:
    """Which limit a path gets: imports, other organiser routes, or anonymous."""
    if _IMPORT.match(path):
        return BodyLimit(IMPORT_BODY_BYTES, ORGANIZER_BODY_SECONDS, refuse_declared=False)
    if _ORGANIZER.match(path):
        return BodyLimit(ORGANIZER_BODY_BYTES, ORGANIZER_BODY_SECONDS, refuse_declared=False)
    return BodyLimit(ANONYMOUS_BODY_BYTES, ANONYMOUS_BODY_SECONDS)


def form_limits(path: str) -> dict[str, int]:
    """Keyword arguments for ``request.form``: no files except for imports, few fields,
    no field larger than the body limit of its route."""
    limit = body_limit(path)
    return {
        "max_files": 1 if _IMPORT.match(path) else 0,
        "max_fields": MAX_FORM_FIELDS,
        "max_part_size": limit.max_bytes,
    }


class BodyTooLarge(Exception):
    """More bytes arrived than the route allows (not a ValueError: views that catch
    bad JSON must not swallow it)."""


class BodyTooSlow(Exception):
    """The body did not arrive within the route's time."""


class BodyLimits:
    """Cut request bodies at the route's byte limit (413) and time limit (408)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = _content_length(scope)
        if limit.refuse_declared and declared is not None and declared > limit.max_bytes:
            await _refuse(scope, send, 413, limit)
            return
        loop = asyncio.get_running_loop()
        deadline: float | None = None  # the clock starts when the app first asks
        received = 0
        # A request without a body needs no clock; one whose body the app never reads
        # gets "Connection: close", so the client cannot keep streaming into the socket.
        body_done = not declared and not _header(scope, b"transfer-encoding")
        started = False

        async def limited_receive() -> Message:
            nonlocal received, body_done, deadline
            if body_done:  # later calls only wait for a disconnect: no clock on those
                return await receive()
            if deadline is None:
                deadline = loop.time() + limit.seconds
            remaining = deadline - loop.time()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise BodyTooLarge
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not body_done:
                    message = {**message, "headers": [*message["headers"], _CLOSE]}
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except (BodyTooLarge, BodyTooSlow) as exc:
            if started:
                raise
            await _refuse(scope, send, 413 if isinstance(exc, BodyTooLarge) else 408, limit)


_CLOSE = (b"connection", b"close")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    try:
        return int(_header(scope, b"content-length") or b"")
    except ValueError:
        return None


def refusal_text(status: int, limit: BodyLimit, lang: str) -> str:
    _ = translator(lang)
    if status == 413:
        return _("This request is too large: the limit here is %(kb)d KB.") % {
            "kb": limit.max_bytes // 1024
        }
    return _("This request arrived too slowly: it must arrive within %(seconds)d seconds.") % {
        "seconds": int(limit.seconds)
    }


async def _refuse(scope: Scope, send: Send, status: int, limit: BodyLimit) -> None:
    """The refusal page in the person's language; ``Connection: close`` so the server
    drops the rest of the body instead of reading it."""
    from eventapp.web.render import language, render

    request = Request(scope)
    lang = language(request)
    text = refusal_text(status, limit, lang)
    headers = [_CLOSE, (b"cache-control", b"no-store")]
    accept = request.headers.get("accept", "")
    content_type = request.headers.get("content-type", "")
    body: bytes
    if "json" in accept or "json" in content_type or "state" not in scope:
        error = "too_large" if status == 413 else "too_slow"
        body = json.dumps({"error": error, "message": text}, ensure_ascii=False).encode()
        headers.append((b"content-type", b"application/json"))
    else:
        page = render(request, "error.html", {"message": text}, status_code=status)
        body = bytes(page.body)
        headers += [
            (k, v) for k, v in page.raw_headers if k not in (b"content-length", b"cache-control")
        ]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for the request line and headers.

    The clock starts when the connection opens and again whenever the connection waits
    for a new request; it stops once h11 has a complete request head. A WebSocket upgrade
    also stops it (the live socket has its own hello timeout)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._header_timer is None:
            self._arm_header_timer()  # a kept-alive connection starts its next request
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(HEADER_SECONDS, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.transport.close()
