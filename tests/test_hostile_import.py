"""Hostile imports: zip bombs, broken XML, forged and oversized confirm steps."""

from __future__ import annotations

import io
import json
import re
import time
import tracemalloc
import zipfile

import openpyxl
import pytest
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.organizing import imports
from eventapp.voting import queries
from tests.helpers import ORIGIN, csrf_of

EN = {"accept-language": "en"}
DE = {"accept-language": "de"}


def _root(event: Event) -> str:
    return f"/e/{event.code}/organizer/{event.organizer_key}"


def _post(
    client: TestClient,
    event: Event,
    kind: str,
    *,
    lang: dict[str, str] = EN,
    data: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes]] | None = None,
) -> tuple[int, str]:
    page = client.get(_root(event), headers=lang)
    response = client.post(
        f"{_root(event)}/import/{kind}",
        headers={**ORIGIN, **lang},
        data={"csrf": csrf_of(page.text), **(data or {})},
        files=files,
    )
    return response.status_code, response.text


def _upload(
    client: TestClient, event: Event, name: str, content: bytes, lang: dict[str, str] = EN
) -> tuple[int, str]:
    return _post(client, event, "pitches", lang=lang, files={"file": (name, content)})


def _xlsx_parts() -> dict[str, bytes]:
    book = openpyxl.Workbook()
    book.active.append(["title"])
    book.active.append(["Smart Parking"])
    out = io.BytesIO()
    book.save(out)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


SST = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def zip_bomb(strings: int = 500_000) -> bytes:
    """A real workbook with a shared-strings part (openpyxl reads it whole when the
    workbook opens) that unpacks to ~30 MB from ~87 KB: the kind of file that took the
    process to 1.4 GB."""
    parts = _xlsx_parts()
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SST}"/></Types>'.encode(),
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        f'<Relationship Id="rIdS" Type="{SST_REL}" Target="sharedStrings.xml"/>'.encode()
        + b"</Relationships>",
    )
    item = b"<si><t>" + b"A" * 40 + b"</t></si>"
    parts["xl/sharedStrings.xml"] = (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + item * strings
        + b"</sst>"
    )
    return _zip(parts)


def test_an_87_kb_zip_bomb_xlsx_is_refused_fast_and_small(
    client: TestClient, db: Database, event: Event
) -> None:
    bomb = zip_bomb()
    assert 60_000 < len(bomb) < 120_000, len(bomb)
    # The refusal itself (the whole request also renders the console page).
    started = time.perf_counter()
    with pytest.raises(imports.ImportFileError, match="unpacks to more than 20 MB"):
        imports.check_file("pitches", bomb, "bomb.xlsx")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, elapsed
    # Through the organiser's route: every allocation of the request is traced.
    tracemalloc.start()
    status, text = _upload(client, event, "bomb.xlsx", bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert status == 400
    assert "The workbook unpacks to more than 20 MB" in text
    assert peak < 50 * 1024 * 1024, peak
    _, german = _upload(client, event, "bomb.xlsx", bomb, DE)
    assert "Die Arbeitsmappe wird entpackt größer als 20 MB" in german
    assert len(db.read(queries.load_state, event.id).pitches) == 3


def test_broken_workbooks_are_clear_400s_not_500s(client: TestClient, event: Event) -> None:
    parts = _xlsx_parts()
    broken_xml = dict(parts)
    broken_xml["xl/worksheets/sheet1.xml"] = b"<worksheet><sheetData><row><c>"
    doctype = dict(parts)
    doctype["xl/worksheets/sheet1.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
        + parts["xl/worksheets/sheet1.xml"]
    )
    many_parts = dict(parts) | {f"xl/media/x{i}.xml": b"<x/>" for i in range(200)}
    cases = {
        "not a zip": (b"PK\x03\x04" + b"\x00" * 200, "not a readable XLSX workbook"),
        "broken XML": (_zip(broken_xml), "not a readable XLSX workbook"),
        "doctype": (_zip(doctype), "XML declarations that are not allowed"),
        "many parts": (_zip(many_parts), "more than 100 parts"),
    }
    for name, (content, expected) in cases.items():
        status, text = _upload(client, event, "p.xlsx", content)
        assert (name, status, expected in text) == (name, 400, True), text[-3000:]


def test_a_sheet_with_too_many_rows_is_refused_without_reading_it_all(
    client: TestClient, event: Event
) -> None:
    book = openpyxl.Workbook()
    book.active.append(["title"])
    for i in range(imports.MAX_ROWS + 500):
        book.active.append([f"Pitch {i}"])
    out = io.BytesIO()
    book.save(out)
    status, text = _upload(client, event, "many.xlsx", out.getvalue())
    assert (status, "The file has more than 2000 rows." in text) == (400, True)
    rows = imports.read_table(b"title\n" + b"x\n" * 100 + b"\n" * 400_000)
    assert len(rows) == 101  # a megabyte of blank lines is cut at the bound, then trimmed


def _payload(text: str) -> str:
    import html

    found = re.search(r'name="payload" value="([^"]*)"', text)
    assert found, "no confirm form"
    return html.unescape(found.group(1))


def test_the_confirm_step_refuses_20000_rows_and_tampered_previews(
    client: TestClient, db: Database, event: Event
) -> None:
    rows = [{"title": f"Pitch {i}"} for i in range(20_000)]
    # Unsigned: never parsed.
    status, text = _post(client, event, "pitches", data={"payload": json.dumps(rows)})
    assert (status, "The preview data was damaged" in text) == (400, True)
    # Signed with this event's secret, yet too many rows: the preview's limits hold here too.
    signed = imports.sign_preview("pitches", rows, secret=event.export_salt)
    status, text = _post(client, event, "pitches", data={"payload": signed})
    assert (status, "The file has more than 2000 rows." in text) == (400, True)

    # A real preview, then one changed row.
    status, preview = _upload(client, event, "p.csv", b"title\nHeat Pumps\nBike Lanes\n")
    assert status == 200
    real = _payload(preview)
    tampered = real.replace("Bike Lanes", "Bike Lanez")
    status, text = _post(client, event, "pitches", data={"payload": tampered})
    assert (status, "The preview data was damaged" in text) == (400, True)
    # Signed for the partner list, replayed against the pitches (and another event's key).
    other = imports.sign_preview("partners", [{"title": "X"}], secret=event.export_salt)
    foreign = imports.sign_preview("pitches", [{"title": "X"}], secret="another-event")
    for payload in (other, foreign):
        status, text = _post(client, event, "pitches", data={"payload": payload})
        assert (status, "The preview data was damaged" in text) == (400, True)
    # A JSON bomb, unsigned and signed: a clear 400, in German too.
    bomb = "[" * 100_000 + "]" * 100_000
    status, text = _post(client, event, "pitches", data={"payload": bomb}, lang=DE)
    assert (status, "Die Vorschaudaten sind beschädigt" in text) == (400, True)
    mac = imports.sign_preview("pitches", [], secret=event.export_salt).split(".")[0]
    assert mac  # a valid MAC for another body does not cover the bomb
    status, text = _post(client, event, "pitches", data={"payload": f"{mac}.{bomb}"})
    assert status == 400
    assert len(db.read(queries.load_state, event.id).pitches) == 3

    # The untouched preview still imports.
    status, _ = _post(client, event, "pitches", data={"payload": real})
    titles = [p.title for p in db.read(queries.load_state, event.id).pitches]
    assert titles[-2:] == ["Heat Pumps", "Bike Lanes"]
