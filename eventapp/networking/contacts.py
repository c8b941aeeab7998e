"""Contact exchange: personal QR tokens, requests, blocks, notes and vCards.

Consent rules. Showing your personal code is your consent to exchange with whoever
scans it; the scanner's confirmation is theirs. A request is the requester's consent, the
acceptance the other's. Only then does either see the other's *shared* contact fields,
and only while both stay opted in. Nothing here ever sends contact fields over the live
socket: notifications carry names, the fields are fetched over HTTP, checked each time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import vobject
from sqlmodel import Session

from eventapp.core.db import Database
from eventapp.core.models import utcnow
from eventapp.messages import server_message
from eventapp.networking import queries as store
from eventapp.networking.models import ContactBlock, ContactLink, LinkState, LinkVia
from eventapp.networking.profiles import (
    Notify,
    Refused,
    require_opted_in,
    run_write,
    safe_text,
)
from eventapp.networking.queries import Person

# A code shown on a phone is good for 10 minutes from when it was first shown: long
# enough to hand a phone across a table, short enough that a photographed code dies
# soon. Reloading the page shows the same code until then (it does not extend it);
# afterwards the page shows a new one (new nonce). "New code" ends it at once.
TOKEN_TTL = 10 * 60
_SIG_BYTES = 15
# Unanswered requests one attendee may have open: enough for any honest evening, not
# enough to spam a hall of thousands from the directory.
MAX_OPEN_REQUESTS = 30
# Requests per minute: sent by one attendee, and received by one attendee (throw-away
# attendees made to flood one person are each under the first limit, not the second).
REQUESTS_PER_MINUTE_SENT = 10
REQUESTS_PER_MINUTE_RECEIVED = 10


# ------------------------------------------------------------------ QR tokens


def _sign(secret: str, event_id: int, body: str) -> str:
    digest = hmac.new(secret.encode(), f"{event_id}.{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_SIG_BYTES]).decode().rstrip("=")


def make_token(secret: str, event_id: int, attendee_id: int, nonce: str, expires: int) -> str:
    """``<attendee>.<expires>.<nonce>.<signature>``: an HMAC, with the event's secret from
    SQL, over the attendee, the expiry and the attendee's current nonce. No contact data."""
    body = f"{attendee_id:x}.{expires:x}.{nonce}"
    return f"{body}.{_sign(secret, event_id, body)}"


def new_nonce(now: float) -> str:
    """A fresh nonce that carries when it was issued (8 hex digits, then random)."""
    return f"{int(now):08x}{secrets.token_urlsafe(9)}"


def nonce_issued(nonce: str) -> int | None:
    """When a nonce was issued; None for an old-style nonce without a time."""
    if len(nonce) != 20:
        return None
    try:
        return int(nonce[:8], 16)
    except ValueError:
        return None


def _token_tx(session: Session, event_id: int, attendee_id: int, now: float) -> str:
    me = require_opted_in(store.person(session, attendee_id))
    prof = store.profile(session, me.id)
    assert prof is not None
    secret = store.network_state(session, event_id).secret
    issued = nonce_issued(prof.qr_nonce)
    if issued is None or not issued <= now < issued + TOKEN_TTL:
        # Past its lifetime: a new nonce, so the old code (and every photo of it) is dead.
        prof.qr_nonce, issued = new_nonce(now), int(now)
        session.add(prof)
    session.commit()
    return make_token(secret, event_id, attendee_id, prof.qr_nonce, issued + TOKEN_TTL)


async def my_token(
    event_id: int, attendee_id: int, *, db: Database, now: float | None = None
) -> str:
    return await db.run(_token_tx, event_id, attendee_id, time.time() if now is None else now)


def _rotate_tx(session: Session, event_id: int, attendee_id: int) -> None:
    prof = store.profile(session, attendee_id)
    if prof is None:
        raise Refused("not_opted_in", "Turn on networking in your profile first.")
    prof.qr_nonce = new_nonce(time.time())
    session.add(prof)
    session.commit()


async def rotate_token(event_id: int, attendee_id: int, *, db: Database) -> None:
    """A new code; every code shown before stops working."""
    await db.run(_rotate_tx, event_id, attendee_id)


def _verify(session: Session, event_id: int, token: str, now: float) -> int:
    parts = token.split(".")
    if len(token) > 200 or len(parts) != 4:
        raise Refused("bad_token", "This code is not valid.")
    body = ".".join(parts[:3])
    secret = store.network_state(session, event_id).secret
    if not hmac.compare_digest(_sign(secret, event_id, body).encode(), parts[3].encode()):
        raise Refused("bad_token", "This code is not valid.")
    owner_id, expires = int(parts[0], 16), int(parts[1], 16)
    if expires < now:
        raise Refused("expired_token", "This code has expired; ask for a fresh one.")
    prof = store.profile(session, owner_id)
    if prof is None or prof.event_id != event_id or prof.qr_nonce != parts[2]:
        raise Refused("rotated_token", "This code was replaced by a newer one.")
    if not prof.opted_in:
        raise Refused("not_available", "This person does not exchange contacts at the moment.")
    return owner_id


def _check_pair(session: Session, me: int, other: int) -> None:
    if me == other:
        raise Refused("self", "That is your own code.")
    require_opted_in(store.person(session, me))
    # A block holds for the blocked person's device too, so re-joining under a new name
    # does not lift it.
    if store.blocked_either_way(session, me, other) or store.device_blocked(session, me, other):
        raise Refused("blocked", "You cannot exchange contacts with this person.")


def _refuse_declined_scan(link: ContactLink | None, scanner_id: int) -> None:
    """An explicit decline wins over a later scan: whoever was declined cannot turn it
    into a contact with a (photographed) code. The one who declined may still scan the
    other's code: that is their own new consent."""
    if link is not None and link.state == LinkState.DECLINED and link.requester_id == scanner_id:
        raise Refused("declined", "This person declined to exchange contacts with you.")


def _preview_tx(session: Session, event_id: int, scanner_id: int, token: str, now: float) -> Person:
    owner_id = _verify(session, event_id, token, now)
    _check_pair(session, scanner_id, owner_id)
    _refuse_declined_scan(store.link_between(session, scanner_id, owner_id), scanner_id)
    owner = store.person(session, owner_id)
    assert owner is not None
    return owner


async def preview_exchange(
    event_id: int, scanner_id: int, token: str, *, db: Database, now: float | None = None
) -> Person:
    """Who the code belongs to (public profile only), before the scanner confirms."""
    now = time.time() if now is None else now
    return await db.run(_preview_tx, event_id, scanner_id, token, now)


def _exchange_tx(session: Session, event_id: int, scanner_id: int, token: str, now: float) -> int:
    owner_id = _verify(session, event_id, token, now)
    _check_pair(session, scanner_id, owner_id)
    _refuse_declined_scan(store.link_between(session, scanner_id, owner_id), scanner_id)
    link = store.link_between(session, scanner_id, owner_id) or ContactLink(
        event_id=event_id,
        low_id=min(scanner_id, owner_id),
        high_id=max(scanner_id, owner_id),
        requester_id=scanner_id,
        via=LinkVia.QR,
    )
    # Face to face both consent now, whatever an earlier request's answer was.
    link.state, link.decided_at = LinkState.ACCEPTED, utcnow()
    session.add(link)
    store.bump_version(session, event_id)
    session.commit()
    return owner_id


async def exchange(
    event_id: int,
    scanner_id: int,
    token: str,
    *,
    db: Database,
    notify: Notify,
    now: float | None = None,
) -> int:
    """The scanner confirmed: both are contacts. Tells the code's owner live."""
    owner_id = await run_write(
        db, _exchange_tx, event_id, scanner_id, token, time.time() if now is None else now
    )
    scanner = await db.run_read(store.person, scanner_id)
    assert scanner is not None
    await notify(
        event_id,
        owner_id,
        server_message(
            "contact_exchanged",
            attendee_id=scanner_id,
            name=scanner.name,
            organization=scanner.organization,
        ),
    )
    return owner_id


# ------------------------------------------------------------------ requests


def _request_tx(session: Session, event_id: int, from_id: int, to_id: int) -> ContactLink:
    if from_id == to_id:
        raise Refused("self", "You cannot send yourself a request.")
    target = store.person(session, to_id)
    profile = store.profile(session, to_id)
    if target is None or profile is None or profile.event_id != event_id or not target.opted_in:
        raise Refused("unknown_person", "This person is not in the directory.")
    _check_pair(session, from_id, to_id)
    link = store.link_between(session, from_id, to_id)
    if link is not None:
        if link.state == LinkState.ACCEPTED:
            raise Refused("already_connected", "You are already connected.")
        if link.state == LinkState.DECLINED:
            raise Refused("declined", "This contact request was declined.")
        if link.requester_id == from_id:
            raise Refused("already_requested", "You already sent a request.")
        # They asked me first: asking back is accepting.
        link.state, link.decided_at = LinkState.ACCEPTED, utcnow()
    else:
        mine = store.links_of(session, from_id)
        waiting = sum(
            1 for lk in mine if lk.state == LinkState.PENDING and lk.requester_id == from_id
        )
        if waiting >= MAX_OPEN_REQUESTS:
            raise Refused(
                "too_many_requests",
                "You have many unanswered requests; wait for some answers first.",
            )
        _limit_request_rate(session, from_id, to_id, mine)
        link = ContactLink(
            event_id=event_id,
            low_id=min(from_id, to_id),
            high_id=max(from_id, to_id),
            requester_id=from_id,
        )
    session.add(link)
    store.bump_version(session, event_id)
    session.commit()
    return link


def _limit_request_rate(
    session: Session, from_id: int, to_id: int, sent: list[ContactLink]
) -> None:
    """Counted in SQL (every process sees the same rows): requests made in the last
    minute by the requester, and received in the last minute by the target."""
    since = utcnow() - timedelta(minutes=1)

    def recent(link: ContactLink) -> bool:
        created = link.created_at
        if created.tzinfo is None:  # SQLite hands back naive UTC
            created = created.replace(tzinfo=since.tzinfo)
        return created >= since and link.via == LinkVia.REQUEST

    if sum(1 for lk in sent if lk.requester_id == from_id and recent(lk)) >= (
        REQUESTS_PER_MINUTE_SENT
    ):
        raise Refused("too_many_requests", "Too many requests in a short time; wait a minute.")
    received = store.links_of(session, to_id)
    if sum(1 for lk in received if lk.requester_id != to_id and recent(lk)) >= (
        REQUESTS_PER_MINUTE_RECEIVED
    ):
        raise Refused(
            "too_many_requests",
            "This person has received many requests just now; try again in a minute.",
        )


async def request_contact(
    event_id: int, from_id: int, to_id: int, *, db: Database, notify: Notify
) -> ContactLink:
    link = await run_write(db, _request_tx, event_id, from_id, to_id)
    me = await db.run_read(store.person, from_id)
    assert me is not None
    if link.state == LinkState.ACCEPTED:
        message = server_message("contact_answer", attendee_id=from_id, name=me.name, accepted=True)
    else:
        message = server_message(
            "contact_request",
            link_id=link.id,
            attendee_id=from_id,
            name=me.name,
            organization=me.organization,
        )
    await notify(event_id, to_id, message)
    return link


def _answer_tx(session: Session, link_id: int, answerer_id: int, accept: bool) -> ContactLink:
    link = store.link_by_id(session, link_id)
    if (
        link is None
        or answerer_id not in (link.low_id, link.high_id)
        or link.requester_id == answerer_id
    ):
        raise Refused("unknown_request", "No such request.")
    if link.state != LinkState.PENDING:
        raise Refused("already_answered", "This request was already answered.")
    if accept:
        require_opted_in(store.person(session, answerer_id))
    link.state = LinkState.ACCEPTED if accept else LinkState.DECLINED
    link.decided_at = utcnow()
    session.add(link)
    store.bump_version(session, link.event_id)
    session.commit()
    return link


async def answer_request(
    link_id: int, answerer_id: int, *, accept: bool, db: Database, notify: Notify
) -> ContactLink:
    link = await db.run(_answer_tx, link_id, answerer_id, accept)
    me = await db.run_read(store.person, answerer_id)
    assert me is not None
    await notify(
        link.event_id,
        link.requester_id,
        server_message("contact_answer", attendee_id=answerer_id, name=me.name, accepted=accept),
    )
    return link


# ------------------------------------------------------------------ blocks and notes


def _block_tx(session: Session, event_id: int, blocker_id: int, blocked_id: int) -> None:
    if blocker_id == blocked_id:
        raise Refused("self", "You cannot block yourself.")
    other = store.profile(session, blocked_id)
    if other is None or other.event_id != event_id:
        raise Refused("unknown_person", "This person is not in the directory.")
    if blocked_id not in store.blocks_by(session, blocker_id):
        session.add(
            ContactBlock(
                event_id=event_id,
                blocker_id=blocker_id,
                blocked_id=blocked_id,
                blocked_device=other.device_hash,
            )
        )
    link = store.link_between(session, blocker_id, blocked_id)
    if link is not None:
        # Blocking ends a contact: neither sees the other's fields any more.
        link.state, link.decided_at = LinkState.DECLINED, utcnow()
        session.add(link)
    store.bump_version(session, event_id)
    session.commit()


async def block(event_id: int, blocker_id: int, blocked_id: int, *, db: Database) -> None:
    await run_write(db, _block_tx, event_id, blocker_id, blocked_id)


def _unblock_tx(session: Session, event_id: int, blocker_id: int, blocked_id: int) -> None:
    store.delete_block(session, blocker_id, blocked_id)
    store.bump_version(session, event_id)
    session.commit()


async def unblock(event_id: int, blocker_id: int, blocked_id: int, *, db: Database) -> None:
    await db.run(_unblock_tx, event_id, blocker_id, blocked_id)


@dataclass(frozen=True)
class Contact:
    person: Person
    shared: dict[str, str]  # only the fields the contact agreed to share
    note: str
    via: str
    since: datetime | None


def _contacts_tx(session: Session, attendee_id: int, only: int | None) -> list[Contact]:
    me = store.person(session, attendee_id)
    if me is None or not me.opted_in:
        # Withdrawn consent hides what you received too, until you opt in again.
        return []
    links = [
        link for link in store.links_of(session, attendee_id) if link.state == LinkState.ACCEPTED
    ]
    others = [link.high_id if link.low_id == attendee_id else link.low_id for link in links]
    if only is not None:
        links = [lk for lk, o in zip(links, others, strict=True) if o == only]
        others = [only] if links else []
    persons = store.people(session, others)
    notes = store.notes_of(session, attendee_id)
    hidden = store.hidden_from(session, attendee_id)
    return [
        Contact(
            persons[o], persons[o].shared_contact(), notes.get(o, ""), link.via, link.decided_at
        )
        for link, o in zip(links, others, strict=True)
        if o in persons and o not in hidden
    ]


async def my_contacts(attendee_id: int, *, db: Database, only: int | None = None) -> list[Contact]:
    return await db.run_read(_contacts_tx, attendee_id, only)


def _note_tx(session: Session, owner_id: int, about_id: int, text: str) -> None:
    if not _contacts_tx(session, owner_id, about_id):
        raise Refused("not_connected", "Notes are for your contacts.")
    store.save_note(session, owner_id, about_id, text)
    session.commit()


async def save_note(owner_id: int, about_id: int, text: str, *, db: Database) -> None:
    """A private note: only its author ever sees it (and in their own vCard download)."""
    text = safe_text(text, field="note", max_length=1000)
    await run_write(db, _note_tx, owner_id, about_id, text)


@dataclass(frozen=True)
class Inbox:
    incoming: list[tuple[int, Person]]  # (link id, requester)
    outgoing: list[Person]


def _inbox_tx(session: Session, attendee_id: int) -> Inbox:
    me = store.person(session, attendee_id)
    if me is None or not me.opted_in:
        return Inbox([], [])
    pending = [
        link for link in store.links_of(session, attendee_id) if link.state == LinkState.PENDING
    ]
    persons = store.people(session, [lk.low_id + lk.high_id - attendee_id for lk in pending])
    incoming, outgoing = [], []
    for link in pending:
        other = persons.get(link.low_id + link.high_id - attendee_id)
        if other is None:
            continue
        if link.requester_id == attendee_id:
            outgoing.append(other)
        elif link.id is not None:
            incoming.append((link.id, other))
    return Inbox(incoming, outgoing)


async def my_requests(attendee_id: int, *, db: Database) -> Inbox:
    return await db.run_read(_inbox_tx, attendee_id)


# ------------------------------------------------------------------ vCards


def vcard(contact: Contact, *, event_name: str) -> str:
    """A vCard 3.0 (what phones import) with only the contact's shared fields."""
    card = vobject.vCard()
    person = contact.person
    card.add("fn").value = person.name
    parts = person.name.rsplit(" ", 1)
    family, given = (parts[1], parts[0]) if len(parts) == 2 else (parts[0], "")
    card.add("n").value = vobject.vcard.Name(family=family, given=given)
    if person.organization:
        card.add("org").value = [person.organization]
    if person.role:
        card.add("title").value = person.role
    shared = contact.shared
    if shared.get("email"):
        email = card.add("email")
        email.value, email.type_param = shared["email"], "INTERNET"
    if shared.get("phone"):
        tel = card.add("tel")
        tel.value, tel.type_param = shared["phone"], "WORK"
    for key in ("website", "linkedin"):
        if shared.get(key):
            card.add("url").value = shared[key]
    note = f"Met at {event_name}."
    if contact.note:
        note += f"\n{contact.note}"
    card.add("note").value = note
    text: str = card.serialize()
    return text
