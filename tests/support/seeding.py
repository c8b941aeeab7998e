"""An event and many attendees straight in SQL, for runs that measure something other
than the join form; and the votes SQL holds, to check what was saved."""

from __future__ import annotations

import json
import secrets

from sqlalchemy import insert
from sqlmodel import Session, col, select

from eventapp.core.db import Database
from eventapp.core.models import Attendee, Event, Stage, Vote
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event


def new_event(db: Database, *, pitches: int, name: str = "Load test") -> Event:
    return create_event(
        name,
        [PitchSpec(f"Pilot project {i + 1}", "Stadtwerke") for i in range(pitches)],
        db=db,
        live_results=True,
        language="en",
    )


def first_stage(db: Database, event: Event) -> Stage:
    """The first (in a one-stage event: the only) stage, holding the screen links."""
    assert event.id is not None
    return db.read(queries.stages_of, event.id)[0]


def stages(db: Database, event: Event) -> list[Stage]:
    assert event.id is not None
    return db.read(queries.stages_of, event.id)


def seed_attendees(db: Database, event_id: int, count: int) -> list[tuple[int, str]]:
    """Insert attendees straight into SQL (the join form is measured separately);
    returns (attendee_id, device token) of each."""
    if count <= 0:
        return []
    prefix = secrets.token_hex(4)
    rows = [
        {
            "event_id": event_id,
            "token": f"{prefix}-{i}-{secrets.token_urlsafe(24)}",
            "name": f"Seeded phone {i}",
            "organization": "",
        }
        for i in range(count)
    ]
    with db.engine.begin() as conn:
        for start in range(0, count, 2000):
            conn.execute(insert(Attendee), rows[start : start + 2000])
        found = conn.execute(
            select(col(Attendee.id), col(Attendee.token)).where(
                Attendee.event_id == event_id, col(Attendee.token).startswith(prefix)
            )
        ).all()
    return [(int(i), str(t)) for i, t in found if i is not None]


def stored_votes(db: Database, pitch_id: int) -> dict[int, tuple[int, int]]:
    """attendee_id -> (score, seq) stored in SQL for a pitch."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(col(Vote.attendee_id), col(Vote.score), col(Vote.seq)).where(
                Vote.pitch_id == pitch_id
            )
        ).all()
    return {int(a): (int(s), int(q)) for a, s, q in rows}


def seed_votes(db: Database, event_id: int, pitch_id: int, scores: list[int]) -> list[int]:
    """One new attendee per score, each with that vote on the pitch, straight in SQL (for
    tests of what the organiser sees, whichever stage the pitch is on); their ids."""
    people = seed_attendees(db, event_id, len(scores))
    with db.engine.begin() as conn:
        conn.execute(
            insert(Vote),
            [
                {"event_id": event_id, "pitch_id": pitch_id, "attendee_id": a, "score": s, "seq": 1}
                for (a, _), s in zip(people, scores, strict=True)
            ],
        )
    return [a for a, _ in people]


def set_topics(db: Database, event_id: int, topics: list[str]) -> None:
    """The event's networking topics (what profiles pick interests from), straight in SQL."""

    def write(session: Session) -> None:
        row = session.get(Event, event_id)
        assert row is not None
        row.topics = json.dumps(topics)
        session.add(row)
        session.commit()

    db.call(write)
