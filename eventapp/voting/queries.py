"""SQL queries as plain functions of a Session. Each writer is a whole transaction and
commits its own work (the convention: ``eventapp/core/db.py``)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, TextClause, bindparam, delete, func, text, update
from sqlmodel import Session, col, select

from eventapp.admission.models import RemovedVote
from eventapp.core.models import AgendaSession, Attendee, Event, Pitch, Stage, Vote, utcnow
from eventapp.enums import ACCEPTS_VOTES, PitchState

# ------------------------------------------------------------------ read models


@dataclass(frozen=True)
class PitchInfo:
    id: int
    position: int
    title: str
    presenter: str
    state: PitchState
    round: int

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "position": self.position,
            "title": self.title,
            "presenter": self.presenter,
            "state": self.state.value,
            "round": self.round,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> PitchInfo:
        return cls(
            int(data["id"]),  # type: ignore[call-overload]
            int(data["position"]),  # type: ignore[call-overload]
            str(data["title"]),
            str(data["presenter"]),
            PitchState(str(data["state"])),
            int(data["round"]),  # type: ignore[call-overload]
        )


@dataclass(frozen=True)
class StageInfo:
    """A stage as pickers and the moderator's overview name it."""

    id: int
    position: int
    name: str

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "position": self.position, "name": self.name}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageInfo:
        return cls(int(data["id"]), int(data["position"]), str(data["name"]))


@dataclass(frozen=True)
class EventState:
    """What every screen and phone on one stage needs to know, in one snapshot: the
    event's settings, the stage's pitches, the pitch on stage and the stage's version
    (issue 15: every stage has its own; ``stages`` lists all of the conference's)."""

    id: int
    code: str
    name: str
    scale_min: int
    scale_max: int
    scale_labels: tuple[str, ...]
    live_results: bool
    current_pitch_id: int | None
    version: int
    pitches: tuple[PitchInfo, ...] = field(default=())
    stage_id: int = 0
    stages: tuple[StageInfo, ...] = field(default=())

    @property
    def stage(self) -> StageInfo | None:
        return next((s for s in self.stages if s.id == self.stage_id), None)

    @property
    def stage_name(self) -> str:
        """The stage's name; the only stage of an event without one is the event."""
        stage = self.stage
        return stage.name if stage is not None and stage.name else self.name

    def pitch(self, pitch_id: int | None) -> PitchInfo | None:
        for p in self.pitches:
            if p.id == pitch_id:
                return p
        return None

    @property
    def current(self) -> PitchInfo | None:
        return self.pitch(self.current_pitch_id)

    @property
    def open_pitch(self) -> PitchInfo | None:
        return next((p for p in self.pitches if p.state in ACCEPTS_VOTES), None)

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "scale": {
                "min": self.scale_min,
                "max": self.scale_max,
                "labels": list(self.scale_labels),
            },
            "live_results": self.live_results,
            "current_pitch_id": self.current_pitch_id,
            "version": self.version,
            "pitches": [p.as_json() for p in self.pitches],
            "stage_id": self.stage_id,
            "stages": [s.as_json() for s in self.stages],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventState:
        scale = data["scale"]
        return cls(
            id=int(data["id"]),
            code=str(data["code"]),
            name=str(data["name"]),
            scale_min=int(scale["min"]),
            scale_max=int(scale["max"]),
            scale_labels=tuple(str(x) for x in scale["labels"]),
            live_results=bool(data["live_results"]),
            current_pitch_id=data["current_pitch_id"],
            version=int(data["version"]),
            pitches=tuple(PitchInfo.from_json(p) for p in data["pitches"]),
            stage_id=int(data.get("stage_id", 0)),
            stages=tuple(StageInfo.from_json(x) for x in data.get("stages", ())),
        )


@dataclass(frozen=True)
class SessionInfo:
    """A session of a stage's agenda (issue 15) as exports and the report name it."""

    id: int
    stage_id: int
    position: int
    title: str
    starts_at: datetime | None = None

    @property
    def order(self) -> tuple[int, int]:
        """The agenda's order of a stage's sessions (as the console lists them)."""
        return (self.position, self.id)


def _pitch_info(p: Pitch) -> PitchInfo:
    assert p.id is not None
    return PitchInfo(p.id, p.position, p.title, p.presenter, PitchState(p.state), p.round)


def stages_of(session: Session, event_id: int) -> list[Stage]:
    """The conference's stages in their order (at least one)."""
    return list(
        session.exec(
            select(Stage)
            .where(Stage.event_id == event_id)
            .order_by(col(Stage.position), col(Stage.id))
        ).all()
    )


def stage_of_event(session: Session, event_id: int, stage_id: int | None = None) -> Stage:
    """A stage of the event: the one named (LookupError if it belongs to another event)
    or, without a name, the first."""
    if stage_id is not None:
        stage = session.get(Stage, stage_id)
        if stage is None or stage.event_id != event_id:
            raise LookupError(stage_id)
        return stage
    stages = stages_of(session, event_id)
    if not stages:
        raise LookupError(event_id)
    return stages[0]


def load_state(session: Session, event_id: int, stage_id: int | None = None) -> EventState:
    """One stage's state (the first stage's when none is named)."""
    event = session.get(Event, event_id)
    if event is None:
        raise LookupError(event_id)
    return _state_of(session, event, stage_of_event(session, event_id, stage_id))


def pitch_rounds(session: Session, event_id: int) -> dict[int, int]:
    """pitch_id -> round of every pitch of the conference (every stage): tally keys."""
    rows = session.exec(select(Pitch.id, Pitch.round).where(Pitch.event_id == event_id)).all()
    return {int(pid): int(rnd) for pid, rnd in rows if pid is not None}


def load_states(session: Session, event_id: int) -> list[EventState]:
    """Every stage's state, in the stages' order: the whole conference."""
    event = session.get(Event, event_id)
    if event is None:
        raise LookupError(event_id)
    stages = stages_of(session, event_id)
    return [_state_of(session, event, stage, stages) for stage in stages]


def _state_of(
    session: Session, event: Event, stage: Stage, stages: Sequence[Stage] | None = None
) -> EventState:
    assert event.id is not None and stage.id is not None
    pitches = session.exec(
        select(Pitch).where(Pitch.stage_id == stage.id).order_by(col(Pitch.position), col(Pitch.id))
    ).all()
    if stages is None:
        stages = stages_of(session, event.id)
    labels = tuple(str(x) for x in json.loads(event.scale_labels or "[]"))
    return EventState(
        id=event.id,
        code=event.code,
        name=event.name,
        scale_min=event.scale_min,
        scale_max=event.scale_max,
        scale_labels=labels,
        live_results=event.live_results,
        current_pitch_id=stage.current_pitch_id,
        version=stage.version,
        pitches=tuple(_pitch_info(p) for p in pitches),
        stage_id=stage.id,
        stages=tuple(StageInfo(int(x.id or 0), x.position, x.name) for x in stages),
    )


def sessions_by_pitch(session: Session, event_id: int) -> dict[int, SessionInfo]:
    """pitch id -> its session, for every pitch of the conference that is in one."""
    rows = session.exec(
        select(Pitch.id, AgendaSession)
        .join(AgendaSession, col(AgendaSession.id) == col(Pitch.session_id))
        .where(Pitch.event_id == event_id)
    ).all()
    return {
        int(pitch_id): SessionInfo(int(s.id or 0), s.stage_id, s.position, s.title, s.starts_at)
        for pitch_id, s in rows
        if pitch_id is not None
    }


def event_by_code(session: Session, code: str) -> Event | None:
    return session.exec(select(Event).where(Event.code == code.upper())).first()


def attendee_by_token(session: Session, event_id: int, token: str) -> Attendee | None:
    """The attendee of a device token; a removed attendee's token no longer works."""
    return session.exec(
        select(Attendee).where(
            Attendee.token == token,
            Attendee.event_id == event_id,
            col(Attendee.removed_at).is_(None),
        )
    ).first()


def votes_of_attendee(session: Session, attendee_id: int) -> dict[int, tuple[int, int]]:
    rows = session.exec(
        select(Vote.pitch_id, Vote.score, Vote.seq).where(Vote.attendee_id == attendee_id)
    ).all()
    return {pitch_id: (score, seq) for pitch_id, score, seq in rows}


def attendees_by_tokens(session: Session, event_id: int, tokens: Iterable[str]) -> dict[str, int]:
    """token -> attendee id of many device tokens in one read (removed attendees: none).

    Only the tokens are in the WHERE clause; event and removal are checked here. With
    ``event_id = ?`` beside ``token IN (…)``, SQLite's planner (no statistics) searched
    the event's index and read every attendee of the event for each batch of hellos:
    ~4 ms a batch at 10,000 attendees, most of a reconnect storm's database time."""
    rows = session.exec(
        select(Attendee.token, Attendee.id, Attendee.event_id, Attendee.removed_at).where(
            col(Attendee.token).in_(set(tokens))
        )
    ).all()
    return {
        token: int(aid)
        for token, aid, eid, removed in rows
        if aid is not None and eid == event_id and removed is None
    }


def votes_of_attendees(
    session: Session, attendee_ids: Iterable[int]
) -> dict[int, dict[int, tuple[int, int]]]:
    """attendee id -> {pitch_id: (score, seq)}, for many attendees in one read."""
    votes: dict[int, dict[int, tuple[int, int]]] = {}
    rows = session.exec(
        select(Vote.attendee_id, Vote.pitch_id, Vote.score, Vote.seq).where(
            col(Vote.attendee_id).in_(set(attendee_ids))
        )
    ).all()
    for aid, pid, score, seq in rows:
        votes.setdefault(aid, {})[pid] = (score, seq)
    return votes


def votes_of_event(session: Session, event_id: int) -> list[tuple[int, int, int, int]]:
    """(pitch_id, attendee_id, score, seq) of every vote: what a tally rebuild needs."""
    rows = session.exec(
        select(Vote.pitch_id, Vote.attendee_id, Vote.score, Vote.seq).where(
            Vote.event_id == event_id
        )
    ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def score_counts(session: Session, pitch_id: int) -> dict[int, int]:
    rows = session.exec(
        select(Vote.score, func.count()).where(Vote.pitch_id == pitch_id).group_by(col(Vote.score))
    ).all()
    return {score: n for score, n in rows}


def event_checksums(session: Session, event_id: int) -> dict[int, tuple[int, int]]:
    """pitch_id -> (number of votes, sum of scores): what the live tallies must agree with."""
    rows = session.exec(
        select(Vote.pitch_id, func.count(), func.sum(Vote.score))
        .where(Vote.event_id == event_id)
        .group_by(col(Vote.pitch_id))
    ).all()
    return {pitch_id: (int(n), int(total or 0)) for pitch_id, n, total in rows}


def attendee_count(session: Session, event_id: int) -> int:
    return session.exec(
        select(func.count())
        .select_from(Attendee)
        .where(Attendee.event_id == event_id, col(Attendee.removed_at).is_(None))
    ).one()


# ------------------------------------------------------------------ writes


def add_event(
    session: Session,
    event: Event,
    stages: Sequence[tuple[Stage, Sequence[tuple[str, str]]]],
) -> Event:
    """Store an event with its stages (at least one), each with its pitches."""
    session.add(event)
    session.flush()
    assert event.id is not None
    for position, (stage, pitch_titles) in enumerate(stages):
        stage.event_id = event.id
        stage.position = position
        session.add(stage)
        session.flush()
        assert stage.id is not None
        for i, (title, presenter) in enumerate(pitch_titles):
            session.add(
                Pitch(
                    event_id=event.id,
                    stage_id=stage.id,
                    position=i,
                    title=title,
                    presenter=presenter,
                )
            )
    session.commit()
    return event


def add_attendee(session: Session, attendee: Attendee) -> Attendee:
    session.add(attendee)
    session.commit()
    return attendee


def lock_event(session: Session, event_id: int) -> Event:
    """Row-lock the event so concurrent state changes (from any process) serialise."""
    event = session.exec(select(Event).where(Event.id == event_id).with_for_update()).one()
    return event


def lock_stage(session: Session, event_id: int, stage_id: int | None = None) -> Stage:
    """Row-lock a stage of the event (the first when none is named) so concurrent state
    changes of that stage (from any process) serialise; other stages run in parallel."""
    first = stage_of_event(session, event_id, stage_id)
    return session.exec(select(Stage).where(Stage.id == first.id).with_for_update()).one()


def set_pitch_states(
    session: Session,
    event_id: int,
    *,
    states: dict[int, PitchState],
    current_pitch_id: int | None,
    reset_pitch_id: int | None = None,
    stage_id: int | None = None,
) -> EventState:
    """Apply a moderator's state change of one stage in one transaction and return the
    stage's new state. Pitches of other stages are never touched."""
    stage = lock_stage(session, event_id, stage_id)
    for pitch_id, state in states.items():
        session.execute(
            update(Pitch)
            .where(col(Pitch.id) == pitch_id, col(Pitch.stage_id) == stage.id)
            .values(state=state)
        )
    if reset_pitch_id is not None:
        session.execute(delete(Vote).where(col(Vote.pitch_id) == reset_pitch_id))
        # Votes a removal set aside go too: undoing it must not bring back a reset pitch's.
        session.execute(delete(RemovedVote).where(col(RemovedVote.pitch_id) == reset_pitch_id))
        session.execute(
            update(Pitch).where(col(Pitch.id) == reset_pitch_id).values(round=Pitch.round + 1)
        )
    if stage.current_pitch_id != current_pitch_id:
        # Questions stay open for a while after a pitch leaves the stage (eventapp/questions).
        _stamp_stage_change(session, stage.current_pitch_id, current_pitch_id)
    stage.current_pitch_id = current_pitch_id
    stage.version += 1
    session.add(stage)
    session.commit()
    session.refresh(stage)
    event = session.get(Event, event_id)
    assert event is not None
    return _state_of(session, event, stage)


def _stamp_stage_change(session: Session, left: int | None, entered: int | None) -> None:
    if left is not None:
        session.execute(update(Pitch).where(col(Pitch.id) == left).values(left_stage_at=utcnow()))
    if entered is not None:
        session.execute(update(Pitch).where(col(Pitch.id) == entered).values(left_stage_at=None))


@dataclass(frozen=True)
class VoteRow:
    event_id: int
    pitch_id: int
    attendee_id: int
    score: int
    seq: int


# The whole batch is one statement with one parameter (the rows as JSON): it compiles once
# and costs one round trip whatever the batch size. Rows of removed attendees are dropped by
# a scalar subquery: one primary-key lookup per row (a join or EXISTS let the planners scan
# every attendee: SQLite put the attendees outside, PostgreSQL hashed them all). RETURNING
# names every row written. A row the ON CONFLICT's WHERE skipped (its
# seq is not newer: a resend) is not returned, and is read back on its own.
_UPSERT_SOURCE = {
    "sqlite": """
SELECT json_extract(v.value, '$.e'), json_extract(v.value, '$.p'),
       json_extract(v.value, '$.a'), json_extract(v.value, '$.s'),
       json_extract(v.value, '$.q'), :now
FROM json_each(:rows) AS v
WHERE (SELECT a.removed_at IS NULL FROM attendee AS a
       WHERE a.id = json_extract(v.value, '$.a'))""",
    "postgresql": """
SELECT v.e, v.p, v.a, v.s, v.q, :now
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(e integer, p integer, a integer,
                                                   s integer, q bigint)
WHERE (SELECT a.removed_at IS NULL FROM attendee AS a WHERE a.id = v.a)""",
}
_UPSERT = """
INSERT INTO vote (event_id, pitch_id, attendee_id, score, seq, updated_at){source}
ON CONFLICT (attendee_id, pitch_id) DO UPDATE
SET score = excluded.score, seq = excluded.seq, updated_at = excluded.updated_at
WHERE vote.seq < excluded.seq
RETURNING attendee_id, pitch_id, score, seq"""


@functools.cache  # one statement per dialect, built once
def _vote_upsert(dialect: str) -> TextClause:
    return text(_UPSERT.format(source=_UPSERT_SOURCE[dialect])).bindparams(
        bindparam("rows", type_=String()), bindparam("now", type_=DateTime())
    )


# The batch's pitches that accept votes, the ids as one JSON parameter too. Plain SQL run on
# the connection: built through the ORM, this read cost the vote writer's thread ~0.35 ms
# of CPU a batch (a third of the batch's), held against the event loop under the GIL; a
# burst commits a few votes a batch, ~200 batches a second. States are stored by name.
# FOR SHARE: a concurrent "close voting" waits for this batch, so no vote is committed to
# a pitch after its close committed (PostgreSQL; SQLite serialises writers). A removal of
# attendees locks these pitch rows too, so the upsert sees it once it committed: a vote in
# flight when its attendee was removed does not land.
_ACCEPTING = ", ".join(f"'{s.name}'" for s in sorted(ACCEPTS_VOTES))
_OPEN_PITCHES_SQL = {
    "sqlite": f"""
SELECT id, event_id, round FROM pitch
WHERE id IN (SELECT value FROM json_each(:ids)) AND state IN ({_ACCEPTING})""",
    "postgresql": f"""
SELECT id, event_id, round FROM pitch
WHERE id IN (SELECT CAST(value AS integer) FROM jsonb_array_elements_text(CAST(:ids AS jsonb)))
  AND state IN ({_ACCEPTING})
FOR SHARE""",
}


@functools.cache
def _open_pitches(dialect: str) -> TextClause:
    return text(_OPEN_PITCHES_SQL[dialect]).bindparams(bindparam("ids", type_=String()))


def commit_votes(
    session: Session, rows: Iterable[VoteRow]
) -> tuple[list[VoteRow], dict[int, int], dict[tuple[int, int], tuple[int, int]]]:
    """Upsert a batch of votes in one transaction.

    Returns the rows that were accepted (pitch open in the database at commit time, the
    attendee not removed), the round of each of their pitches, and the vote stored for
    each accepted (attendee, pitch) as (score, seq) -- the newest one, which is not the
    row's when a newer vote was stored before. A row whose seq is not newer than the
    stored one is accepted but changes nothing: it is a resend.
    """
    latest: dict[tuple[int, int], VoteRow] = {}
    for row in rows:
        key = (row.attendee_id, row.pitch_id)
        if key not in latest or latest[key].seq < row.seq:
            latest[key] = row
    if not latest:
        return [], {}, {}
    conn = session.connection()
    dialect = conn.dialect.name
    pitch_ids = json.dumps(sorted({r.pitch_id for r in latest.values()}))
    open_pitches = conn.execute(_open_pitches(dialect), {"ids": pitch_ids}).all()
    rounds = {int(pid): int(rnd) for pid, _eid, rnd in open_pitches}
    owner = {int(pid): int(eid) for pid, eid, _rnd in open_pitches}
    candidates = [r for r in latest.values() if owner.get(r.pitch_id) == r.event_id]
    stored: dict[tuple[int, int], tuple[int, int]] = {}
    if candidates:
        batch = json.dumps(
            [
                {"e": r.event_id, "p": r.pitch_id, "a": r.attendee_id, "s": r.score, "q": r.seq}
                for r in candidates
            ]
        )
        written = conn.execute(_vote_upsert(dialect), {"rows": batch, "now": utcnow()})
        for aid, pid, score, seq in written:
            stored[(aid, pid)] = (score, seq)
        skipped = [r for r in candidates if (r.attendee_id, r.pitch_id) not in stored]
        if skipped:
            stored.update(_stored_votes(session, skipped))
    session.commit()
    accepted = [r for r in candidates if (r.attendee_id, r.pitch_id) in stored]
    return accepted, rounds, stored


def _stored_votes(
    session: Session, rows: Sequence[VoteRow]
) -> dict[tuple[int, int], tuple[int, int]]:
    """The stored votes of resent rows (an attendee removed meanwhile has none)."""
    keys = {(r.attendee_id, r.pitch_id) for r in rows}
    found = session.exec(
        select(Vote.attendee_id, Vote.pitch_id, Vote.score, Vote.seq)
        .join(Attendee, col(Attendee.id) == col(Vote.attendee_id))
        .where(
            col(Vote.pitch_id).in_({k[1] for k in keys}),
            col(Vote.attendee_id).in_({k[0] for k in keys}),
            col(Attendee.removed_at).is_(None),
        )
    ).all()
    return {(aid, pid): (score, seq) for aid, pid, score, seq in found if (aid, pid) in keys}


def vote_total(session: Session, event_id: int) -> int:
    return int(
        session.exec(select(func.count()).select_from(Vote).where(Vote.event_id == event_id)).one()
    )


def counts_by_pitch(session: Session, event_id: int) -> dict[int, dict[int, int]]:
    """pitch_id -> {score: count}: the SQL truth the live tallies mirror."""
    rows = session.exec(
        select(Vote.pitch_id, Vote.score, func.count())
        .where(Vote.event_id == event_id)
        .group_by(col(Vote.pitch_id), col(Vote.score))
    ).all()
    counts: dict[int, dict[int, int]] = {}
    for pitch_id, score, n in rows:
        counts.setdefault(pitch_id, {})[score] = n
    return counts


@dataclass(frozen=True)
class RawVote:
    pitch_id: int
    attendee_id: int
    score: int
    updated_at: datetime


def raw_votes(session: Session, event_id: int) -> list[RawVote]:
    rows = session.exec(
        select(Vote.pitch_id, Vote.attendee_id, Vote.score, Vote.updated_at)
        .where(Vote.event_id == event_id)
        .order_by(col(Vote.updated_at), col(Vote.id))
    ).all()
    return [RawVote(*r) for r in rows]
