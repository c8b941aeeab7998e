"""Importing pitches and the partner list: preview, one message per bad row, all or nothing."""

from __future__ import annotations

import html
import io
import json
import re

import openpyxl
from starlette.testclient import TestClient

from eventapp.core import queries as shared
from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.organizing import imports
from eventapp.voting import queries
from tests.helpers import ORIGIN, csrf_of, hello_screen, receive_until

EN = {"accept-language": "en"}


def _root(event: Event) -> str:
    return f"/e/{event.code}/organizer/{event.organizer_key}"


def _upload(client: TestClient, event: Event, kind: str, name: str, data: bytes) -> str:
    page = client.get(_root(event), headers=EN)
    response = client.post(
        f"{_root(event)}/import/{kind}",
        headers={**ORIGIN, **EN},
        data={"csrf": csrf_of(page.text)},
        files={"file": (name, data)},
    )
    return response.text


def _errors(text: str) -> list[str]:
    block = re.search(r'<ul class="row-errors" id="row-errors">(.*?)</ul>', text, re.S)
    assert block, "no row errors shown"
    return [html.unescape(x) for x in re.findall(r"<li>(.*?)</li>", block.group(1))]


def _confirm(client: TestClient, event: Event, kind: str, preview: str) -> str:
    payload = re.search(r'name="payload" value="([^"]*)"', preview)
    assert payload, "no confirm button in the preview"
    form = {"csrf": csrf_of(preview), "payload": html.unescape(payload.group(1))}
    response = client.post(f"{_root(event)}/import/{kind}", headers={**ORIGIN, **EN}, data=form)
    return response.text


def _titles(db: Database, event: Event) -> list[str]:
    return [p.title for p in db.read(queries.load_state, event.id).pitches]


def test_pitch_csv_is_previewed_then_imported_and_screens_update(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    # German Excel writes semicolons and Windows-1252.
    data = "Titel;Präsentiert von\nLeerstandsbörse;Wohnbau\nFrühwarnsystem Starkregen;Umweltamt\n"
    preview = _upload(client, event, "pitches", "pitches.csv", data.encode("cp1252"))
    assert "Leerstandsbörse" in preview and "Import 2 rows" in preview
    assert _titles(db, event) == ["Smart Parking", "Heat Transition", "Housing Exchange"]

    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", stage.moderator_key)
        _confirm(client, event, "pitches", preview)
        state = receive_until(mod, lambda m: m["type"] == "state")
    expected = [
        "Smart Parking",
        "Heat Transition",
        "Housing Exchange",
        "Leerstandsbörse",
        "Frühwarnsystem Starkregen",
    ]
    assert [p["title"] for p in state["event"]["pitches"]] == expected
    assert _titles(db, event) == expected
    assert db.read(queries.load_state, event.id).pitches[3].presenter == "Wohnbau"


def _xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_partner_xlsx_with_bad_rows_names_each_row_and_stores_nothing(
    client: TestClient, db: Database, event: Event
) -> None:
    data = _xlsx(
        [
            ["Organisation", "Typ", "E-Mail"],
            ["Stadtwerke", "Unternehmen", "info@stadtwerke.example"],
            ["", "Forschung", ""],
            ["stadtwerke", "Unternehmen", ""],
            ['=HYPERLINK("http://evil")', "KMU", ""],
            ["x" * 130, "KMU", ""],
            ["Hochschule", "Forschung", ""],
        ]
    )
    preview = _upload(client, event, "partners", "partner.xlsx", data)
    assert _errors(preview) == [
        "Row 3: organisation is required",
        "Row 4: 'stadtwerke' repeats row 2",
        "Row 5: organisation holds a formula; enter the value instead",
        "Row 6: organisation is longer than 120 characters",
    ]
    assert "Nothing was imported" in preview
    assert 'name="payload"' not in preview
    assert db.read(shared.partners_of_event, event.id) == []


def test_partner_list_imports_and_refuses_a_second_copy(
    client: TestClient, db: Database, event: Event
) -> None:
    data = b"name,type,contact\nStadtwerke,Unternehmen,Frau A\nHochschule,Forschung,\n"
    _confirm(client, event, "partners", _upload(client, event, "partners", "p.csv", data))
    stored = db.read(shared.partners_of_event, event.id)
    assert [(p.name, p.org_type, p.contact) for p in stored] == [
        ("Hochschule", "Forschung", ""),
        ("Stadtwerke", "Unternehmen", "Frau A"),
    ]
    exported = client.get(f"{_root(event)}/export/partners.json").json()["rows"]
    assert [(r["organisation"], r["type"], r["contact"]) for r in exported] == [
        ("Hochschule", "Forschung", ""),
        ("Stadtwerke", "Unternehmen", "Frau A"),
    ]
    again = _upload(client, event, "partners", "p.csv", data)
    assert _errors(again) == [
        "Row 2: 'Stadtwerke' repeats what is already stored",
        "Row 3: 'Hochschule' repeats what is already stored",
    ]


def test_whole_file_problems_get_one_clear_message(
    client: TestClient, db: Database, event: Event
) -> None:
    cases = {
        ("pitches", "p.csv", b"name;presenter\nX;Y\n"): "Missing column: title",
        ("pitches", "p.xlsx", b"PK\x03\x04 not really a workbook"): "not a readable XLSX",
        ("pitches", "p.csv", b""): "The file is empty.",
        ("pitches", "p.csv", b'title\n"unclosed\n'): "The CSV file is malformed",
        ("partners", "p.bin", b"\x00\x01\x02name"): "not a CSV text file",
        ("partners", "p.csv", b"name\n" + b"Org\n" * 2001): "more than 2000 rows",
    }
    for (kind, name, data), message in cases.items():
        text = _upload(client, event, kind, name, data)
        assert message in html.unescape(text), (name, data[:20])
    assert len(_titles(db, event)) == 3
    assert db.read(shared.partners_of_event, event.id) == []


def test_oversized_upload_is_refused_before_reading(client: TestClient, event: Event) -> None:
    text = _upload(client, event, "pitches", "big.csv", b"title\n" + b"A" * 1_200_000)
    assert "The file is larger than 1 MB." in text


def test_a_tampered_preview_is_checked_again_and_stores_nothing(
    client: TestClient, db: Database, event: Event
) -> None:
    page = client.get(_root(event), headers=EN)
    rows = [{"title": "Fine"}, {"title": "x" * 200}]
    # Even a preview this server signed is checked again on confirm ...
    signed = imports.sign_preview("pitches", rows, secret=event.export_salt)
    response = client.post(
        f"{_root(event)}/import/pitches",
        headers={**ORIGIN, **EN},
        data={"csrf": csrf_of(page.text), "payload": signed},
    )
    assert _errors(response.text) == ["Row 3: title is longer than 160 characters"]
    # ... and one it did not sign is refused unread.
    unsigned = client.post(
        f"{_root(event)}/import/pitches",
        headers={**ORIGIN, **EN},
        data={"csrf": csrf_of(page.text), "payload": json.dumps(rows)},
    )
    assert "The preview data was damaged" in unsigned.text
    broken = client.post(
        f"{_root(event)}/import/pitches",
        headers={**ORIGIN, **EN},
        data={"csrf": csrf_of(page.text), "payload": "{not json"},
    )
    assert "The preview data was damaged" in broken.text
    assert len(_titles(db, event)) == 3


def test_import_without_the_form_token_is_refused(client: TestClient, event: Event) -> None:
    response = client.post(
        f"{_root(event)}/import/pitches",
        headers={**ORIGIN, **EN},
        files={"file": ("p.csv", b"title\nX\n")},
    )
    assert response.status_code == 403
    assert "The form expired. Please try again." in response.text


def test_row_errors_are_shown_in_german(client: TestClient, event: Event) -> None:
    de = {"accept-language": "de"}
    page = client.get(_root(event), headers=de)
    data = b"Organisation\nStadtwerke\n\nstadtwerke\n=1+1\n" + b"x" * 130 + b"\n"
    response = client.post(
        f"{_root(event)}/import/partners",
        headers={**ORIGIN, **de},
        data={"csrf": csrf_of(page.text)},
        files={"file": ("p.csv", data)},
    )
    assert _errors(response.text) == [
        "Zeile 4: 'stadtwerke' wiederholt Zeile 2",  # row 3 is blank, and skipped
        "Zeile 5: Organisation enthält eine Formel; bitte den Wert eintragen",
        "Zeile 6: Organisation ist länger als 120 Zeichen",
    ]
    missing = client.post(
        f"{_root(event)}/import/pitches",
        headers={**ORIGIN, **de},
        data={"csrf": csrf_of(page.text)},
        files={"file": ("p.csv", b"name\nX\n")},
    )
    assert "Spalte fehlt: title. Die erste Zeile muss die Spalten benennen" in html.unescape(
        missing.text
    )


def test_row_problems_are_refusals_with_a_code_and_the_column() -> None:
    table = [
        ["title", "presenter"],
        ["Smart Parking", "Stadtwerke"],
        ["smart parking", ""],
        ["=1+1", ""],
        ["Wärmewende", "Stadtwerke", "stray"],
    ]
    checked = imports.check_rows(imports.KINDS["pitches"], table, existing=["Wärmewende"])
    assert [(e.row, [(p.code, p.params) for p in e.problems]) for e in checked.errors] == [
        (3, [("repeated", {"column": "", "value": "'smart parking'", "row": "2"})]),
        (4, [("formula", {"column": "title"})]),
        (5, [("extra_cells", {"column": "", "columns": "2"})]),
    ]
    assert [e.message for e in checked.errors] == [
        "'smart parking' repeats row 2",
        "title holds a formula; enter the value instead",
        "has more cells than the first row has columns (2); put values that contain the "
        "separator in quotes",
    ]
