"""Tables of the admission area: per-event admission settings, invites, the audit log of
removals and merges, and the votes a removal set aside (so it can be undone)."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from eventapp.core.models import utcnow


class Mode(StrEnum):
    OPEN = "open"  # anyone with the event code (and the join limits)
    HALL = "hall"  # the rotating hall code shown only on the projector is needed
    INVITE = "invite"  # only people on the organiser's invite list, by personal link


class EventAdmission(SQLModel, table=True):
    """One row per event, made on first use (events older than issue 12 have none)."""

    __tablename__ = "event_admission"

    event_id: int = Field(foreign_key="event.id", primary_key=True)
    mode: str = Field(default=Mode.OPEN, max_length=16)
    # 0: no cap. Joins past the cap are refused with a clear message.
    attendee_cap: int = 0
    # What the report and the projector compare turnout with (0: not set).
    expected_attendees: int = 0
    # Keys the hall code (HMAC over the minute), so every process derives the same code.
    secret: str = Field(default_factory=lambda: secrets.token_hex(16), max_length=64)
    # Set when the organiser declares the result final: removals can no longer be undone.
    closed_at: datetime | None = None


class Invite(SQLModel, table=True):
    """A person on the invite list. ``token`` is the personal join link (and badge QR)."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    name: str = Field(max_length=60)
    organization: str = Field(default="", max_length=80)
    email: str = Field(default="", max_length=160)
    token: str = Field(unique=True, index=True, max_length=64)
    # The attendee the first scan created; a second device needs approval (rebind_allowed)
    # or a re-issued token.
    attendee_id: int | None = Field(default=None, foreign_key="attendee.id")
    bound_at: datetime | None = None
    rebind_allowed: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class AuditEntry(SQLModel, table=True):
    """Who changed the electorate, when, how many and why: removals, merges, undos."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    action: str = Field(max_length=16)  # "remove", "merge", "undo"
    actor: str = Field(default="organiser", max_length=60)
    reason: str = Field(default="", max_length=200)
    attendees: int = 0
    votes: int = 0
    # JSON list of the attendee ids concerned (the first is kept by a merge).
    attendee_ids: str = "[]"
    created_at: datetime = Field(default_factory=utcnow)
    # For "remove": when it was undone (then it no longer counts).
    undone_at: datetime | None = None


class RemovedVote(SQLModel, table=True):
    """A vote set aside by a removal; moved back by its undo."""

    __tablename__ = "removed_vote"

    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit_log.id", index=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    # No foreign key: the pitch may be deleted later; its archived votes are then moot.
    pitch_id: int
    attendee_id: int = Field(foreign_key="attendee.id")
    score: int
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime
