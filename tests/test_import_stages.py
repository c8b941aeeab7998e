"""Pitch imports with stage and session columns (issue 15): rows go to the stage they name
and into its sessions; an unknown stage is refused per row with the known stages named,
except in an event that never chose stages, which gets the file's stages."""

from __future__ import annotations

import html
import re

from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.organizing import queries as store
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, StageSpec, create_event
from tests.helpers import ORIGIN, csrf_of
from tests.support.seeding import stages

EN = {"accept-language": "en"}


def _root(event: Event) -> str:
    return f"/e/{event.code}/organizer/{event.organizer_key}"


def _upload(client: TestClient, event: Event, data: str) -> str:
    page = client.get(_root(event), headers=EN)
    response = client.post(
        f"{_root(event)}/import/pitches",
        headers={**ORIGIN, **EN},
        data={"csrf": csrf_of(page.text)},
        files={"file": ("pitches.csv", data.encode())},
    )
    return response.text


def _confirm(client: TestClient, event: Event, preview: str) -> None:
    payload = re.search(r'name="payload" value="([^"]*)"', preview)
    assert payload, "no confirm button in the preview"
    form = {"csrf": csrf_of(preview), "payload": html.unescape(payload.group(1))}
    client.post(f"{_root(event)}/import/pitches", headers={**ORIGIN, **EN}, data=form)


def _errors(text: str) -> list[str]:
    block = re.search(r'<ul class="row-errors" id="row-errors">(.*?)</ul>', text, re.S)
    assert block, "no row errors shown"
    return [html.unescape(x) for x in re.findall(r"<li>(.*?)</li>", block.group(1))]


def _agenda(db: Database, event: Event) -> dict[str, list[tuple[str, str]]]:
    """stage name -> [(pitch title, session title)]."""
    assert event.id is not None
    titles = {s.id: s.title for s in db.read(store.sessions_of_event, event.id)}
    places = db.read(store.pitch_places, event.id)
    return {
        s.name: [
            (p.title, titles.get(places[p.id][1], "") if places[p.id][1] else "")
            for p in db.read(queries.load_state, event.id, s.id).pitches
        ]
        for s in stages(db, event)
    }


def test_rows_go_to_their_stage_and_session_and_unknown_stages_are_refused(
    client: TestClient, db: Database
) -> None:
    event = create_event(
        "Smart-City-Forum",
        [],
        db=db,
        stages=[StageSpec("Saal A", [PitchSpec("Smart Parking")]), StageSpec("Saal B")],
    )
    bad = (
        "Titel;Präsentiert von;Saal;Sitzung\n"
        "Open Data;IHK;saal a;Daten\n"
        "Wärmewende;;Saal C;\n"
        "Sensorik;Tiefbauamt;Saal B;Energie;extra\n"
    )
    errors = _errors(_upload(client, event, bad))
    assert errors[0] == "Row 3: stage names no stage of this event: Saal C (stages: Saal A, Saal B)"
    # The extra-cells refusal still holds with the new columns.
    assert errors[1].startswith("Row 4: has more cells than the first row has columns")
    assert len(errors) == 2
    assert _agenda(db, event) == {"Saal A": [("Smart Parking", "")], "Saal B": []}

    good = (
        "Titel;Präsentiert von;Saal;Sitzung\n"
        "Open Data;IHK;saal a;Daten\n"
        "Wärmewende;;Saal B;Energie\n"
        "Sensorik;Tiefbauamt;Saal B;Energie\n"
        "Bürger-App;;;\n"
    )
    preview = _upload(client, event, good)
    assert "Import 4 rows" in preview
    _confirm(client, event, preview)
    assert _agenda(db, event) == {
        "Saal A": [("Smart Parking", ""), ("Open Data", "Daten"), ("Bürger-App", "")],
        "Saal B": [("Wärmewende", "Energie"), ("Sensorik", "Energie")],
    }
    # The same session title again is the same session; a title repeats nothing stored.
    errors = _errors(_upload(client, event, "title,stage\nopen data,Saal B\n"))
    assert errors == ["Row 2: 'open data' repeats what is already stored"]


def test_an_event_without_stages_gets_the_stages_its_file_names(
    client: TestClient, db: Database
) -> None:
    event = create_event("Projektbörse", [], db=db)
    assert [s.name for s in stages(db, event)] == [""]
    before = stages(db, event)[0]
    preview = _upload(
        client, event, "title,presenter,stage\nSmart Parking,,Saal A\nWärmewende,,Saal B\n"
    )
    _confirm(client, event, preview)
    assert _agenda(db, event) == {
        "Saal A": [("Smart Parking", "")],
        "Saal B": [("Wärmewende", "")],
    }
    # The unnamed stage (no pitches yet) became "Saal A": its links stay the same.
    assert stages(db, event)[0].projector_key == before.projector_key
