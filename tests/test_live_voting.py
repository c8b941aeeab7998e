"""The voting loop through the real app: join, open, vote, change, screens follow."""

from __future__ import annotations

from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.voting import queries
from tests.helpers import (
    ORIGIN,
    command,
    hello_attendee,
    hello_screen,
    join,
    of_type,
    receive_until,
)


def test_vote_is_acknowledged_stored_and_counted_once(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    token = join(client, event.code, "Anna Becker", "Stadtwerke")
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone,
    ):
        hello_screen(mod, "moderator", stage.moderator_key)
        welcome = hello_attendee(phone, token)
        assert welcome["role"] == "attendee"
        assert welcome["my_votes"] == {}
        pitch_id = welcome["event"]["pitches"][0]["id"]

        state = command(mod, {"type": "open_voting", "pitch_id": pitch_id})
        assert state["event"]["current_pitch_id"] == pitch_id
        assert state["event"]["pitches"][0]["state"] == "open"
        receive_until(
            phone, lambda m: m["type"] == "state" and m["event"]["pitches"][0]["state"] == "open"
        )

        phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": 4, "seq": 10})
        assert receive_until(phone, of_type("vote_ack")) == {
            "type": "vote_ack",
            "pitch_id": pitch_id,
            "score": 4,
            "seq": 10,
        }
        # A change updates the row; a resend of the old rating changes nothing.
        phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": 2, "seq": 11})
        receive_until(phone, of_type("vote_ack", seq=11))
        phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": 4, "seq": 10})
        # The ack names the vote that is stored -- the newer one -- not the resent one.
        phone.send_json({"type": "ping"})
        acks = []
        while (m := phone.receive_json())["type"] != "pong":
            if m["type"] == "vote_ack":
                acks.append(m)
        if not acks:
            acks.append(receive_until(phone, of_type("vote_ack")))
        assert acks[-1] == {"type": "vote_ack", "pitch_id": pitch_id, "score": 2, "seq": 11}

        assert db.read(queries.score_counts, pitch_id) == {2: 1}
        screen = receive_until(
            mod,
            lambda m: (
                m["type"] == "screen"
                and m["current"]
                and m["current"]["summary"]
                and m["current"]["summary"]["n"] == 1
                and m["current"]["summary"]["distribution"]["2"] == 1
            ),
        )
        assert screen["current"]["summary"]["mean"] == 2.0
        assert screen["votes"][str(pitch_id)] == 1


def test_reconnected_phone_gets_its_votes_back(
    client: TestClient, event: Event, stage: Stage
) -> None:
    token = join(client, event.code, "Ben")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", stage.moderator_key)
        state = command(mod, {"type": "next"})
        pitch_id = state["event"]["current_pitch_id"]
        command(mod, {"type": "open_voting"})
        with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone:
            hello_attendee(phone, token)
            phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": 5, "seq": 7})
            receive_until(phone, of_type("vote_ack"))
        with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone:
            welcome = hello_attendee(phone, token)
            assert welcome["my_votes"] == {str(pitch_id): {"score": 5, "seq": 7}}
            assert welcome["event"]["pitches"][0]["state"] == "open"


def test_joining_records_the_privacy_notice_version_accepted(
    client: TestClient, db: Database, event: Event
) -> None:
    from eventapp.core.privacy import PRIVACY_NOTICE_VERSION
    from eventapp.core.queries import consents_of_event

    page = client.get(f"/e/{event.code}", headers={"accept-language": "en"})
    assert f'href="/e/{event.code}/privacy"' in page.text
    token = join(client, event.code, "Clara")
    attendee = db.read(queries.attendee_by_token, event.id, token)
    records = db.read(consents_of_event, event.id)
    assert [(r.attendee_id, r.kind, r.text_version) for r in records] == [
        (attendee.id, "privacy", PRIVACY_NOTICE_VERSION)
    ]
