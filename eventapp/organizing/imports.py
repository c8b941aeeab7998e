"""Importing the pitch list and the partner list from CSV or XLSX.

``read_table`` turns a file into rows; ``check_rows`` validates every row and collects
one clear message per bad row; ``apply_import`` writes all rows in one transaction or
none. Organisers see the checked rows as a preview before anything is stored.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventapp.core import queries as shared
from eventapp.core.db import Database
from eventapp.core.validation import InvalidInput, clean_text
from eventapp.organizing import queries as store
from eventapp.organizing.rules import Publisher
from eventapp.voting.queries import EventState

MAX_BYTES = 1_000_000  # a list of a few hundred organisations is a few kB
MAX_ROWS = 2000


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    max_length: int
    required: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportKind:
    slug: str
    title: str
    columns: tuple[Column, ...]
    unique: str  # the column that must not repeat (case-insensitive)


KINDS = {
    "pitches": ImportKind(
        "pitches",
        "Pitches",
        (
            Column("title", "title", 160, True, ("titel", "pitch", "projekt", "project")),
            Column(
                "presenter",
                "presenter",
                160,
                False,
                ("präsentiert von", "vortragende", "organisation", "organization"),
            ),
        ),
        unique="title",
    ),
    "partners": ImportKind(
        "partners",
        "Partner list",
        (
            Column(
                "name",
                "organisation",
                120,
                True,
                ("organisation", "organization", "partner", "firma", "unternehmen"),
            ),
            Column(
                "org_type",
                "type",
                60,
                False,
                ("type", "typ", "organisation type", "organisationstyp", "art"),
            ),
            Column("contact", "contact", 120, False, ("ansprechperson", "kontakt", "person")),
            Column("email", "email", 160, False, ("e-mail", "mail")),
        ),
        unique="name",
    ),
}


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not a row problem). ``text`` is English with
    {placeholders}, so the page can translate it before filling them in."""

    def __init__(self, text: str, **params: object) -> None:
        self.text = text
        self.params = {k: str(v) for k, v in params.items()}
        super().__init__(text.format(**self.params))

    def render(self, gettext: Callable[[str], str] = str) -> str:
        return gettext(self.text).format(**self.params)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a cell, kept in parts so the page can translate it."""

    field: str
    text: str  # English, with {placeholders} filled from params
    params: tuple[tuple[str, str], ...] = ()

    def render(self, gettext: Callable[[str], str] = str) -> str:
        body = gettext(self.text).format(**dict(self.params))
        return f"{gettext(self.field)} {body}" if self.field else body


_LONGER = re.compile(r"^is longer than (\d+) characters$")


def _problem(exc: InvalidInput) -> Problem:
    longer = _LONGER.match(exc.message)
    if longer:
        return Problem(exc.field, "is longer than {n} characters", (("n", longer.group(1)),))
    return Problem(exc.field, exc.message)


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1
    problems: tuple[Problem, ...]

    @property
    def message(self) -> str:
        return "; ".join(p.render() for p in self.problems)

    def translated(self, gettext: Callable[[str], str]) -> str:
        return "; ".join(p.render(gettext) for p in self.problems)


@dataclass
class CheckedImport:
    kind: ImportKind
    rows: list[dict[str, str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)


def read_table(data: bytes, filename: str = "") -> list[list[str]]:
    """The file's cells as text, header row first. CSV (comma, semicolon or tab; UTF-8 or
    Windows-1252, as German Excel writes it) or XLSX (first sheet)."""
    if len(data) > MAX_BYTES:
        raise ImportFileError("The file is larger than {mb} MB.", mb=MAX_BYTES // 1_000_000)
    if not data.strip():
        raise ImportFileError("The file is empty.")
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        rows = _read_xlsx(data)
    else:
        rows = _read_csv(data)
    # Blank rows stay in place (and are skipped later), so row numbers in messages are
    # the ones the spreadsheet shows.
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise ImportFileError("The file has no rows.")
    if len(rows) - 1 > MAX_ROWS:
        raise ImportFileError("The file has more than {n} rows.", n=MAX_ROWS)
    return rows


def _read_csv(data: bytes) -> list[list[str]]:
    if b"\x00" in data:
        raise ImportFileError("The file is not a CSV text file or an XLSX workbook.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    try:
        return [list(r) for r in csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)]
    except csv.Error as exc:
        raise ImportFileError("The CSV file is malformed: {detail}.", detail=exc) from None


def _read_xlsx(data: bytes) -> list[list[str]]:
    import openpyxl  # imported here: only imports and exports need it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise ImportFileError(
            "The file is not a readable XLSX workbook ({detail}).", detail=exc
        ) from None
    try:
        sheet = book.worksheets[0]
        rows: list[list[str]] = []
        for values in sheet.iter_rows(values_only=True):
            rows.append(["" if v is None else str(v) for v in values])
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    finally:
        book.close()


def _header_map(kind: ImportKind, header: Sequence[str]) -> dict[str, int]:
    names = [h.strip().casefold() for h in header]
    found: dict[str, int] = {}
    for column in kind.columns:
        for alias in (column.key, column.label, *column.aliases):
            if alias.casefold() in names:
                found[column.key] = names.index(alias.casefold())
                break
    missing = [c.label for c in kind.columns if c.required and c.key not in found]
    if missing:
        expected = ", ".join(c.label for c in kind.columns)
        raise ImportFileError(
            "Missing column: {missing}. The first row must name the columns ({expected}).",
            missing=", ".join(missing),
            expected=expected,
        )
    return found


def check_rows(
    kind: ImportKind, table: Sequence[Sequence[str]], existing: Sequence[str] = ()
) -> CheckedImport:
    """Validate every row; ``existing`` are values of the unique column already stored."""
    result = CheckedImport(kind)
    columns = _header_map(kind, table[0])
    seen: dict[str, int] = {v.casefold(): 0 for v in existing}
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        row: dict[str, str] = {}
        problems: list[Problem] = []
        # More cells than the header names: usually a value with an unquoted separator,
        # which would shift every later column. Refused, never dropped silently.
        if any(c.strip() for c in cells[len(table[0]) :]):
            problems.append(
                Problem(
                    "",
                    "has more cells than the first row has columns ({columns}); "
                    "put values that contain the separator in quotes",
                    (("columns", str(len(table[0]))),),
                )
            )
        for column in kind.columns:
            index = columns.get(column.key)
            raw = cells[index] if index is not None and index < len(cells) else ""
            if raw.lstrip().startswith("="):
                problems.append(Problem(column.label, "holds a formula; enter the value instead"))
                continue
            try:
                row[column.key] = clean_text(
                    raw, field=column.label, max_length=column.max_length, required=column.required
                )
            except InvalidInput as exc:
                problems.append(_problem(exc))
        if not problems and kind.unique in row:
            key = row[kind.unique].casefold()
            if key in seen:
                value = (("value", repr(row[kind.unique])), ("row", str(seen[key])))
                problems.append(
                    Problem(
                        "",
                        "{value} repeats row {row}"
                        if seen[key]
                        else "{value} repeats what is already stored",
                        value,
                    )
                )
            seen.setdefault(key, number)
        if problems:
            result.errors.append(RowError(number, tuple(problems)))
        else:
            result.rows.append(row)
    return result


def check_file(
    kind_slug: str, data: bytes, filename: str, existing: Sequence[str] = ()
) -> CheckedImport:
    kind = KINDS[kind_slug]
    return check_rows(kind, read_table(data, filename), existing)


async def apply_import(
    event_id: int, checked: CheckedImport, *, db: Database, publish: Publisher
) -> EventState | int:
    """Store every checked row, or nothing when any row is bad."""
    if not checked.ok:
        raise ImportFileError("Nothing was imported: fix the rows listed and try again.")
    if checked.kind.slug == "pitches":
        specs = [(r["title"], r.get("presenter", ""), None) for r in checked.rows]
        return await publish.state(await db.run(store.add_pitches, event_id, specs))
    return int(await db.run(store.add_partners, event_id, checked.rows))


def existing_values(kind_slug: str, event_id: int, *, db: Database) -> list[str]:
    if kind_slug == "pitches":
        from eventapp.voting import queries

        return [p.title for p in db.read(queries.load_state, event_id).pitches]
    return [p.name for p in db.read(shared.partners_of_event, event_id)]
