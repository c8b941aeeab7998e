"""What the organiser console shows: the page context and the live dashboard numbers."""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from eventapp.core import privacy
from eventapp.core import queries as shared
from eventapp.core.models import Event
from eventapp.exports import base as exports
from eventapp.exports import registry
from eventapp.i18n import N_, Translatable
from eventapp.organizing import imports
from eventapp.organizing import queries as store
from eventapp.organizing import rules as organizing
from eventapp.organizing.attendees import attendee_panel
from eventapp.organizing.event_settings import (
    EventSettings,
    parse_days,
    parse_languages,
    parse_scale,
)
from eventapp.organizing.rules import format_matrix
from eventapp.questions.rules import question_settings_form
from eventapp.voting import queries
from eventapp.web.render import base_url, event_links, formats, render, stage_links

# The console names the event's links by their keys (web.render.event_links).
LINK_NAMES = (N_("attendee"), N_("moderator"), N_("projector"), N_("organizer"))


def settings_input(form: Mapping[str, str]) -> EventSettings:
    """The settings form's fields as typed input (raises InvalidInput for a number that
    is not one, like the rule would)."""
    scale_min, scale_max = parse_scale(form.get("scale_min", ""), form.get("scale_max", ""))
    return EventSettings(
        name=form.get("name", ""),
        date=form.get("date", ""),
        languages=parse_languages(form.get("languages", "") or ""),
        language=form.get("language", "de"),
        scale_min=scale_min,
        scale_max=scale_max,
        labels=tuple(form.get("scale_labels", "").splitlines()),
        live_results=form.get("results", "blind") == "live",
        topics=tuple(form.get("topics", "").splitlines()),
        org_type_matrix=form.get("org_type_matrix", ""),
        networking=form.get("networking", "") == "on",
        retention_days=parse_days(form.get("retention_days", "")),
        timezone=form.get("timezone", ""),
        # The Q&A fields ("questions", "questions_…", "question_…"), read by questions.rules.
        questions={k: v for k, v in form.items() if k.startswith("question")},
    )


def settings_form(event: Event) -> dict[str, str]:
    labels = json.loads(event.scale_labels or "[]")
    return {
        "name": event.name,
        "date": event.date,
        "languages": event.languages,
        "language": event.language,
        "scale_min": str(event.scale_min),
        "scale_max": str(event.scale_max),
        "scale_labels": "\n".join(labels),
        "results": "live" if event.live_results else "blind",
        "topics": "\n".join(json.loads(event.topics or "[]")),
        "org_type_matrix": format_matrix(event.org_type_matrix),
        "networking": "on" if event.networking_enabled else "",
        "retention_days": str(event.retention_days),
        **question_settings_form(event),
        "timezone": event.timezone,
    }


async def dashboard(request: Request, event: Event) -> dict[str, Any]:
    """Attendees, turnout per pitch and connections, from SQL (the source of truth); every
    stage with its pitch on stage, that pitch's state, votes and turnout (issue 15)."""
    from eventapp.exports.networking import connection_count

    db = request.state.db
    assert event.id is not None
    states = await db.run_read(queries.load_states, event.id)
    counts = await db.run_read(queries.counts_by_pitch, event.id)
    attendees = await db.run_read(shared.attendees_of_event, event.id)
    active = sum(1 for a in attendees if a.anonymised_at is None)
    connections = await run_in_threadpool(connection_count, db, event.id)

    def votes(pitch_id: int) -> int:
        return sum(counts.get(pitch_id, {}).values())

    def turnout(pitch_id: int) -> int:
        return round(100 * votes(pitch_id) / active) if active else 0

    fmt = formats(request, event)

    stages = []
    for state in states:
        current = state.pitch(state.current_pitch_id)
        stages.append(
            {
                "id": state.stage_id,
                "name": state.stage_name,
                "current_pitch_id": state.current_pitch_id,
                "current_title": current.title if current else "",
                "state": current.state.value if current else "",
                "state_label": fmt.pgettext("pitch state", current.state.value) if current else "",
                "votes": votes(current.id) if current else 0,
                "turnout": turnout(current.id) if current else 0,
                "pitches": len(state.pitches),
            }
        )
    return {
        "attendees": active,
        "connections": connections,
        "stages": stages,
        "pitches": [
            {
                "id": p.id,
                "title": p.title,
                "stage_id": state.stage_id,
                "stage": state.stage_name,
                "state": p.state.value,
                "votes": votes(p.id),
                "turnout": turnout(p.id),
            }
            for state in states
            for p in state.pitches
        ],
    }


def _local_input(moment: datetime | None, timezone: str) -> str:
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(zoneinfo.ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")


async def stage_panel(request: Request, event: Event) -> dict[str, Any]:
    """The console's stages: each with its state (pitches), links, sessions and votes."""
    db = request.state.db
    assert event.id is not None
    stages = await db.run_read(queries.stages_of, event.id)
    states = {s.stage_id: s for s in await db.run_read(queries.load_states, event.id)}
    sessions = await db.run_read(store.sessions_of_event, event.id)
    places = await db.run_read(store.pitch_places, event.id)
    base = base_url(request)
    panel = []
    for stage in stages:
        assert stage.id is not None
        own = [s for s in sessions if s.stage_id == stage.id]
        panel.append(
            {
                "stage": stage,
                "state": states[stage.id],
                "links": stage_links(event, base, stage),
                "sessions": own,
                "session_title": {s.id: s.title for s in own},
                # The start time as the form's datetime-local field shows it (event zone).
                "session_start": {s.id: _local_input(s.starts_at, event.timezone) for s in own},
                "votes": await db.run_read(store.stage_votes, stage.id),
            }
        )
    # Every place a pitch can go: "stage" or "stage:session" with a label.
    places_options = []
    for item in panel:
        stage = item["stage"]
        places_options.append((f"{stage.id}", item["state"].stage_name))
        for agenda in item["sessions"]:
            places_options.append(
                (f"{stage.id}:{agenda.id}", f"{item['state'].stage_name} · {agenda.title}")
            )
    return {
        "stage_panel": panel,
        "several_stages": len(stages) > 1,
        "place_options": places_options,
        "pitch_place": {
            pid: (f"{sid}:{xid}" if xid is not None else f"{sid}")
            for pid, (sid, xid) in places.items()
        },
    }


async def console(
    request: Request,
    event: Event,
    *,
    status_code: int = 200,
    errors: Sequence[str | Translatable] | None = None,
    form: dict[str, str] | None = None,
    preview: imports.CheckedImport | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    db = request.state.db
    assert event.id is not None
    event = await db.run_read(queries.event_by_code, event.code) or event
    state = await db.run_read(queries.load_state, event.id)
    attendees = [
        a for a in await db.run_read(shared.attendees_of_event, event.id) if a.anonymised_at is None
    ]
    partners = await db.run_read(shared.partners_of_event, event.id)
    context = {
        "key": event.organizer_key,
        "links": event_links(
            event, base_url(request), (await db.run_read(queries.stages_of, event.id))[0]
        ),
        "state": state,
        "attendees": attendees,
        "partners": partners,
        "presenters": await db.run_read(store.presenter_links, event.id),
        # "Name (Organisation) #id": what the presenter field shows and sends back.
        "attendee_label": {
            a.id: organizing.attendee_label(a.id, a.name, a.organization) for a in attendees
        },
        "dashboard": await dashboard(request, event),
        "errors": errors or [],
        "done": request.query_params.get("done", ""),
        "form": form or settings_form(event),
        "exporters": registry.listing(),
        "formats": list(exports.FORMATS),
        "preview": preview,
        "preview_payload": (
            imports.sign_preview(preview.kind.slug, preview.rows, secret=event.export_salt)
            if preview
            else ""
        ),
        "import_kinds": imports.KINDS,
        "retention_ends": privacy.retention_ends(event).date().isoformat(),
        "expired": privacy.is_expired(event),
        # Attendees, admission and invites (issue 12): templates/organizer/_attendees.html.
        **await db.run_read(attendee_panel, event.id),
        "invite_base": f"{base_url(request)}/e/{event.code}/i/",
        # Stages, their links and sessions (issue 15): templates/organizer/_stages.html.
        **await stage_panel(request, event),
        **(extra or {}),
    }
    return render(request, "organizer/index.html", context, status_code=status_code, event=event)
