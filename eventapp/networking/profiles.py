"""Networking profiles, consent, the directory and pitch partnering.

Networking is opt-in: a profile may be filled in privately, but nobody is listed,
suggested or exchanged with until they tick the consent box; the time and the version of
the text they agreed to are recorded. Every write bumps the event's network version (so
cached suggestions are recomputed) and publishes what the other side must see.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from eventapp.core.db import Database
from eventapp.core.models import Attendee, ConsentRecord, Event, Pitch, utcnow
from eventapp.core.validation import InvalidInput, clean_text
from eventapp.errors import Refused as Refused  # re-exported: networking raises it
from eventapp.messages import server_message
from eventapp.networking import queries as store
from eventapp.networking.models import (
    NetworkProfile,
    OrgType,
    PartnerInterest,
    PartnerRole,
)
from eventapp.networking.queries import Person

# Bump when the consent text in the profile form changes: records keep the old version.
CONSENT_VERSION = "networking-1"
CONSENT_KIND = "networking"
MAX_TAGS = 8
MAX_TAG_LENGTH = 40
MAX_INTERESTS = 15

# Delivers a server message to one attendee's sockets (``Hub.notify_attendee``).
Notify = Callable[[int, int, str], Awaitable[None]]
T = TypeVar("T")


async def run_write(db: Database, fn: Callable[..., T], *args: Any) -> T:
    """Run a writing transaction. Two phones doing the same thing at once (both scan each
    other) can race on a unique key under PostgreSQL; the loser runs once more and then
    finds the winner's row. (SQLite serialises writers, so it never sees this.)"""
    try:
        return await db.run(fn, *args)
    except IntegrityError:
        return await db.run(fn, *args)


_MARKUP = re.compile(r"[<>]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()/.-]{2,38}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:(?!\d)", re.IGNORECASE)  # "host:8080" is no scheme
_LINKEDIN_HANDLE = re.compile(r"^[A-Za-z0-9-]{3,100}$")


def safe_text(value: object, *, field: str, max_length: int, required: bool = False) -> str:
    """clean_text, and no markup: networking text is shown to other people, so HTML in
    any field is refused outright rather than stored and escaped later."""
    text = clean_text(value, field=field, max_length=max_length, required=required)
    if _MARKUP.search(text):
        raise InvalidInput(field, "must not contain < or >")
    return text


def web_address(value: object, *, field: str) -> str:
    """One rule for every web address: "example.org/x" gets https:// added, any other
    scheme than http(s) is refused (never "https://javascript:alert(1)"), and the host
    must look like one (a dot, no spaces)."""
    text = safe_text(value, field=field, max_length=200)
    if not text:
        return ""
    if _SCHEME.match(text) and not text.lower().startswith(("http://", "https://")):
        raise InvalidInput(field, "is not a web address")
    if "://" not in text:
        text = "https://" + text
    host = urlsplit(text).hostname or ""
    if not _URL.match(text) or "." not in host.strip("."):
        raise InvalidInput(field, "is not a web address")
    return text


def parse_tags(value: object, *, field: str) -> list[str]:
    """ "Sensor hardware, Förderung" -> ["Sensor hardware", "Förderung"]: the spelling
    typed, each tag once whatever its case (matching compares case-folded)."""
    raw = value if isinstance(value, list) else str(value or "").split(",")
    tags: list[str] = []
    seen: set[str] = set()
    for item in raw:
        tag = safe_text(item, field=field, max_length=MAX_TAG_LENGTH)
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidInput(field, "has more than %(limit)d tags", limit=MAX_TAGS)
    return tags


def event_topics(event: Event) -> list[str]:
    try:
        data = json.loads(getattr(event, "topics", "[]") or "[]")
    except ValueError:
        return []
    return [str(t) for t in data] if isinstance(data, list) else []


def _contact_values(values: Mapping[str, object]) -> dict[str, str]:
    email = safe_text(values.get("email"), field="email", max_length=160)
    if email and not _EMAIL.match(email):
        raise InvalidInput("email", "is not an e-mail address")
    phone = safe_text(values.get("phone"), field="phone", max_length=40)
    if phone and not _PHONE.match(phone):
        raise InvalidInput("phone", "is not a phone number")
    website = web_address(values.get("website"), field="website")
    linkedin = safe_text(values.get("linkedin"), field="LinkedIn", max_length=200)
    if linkedin and _LINKEDIN_HANDLE.match(linkedin):
        linkedin = f"https://www.linkedin.com/in/{linkedin}"
    linkedin = web_address(linkedin, field="LinkedIn")
    host = (urlsplit(linkedin).hostname or "").lower()
    if linkedin and not (host == "linkedin.com" or host.endswith(".linkedin.com")):
        raise InvalidInput("LinkedIn", "is not a LinkedIn profile address")
    return {"email": email, "phone": phone, "website": website, "linkedin": linkedin}


@dataclass(frozen=True)
class ProfileInput:
    name: str
    organization: str
    values: dict[str, object]  # NetworkProfile column values
    opt_in: bool


def clean_profile(values: Mapping[str, object], *, topics: Sequence[str]) -> ProfileInput:
    """Validate the whole profile form before anything is stored (raises InvalidInput)."""
    # Name and organisation follow the join form's rule (plain text, shown escaped), so a
    # name accepted at the door is never refused by the profile.
    name = clean_text(values.get("name"), field="name", max_length=60, required=True)
    organization = clean_text(values.get("organization"), field="organization", max_length=80)
    org_type = str(values.get("org_type") or "")
    if org_type and org_type not in set(OrgType):
        raise InvalidInput("organisation type", "is not one of the listed types")
    raw_interests = values.get("interests") or []
    if not isinstance(raw_interests, list):
        raw_interests = [raw_interests]
    interests = [str(t) for t in raw_interests]
    unknown = [t for t in interests if t not in topics]
    if unknown:
        raise InvalidInput("interests", "must be topics of this event")
    if len(interests) > MAX_INTERESTS:
        raise InvalidInput("interests", "has more than %(limit)d topics", limit=MAX_INTERESTS)
    profile: dict[str, object] = {
        "org_type": org_type,
        "role": safe_text(values.get("role"), field="role", max_length=80),
        "interests": json.dumps(sorted(set(interests)), ensure_ascii=False),
        "offers": json.dumps(parse_tags(values.get("offers"), field="offers"), ensure_ascii=False),
        "seeks": json.dumps(parse_tags(values.get("seeks"), field="seeks"), ensure_ascii=False),
        "offers_text": safe_text(values.get("offers_text"), field="offers", max_length=280),
        "seeks_text": safe_text(values.get("seeks_text"), field="seeks", max_length=280),
        **_contact_values(values),
    }
    for name_ in ("email", "phone", "website", "linkedin"):
        profile[f"share_{name_}"] = values.get(f"share_{name_}") in ("on", "1", "true", True)
    return ProfileInput(name, organization, profile, values.get("opt_in") in ("on", "1", True))


def _save_tx(
    session: Session, attendee_id: int, data: ProfileInput, device: str = ""
) -> NetworkProfile:
    attendee = session.get(Attendee, attendee_id)
    assert attendee is not None
    attendee.name, attendee.organization = data.name, data.organization
    session.add(attendee)
    prof = store.profile(session, attendee_id) or NetworkProfile(
        attendee_id=attendee_id, event_id=attendee.event_id
    )
    for key, value in data.values.items():
        setattr(prof, key, value)
    if data.opt_in and not prof.opted_in:
        prof.consented_at = utcnow()
        prof.consent_version = CONSENT_VERSION
        session.add(
            ConsentRecord(
                event_id=attendee.event_id,
                attendee_id=attendee_id,
                kind=CONSENT_KIND,
                text_version=CONSENT_VERSION,
                given_at=prof.consented_at,
            )
        )
    prof.opted_in = data.opt_in
    if device:
        prof.device_hash = device
    if not prof.qr_nonce:
        prof.qr_nonce = secrets.token_urlsafe(9)
    prof.updated_at = utcnow()
    session.add(prof)
    store.bump_version(session, attendee.event_id)
    session.commit()
    return prof


async def save_profile(
    event: Event,
    attendee_id: int,
    values: Mapping[str, object],
    *,
    db: Database,
    device: str = "",
) -> NetworkProfile:
    """Validate and store the profile; ticking the consent box opts in (recorded with time
    and text version), unticking it withdraws: listed, suggested and shared no more."""
    data = clean_profile(values, topics=event_topics(event))
    return await run_write(db, _save_tx, attendee_id, data, device)


def require_opted_in(person: Person | None) -> Person:
    if person is None or not person.opted_in:
        raise Refused("not_opted_in", "Turn on networking in your profile first.")
    return person


async def find_people(
    event_id: int,
    viewer_id: int,
    *,
    text: str = "",
    tag: str = "",
    org_type: str = "",
    db: Database,
) -> list[Person]:
    """The directory: only opted-in attendees, never anyone blocked either way."""
    text = clean_text(text, field="search", max_length=80)
    tag = clean_text(tag, field="tag", max_length=MAX_TAG_LENGTH) if tag else ""
    if org_type not in set(OrgType):
        org_type = ""
    return await db.run_read(
        store.directory, event_id, viewer_id, text=text, tag=tag, org_type=org_type
    )


# ------------------------------------------------------------------ pitch partnering


def _interest_tx(
    session: Session, event_id: int, pitch_id: int, attendee_id: int, role: str, note: str
) -> int | None:
    require_opted_in(store.person(session, attendee_id))
    pitch = session.get(Pitch, pitch_id)
    if pitch is None or pitch.event_id != event_id:
        raise Refused("unknown_pitch", "No such pitch in this event.")
    row = store.interests_of_attendee(session, attendee_id).get(pitch_id) or PartnerInterest(
        event_id=event_id, pitch_id=pitch_id, attendee_id=attendee_id, role=role
    )
    row.role, row.note = role, note
    session.add(row)
    store.bump_version(session, event_id)
    session.commit()
    return pitch.presenter_attendee_id


async def express_interest(
    event_id: int,
    pitch_id: int,
    attendee_id: int,
    role: str,
    note: str,
    *,
    db: Database,
    notify: Notify,
) -> None:
    """ "I want to get involved": the presenting attendee is told live and sees it on the
    pitch page (name, organisation, role, note; contact fields only once connected)."""
    if role not in set(PartnerRole):
        raise InvalidInput("role", "is not one of the listed roles")
    note = safe_text(note, field="note", max_length=280)
    presenter = await run_write(db, _interest_tx, event_id, pitch_id, attendee_id, role, note)
    if presenter is not None and presenter != attendee_id:
        me = await db.run_read(store.person, attendee_id)
        assert me is not None
        await notify(
            event_id,
            presenter,
            server_message(
                "partner_interest",
                pitch_id=pitch_id,
                attendee_id=attendee_id,
                name=me.name,
                organization=me.organization,
                role=role,
            ),
        )


def _withdraw_tx(session: Session, event_id: int, pitch_id: int, attendee_id: int) -> None:
    row = store.interests_of_attendee(session, attendee_id).get(pitch_id)
    if row is not None:
        session.delete(row)
        store.bump_version(session, event_id)
    session.commit()


async def withdraw_interest(
    event_id: int, pitch_id: int, attendee_id: int, *, db: Database
) -> None:
    await db.run(_withdraw_tx, event_id, pitch_id, attendee_id)


@dataclass(frozen=True)
class Interested:
    person: Person
    role: str
    note: str
    shared: dict[str, str]  # contact fields, only when the two are connected


def _interested_tx(session: Session, pitch_id: int, viewer_id: int) -> list[Interested]:
    pitch = session.get(Pitch, pitch_id)
    if pitch is None or pitch.presenter_attendee_id != viewer_id:
        raise Refused("forbidden", "Only the pitch's presenter sees who is interested.")
    rows = store.interests_in_pitch(session, pitch_id)
    hidden = store.hidden_from(session, viewer_id)
    persons = store.people(session, [r.attendee_id for r in rows])
    result = []
    for r in rows:
        who = persons.get(r.attendee_id)
        if who is None or r.attendee_id in hidden or not who.opted_in:
            continue
        link = store.link_between(session, viewer_id, r.attendee_id)
        shared = who.shared_contact() if link is not None and link.state == "accepted" else {}
        result.append(Interested(who, r.role, r.note, shared))
    return result


async def interested_in_pitch(pitch_id: int, viewer_id: int, *, db: Database) -> list[Interested]:
    return await db.run_read(_interested_tx, pitch_id, viewer_id)
