"""SQL tables. SQL is the source of truth; Redis only mirrors tallies for speed."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from eventapp.enums import PitchState


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=12)
    name: str = Field(max_length=120)
    # The moderator and projector links, the pitch on stage and the state version belong
    # to each ``Stage`` (issue 15): an event is a conference with one or more stages.
    organizer_key: str = Field(max_length=64)
    scale_min: int = 1
    scale_max: int = 5
    # JSON list of labels, one per score from scale_min to scale_max ("" for none).
    scale_labels: str = "[]"
    # True: the projector shows tallies while voting runs; False: only after reveal.
    live_results: bool = False
    language: str = Field(default="de", max_length=8)
    created_at: datetime = Field(default_factory=utcnow)
    # Organiser settings (issue 5). ISO date of the event day; "" while unset.
    date: str = Field(default="", max_length=10)
    # Comma-separated UI languages offered to attendees, e.g. "de,en".
    languages: str = Field(default="de,en", max_length=32)
    # IANA time zone of the venue: times people read (report, exports, PDF) are local.
    timezone: str = Field(default="Europe/Berlin", max_length=64)
    # JSON list of topics attendees may pick in their profile.
    topics: str = "[]"
    # JSON {"org type": ["org types it is suggested to meet", ...]} for match suggestions.
    org_type_matrix: str = "{}"
    networking_enabled: bool = True
    # Days after the event date (else creation) until ``purge`` may delete everything.
    retention_days: int = 90
    # Version of the privacy notice attendees agree to when joining.
    privacy_version: str = Field(default="1", max_length=20)
    # Keys the pseudonymous voter ids of exports; never shown, so ids cannot be reversed.
    export_salt: str = Field(default_factory=lambda: secrets.token_hex(16), max_length=64)
    # Audience questions (issue 16, eventapp/questions): on/off, whether askers may stay
    # anonymous, pre-moderation, minutes a pitch stays open for questions after it left
    # the stage, the organiser's length limit, and "projector also shows the top three".
    questions_enabled: bool = True
    questions_anonymous: bool = True
    questions_premoderated: bool = False
    questions_open_minutes: int = 5
    question_max_length: int = 280
    questions_projector_top: bool = False


class Stage(SQLModel, table=True):
    """A room of the conference (issue 15): its own agenda of pitches, moderator and
    projector links, pitch on stage and voting state. Every event has at least one; the
    only stage of a one-stage event has the name "" and is shown as the event's name."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    position: int = 0
    name: str = Field(default="", max_length=80)
    moderator_key: str = Field(max_length=64)
    projector_key: str = Field(max_length=64)
    current_pitch_id: int | None = None
    # Bumped by every state change of this stage, so screens can drop out-of-order updates.
    version: int = 0


class AgendaSession(SQLModel, table=True):
    """An optional block of a stage's pitches with a title and a start time."""

    id: int | None = Field(default=None, primary_key=True)
    stage_id: int = Field(foreign_key="stage.id", index=True)
    position: int = 0
    title: str = Field(max_length=160)
    starts_at: datetime | None = None


class Pitch(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    stage_id: int = Field(foreign_key="stage.id", index=True)
    session_id: int | None = Field(default=None, foreign_key="agendasession.id")
    position: int = 0
    title: str = Field(max_length=160)
    presenter: str = Field(default="", max_length=160)
    state: PitchState = Field(default=PitchState.PENDING, max_length=16)
    # Bumped by a reset: live tallies are keyed by round, so stale ones are never reused.
    round: int = 0
    # The attendee presenting this pitch (networking links partner interest to them).
    presenter_attendee_id: int | None = Field(default=None, foreign_key="attendee.id")
    # When the pitch last left the stage (None: on stage or never shown). Questions stay
    # open for the event's ``questions_open_minutes`` after it.
    left_stage_at: datetime | None = None


class Attendee(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    # The device token (cookie and phone storage); unguessable, unique.
    token: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=60)
    organization: str = Field(default="", max_length=80)
    created_at: datetime = Field(default_factory=utcnow)
    # Set by "delete my data": the row stays as an anonymous placeholder so votes (and the
    # live tallies keyed by attendee id) keep counting exactly, but it holds no personal data.
    anonymised_at: datetime | None = None
    # Admission (issue 12). Only the address *group* is kept (IPv4 /24, IPv6 /64), never the
    # full address: enough to see a join burst from one network, not to identify a phone.
    address_group: str = Field(default="", max_length=48)
    # A short browser/OS label ("iPhone Safari"), shown to the organiser beside the name.
    device: str = Field(default="", max_length=40)
    # How the attendee was admitted: "open", "hall" or "invite".
    via: str = Field(default="open", max_length=16)
    # First time the vote page was loaded: scripts that only post votes never load it.
    vote_page_at: datetime | None = None
    # Set when the organiser removed (or merged away) this attendee: the device token stops
    # working and the votes moved to ``removed_vote`` (undoable until the event is closed).
    removed_at: datetime | None = Field(default=None, index=True)


class Vote(SQLModel, table=True):
    # One row per (attendee, pitch): a changed rating updates it, never adds a row.
    __table_args__ = (UniqueConstraint("attendee_id", "pitch_id", name="uq_vote_attendee_pitch"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    pitch_id: int = Field(foreign_key="pitch.id", index=True)
    attendee_id: int = Field(foreign_key="attendee.id")
    score: int
    # The phone's rating counter: a write with a lower seq than the stored one is stale.
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class ConsentRecord(SQLModel, table=True):
    """What an attendee agreed to, when, and which text version (data protection)."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    attendee_id: int = Field(foreign_key="attendee.id", index=True)
    # e.g. "privacy" (joining), "networking" (profile and contact exchange).
    kind: str = Field(max_length=32)
    text_version: str = Field(max_length=20)
    given_at: datetime = Field(default_factory=utcnow)


class Partner(SQLModel, table=True):
    """The event's partner list (organisations of the alliance), imported by organisers."""

    __table_args__ = (UniqueConstraint("event_id", "name", name="uq_partner_event_name"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    name: str = Field(max_length=120)
    org_type: str = Field(default="", max_length=60)
    contact: str = Field(default="", max_length=120)
    email: str = Field(default="", max_length=160)
