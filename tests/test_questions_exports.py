"""Questions in the organiser's hands (issue 16): exports in three formats, the report's
section, the settings form, "delete my data", deleting a pitch, and the presenter's
private reply through the networking contact rules. Anonymity holds in every file."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

import openpyxl
import pytest
from sqlalchemy import update
from sqlmodel import Session, select
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event, Pitch, Stage
from eventapp.networking.models import ContactLink
from eventapp.questions.models import Question, QuestionUpvote
from tests.helpers import (
    ORIGIN,
    command,
    csrf_of,
    hello_attendee,
    hello_screen,
    join,
    receive_until,
)
from tests.network_helpers import Phone

EN = {"accept-language": "en"}
FORMULA = '=HYPERLINK("http://evil.example")'


def _root(event: Event) -> str:
    return f"/e/{event.code}/organizer/{event.organizer_key}"


def _act(ws: Any, message: dict[str, Any]) -> dict[str, Any]:
    ws.send_json(message)
    reply: dict[str, Any] = receive_until(ws, lambda m: m["type"] in ("question_ack", "error"))
    assert reply["type"] == "question_ack", reply
    return reply


@pytest.fixture
def asked(client: TestClient, event: Event) -> dict[str, Any]:
    """Ada asks (named) twice, Bob asks anonymously, Cem upvotes; one hidden, one answered."""
    tokens = {n: join(client, event.code, n, "Org " + n) for n in ("Ada", "Bob", "Cem")}
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as a,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as b,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as c,
    ):
        hello_screen(mod, "moderator", event.organizer_key)
        pitch = command(mod, {"type": "next"})["event"]["current_pitch_id"]
        for ws, name in ((a, "Ada"), (b, "Bob"), (c, "Cem")):
            hello_attendee(ws, tokens[name])
        ask = {"type": "ask_question", "pitch_id": pitch}
        q1 = _act(a, {**ask, "text": FORMULA})["question_id"]
        q2 = _act(b, {**ask, "text": "Anonymous worry", "anonymous": True})["question_id"]
        q3 = _act(a, {**ask, "text": "Off topic rant"})["question_id"]
        for q in (q1, q2):
            _act(c, {"type": "upvote_question", "question_id": q})
        _act(b, {"type": "upvote_question", "question_id": q1})
        _act(mod, {"type": "moderate_question", "question_id": q1, "action": "answer"})
        _act(
            mod,
            {
                "type": "moderate_question",
                "question_id": q3,
                "action": "hide",
                "reason": "off_topic",
            },
        )
    return {"pitch": pitch, "q": (q1, q2, q3), "tokens": tokens}


def _get(client: TestClient, event: Event, fmt: str) -> bytes:
    response = client.get(f"{_root(event)}/export/questions.{fmt}")
    assert response.status_code == 200, response.text
    return response.content


def test_exports_in_three_formats_name_only_who_chose_to_be_named(
    client: TestClient, event: Event, asked: dict[str, Any]
) -> None:
    q1, q2, q3 = asked["q"]
    rows = list(csv.DictReader(io.StringIO(_get(client, event, "csv").decode("utf-8-sig"))))
    got = [
        (
            int(r["question_id"]),
            r["question"],
            r["asked_by"],
            int(r["upvotes"]),
            r["state"],
            r["hide_reason"],
        )
        for r in rows
    ]
    assert got == [
        (q1, "'" + FORMULA, "Ada", 2, "answered", ""),  # formula neutralised
        (q2, "Anonymous worry", "", 1, "shown", ""),
        (q3, "Off topic rant", "Ada", 0, "hidden", "off_topic"),
    ]
    assert {r["pitch"] for r in rows} == {"Smart Parking"}

    data = json.loads(_get(client, event, "json"))
    assert [(r["question"], r["asked_by"], r["upvotes"]) for r in data["rows"]] == [
        (FORMULA, "Ada", 2),  # JSON keeps values exactly
        ("Anonymous worry", None, 1),
        ("Off topic rant", "Ada", 0),
    ]

    book = openpyxl.load_workbook(io.BytesIO(_get(client, event, "xlsx")))
    sheet = book.worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][:6] == [
        "pitch_position",
        "pitch",
        "question_id",
        "question",
        "asked_by",
        "upvotes",
    ]
    assert values[1][3] == "'" + FORMULA and values[2][4] is None

    # Anonymity: Bob (and his organisation) appear in no questions export.
    for fmt in ("csv", "json", "xlsx"):
        assert b"Bob" not in _get(client, event, fmt)
    xlsx_text = " ".join(str(c) for r in values for c in r if c is not None)
    assert "Bob" not in xlsx_text


def test_report_has_a_questions_section_per_pitch(
    client: TestClient, event: Event, asked: dict[str, Any]
) -> None:
    page = html.unescape(client.get(f"{_root(event)}/report", headers=EN).text)
    section = page.split('id="r-questions"', 1)[1]
    cells = "".join(f'<td class="num">{n}</td>' for n in (3, 1, 1, 3))  # asked … upvotes
    assert f'data-pitch="{asked["pitch"]}"><td>1. Smart Parking</td>{cells}' in section
    assert "▲ 2 · " + FORMULA in section and "(Ada, answered)" in section
    assert 'Anonymous worry <span class="small">(Anonymous)' in section
    assert "Off topic rant" not in section  # hidden questions are counted, not listed
    assert "Bob" not in section
    pdf = client.get(f"{_root(event)}/report.pdf", headers=EN)
    assert pdf.content.startswith(b"%PDF")


def test_settings_form_saves_question_settings_and_refuses_bad_values(
    client: TestClient, db: Database, event: Event
) -> None:
    base = {
        "name": "Forum",
        "languages": "de,en",
        "language": "de",
        "scale_min": "1",
        "scale_max": "5",
        "results": "blind",
        "retention_days": "30",
        "questions": "on",
        "questions_premoderated": "on",
        "questions_open_minutes": "10",
        "question_max_length": "140",
    }

    def post(data: dict[str, str]) -> str:
        page = client.get(_root(event), headers=EN)
        assert 'name="questions_open_minutes"' in page.text
        response = client.post(
            _root(event) + "/settings",
            data={"csrf": csrf_of(page.text), **data},
            headers={**ORIGIN, **EN},
        )
        return html.unescape(response.text)

    post(base)
    stored = db.read(lambda s: s.get(Event, event.id))
    assert (
        stored.questions_enabled,
        stored.questions_anonymous,
        stored.questions_premoderated,
        stored.questions_open_minutes,
        stored.question_max_length,
    ) == (True, False, True, 10, 140)
    assert "must be between 20 and 500 characters" in post({**base, "question_max_length": "5000"})
    assert "must be between 0 and 240 minutes" in post({**base, "questions_open_minutes": "-1"})
    assert "must be a whole number" in post({**base, "questions_open_minutes": "soon"})
    unchanged = db.read(lambda s: s.get(Event, event.id))
    assert (unchanged.questions_open_minutes, unchanged.question_max_length) == (10, 140)


def test_delete_my_data_removes_my_questions_and_upvotes(
    client: TestClient, db: Database, event: Event, asked: dict[str, Any]
) -> None:
    _q1, q2, _q3 = asked["q"]
    client.cookies.clear()
    client.cookies.set(f"ea_{event.code}", asked["tokens"]["Ada"])
    page = client.get(f"/e/{event.code}/privacy", headers=EN)
    done = client.post(
        f"/e/{event.code}/privacy/delete",
        headers={**ORIGIN, **EN},
        data={"csrf": csrf_of(page.text), "confirm": "yes"},
    )
    assert "Your data was deleted" in done.text
    texts = db.read(lambda s: [q.text for q in s.exec(select(Question)).all()])
    assert texts == ["Anonymous worry"]
    upvotes = db.read(lambda s: [(u.question_id) for u in s.exec(select(QuestionUpvote)).all()])
    assert upvotes == [q2]  # Cem's upvote on Bob's question stays; those on Ada's went with them


def test_deleting_a_pitch_deletes_its_questions(
    client: TestClient, db: Database, event: Event, asked: dict[str, Any]
) -> None:
    page = client.get(_root(event), headers=EN)
    client.post(
        f"{_root(event)}/pitches/{asked['pitch']}",
        data={"csrf": csrf_of(page.text), "action": "delete", "confirm": "yes"},
        headers={**ORIGIN, **EN},
    )
    assert db.read(lambda s: s.get(Pitch, asked["pitch"])) is None
    assert db.read(lambda s: list(s.exec(select(Question)).all())) == []
    assert db.read(lambda s: list(s.exec(select(QuestionUpvote)).all())) == []


def test_presenter_answers_a_named_asker_privately_through_a_contact_request(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    presenter = Phone(client, db, event, "Petra", "Stadtwerke")
    asker = Phone(client, db, event, "Ada")
    shy = Phone(client, db, event, "Bob")
    for phone in (presenter, asker, shy):
        phone.save_profile()
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", stage.moderator_key)
        pitch = command(mod, {"type": "next"})["event"]["current_pitch_id"]

    def make_presenter(session: Session) -> None:
        session.execute(
            update(Pitch).where(Pitch.id == pitch).values(presenter_attendee_id=presenter.id)
        )
        session.commit()

    db.call(make_presenter)
    ids = {}
    for phone, anonymous in ((asker, False), (shy, True)):
        with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
            hello_attendee(ws, phone.token)
            ids[phone.name] = _act(
                ws,
                {"type": "ask_question", "pitch_id": pitch, "text": "Q?", "anonymous": anonymous},
            )["question_id"]
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        hello_attendee(ws, presenter.token)
        mine = receive_until(ws, lambda m: m["type"] == "my_questions")
        assert mine["presenting"] == [pitch]

    refused = presenter.post(f"/e/{event.code}/questions/{ids['Bob']}/contact")
    assert refused.status_code == 403
    assert refused.json()["message"] == "This question was asked anonymously."
    not_mine = asker.post(f"/e/{event.code}/questions/{ids['Ada']}/contact")
    assert not_mine.json()["error"] == "forbidden"
    sent = presenter.post(f"/e/{event.code}/questions/{ids['Ada']}/contact")
    assert sent.json() == {"ok": True, "state": "pending", "message": "Contact request sent."}
    links = db.read(
        lambda s: [(k.requester_id, k.state) for k in s.exec(select(ContactLink)).all()]
    )
    assert links == [(presenter.id, "pending")]
    again = presenter.post(f"/e/{event.code}/questions/{ids['Ada']}/contact")
    assert again.json()["error"] == "already_requested"


def test_no_page_names_an_anonymous_asker(
    client: TestClient, event: Event, stage: Stage, asked: dict[str, Any]
) -> None:
    client.cookies.clear()
    client.cookies.set(f"ea_{event.code}", asked["tokens"]["Cem"])
    pages = [
        client.get(f"/e/{event.code}").text,
        client.get(f"/e/{event.code}/moderator/{stage.moderator_key}").text,
        client.get(f"/e/{event.code}/projector/{stage.projector_key}").text,
        client.get(f"{_root(event)}/report").text,
    ]
    assert 'id="qa"' in pages[0] and 'id="qa-mod"' in pages[1] and 'id="qa-projector"' in pages[2]
    assert not [p for p in pages if "Bob" in p]
