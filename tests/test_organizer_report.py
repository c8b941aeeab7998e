"""The results report: printable page, SVG charts served by the app, and a PDF whose
rendered first page shows the leaderboard in the projector's order."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from PIL import Image
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.organizing import queries as store
from eventapp.voting.rules import PitchSpec, create_event
from tests.helpers import ORIGIN, command, hello_attendee, hello_screen, join, receive_until
from tests.support.seeding import first_stage

SCORES = {0: [5, 5, 4], 1: [2, 3], 2: [4, 4, 4, 5]}


@pytest.fixture
def voted(client: TestClient, db: Database) -> tuple[Event, dict[str, Any]]:
    event = create_event(
        "Projektbörse Süd",
        [PitchSpec("Smartes Parken"), PitchSpec("Wärmeplanung"), PitchSpec("Digitaler Zwilling")],
        db=db,
    )
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as projector,
    ):
        welcome = hello_screen(mod, "moderator", first_stage(db, event).moderator_key)
        ids = [p["id"] for p in welcome["event"]["pitches"]]
        hello_screen(projector, "projector", first_stage(db, event).projector_key)
        for index, scores in SCORES.items():
            command(mod, {"type": "open_voting", "pitch_id": ids[index]})
            for n, score in enumerate(scores):
                token = join(client, event.code, f"P{index}{n}")
                with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone:
                    hello_attendee(phone, token)
                    phone.send_json(
                        {"type": "vote", "pitch_id": ids[index], "score": score, "seq": 1}
                    )
                    receive_until(phone, lambda m: m["type"] == "vote_ack")
            command(mod, {"type": "reveal", "pitch_id": ids[index]})
        screen = receive_until(
            projector,
            lambda m: m["type"] == "screen" and sum(r["n"] for r in m["leaderboard"]) == 9,
        )
    return event, screen


def test_report_page_shows_the_projector_leaderboard_and_its_charts(
    client: TestClient, voted: tuple[Event, dict[str, Any]]
) -> None:
    event, screen = voted
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    page = client.get(f"{root}/report", headers={"accept-language": "en"}).text
    table = re.search(r'<table class="leader" id="leaderboard">(.*?)</table>', page, re.S)
    assert table
    cells = (
        r"<tr><td>(\d+)</td><th scope=\"row\">(.*?)</th><td class=\"num\">(\d+)</td>"
        r"<td class=\"num\">([\d.]+)</td><td class=\"num\">([\d.]+)</td>"
    )
    rows = re.findall(cells, table.group(1))
    assert [(int(r), t, int(n), float(m), float(a)) for r, t, n, m, a in rows] == [
        (s["rank"], s["title"], s["n"], s["mean"], s["adjusted"]) for s in screen["leaderboard"]
    ]
    assert '<strong id="r-votes">9</strong>' in page
    charts = re.findall(r'<img src="([^"]+\.svg)"', page)
    assert len(charts) == 5  # turnout, three pitches, network
    for url in charts:
        svg = client.get(url)
        assert svg.headers["content-type"] == "image/svg+xml"
        assert svg.text.lstrip().startswith("<?xml") and "<svg" in svg.text
    first_pitch = client.get(charts[1]).text
    # Three bars for "Smartes Parken" (5, 5, 4): the counts 2 and 1 are drawn as text.
    assert re.findall(r">(\d)</text>", first_pitch) == ["2", "1", "0", "0", "0"]


def test_pdf_shows_the_leaderboard_when_rendered(
    client: TestClient, voted: tuple[Event, dict[str, Any]], tmp_path: Path
) -> None:
    event, screen = voted
    response = client.get(
        f"/e/{event.code}/organizer/{event.organizer_key}/report.pdf",
        headers={"accept-language": "de"},
    )
    assert response.headers["content-type"] == "application/pdf"
    pdf = pdfium.PdfDocument(response.content)
    page = pdf[0]
    text = page.get_textpage().get_text_range()
    assert "Projektbörse Süd" in text and "Rangliste" in text
    order = [text.index(s["title"]) for s in screen["leaderboard"]]
    assert order == sorted(order), "leaderboard rows out of the projector's order"
    for s in screen["leaderboard"]:
        # A German reader's numbers: decimal comma.
        assert f"{s['adjusted']:.2f}".replace(".", ",") in text
    image = page.render(scale=1.5).to_pil()
    out = Path("/tmp/eventapp-report-page1.png") if Path("/tmp").is_dir() else tmp_path / "p.png"
    image.save(out)
    # The page is not blank: the table rules and the blue chart bars are drawn.
    rgb = image.convert("RGB")
    blue = sum(
        1
        for x in range(0, rgb.width, 2)
        for y in range(0, rgb.height, 2)
        if (px := rgb.getpixel((x, y))) and px[2] > 200 and px[0] < 60
    )
    assert blue > 500
    assert isinstance(image, Image.Image) and image.width > 800
    pdf.close()


def test_a_one_stage_report_lists_the_pitches_under_their_sessions(
    client: TestClient, db: Database, voted: tuple[Event, dict[str, Any]]
) -> None:
    """Issue 15: sessions are headings of the "votes per pitch" charts, in the sessions'
    order with their start (date and time: the event has no date), pitches in no
    session last under no heading; the leaderboard stays one ranked table."""
    event, screen = voted
    assert event.id is not None
    stage = first_stage(db, event)
    assert stage.id is not None
    db.call(store.add_session, event.id, stage.id, "Energie", None)
    db.call(store.add_session, event.id, stage.id, "Block 1", datetime(2026, 5, 14, 8, tzinfo=UTC))
    sessions = {s.title: s.id for s in db.read(store.sessions_of_event, event.id)}
    ids = [r["pitch_id"] for r in sorted(screen["leaderboard"], key=lambda r: r["title"])]
    # sorted titles: Digitaler Zwilling, Smartes Parken, Wärmeplanung
    db.call(store.place_pitch, event.id, ids[0], stage.id, sessions["Block 1"])
    db.call(store.place_pitch, event.id, ids[2], stage.id, sessions["Energie"])
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    page = client.get(f"{root}/report", headers={"accept-language": "de"}).text
    section = page[page.index("<h2>Stimmen je Pitch</h2>") : page.index("<h2>Networking</h2>")]
    outline = [
        re.sub(r"<[^>]+>", "", m.group(1) or m.group(2)).strip()
        for m in re.finditer(
            r'<h3 class="session-heading" id="r-session-\d+">(.*?)</h3>|'
            r"<figcaption>(\d+\. [^<]+?) <span",
            section,
        )
    ]
    assert outline == [
        "Energie",
        "2. Wärmeplanung",
        "Block 1 · 14.05.26, 10:00",
        "3. Digitaler Zwilling",
        "1. Smartes Parken",
    ]
    assert len(re.findall(r'<table class="leader" id="leaderboard">', page)) == 1
