"""SQL of the admission area, as plain functions of a Session (each writer commits)."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from eventapp.admission.models import AuditEntry, EventAdmission, Invite, Mode
from eventapp.admission.rules import (
    JoinOrigin,
    check_cap,
    check_mode,
    new_invite_token,
)
from eventapp.core.models import Attendee, ConsentRecord, Event, utcnow
from eventapp.errors import Refused


def admission_of(session: Session, event_id: int, *, lock: bool = False) -> EventAdmission:
    """The event's admission row. Writers pass ``lock``: the row is made on first use
    and locked, which serialises joins of one event across processes (PostgreSQL row
    lock; SQLite writers are serial anyway). Readers of an event that never had a row get
    the defaults (open admission), unsaved: a read never writes."""
    stmt = select(EventAdmission).where(EventAdmission.event_id == event_id)
    row = session.exec(stmt.with_for_update() if lock else stmt).first()
    if row is not None:
        return row
    if not lock:
        return EventAdmission(event_id=event_id, secret="")
    try:
        with session.begin_nested():
            session.add(EventAdmission(event_id=event_id))
    except IntegrityError:
        pass  # another process made it first
    return session.exec(stmt.with_for_update()).one()


def read_admission(session: Session, event_id: int) -> EventAdmission:
    return admission_of(session, event_id)


def event_by_code(session: Session, code: str) -> Event | None:
    return session.exec(select(Event).where(Event.code == code.upper())).first()


def _check_cap(session: Session, event_id: int, adm: EventAdmission) -> None:
    """Only a capped event serialises its joins (row lock across processes); joins of an
    uncapped event run side by side."""
    if adm.attendee_cap:
        adm = admission_of(session, event_id, lock=True)
        check_cap(adm.attendee_cap, admitted_count(session, event_id))


def admitted_count(session: Session, event_id: int) -> int:
    """Attendees who count against the cap and for turnout: not removed."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Attendee)
            .where(Attendee.event_id == event_id, col(Attendee.removed_at).is_(None))
        ).one()
    )


def admit(
    session: Session,
    event_id: int,
    name: str,
    organization: str,
    token: str,
    *,
    hall_code: str,
    origin: JoinOrigin,
    consent: str | None = None,
) -> Attendee:
    """Create an attendee through the join form, after the mode and the cap allow it.
    ``consent``: the version of the privacy notice the form named, recorded in the same
    transaction (one commit per join: each is a disk flush)."""
    adm = admission_of(session, event_id)
    now = origin.now or time.time()
    check_mode(adm.mode, secret=adm.secret, hall_code=hall_code, now=now)
    _check_cap(session, event_id, adm)
    attendee = Attendee(
        event_id=event_id,
        token=token,
        name=name,
        organization=organization,
        address_group=origin.address_group,
        device=origin.device,
        via=adm.mode,
    )
    session.add(attendee)
    if consent is not None:
        session.flush()
        assert attendee.id is not None
        session.add(
            ConsentRecord(
                event_id=event_id, attendee_id=attendee.id, kind="privacy", text_version=consent
            )
        )
    session.commit()
    return attendee


BAD_INVITE = Refused(
    "bad_invite", "This personal link is not valid. Please ask the organiser for your link."
)
USED_INVITE = Refused(
    "invite_used",
    "This personal code is already in use on another device. Ask the organiser to approve "
    "this device or to re-issue your code.",
)


def invite_by_token(
    session: Session, event_id: int, token: str, *, lock: bool = False
) -> Invite | None:
    """``lock``: two phones scanning one badge at once bind one of them, not both."""
    if not token or len(token) > 64:
        return None
    stmt = select(Invite).where(Invite.token == token, Invite.event_id == event_id)
    return session.exec(stmt.with_for_update() if lock else stmt).first()


def admit_invite(
    session: Session, event_id: int, invite_token: str, device_token: str, *, origin: JoinOrigin
) -> Attendee:
    """First scan binds the device; a later scan binds a new device only after the
    organiser approved it (or re-issued the code). The old device then stops working."""
    adm = admission_of(session, event_id)
    invite = invite_by_token(session, event_id, invite_token, lock=True)
    if invite is None:
        raise BAD_INVITE
    if invite.attendee_id is not None:
        attendee = session.get(Attendee, invite.attendee_id)
        if attendee is None or attendee.removed_at is not None:
            raise BAD_INVITE
        if not invite.rebind_allowed:
            raise USED_INVITE
        attendee.token = device_token
        attendee.device = origin.device
        invite.rebind_allowed = False
        invite.bound_at = utcnow()
        session.add_all([attendee, invite])
        session.commit()
        return attendee
    _check_cap(session, event_id, adm)
    attendee = Attendee(
        event_id=event_id,
        token=device_token,
        name=invite.name,
        organization=invite.organization,
        address_group=origin.address_group,
        device=origin.device,
        via=Mode.INVITE,
    )
    session.add(attendee)
    session.flush()
    invite.attendee_id, invite.bound_at = attendee.id, utcnow()
    session.add(invite)
    session.commit()
    return attendee


def mark_vote_page(session: Session, attendee_id: int) -> None:
    attendee = session.get(Attendee, attendee_id)
    if attendee is not None and attendee.vote_page_at is None:
        attendee.vote_page_at = utcnow()
        session.add(attendee)
    session.commit()


def save_admission(
    session: Session,
    event_id: int,
    *,
    mode: Mode | None = None,
    cap: int | None = None,
    expected: int | None = None,
) -> EventAdmission:
    adm = admission_of(session, event_id, lock=True)
    if mode is not None:
        adm.mode = mode
    if cap is not None:
        adm.attendee_cap = cap
    if expected is not None:
        adm.expected_attendees = expected
    session.add(adm)
    session.commit()
    return adm


def close_event(session: Session, event_id: int) -> EventAdmission:
    adm = admission_of(session, event_id, lock=True)
    if adm.closed_at is None:
        adm.closed_at = utcnow()
    session.add(adm)
    session.commit()
    return adm


# ------------------------------------------------------------------ invites


def invites_of_event(session: Session, event_id: int) -> list[Invite]:
    return list(
        session.exec(
            select(Invite).where(Invite.event_id == event_id).order_by(col(Invite.id))
        ).all()
    )


def add_invites(session: Session, event_id: int, rows: list[dict[str, str]]) -> int:
    for row in rows:
        session.add(
            Invite(
                event_id=event_id,
                name=row["name"],
                organization=row.get("organization", ""),
                email=row.get("email", ""),
                token=new_invite_token(),
            )
        )
    session.commit()
    return len(rows)


def invite_change(session: Session, event_id: int, invite_id: int, action: str) -> Invite:
    """``approve``: the next scan may bind a new device. ``reissue``: a new code (the old
    link and badge stop working) that binds the next device that scans it."""
    invite = session.get(Invite, invite_id)
    if invite is None or invite.event_id != event_id:
        raise LookupError(invite_id)
    if action == "reissue":
        invite.token = new_invite_token()
    invite.rebind_allowed = invite.attendee_id is not None
    session.add(invite)
    session.commit()
    return invite


def audit_of_event(session: Session, event_id: int) -> list[AuditEntry]:
    return list(
        session.exec(
            select(AuditEntry).where(AuditEntry.event_id == event_id).order_by(col(AuditEntry.id))
        ).all()
    )


def closed_at(session: Session, event_id: int) -> datetime | None:
    return read_admission(session, event_id).closed_at


class Provenance:
    """How a result was obtained: admission mode, turnout against expected attendees,
    and what the organiser removed or merged (from the audit log)."""

    def __init__(
        self,
        *,
        mode: str,
        attendees: int,
        expected: int,
        removed_attendees: int,
        removed_votes: int,
        removals: int,
        merges: int,
        closed: bool,
    ) -> None:
        self.mode = mode
        self.attendees = attendees
        self.expected = expected
        self.removed_attendees = removed_attendees
        self.removed_votes = removed_votes
        self.removals = removals
        self.merges = merges
        self.closed = closed

    @property
    def turnout(self) -> int | None:
        return round(100 * self.attendees / self.expected) if self.expected else None

    def text(self) -> str:
        """One English sentence for exports (a data file, not a page)."""
        words = {"open": "open (event code)", "hall": "hall code", "invite": "invite list"}
        parts = [f"Admission: {words.get(self.mode, self.mode)}."]
        parts.append(
            f"Attendees: {self.attendees}"
            + (f" of {self.expected} expected ({self.turnout} %)." if self.expected else ".")
        )
        if self.removals or self.merges:
            parts.append(
                f"Audit log: {self.removals} removal(s) in force took out "
                f"{self.removed_attendees} attendee(s) and {self.removed_votes} vote(s); "
                f"{self.merges} merge(s). Details in the organiser console."
            )
        else:
            parts.append("Audit log: no attendee was removed or merged.")
        return " ".join(parts)


def provenance(session: Session, event_id: int) -> Provenance:
    adm = admission_of(session, event_id)
    entries = audit_of_event(session, event_id)
    active = [e for e in entries if e.action == "remove" and e.undone_at is None]
    result = Provenance(
        mode=adm.mode,
        attendees=admitted_count(session, event_id),
        expected=adm.expected_attendees,
        removed_attendees=sum(e.attendees for e in active),
        removed_votes=sum(e.votes for e in active),
        removals=len(active),
        merges=sum(1 for e in entries if e.action == "merge"),
        closed=adm.closed_at is not None,
    )
    return result
