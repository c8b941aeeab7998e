"""Question queries: plain functions of a Session. Writers commit their own work; every
check that decides a write (is the pitch open, is this my question, is it visible) runs
inside the same transaction as the write, so it still holds when the write lands."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from eventapp.core.models import Attendee, Event, Pitch, Stage, utcnow
from eventapp.questions.models import PUBLIC_STATES, Question, QuestionState, QuestionUpvote


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ------------------------------------------------------------------ read models


@dataclass(frozen=True)
class QuestionView:
    """A question as screens and exports see it. ``name`` is set only where the asker
    chose to show it (and has not deleted their data); the asker's id never leaves SQL
    except towards the asker themself."""

    id: int
    pitch_id: int
    text: str
    name: str | None
    state: QuestionState
    hide_reason: str
    highlighted: bool
    upvotes: int
    created_at: datetime

    def as_json(self, *, full: bool) -> dict[str, object]:
        data: dict[str, object] = {
            "id": self.id,
            "pitch_id": self.pitch_id,
            "text": self.text,
            "name": self.name,
            "state": self.state.value,
            "upvotes": self.upvotes,
            "highlighted": self.highlighted,
            "created_at": aware(self.created_at).isoformat(timespec="seconds"),
        }
        if full:
            data["reason"] = self.hide_reason or None
        return data


@dataclass(frozen=True)
class ActivePitch:
    pitch_id: int
    title: str
    on_stage: bool
    # When questions close (None while on stage: open as long as it stays there).
    open_until: datetime | None


@dataclass(frozen=True)
class Feed:
    """Everything the live screens show about questions, read in one go."""

    enabled: bool
    anonymous_allowed: bool
    premoderated: bool
    max_length: int
    projector_top: bool
    pitches: tuple[ActivePitch, ...]
    questions: tuple[QuestionView, ...]  # of the active pitches, plus the highlighted one
    # Earliest moment an active pitch closes for questions (the feed changes then).
    next_close: datetime | None


@dataclass(frozen=True)
class MyQuestions:
    questions: tuple[QuestionView, ...]
    upvoted: tuple[int, ...]
    presenting: tuple[int, ...]  # pitches this attendee presents


def window_closes(left_stage_at: datetime | None, minutes: int) -> datetime | None:
    return None if left_stage_at is None else aware(left_stage_at) + timedelta(minutes=minutes)


def on_stage_ids(session: Session, event_id: int) -> set[int]:
    """The pitches on stage right now, one per stage at most (issue 15)."""
    rows = session.exec(select(Stage.current_pitch_id).where(Stage.event_id == event_id)).all()
    return {int(x) for x in rows if x is not None}


def is_open(event: Event, pitch: Pitch, now: datetime, on_stage: set[int]) -> bool:
    """Open for questions: on a stage (``on_stage_ids``), or left it less than the
    organiser's minutes ago."""
    if not event.questions_enabled or pitch.event_id != event.id:
        return False
    if pitch.id in on_stage:
        return True
    closes = window_closes(pitch.left_stage_at, event.questions_open_minutes)
    return closes is not None and now < closes


def _views(session: Session, where: Any, *, limit: int = 2000) -> list[QuestionView]:
    votes = (
        select(QuestionUpvote.question_id, func.count().label("n"))
        .where(col(QuestionUpvote.up))
        .group_by(col(QuestionUpvote.question_id))
        .subquery()
    )
    rows = session.exec(
        select(Question, Attendee.name, Attendee.anonymised_at, votes.c.n)
        .join(Attendee, col(Attendee.id) == col(Question.attendee_id))
        .outerjoin(votes, votes.c.question_id == col(Question.id))
        .where(where)
        .order_by(col(Question.id))
        .limit(limit)
    ).all()
    return [
        QuestionView(
            id=q.id,
            pitch_id=q.pitch_id,
            text=q.text,
            name=name if q.show_name and anonymised is None and name else None,
            state=QuestionState(q.state),
            hide_reason=q.hide_reason,
            highlighted=q.highlighted,
            upvotes=int(n or 0),
            created_at=q.created_at,
        )
        for q, name, anonymised, n in rows
        if q.id is not None
    ]


def load_feed(session: Session, event_id: int, now: datetime) -> Feed:
    event = session.get(Event, event_id)
    if event is None:
        raise LookupError(event_id)
    pitches = session.exec(
        select(Pitch).where(Pitch.event_id == event_id).order_by(col(Pitch.position))
    ).all()
    on_stage = on_stage_ids(session, event_id)
    active = [
        ActivePitch(
            p.id,
            p.title,
            p.id in on_stage,
            None
            if p.id in on_stage
            else window_closes(p.left_stage_at, event.questions_open_minutes),
        )
        for p in pitches
        if p.id is not None and is_open(event, p, now, on_stage)
    ]
    ids = [a.pitch_id for a in active]
    questions = _views(
        session,
        and_(
            col(Question.event_id) == event_id,
            or_(col(Question.pitch_id).in_(ids), col(Question.highlighted)),
        ),
    )
    closes = [a.open_until for a in active if a.open_until is not None]
    return Feed(
        enabled=event.questions_enabled,
        anonymous_allowed=event.questions_anonymous,
        premoderated=event.questions_premoderated,
        max_length=event.question_max_length,
        projector_top=event.questions_projector_top,
        pitches=tuple(active),
        questions=tuple(questions),
        next_close=min(closes) if closes else None,
    )


def my_questions(session: Session, event_id: int, attendee_id: int) -> MyQuestions:
    mine = _views(session, (Question.event_id == event_id) & (Question.attendee_id == attendee_id))
    upvoted = session.exec(
        select(QuestionUpvote.question_id)
        .join(Question, col(Question.id) == col(QuestionUpvote.question_id))
        .where(
            QuestionUpvote.attendee_id == attendee_id,
            col(QuestionUpvote.up),
            Question.event_id == event_id,
        )
    ).all()
    presenting = session.exec(
        select(Pitch.id).where(
            Pitch.event_id == event_id, Pitch.presenter_attendee_id == attendee_id
        )
    ).all()
    return MyQuestions(
        tuple(mine),
        tuple(sorted(int(x) for x in upvoted)),
        tuple(int(x) for x in presenting if x is not None),
    )


def my_questions_of(
    session: Session, event_id: int, attendee_ids: Collection[int]
) -> dict[int, MyQuestions]:
    """``my_questions`` of many attendees in three reads (a reconnect storm's hellos)."""
    ids = set(attendee_ids)
    mine: dict[int, list[QuestionView]] = {}
    asked = session.exec(
        select(Question.id, Question.attendee_id).where(
            Question.event_id == event_id, col(Question.attendee_id).in_(ids)
        )
    ).all()
    if asked:
        owner = {qid: aid for qid, aid in asked}
        for view in _views(session, col(Question.id).in_(list(owner)), limit=len(owner)):
            mine.setdefault(owner[view.id], []).append(view)
    upvoted: dict[int, list[int]] = {}
    for aid, qid in session.exec(
        select(QuestionUpvote.attendee_id, QuestionUpvote.question_id)
        .join(Question, col(Question.id) == col(QuestionUpvote.question_id))
        .where(
            col(QuestionUpvote.attendee_id).in_(ids),
            col(QuestionUpvote.up),
            Question.event_id == event_id,
        )
    ).all():
        upvoted.setdefault(aid, []).append(int(qid))
    presenting: dict[int, list[int]] = {}
    for presenter, pitch_id in session.exec(
        select(Pitch.presenter_attendee_id, Pitch.id).where(
            Pitch.event_id == event_id, col(Pitch.presenter_attendee_id).in_(ids)
        )
    ).all():
        if presenter is not None and pitch_id is not None:
            presenting.setdefault(presenter, []).append(int(pitch_id))
    return {
        aid: MyQuestions(
            tuple(mine.get(aid, ())),
            tuple(sorted(upvoted.get(aid, ()))),
            tuple(presenting.get(aid, ())),
        )
        for aid in ids
    }


def questions_of_event(session: Session, event_id: int) -> list[QuestionView]:
    """Every question of the event (exports and the report)."""
    return _views(session, Question.event_id == event_id, limit=1_000_000)


def upvote_counts(session: Session, event_id: int) -> dict[int, int]:
    """question id -> upvotes, straight from the rows (what every screen must agree with)."""
    rows = session.exec(
        select(QuestionUpvote.question_id, func.count())
        .join(Question, col(Question.id) == col(QuestionUpvote.question_id))
        .where(Question.event_id == event_id, col(QuestionUpvote.up))
        .group_by(col(QuestionUpvote.question_id))
    ).all()
    return {int(q): int(n) for q, n in rows}


# ------------------------------------------------------------------ writes


class Refused(Exception):
    """An action that is not allowed; ``code`` is stable, ``message`` is for people and
    may hold %(name)s placeholders filled from ``values`` after translation."""

    def __init__(self, code: str, message: str, **values: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.values = values


@dataclass(frozen=True)
class NewQuestion:
    event_id: int
    pitch_id: int
    attendee_id: int
    text: str
    show_name: bool


# Flood limits per attendee, counted in SQL inside the insert's transaction, so they hold
# across processes. Documented in the README ("Limits").
QUESTIONS_PER_MINUTE = 3
QUESTIONS_PER_PITCH = 10


def add_question(session: Session, new: NewQuestion, now: datetime) -> QuestionView:
    event = session.get(Event, new.event_id)
    pitch = session.get(Pitch, new.pitch_id)
    if event is None or pitch is None or pitch.event_id != new.event_id:
        raise Refused("unknown_pitch", "No such pitch in this event.")
    if not event.questions_enabled:
        raise Refused("questions_off", "Questions are switched off for this event.")
    if not is_open(event, pitch, now, on_stage_ids(session, new.event_id)):
        raise Refused("questions_closed", "Questions to this pitch are closed.")
    if not new.show_name and not event.questions_anonymous:
        raise Refused("name_required", "This event does not allow anonymous questions.")
    if len(new.text) > event.question_max_length:
        raise Refused(
            "too_long",
            "Your question is longer than %(limit)d characters.",
            limit=event.question_max_length,
        )
    recent = session.exec(
        select(func.count())
        .select_from(Question)
        .where(
            Question.attendee_id == new.attendee_id,
            col(Question.created_at) > now - timedelta(minutes=1),
        )
    ).one()
    if recent >= QUESTIONS_PER_MINUTE:
        raise Refused(
            "rate_limited",
            "You can ask at most %(limit)d questions a minute; please wait a moment.",
            limit=QUESTIONS_PER_MINUTE,
        )
    on_pitch = session.exec(
        select(func.count())
        .select_from(Question)
        .where(Question.attendee_id == new.attendee_id, Question.pitch_id == new.pitch_id)
    ).one()
    if on_pitch >= QUESTIONS_PER_PITCH:
        raise Refused(
            "too_many_questions",
            "You can ask at most %(limit)d questions per pitch.",
            limit=QUESTIONS_PER_PITCH,
        )
    question = Question(
        event_id=new.event_id,
        pitch_id=new.pitch_id,
        attendee_id=new.attendee_id,
        text=new.text,
        show_name=new.show_name,
        state=(
            QuestionState.WAITING if event.questions_premoderated else QuestionState.SHOWN
        ).value,
        created_at=now,
        updated_at=now,
    )
    session.add(question)
    session.commit()
    assert question.id is not None
    return _views(session, col(Question.id) == question.id)[0]


_UPSERT: dict[str, Any] = {}


def _upvote_upsert(dialect: str) -> Any:
    """Insert a wish, or replace the stored one unless the stored one is newer."""
    stmt = _UPSERT.get(dialect)
    if stmt is None:
        table = QuestionUpvote.__table__  # type: ignore[attr-defined]
        insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
        stmt = insert.on_conflict_do_update(
            index_elements=["question_id", "attendee_id"],
            set_={
                "up": insert.excluded.up,
                "seq": insert.excluded.seq,
                "created_at": insert.excluded.created_at,
            },
            where=insert.excluded.seq >= table.c.seq,
        )
        _UPSERT[dialect] = stmt
    return stmt


@dataclass(frozen=True)
class UpvoteRow:
    event_id: int
    question_id: int
    attendee_id: int
    up: bool
    seq: int = 0  # the phone's; a wish older than the stored one changes nothing


@dataclass(frozen=True)
class StoredWish:
    """What is stored for an attendee and question after a batch: upvoted or not, and
    the seq of the wish that set it (newer than the one sent, if one was)."""

    up: bool
    seq: int


def commit_upvotes(
    session: Session, rows: Sequence[UpvoteRow], now: datetime
) -> list[Refused | StoredWish]:
    """Apply a batch of upvotes in one transaction (one commit for hundreds of taps, so an
    upvote storm does not starve the vote writer of the database). Returns, per row, the
    wish now stored for its attendee and question, or the reason it was refused. The
    newest wish wins (the largest seq; a resend has the same seq), within the batch and
    against what is stored: a late, older wish changes nothing."""
    ids = {r.question_id for r in rows}
    questions = {
        q.id: q for q in session.exec(select(Question).where(col(Question.id).in_(ids))).all()
    }
    verdicts: list[Refused | None] = []
    final: dict[tuple[int, int], UpvoteRow] = {}
    for row in rows:
        question = questions.get(row.question_id)
        verdict: Refused | None = None
        if question is None or question.event_id != row.event_id:
            verdict = Refused("unknown_question", "No such question.")
        elif row.up and question.attendee_id == row.attendee_id:
            verdict = Refused("own_question", "You cannot upvote your own question.")
        elif row.up and question.state not in PUBLIC_STATES:
            verdict = Refused("not_visible", "This question cannot be upvoted.")
        elif row.up:
            event = session.get(Event, row.event_id)
            pitch = session.get(Pitch, question.pitch_id)
            if (
                event is None
                or pitch is None
                or not is_open(event, pitch, now, on_stage_ids(session, row.event_id))
            ):
                verdict = Refused("questions_closed", "Questions to this pitch are closed.")
        if verdict is None:
            key = (row.question_id, row.attendee_id)
            if key not in final or row.seq >= final[key].seq:
                final[key] = row
        verdicts.append(verdict)
    stored: dict[tuple[int, int], StoredWish] = {}
    if final:
        # A fixed order: two processes' batches lock rows in the same order (no deadlock).
        wishes = [
            {"question_id": q, "attendee_id": a, "up": r.up, "seq": r.seq, "created_at": now}
            for (q, a), r in sorted(final.items())
        ]
        session.execute(_upvote_upsert(session.get_bind().dialect.name), wishes)
        for q, a, up, seq in session.exec(
            select(
                QuestionUpvote.question_id,
                QuestionUpvote.attendee_id,
                QuestionUpvote.up,
                QuestionUpvote.seq,
            ).where(
                col(QuestionUpvote.question_id).in_({q for q, _ in final}),
                col(QuestionUpvote.attendee_id).in_({a for _, a in final}),
            )
        ).all():
            stored[(q, a)] = StoredWish(bool(up), int(seq))
    session.commit()
    return [
        verdict if verdict is not None else stored[(row.question_id, row.attendee_id)]
        for row, verdict in zip(rows, verdicts, strict=True)
    ]


@dataclass(frozen=True)
class Moderated:
    question: QuestionView
    asker_id: int


def moderate(
    session: Session,
    event_id: int,
    question_id: int,
    *,
    state: QuestionState | None = None,
    reason: str = "",
    highlight: bool | None = None,
    now: datetime,
) -> Moderated:
    question = session.get(Question, question_id)
    if question is None or question.event_id != event_id:
        raise Refused("unknown_question", "No such question.")
    if state is not None:
        question.state = state.value
        question.hide_reason = reason if state is QuestionState.HIDDEN else ""
        if state is QuestionState.HIDDEN or state is QuestionState.WAITING:
            question.highlighted = False
    if highlight is not None:
        if highlight and question.state not in PUBLIC_STATES:
            raise Refused("not_visible", "Only visible questions can be shown on the projector.")
        if highlight:
            # One highlighted question per event: the projector shows exactly one.
            session.execute(
                update(Question)
                .where(col(Question.event_id) == event_id, col(Question.highlighted))
                .values(highlighted=False)
            )
        question.highlighted = highlight
    question.updated_at = now
    session.add(question)
    session.commit()
    return Moderated(_views(session, col(Question.id) == question_id)[0], question.attendee_id)


def asker_of(session: Session, event_id: int, question_id: int) -> tuple[int, int, bool] | None:
    """(asker attendee id, pitch id, named?) of a question, for the presenter's reply."""
    question = session.get(Question, question_id)
    if question is None or question.event_id != event_id:
        return None
    return question.attendee_id, question.pitch_id, question.show_name


def presenter_of(session: Session, pitch_id: int) -> int | None:
    pitch = session.get(Pitch, pitch_id)
    return None if pitch is None else pitch.presenter_attendee_id


def now_utc() -> datetime:
    return utcnow()


def counts_by_state(questions: Iterable[QuestionView]) -> dict[str, int]:
    counts = {s.value: 0 for s in QuestionState}
    for q in questions:
        counts[q.state.value] += 1
    return counts


def by_pitch(questions: Sequence[QuestionView]) -> dict[int, list[QuestionView]]:
    out: dict[int, list[QuestionView]] = {}
    for q in questions:
        out.setdefault(q.pitch_id, []).append(q)
    return out
