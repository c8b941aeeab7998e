"""Bad input on sockets and forms: a clear error, nothing stored, nothing else disturbed."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
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


def _error(ws: object) -> dict[str, object]:
    return receive_until(ws, of_type("error"))  # type: ignore[arg-type]


@pytest.fixture
def open_pitch(client: TestClient, event: Event) -> int:
    """Put the first pitch on stage with voting open; returns its id."""
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", event.organizer_key)
        state = command(mod, {"type": "open_voting", "pitch_id": 1})
    return int(state["event"]["current_pitch_id"])


def _votes(db: Database, pitch_id: int) -> dict[int, int]:
    return db.read(queries.score_counts, pitch_id)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_message"),
        (json.dumps({"type": "launch_rockets"}), "unknown_type"),
        (json.dumps({"no": "type"}), "unknown_type"),
        (
            json.dumps({"type": "vote", "pitch_id": 1, "score": 4, "seq": 1, "x": "y" * 5000}),
            "too_large",
        ),
        (json.dumps({"type": "vote", "pitch_id": "one", "score": 4, "seq": 1}), "bad_message"),
        (json.dumps({"type": "vote", "pitch_id": 1, "score": 4}), "bad_message"),
        (json.dumps({"type": "vote", "pitch_id": 1, "score": 4, "seq": -1}), "bad_message"),
    ],
)
def test_malformed_messages_get_a_clear_error_and_store_nothing(
    client: TestClient, db: Database, event: Event, open_pitch: int, raw: str, code: str
) -> None:
    token = join(client, event.code, "Mallory")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        hello_attendee(ws, token)
        ws.send_text(raw)
        error = _error(ws)
        assert error["code"] == code
        assert isinstance(error["message"], str) and error["message"]
        # The socket still works for a good message afterwards.
        ws.send_json({"type": "ping"})
        assert receive_until(ws, lambda m: m["type"] in ("pong", "error"))["type"] == "pong"
    assert _votes(db, open_pitch) == {}


def test_vote_before_hello_is_refused(
    client: TestClient, db: Database, event: Event, open_pitch: int
) -> None:
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        ws.send_json({"type": "vote", "pitch_id": open_pitch, "score": 5, "seq": 1})
        assert _error(ws)["code"] == "not_joined"
    assert _votes(db, open_pitch) == {}


@pytest.mark.parametrize("score", [0, 6, -3, 100])
def test_score_outside_the_scale_is_refused(
    client: TestClient, db: Database, event: Event, open_pitch: int, score: int
) -> None:
    token = join(client, event.code, "Ann")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        hello_attendee(ws, token)
        ws.send_json({"type": "vote", "pitch_id": open_pitch, "score": score, "seq": 1})
        error = _error(ws)
    assert error["code"] == "out_of_scale"
    # The code and its parameters (the browser says it in its reader's language); the
    # message is English, for logs and tools.
    assert error["params"] == {"min": 1, "max": 5}
    assert error["message"] == "Score must be between 1 and 5."
    assert error["pitch_id"] == open_pitch
    assert _votes(db, open_pitch) == {}


def test_vote_on_a_pitch_that_is_not_open_is_refused(
    client: TestClient, db: Database, event: Event, open_pitch: int
) -> None:
    token = join(client, event.code, "Ann")
    other = open_pitch + 1  # pending, same event
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        hello_attendee(ws, token)
        ws.send_json({"type": "vote", "pitch_id": other, "score": 3, "seq": 1})
        assert _error(ws)["code"] == "voting_closed"
    assert _votes(db, other) == {}


def test_vote_on_a_pitch_of_another_event_is_refused(
    client: TestClient, db: Database, event: Event, open_pitch: int
) -> None:
    foreign = create_event("Other Forum", [PitchSpec("Their pitch")], db=db)
    foreign_pitch = db.read(queries.load_state, foreign.id).pitches[0].id
    token = join(client, event.code, "Ann")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        hello_attendee(ws, token)
        ws.send_json({"type": "vote", "pitch_id": foreign_pitch, "score": 3, "seq": 1})
        assert _error(ws)["code"] == "unknown_pitch"
    assert _votes(db, foreign_pitch) == {}


def test_attendee_of_one_event_cannot_join_the_socket_of_another(
    client: TestClient, db: Database, event: Event
) -> None:
    foreign = create_event("Other Forum", [PitchSpec("Their pitch")], db=db)
    token = join(client, event.code, "Ann")
    with client.websocket_connect(f"/e/{foreign.code}/ws", headers=ORIGIN) as ws:
        ws.send_json({"type": "hello", "token": token})
        assert _error(ws)["code"] == "bad_token"
        ws.send_json({"type": "vote", "pitch_id": 1, "score": 3, "seq": 1})
        assert _error(ws)["code"] == "not_joined"
    # Nor read it: the other event's page shows the join form, not its rating page.
    page = client.get(f"/e/{foreign.code}")
    assert 'id="join-form"' in page.text
    assert "data-token" not in page.text


@pytest.mark.parametrize(
    "message",
    [
        {"type": "open_voting"},
        {"type": "close_voting"},
        {"type": "reveal"},
        {"type": "next"},
        {"type": "goto", "pitch_id": 2},
        {"type": "reset_votes", "pitch_id": 1, "confirm": True},
    ],
)
def test_attendee_can_never_run_moderator_commands(
    client: TestClient, db: Database, event: Event, message: dict[str, object]
) -> None:
    before = db.read(queries.load_state, event.id)
    token = join(client, event.code, "Eve")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        hello_attendee(ws, token)
        ws.send_json(message)
        assert _error(ws)["code"] == "forbidden"
    assert db.read(queries.load_state, event.id) == before


@pytest.mark.parametrize("role", ["moderator", "projector"])
def test_screen_with_a_wrong_key_is_refused(client: TestClient, event: Event, role: str) -> None:
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        ws.send_json({"type": "hello", "role": role, "key": "x" * 32})
        assert _error(ws)["code"] == "forbidden"
    page = client.get(f"/e/{event.code}/{role}/{'x' * 32}")
    assert page.status_code == 404
    assert "This link is not valid." in page.text or "Dieser Link ist nicht gültig." in page.text


def test_projector_key_does_not_grant_moderation(
    client: TestClient, event: Event, stage: Stage
) -> None:
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        ws.send_json({"type": "hello", "role": "moderator", "key": stage.projector_key})
        assert _error(ws)["code"] == "forbidden"


def test_repeated_abuse_closes_the_socket_with_policy_violation(
    client: TestClient, event: Event
) -> None:
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        for _ in range(50):
            ws.send_text("garbage")
            ws.receive_json()
    assert closed.value.code == 1008


def test_message_flood_is_rate_limited_but_a_normal_phone_is_not(
    client: TestClient, event: Event
) -> None:
    token = join(client, event.code, "Flo")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        hello_attendee(ws, token)
        # A normal phone: a handful of messages in a row are all answered.
        for _ in range(5):
            ws.send_json({"type": "ping"})
            assert receive_until(ws, lambda m: m["type"] in ("pong", "error"))["type"] == "pong"
        # A flood: beyond the burst allowance, messages are refused as rate-limited; past
        # the free allowance of rate-limited messages a minute they strike, and the
        # socket is closed.
        for _ in range(150):
            ws.send_json({"type": "ping"})
        seen = []
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(200):
                seen.append(ws.receive_json())
        assert closed.value.code == 1008
        assert any(m.get("code") == "rate_limited" for m in seen)


def test_socket_from_another_origin_is_refused(client: TestClient, event: Event) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(f"/e/{event.code}/ws", headers={"origin": "https://evil.example"}),
    ):
        pass
    assert refused.value.code == 1008


# ------------------------------------------------------------------ forms


def test_join_without_the_form_token_is_refused_and_creates_nobody(
    client: TestClient, db: Database, event: Event
) -> None:
    client.get(f"/e/{event.code}")
    response = client.post(f"/e/{event.code}/join", data={"name": "Csrf Victim"}, headers=ORIGIN)
    assert response.status_code == 403
    assert "Das Formular ist abgelaufen" in response.text
    assert db.read(queries.attendee_count, event.id) == 0


def test_join_from_another_site_is_refused(client: TestClient, db: Database, event: Event) -> None:
    page = client.get(f"/e/{event.code}")
    response = client.post(
        f"/e/{event.code}/join",
        data={"name": "X", "csrf": csrf_of(page.text)},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert db.read(queries.attendee_count, event.id) == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Name: ist erforderlich"),
        ("   ", "Name: ist erforderlich"),
        ("A" * 61, "Name: ist länger als 60 Zeichen"),
        ("Null\x00Byte", "Name: enthält unsichtbare Steuerzeichen"),
    ],
)
def test_join_with_a_bad_name_explains_what_to_fix(
    client: TestClient, db: Database, event: Event, name: str, message: str
) -> None:
    page = client.get(f"/e/{event.code}", headers={"accept-language": "de"})
    response = client.post(
        f"/e/{event.code}/join",
        data={"name": name, "organization": "", "csrf": csrf_of(page.text)},
        headers={**ORIGIN, "accept-language": "de"},
    )
    assert response.status_code == 400
    assert message in response.text
    assert db.read(queries.attendee_count, event.id) == 0


def test_names_with_html_are_shown_as_text(client: TestClient, event: Event) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    join(client, event.code, evil, organization=evil)
    page = client.get(f"/e/{event.code}")
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text


def test_pages_send_security_headers(client: TestClient, event: Event, stage: Stage) -> None:
    for path in ("/", f"/e/{event.code}", f"/e/{event.code}/projector/{stage.projector_key}"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_language_switch_refuses_to_redirect_to_another_site(client: TestClient) -> None:
    response = client.get("/lang/en?next=//evil.example/x", follow_redirects=False)
    assert response.headers["location"] == "/"
    assert response.cookies.get("ea_lang") == "en"
