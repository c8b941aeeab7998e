"""The organiser's set-up: event settings, the pitch list, and rotating screen links.

Each change is one transaction; after it commits, the rule publishes the new state on the
event's channel itself (``voting.rules.publish_state``), exactly like the moderator's
changes, so open phones and screens update. Rules take ``bus`` and ``namespace``.
"""

from __future__ import annotations

import functools
import json
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlmodel import Session

from eventapp.core.bus import Bus
from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.core.validation import InvalidInput, clean_text
from eventapp.i18n import DEFAULT_TIMEZONE, LANGUAGES
from eventapp.messages import BusKeyRotated, encode
from eventapp.organizing import queries as store
from eventapp.organizing.event_settings import EventSettings
from eventapp.organizing.event_settings import format_matrix as format_matrix
from eventapp.questions.rules import clean_question_settings
from eventapp.voting.queries import EventState, load_states, vote_total
from eventapp.voting.rules import event_channel, new_key, publish_state, publish_states

ROTATABLE = {"moderator": "moderator_key", "projector": "projector_key"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _lines(
    lines: Sequence[str], *, field: str, max_items: int = 60, max_length: int = 60
) -> list[str]:
    items = [clean_text(x, field=field, max_length=max_length) for x in lines]
    items = [x for x in items if x]
    if len(items) > max_items:
        raise InvalidInput(field, "has more than %(limit)d entries", limit=max_items)
    if len({x.casefold() for x in items}) != len(items):
        raise InvalidInput(field, "lists an entry twice")
    return items


def _org_type(label: str, number: int) -> str:
    """The label as typed, if networking's matching knows it (else suggestions would
    silently ignore the line)."""
    from eventapp.networking.matching import org_type_of
    from eventapp.networking.models import ORG_TYPE_LABELS

    if org_type_of(label) is None:
        known = ", ".join(ORG_TYPE_LABELS.values())
        raise InvalidInput(
            "organisation-type matrix",
            "line %(line)d: unknown type '%(label)s' (known: %(known)s)",
            line=number,
            label=label,
            known=known,
        )
    return label


def parse_matrix(text: str) -> dict[str, list[str]]:
    """``start-up: research, company`` per line: whom each organisation type should meet."""
    matrix: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        left, sep, right = line.partition(":")
        if not sep or not left.strip():
            raise InvalidInput(
                "organisation-type matrix",
                "line %(line)d: write 'type: other type, other type'",
                line=number,
            )
        key = _org_type(clean_text(left, field="organisation-type matrix", max_length=60), number)
        matrix[key] = [
            _org_type(clean_text(x, field="organisation-type matrix", max_length=60), number)
            for x in right.split(",")
            if x.strip()
        ]
    return matrix


def clean_settings(
    settings: EventSettings, *, languages: tuple[str, ...] = LANGUAGES
) -> dict[str, object]:
    """Validate typed settings into Event column values (raises InvalidInput).

    ``languages``: those the server offers (the LANGUAGES setting)."""
    server_languages = languages
    values: dict[str, object] = {
        "name": clean_text(settings.name, field="name", max_length=120, required=True)
    }
    date = settings.date.strip()
    if date and not _DATE.match(date):
        raise InvalidInput("date", "must look like 2026-05-14")
    values["date"] = date
    chosen = list(settings.languages)
    if not chosen or any(x not in server_languages for x in chosen):
        raise InvalidInput(
            "languages",
            "must be one or more of %(codes)s, separated by commas",
            codes=", ".join(server_languages),
        )
    values["languages"] = ",".join(dict.fromkeys(chosen))
    if settings.language not in chosen:
        raise InvalidInput("language", "must be one of the offered languages")
    values["language"] = settings.language
    lo, hi = settings.scale_min, settings.scale_max
    if not 0 <= lo < hi <= 10:
        raise InvalidInput("scale", "must be two whole numbers 0 ≤ min < max ≤ 10")
    values["scale_min"], values["scale_max"] = lo, hi
    labels = [clean_text(x, field="label", max_length=40) for x in settings.labels]
    labels = labels if any(labels) else []
    if labels and len(labels) != hi - lo + 1:
        raise InvalidInput("labels", "needs %(count)d labels, one per score", count=hi - lo + 1)
    values["scale_labels"] = json.dumps(labels, ensure_ascii=False)
    values["live_results"] = settings.live_results
    values["topics"] = json.dumps(_lines(settings.topics, field="topics"), ensure_ascii=False)
    values["org_type_matrix"] = json.dumps(
        parse_matrix(settings.org_type_matrix), ensure_ascii=False
    )
    values["networking_enabled"] = settings.networking
    days = settings.retention_days
    if not 1 <= days <= 3650:
        raise InvalidInput("retention period", "must be between 1 and 3650 days")
    values["retention_days"] = days
    # Audience questions (eventapp/questions).
    values.update(clean_question_settings(settings.questions))
    timezone = settings.timezone.strip() or DEFAULT_TIMEZONE
    if timezone not in _timezones():
        raise InvalidInput("time zone", "is not a time zone name such as Europe/Berlin")
    values["timezone"] = timezone
    return values


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


async def update_settings(
    event: Event,
    settings: EventSettings,
    *,
    db: Database,
    bus: Bus,
    namespace: str,
    languages: tuple[str, ...] = LANGUAGES,
) -> EventState:
    assert event.id is not None
    # The real reason first: once votes exist the scale is fixed, whatever the labels say
    # (checking the labels first sent organisers off counting labels for nothing).
    wanted = (settings.scale_min, settings.scale_max)
    event_id = event.id

    def votes(session: Session, /) -> int:
        return vote_total(session, event_id)

    if wanted != (event.scale_min, event.scale_max):
        total: int = await db.run_read(votes)
        if total:
            raise InvalidInput("scale", "cannot change after votes were cast")
    values = clean_settings(settings, languages=languages)
    try:
        state = await db.run(store.update_event, event.id, values)
    except store.ScaleLocked:
        raise InvalidInput("scale", "cannot change after votes were cast") from None
    # Settings are the conference's: every stage's screens and phones get them.
    if len(state.stages) > 1:
        others = await db.run_read(load_states, event.id)
        await publish_states(
            [x for x in others if x.stage_id != state.stage_id], bus=bus, namespace=namespace
        )
    return await publish_state(state, bus=bus, namespace=namespace)


@dataclass(frozen=True)
class PitchInput:
    title: str
    presenter: str = ""
    presenter_attendee_id: int | None = None


_ATTENDEE_REF = re.compile(r"(?:^|#)(\d+)$")


def attendee_label(attendee_id: int | None, name: str, organization: str) -> str:
    """How the console names an attendee in the presenter field; ends in ``#id``."""
    return f"{name} ({organization}) #{attendee_id}" if organization else f"{name} #{attendee_id}"


def clean_pitch(form: Mapping[str, str], attendee_ids: Sequence[int]) -> PitchInput:
    title = clean_text(form.get("title", ""), field="pitch title", max_length=160, required=True)
    presenter = clean_text(form.get("presenter", ""), field="presenter", max_length=160)
    raw = form.get("presenter_attendee_id", "").strip()
    attendee_id: int | None = None
    if raw:
        # An id, or a label picked from the list ("Ada (Stadtwerke) #12").
        ref = _ATTENDEE_REF.search(raw)
        if ref is None or int(ref.group(1)) not in attendee_ids:
            raise InvalidInput("presenting attendee", "is not an attendee of this event")
        attendee_id = int(ref.group(1))
    return PitchInput(title, presenter, attendee_id)


async def add_pitch(
    event_id: int, pitch: PitchInput, *, db: Database, bus: Bus, namespace: str
) -> EventState:
    state = await db.run(
        store.add_pitches, event_id, [(pitch.title, pitch.presenter, pitch.presenter_attendee_id)]
    )
    return await publish_state(state, bus=bus, namespace=namespace)


async def edit_pitch(
    event_id: int, pitch_id: int, pitch: PitchInput, *, db: Database, bus: Bus, namespace: str
) -> EventState:
    state = await db.run(
        store.update_pitch,
        event_id,
        pitch_id,
        pitch.title,
        pitch.presenter,
        pitch.presenter_attendee_id,
    )
    return await publish_state(state, bus=bus, namespace=namespace)


async def move_pitch(
    event_id: int, pitch_id: int, delta: int, *, db: Database, bus: Bus, namespace: str
) -> EventState:
    state = await db.run(store.move_pitch, event_id, pitch_id, -1 if delta < 0 else 1)
    return await publish_state(state, bus=bus, namespace=namespace)


async def delete_pitch(
    event_id: int, pitch_id: int, *, confirm: bool, db: Database, bus: Bus, namespace: str
) -> EventState:
    """Deleting also deletes the pitch's votes, so it needs an explicit confirmation."""
    if not confirm:
        raise InvalidInput("delete", "tick the box to confirm: the pitch and its votes go")
    state = await db.run(store.delete_pitch, event_id, pitch_id)
    return await publish_state(state, bus=bus, namespace=namespace)


async def rotate_key(
    event: Event,
    role: str,
    *,
    db: Database,
    bus: Bus,
    namespace: str,
    stage_id: int | None = None,
) -> Stage:
    """Give a screen a new secret link; the old one stops working at once for new sockets
    and page loads, and already open screens with the old key are closed, on every
    process."""
    assert event.id is not None
    if role not in ROTATABLE:
        raise InvalidInput("link", "only the moderator and projector links can be renewed")
    changed = await db.run(store.set_key, event.id, ROTATABLE[role], new_key(), stage_id)
    envelope = BusKeyRotated(role="moderator" if role == "moderator" else "projector")
    await bus.publish(event_channel(namespace, event.id), encode(envelope))
    return changed
