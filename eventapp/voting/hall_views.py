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


async def _screen_event(request: Request) -> tuple[Event, int | None] | None:
    """The event of a projector link, and the stage its QR code puts phones on (None in
    a one-stage event: the code stays the plain event link)."""
    event: Event | None = await request.state.db.run_read(
        admission.event_by_code, request.path_params["code"]
    )
    if event is None or event.id is None:
        return None
    stages = await request.state.db.run_read(voting.stages_of, event.id)
    raw = request.query_params.get("stage", "")
    wanted = int(raw) if raw.isdigit() and len(raw) < 12 else None
    stage = screen_stage(event, stages, Role.PROJECTOR, request.path_params["key"], wanted)
    if stage is None:
        return None
    return event, (stage.id if len(stages) > 1 else None)


def join_url(
    request: Request, event: Event, hall_code: str | None, stage_id: int | None = None
) -> str:
    """What the projector's QR code encodes: the event, its hall code, and (several
    stages) the stage, so scanning a stage's projector puts the phone on that stage."""
    url = f"{base_url(request)}/e/{event.code}"
    query = [f"stage={stage_id}"] if stage_id is not None else []
    if hall_code:
        query.append(f"hall={hall_code}")
    return f"{url}?{'&'.join(query)}" if query else url


async def admission_json(request: Request) -> Response:
    found = await _screen_event(request)
    if found is None or found[0].id is None:
        return render(
            request, "error.html", {"message": "This link is not valid."}, status_code=404
        )
    event, stage_id = found
    assert event.id is not None
    db = request.state.db
    adm = await db.run_read(admission.read_admission, event.id)
    now = time.time()
    code = current_code(adm.secret, now) if adm.mode == Mode.HALL else None
    body = {
        "mode": adm.mode,
        "hall_code": code,
        "join_url": join_url(request, event, code, stage_id),
        "attendees": await db.run_read(admission.admitted_count, event.id),
        "expected": adm.expected_attendees,
        # When the code changes next: the projector polls a little after that.
        "next_change_in": round(PERIOD - now % PERIOD, 1),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def join_qr(request: Request) -> Response:
    found = await _screen_event(request)
    if found is None or found[0].id is None:
        return render(
            request, "error.html", {"message": "This link is not valid."}, status_code=404
        )
    event, stage_id = found
    assert event.id is not None
    adm = await request.state.db.run_read(admission.read_admission, event.id)
    code = current_code(adm.secret, time.time()) if adm.mode == Mode.HALL else None
    # The hall code is a short-lived credential: never cached.
    return Response(
        qr_svg(join_url(request, event, code, stage_id)),
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


routes = [
    Route("/e/{code}/projector/{key}/admission.json", admission_json),
    Route("/e/{code}/projector/{key}/join-qr.svg", join_qr),
]
