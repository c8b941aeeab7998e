"""SQL for the organiser: settings, the pitch list, imports, keys, dashboard, privacy.

Kept apart from ``queries`` (the live path) so each module stays one concept. Every
writer that changes what screens show bumps the ``Stage.version`` of every stage it
changes and returns the new ``EventState`` of the stage concerned (settings: the first
stage), so the domain can publish it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from eventapp.core.models import Event, Partner, Pitch, Stage, Vote
from eventapp.voting import queries
from eventapp.voting.queries import EventState, _state_of, lock_event, stage_of_event


class ScaleLocked(Exception):
    """The rating scale cannot change once votes were cast (tallies would lie)."""


def bump_versions(session: Session, event_id: int, stage_id: int | None = None) -> None:
    """A change screens must see: bump the version of one stage, or of all."""
    where = [col(Stage.event_id) == event_id]
    if stage_id is not None:
        where.append(col(Stage.id) == stage_id)
    session.execute(update(Stage).where(*where).values(version=Stage.version + 1))


def _commit_state(session: Session, event: Event, stage_id: int | None = None) -> EventState:
    """Commit a change of one stage (``stage_id``) or of the whole event (every stage's
    version moves) and return the state of that stage (or the first)."""
    assert event.id is not None
    bump_versions(session, event.id, stage_id)
    session.add(event)
    session.commit()
    session.refresh(event)
    return _state_of(session, event, stage_of_event(session, event.id, stage_id))


def update_event(session: Session, event_id: int, values: dict[str, Any]) -> EventState:
    event = lock_event(session, event_id)
    scale_changes = (
        values.get("scale_min", event.scale_min),
        values.get("scale_max", event.scale_max),
    ) != (event.scale_min, event.scale_max)
    if scale_changes and queries.vote_total(session, event_id):
        session.rollback()
        raise ScaleLocked
    for key, value in values.items():
        setattr(event, key, value)
    return _commit_state(session, event)


def add_pitches(
    session: Session, event_id: int, specs: Sequence[tuple[str, str, int | None]]
) -> EventState:
    """Append pitches (title, presenter, presenting attendee) in one transaction."""
    event = lock_event(session, event_id)
    stage = stage_of_event(session, event_id)
    assert stage.id is not None
    last = session.exec(select(func.max(Pitch.position)).where(Pitch.stage_id == stage.id)).one()
    start = -1 if last is None else int(last)
    for offset, (title, presenter, attendee_id) in enumerate(specs, start=1):
        session.add(
            Pitch(
                event_id=event_id,
                stage_id=stage.id,
                position=start + offset,
                title=title,
                presenter=presenter,
                presenter_attendee_id=attendee_id,
            )
        )
    return _commit_state(session, event, stage.id)


def update_pitch(
    session: Session,
    event_id: int,
    pitch_id: int,
    title: str,
    presenter: str,
    presenter_attendee_id: int | None,
) -> EventState:
    event = lock_event(session, event_id)
    result = session.execute(
        update(Pitch)
        .where(col(Pitch.id) == pitch_id, col(Pitch.event_id) == event_id)
        .values(title=title, presenter=presenter, presenter_attendee_id=presenter_attendee_id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        session.rollback()
        raise LookupError(pitch_id)
    return _commit_state(session, event, _stage_of_pitch(session, pitch_id))


def _stage_of_pitch(session: Session, pitch_id: int) -> int:
    return int(session.exec(select(Pitch.stage_id).where(Pitch.id == pitch_id)).one())


def move_pitch(session: Session, event_id: int, pitch_id: int, delta: int) -> EventState:
    """Swap a pitch with its neighbour on its stage; positions are renumbered 0..n-1."""
    event = lock_event(session, event_id)
    moved = session.get(Pitch, pitch_id)
    if moved is None or moved.event_id != event_id:
        session.rollback()
        raise LookupError(pitch_id)
    stage_id = moved.stage_id
    pitches = list(
        session.exec(
            select(Pitch)
            .where(Pitch.stage_id == stage_id)
            .order_by(col(Pitch.position), col(Pitch.id))
        ).all()
    )
    index = next(i for i, p in enumerate(pitches) if p.id == pitch_id)
    target = index + delta
    if 0 <= target < len(pitches):
        pitches[index], pitches[target] = pitches[target], pitches[index]
    for position, pitch in enumerate(pitches):
        pitch.position = position
        session.add(pitch)
    return _commit_state(session, event, stage_id)


def delete_pitch(session: Session, event_id: int, pitch_id: int) -> EventState:
    event = lock_event(session, event_id)
    pitch = session.get(Pitch, pitch_id)
    if pitch is None or pitch.event_id != event_id:
        session.rollback()
        raise LookupError(pitch_id)
    stage_id = pitch.stage_id
    session.execute(delete(Vote).where(col(Vote.pitch_id) == pitch_id))
    session.delete(pitch)
    session.execute(
        update(Stage)
        .where(col(Stage.id) == stage_id, col(Stage.current_pitch_id) == pitch_id)
        .values(current_pitch_id=None)
    )
    session.flush()
    # Close the gap, so exports and the report number pitches 1..n as the agenda shows.
    rest = session.exec(
        select(Pitch).where(Pitch.stage_id == stage_id).order_by(col(Pitch.position), col(Pitch.id))
    ).all()
    for position, other in enumerate(rest):
        other.position = position
        session.add(other)
    return _commit_state(session, event, stage_id)


def set_key(
    session: Session, event_id: int, attr: str, value: str, stage_id: int | None = None
) -> Stage:
    """Replace a stage's moderator or projector key (the first stage's when none named)."""
    lock_event(session, event_id)
    stage = stage_of_event(session, event_id, stage_id)
    setattr(stage, attr, value)
    session.add(stage)
    session.commit()
    session.refresh(stage)
    return stage


def add_partners(session: Session, event_id: int, rows: Sequence[dict[str, str]]) -> int:
    for row in rows:
        session.add(
            Partner(
                event_id=event_id,
                name=row["name"],
                org_type=row.get("org_type", ""),
                contact=row.get("contact", ""),
                email=row.get("email", ""),
            )
        )
    session.commit()
    return len(rows)


# ------------------------------------------------------------------ reads


# ------------------------------------------------------------------ data protection


# Tables whose rows about an attendee survive "delete my data": votes stay (the row they
# point to is blanked, so they are anonymous) and consent records hold no personal data.


def presenter_links(session: Session, event_id: int) -> dict[int, int]:
    """pitch id -> the attendee linked as its presenter."""
    rows = session.exec(
        select(Pitch.id, Pitch.presenter_attendee_id).where(
            Pitch.event_id == event_id, col(Pitch.presenter_attendee_id).is_not(None)
        )
    ).all()
    return {int(pid): int(aid) for pid, aid in rows if pid is not None and aid is not None}
