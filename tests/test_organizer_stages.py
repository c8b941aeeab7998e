"""The organiser's stages and sessions (issue 15): create, rename, order and delete stages
(with confirmation when votes would go, refused while a stage is live), sessions per stage,
a pitch's stage and session, links per stage and the dashboard across stages."""

from __future__ import annotations

import html

from sqlmodel import select
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import AgendaSession, Event, Pitch, Stage, Vote
from eventapp.enums import PitchState
from eventapp.organizing import queries as store
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, StageSpec, create_event
from tests.helpers import ORIGIN, csrf_of, hello_screen, of_type, receive_until
from tests.support.seeding import seed_votes, stages

EN = {"accept-language": "en"}


def _root(event: Event) -> str:
    return f"/e/{event.code}/organizer/{event.organizer_key}"


def _post(client: TestClient, event: Event, path: str, data: dict[str, str]) -> str:
    page = client.get(_root(event), headers=EN)
    response = client.post(
        _root(event) + path, data={"csrf": csrf_of(page.text), **data}, headers={**ORIGIN, **EN}
    )
    return html.unescape(response.text)


def _names(db: Database, event: Event) -> list[str]:
    return [s.name for s in stages(db, event)]


def _conference(db: Database) -> Event:
    return create_event(
        "Smart-City-Forum",
        [],
        db=db,
        stages=[
            StageSpec("Saal A", [PitchSpec("Smart Parking"), PitchSpec("Open Data")]),
            StageSpec("Saal B", [PitchSpec("Wärmewende")]),
        ],
    )


def test_stages_are_added_renamed_ordered_and_screens_hear_it(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as projector:
        hello_screen(projector, "projector", stage.projector_key)
        _post(client, event, "/stages", {"name": "Saal B"})
        state = receive_until(projector, of_type("state"))["event"]
        assert [s["name"] for s in state["stages"]] == ["", "Saal B"]
    _post(client, event, f"/stages/{stage.id}", {"action": "rename", "name": "Saal A"})
    _post(client, event, "/stages", {"name": "Foyer"})
    assert _names(db, event) == ["Saal A", "Saal B", "Foyer"]
    foyer = stages(db, event)[2]
    _post(client, event, f"/stages/{foyer.id}", {"action": "up"})
    assert _names(db, event) == ["Saal A", "Foyer", "Saal B"]
    assert [s.position for s in stages(db, event)] == [0, 1, 2]

    # Refusals name the problem and change nothing.
    assert "A stage named saal a exists already." in _post(
        client, event, "/stages", {"name": "saal a"}
    )
    assert "A stage needs a name" in _post(
        client, event, f"/stages/{foyer.id}", {"action": "rename", "name": "  "}
    )
    assert _names(db, event) == ["Saal A", "Foyer", "Saal B"]
    other = create_event("Other", [PitchSpec("X")], db=db)
    theirs = stages(db, other)[0]
    page = _post(client, event, f"/stages/{theirs.id}", {"action": "rename", "name": "Mine"})
    assert "No such stage in this event." in page and _names(db, other) == [""]

    # Every stage's links are on the console; a stage's link is renewed on its own.
    console = client.get(_root(event), headers=EN).text
    for s in stages(db, event):
        assert f"/moderator/{s.moderator_key}" in console
        assert f"/projector/{s.projector_key}" in console
        assert f"/e/{event.code}?stage={s.id}" in console
    saal_b = stages(db, event)[2]
    _post(client, event, "/rotate/projector", {"stage": str(saal_b.id)})
    after = stages(db, event)
    assert after[2].projector_key != saal_b.projector_key
    assert after[0].projector_key == stage.projector_key  # the others keep theirs


def test_deleting_a_stage_needs_confirmation_when_it_has_votes_and_is_refused_while_live(
    client: TestClient, db: Database
) -> None:
    event = _conference(db)
    assert event.id is not None
    saal_a, saal_b = stages(db, event)
    b_pitch = db.read(queries.load_state, event.id, saal_b.id).pitches[0]
    seed_votes(db, event.id, b_pitch.id, [5, 4, 3])
    with db.session() as session:
        session.add(AgendaSession(stage_id=saal_b.id, title="Energie"))
        session.commit()

    # Votes: refused without the tick, named with their number.
    page = _post(client, event, f"/stages/{saal_b.id}", {"action": "delete"})
    assert "This stage's pitches have 3 votes: tick the box" in page
    assert _names(db, event) == ["Saal A", "Saal B"]

    # A pitch on stage there: refused even with the tick.
    with db.session() as session:
        row = session.get(Stage, saal_b.id)
        assert row is not None
        row.current_pitch_id = b_pitch.id
        session.add(row)
        session.commit()
    page = _post(client, event, f"/stages/{saal_b.id}", {"action": "delete", "confirm": "yes"})
    assert "A pitch of this stage is on stage or open for voting" in page
    with db.session() as session:
        row = session.get(Stage, saal_b.id)
        assert row is not None
        row.current_pitch_id = None
        session.add(row)
        pitch = session.get(Pitch, b_pitch.id)
        assert pitch is not None
        pitch.state = PitchState.OPEN
        session.add(pitch)
        session.commit()
    page = _post(client, event, f"/stages/{saal_b.id}", {"action": "delete", "confirm": "yes"})
    assert "A pitch of this stage is on stage or open for voting" in page
    with db.session() as session:
        pitch = session.get(Pitch, b_pitch.id)
        assert pitch is not None
        pitch.state = PitchState.CLOSED
        session.add(pitch)
        session.commit()

    # Confirmed: the stage, its session, pitch and votes go; the other stage stays whole.
    _post(client, event, f"/stages/{saal_b.id}", {"action": "delete", "confirm": "yes"})
    assert _names(db, event) == ["Saal A"]
    with db.session() as session:
        assert session.exec(select(Vote).where(Vote.pitch_id == b_pitch.id)).all() == []
        assert session.get(Pitch, b_pitch.id) is None
        assert session.exec(select(AgendaSession)).all() == []
    assert [p.title for p in db.read(queries.load_state, event.id).pitches] == [
        "Smart Parking",
        "Open Data",
    ]
    # The last stage stays.
    page = _post(client, event, f"/stages/{saal_a.id}", {"action": "delete", "confirm": "yes"})
    assert "A conference keeps at least one stage." in page
    assert _names(db, event) == ["Saal A"]


def test_sessions_and_moving_pitches_between_stages(client: TestClient, db: Database) -> None:
    event = _conference(db)
    assert event.id is not None
    saal_a, saal_b = stages(db, event)
    _post(
        client,
        event,
        f"/stages/{saal_b.id}/sessions",
        {"title": "Energie am Nachmittag", "starts_at": "2026-05-14T14:30"},
    )
    (energie,) = db.read(store.sessions_of_event, event.id)
    # Stored in UTC; typed in the event's zone (Berlin, summer time: UTC+2).
    assert energie.title == "Energie am Nachmittag"
    assert energie.starts_at is not None and energie.starts_at.hour == 12
    console = client.get(_root(event), headers=EN).text
    assert 'value="2026-05-14T14:30"' in console

    assert "The start time must look like 2026-05-14T10:30" in _post(
        client, event, f"/stages/{saal_b.id}/sessions", {"title": "X", "starts_at": "morgen"}
    )
    assert "This stage has a session titled energie am nachmittag already." in _post(
        client, event, f"/stages/{saal_b.id}/sessions", {"title": "energie am nachmittag"}
    )

    # Move "Open Data" from Saal A into Saal B's session: appended there, A renumbered.
    a_pitches = db.read(queries.load_state, event.id, saal_a.id).pitches
    open_data = a_pitches[1]
    _post(
        client,
        event,
        f"/pitches/{open_data.id}",
        {"action": "place", "place": f"{saal_b.id}:{energie.id}"},
    )
    b_state = db.read(queries.load_state, event.id, saal_b.id)
    assert [p.title for p in b_state.pitches] == ["Wärmewende", "Open Data"]
    assert [p.position for p in b_state.pitches] == [0, 1]
    assert db.read(store.pitch_places, event.id)[open_data.id] == (saal_b.id, energie.id)
    # A new pitch straight into a stage.
    _post(client, event, "/pitches", {"title": "Sensorik", "place": str(saal_a.id)})
    assert [p.title for p in db.read(queries.load_state, event.id, saal_a.id).pitches] == [
        "Smart Parking",
        "Sensorik",
    ]
    # A session of another stage, or a pitch open for voting, cannot be the target.
    smart = a_pitches[0]
    page = _post(
        client,
        event,
        f"/pitches/{smart.id}",
        {"action": "place", "place": f"{saal_a.id}:{energie.id}"},
    )
    assert "No such stage or session in this event." in page
    with db.session() as session:
        pitch = session.get(Pitch, smart.id)
        assert pitch is not None
        pitch.state = PitchState.OPEN
        session.add(pitch)
        session.commit()
    page = _post(
        client, event, f"/pitches/{smart.id}", {"action": "place", "place": str(saal_b.id)}
    )
    assert "This pitch is on stage or open for voting" in page
    assert db.read(store.pitch_places, event.id)[smart.id] == (saal_a.id, None)

    # Deleting a session keeps its pitches on the stage.
    _post(client, event, f"/sessions/{energie.id}", {"action": "delete"})
    assert db.read(store.sessions_of_event, event.id) == []
    assert db.read(store.pitch_places, event.id)[open_data.id] == (saal_b.id, None)


def test_dashboard_shows_every_stage(client: TestClient, db: Database) -> None:
    event = _conference(db)
    assert event.id is not None
    _, saal_b = stages(db, event)
    wende = db.read(queries.load_state, event.id, saal_b.id).pitches[0]
    seed_votes(db, event.id, wende.id, [5, 4])
    with db.session() as session:
        row = session.get(Stage, saal_b.id)
        pitch = session.get(Pitch, wende.id)
        assert row is not None and pitch is not None
        row.current_pitch_id, pitch.state = wende.id, PitchState.OPEN
        session.add(row)
        session.add(pitch)
        session.commit()
    data = client.get(f"{_root(event)}/dashboard.json", headers=EN).json()
    assert data["attendees"] == 2
    assert [
        (s["name"], s["current_title"], s["state"], s["state_label"], s["votes"], s["turnout"])
        for s in data["stages"]
    ] == [
        ("Saal A", "", "", "", 0, 0),
        ("Saal B", "Wärmewende", "open", "open", 2, 100),
    ]
    assert [(p["stage"], p["title"], p["votes"]) for p in data["pitches"]] == [
        ("Saal A", "Smart Parking", 0),
        ("Saal A", "Open Data", 0),
        ("Saal B", "Wärmewende", 2),
    ]
    console = client.get(_root(event), headers=EN).text
    assert 'id="dash-stages"' in console and 'id="pitches-stage-' in console


def test_deleting_the_event_deletes_its_stages_and_sessions(
    client: TestClient, db: Database
) -> None:
    event = _conference(db)
    assert event.id is not None
    saal_b = stages(db, event)[1]
    _post(client, event, f"/stages/{saal_b.id}/sessions", {"title": "Energie"})
    assert len(db.read(store.sessions_of_event, event.id)) == 1
    page = _post(client, event, "/purge", {"confirm_code": event.code})
    assert event.code in page
    with db.session() as session:
        assert session.exec(select(Stage).where(Stage.event_id == event.id)).all() == []
        assert session.exec(select(AgendaSession)).all() == []
        assert session.get(Event, event.id) is None
