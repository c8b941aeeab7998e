"""Exports and the report of a conference with two stages (issue 15): every export that
names pitches carries the stage, ranks are per stage as each projector shows them, and
the report has a section per stage (HTML and PDF)."""

from __future__ import annotations

import csv
import io
import json
import re

import pypdfium2 as pdfium
from sqlalchemy import update
from sqlmodel import col
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event, Pitch
from eventapp.enums import PitchState
from eventapp.networking.models import PartnerInterest
from eventapp.questions.models import Question
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, StageSpec, create_event
from tests.support.seeding import seed_votes, stages

EN = {"accept-language": "en"}
# stage -> pitch -> scores; every pitch revealed, so each has its fair rank on its stage.
VOTES = {
    "Saal A": {"Smart Parking": [5, 5, 4], "Open Data": [2, 3]},
    "Saal B": {"Wärmewende": [4, 4, 4, 5], "Sensorik": [1]},
}


def _conference(db: Database) -> tuple[Event, dict[str, int]]:
    event = create_event(
        "Smart-City-Forum",
        [],
        db=db,
        stages=[StageSpec(s, [PitchSpec(t) for t in pitches]) for s, pitches in VOTES.items()],
    )
    assert event.id is not None
    ids = {}
    for stage in stages(db, event):
        for p in db.read(queries.load_state, event.id, stage.id).pitches:
            ids[p.title] = p.id
            seed_votes(db, event.id, p.id, VOTES[stage.name][p.title])
    with db.session() as session:
        session.execute(
            update(Pitch).where(col(Pitch.event_id) == event.id).values(state=PitchState.REVEALED)
        )
        session.commit()
    return event, ids


def _export(client: TestClient, event: Event, slug: str, fmt: str = "csv") -> bytes:
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    response = client.get(f"{root}/export/{slug}.{fmt}", headers=EN)
    assert response.status_code == 200, response.text
    return response.content


def test_exports_carry_both_stages(client: TestClient, db: Database) -> None:
    event, ids = _conference(db)
    assert event.id is not None
    rows = list(csv.DictReader(io.StringIO(_export(client, event, "votes").decode("utf-8-sig"))))
    # Stage by stage, each ranked on its own (the 1-vote "Sensorik" is last on Saal B).
    assert [(r["stage"], r["pitch"], r["n"], r["mean"], r["rank"]) for r in rows] == [
        ("Saal A", "Smart Parking", "3", "4.67", "1"),
        ("Saal A", "Open Data", "2", "2.5", "2"),
        ("Saal B", "Wärmewende", "4", "4.25", "1"),
        ("Saal B", "Sensorik", "1", "1.0", "2"),
    ]
    raw = json.loads(_export(client, event, "raw-votes", "json"))["rows"]
    by_stage: dict[str, list[int]] = {}
    for r in raw:
        by_stage.setdefault(r["stage"], []).append(r["score"])
    assert {k: sorted(v) for k, v in by_stage.items()} == {
        "Saal A": [2, 3, 4, 5, 5],
        "Saal B": [1, 4, 4, 4, 5],
    }
    assert {(r["pitch"], r["position"]) for r in raw if r["stage"] == "Saal B"} == {
        ("Wärmewende", 1),
        ("Sensorik", 2),
    }

    # Partner interest and a question on Saal B's second pitch name that stage.
    voter = seed_votes(db, event.id, ids["Open Data"], [4])[0]
    with db.session() as session:
        session.add(
            PartnerInterest(
                event_id=event.id, pitch_id=ids["Sensorik"], attendee_id=voter, role="funder"
            )
        )
        session.add(
            Question(
                event_id=event.id, pitch_id=ids["Sensorik"], attendee_id=voter, text="Wie teuer?"
            )
        )
        session.commit()
    interests = json.loads(_export(client, event, "partner-interests", "json"))["rows"]
    assert [(r["stage"], r["position"], r["pitch"], r["role"]) for r in interests] == [
        ("Saal B", 2, "Sensorik", "Funder")
    ]
    questions = json.loads(_export(client, event, "questions", "json"))["rows"]
    assert [(r["stage"], r["pitch_position"], r["pitch"], r["question"]) for r in questions] == [
        ("Saal B", 2, "Sensorik", "Wie teuer?")
    ]


def test_report_has_a_section_per_stage(client: TestClient, db: Database) -> None:
    event, ids = _conference(db)
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    page = client.get(f"{root}/report", headers=EN).text
    cells = (
        r"<tr><td>(\d+)</td><th scope=\"row\">(.*?)</th><td class=\"num\">(\d+)</td>"
        r"<td class=\"num\">([\d.]+)</td>"
    )
    tables = {}
    for stage in stages(db, event):
        table = re.search(
            rf'<h3 id="r-stage-{stage.id}">{stage.name}</h3>\s*'
            rf'<table class="leader" id="leaderboard-{stage.id}">(.*?)</table>',
            page,
            re.S,
        )
        assert table, stage.name
        tables[stage.name] = [
            (int(r), t, int(n), float(m)) for r, t, n, m in re.findall(cells, table.group(1))
        ]
    assert tables == {
        "Saal A": [(1, "Smart Parking", 3, 4.67), (2, "Open Data", 2, 2.5)],
        "Saal B": [(1, "Wärmewende", 4, 4.25), (2, "Sensorik", 1, 1.0)],
    }
    # Every pitch of both stages has its chart, and each chart answers.
    charts = re.findall(r'<img src="([^"]+/pitch-(\d+)\.svg)"', page)
    assert sorted(int(pid) for _, pid in charts) == sorted(ids.values())
    assert all("<svg" in client.get(url).text for url, _ in charts)

    pdf = client.get(f"{root}/report.pdf", headers=EN)
    document = pdfium.PdfDocument(pdf.content)
    text = "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    a, b = text.index("Saal A"), text.index("Saal B")
    assert a < text.index("Smart Parking") < b < text.index("Wärmewende")
    assert text.index("Open Data") < b < text.index("Sensorik")
