"""Hellos read together: each gets exactly its own attendee, stored votes and questions."""

from __future__ import annotations

import asyncio

from sqlalchemy import event as sa_event

from eventapp.core.db import Database
from eventapp.core.models import Attendee, Event
from eventapp.enums import PitchState
from eventapp.live.greeter import Greeter, Greeting
from eventapp.organizing.attendees import remove_attendees
from eventapp.questions import queries as store
from eventapp.questions.queries import NewQuestion, UpvoteRow
from eventapp.voting import queries
from eventapp.voting.queries import VoteRow
from tests.support.seeding import new_event


def _attendee(db: Database, event: Event, token: str, name: str) -> int:
    attendee = db.call(queries.add_attendee, Attendee(event_id=event.id, token=token, name=name))
    assert attendee.id is not None
    return attendee.id


def test_a_batch_of_hellos_greets_each_attendee_with_its_own_stored_votes(
    db: Database, event: Event
) -> None:
    state = db.read(queries.load_state, event.id)
    first, second = state.pitches[0].id, state.pitches[1].id
    db.call(
        queries.set_pitch_states,
        event.id,
        states={first: PitchState.OPEN, second: PitchState.OPEN},
        current_pitch_id=first,
    )
    ann = _attendee(db, event, "tok-ann", "Ann")
    bob = _attendee(db, event, "tok-bob", "Bob")
    eve = _attendee(db, event, "tok-eve", "Eve")
    other = new_event(db, pitches=1, name="Other")
    _attendee(db, other, "tok-other", "Otto")
    db.call(
        queries.commit_votes,
        [
            VoteRow(event.id, first, ann, 4, 3),
            VoteRow(event.id, second, ann, 2, 1),
            VoteRow(event.id, first, eve, 5, 1),
        ],
    )
    db.call(remove_attendees, event.id, [eve], reason="script", actor="test")
    now = store.now_utc()
    asked = db.call(store.add_question, NewQuestion(event.id, first, bob, "Why now?", True), now)
    db.call(store.commit_upvotes, [UpvoteRow(event.id, asked.id, ann, True)], now)

    async def hellos() -> tuple[list[Greeting | None], int]:
        greeter = Greeter(db, batch_max=3)  # several batches, read two at a time
        tokens = ["tok-ann", "tok-bob", "tok-eve", "tok-other", "nope", "tok-ann", "tok-bob"]
        found = await asyncio.gather(*(greeter.greet(event.id, t) for t in tokens))
        return found, greeter.answered_within(60.0)

    greetings, greeted = asyncio.run(hellos())
    # The storm signal (eventapp.live.pump): real attendees greeted, not made-up tokens.
    assert greeted == 4

    assert [g.attendee_id if g else None for g in greetings] == [
        ann,
        bob,
        None,  # removed: the token no longer works
        None,  # another event's attendee
        None,
        ann,
        bob,
    ]
    assert greetings[0] is not None and greetings[1] is not None
    assert greetings[0].votes == {first: (4, 3), second: (2, 1)}
    assert greetings[1].votes == {}
    # Own questions and upvotes as the one-attendee read gives them.
    for greeting in greetings[:2]:
        assert greeting is not None
        assert greeting.questions == db.read(store.my_questions, event.id, greeting.attendee_id)
    assert greetings[0].questions.upvoted == (asked.id,)
    assert [q.text for q in greetings[1].questions.questions] == ["Why now?"]


def test_the_batch_read_finds_attendees_by_token_not_by_scanning_the_event(
    db: Database, event: Event
) -> None:
    """With ``event_id = ?`` in the WHERE clause SQLite's planner chose the event's index
    and read every attendee of the event for each batch (a storm's hellos at 10,000
    attendees: ~4 ms a batch). The plan of the statement actually sent must search by
    token."""
    if db.dialect != "sqlite":
        return  # the planner in question is SQLite's
    tokens = [f"tok-{i}" for i in range(40)]
    for token in tokens:
        _attendee(db, event, token, token)
    sent: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, statement: str, params: object, *_: object) -> None:
        if "FROM attendee" in statement:
            sent.append((statement, params))

    sa_event.listen(db.engine, "before_cursor_execute", capture)
    try:
        found = db.read(queries.attendees_by_tokens, event.id, [*tokens[:5], "nope"])
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", capture)
    assert sorted(found) == sorted(tokens[:5])
    [(statement, params)] = sent
    with db.engine.connect() as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)  # type: ignore[arg-type]
        )
    assert "ix_attendee_token" in plan, plan
    assert "ix_attendee_event_id" not in plan, plan


def test_a_short_window_does_not_forget_what_a_longer_one_counts(db: Database) -> None:
    """The storm gather asks about the last second, the pump's storm check about the
    last five: asking the short one first must not drop what the long one counts."""

    async def scenario() -> tuple[int, int, int]:
        greeter = Greeter(db)
        greeter.answered_within(5.0)  # the pump's window, asked once
        loop = asyncio.get_running_loop()
        greeter._answered.append((loop.time() - 2.0, 150))  # a batch two seconds ago
        greeter._answered.append((loop.time(), 30))
        return greeter.answered_within(1.0), greeter.answered_within(5.0), len(greeter._answered)

    assert asyncio.run(scenario()) == (30, 180, 2)
