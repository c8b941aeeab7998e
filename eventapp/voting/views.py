"""The attendee's phone: join with a name, then the live rating page."""

from __future__ import annotations

import asyncio
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from eventapp.core.models import Attendee, Event
from eventapp.core.privacy import record_consent
from eventapp.core.validation import InvalidInput
from eventapp.i18n import N_
from eventapp.live.pump import ATTENDEE_COOKIE
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.voting.rules import join_event
from eventapp.web.limits import form_limits
from eventapp.web.render import render
from eventapp.web.security import (
    DEVICE_COOKIE,
    DEVICE_MAX_AGE,
    csrf_ok,
    device_id,
    origin_allowed,
)

COOKIE_MAX_AGE = 30 * 86400


async def _event(request: Request) -> Event | None:
    event: Event | None = await request.state.db.run_read(
        queries.event_by_code, request.path_params["code"]
    )
    return event


def _not_found(request: Request) -> Response:
    return render(request, "error.html", {"message": "Page not found."}, status_code=404)


def _set_identity(request: Request, response: Response, event: Event, attendee: Attendee) -> None:
    settings: Settings = request.state.settings
    response.set_cookie(
        ATTENDEE_COOKIE.format(code=event.code),
        attendee.token,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path=f"/e/{event.code}",
    )
    if device_id(request) is None:
        response.set_cookie(
            DEVICE_COOKIE,
            secrets.token_urlsafe(18),
            max_age=DEVICE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=settings.cookie_secure,
        )


async def event_page(request: Request) -> Response:
    event = await _event(request)
    if event is None or event.id is None:
        return _not_found(request)
    token = request.cookies.get(ATTENDEE_COOKIE.format(code=event.code))
    attendee = (
        await request.state.db.run_read(queries.attendee_by_token, event.id, token)
        if token
        else None
    )
    if attendee is None:
        return render(request, "attendee/join.html", {"errors": [], "form": {}}, event=event)
    return render(request, "attendee/vote.html", {"attendee": attendee}, event=event)


async def join(request: Request) -> Response:
    event = await _event(request)
    if event is None or event.id is None:
        return _not_found(request)
    settings: Settings = request.state.settings
    form = await request.form(**form_limits(request.url.path))
    values = {k: str(form.get(k, "")) for k in ("name", "organization")}
    if not csrf_ok(request, str(form.get("csrf", "")), settings.allowed_origins):
        return render(
            request,
            "attendee/join.html",
            {"errors": [N_("The form expired. Please try again.")], "form": values},
            status_code=403,
            event=event,
        )
    try:
        attendee = await join_event(
            event.id, values["name"], values["organization"], db=request.state.db
        )
    except InvalidInput as exc:
        return render(
            request,
            "attendee/join.html",
            {"errors": [exc], "form": values},
            status_code=400,
            event=event,
        )
    # The join form names the privacy notice: record which version was accepted, and when.
    await asyncio.to_thread(record_consent, attendee, "privacy", db=request.state.db)
    response = RedirectResponse(f"/e/{event.code}", status_code=303)
    _set_identity(request, response, event, attendee)
    return response


async def resume(request: Request) -> Response:
    """Restore the cookie from the device token kept on the phone (cookie cleared)."""
    event = await _event(request)
    if event is None or event.id is None:
        return JSONResponse({"error": "not_found"}, status_code=404)
    settings: Settings = request.state.settings
    if request.headers.get("origin") is None or not origin_allowed(
        request, settings.allowed_origins
    ):
        return JSONResponse({"error": "bad_origin"}, status_code=403)
    try:
        body = await request.json()
        token = str(body["token"])[:128]
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "bad_request"}, status_code=400)
    attendee = await request.state.db.run_read(queries.attendee_by_token, event.id, token)
    if attendee is None:
        return JSONResponse({"error": "unknown_token"}, status_code=404)
    response = JSONResponse({"ok": True, "name": attendee.name})
    _set_identity(request, response, event, attendee)
    return response


routes = [
    Route("/e/{code}", event_page),
    Route("/e/{code}/join", join, methods=["POST"]),
    Route("/e/{code}/resume", resume, methods=["POST"]),
]
