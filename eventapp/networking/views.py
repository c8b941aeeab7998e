"""The attendee's networking pages: overview with suggestions, profile, directory, pitch
partnering. Transport only: every rule is in eventapp.networking.profiles / contacts.

Pages are plain server-rendered forms (they work without script); network.js adds the
live notices from the socket. Every form carries the CSRF token; every refusal is a page
that says what is wrong, with nothing stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from eventapp.core.db import Database
from eventapp.core.models import Attendee, Event
from eventapp.core.validation import InvalidInput
from eventapp.i18n import N_, Translatable
from eventapp.live.hub import Hub
from eventapp.live.pump import ATTENDEE_COOKIE
from eventapp.networking import contacts as ct
from eventapp.networking import profiles as nw
from eventapp.networking import queries as store
from eventapp.networking.models import (
    ORG_TYPE_LABELS,
    PARTNER_ROLE_LABELS,
)
from eventapp.networking.suggestions import SuggestionCache
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.web.limits import form_limits
from eventapp.web.render import render
from eventapp.web.security import csrf_ok, device_hash

MAX_FORM_BYTES = 16_384  # a whole profile is far below this; larger is refused unread
# What a redirect's ?done= says on the next page.
NOTICES = {
    "saved": N_("Profile saved."),
    "requested": N_("Request sent."),
    "connected": N_("You are now connected."),
    "declined": N_("Request declined."),
    "accepted": N_("You are now connected."),
    "exchanged": N_("Contacts exchanged."),
    "noted": N_("Note saved."),
    "rotated": N_("New code: the old one no longer works."),
    "blocked": N_("Blocked: you no longer see each other."),
    "unblocked": N_("Unblocked."),
    "interest": N_("Saved: the presenter can see your interest."),
    "withdrawn": N_("Interest withdrawn."),
}


@dataclass(frozen=True)
class Me:
    event: Event
    attendee: Attendee
    db: Database

    @property
    def event_id(self) -> int:
        assert self.event.id is not None
        return self.event.id

    @property
    def id(self) -> int:
        assert self.attendee.id is not None
        return self.attendee.id


async def identify(request: Request) -> Me | Response:
    """The attendee behind this phone's cookie, or the page that says what to do."""
    db: Database = request.state.db
    event = await db.run_read(queries.event_by_code, request.path_params["code"])
    if event is None or event.id is None:
        return render(request, "error.html", {"message": "Page not found."}, status_code=404)
    token = request.cookies.get(ATTENDEE_COOKIE.format(code=event.code))
    attendee = await db.run_read(queries.attendee_by_token, event.id, token) if token else None
    if attendee is None or attendee.id is None:
        return message(
            request, event, N_("Please join the event first."), status=403, back=f"/e/{event.code}"
        )
    if not getattr(event, "networking_enabled", True):
        return message(
            request,
            event,
            N_("Networking is switched off for this event."),
            status=404,
            back=f"/e/{event.code}",
        )
    return Me(event, attendee, db)


def message(
    request: Request,
    event: Event,
    text: str | Translatable,
    *,
    status: int = 400,
    back: str | None = None,
) -> Response:
    return render(
        request,
        "attendee/network/message.html",
        {
            "text": text,
            "back": back or f"/e/{event.code}/network",
            "net": f"/e/{event.code}/network",
            "notice": None,
        },
        status_code=status,
        event=event,
    )


def refused(request: Request, me: Me, exc: Exception, back: str | None = None) -> Response:
    if isinstance(exc, InvalidInput):
        # Rendered by the page in the reader's language (field and parameters included).
        return message(request, me.event, exc, back=back)
    if isinstance(exc, nw.Refused):
        status = 409 if exc.code in ("already_connected", "already_requested") else 400
        if exc.code in ("blocked", "forbidden"):
            status = 403
        return message(request, me.event, exc, status=status, back=back)
    raise exc


async def checked_form(request: Request, me: Me) -> FormData | Response:
    """The posted form, if it is small enough and carries this browser's CSRF token."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return message(request, me.event, N_("This form is too large."), status=413)
    form = await request.form(**form_limits(request.url.path))
    settings: Settings = request.state.settings
    if not csrf_ok(request, str(form.get("csrf", "")), settings.allowed_origins):
        return message(request, me.event, "The form expired. Please try again.", status=403)
    return form


def notifier(request: Request) -> nw.Notify:
    hub: Hub = request.state.hub
    return hub.notify_attendee


def page(
    handler: Callable[[Request, Me], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        me = await identify(request)
        if isinstance(me, Response):
            return me
        try:
            return await handler(request, me)
        except (InvalidInput, nw.Refused) as exc:
            return refused(request, me, exc)

    return endpoint


def show(
    request: Request, me: Me, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    base = {
        "attendee": me.attendee,
        "org_labels": {k.value: v for k, v in ORG_TYPE_LABELS.items()},
        "role_labels": {k.value: v for k, v in PARTNER_ROLE_LABELS.items()},
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "net": f"/e/{me.event.code}/network",
    }
    return render(
        request,
        f"attendee/network/{template}",
        {**base, **context},
        status_code=status,
        event=me.event,
    )


def back_to(me: Me, path: str, done: str) -> Response:
    return RedirectResponse(f"/e/{me.event.code}/network{path}?done={done}", status_code=303)


# ------------------------------------------------------------------ pages


async def overview(request: Request, me: Me) -> Response:
    person = await me.db.run_read(store.person, me.id)
    context: dict[str, Any] = {"me": person, "suggestions": [], "inbox": None}
    if person is not None and person.opted_in:
        cache: SuggestionCache = request.state.suggestions
        context["suggestions"] = await cache.for_attendee(me.event_id, me.id)
        context["inbox"] = await ct.my_requests(me.id, db=me.db)
    return show(request, me, "index.html", context)


async def profile_page(request: Request, me: Me) -> Response:
    if request.method == "POST":
        form = await checked_form(request, me)
        if isinstance(form, Response):
            return form
        values: dict[str, object] = {k: v for k, v in form.items() if isinstance(v, str)}
        values["interests"] = [str(v) for v in form.getlist("interests")]
        try:
            await nw.save_profile(
                me.event, me.id, values, db=me.db, device=device_hash(request, me.event_id)
            )
        except InvalidInput as exc:
            return show(
                request,
                me,
                "profile.html",
                {
                    "form": values,
                    "topics": nw.event_topics(me.event),
                    "error": exc,
                },
                status=400,
            )
        return back_to(me, "", "saved")
    person = await me.db.run_read(store.person, me.id)
    assert person is not None
    form_values: dict[str, object] = {
        "name": person.name,
        "organization": person.organization,
        "org_type": person.org_type,
        "role": person.role,
        "interests": list(person.interests),
        "offers": ", ".join(person.offers),
        "seeks": ", ".join(person.seeks),
        "offers_text": person.offers_text,
        "seeks_text": person.seeks_text,
        **person.contact,
        **{f"share_{k}": "on" if v else "" for k, v in person.share.items()},
        "opt_in": "on" if person.opted_in else "",
    }
    return show(
        request,
        me,
        "profile.html",
        {
            "form": form_values,
            "topics": nw.event_topics(me.event),
            "error": None,
        },
    )


async def people_page(request: Request, me: Me) -> Response:
    person = await me.db.run_read(store.person, me.id)
    nw.require_opted_in(person)
    q = request.query_params
    filters = {
        "text": q.get("q", "")[:80],
        "tag": q.get("tag", "")[:40],
        "org_type": q.get("org_type", "")[:20],
    }
    found = await nw.find_people(me.event_id, me.id, db=me.db, **filters)
    links = {
        (lk.low_id + lk.high_id - me.id): lk.state
        for lk in await me.db.run_read(store.links_of, me.id)
    }
    return show(
        request,
        me,
        "people.html",
        {
            "people": found,
            "filters": filters,
            "links": links,
            "topics": nw.event_topics(me.event),
        },
    )


async def pitches_page(request: Request, me: Me) -> Response:
    # Partner interest spans the conference: the pitches of every stage (issue 15).
    states = await me.db.run_read(queries.load_states, me.event_id)
    mine = await me.db.run_read(store.interests_of_attendee, me.id)
    presented = await me.db.run_read(store.pitches_presented_by, me.id)
    interested = {
        p.id: await nw.interested_in_pitch(p.id, me.id, db=me.db)
        for p in presented
        if p.id is not None
    }
    return show(
        request,
        me,
        "pitches.html",
        {
            "pitches": [p for state in states for p in state.pitches],
            "mine": mine,
            "interested": interested,
        },
    )


async def pitch_interest(request: Request, me: Me) -> Response:
    form = await checked_form(request, me)
    if isinstance(form, Response):
        return form
    pitch_id = int(request.path_params["pitch_id"])
    if form.get("withdraw"):
        await nw.withdraw_interest(me.event_id, pitch_id, me.id, db=me.db)
        return back_to(me, "/pitches", "withdrawn")
    await nw.express_interest(
        me.event_id,
        pitch_id,
        me.id,
        str(form.get("role", "")),
        str(form.get("note", "")),
        db=me.db,
        notify=notifier(request),
    )
    return back_to(me, "/pitches", "interest")


routes = [
    Route("/e/{code}/network", page(overview)),
    Route("/e/{code}/network/profile", page(profile_page), methods=["GET", "POST"]),
    Route("/e/{code}/network/people", page(people_page)),
    Route("/e/{code}/network/pitches", page(pitches_page)),
    Route("/e/{code}/network/pitches/{pitch_id:id}", page(pitch_interest), methods=["POST"]),
]
