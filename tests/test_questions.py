"""Audience questions (issue 16): asking, upvoting, moderation and what each role sees.

Runs on both live backends (memory, Redis) and both databases (SQLite, PostgreSQL when
DATABASE_URL is set) through the ``client`` fixture.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient, WebSocketTestSession

from eventapp.core.db import Database
from eventapp.core.models import Attendee, Event, Stage
from eventapp.enums import PitchState
from eventapp.questions import queries as qstore
from eventapp.questions.models import Question, QuestionUpvote
from eventapp.voting import queries
from tests.helpers import (
    command,
    hello_attendee,
    hello_screen,
    join,
    live_socket,
    receive_until,
)


def _of(kind: str, **fields: Any) -> Any:
    return lambda m: m.get("type") == kind and all(m.get(k) == v for k, v in fields.items())


def _questions(ws: WebSocketTestSession, predicate: Any) -> dict[str, Any]:
    return receive_until(ws, lambda m: m.get("type") == "questions" and predicate(m), limit=400)


def _pitch_block(message: dict[str, Any], pitch_id: int) -> dict[str, Any] | None:
    return next((p for p in message["pitches"] if p["pitch_id"] == pitch_id), None)


def _rows(db: Database) -> list[Question]:
    return db.read(lambda s: list(s.exec(select(Question)).all()))


def _upvote_rows(db: Database) -> int:
    """Upvotes standing (a taken-back one stays as a row with ``up`` false)."""
    return len(db.read(lambda s: list(s.exec(select(QuestionUpvote).where(QuestionUpvote.up)))))


def _ask(ws: WebSocketTestSession, pitch_id: int, text: str, anonymous: bool = False) -> Any:
    ws.send_json(
        {"type": "ask_question", "pitch_id": pitch_id, "text": text, "anonymous": anonymous}
    )
    return receive_until(ws, lambda m: m["type"] in ("question_ack", "error"))


def _upvote(ws: WebSocketTestSession, question_id: int, up: bool = True) -> Any:
    ws.send_json({"type": "upvote_question", "question_id": question_id, "up": up})
    return receive_until(ws, lambda m: m["type"] in ("question_ack", "error"))


def _moderate(ws: WebSocketTestSession, question_id: int, action: str, **extra: Any) -> Any:
    ws.send_json(
        {"type": "moderate_question", "question_id": question_id, "action": action, **extra}
    )
    return receive_until(ws, lambda m: m["type"] in ("question_ack", "error"))


def test_ask_upvote_and_moderate_with_exact_counts_everywhere(
    client: TestClient, event: Event, stage: Stage, db: Database
) -> None:
    ada, bob, cem = (join(client, event.code, n) for n in ("Ada", "Bob", "Cem"))
    with (
        live_socket(client, event) as mod,
        live_socket(client, event) as projector,
        live_socket(client, event) as a,
        live_socket(client, event) as b,
        live_socket(client, event) as c,
    ):
        hello_screen(mod, "moderator", stage.moderator_key)
        hello_screen(projector, "projector", stage.projector_key)
        pitch = command(mod, {"type": "next"})["event"]["current_pitch_id"]
        for ws, token in ((a, ada), (b, bob), (c, cem)):
            hello_attendee(ws, token)

        ack = _ask(a, pitch, "<b>How</b> is it funded?")
        assert ack["type"] == "question_ack" and ack["state"] == "shown", ack
        qa = ack["question_id"]
        mine = receive_until(a, _of("my_questions"))
        assert [(q["id"], q["state"], q["name"]) for q in mine["questions"]] == [
            (qa, "shown", "Ada")
        ]
        qb = _ask(b, pitch, "Who pilots it?", anonymous=True)["question_id"]

        # Upvotes: others only, once each, revocable, a resend changes nothing.
        assert _upvote(b, qa)["type"] == "question_ack"
        assert _upvote(b, qa)["type"] == "question_ack"  # resend: still one
        assert _upvote(c, qa)["type"] == "question_ack"
        assert _upvote(c, qb)["type"] == "question_ack"
        assert _upvote(c, qb, up=False)["type"] == "question_ack"  # taken back
        own = _upvote(a, qa)
        assert own["type"] == "error" and own["code"] == "own_question"

        block = _pitch_block(
            _questions(
                mod,
                lambda m: (
                    (p := _pitch_block(m, pitch)) is not None
                    and {q["id"]: q["upvotes"] for q in p["questions"]} == {qa: 2, qb: 0}
                ),
            ),
            pitch,
        )
        assert block is not None
        by_id = {q["id"]: q for q in block["questions"]}
        assert by_id[qa]["text"] == "<b>How</b> is it funded?"  # kept as typed, shown as text
        assert by_id[qa]["name"] == "Ada" and by_id[qb]["name"] is None
        assert db.read(qstore.upvote_counts, event.id) == {qa: 2}

        # Moderator: hide with a reason; others stop seeing it but see the count.
        assert _moderate(mod, qb, "hide")["code"] == "reason_required"
        assert _moderate(mod, qb, "hide", reason="off_topic")["type"] == "question_ack"
        mine_b = receive_until(b, _of("my_questions"))
        assert [(q["state"], q["reason"]) for q in mine_b["questions"]] == [("hidden", "off_topic")]
        public = _questions(
            c, lambda m: (p := _pitch_block(m, pitch)) is not None and p["counts"]["hidden"] == 1
        )
        public_block = _pitch_block(public, pitch)
        assert public_block is not None
        assert [q["id"] for q in public_block["questions"]] == [qa]
        assert "reason" not in public_block["questions"][0]
        hidden = _upvote(c, qb)
        assert hidden["type"] == "error" and hidden["code"] == "not_visible"

        # Highlight for the projector, then mark answered.
        assert _moderate(mod, qa, "highlight")["type"] == "question_ack"
        shown = _questions(projector, lambda m: m.get("highlighted") is not None)
        assert shown["highlighted"]["text"] == "<b>How</b> is it funded?"
        assert shown["highlighted"]["upvotes"] == 2
        assert _moderate(mod, qa, "answer")["type"] == "question_ack"
        answered = _questions(
            mod, lambda m: m["highlighted"] is not None and m["highlighted"]["state"] == "answered"
        )
        assert answered["highlighted"]["id"] == qa

    states = {q.id: (q.state, q.hide_reason, q.highlighted) for q in _rows(db)}
    assert states == {qa: ("answered", "", True), qb: ("hidden", "off_topic", False)}
    assert _upvote_rows(db) == 2


def test_pre_moderation_shows_waiting_questions_only_to_asker_and_moderator(
    client: TestClient, event: Event, stage: Stage, db: Database
) -> None:
    db.call(lambda s: _set(s, event.id, questions_premoderated=True))
    ada, bob = join(client, event.code, "Ada"), join(client, event.code, "Bob")
    with (
        live_socket(client, event) as mod,
        live_socket(client, event) as a,
        live_socket(client, event) as b,
    ):
        hello_screen(mod, "moderator", stage.moderator_key)
        pitch = command(mod, {"type": "next"})["event"]["current_pitch_id"]
        hello_attendee(a, ada)
        hello_attendee(b, bob)
        ack = _ask(a, pitch, "Waiting for review?")
        assert ack["state"] == "waiting"
        qid = ack["question_id"]
        seen = _questions(
            b, lambda m: (p := _pitch_block(m, pitch)) is not None and p["counts"]["waiting"] == 1
        )
        assert _pitch_block(seen, pitch)["questions"] == []
        assert _upvote(b, qid)["code"] == "not_visible"
        full = _questions(
            mod, lambda m: (p := _pitch_block(m, pitch)) is not None and p["questions"]
        )
        assert _pitch_block(full, pitch)["questions"][0]["state"] == "waiting"
        assert _moderate(mod, qid, "approve")["type"] == "question_ack"
        mine = receive_until(
            a, lambda m: m["type"] == "my_questions" and m["questions"][0]["state"] == "shown"
        )
        assert mine["questions"][0]["id"] == qid
        visible = _questions(
            b, lambda m: (p := _pitch_block(m, pitch)) is not None and p["questions"]
        )
        assert [q["id"] for q in _pitch_block(visible, pitch)["questions"]] == [qid]
    assert _upvote_rows(db) == 0


def _set(session: Any, event_id: int | None, **values: Any) -> None:
    row = session.get(Event, event_id)
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    session.commit()


@pytest.mark.parametrize(
    ("text", "anonymous", "code"),
    [
        ("", False, "empty"),
        ("   ", False, "empty"),
        ("x" * 281, False, "too_long"),
        ("bell\x07", False, "bad_text"),
    ],
)
def test_bad_questions_are_refused_in_the_persons_language_and_nothing_is_stored(
    client: TestClient,
    event: Event,
    stage: Stage,
    db: Database,
    text: str,
    anonymous: bool,
    code: str,
) -> None:
    token = join(client, event.code, "Ada")
    client.cookies.set("ea_lang", "de")
    with live_socket(client, event) as mod, live_socket(client, event) as phone:
        hello_screen(mod, "moderator", stage.moderator_key)
        pitch = command(mod, {"type": "next"})["event"]["current_pitch_id"]
        hello_attendee(phone, token)
        error = _ask(phone, pitch, text, anonymous)
        assert error["type"] == "error" and error["code"] == code, error
        assert error["ref"] == "ask_question"
        german = {
            "empty": "Bitte schreiben Sie zuerst eine Frage.",
            "too_long": "Ihre Frage ist länger als 280 Zeichen.",
            "bad_text": "Ihre Frage enthält Zeichen, die nicht angezeigt werden können.",
        }
        assert error["message"] == german[code]
        # The socket still works: a good question goes through afterwards.
        assert _ask(phone, pitch, "A fine question")["type"] == "question_ack"
    assert [q.text for q in _rows(db)] == ["A fine question"]


def test_closed_foreign_anonymous_and_flooded_questions_are_refused(
    client: TestClient, event: Event, stage: Stage, db: Database
) -> None:
    from eventapp.voting.rules import PitchSpec, create_event

    other = create_event("Other", [PitchSpec("Elsewhere")], db=db)
    other_pitch = db.read(qstore.load_feed, other.id, qstore.now_utc())  # noqa: F841
    token = join(client, event.code, "Ada")
    with live_socket(client, event) as mod, live_socket(client, event) as phone:
        hello_screen(mod, "moderator", stage.moderator_key)
        state = command(mod, {"type": "next"})["event"]
        pitch = state["current_pitch_id"]
        later = state["pitches"][2]["id"]
        hello_attendee(phone, token)
        assert _ask(phone, later, "Not on stage yet")["code"] == "questions_closed"
        foreign = db.read(lambda s: s.exec(select(Question.id)).all())  # nothing yet
        assert foreign == []
        from eventapp.core.models import Pitch

        other_id = db.read(
            lambda s: s.exec(select(Pitch.id).where(Pitch.event_id == other.id)).one()
        )
        assert _ask(phone, other_id, "Wrong event")["code"] == "unknown_pitch"
        db.call(lambda s: _set(s, event.id, questions_anonymous=False))
        assert _ask(phone, pitch, "Anonymous?", anonymous=True)["code"] == "name_required"
        for i in range(3):
            assert _ask(phone, pitch, f"Question {i}")["type"] == "question_ack"
        flood = _ask(phone, pitch, "One too many")
        assert flood["code"] == "rate_limited" and "3" in flood["message"]
        assert _upvote(phone, 999999)["code"] == "unknown_question"
        # Questions off: nothing goes in.
        db.call(lambda s: _set(s, event.id, questions_enabled=False))
        assert _ask(phone, pitch, "Off?")["code"] == "questions_off"
    assert sorted(q.text for q in _rows(db)) == ["Question 0", "Question 1", "Question 2"]


def test_questions_stay_open_for_the_set_minutes_after_the_pitch_left_the_stage(
    client: TestClient, event: Event, stage: Stage, db: Database
) -> None:
    token = join(client, event.code, "Ada")
    with live_socket(client, event) as mod, live_socket(client, event) as phone:
        hello_screen(mod, "moderator", stage.moderator_key)
        first = command(mod, {"type": "next"})["event"]["current_pitch_id"]
        command(mod, {"type": "next"})
        hello_attendee(phone, token)
        # Default: 5 minutes after leaving the stage.
        assert _ask(phone, first, "Late but in time")["type"] == "question_ack"
        db.call(lambda s: _set(s, event.id, questions_open_minutes=0))
        assert _ask(phone, first, "Too late")["code"] == "questions_closed"


def test_moderation_and_upvotes_need_the_right_role(
    client: TestClient, event: Event, stage: Stage, db: Database
) -> None:
    ada, bob = join(client, event.code, "Ada"), join(client, event.code, "Bob")
    with (
        live_socket(client, event) as mod,
        live_socket(client, event) as projector,
        live_socket(client, event) as a,
        live_socket(client, event) as b,
    ):
        hello_screen(mod, "moderator", stage.moderator_key)
        hello_screen(projector, "projector", stage.projector_key)
        pitch = command(mod, {"type": "next"})["event"]["current_pitch_id"]
        hello_attendee(a, ada)
        hello_attendee(b, bob)
        qid = _ask(a, pitch, "Mine")["question_id"]
        assert _moderate(b, qid, "hide", reason="spam")["code"] == "forbidden"
        assert _moderate(projector, qid, "answer")["code"] == "forbidden"
        projector.send_json({"type": "upvote_question", "question_id": qid})
        assert receive_until(projector, _of("error"))["code"] == "forbidden"
        assert _moderate(mod, qid, "explode")["code"] == "bad_message"
    assert [(q.state, q.highlighted) for q in _rows(db)] == [("shown", False)]
    assert _upvote_rows(db) == 0


def test_question_message_types_are_in_the_readme() -> None:
    from eventapp.questions import messages as qmessages
    from tests.test_protocol_docs import _readme_types

    assert set(qmessages.SERVER_TYPES) <= _readme_types("Server → client")
    assert set(qmessages.CLIENT_TYPES) <= _readme_types("Client → server")


def _attendee(db: Database, event: Event, name: str) -> int:
    attendee = db.call(
        queries.add_attendee, Attendee(event_id=event.id, token=f"tok-{name}", name=name)
    )
    assert attendee.id is not None
    return attendee.id


def _question_on_stage(db: Database, event: Event, asker: int) -> qstore.QuestionView:
    """A question by ``asker`` to the first pitch, put on stage (open for upvotes)."""
    pitch = db.read(queries.load_state, event.id).pitches[0].id
    db.call(
        queries.set_pitch_states, event.id, states={pitch: PitchState.OPEN}, current_pitch_id=pitch
    )
    new = qstore.NewQuestion(event.id, pitch, asker, "Why?", True)
    return db.call(qstore.add_question, new, qstore.now_utc())


def test_the_newest_upvote_wish_wins_also_when_an_older_one_arrives_late(
    db: Database, event: Event
) -> None:
    """A phone takes its upvote back, its socket dies, it sends the wish again on another
    process; the old process applies the older "upvote" afterwards: it changes nothing.
    Within one batch, too, the largest seq wins; a resend (same seq) counts once."""
    fan, other = _attendee(db, event, "fan"), _attendee(db, event, "other")
    q = _question_on_stage(db, event, _attendee(db, event, "asker"))

    def wish(attendee: int, up: bool, seq: int) -> qstore.UpvoteRow:
        return qstore.UpvoteRow(event.id, q.id, attendee, up, seq)

    def commit(*rows: qstore.UpvoteRow) -> list[Any]:
        return db.call(qstore.commit_upvotes, list(rows), qstore.now_utc())

    assert commit(wish(fan, True, 10)) == [qstore.StoredWish(True, 10)]
    assert commit(wish(fan, False, 11)) == [qstore.StoredWish(False, 11)]
    # The late one: older, refused by nobody, and changing nothing.
    assert commit(wish(fan, True, 10)) == [qstore.StoredWish(False, 11)]
    assert db.read(qstore.upvote_counts, event.id) == {}
    assert db.read(qstore.my_questions, event.id, fan).upvoted == ()
    # A resend of the newest wish, and a newer one that is in the same batch as an older.
    assert commit(wish(fan, False, 11), wish(other, True, 5), wish(other, False, 4)) == [
        qstore.StoredWish(False, 11),
        qstore.StoredWish(True, 5),
        qstore.StoredWish(True, 5),
    ]
    assert db.read(qstore.upvote_counts, event.id) == {q.id: 1}
    assert db.read(qstore.my_questions, event.id, other).upvoted == (q.id,)
    assert commit(wish(fan, True, 12)) == [qstore.StoredWish(True, 12)]
    assert db.read(qstore.upvote_counts, event.id) == {q.id: 2}
    assert db.read(qstore.questions_of_event, event.id)[0].upvotes == 2


@pytest.mark.parametrize("seq", ["5", -1, 2**53, 1.5, True])
def test_an_upvote_with_a_bad_seq_is_refused_and_changes_nothing(
    client: TestClient, event: Event, db: Database, seq: Any
) -> None:
    qid = _question_on_stage(db, event, _attendee(db, event, "Ada")).id
    bob = join(client, event.code, "Bob")
    with live_socket(client, event) as b:
        hello_attendee(b, bob)
        b.send_json({"type": "upvote_question", "question_id": qid, "up": True, "seq": seq})
        error = receive_until(b, lambda m: m["type"] in ("question_ack", "error"))
        assert (error["type"], error["code"], error["params"]["field"]) == (
            "error",
            "bad_message",
            "seq",
        ), error
        assert _upvote_rows(db) == 0
        # The socket still works: the same wish with a good seq is stored, and its ack
        # names the stored wish.
        b.send_json({"type": "upvote_question", "question_id": qid, "up": True, "seq": 7})
        ack = receive_until(b, lambda m: m["type"] in ("question_ack", "error"))
        assert (ack["type"], ack["up"], ack["seq"]) == ("question_ack", True, 7), ack
    assert _upvote_rows(db) == 1
