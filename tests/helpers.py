"""Small helpers the in-process tests share: joining through a TestClient, talking the
live protocol over its sockets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient, WebSocketTestSession

from eventapp.core.models import Event

# The in-process (TestClient) twin of tests.support.joining.join_http, on the same parser.
from tests.support.joining import csrf_of as csrf_of
from tests.support.phones import unbundle

ORIGIN = {"origin": "http://testserver"}


def join(client: TestClient, code: str, name: str, organization: str = "") -> str:
    """Join through the real form as a new phone; returns the attendee's device token."""
    client.cookies.clear()  # a new phone has no cookies
    page = client.get(f"/e/{code}")
    response = client.post(
        f"/e/{code}/join",
        data={"name": name, "organization": organization, "csrf": csrf_of(page.text)},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    token = response.cookies.get(f"ea_{code}")
    assert token
    return token


def receive(ws: WebSocketTestSession) -> dict[str, Any]:
    """The next message as live.js reads it: a welcome, then each message it carries in
    ``then`` (the questions feed, my questions), then what came after on the socket."""
    ahead: list[dict[str, Any]] = ws.__dict__.setdefault("_ea_ahead", [])
    if ahead:
        return ahead.pop(0)
    message, *then = unbundle(ws.receive_json())
    ahead.extend(then)
    return message


def receive_until(
    ws: WebSocketTestSession, predicate: Callable[[dict[str, Any]], bool], limit: int = 200
) -> dict[str, Any]:
    for _ in range(limit):
        message = receive(ws)
        if predicate(message):
            return message
    raise AssertionError("expected message never arrived")


def of_type(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    def match(message: dict[str, Any]) -> bool:
        return message.get("type") == kind and all(message.get(k) == v for k, v in fields.items())

    return match


def live_socket(client: TestClient, event: Event) -> WebSocketTestSession:
    """The event's live socket, opened as a same-origin page would."""
    return client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN)


def hello_attendee(ws: WebSocketTestSession, token: str) -> dict[str, Any]:
    ws.send_json({"type": "hello", "token": token})
    return receive_until(ws, of_type("welcome"))


def hello_screen(ws: WebSocketTestSession, role: str, key: str) -> dict[str, Any]:
    ws.send_json({"type": "hello", "role": role, "key": key})
    return receive_until(ws, of_type("welcome"))


def command(ws: WebSocketTestSession, message: dict[str, Any]) -> dict[str, Any]:
    """Send a moderator command; return the state it produced."""
    ws.send_json(message)
    state: dict[str, Any] | None = None
    acked = False
    for _ in range(200):
        reply = receive(ws)
        assert reply["type"] != "error", reply
        if reply["type"] == "state":
            state = reply
        acked = acked or reply["type"] == "command_ack"
        if acked and state is not None:
            return state
    raise AssertionError("command not acknowledged")
