"""Languages: gettext catalogues, locale formats, screen language, error codes (issue 9)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from eventapp.app import create_app
from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.i18n import (
    LOCALE_DIR,
    CatalogueError,
    Formats,
    js_catalog,
    load_catalogue,
    negotiate,
    translator,
)
from eventapp.i18n_tools import extract, read_catalogue, untranslated
from eventapp.networking.profiles import parse_tags
from eventapp.settings import Settings
from tests.helpers import ORIGIN, command, hello_attendee, hello_screen, join, receive_until
from tests.test_exports import voted  # noqa: F401  (fixture: two pitches voted and revealed)

DE = {"accept-language": "de"}
EN = {"accept-language": "en"}


# ------------------------------------------------------------------ catalogues


def test_every_marked_string_is_translated_in_german() -> None:
    """Python (_, N_, rule errors), templates (_, trans, ngettext, pgettext) and the
    browser code (EA.t/nt/pt) against the German catalogue: none missing, none fuzzy."""
    template = extract()
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    # The extraction really reads all three sources.
    assert "This is the last pitch." in ids  # Python rule error (and live.js)
    assert "Open voting" in ids  # template
    assert "Votes in: %(votes)s" in ids  # JS only
    assert "%(num)d vote" in ids  # JS plural
    problems = untranslated(read_catalogue("de"), template)
    assert problems == []


def _po(directory: Path, lang: str, body: str) -> Path:
    path = directory / lang / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    path.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n'
        f'"Language: {lang}\\n"\n"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n' + body,
        encoding="utf-8",
    )
    return path


def test_a_broken_placeholder_stops_the_start_not_a_page(tmp_path: Path) -> None:
    _po(
        tmp_path,
        "fr",
        'msgid "is longer than %(limit)d characters"\n'
        'msgstr "dépasse %(limite)d caractères"\n\n'
        'msgid "%(name)s wants to exchange contacts."\nmsgstr "veut échanger."\n',
    )
    with pytest.raises(CatalogueError) as refused:
        load_catalogue("fr", tmp_path)
    assert "limite" in str(refused.value) and "wants to exchange" in str(refused.value)
    settings = Settings(languages=("de", "en", "fr"), locale_dir=tmp_path)
    with pytest.raises(CatalogueError):
        create_app(settings)


def test_a_third_language_is_one_po_file_and_its_code_in_the_setting(
    tmp_path: Path, db: Database, event: Event
) -> None:
    shutil.copytree(LOCALE_DIR / "de", tmp_path / "de")
    _po(
        tmp_path,
        "fr",
        'msgid "Join"\nmsgstr "Participer"\n\n'
        'msgid "Your name"\nmsgstr "Votre nom"\n\n'
        'msgid "%(num)d vote"\nmsgid_plural "%(num)d votes"\n'
        'msgstr[0] "%(num)d voix"\nmsgstr[1] "%(num)d voix"\n',
    )
    event.languages = "de,en,fr"

    def save(session: Session) -> None:
        session.merge(event)
        session.commit()

    db.call(save)
    settings = Settings(database_url="unused", languages=("de", "en", "fr"), locale_dir=tmp_path)
    with TestClient(create_app(settings, database=db)) as client:
        page = client.get(f"/e/{event.code}", headers={"accept-language": "fr-FR,fr;q=0.9"})
    assert '<html lang="fr">' in page.text
    assert "Votre nom" in page.text and "Participer" in page.text
    # Untranslated strings fall back to English, never to German.
    assert "Privacy notice" in page.text or "privacy notice" in page.text
    strings = json.loads(
        re.search(r'data-strings="([^"]*)"', page.text)
        .group(1)
        .replace("&#34;", '"')
        .replace("&quot;", '"')
    )
    assert strings["lang"] == "fr" and strings["plural_tags"][-1] == "other"
    assert Formats("fr", locale_dir=tmp_path).number(1234.5) == "1\u202f234,50"


def test_the_browser_catalogue_comes_from_the_po_with_plurals_and_contexts() -> None:
    german = js_catalog("de")
    assert german["messages"]["This is the last pitch."] == "Das ist der letzte Pitch."
    assert german["messages"]["%(num)d vote"] == ["%(num)d Stimme", "%(num)d Stimmen"]
    assert german["messages"]["pitch state\x04open"] == "offen"
    assert german["plural_tags"] == ["one", "other"]
    # Only what the browser code uses, not every page text.
    assert "Keep data for (days after the event)" not in german["messages"]
    assert js_catalog("en")["messages"] == {}


def test_negotiation_and_formats() -> None:
    assert negotiate(None, "de-AT,de;q=0.9,en;q=0.8") == "de"
    assert negotiate(None, "fr", default="en") == "en"
    assert negotiate("xx", None, default="de") == "de"
    de, en = Formats("de"), Formats("en")
    assert (de.number(4), en.number(4), de.number(None)) == ("4,00", "4.00", "–")
    assert de.integer(1234) == "1.234"
    assert de.date("2026-05-14") == "14.05.2026"
    assert de.ngettext("%(num)d vote", "%(num)d votes", 1) == "1 Stimme"
    # An empty value (an unset organisation type) stays empty, not the catalogue header.
    assert (translator("de")(""), de.gettext("")) == ("", "")


def test_tags_keep_the_spelling_typed_and_match_whatever_the_case() -> None:
    assert parse_tags("Parkdaten, Förderung, FÖRDERUNG, parkdaten", field="offers") == [
        "Parkdaten",
        "Förderung",
    ]


# ------------------------------------------------------------------ screens and errors


def test_screens_use_the_event_language_unless_the_link_says_otherwise(
    client: TestClient, event: Event, stage: Stage
) -> None:
    root = f"/e/{event.code}/projector/{stage.projector_key}"
    # The laptop's browser is English; the event is German: the projector stays German.
    page = client.get(root, headers=EN).text
    assert '<html lang="de">' in page and "Scannen und mitmachen" in page
    assert 'aria-label="Verbindung"' in page
    assert '<html lang="en">' in client.get(root + "?lang=en", headers=DE).text
    # An unknown language falls back to the event's default.
    assert '<html lang="de">' in client.get(root + "?lang=xx", headers=EN).text
    moderator = client.get(
        f"/e/{event.code}/moderator/{stage.moderator_key}?lang=en", headers=DE
    ).text
    assert '<html lang="en">' in moderator and 'href="?lang=de"' in moderator


def test_refusals_carry_a_code_and_parameters(
    client: TestClient, event: Event, stage: Stage
) -> None:
    token = join(client, event.code, "Ada")
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone,
    ):
        welcome = hello_screen(mod, "moderator", stage.moderator_key)
        pitch = welcome["event"]["pitches"][0]["id"]
        command(mod, {"type": "open_voting", "pitch_id": pitch})
        hello_attendee(phone, token)
        phone.send_json({"type": "vote", "pitch_id": pitch, "score": 9, "seq": 1})
        error = receive_until(phone, lambda m: m["type"] == "error")
        assert (error["code"], error["params"]) == ("out_of_scale", {"min": 1, "max": 5})
        for _ in range(3):
            mod.send_json({"type": "next"})
        last = receive_until(mod, lambda m: m["type"] == "error")
        assert (last["code"], last["params"]) == ("last_pitch", {})


def test_settings_errors_are_in_the_readers_language(client: TestClient, event: Event) -> None:
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    page = client.get(root, headers=DE).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": token, "name": "Forum", "languages": "de,en", "language": "de"}
    form |= {"scale_min": "1", "scale_max": "5", "retention_days": "90"}
    for headers, expected in (
        (DE, "Datum: muss so aussehen: 2026-05-14"),
        (EN, "date: must look like 2026-05-14"),
    ):
        answer = client.post(
            root + "/settings", data={**form, "date": "14.5."}, headers={**ORIGIN, **headers}
        )
        assert expected in answer.text
    bad_zone = client.post(
        root + "/settings", data={**form, "timezone": "Mars/Olympus"}, headers={**ORIGIN, **DE}
    )
    assert "Zeitzone: ist kein Zeitzonenname wie Europe/Berlin" in bad_zone.text


# ------------------------------------------------------------------ exports and report


def _decimal(text: str) -> float:
    return float(text.replace(",", "."))


def test_german_excel_csv_read_back_equals_the_projector(
    client: TestClient,
    voted: tuple[Event, dict[str, Any]],  # noqa: F811
) -> None:
    event, screen = voted
    url = f"/e/{event.code}/organizer/{event.organizer_key}/export/votes.excel"
    response = client.get(url, headers=DE)
    assert f'filename="{event.code}-votes-excel.csv"' in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    text = response.content.decode("utf-8-sig")
    assert "," in text.splitlines()[1] and ";" in text.splitlines()[0]
    rows = [r for r in csv.DictReader(io.StringIO(text), delimiter=";") if r["rank"]]
    exported = sorted(
        (
            int(r["rank"]),
            r["pitch"].lstrip("'"),
            int(r["n"]),
            _decimal(r["mean"]),
            _decimal(r["adjusted_mean"]),
        )
        for r in rows
    )
    shown = sorted(
        (s["rank"], s["title"], s["n"], round(s["mean"], 2), round(s["adjusted"], 2))
        for s in screen["leaderboard"]
    )
    assert exported == shown


def test_xlsx_cells_are_numbers(client: TestClient, voted: tuple[Event, Any]) -> None:  # noqa: F811
    event, _screen = voted
    url = f"/e/{event.code}/organizer/{event.organizer_key}/export/votes.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(url).content)).active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    first = [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))]
    row = dict(zip(header, first, strict=False))
    assert isinstance(row["n"], int) and isinstance(row["mean"], float)


def test_the_german_report_writes_german_numbers(
    client: TestClient,
    voted: tuple[Event, dict[str, Any]],  # noqa: F811
) -> None:
    event, screen = voted
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    german, english = (client.get(root + "/report", headers=h).text for h in (DE, EN))
    for s in screen["leaderboard"]:
        assert f"{s['adjusted']:.2f}".replace(".", ",") in german
        assert f"{s['adjusted']:.2f}" in english
    assert "Beteiligung im Zeitverlauf (" in german
