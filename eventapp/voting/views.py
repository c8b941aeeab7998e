"""The attendee's phone: join with a name, then the live rating page."""

from __future__ import annotations

import secrets
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from eventapp.admission import queries as admission
from eventapp.admission.hallcode import normalise
from eventapp.admission.limits import JoinLimiter
from eventapp.admission.rules import (
    JoinOrigin,
    address_group,
    device_label,
    rate_refusal,
)
from eventapp.core.models import Attendee, Event, Stage
from eventapp.core.privacy import PRIVACY_NOTICE_VERSION
from eventapp.core.validation import InvalidInput
from eventapp.errors import Refused
from eventapp.i18n import N_, Translatable
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


def set_identity(request: Request, response: Response, event: Event, attendee: Attendee) -> None:
    """The cookies that make this browser the attendee (and tie it to its device)."""
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


def _stage_param(raw: str, stages: list[Stage]) -> int | None:
    """A stage of this event named by ``?stage=`` (the QR code of a stage's projector);
    anything else is ignored (the phone stays where it was)."""
    if not raw.isdigit() or len(raw) > 12:
        return None
    wanted = int(raw)
    return wanted if any(s.id == wanted for s in stages) else None


def _vote_url(event: Event, stage_id: int | None) -> str:
    return f"/e/{event.code}" + (f"?stage={stage_id}" if stage_id else "")


async def event_page(request: Request) -> Response:
    event = await _event(request)
    if event is None or event.id is None:
        return _not_found(request)
    stages = await request.state.db.run_read(queries.stages_of, event.id)
    stage_id = _stage_param(request.query_params.get("stage", ""), stages)
    token = request.cookies.get(ATTENDEE_COOKIE.format(code=event.code))
    attendee = (
        await request.state.db.run_read(queries.attendee_by_token, event.id, token)
        if token
        else None
    )
    if attendee is None:
        return await _join_page(request, event, [], {"stage": str(stage_id or "")})
    if attendee.vote_page_at is None and attendee.id is not None:
        # Scripts that only post votes never load this page: a stuffing flag (issue 12).
        await request.state.db.run(admission.mark_vote_page, attendee.id)
    # Several stages: a picker; the phone starts on the stage of the scanned QR code, else
    # where it was last (kept on the phone), else the first.
    context = {
        "attendee": attendee,
        "stages": stages if len(stages) > 1 else [],
        "stage_id": stage_id,
    }
    return render(request, "attendee/vote.html", context, event=event)


async def _join_page(
    request: Request,
    event: Event,
    errors: list[str | Translatable],
    form: dict[str, str],
    *,
    status_code: int = 200,
) -> Response:
    assert event.id is not None
    adm = await request.state.db.run_read(admission.read_admission, event.id)
    # The projector's QR code carries the hall code: scanning in the hall just works.
    hall = normalise(form.get("hall") or request.query_params.get("hall", ""))
    context = {
        "errors": errors,
        "form": form,
        "mode": adm.mode,
        "hall": hall,
        "stage_id": form.get("stage", ""),
    }
    return render(request, "attendee/join.html", context, status_code=status_code, event=event)


def origin_of(request: Request) -> JoinOrigin:
    host = request.client.host if request.client else None
    return JoinOrigin(
        address_group=address_group(host),
        device=device_label(request.headers.get("user-agent")),
        now=time.time(),
    )


async def take_join(request: Request, event: Event, origin: JoinOrigin) -> None:
    """One join attempt from this address group (raises Refused when over)."""
    limiter: JoinLimiter = request.state.join_limiter
    wait = await limiter.take(f"{event.id}:{origin.address_group or 'unknown'}")
    if wait > 0:
        raise rate_refusal(wait)


async def join(request: Request) -> Response:
    event = await _event(request)
    if event is None or event.id is None:
        return _not_found(request)
    settings: Settings = request.state.settings
    form = await request.form(**form_limits(request.url.path))
    values = {k: str(form.get(k, ""))[:200] for k in ("name", "organization", "hall", "stage")}
    if not csrf_ok(request, str(form.get("csrf", "")), settings.allowed_origins):
        return await _join_page(
            request, event, [N_("The form expired. Please try again.")], values, status_code=403
        )
    # The same browser joining again (back button, second tab) stays the same attendee.
    token = request.cookies.get(ATTENDEE_COOKIE.format(code=event.code))
    stages = await request.state.db.run_read(queries.stages_of, event.id)
    stage_id = _stage_param(values["stage"], stages)
    values["stage"] = str(stage_id or "")
    if token and await request.state.db.run_read(queries.attendee_by_token, event.id, token):
        return RedirectResponse(_vote_url(event, stage_id), status_code=303)
    origin = origin_of(request)
    try:
        await take_join(request, event, origin)
        attendee = await join_event(
            event.id,
            values["name"],
            values["organization"],
            db=request.state.db,
            hall_code=values["hall"],
            origin=origin,
            # The join form names the privacy notice: which version was accepted, and when.
            consent=PRIVACY_NOTICE_VERSION,
        )
    except InvalidInput as exc:
        return await _join_page(request, event, [exc], values, status_code=400)
    except Refused as exc:
        status = 429 if exc.code == "rate_limited" else 403
        return await _join_page(request, event, [exc], values, status_code=status)
    response = RedirectResponse(_vote_url(event, stage_id), status_code=303)
    set_identity(request, response, event, attendee)
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
    set_identity(request, response, event, attendee)
    return response


routes = [
    Route("/e/{code}", event_page),
    Route("/e/{code}/join", join, methods=["POST"]),
    Route("/e/{code}/resume", resume, methods=["POST"]),
]
