"""Networking queries: plain functions of a Session (see network_models for the tables).

Writers do not commit: they are helpers of the transaction bodies in ``profiles`` and
``contacts``, which run several of them in one transaction and commit once (the
convention: ``eventapp/core/db.py``), so a rule checked inside the transaction still
holds when the write lands. The plain
read functions at the end (``list_connections``, ``list_partner_interests``) are what the
organiser's exports read.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from eventapp.core.models import Attendee, Pitch, utcnow
from eventapp.networking.models import (
    CONTACT_FIELDS,
    ContactBlock,
    ContactLink,
    ContactNote,
    NetworkProfile,
    NetworkState,
    PartnerInterest,
)

# ------------------------------------------------------------------ read models


@dataclass(frozen=True)
class Person:
    """An attendee as networking shows them. ``contact`` holds every field the attendee
    filled in; what anyone else may see of it is decided by ``shared_contact``."""

    id: int
    name: str
    organization: str
    opted_in: bool
    org_type: str
    role: str
    interests: tuple[str, ...]
    offers: tuple[str, ...]
    seeks: tuple[str, ...]
    offers_text: str
    seeks_text: str
    contact: dict[str, str]
    share: dict[str, bool]

    def shared_contact(self) -> dict[str, str]:
        """The fields this attendee agreed to share with contacts (while opted in)."""
        if not self.opted_in:
            return {}
        return {k: v for k, v in self.contact.items() if v and self.share.get(k)}


def tags_of(raw: str) -> tuple[str, ...]:
    try:
        data = json.loads(raw or "[]")
    except ValueError:
        return ()
    return tuple(str(x) for x in data) if isinstance(data, list) else ()


def person_of(attendee: Attendee, profile: NetworkProfile | None) -> Person:
    assert attendee.id is not None
    p = profile or NetworkProfile(attendee_id=attendee.id, event_id=attendee.event_id)
    return Person(
        id=attendee.id,
        name=attendee.name,
        organization=attendee.organization,
        opted_in=bool(p.opted_in),
        org_type=p.org_type,
        role=p.role,
        interests=tags_of(p.interests),
        offers=tags_of(p.offers),
        seeks=tags_of(p.seeks),
        offers_text=p.offers_text,
        seeks_text=p.seeks_text,
        contact={k: str(getattr(p, k)) for k in CONTACT_FIELDS},
        share={k: bool(getattr(p, f"share_{k}")) for k in CONTACT_FIELDS},
    )


def person(session: Session, attendee_id: int) -> Person | None:
    row = session.exec(
        select(Attendee, NetworkProfile)
        .join(NetworkProfile, col(NetworkProfile.attendee_id) == Attendee.id, isouter=True)
        .where(Attendee.id == attendee_id)
    ).first()
    return None if row is None else person_of(row[0], row[1])


def people(session: Session, ids: list[int]) -> dict[int, Person]:
    if not ids:
        return {}
    rows = session.exec(
        select(Attendee, NetworkProfile)
        .join(NetworkProfile, col(NetworkProfile.attendee_id) == Attendee.id, isouter=True)
        .where(col(Attendee.id).in_(ids))
    ).all()
    return {a.id: person_of(a, p) for a, p in rows if a.id is not None}


def profile(session: Session, attendee_id: int) -> NetworkProfile | None:
    return session.get(NetworkProfile, attendee_id)


# ------------------------------------------------------------------ per-event state


def network_state(session: Session, event_id: int) -> NetworkState:
    """The event's signing secret and version, created on first use (race-safe: two
    processes creating it at once end with the one row that won)."""
    state = session.get(NetworkState, event_id)
    if state is not None:
        return state
    try:
        with session.begin_nested():
            session.add(NetworkState(event_id=event_id, secret=secrets.token_urlsafe(32)))
    except IntegrityError:
        pass
    state = session.get(NetworkState, event_id)
    assert state is not None
    return state


def network_version(session: Session, event_id: int) -> int:
    version = session.exec(
        select(NetworkState.version).where(NetworkState.event_id == event_id)
    ).first()
    return int(version or 0)


def bump_version(session: Session, event_id: int) -> None:
    network_state(session, event_id)
    session.execute(
        update(NetworkState)
        .where(col(NetworkState.event_id) == event_id)
        .values(version=NetworkState.version + 1)
    )


# ------------------------------------------------------------------ contacts


def link_between(session: Session, a: int, b: int) -> ContactLink | None:
    low, high = min(a, b), max(a, b)
    return session.exec(
        select(ContactLink).where(ContactLink.low_id == low, ContactLink.high_id == high)
    ).first()


def link_by_id(session: Session, link_id: int) -> ContactLink | None:
    return session.get(ContactLink, link_id)


def blocked_either_way(session: Session, a: int, b: int) -> bool:
    row = session.exec(
        select(ContactBlock.id).where(
            or_(
                and_(col(ContactBlock.blocker_id) == a, col(ContactBlock.blocked_id) == b),
                and_(col(ContactBlock.blocker_id) == b, col(ContactBlock.blocked_id) == a),
            )
        )
    ).first()
    return row is not None


def device_blocked(session: Session, a: int, b: int) -> bool:
    """Whether either blocked the other's device (under this or an earlier attendee)."""
    pa, pb = profile(session, a), profile(session, b)
    clauses = [
        and_(col(ContactBlock.blocker_id) == blocker, col(ContactBlock.blocked_device) == device)
        for blocker, other in ((b, pa), (a, pb))
        if other is not None and (device := other.device_hash)
    ]
    if not clauses:
        return False
    return session.exec(select(ContactBlock.id).where(or_(*clauses))).first() is not None


def links_of(session: Session, attendee_id: int) -> list[ContactLink]:
    return list(
        session.exec(
            select(ContactLink)
            .where(
                or_(col(ContactLink.low_id) == attendee_id, col(ContactLink.high_id) == attendee_id)
            )
            .order_by(col(ContactLink.created_at).desc())
        ).all()
    )


def blocks_by(session: Session, attendee_id: int) -> list[int]:
    return list(
        session.exec(
            select(ContactBlock.blocked_id).where(ContactBlock.blocker_id == attendee_id)
        ).all()
    )


def hidden_from(session: Session, attendee_id: int) -> set[int]:
    """Everyone this attendee blocked or was blocked by: they never see each other."""
    rows = session.exec(
        select(ContactBlock.blocker_id, ContactBlock.blocked_id).where(
            or_(
                col(ContactBlock.blocker_id) == attendee_id,
                col(ContactBlock.blocked_id) == attendee_id,
            )
        )
    ).all()
    return {b if a == attendee_id else a for a, b in rows}


def excluded_from_suggestions(session: Session, attendee_id: int) -> set[int]:
    """Connected, requested, declined or blocked either way: never suggested."""
    linked = {
        link.high_id if link.low_id == attendee_id else link.low_id
        for link in links_of(session, attendee_id)
    }
    return linked | hidden_from(session, attendee_id)


def delete_block(session: Session, blocker_id: int, blocked_id: int) -> None:
    session.execute(
        delete(ContactBlock).where(
            col(ContactBlock.blocker_id) == blocker_id, col(ContactBlock.blocked_id) == blocked_id
        )
    )


def note_of(session: Session, owner_id: int, about_id: int) -> ContactNote | None:
    return session.exec(
        select(ContactNote).where(
            ContactNote.owner_id == owner_id, ContactNote.about_id == about_id
        )
    ).first()


def notes_of(session: Session, owner_id: int) -> dict[int, str]:
    rows = session.exec(
        select(ContactNote.about_id, ContactNote.text).where(ContactNote.owner_id == owner_id)
    ).all()
    return {about: text for about, text in rows}


def save_note(session: Session, owner_id: int, about_id: int, text: str) -> None:
    note = note_of(session, owner_id, about_id) or ContactNote(owner_id=owner_id, about_id=about_id)
    note.text = text
    note.updated_at = utcnow()
    session.add(note)


# ------------------------------------------------------------------ directory


def directory(
    session: Session,
    event_id: int,
    viewer_id: int,
    *,
    text: str = "",
    tag: str = "",
    org_type: str = "",
    limit: int = 50,
) -> list[Person]:
    """Opted-in attendees the viewer may see, filtered; newest profiles last."""
    hidden = hidden_from(session, viewer_id) | {viewer_id}
    query = (
        select(Attendee, NetworkProfile)
        .join(NetworkProfile, col(NetworkProfile.attendee_id) == Attendee.id)
        .where(NetworkProfile.event_id == event_id, col(NetworkProfile.opted_in).is_(True))
        .where(col(Attendee.id).not_in(hidden))
    )
    if org_type:
        query = query.where(NetworkProfile.org_type == org_type)
    wanted = tag.casefold()
    if text:
        like = f"%{text.lower()}%"
        query = query.where(
            or_(
                *(
                    func.lower(c).like(like)
                    for c in (
                        col(Attendee.name),
                        col(Attendee.organization),
                        col(NetworkProfile.role),
                        col(NetworkProfile.offers_text),
                        col(NetworkProfile.seeks_text),
                        col(NetworkProfile.offers),
                        col(NetworkProfile.seeks),
                    )
                )
            )
        )
    ordered = query.order_by(col(Attendee.name), col(Attendee.id))
    if not tag:
        rows = session.exec(ordered.limit(limit)).all()
        return [person_of(a, p) for a, p in rows]
    # Tags keep the spelling typed and match whatever the case: compared case-folded here,
    # since SQLite's lower() and LIKE fold ASCII letters only ("Förderung" vs "FÖRDERUNG").
    people = []
    for a, p in session.exec(ordered).all():
        person = person_of(a, p)
        if any(t.casefold() == wanted for t in (*person.interests, *person.offers, *person.seeks)):
            people.append(person)
            if len(people) >= limit:
                break
    return people


# ------------------------------------------------------------------ partnering


def interests_of_attendee(session: Session, attendee_id: int) -> dict[int, PartnerInterest]:
    rows = session.exec(
        select(PartnerInterest).where(PartnerInterest.attendee_id == attendee_id)
    ).all()
    return {r.pitch_id: r for r in rows}


def interests_in_pitch(session: Session, pitch_id: int) -> list[PartnerInterest]:
    return list(
        session.exec(
            select(PartnerInterest)
            .where(PartnerInterest.pitch_id == pitch_id)
            .order_by(col(PartnerInterest.created_at))
        ).all()
    )


def pitches_presented_by(session: Session, attendee_id: int) -> list[Pitch]:
    return list(session.exec(select(Pitch).where(Pitch.presenter_attendee_id == attendee_id)).all())


# ------------------------------------------------------------------ for exports


def list_connections(session: Session, event_id: int) -> list[dict[str, Any]]:
    """Every contact link of the event (accepted, pending, declined) with both names;
    who consented to what is in ``state`` and ``via`` (an accepted link: both did)."""
    links = session.exec(
        select(ContactLink).where(ContactLink.event_id == event_id).order_by(col(ContactLink.id))
    ).all()
    names = dict(
        session.exec(select(Attendee.id, Attendee.name).where(Attendee.event_id == event_id)).all()
    )
    return [
        {
            "id": link.id,
            "a_id": link.low_id,
            "a_name": names.get(link.low_id, ""),
            "b_id": link.high_id,
            "b_name": names.get(link.high_id, ""),
            "requester_id": link.requester_id,
            "state": link.state,
            "via": link.via,
            "created_at": link.created_at,
            "decided_at": link.decided_at,
        }
        for link in links
    ]


def list_partner_interests(session: Session, event_id: int) -> list[dict[str, Any]]:
    """Every "I want to get involved" of the event, with pitch title and attendee."""
    rows = session.exec(
        select(PartnerInterest, Pitch.title, Attendee.name, Attendee.organization)
        .join(Pitch, col(Pitch.id) == PartnerInterest.pitch_id)
        .join(Attendee, col(Attendee.id) == PartnerInterest.attendee_id)
        .where(PartnerInterest.event_id == event_id)
        .order_by(col(Pitch.position), col(PartnerInterest.id))
    ).all()
    return [
        {
            "pitch_id": interest.pitch_id,
            "pitch_title": title,
            "attendee_id": interest.attendee_id,
            "name": name,
            "organization": organization,
            "role": interest.role,
            "note": interest.note,
            "created_at": interest.created_at,
        }
        for interest, title, name, organization in rows
    ]
