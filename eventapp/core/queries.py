"""SQL about the shared tables: attendees, consent records, partners, whole events.

Used by every area (privacy, exports, the organiser console), so it lives in core.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Table, delete, or_, update
from sqlmodel import Session, SQLModel, col, select

from eventapp.core.models import Attendee, ConsentRecord, Event, Partner, Pitch, Stage, utcnow


def partners_of_event(session: Session, event_id: int) -> list[Partner]:
    return list(
        session.exec(
            select(Partner).where(Partner.event_id == event_id).order_by(col(Partner.name))
        ).all()
    )


def attendees_of_event(session: Session, event_id: int) -> list[Attendee]:
    """The event's attendees; those the organiser removed (issue 12) are left out."""
    return list(
        session.exec(
            select(Attendee)
            .where(Attendee.event_id == event_id, col(Attendee.removed_at).is_(None))
            .order_by(col(Attendee.id))
        ).all()
    )


def add_consent(session: Session, record: ConsentRecord) -> ConsentRecord:
    session.add(record)
    session.commit()
    return record


def consents_of_event(session: Session, event_id: int) -> list[ConsentRecord]:
    return list(
        session.exec(
            select(ConsentRecord)
            .where(ConsentRecord.event_id == event_id)
            .order_by(col(ConsentRecord.given_at))
        ).all()
    )


_KEPT_ON_DELETE = frozenset({"vote", "consentrecord", "attendee", "pitch"})
# Columns naming the attendee in rows that are someone else's data: a block another person
# set against them stays (with the device hash it holds, it still keeps a re-joined phone
# away from the blocker), or "delete my data" would be a way round being blocked.
_OTHERS_ROWS = {"contact_block": frozenset({"blocked_id"})}


def _refs(table: Table, target: str) -> list[Column[Any]]:
    return [fk.parent for fk in table.foreign_keys if fk.column.table.name == target]


def delete_attendee_data(session: Session, attendee_id: int, new_token: str) -> None:
    """Delete every row about the attendee (profiles, contacts, interests: any table with a
    foreign key to attendee, so networking tables are covered as they appear), blank the
    attendee row and keep it as the anonymous owner of the votes. Tallies are keyed by
    attendee id and stay exactly as they were. Blocks others set against the attendee are
    the blockers' data and stay (``_OTHERS_ROWS``)."""
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name in _KEPT_ON_DELETE:
            continue
        kept = _OTHERS_ROWS.get(table.name, frozenset())
        columns = [c for c in _refs(table, "attendee") if c.name not in kept]
        if columns:
            session.execute(table.delete().where(or_(*(c == attendee_id for c in columns))))
    session.execute(
        update(Pitch)
        .where(col(Pitch.presenter_attendee_id) == attendee_id)
        .values(presenter_attendee_id=None)
    )
    session.execute(
        update(Attendee)
        .where(col(Attendee.id) == attendee_id)
        .values(name="", organization="", token=new_token, anonymised_at=utcnow())
    )
    session.commit()


def purge_event(session: Session, event_id: int) -> None:
    """Delete the event and every row that belongs to it, children first."""
    attendees = select(Attendee.id).where(Attendee.event_id == event_id).scalar_subquery()
    pitches = select(Pitch.id).where(Pitch.event_id == event_id).scalar_subquery()
    # Sessions belong to a stage, not to the event (issue 15).
    stages = select(Stage.id).where(Stage.event_id == event_id).scalar_subquery()
    session.execute(
        update(Pitch).where(col(Pitch.event_id) == event_id).values(presenter_attendee_id=None)
    )
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name == "event":
            continue
        conditions: list[Any] = [c == event_id for c in _refs(table, "event")]
        conditions += [c.in_(attendees) for c in _refs(table, "attendee")]
        conditions += [c.in_(pitches) for c in _refs(table, "pitch")]
        conditions += [c.in_(stages) for c in _refs(table, "stage")]
        if conditions:
            session.execute(table.delete().where(or_(*conditions)))
    session.execute(delete(Event).where(col(Event.id) == event_id))
    session.commit()


def all_events(session: Session) -> list[Event]:
    return list(session.exec(select(Event).order_by(col(Event.id))).all())
