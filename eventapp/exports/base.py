"""Exports: short declarative classes in a registry, written as CSV, XLSX or JSON.

An exporter turns the event into one ``Table``. The numbers of "votes per pitch" come
from ``summarize`` and ``rank_pitches``, the same functions that make the projector's
leaderboard, over the same counts (SQL, which the live tallies mirror), so exported
totals equal what the projector showed.

Spreadsheet cells that begin with = + - @ (or a tab or carriage return) are prefixed with
an apostrophe, so a name like ``=HYPERLINK(...)`` stays text in Excel (formula injection).
The same holds after every ``;`` ``,`` or tab inside a text cell: our CSV is
comma-separated, but German Excel splits on ``;``, so ``Ann;=1+1;`` would otherwise open as
a live formula in its own cell (``Ann;'=1+1;``). Characters XML cannot hold (a name with
U+FFFF stored before input refused it) become U+FFFD, so an XLSX is always well-formed.
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
from datetime import UTC, datetime
from typing import Any, ClassVar

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.i18n import Formats
from eventapp.voting import queries
from eventapp.voting.queries import EventState, SessionInfo

Cell = str | int | float | None
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    # German Excel: semicolons, decimal commas, UTF-8 BOM (opens in columns on a double-click).
    "excel": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
# A segment (the cell's start, or what follows a separator a spreadsheet may split on)
# that begins, after blanks or quotes, with a character that starts a formula.
_RISKY_SEGMENT = re.compile(r"""(^|[;,\t])(?=[\s"']*[=+\-@\t\r])""")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


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
    # The reader's language and the event's time zone: labels, reasons and times in cells.
    fmt: Formats = field(default_factory=lambda: Formats("en"))

    @property
    def event_id(self) -> int:
        assert self.event.id is not None
        return self.event.id

    def state(self) -> EventState:
        """The first stage's state (settings such as the scale are the event's)."""
        return self.db.read(queries.load_state, self.event_id)

    def states(self) -> list[EventState]:
        """Every stage's state in the stages' order: the whole conference (issue 15)."""
        return self.db.read(queries.load_states, self.event_id)

    def pitch_places(self) -> dict[int, tuple[int, str]]:
        """pitch id -> (its position on its stage, 1-based; its stage's name). The only
        stage of a one-stage event is named as the event."""
        return {
            p.id: (index, state.stage_name)
            for state in self.states()
            for index, p in enumerate(state.pitches, start=1)
        }

    def pitch_sessions(self) -> dict[int, SessionInfo]:
        """pitch id -> the session of its stage's agenda it is in (pitches in none are
        not listed)."""
        return self.db.read(queries.sessions_by_pitch, self.event_id)

    def session_title(self, sessions: dict[int, SessionInfo], pitch_id: int) -> str:
        """The pitch's session title for a ``session`` column; "" when in none."""
        found = sessions.get(pitch_id)
        return found.title if found is not None else ""

    def local_time(self, moment: datetime) -> str:
        """A stored (UTC) time in the event's zone, ISO 8601 with its offset."""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(self.fmt.tz()).isoformat(timespec="seconds")

    def pseudonym(self, attendee_id: int) -> str:
        """A stable voter id that cannot be turned back into the attendee without the
        event's secret salt (keyed HMAC, not a plain hash of a guessable number).

        Only the raw-votes export (which carries no names) uses it: an export with names
        must never carry it, or the two files together would show each named person's
        ratings. Others use ``row_pseudonym``, keyed separately per export."""
        digest = hmac.new(
            self.event.export_salt.encode(), str(attendee_id).encode(), hashlib.sha256
        )
        return "v-" + digest.hexdigest()[:16]

    def row_pseudonym(self, attendee_id: int, *, export: str) -> str:
        """A stable row id for one export, under a key of its own (derived from the salt
        and the export's name), so it links to no other export's ids."""
        key = hmac.new(self.event.export_salt.encode(), f"export:{export}".encode(), "sha256")
        digest = hmac.new(key.digest(), str(attendee_id).encode(), hashlib.sha256)
        return export[:1] + "-" + digest.hexdigest()[:16]


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
    """A text cell no spreadsheet reads as a formula, whichever separator it splits on."""
    if isinstance(value, PhoneNumber):
        return str(value)  # checked at input: only +, digits, spaces and ()/.- (no formula)
    if not isinstance(value, str):
        return value
    return _RISKY_SEGMENT.sub(lambda m: m.group(1) + "'", _XML_ILLEGAL.sub("\ufffd", value))


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if c is None else neutralise(c) for c in row])
    # A byte-order mark makes Excel read the umlauts as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _decimal_comma(value: Cell) -> Cell:
    # Plain digits, no thousands separator: German Excel reads "1234,5" as a number.
    if isinstance(value, float):
        return repr(value).replace(".", ",") if value == value else ""
    return value


def to_excel_csv(table: Table) -> bytes:
    """The CSV German Excel opens in columns: ``;`` between cells, ``,`` in decimals."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if c is None else neutralise(_decimal_comma(c)) for c in row])
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
    "excel": lambda t, _s, _e: to_excel_csv(t),
    "xlsx": lambda t, s, _e: to_xlsx(t, s),
    "json": to_json,
}
