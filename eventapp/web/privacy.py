"""The event's privacy notice and the attendee's own "delete my data"."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventapp.core.models import Attendee, Event
from eventapp.core.privacy import PRIVACY_NOTICE_VERSION, delete_my_data, retention_ends
from eventapp.i18n import N_
from eventapp.live.pump import ATTENDEE_COOKIE
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.web.limits import form_limits
from eventapp.web.render import render
from eventapp.web.security import csrf_ok


async def _load(request: Request) -> tuple[Event | None, Attendee | None]:
    db = request.state.db
    event: Event | None = await db.run_read(queries.event_by_code, request.path_params["code"])
    if event is None or event.id is None:
        return None, None
    token = request.cookies.get(ATTENDEE_COOKIE.format(code=event.code))
    attendee = await db.run_read(queries.attendee_by_token, event.id, token) if token else None
    return event, attendee


def _page(
    request: Request,
    event: Event,
    attendee: Attendee | None,
    *,
    status_code: int = 200,
    errors: list[str] | None = None,
    deleted: bool = False,
) -> Response:
    return render(
        request,
        "privacy.html",
        {
            "attendee": attendee,
            "errors": errors or [],
            "deleted": deleted,
            "version": PRIVACY_NOTICE_VERSION,
            "retention_ends": retention_ends(event).date().isoformat(),
        },
        status_code=status_code,
        event=event,
    )


async def notice(request: Request) -> Response:
    event, attendee = await _load(request)
    if event is None:
        return render(request, "error.html", {"message": "Page not found."}, status_code=404)
    return _page(request, event, attendee)


async def delete(request: Request) -> Response:
    event, attendee = await _load(request)
    if event is None:
        return render(request, "error.html", {"message": "Page not found."}, status_code=404)
    settings: Settings = request.state.settings
    form = await request.form(**form_limits(request.url.path))
    if not csrf_ok(request, str(form.get("csrf", "")), settings.allowed_origins):
        return _page(
            request,
            event,
            attendee,
            status_code=403,
            errors=["The form expired. Please try again."],
        )
    if attendee is None:
        return _page(
            request,
            event,
            None,
            status_code=400,
            errors=[N_("This phone holds no data of yours for this event.")],
        )
    if form.get("confirm") != "yes":
        return _page(
            request,
            event,
            attendee,
            status_code=400,
            errors=[N_("Tick the box to confirm that your data should be deleted.")],
        )
    await delete_my_data(attendee, db=request.state.db)
    response = _page(request, event, None, deleted=True)
    response.delete_cookie(ATTENDEE_COOKIE.format(code=event.code), path=f"/e/{event.code}")
    return response


routes = [
    Route("/e/{code}/privacy", notice),
    Route("/e/{code}/privacy/delete", delete, methods=["POST"]),
]
