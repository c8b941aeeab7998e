"""What suggestions are computed from: one event's opted-in profiles, votes, partner
interests, presenters, and the pairs never to suggest, read in one go."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from eventapp.core.models import Attendee, Pitch, Vote
from eventapp.networking.models import (
    ContactBlock,
    ContactLink,
    NetworkProfile,
    PartnerInterest,
)
from eventapp.networking.queries import Person, tags_of


@dataclass(frozen=True)
class MatchingData:
    """Everything suggestions are computed from, read in one go."""

    people: list[Person]
    votes: list[tuple[int, int, int]]  # attendee, pitch, score
    interests: list[tuple[int, int]]  # attendee, pitch
    presenters: list[tuple[int, int]]  # attendee, pitch
    pitch_titles: dict[int, str]
    excluded: list[tuple[int, int]]  # pairs never to suggest (links and blocks)


def matching_data(session: Session, event_id: int) -> MatchingData:
    # Only the columns matching uses, as plain rows: quicker than whole ORM objects, and
    # the contact fields never enter the computation at all.
    rows = session.execute(
        sa_select(
            col(Attendee.id),
            col(Attendee.name),
            col(Attendee.organization),
            col(NetworkProfile.org_type),
            col(NetworkProfile.interests),
            col(NetworkProfile.offers),
            col(NetworkProfile.seeks),
        )
        .join(NetworkProfile, col(NetworkProfile.attendee_id) == Attendee.id)
        .where(col(NetworkProfile.event_id) == event_id, col(NetworkProfile.opted_in).is_(True))
        .order_by(col(Attendee.id))
    ).all()
    # Hundreds of thousands of rows: plain tuples from the driver, not Row objects.
    # The only parameter is our own integer id, so binding it literally is safe.
    query = select(Vote.attendee_id, Vote.pitch_id, Vote.score).where(Vote.event_id == event_id)
    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        votes = [tuple(r) for r in cursor.fetchall()]
    finally:
        cursor.close()
    interests = session.exec(
        select(PartnerInterest.attendee_id, PartnerInterest.pitch_id).where(
            PartnerInterest.event_id == event_id
        )
    ).all()
    pitches = session.exec(
        select(Pitch.id, Pitch.title, Pitch.presenter_attendee_id).where(Pitch.event_id == event_id)
    ).all()
    links = session.exec(
        select(ContactLink.low_id, ContactLink.high_id).where(ContactLink.event_id == event_id)
    ).all()
    blocks = session.exec(
        select(ContactBlock.blocker_id, ContactBlock.blocked_id).where(
            ContactBlock.event_id == event_id
        )
    ).all()
    return MatchingData(
        people=[
            Person(
                int(aid),
                name,
                org,
                True,
                org_type,
                "",
                tags_of(interests),
                tags_of(offers),
                tags_of(seeks),
                "",
                "",
                {},
                {},
            )
            for aid, name, org, org_type, interests, offers, seeks in rows
        ],
        votes=votes,
        interests=[(int(a), int(p)) for a, p in interests],
        presenters=[(int(a), int(pid)) for pid, _t, a in pitches if a is not None and pid],
        pitch_titles={int(pid): str(t) for pid, t, _a in pitches if pid is not None},
        excluded=[(int(a), int(b)) for a, b in (*links, *blocks)],
    )
