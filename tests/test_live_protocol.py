"""The live protocol's edges: strict parsing, socket hygiene, what every tab and phone is
told after a vote, a reset or a renewed screen link, and a vote writer that fails once."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from eventapp.app import create_app
from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.settings import Settings
from eventapp.voting import queries
from tests.helpers import (
    ORIGIN,
    command,
    csrf_of,
    hello_attendee,
    hello_screen,
    join,
    of_type,
    receive_until,
)
from tests.support.seeding import first_stage

EN = {"accept-language": "en"}


def _open_first_pitch(client: TestClient, event: Event) -> int:
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        welcome = hello_screen(mod, "moderator", event.organizer_key)
        first = welcome["event"]["pitches"][0]["id"]
        state = command(mod, {"type": "open_voting", "pitch_id": first})
    return int(state["event"]["current_pitch_id"])


def _still_works(ws: WebSocketTestSession) -> None:
    """The socket answers a ping (after the rate limit lets it through)."""
    for _ in range(20):
        ws.send_json({"type": "ping"})
        reply = receive_until(ws, lambda m: m["type"] == "pong" or m.get("ref") == "ping")
        if reply["type"] == "pong":
            return
        time.sleep(0.2)
    raise AssertionError("no pong")


DEEP = "[" * 1000 + "]" * 1000
HOSTILE: list[tuple[str, str]] = [
    (json.dumps({"type": [1]}), "bad_message"),
    (json.dumps({"type": {}}), "bad_message"),
    (json.dumps({"type": 7}), "bad_message"),
    (DEEP, "bad_message"),
    ('{"type":"vote","pitch_id":1,"score":4,"seq":1,"x":' + DEEP + "}", "bad_message"),
    ('{"type":' + DEEP + "}", "bad_message"),
    ("[" * 5000, "too_large"),
]
for field in ("score", "seq", "pitch_id"):
    for wrong in ('"4"', "true", "3.0"):
        vote = {"type": "vote", "pitch_id": 1, "score": 4, "seq": 5}
        raw = json.dumps(vote).replace(f'"{field}": {vote[field]}', f'"{field}": {wrong}')
        HOSTILE.append((raw, "bad_message"))


def test_hostile_messages_get_the_documented_error_and_the_socket_stays_usable(
    tolerant_client: TestClient, db: Database, event: Event, caplog: pytest.LogCaptureFixture
) -> None:
    client = tolerant_client
    pitch_id = _open_first_pitch(client, event)
    token = join(client, event.code, "Mallory")
    caplog.set_level(logging.DEBUG)
    with client.websocket_connect(f"/e/{event.code}/ws", headers={**ORIGIN, **EN}) as ws:
        hello_attendee(ws, token)
        for raw, code in HOSTILE:
            ws.send_text(raw)
            error = receive_until(ws, of_type("error"))
            assert (error["code"], raw[:60]) == (code, raw[:60])
            assert error["message"]
            _still_works(ws)
        # After all that the phone still votes.
        ws.send_json({"type": "vote", "pitch_id": pitch_id, "score": 4, "seq": 1})
        ack = receive_until(ws, of_type("vote_ack"))
    assert (ack["score"], ack["seq"]) == (4, 1)
    assert db.read(queries.score_counts, pitch_id) == {4: 1}
    loud = [r for r in caplog.records if r.levelno > logging.WARNING]
    assert loud == []


@pytest.fixture
def tolerant_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """An app that allows many refusals (the hostile list is longer than 10 strikes)."""
    app = create_app(dataclasses.replace(settings, strikes_before_close=100), database=db)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def test_a_refused_vote_names_its_pitch_with_code_and_params(
    client: TestClient, event: Event
) -> None:
    token = join(client, event.code, "Ann")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        hello_attendee(ws, token)
        ws.send_json({"type": "vote", "pitch_id": 1, "score": 9, "seq": 1})
        closed = receive_until(ws, of_type("error"))
        ws.send_json({"type": "hello", "token": token})
        twice = receive_until(ws, of_type("error"))
    # Voting is not open on pitch 1 yet: the refusal names the pitch.
    assert (closed["code"], closed["pitch_id"], closed["ref"]) == ("voting_closed", 1, "vote")
    assert closed["message"] == "Voting on this pitch is not open."
    assert (twice["code"], twice["params"], twice["pitch_id"]) == ("already_joined", {}, None)


@pytest.fixture
def quick_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    app = create_app(
        dataclasses.replace(settings, hello_timeout=0.5, sockets_per_attendee=2), database=db
    )
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def test_a_socket_that_never_says_hello_is_closed(quick_client: TestClient, event: Event) -> None:
    with quick_client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        ws.send_json({"type": "ping"})  # talking is not enough: it must say who it is
        assert ws.receive_json()["type"] == "pong"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4408


def test_sockets_per_attendee_are_capped_and_connected_counts_attendees(
    quick_client: TestClient, event: Event, stage: Stage
) -> None:
    client = quick_client
    ann, ben = join(client, event.code, "Ann"), join(client, event.code, "Ben")
    url = f"/e/{event.code}/ws"
    with (
        client.websocket_connect(url, headers=ORIGIN) as projector,
        client.websocket_connect(url, headers=ORIGIN) as tab1,
        client.websocket_connect(url, headers=ORIGIN) as tab2,
        client.websocket_connect(url, headers=ORIGIN) as ben_phone,
    ):
        hello_screen(projector, "projector", stage.projector_key)
        hello_attendee(tab1, ann)
        hello_attendee(tab2, ann)
        hello_attendee(ben_phone, ben)
        with client.websocket_connect(url, headers={**ORIGIN, **EN}) as tab3:
            tab3.send_json({"type": "hello", "token": ann})
            error = receive_until(tab3, of_type("error"))
            assert error["code"] == "too_many_sockets"
            with pytest.raises(WebSocketDisconnect) as closed:
                tab3.receive_json()
            assert closed.value.code == 4429
        # Three sockets of two people: the projector says 2.
        screen = receive_until(projector, lambda m: m["type"] == "screen" and m["connected"] == 2)
        assert screen["connected"] == 2


def _ws(client: TestClient, event: Event) -> Any:
    return client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN)


def test_every_tab_hears_the_stored_vote_and_acks_name_the_stored_seq(
    client: TestClient, event: Event
) -> None:
    pitch_id = _open_first_pitch(client, event)
    token = join(client, event.code, "Ann")
    with _ws(client, event) as tab1, _ws(client, event) as tab2:
        hello_attendee(tab1, token)
        hello_attendee(tab2, token)
        tab1.send_json({"type": "vote", "pitch_id": pitch_id, "score": 4, "seq": 20})
        assert receive_until(tab1, of_type("vote_ack"))["seq"] == 20
        assert receive_until(tab2, of_type("vote_ack"))["score"] == 4
        tab2.send_json({"type": "vote", "pitch_id": pitch_id, "score": 2, "seq": 21})
        changed = receive_until(tab1, of_type("vote_ack", seq=21))
        assert changed["score"] == 2
        # A late resend of the older rating is answered with the stored (newer) one.
        tab1.send_json({"type": "vote", "pitch_id": pitch_id, "score": 4, "seq": 20})
        tab1.send_json({"type": "ping"})
        late = [m for m in _until_pong(tab1) if m["type"] == "vote_ack"]
        assert late and (late[-1]["score"], late[-1]["seq"]) == (2, 21)


def _until_pong(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    seen = []
    while (message := ws.receive_json())["type"] != "pong":
        seen.append(message)
    return seen


def test_a_quick_series_of_changes_is_slowed_not_closed(client: TestClient, event: Event) -> None:
    pitch_id = _open_first_pitch(client, event)
    token = join(client, event.code, "Quick")
    with _ws(client, event) as phone:
        hello_attendee(phone, token)
        for seq in range(1, 56):
            phone.send_json(
                {"type": "vote", "pitch_id": pitch_id, "score": 1 + seq % 5, "seq": seq}
            )
        seen: list[dict[str, Any]] = []
        for _ in range(50):  # raises WebSocketDisconnect if the socket was closed
            time.sleep(0.2)  # the bucket refills
            phone.send_json({"type": "ping"})
            while (m := phone.receive_json())["type"] != "pong" and m.get("ref") != "ping":
                seen.append(m)
            if m["type"] == "pong":
                break
        limited = [m for m in seen if m["type"] == "error"]
        assert limited, "the burst allowance is 30: some must have been rate-limited"
        assert {(m["code"], m["ref"], m["pitch_id"]) for m in limited} == {
            ("rate_limited", "vote", pitch_id)
        }
        _still_works(phone)  # not closed (1008) although > 10 messages were refused


def test_a_reset_tells_every_phone_to_rate_again(
    client: TestClient, event: Event, stage: Stage
) -> None:
    pitch_id = _open_first_pitch(client, event)
    token = join(client, event.code, "Ann")
    with _ws(client, event) as phone, _ws(client, event) as mod:
        hello_attendee(phone, token)
        hello_screen(mod, "moderator", stage.moderator_key)
        phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": 5, "seq": 3})
        receive_until(phone, of_type("vote_ack"))
        command(mod, {"type": "reset_votes", "pitch_id": pitch_id, "confirm": True})
        assert receive_until(phone, of_type("vote_reset")) == {
            "type": "vote_reset",
            "pitch_id": pitch_id,
        }


def test_renewing_a_screen_link_closes_the_screens_that_used_the_old_one(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    with _ws(client, event) as old_mod, _ws(client, event) as projector:
        hello_screen(old_mod, "moderator", stage.moderator_key)
        hello_screen(projector, "projector", stage.projector_key)
        page = client.get(root)
        client.post(f"{root}/rotate/moderator", data={"csrf": csrf_of(page.text)}, headers=ORIGIN)
        error = receive_until(old_mod, of_type("error"))
        assert error["code"] == "link_replaced"
        assert "replaced" in error["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            receive_until(old_mod, lambda m: False)
        assert closed.value.code == 4403
        # The projector's link was not renewed: it stays.
        _still_works(projector)
    new_key = first_stage(db, event).moderator_key
    with _ws(client, event) as new_mod:
        assert hello_screen(new_mod, "moderator", new_key)["role"] == "moderator"


# A database that refuses every new vote until the trigger is dropped.
FAULT = {
    "sqlite": [
        "CREATE TRIGGER refuse_votes BEFORE INSERT ON vote "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_votes() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk says no'; END $$",
        "CREATE TRIGGER refuse_votes BEFORE INSERT ON vote "
        "FOR EACH ROW EXECUTE FUNCTION refuse_votes()",
    ],
}
HEAL = {"sqlite": "DROP TRIGGER refuse_votes", "postgresql": "DROP TRIGGER refuse_votes ON vote"}


def test_a_vote_writer_that_fails_once_loses_no_vote(
    client: TestClient, db: Database, event: Event, stage: Stage, caplog: pytest.LogCaptureFixture
) -> None:
    """A real fault: the database refuses the batch (a trigger), the writer crashes and is
    restarted; the phone hears not_saved, resends as the phone does, and is saved once."""
    pitch_id = _open_first_pitch(client, event)
    tokens = [join(client, event.code, f"P{i}") for i in range(3)]
    with db.session() as session:
        for statement in FAULT[db.engine.dialect.name]:
            session.execute(text(statement))
        session.commit()
    with _ws(client, event) as mod, _ws(client, event) as a, _ws(client, event) as b:
        hello_screen(mod, "moderator", stage.moderator_key)
        hello_attendee(a, tokens[0])
        hello_attendee(b, tokens[1])
        a.send_json({"type": "vote", "pitch_id": pitch_id, "score": 5, "seq": 7})
        refused = receive_until(a, of_type("error"))
        assert (refused["code"], refused["pitch_id"]) == ("not_saved", pitch_id)
        with db.session() as session:
            session.execute(text(HEAL[db.engine.dialect.name]))
            session.commit()
        # The phone resends its pending vote (same seq), another phone votes meanwhile.
        a.send_json({"type": "vote", "pitch_id": pitch_id, "score": 5, "seq": 7})
        b.send_json({"type": "vote", "pitch_id": pitch_id, "score": 3, "seq": 1})
        assert receive_until(a, of_type("vote_ack"))["seq"] == 7
        assert receive_until(b, of_type("vote_ack"))["seq"] == 1
        a.send_json({"type": "vote", "pitch_id": pitch_id, "score": 5, "seq": 7})  # again
        receive_until(a, of_type("vote_ack"))
        screen = receive_until(
            mod, lambda m: m["type"] == "screen" and m["votes"][str(pitch_id)] == 2
        )
    assert db.read(queries.score_counts, pitch_id) == {5: 1, 3: 1}
    assert screen["current"]["summary"]["distribution"] == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}
    assert any("vote-writer crashed" in r.getMessage() for r in caplog.records)


@pytest.mark.redis
def test_reset_and_link_renewal_reach_sockets_on_another_process(
    redis_server: Any, db: Database, event: Event, stage: Stage
) -> None:
    """Two apps (two hubs) share Redis: a vote, a reset and a renewed link made on one
    reach the sockets of the other."""
    settings = Settings(
        database_url="unused", redis_url=redis_server.url, namespace=f"x-{event.code}"
    )
    with (
        TestClient(create_app(settings, database=db), base_url="http://testserver") as one,
        TestClient(create_app(settings, database=db), base_url="http://testserver") as two,
    ):
        pitch_id = _open_first_pitch(one, event)
        token = join(one, event.code, "Ann")
        with (
            _ws(one, event) as phone,
            _ws(two, event) as other_tab,
            _ws(one, event) as old_mod,
            _ws(two, event) as mod,
        ):
            hello_attendee(phone, token)
            hello_attendee(other_tab, token)
            hello_screen(old_mod, "moderator", stage.moderator_key)
            hello_screen(mod, "moderator", stage.moderator_key)
            phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": 5, "seq": 3})
            receive_until(phone, of_type("vote_ack"))
            # The same phone's tab on the other process hears the stored vote too.
            assert receive_until(other_tab, of_type("vote_ack")) == {
                "type": "vote_ack",
                "pitch_id": pitch_id,
                "score": 5,
                "seq": 3,
            }
            command(mod, {"type": "reset_votes", "pitch_id": pitch_id, "confirm": True})
            assert receive_until(phone, of_type("vote_reset"))["pitch_id"] == pitch_id
            root = f"/e/{event.code}/organizer/{event.organizer_key}"
            page = two.get(root)
            two.post(f"{root}/rotate/moderator", data={"csrf": csrf_of(page.text)}, headers=ORIGIN)
            assert receive_until(old_mod, of_type("error"))["code"] == "link_replaced"
            with pytest.raises(WebSocketDisconnect) as closed:
                receive_until(old_mod, lambda m: False)
            assert closed.value.code == 4403


def test_hello_is_answered_in_one_message_that_carries_the_feed_and_my_questions(
    client: TestClient, db: Database, event: Event
) -> None:
    """One send per connecting phone (a reconnect storm's server spends its time on
    sends): the welcome carries the questions feed and the attendee's own questions in
    ``then``, in the order the phone reads them; a screen's carries its feed."""
    token = join(client, event.code, "Uno")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        ws.send_json({"type": "hello", "token": token})
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome"
        assert [m["type"] for m in welcome["then"]] == ["questions", "my_questions"]
        assert welcome["then"][0]["role"] == "attendee"
        assert welcome["then"][1] == {
            "type": "my_questions",
            "questions": [],
            "upvoted": [],
            "presenting": [],
        }
    key = first_stage(db, event).moderator_key
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        ws.send_json({"type": "hello", "role": "moderator", "key": key})
        welcome = ws.receive_json()
        assert [(m["type"], m["role"]) for m in welcome["then"]] == [("questions", "moderator")]
