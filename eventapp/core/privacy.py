"""Data protection: consent records, "delete my data", and purging expired events.

Consent is recorded with its time and the version of the text agreed to. Deleting an
attendee's data removes their name, organisation, profile and contacts; their votes stay
and keep counting, attached to a blank placeholder (the same attendee row, emptied), so
results and live tallies do not move. Purging removes an event and everything under it
once its retention period is over.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC, date, datetime, timedelta

from eventapp.core import queries as shared
from eventapp.core.db import Database
from eventapp.core.models import Attendee, ConsentRecord, Event

PRIVACY_NOTICE_VERSION = "2026-11"  # bump when templates/privacy.html changes meaning


def record_consent(
    attendee: Attendee, kind: str, *, db: Database, text_version: str = PRIVACY_NOTICE_VERSION
) -> ConsentRecord:
    """Store that ``attendee`` agreed to ``kind`` (e.g. "privacy", "networking") now."""
    assert attendee.id is not None
    record = ConsentRecord(
        event_id=attendee.event_id, attendee_id=attendee.id, kind=kind, text_version=text_version
    )
    return db.call(shared.add_consent, record)


async def delete_my_data(attendee: Attendee, *, db: Database) -> None:
    assert attendee.id is not None
    # A fresh random token: the old device token (cookie, phone storage) opens nothing.
    await db.run(shared.delete_attendee_data, attendee.id, secrets.token_urlsafe(32))


def retention_ends(event: Event) -> datetime:
    """The retention period counts from the event day (or, unset, from its creation)."""
    start = event.created_at
    if event.date:
        with contextlib.suppress(ValueError):  # a bad date falls back to creation
            start = datetime.combine(date.fromisoformat(event.date), datetime.min.time(), UTC)
    if start.tzinfo is None:  # SQLite hands datetimes back without a zone
        start = start.replace(tzinfo=UTC)
    return start + timedelta(days=event.retention_days)


def is_expired(event: Event, now: datetime | None = None) -> bool:
    return (now or datetime.now(UTC)) >= retention_ends(event)


def purge_event(event: Event, *, db: Database) -> None:
    assert event.id is not None
    db.call(shared.purge_event, event.id)


def purge_expired(*, db: Database, now: datetime | None = None) -> list[str]:
    """Purge every event past its retention period; returns their codes."""
    purged = []
    for event in db.read(shared.all_events):
        if is_expired(event, now):
            purge_event(event, db=db)
            purged.append(event.code)
    return purged
