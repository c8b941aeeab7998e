"""Exports and the report of a conference with two stages (issue 15): every export that
names pitches carries the stage and the session, ranks are per stage as each projector
shows them, and the report has a section per stage (HTML and PDF) with each stage's
pitches under their sessions' titles."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import pypdfium2 as pdfium
from sqlalchemy import update
from sqlmodel import col
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event, Pitch
from eventapp.enums import PitchState
from eventapp.networking.models import PartnerInterest
from eventapp.organizing import queries as store
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


# ------------------------------------------------------------------ sessions


def _sessions(db: Database, event: Event, ids: dict[str, int]) -> dict[str, int]:
    """Saal A: "Morgen" (09:30 in Berlin on the event's day) holds its second pitch and
    "Mittag" (no start time) its first; Saal B: "Abend" holds its second, "Wärmewende"
    is in no session. Sessions in an order that is not their pitches' agenda order."""
    assert event.id is not None
    saal_a, saal_b = stages(db, event)
    with db.session() as session:
        found = session.get(Event, event.id)
        assert found is not None
        found.date = "2026-05-14"
        session.add(found)
        session.commit()
    event.date = "2026-05-14"
    for stage, title, starts in (
        (saal_a, "Morgen", datetime(2026, 5, 14, 7, 30, tzinfo=UTC)),  # UTC: 09:30 CEST
        (saal_a, "Mittag", None),
        (saal_b, "Abend", None),
    ):
        assert stage.id is not None
        db.call(store.add_session, event.id, stage.id, title, starts)
    sessions = {s.title: int(s.id or 0) for s in db.read(store.sessions_of_event, event.id)}
    for pitch, stage, title in (
        ("Open Data", saal_a, "Morgen"),
        ("Smart Parking", saal_a, "Mittag"),
        ("Sensorik", saal_b, "Abend"),
    ):
        assert stage.id is not None
        db.call(store.place_pitch, event.id, ids[pitch], stage.id, sessions[title])
    return sessions


def test_exports_name_each_pitch_s_session_after_its_stage(
    client: TestClient, db: Database
) -> None:
    event, ids = _conference(db)
    assert event.id is not None
    _sessions(db, event, ids)

    votes = json.loads(_export(client, event, "votes", "json"))
    columns = votes["columns"]
    assert columns[columns.index("stage") + 1] == "session"
    assert [(r["stage"], r["pitch"], r["session"], r["n"]) for r in votes["rows"]] == [
        ("Saal A", "Smart Parking", "Mittag", 3),
        ("Saal A", "Open Data", "Morgen", 2),
        ("Saal B", "Wärmewende", "", 4),
        ("Saal B", "Sensorik", "Abend", 1),
    ]
    # CSV and German Excel: the same column, an empty cell for no session.
    rows = list(csv.DictReader(io.StringIO(_export(client, event, "votes").decode("utf-8-sig"))))
    assert [(r["pitch"], r["session"]) for r in rows] == [
        ("Smart Parking", "Mittag"),
        ("Open Data", "Morgen"),
        ("Wärmewende", ""),
        ("Sensorik", "Abend"),
    ]
    excel = _export(client, event, "votes", "excel").decode("utf-8-sig").splitlines()
    header = excel[0].split(";")
    assert header[header.index("stage") + 1] == "session"
    cells = [line.split(";") for line in excel[1:]]
    assert [c[header.index("session")] for c in cells] == ["Mittag", "Morgen", "", "Abend"]

    raw = json.loads(_export(client, event, "raw-votes", "json"))
    assert raw["columns"][-2:] == ["stage", "session"]
    by_session: dict[tuple[str, str], list[int]] = {}
    for r in raw["rows"]:
        by_session.setdefault((r["pitch"], r["session"]), []).append(r["score"])
    assert {k: sorted(v) for k, v in by_session.items()} == {
        ("Smart Parking", "Mittag"): [4, 5, 5],
        ("Open Data", "Morgen"): [2, 3],
        ("Wärmewende", ""): [4, 4, 4, 5],
        ("Sensorik", "Abend"): [1],
    }

    # Partner interest and questions on a pitch in a session and one in none.
    voter = seed_votes(db, event.id, ids["Open Data"], [4])[0]
    with db.session() as session:
        for pitch in ("Sensorik", "Wärmewende"):
            session.add(
                PartnerInterest(
                    event_id=event.id, pitch_id=ids[pitch], attendee_id=voter, role="funder"
                )
            )
            session.add(
                Question(event_id=event.id, pitch_id=ids[pitch], attendee_id=voter, text=pitch)
            )
        session.commit()
    interests = json.loads(_export(client, event, "partner-interests", "json"))
    assert interests["columns"][-2:] == ["stage", "session"]
    assert sorted((r["stage"], r["pitch"], r["session"]) for r in interests["rows"]) == [
        ("Saal B", "Sensorik", "Abend"),
        ("Saal B", "Wärmewende", ""),
    ]
    questions = json.loads(_export(client, event, "questions", "json"))
    assert questions["columns"][-2:] == ["stage", "session"]
    assert [(r["pitch"], r["session"], r["question"]) for r in questions["rows"]] == [
        ("Wärmewende", "", "Wärmewende"),
        ("Sensorik", "Abend", "Sensorik"),
    ]


_OUTLINE = re.compile(
    r'<h3>(?P<stage>[^<]+)</h3>|<h4 class="session-heading" id="r-session-\d+">(?P<session>.*?)'
    r"</h4>|<figcaption>\d+\. (?P<pitch>[^<]+?) <span"
)


def _outline(page: str) -> list[tuple[str, str]]:
    """The "Votes per pitch" section as (kind, text): stage and session headings and the
    charts' pitches, in the page's order."""
    section = page[page.index("<h2>Votes per pitch</h2>") : page.index("<h2>Networking</h2>")]
    out = []
    for m in _OUTLINE.finditer(section):
        kind = m.lastgroup or ""
        out.append((kind, re.sub(r"<[^>]+>", "", m.group(kind)).strip()))
    return out


def test_report_groups_each_stage_s_pitches_under_their_sessions(
    client: TestClient, db: Database
) -> None:
    event, ids = _conference(db)
    _sessions(db, event, ids)
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    page = client.get(f"{root}/report", headers=EN).text
    # Sessions in their order (not their pitches'), with the start time where set;
    # pitches in no session last, under no heading.
    assert _outline(page) == [
        ("stage", "Saal A"),
        ("session", "Morgen · 09:30"),
        ("pitch", "Open Data"),
        ("session", "Mittag"),
        ("pitch", "Smart Parking"),
        ("stage", "Saal B"),
        ("session", "Abend"),
        ("pitch", "Sensorik"),
        ("pitch", "Wärmewende"),
    ]
    # The leaderboards stay ranked per stage, as the projectors showed them.
    assert re.search(r'<table class="leader" id="leaderboard-\d+">', page)

    pdf = client.get(f"{root}/report.pdf", headers={"accept-language": "de"})
    document = pdfium.PdfDocument(pdf.content)
    text = "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    charts = text[text.index("Stimmen je Pitch") :]
    order = [
        charts.index(s)
        for s in (
            "Saal A",
            "Morgen · 09:30",
            "2. Open Data",
            "Mittag",
            "1. Smart Parking",
            "Saal B",
            "Abend",
            "2. Sensorik",
            "1. Wärmewende",
        )
    ]
    assert order == sorted(order), charts
