"""Pages: language negotiation and switch, the join QR code, links of screens."""

from __future__ import annotations

import re

import zxingcpp
from PIL import Image, ImageDraw
from sqlmodel import Session
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.voting.rules import PitchSpec, create_event


def test_language_follows_the_browser_and_the_switch(client: TestClient, event: Event) -> None:
    english = client.get(f"/e/{event.code}", headers={"accept-language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.text
    assert "Your name" in english.text
    german = client.get(f"/e/{event.code}", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in german.text
    assert "Ihr Name" in german.text

    client.get(f"/lang/en?next=/e/{event.code}")
    switched = client.get(f"/e/{event.code}", headers={"accept-language": "de"})
    assert '<html lang="en">' in switched.text


def test_code_entry_finds_the_event_case_insensitively(client: TestClient, event: Event) -> None:
    found = client.get(f"/?code={event.code.lower()}", follow_redirects=False)
    assert found.headers["location"] == f"/e/{event.code}"
    missing = client.get("/?code=ZZZZZZ", headers={"accept-language": "en"})
    assert missing.status_code == 404
    assert "No event with this code." in missing.text


def test_join_qr_code_decodes_to_the_attendee_link(client: TestClient, event: Event) -> None:
    svg = client.get(f"/e/{event.code}/qr.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    # The SVG is one path of unit squares ("Mx,yHx+1Vy+1Hxz"): paint them and decode.
    size = int(re.search(rb'viewBox="0 0 (\d+) ', svg.content).group(1))
    squares = re.findall(rb"M(\d+),(\d+)H", svg.content)
    assert squares
    scale = 8
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    for x, y in squares:
        left, top = int(x) * scale, int(y) * scale
        draw.rectangle((left, top, left + scale - 1, top + scale - 1), fill=0)
    decoded = zxingcpp.read_barcodes(image)
    assert [d.text for d in decoded] == [f"http://testserver/e/{event.code}"]


def test_projector_page_shows_the_code_and_qr(
    client: TestClient, event: Event, stage: Stage
) -> None:
    page = client.get(f"/e/{event.code}/projector/{stage.projector_key}")
    assert f'<p class="code" id="event-code">{event.code}</p>' in page.text
    assert f'src="/e/{event.code}/qr.svg"' in page.text
    assert 'data-role="projector"' in page.text


def test_an_event_offering_only_german_has_no_switch_and_stays_german(
    client: TestClient, db: Database
) -> None:
    event = create_event("Nur Deutsch", [PitchSpec("Wärmewende")], db=db)
    db.call(_set_languages, event.id, "de")
    page = client.get(f"/e/{event.code}", headers={"accept-language": "en"})
    assert '<html lang="de">' in page.text
    assert "/lang/en" not in page.text
    both = client.get("/", headers={"accept-language": "en"})
    assert "/lang/de" in both.text and "/lang/en" in both.text


def _set_languages(session: Session, event_id: int, languages: str) -> None:
    row = session.get(Event, event_id)
    assert row is not None
    row.languages = languages
    session.add(row)
    session.commit()
