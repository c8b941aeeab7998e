"""The moderator's flow and what the projector may show (blind until reveal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient, WebSocketTestSession

from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
from tests.helpers import (
    ORIGIN,
    command,
    hello_attendee,
    hello_screen,
    join,
    of_type,
    receive_until,
)
from tests.support.seeding import first_stage


def _vote(client: TestClient, event: Event, name: str, pitch_id: int, score: int) -> None:
    token = join(client, event.code, name)
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone:
        hello_attendee(phone, token)
        phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": 1})
        receive_until(phone, of_type("vote_ack"))


def _screen_with(
    ws: WebSocketTestSession, predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    # Screens sent before the first pitch is on stage have no "current": skip them (the
    # hub's ticker may send one between hello and the moderator's first command).
    return receive_until(
        ws, lambda m: m["type"] == "screen" and m["current"] is not None and predicate(m)
    )


def test_projector_is_blind_until_reveal_but_shows_turnout(
    client: TestClient, event: Event, stage: Stage
) -> None:
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as projector,
    ):
        hello_screen(mod, "moderator", stage.moderator_key)
        hello_screen(projector, "projector", stage.projector_key)
        pitch_id = command(mod, {"type": "next"})["event"]["current_pitch_id"]
        command(mod, {"type": "open_voting"})
        _vote(client, event, "A", pitch_id, 5)
        _vote(client, event, "B", pitch_id, 3)

        blind = _screen_with(projector, lambda m: m["current"]["votes_in"] == 2)
        assert blind["current"]["summary"] is None
        assert blind["current"]["results_shown"] is False
        assert blind["leaderboard"] == []
        assert blind["votes"] is None  # per-pitch counts are for the moderator only

        command(mod, {"type": "reveal"})
        shown = _screen_with(projector, lambda m: m["current"]["results_shown"])
        assert shown["current"]["summary"] == {
            "n": 2,
            "mean": 4.0,
            "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1},
        }
        assert [(r["title"], r["n"], r["mean"]) for r in shown["leaderboard"]] == [
            ("Smart Parking", 2, 4.0)
        ]


def test_live_results_event_shows_tallies_while_voting(client: TestClient, db: Database) -> None:
    event = create_event("Live", [PitchSpec("Open Data")], db=db, live_results=True)
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as projector,
    ):
        hello_screen(mod, "moderator", first_stage(db, event).moderator_key)
        hello_screen(projector, "projector", first_stage(db, event).projector_key)
        pitch_id = command(mod, {"type": "open_voting", "pitch_id": 1})["event"]["current_pitch_id"]
        _vote(client, event, "A", pitch_id, 4)
        live = _screen_with(projector, lambda m: m["current"]["votes_in"] == 1)
        assert live["current"]["summary"]["distribution"]["4"] == 1


def test_opening_another_pitch_closes_the_open_one(
    client: TestClient, event: Event, stage: Stage
) -> None:
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", stage.moderator_key)
        first = command(mod, {"type": "open_voting", "pitch_id": 1})
        ids = [p["id"] for p in first["event"]["pitches"]]
        second = command(mod, {"type": "open_voting", "pitch_id": ids[1]})
        states = {p["id"]: p["state"] for p in second["event"]["pitches"]}
        assert states == {ids[0]: "closed", ids[1]: "open", ids[2]: "pending"}
        assert second["event"]["current_pitch_id"] == ids[1]


def test_next_walks_the_agenda_and_stops_at_the_last_pitch(
    client: TestClient, event: Event, stage: Stage
) -> None:
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        welcome = hello_screen(mod, "moderator", stage.moderator_key)
        ids = [p["id"] for p in welcome["event"]["pitches"]]
        seen = [command(mod, {"type": "next"})["event"]["current_pitch_id"] for _ in ids]
        assert seen == ids
        mod.send_json({"type": "next"})
        error = receive_until(mod, of_type("error"))
        assert error["code"] == "last_pitch"


def test_reset_needs_confirmation_then_deletes_the_votes(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", stage.moderator_key)
        pitch_id = command(mod, {"type": "open_voting", "pitch_id": 1})["event"]["current_pitch_id"]
        _vote(client, event, "A", pitch_id, 2)
        mod.send_json({"type": "reset_votes", "pitch_id": pitch_id, "confirm": False})
        assert receive_until(mod, of_type("error"))["code"] == "not_confirmed"
        assert db.read(queries.score_counts, pitch_id) == {2: 1}

        state = command(mod, {"type": "reset_votes", "pitch_id": pitch_id, "confirm": True})
        assert state["event"]["pitches"][0]["state"] == "pending"
        assert db.read(queries.score_counts, pitch_id) == {}
        cleared = _screen_with(mod, lambda m: m["votes"][str(pitch_id)] == 0)
        assert cleared["current"]["votes_in"] == 0
