"""The personal join link of an invitee (also the QR code on the printed badge).

Scanned on one's own phone it joins as that person: the first scan binds the device; a
second device needs the organiser's approval or a re-issued code. Scanned by someone who
already joined, it offers the contact exchange, with the same consent rules as the
personal code: the badge's owner must have networking on, and the scanner confirms.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from eventapp.admission import queries as admission
from eventapp.core.models import Event
from eventapp.core.privacy import record_consent
from eventapp.errors import Refused
from eventapp.i18n import N_, translator
from eventapp.live.pump import ATTENDEE_COOKIE
from eventapp.networking import contacts as ct
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.voting.rules import new_device_token
from eventapp.voting.views import origin_of, set_identity, take_join
from eventapp.web.render import language, render
from eventapp.web.security import csrf_ok


def _refused(request: Request, event: Event, message: str, status: int) -> Response:
    _ = translator(language(request, event.language, event))
    return render(request, "error.html", {"message": _(message)}, status_code=status, event=event)


async def invite_page(request: Request) -> Response:
    db = request.state.db
    event: Event | None = await db.run_read(queries.event_by_code, request.path_params["code"])
    if event is None or event.id is None:
        return render(request, "error.html", {"message": "Page not found."}, status_code=404)
    token = str(request.path_params["token"])
    invite = await db.run_read(admission.invite_by_token, event.id, token)
    if invite is None:
        return _refused(request, event, admission.BAD_INVITE.text, 404)
    cookie = request.cookies.get(ATTENDEE_COOKIE.format(code=event.code))
    me = await db.run_read(queries.attendee_by_token, event.id, cookie) if cookie else None
    if request.method == "POST":
        return await _join(request, event, token)
    if me is not None and me.id == invite.attendee_id:
        return RedirectResponse(f"/e/{event.code}", status_code=303)
    if me is not None:
        # Someone else's badge: offer the contact exchange (their consent: networking on).
        if invite.attendee_id is None:
            return _refused(request, event, N_("This person has not joined the event yet."), 404)
        try:
            exchange = await ct.my_token(event.id, invite.attendee_id, db=db)
        except Refused:
            return _refused(
                request, event, "This person does not exchange contacts at the moment.", 403
            )
        return RedirectResponse(f"/e/{event.code}/n/{exchange}", status_code=303)
    used = invite.attendee_id is not None and not invite.rebind_allowed
    context = {
        "invite": invite,
        "token": token,
        "used": used,
        "message": admission.USED_INVITE.text,
    }
    return render(
        request, "attendee/invite.html", context, status_code=409 if used else 200, event=event
    )


async def _join(request: Request, event: Event, token: str) -> Response:
    assert event.id is not None
    settings: Settings = request.state.settings
    form = await request.form()
    if not csrf_ok(request, str(form.get("csrf", "")), settings.allowed_origins):
        return _refused(request, event, "The form expired. Please try again.", 403)
    origin = origin_of(request)
    device_token = new_device_token()
    try:
        await take_join(request, event, origin)
        attendee = await request.state.db.run(
            admission.admit_invite, event.id, token, device_token, origin=origin
        )
    except Refused as exc:
        status = 429 if exc.code == "rate_limited" else 403
        _ = translator(language(request, event.language, event))
        return render(
            request, "error.html", {"message": exc.render(_)}, status_code=status, event=event
        )
    await asyncio.to_thread(record_consent, attendee, "privacy", db=request.state.db)
    response = RedirectResponse(f"/e/{event.code}", status_code=303)
    set_identity(request, response, event, attendee)
    return response


routes = [Route("/e/{code}/i/{token}", invite_page, methods=["GET", "POST"])]
