"""Exports: short declarative classes in a registry, written as CSV, XLSX or JSON.

An exporter turns the event into one ``Table``. The numbers of "votes per pitch" come
from ``summarize`` and ``rank_pitches``, the same functions that make the projector's
leaderboard, over the same counts (SQL, which the live tallies mirror), so exported
totals equal what the projector showed.

Spreadsheet cells that begin with = + - @ (or a tab or carriage return) are prefixed with
an apostrophe, so a name like ``=HYPERLINK(...)`` stays text in Excel (formula injection).
JSON keeps values exactly: it is not opened by a spreadsheet.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.voting import queries
from eventapp.voting.queries import EventState

Cell = str | int | float | None
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
_RISKY = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[list[Cell]]
    note: str = ""


@dataclass(frozen=True)
class ExportContext:
    """What every exporter may read: the database, the event, the ranking's weight."""

    db: Database
    event: Event
    prior_weight: float = 5.0

    @property
    def event_id(self) -> int:
        assert self.event.id is not None
        return self.event.id

    def state(self) -> EventState:
        return self.db.read(queries.load_state, self.event_id)

    def pseudonym(self, attendee_id: int) -> str:
        """A stable voter id that cannot be turned back into the attendee without the
        event's secret salt (keyed HMAC, not a plain hash of a guessable number)."""
        digest = hmac.new(
            self.event.export_salt.encode(), str(attendee_id).encode(), hashlib.sha256
        )
        return "v-" + digest.hexdigest()[:16]


class Exporter:
    slug: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    group: ClassVar[str] = "votes"

    def table(self, ctx: ExportContext) -> Table:
        raise NotImplementedError


# ------------------------------------------------------------------ writers


class PhoneNumber(str):
    """A phone number checked at export to be only "+", digits, spaces and ()/.- : it
    cannot carry a formula, so it is written as typed ("+49 30 …", no apostrophe) and as
    a text cell in XLSX."""

    SAFE = re.compile(r"^\+?[0-9][0-9 ()/.-]{0,38}$")

    @classmethod
    def of(cls, value: str | None) -> Cell:
        return cls(value) if value and cls.SAFE.match(value) else value


def neutralise(value: Cell) -> Cell:
    if isinstance(value, PhoneNumber):
        return str(value)
    if isinstance(value, str) and value.startswith(_RISKY):
        return "'" + value
    return value


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if c is None else neutralise(c) for c in row])
    # A byte-order mark makes Excel read the umlauts as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table, title: str) -> bytes:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(list(table.columns))
    for row in table.rows:
        sheet.append(
            [_text_cell(sheet, c) if isinstance(c, PhoneNumber) else neutralise(c) for c in row]
        )
    if table.note:
        sheet.append([])
        sheet.append([neutralise(table.note)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _text_cell(sheet: Any, value: PhoneNumber) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=str(value))
    cell.number_format = "@"  # text: Excel shows "+49 30 …" as typed
    return cell


def to_json(table: Table, slug: str, event: Event) -> bytes:
    body = {
        "export": slug,
        "event": {"code": event.code, "name": event.name},
        "note": table.note,
        "columns": list(table.columns),
        "rows": [dict(zip(table.columns, r, strict=True)) for r in table.rows],
    }
    return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")


@dataclass(frozen=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes = field(repr=False)


WRITERS: dict[str, Callable[[Table, str, Event], bytes]] = {
    "csv": lambda t, _s, _e: to_csv(t),
    "xlsx": lambda t, s, _e: to_xlsx(t, s),
    "json": to_json,
}
