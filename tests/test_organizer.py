"""The organiser console: settings, pitch list, links, dashboard; changes reach open screens."""

from __future__ import annotations

import html
import json

from starlette.testclient import TestClient

from eventapp.core import queries as shared
from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.organizing import queries as store
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
SETTINGS = {
    "name": "Projektbörse 2026",
    "date": "2026-05-14",
    "languages": "de,en",
    "language": "de",
    "scale_min": "1",
    "scale_max": "5",
    "scale_labels": "",
    "results": "live",
    "topics": "Mobilität\nEnergie",
    "org_type_matrix": "Start-up: Forschung, Verwaltung",
    "networking": "on",
    "retention_days": "30",
}


def _root(event: Event) -> str:
    return f"/e/{event.code}/organizer/{event.organizer_key}"


def _post(client: TestClient, event: Event, path: str, data: dict[str, str]) -> str:
    page = client.get(_root(event), headers=EN)
    response = client.post(
        _root(event) + path, data={"csrf": csrf_of(page.text), **data}, headers={**ORIGIN, **EN}
    )
    return html.unescape(response.text)


def test_settings_are_saved_and_screens_get_the_new_state(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as projector:
        hello_screen(projector, "projector", stage.projector_key)
        _post(client, event, "/settings", SETTINGS)
        state = receive_until(projector, of_type("state"))["event"]
    assert (state["name"], state["live_results"]) == ("Projektbörse 2026", True)
    stored = db.read(queries.event_by_code, event.code)
    assert (stored.date, stored.retention_days) == ("2026-05-14", 30)
    assert stored.networking_enabled is True
    assert json.loads(stored.topics) == ["Mobilität", "Energie"]
    assert json.loads(stored.org_type_matrix) == {"Start-up": ["Forschung", "Verwaltung"]}
    page = client.get(_root(event), headers=EN).text
    assert "Start-up: Forschung, Verwaltung" in page and 'value="2026-05-14"' in page


def test_bad_settings_are_refused_with_a_message_and_change_nothing(
    client: TestClient, db: Database, event: Event
) -> None:
    cases = {
        "date": ("14.05.2026", "date: must look like 2026-05-14"),
        "scale_max": ("1", "scale: must be two whole numbers 0 ≤ min < max ≤ 10"),
        "scale_labels": ("a\nb", "labels: needs 5 labels, one per score"),
        "org_type_matrix": ("no colon here", "line 1: write 'type: other type, other type'"),
        "scale_min": ("x", "scale: must be two whole numbers"),
        "retention_days": ("0", "retention period: must be between 1 and 3650 days"),
        "languages": ("fr", "languages: must be one or more of de, en, separated by commas"),
        "name": ("  ", "name: is required"),
    }
    for field, (value, message) in cases.items():
        assert message in _post(client, event, "/settings", {**SETTINGS, field: value}), field
    unknown = _post(client, event, "/settings", {**SETTINGS, "org_type_matrix": "KMU: Aliens"})
    assert "line 1: unknown type 'Aliens' (known: SME, Start-up," in unknown
    assert db.read(queries.event_by_code, event.code).name == "Smart City Forum"


def test_scale_cannot_change_once_votes_exist(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    token = join(client, event.code, "Ada")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", stage.moderator_key)
        pitch_id = command(mod, {"type": "open_voting", "pitch_id": 1})["event"]["current_pitch_id"]
        with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone:
            hello_attendee(phone, token)
            phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": 4, "seq": 1})
            receive_until(phone, of_type("vote_ack"))
    text = _post(client, event, "/settings", {**SETTINGS, "scale_min": "0", "scale_max": "10"})
    assert "scale: cannot change after votes were cast" in text
    assert db.read(queries.event_by_code, event.code).scale_max == 5


def test_pitches_are_added_edited_reordered_and_deleted_live(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    join(client, event.code, "Grace", "Stadtwerke")
    grace = db.read(shared.attendees_of_event, event.id)[0]
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", stage.moderator_key)

        def titles() -> list[str]:
            state = receive_until(mod, of_type("state"))["event"]
            return [p["title"] for p in state["pitches"]]

        _post(
            client,
            event,
            "/pitches",
            {"title": "Open Data", "presenter": "IHK", "presenter_attendee_id": str(grace.id)},
        )
        assert titles() == ["Smart Parking", "Heat Transition", "Housing Exchange", "Open Data"]
        ids = [p.id for p in db.read(queries.load_state, event.id).pitches]
        assert db.read(store.presenter_links, event.id) == {ids[3]: grace.id}

        _post(
            client,
            event,
            f"/pitches/{ids[0]}",
            {
                "title": "Smart Parking 2.0",
                "presenter": "Stadtwerke",
                "presenter_attendee_id": f"Grace (Stadtwerke) #{grace.id}",
            },
        )  # picked from the list
        assert titles()[0] == "Smart Parking 2.0"
        assert db.read(store.presenter_links, event.id) == {ids[0]: grace.id, ids[3]: grace.id}
        console = html.unescape(client.get(_root(event)).text)
        assert console.count(f'value="Grace (Stadtwerke) #{grace.id}"') == 3  # 2 pitches + list
        _post(client, event, f"/pitches/{ids[3]}", {"action": "up"})
        assert titles() == ["Smart Parking 2.0", "Heat Transition", "Open Data", "Housing Exchange"]

        refused = _post(client, event, f"/pitches/{ids[1]}", {"action": "delete"})
        assert "tick the box to confirm" in refused
        _post(client, event, f"/pitches/{ids[1]}", {"action": "delete", "confirm": "yes"})
        assert titles() == ["Smart Parking 2.0", "Open Data", "Housing Exchange"]

    assert "presenting attendee: is not an attendee of this event" in _post(
        client, event, "/pitches", {"title": "X", "presenter_attendee_id": "999"}
    )
    assert "pitch title: is required" in _post(client, event, "/pitches", {"title": " "})
    assert "This pitch no longer exists." in _post(
        client, event, f"/pitches/{ids[1]}", {"title": "Gone"}
    )


def test_rotating_a_screen_link_retires_the_old_one(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    old = stage.moderator_key
    _post(client, event, "/rotate/moderator", {})
    new = first_stage(db, event).moderator_key
    assert new != old
    gone = client.get(f"/e/{event.code}/moderator/{old}", headers=EN)
    assert gone.status_code == 404 and "This link is not valid." in gone.text
    assert 'data-role="moderator"' in client.get(f"/e/{event.code}/moderator/{new}").text
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        ws.send_json({"type": "hello", "role": "moderator", "key": old})
        assert receive_until(ws, of_type("error"))["code"] == "forbidden"
    assert "only the moderator and projector links" in _post(client, event, "/rotate/organizer", {})
    console = client.get(_root(event), headers=EN).text
    assert f"/moderator/{new}" in console and f"/moderator/{old}" not in console


def test_dashboard_counts_attendees_and_turnout_per_pitch(
    client: TestClient, event: Event, stage: Stage
) -> None:
    tokens = [join(client, event.code, name) for name in ("A", "B", "C", "D")]
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", stage.moderator_key)
        pitch_id = command(mod, {"type": "open_voting", "pitch_id": 1})["event"]["current_pitch_id"]
        for seq, token in enumerate(tokens[:3], start=1):
            with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone:
                hello_attendee(phone, token)
                phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": 3, "seq": seq})
                receive_until(phone, of_type("vote_ack"))
    data = client.get(f"{_root(event)}/dashboard.json").json()
    assert data["attendees"] == 4
    assert [(p["title"], p["votes"], p["turnout"]) for p in data["pitches"]] == [
        ("Smart Parking", 3, 75),
        ("Heat Transition", 0, 0),
        ("Housing Exchange", 0, 0),
    ]
    assert data["connections"] == 0


def test_console_needs_the_organiser_key(client: TestClient, event: Event, stage: Stage) -> None:
    for key in (stage.moderator_key, stage.projector_key, "nope"):
        page = client.get(f"/e/{event.code}/organizer/{key}", headers=EN)
        assert page.status_code == 404 and "This link is not valid." in page.text
        assert "dashboard" not in page.text
    page = client.get(_root(event), headers=EN)
    assert 'id="dashboard"' in page.text and stage.projector_key in page.text
