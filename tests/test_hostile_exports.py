"""Every exporter, in every format, fed hostile values through the real forms: no cell a
spreadsheet opens as a formula, whichever separator it splits the CSV on."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import openpyxl
import pytest
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.validation import InvalidInput, clean_text
from eventapp.exports import registry
from eventapp.exports.base import FORMATS, Table, to_csv, to_xlsx
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
from tests.helpers import ORIGIN, command, csrf_of, hello_attendee, hello_screen, receive_until
from tests.network_helpers import Phone
from tests.support.seeding import first_stage

HOSTILE = [
    "Ann;=1+1;",
    '=HYPERLINK("http://x","y")',
    "x,@SUM(A1)",
    "Org; -2+3",
    "+49;=cmd|' /C calc'!A0",
    'Q;"=1+2"',
]
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")


def is_formula(cell: object) -> bool:
    """What a spreadsheet would evaluate: text starting, after blanks and double quotes,
    with = + - @ tab or CR (a number like -3 is a number, not a formula)."""
    if not isinstance(cell, str):
        return False
    text = cell.lstrip(' "')
    return text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.match(text)


def _export(client: TestClient, code: str, key: str, slug: str, fmt: str) -> bytes:
    response = client.get(f"/e/{code}/organizer/{key}/export/{slug}.{fmt}")
    assert response.status_code == 200, response.text
    return response.content


@pytest.fixture
def hostile_event(client: TestClient, db: Database) -> tuple[str, str, list[str]]:
    """An event where every exporter has rows carrying hostile text."""
    event = create_event(
        "Hostile Forum", [PitchSpec("Heat;=1+1;", "Org,@x"), PitchSpec("+SUM(1);-1")], db=db
    )
    phones = []
    for n, name in enumerate(HOSTILE):
        phone = Phone(client, db, event, name, organization=HOSTILE[-1 - n])
        saved = phone.save_profile(
            organization=HOSTILE[-1 - n],
            org_type="startup",
            role=HOSTILE[n - 1][:80],
            offers_text=HOSTILE[n - 2],
            seeks_text=HOSTILE[n - 3],
            email="a@example.org",
            share_email="on",
        )
        assert saved.status_code in (200, 303), saved.text
        phones.append(phone)
    pitches = [p.id for p in db.read(queries.load_state, event.id).pitches]
    # Contacts: a QR exchange and an accepted request.
    assert phones[1].post(phones[0].code_link()).status_code == 303
    phones[2].post(f"{phones[2].net}/request/{phones[3].id}")
    for p in phones[:4]:
        p.post(f"{p.net}/pitches/{pitches[0]}", {"role": "partner", "note": "=1+1;@x,-y"})
    # Votes, through the live socket.
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", first_stage(db, event).moderator_key)
        command(mod, {"type": "open_voting", "pitch_id": pitches[0]})
        for p in phones:
            with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
                hello_attendee(ws, p.token)
                ws.send_json({"type": "vote", "pitch_id": pitches[0], "score": 4, "seq": 1})
                receive_until(ws, lambda m: m["type"] == "vote_ack")
    # Partners, through the import (a leading "=" is refused there; after ";" it is not).
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    client.cookies.clear()
    page = client.get(root)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["Organisation", "Typ", "Kontakt"])
    writer.writerows([h, h, h] for h in HOSTILE if not h.startswith(("=", "+")))
    data = out.getvalue()
    preview = client.post(
        f"{root}/import/partners",
        headers=ORIGIN,
        data={"csrf": csrf_of(page.text)},
        files={"file": ("p.csv", data.encode())},
    )
    found = re.search(r'name="payload" value="([^"]*)"', preview.text)
    assert found, preview.text
    payload = html.unescape(found.group(1))
    client.post(
        f"{root}/import/partners",
        headers=ORIGIN,
        data={"csrf": csrf_of(preview.text), "payload": payload},
    )
    return event.code, event.organizer_key, [p.name for p in phones]


def test_no_export_in_any_format_carries_a_formula_cell(
    client: TestClient, hostile_event: tuple[str, str, list[str]]
) -> None:
    code, key, _ = hostile_event
    seen_hostile: set[str] = set()
    for exporter in registry.listing():
        for fmt in FORMATS:
            content = _export(client, code, key, exporter.slug, fmt)
            if fmt in ("csv", "excel"):  # plain CSV, and the CSV for German Excel (;)
                text = content.decode("utf-8-sig")
                for delimiter in (",", ";"):
                    for row in csv.reader(io.StringIO(text), delimiter=delimiter):
                        bad = [c for c in row if is_formula(c)]
                        assert not bad, (exporter.slug, delimiter, bad, row)
                        seen_hostile.update(exporter.slug for c in row if "=1+1" in c or "@x" in c)
            elif fmt == "xlsx":
                book = openpyxl.load_workbook(io.BytesIO(content))
                for sheet in book.worksheets:
                    for cells in sheet.iter_rows():
                        for c in cells:
                            assert c.data_type != "f", (exporter.slug, c.value)
                            for part in re.split(r"[;,]", str(c.value or "")):
                                assert not is_formula(part), (exporter.slug, c.value)
            else:
                json.loads(content)  # exact values, never opened as a spreadsheet
    # The hostile text really reached these exports (so the checks above had work to do).
    assert {"votes", "attendees", "contacts", "partner-interests", "partners"} <= seen_hostile


def test_non_characters_are_refused_at_input_and_never_break_an_xlsx(
    client: TestClient, db: Database
) -> None:
    for bad in ("Ann\uffff", "Ann\ufffe", "Ann\ufdd0", "Ann\U0001fffe", "Ann\x01"):
        with pytest.raises(InvalidInput):
            clean_text(bad, field="name", max_length=80)
    event = create_event("Forum", [PitchSpec("A")], db=db)
    page = client.get(f"/e/{event.code}", headers={"accept-language": "de"})
    refused = client.post(
        f"/e/{event.code}/join",
        data={"name": "Ann\uffff", "csrf": csrf_of(page.text)},
        headers={**ORIGIN, "accept-language": "de"},
    )
    assert refused.status_code == 400
    assert "enthält Zeichen, die nicht erlaubt sind" in refused.text
    # A value stored before this rule still makes a well-formed workbook.
    sheet = openpyxl.load_workbook(
        io.BytesIO(to_xlsx(Table(("name",), [["Ann\uffff\x01"]]), "t"))
    ).active
    assert sheet["A2"].value == "Ann\ufffd\ufffd"
    assert to_csv(Table(("a", "b"), [["x;=1", "y"]])).decode("utf-8-sig").splitlines()[1] == (
        "x;'=1,y"
    )


def test_the_raw_votes_pseudonym_appears_in_no_export_that_carries_names(
    client: TestClient, hostile_event: tuple[str, str, list[str]]
) -> None:
    code, key, names = hostile_event
    raw = json.loads(_export(client, code, key, "raw-votes", "json"))["rows"]
    voters = {r["voter"] for r in raw}
    assert len(voters) == len(names)
    for exporter in registry.listing():
        if exporter.slug == "raw-votes":
            continue
        for fmt in FORMATS:
            content = _export(client, code, key, exporter.slug, fmt)
            if fmt == "xlsx":
                book = openpyxl.load_workbook(io.BytesIO(content))
                content = "\n".join(
                    str(c)
                    for ws in book.worksheets
                    for r in ws.iter_rows(values_only=True)
                    for c in r
                ).encode()
            text = content.decode("utf-8-sig")
            assert not [v for v in voters if v in text], (exporter.slug, fmt)
    people = json.loads(_export(client, code, key, "attendees", "json"))["rows"]
    assert {p["name"] for p in people} == set(names)
    assert all(p["attendee"].startswith("a-") and len(p["attendee"]) == 18 for p in people)


def test_the_privacy_notice_says_what_is_exported_with_names_and_without(
    client: TestClient, db: Database
) -> None:
    event = create_event("Forum", [PitchSpec("A")], db=db)
    for lang, with_name, without in (
        ("en", "With your name, only if you turned on networking:", "appears in no export"),
        ("de", "Mit Ihrem Namen, nur wenn Sie Networking eingeschaltet haben:", "steht in keinem"),
    ):
        page = client.get(f"/e/{event.code}/privacy", headers={"accept-language": lang}).text
        assert with_name in page and without in page
        assert 'id="exported-with-name"' in page and 'id="exported-without-name"' in page
