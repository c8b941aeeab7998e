"""SQL for the organiser: settings, the pitch list, imports, keys, dashboard, privacy.

Kept apart from ``queries`` (the live path) so each module stays one concept. Each
writer is a whole transaction and commits its own work (``eventapp/core/db.py``). Every
writer that changes what screens show bumps the ``Stage.version`` of every stage it
changes and returns the new ``EventState`` of the stage concerned (settings: the first
stage), so the rule can publish it after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlmodel import Session, col, select

from eventapp.core.models import AgendaSession, Event, Partner, Pitch, Stage, Vote
from eventapp.enums import ACCEPTS_VOTES, PitchState
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
    session: Session,
    event_id: int,
    specs: Sequence[tuple[str, str, int | None]],
    stage_id: int | None = None,
    session_id: int | None = None,
) -> EventState:
    """Append pitches (title, presenter, presenting attendee) to a stage's agenda (the
    first stage's without one), optionally in one of its sessions, in one transaction."""
    event = lock_event(session, event_id)
    stage = stage_of_event(session, event_id, stage_id)
    assert stage.id is not None
    if session_id is not None and _session_of_event(session, event_id, session_id).stage_id != (
        stage.id
    ):
        session.rollback()
        raise LookupError(session_id)
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
                session_id=session_id,
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


# ------------------------------------------------------------------ stages and sessions
#
# The rooms of a conference (issue 15). A change of the stage list (add, rename, order,
# delete) changes what every stage's state names in ``stages``, so every stage's version
# moves and every stage's state is returned, to be published.


class StageBusy(Exception):
    """A stage with a pitch on stage or voting open cannot be deleted."""


class StageHasVotes(Exception):
    """Deleting the stage would delete votes: the organiser must confirm."""

    def __init__(self, votes: int) -> None:
        super().__init__(votes)
        self.votes = votes


class LastStage(Exception):
    """A conference keeps at least one stage."""


class NameTaken(Exception):
    """Another stage (or session of the stage) already has this name."""


def _all_states(session: Session, event: Event) -> list[EventState]:
    assert event.id is not None
    stages = queries.stages_of(session, event.id)
    return [_state_of(session, event, stage, stages) for stage in stages]


def _commit_all(session: Session, event: Event) -> list[EventState]:
    assert event.id is not None
    bump_versions(session, event.id)
    session.commit()
    session.refresh(event)
    return _all_states(session, event)


def _check_stage_name(session: Session, event_id: int, name: str, own: int | None) -> None:
    for other in queries.stages_of(session, event_id):
        if other.id != own and other.name.casefold() == name.casefold():
            session.rollback()
            raise NameTaken(name)


def add_stage(
    session: Session, event_id: int, name: str, moderator_key: str, projector_key: str
) -> list[EventState]:
    """Append a stage with fresh links; every stage's state (the list of stages moved)."""
    event = lock_event(session, event_id)
    _check_stage_name(session, event_id, name, None)
    last = session.exec(select(func.max(Stage.position)).where(Stage.event_id == event_id)).one()
    session.add(
        Stage(
            event_id=event_id,
            position=0 if last is None else int(last) + 1,
            name=name,
            moderator_key=moderator_key,
            projector_key=projector_key,
        )
    )
    return _commit_all(session, event)


def rename_stage(session: Session, event_id: int, stage_id: int, name: str) -> list[EventState]:
    event = lock_event(session, event_id)
    stage = stage_of_event(session, event_id, stage_id)
    _check_stage_name(session, event_id, name, stage_id)
    stage.name = name
    session.add(stage)
    return _commit_all(session, event)


def move_stage(session: Session, event_id: int, stage_id: int, delta: int) -> list[EventState]:
    """Swap a stage with its neighbour; positions are renumbered 0..n-1."""
    event = lock_event(session, event_id)
    stage_of_event(session, event_id, stage_id)  # LookupError for another event's stage
    stages = queries.stages_of(session, event_id)
    index = next(i for i, s in enumerate(stages) if s.id == stage_id)
    target = index + (-1 if delta < 0 else 1)
    if 0 <= target < len(stages):
        stages[index], stages[target] = stages[target], stages[index]
    for position, stage in enumerate(stages):
        stage.position = position
        session.add(stage)
    return _commit_all(session, event)


def stage_votes(session: Session, stage_id: int) -> int:
    """Votes on the pitches of a stage."""
    pitches = select(Pitch.id).where(Pitch.stage_id == stage_id).scalar_subquery()
    return int(
        session.exec(
            select(func.count()).select_from(Vote).where(col(Vote.pitch_id).in_(pitches))
        ).one()
    )


def _refs(table: Any, target: str) -> list[Any]:
    return [fk.parent for fk in table.foreign_keys if fk.column.table.name == target]


def delete_stage(
    session: Session, event_id: int, stage_id: int, *, confirm: bool
) -> list[EventState]:
    """Delete a stage with its sessions, pitches and every row about those pitches (votes,
    questions, partner interests: any table with a foreign key to a pitch, and rows
    pointing at those). Refused while a pitch is on stage or voting is open there
    (``StageBusy``), for the last stage (``LastStage``), and without ``confirm`` when
    votes would go (``StageHasVotes``)."""
    from sqlmodel import SQLModel

    event = lock_event(session, event_id)
    stage = stage_of_event(session, event_id, stage_id)
    if len(queries.stages_of(session, event_id)) < 2:
        session.rollback()
        raise LastStage
    open_pitches = session.exec(
        select(func.count())
        .select_from(Pitch)
        .where(Pitch.stage_id == stage_id, col(Pitch.state).in_(list(ACCEPTS_VOTES)))
    ).one()
    if stage.current_pitch_id is not None or open_pitches:
        session.rollback()
        raise StageBusy
    votes = stage_votes(session, stage_id)
    if votes and not confirm:
        session.rollback()
        raise StageHasVotes(votes)
    pitches = select(Pitch.id).where(Pitch.stage_id == stage_id).scalar_subquery()
    sessions = select(AgendaSession.id).where(AgendaSession.stage_id == stage_id).scalar_subquery()
    tables = [t for t in reversed(SQLModel.metadata.sorted_tables)]
    # Rows about the pitches' children first (a question's upvotes), then the children.
    children = {t.name: t for t in tables if _refs(t, "pitch") and t.name != "pitch"}
    for table in tables:
        for name, child in children.items():
            for column in _refs(table, name):
                owned = select(child.c.id).where(
                    or_(*(c.in_(pitches) for c in _refs(child, "pitch")))
                )
                session.execute(table.delete().where(column.in_(owned.scalar_subquery())))
    for child in children.values():
        session.execute(child.delete().where(or_(*(c.in_(pitches) for c in _refs(child, "pitch")))))
    session.execute(delete(Pitch).where(col(Pitch.stage_id) == stage_id))
    session.execute(delete(AgendaSession).where(col(AgendaSession.id).in_(sessions)))
    session.execute(delete(Stage).where(col(Stage.id) == stage_id))
    session.flush()
    for position, rest in enumerate(queries.stages_of(session, event_id)):
        rest.position = position
        session.add(rest)
    return _commit_all(session, event)


def sessions_of_event(session: Session, event_id: int) -> list[AgendaSession]:
    """Every session of the conference, by stage and then in their order."""
    return list(
        session.exec(
            select(AgendaSession)
            .join(Stage, col(Stage.id) == col(AgendaSession.stage_id))
            .where(Stage.event_id == event_id)
            .order_by(
                col(Stage.position),
                col(Stage.id),
                col(AgendaSession.position),
                col(AgendaSession.starts_at),
                col(AgendaSession.id),
            )
        ).all()
    )


def _session_of_event(session: Session, event_id: int, session_id: int) -> AgendaSession:
    found = session.get(AgendaSession, session_id)
    if found is None:
        raise LookupError(session_id)
    stage_of_event(session, event_id, found.stage_id)  # LookupError: another event's
    return found


def _check_session_title(session: Session, stage_id: int, title: str, own: int | None) -> None:
    others = session.exec(select(AgendaSession).where(AgendaSession.stage_id == stage_id)).all()
    if any(o.id != own and o.title.casefold() == title.casefold() for o in others):
        session.rollback()
        raise NameTaken(title)


def add_session(
    session: Session, event_id: int, stage_id: int, title: str, starts_at: datetime | None
) -> EventState:
    event = lock_event(session, event_id)
    stage_of_event(session, event_id, stage_id)
    _check_session_title(session, stage_id, title, None)
    last = session.exec(
        select(func.max(AgendaSession.position)).where(AgendaSession.stage_id == stage_id)
    ).one()
    session.add(
        AgendaSession(
            stage_id=stage_id,
            position=0 if last is None else int(last) + 1,
            title=title,
            starts_at=starts_at,
        )
    )
    return _commit_state(session, event, stage_id)


def update_session(
    session: Session, event_id: int, session_id: int, title: str, starts_at: datetime | None
) -> EventState:
    event = lock_event(session, event_id)
    found = _session_of_event(session, event_id, session_id)
    _check_session_title(session, found.stage_id, title, session_id)
    found.title, found.starts_at = title, starts_at
    session.add(found)
    return _commit_state(session, event, found.stage_id)


def delete_session(session: Session, event_id: int, session_id: int) -> EventState:
    """Delete a session; its pitches stay on the stage, in no session."""
    event = lock_event(session, event_id)
    found = _session_of_event(session, event_id, session_id)
    stage_id = found.stage_id
    session.execute(
        update(Pitch).where(col(Pitch.session_id) == session_id).values(session_id=None)
    )
    session.delete(found)
    return _commit_state(session, event, stage_id)


def place_pitch(
    session: Session, event_id: int, pitch_id: int, stage_id: int, session_id: int | None
) -> list[EventState]:
    """Put a pitch on a stage (appended to its agenda) and into one of its sessions (or
    none). Moving a pitch that is on stage or open for voting is refused (``StageBusy``):
    its phones and screens are on the old stage. Returns every stage's state."""
    event = lock_event(session, event_id)
    pitch = session.get(Pitch, pitch_id)
    if pitch is None or pitch.event_id != event_id:
        session.rollback()
        raise LookupError(pitch_id)
    stage_of_event(session, event_id, stage_id)
    if session_id is not None and _session_of_event(session, event_id, session_id).stage_id != (
        stage_id
    ):
        session.rollback()
        raise LookupError(session_id)
    old = pitch.stage_id
    if old != stage_id:
        current = session.get(Stage, old)
        if PitchState(pitch.state) in ACCEPTS_VOTES or (
            current is not None and current.current_pitch_id == pitch_id
        ):
            session.rollback()
            raise StageBusy
        last = session.exec(
            select(func.max(Pitch.position)).where(Pitch.stage_id == stage_id)
        ).one()
        pitch.stage_id = stage_id
        pitch.position = 0 if last is None else int(last) + 1
    pitch.session_id = session_id
    session.add(pitch)
    session.flush()
    if old != stage_id:
        rest = session.exec(
            select(Pitch).where(Pitch.stage_id == old).order_by(col(Pitch.position), col(Pitch.id))
        ).all()
        for position, other in enumerate(rest):
            other.position = position
            session.add(other)
    return _commit_all(session, event)


def pitch_places(session: Session, event_id: int) -> dict[int, tuple[int, int | None]]:
    """pitch id -> (stage id, session id or None)."""
    rows = session.exec(
        select(Pitch.id, Pitch.stage_id, Pitch.session_id).where(Pitch.event_id == event_id)
    ).all()
    return {int(p): (int(s), None if x is None else int(x)) for p, s, x in rows if p is not None}


def import_pitches(
    session: Session,
    event_id: int,
    rows: Sequence[dict[str, str]],
    new_key: Any,
) -> list[EventState]:
    """Append imported pitches, each to the stage its ``stage`` cell names (the first
    stage when empty) and the session its ``session`` cell names on that stage (created
    when the stage has none of that title). A stage name no stage has is created only
    when the conference has just its one unnamed stage (``imports`` checked that before);
    if that stage has no pitches yet it takes the first new name. One transaction."""
    event = lock_event(session, event_id)
    stages = queries.stages_of(session, event_id)
    by_name = {s.name.casefold(): s for s in stages}
    for row in rows:
        name = row.get("stage", "")
        if not name or name.casefold() in by_name:
            continue
        lone = stages[0] if len(stages) == 1 and not stages[0].name else None
        empty = (
            lone is not None
            and not session.exec(
                select(func.count()).select_from(Pitch).where(Pitch.stage_id == lone.id)
            ).one()
        )
        if lone is not None and empty and len(by_name) == 1:
            lone.name = name
            session.add(lone)
            by_name = {name.casefold(): lone}
            continue
        stage = Stage(
            event_id=event_id,
            position=max(s.position for s in by_name.values()) + 1,
            name=name,
            moderator_key=new_key(),
            projector_key=new_key(),
        )
        session.add(stage)
        session.flush()
        by_name[name.casefold()] = stage
    session.flush()
    first = queries.stages_of(session, event_id)[0]
    sessions: dict[tuple[int, str], AgendaSession] = {}
    for found in sessions_of_event(session, event_id):
        sessions.setdefault((found.stage_id, found.title.casefold()), found)
    for row in rows:
        stage = by_name[row["stage"].casefold()] if row.get("stage") else first
        assert stage.id is not None
        agenda: AgendaSession | None = None
        if row.get("session"):
            key = (stage.id, row["session"].casefold())
            if key not in sessions:
                last = max(
                    (s.position for (sid, _), s in sessions.items() if sid == stage.id),
                    default=-1,
                )
                sessions[key] = AgendaSession(
                    stage_id=stage.id, position=last + 1, title=row["session"]
                )
                session.add(sessions[key])
                session.flush()
            agenda = sessions[key]
        last_pos = session.exec(
            select(func.max(Pitch.position)).where(Pitch.stage_id == stage.id)
        ).one()
        session.add(
            Pitch(
                event_id=event_id,
                stage_id=stage.id,
                session_id=None if agenda is None else agenda.id,
                position=0 if last_pos is None else int(last_pos) + 1,
                title=row["title"],
                presenter=row.get("presenter", ""),
            )
        )
        session.flush()
    return _commit_all(session, event)
