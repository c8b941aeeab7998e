"""What the projector adds for admission: the rotating hall code and its QR code, and the
"how obtained" line (admission mode, turnout against expected attendees)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from eventapp.admission import queries as admission
from eventapp.admission.hallcode import PERIOD, current_code
from eventapp.admission.models import Mode
from eventapp.core.models import Event
from eventapp.core.permissions import screen_stage
from eventapp.enums import Role
from eventapp.voting import queries as voting
from eventapp.web.pages import qr_svg
from eventapp.web.render import base_url, render


async def _screen_event(request: Request) -> Event | None:
    event: Event | None = await request.state.db.run_read(
        admission.event_by_code, request.path_params["code"]
    )
    if event is None or event.id is None:
        return None
    stages = await request.state.db.run_read(voting.stages_of, event.id)
    if screen_stage(event, stages, Role.PROJECTOR, request.path_params["key"]) is None:
        return None
    return event


def join_url(request: Request, event: Event, hall_code: str | None) -> str:
    url = f"{base_url(request)}/e/{event.code}"
    return f"{url}?hall={hall_code}" if hall_code else url


async def admission_json(request: Request) -> Response:
    event = await _screen_event(request)
    if event is None or event.id is None:
        return render(
            request, "error.html", {"message": "This link is not valid."}, status_code=404
        )
    db = request.state.db
    adm = await db.run_read(admission.read_admission, event.id)
    now = time.time()
    code = current_code(adm.secret, now) if adm.mode == Mode.HALL else None
    body = {
        "mode": adm.mode,
        "hall_code": code,
        "join_url": join_url(request, event, code),
        "attendees": await db.run_read(admission.admitted_count, event.id),
        "expected": adm.expected_attendees,
        # When the code changes next: the projector polls a little after that.
        "next_change_in": round(PERIOD - now % PERIOD, 1),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def join_qr(request: Request) -> Response:
    event = await _screen_event(request)
    if event is None or event.id is None:
        return render(
            request, "error.html", {"message": "This link is not valid."}, status_code=404
        )
    adm = await request.state.db.run_read(admission.read_admission, event.id)
    code = current_code(adm.secret, time.time()) if adm.mode == Mode.HALL else None
    # The hall code is a short-lived credential: never cached.
    return Response(
        qr_svg(join_url(request, event, code)),
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


routes = [
    Route("/e/{code}/projector/{key}/admission.json", admission_json),
    Route("/e/{code}/projector/{key}/join-qr.svg", join_qr),
]
