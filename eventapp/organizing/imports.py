"""Importing the pitch list and the partner list from CSV or XLSX.

``read_table`` turns a file into rows; ``check_rows`` validates every row and collects
one clear message per bad row; ``apply_import`` writes all rows in one transaction or
none. Organisers see the checked rows as a preview before anything is stored.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from eventapp.core import queries as shared
from eventapp.core.bus import Bus
from eventapp.core.db import Database
from eventapp.core.validation import InvalidInput, clean_text
from eventapp.errors import Refused
from eventapp.i18n import N_
from eventapp.organizing import queries as store
from eventapp.voting.queries import EventState
from eventapp.voting.rules import publish_state, publish_states

MAX_BYTES = 1_000_000  # a list of a few hundred organisations is a few kB
MAX_ROWS = 2000
# Columns read from a sheet: ours have at most four, a real export has a few dozen.
MAX_COLUMNS = 50
# An XLSX is a zip: its listing is checked before openpyxl opens anything. 2,000 rows of
# text unpack to about 1 MB; a zip bomb unpacks to gigabytes from a few kB.
MAX_XLSX_UNCOMPRESSED = 20_000_000
MAX_XLSX_RATIO = 100  # uncompressed/compressed, per part and overall
MAX_XLSX_PARTS = 100


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
        N_("Pitches"),
        (
            Column("title", "title", 160, True, ("titel", "pitch", "projekt", "project")),
            Column(
                "presenter",
                "presenter",
                160,
                False,
                ("präsentiert von", "vortragende", "organisation", "organization"),
            ),
            # Stages and sessions (issue 15): by name, both optional.
            Column("stage", "stage", 80, False, ("bühne", "saal", "raum", "room", "track")),
            Column("session", "session", 160, False, ("sitzung", "block", "slot")),
        ),
        unique="title",
    ),
    "partners": ImportKind(
        "partners",
        N_("Partner list"),
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
    %(placeholders)s, so the page can translate it before filling them in."""

    def __init__(self, text: str, **params: object) -> None:
        self.text = text
        self.params = {k: str(v) for k, v in params.items()}
        super().__init__(text % self.params)

    def render(self, gettext: Callable[[str], str] = str) -> str:
        return gettext(self.text) % self.params


def problem(
    code: str, column: str, text: str, params: Mapping[str, str | int] | None = None
) -> Refused:
    """One thing wrong with a row: a ``Refused`` whose ``column`` param names the column
    (English, an ``_()`` key; empty when the problem is the whole row's)."""
    return Refused(code, text, {"column": column, **(params or {})})


def _problem(exc: InvalidInput) -> Refused:
    # The rule's English template and parameters, translated where the page shows them.
    return problem("bad_value", exc.field, exc.template, exc.params)


def _say(refusal: Refused, gettext: Callable[[str], str]) -> str:
    """``column what is wrong`` ("title is required"), both parts translated."""
    column = str(refusal.params.get("column", ""))
    body = refusal.render(gettext)
    return f"{gettext(column)} {body}" if column else body


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1
    problems: tuple[Refused, ...]

    @property
    def message(self) -> str:
        return self.translated(str)

    def translated(self, gettext: Callable[[str], str]) -> str:
        return "; ".join(_say(p, gettext) for p in self.problems)

    def render(self, gettext: Callable[[str], str]) -> str:
        """Pages show a row's problems with ``{{ _(row_error) }}``."""
        return self.translated(gettext)


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
        raise ImportFileError("The file is larger than %(mb)s MB.", mb=MAX_BYTES // 1_000_000)
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
        raise ImportFileError("The file has more than %(n)s rows.", n=MAX_ROWS)
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
    rows: list[list[str]] = []
    try:
        # Bounded like the XLSX reader: one row past the limit is enough to refuse it.
        for record in csv.reader(io.StringIO(text), delimiter=delimiter, strict=True):
            rows.append(record[:MAX_COLUMNS])
            if len(rows) >= MAX_ROWS + 2:
                break
        return rows
    except csv.Error as exc:
        raise ImportFileError("The CSV file is malformed: %(detail)s.", detail=exc) from None


def check_xlsx_listing(data: bytes) -> None:
    """Refuse a workbook whose zip listing promises too much, before anything is
    unpacked: too many parts, too many bytes, or a compression ratio no spreadsheet has.
    The sizes in the listing bound what zipfile will inflate (it stops at the declared
    size), and XML with a document type (entity tricks) is refused too."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
            if len(parts) > MAX_XLSX_PARTS:
                raise ImportFileError(
                    "The workbook has more than %(n)s parts; save it again as a plain XLSX.",
                    n=MAX_XLSX_PARTS,
                )
            total = sum(p.file_size for p in parts)
            packed = sum(p.compress_size for p in parts)
            ratios = [p.file_size / max(p.compress_size, 1) for p in parts if p.file_size > 4096]
            if (
                total > MAX_XLSX_UNCOMPRESSED
                or total / max(packed, 1) > MAX_XLSX_RATIO
                or any(r > MAX_XLSX_RATIO for r in ratios)
            ):
                raise ImportFileError(
                    "The workbook unpacks to more than %(mb)s MB or is compressed "
                    "suspiciously well; it is not read.",
                    mb=MAX_XLSX_UNCOMPRESSED // 1_000_000,
                )
            for part in parts:
                if part.filename.endswith((".xml", ".rels")):
                    with archive.open(part) as handle:
                        head = handle.read(4096)
                    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                        raise ImportFileError(
                            "The workbook contains XML declarations that are not allowed."
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise ImportFileError(
            "The file is not a readable XLSX workbook (%(detail)s).", detail=exc
        ) from None


def _read_xlsx(data: bytes) -> list[list[str]]:
    import openpyxl  # imported here: only imports and exports need it

    check_xlsx_listing(data)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # bad zip, bad XML, missing parts: all "not readable"
        raise ImportFileError(
            "The file is not a readable XLSX workbook (%(detail)s).", detail=_short(exc)
        ) from None
    try:
        sheet = book.worksheets[0]
        rows: list[list[str]] = []
        # Explicit bounds: never ask the sheet for its size (its dimension tag may lie,
        # and without one openpyxl would read every row to find it).
        for values in sheet.iter_rows(
            min_row=1, max_row=MAX_ROWS + 2, max_col=MAX_COLUMNS, values_only=True
        ):
            rows.append(["" if v is None else str(v) for v in values])
        return rows
    except ImportFileError:
        raise
    except Exception as exc:  # XML errors surface while rows are read
        raise ImportFileError(
            "The file is not a readable XLSX workbook (%(detail)s).", detail=_short(exc)
        ) from None
    finally:
        book.close()


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


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
            "Missing column: %(missing)s. The first row must name the columns (%(expected)s).",
            missing=", ".join(missing),
            expected=expected,
        )
    return found


def _unknown_stage(name: str, known: Sequence[str]) -> Refused:
    return problem(
        "unknown_stage",
        "stage",
        N_("names no stage of this event: %(name)s (stages: %(known)s)"),
        {"name": name, "known": ", ".join(known)},
    )


def check_rows(
    kind: ImportKind,
    table: Sequence[Sequence[str]],
    existing: Sequence[str] = (),
    stages: Sequence[str] | None = None,
) -> CheckedImport:
    """Validate every row; ``existing`` are values of the unique column already stored.

    ``stages``: the names of the event's stages (pitches). A ``stage`` cell must name one
    of them (case does not matter), or the row is refused with the known names: a typo
    must not open a ghost room. Only an event that has just its one unnamed stage (it
    never chose stages) gets the stages its file names created."""
    result = CheckedImport(kind)
    columns = _header_map(kind, table[0])
    named = [s for s in stages or () if s]
    creates_stages = stages is not None and not named
    seen: dict[str, int] = {v.casefold(): 0 for v in existing}
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        row: dict[str, str] = {}
        problems: list[Refused] = []
        # More cells than the header names: usually a value with an unquoted separator,
        # which would shift every later column. Refused, never dropped silently.
        if any(c.strip() for c in cells[len(table[0]) :]):
            problems.append(
                problem(
                    "extra_cells",
                    "",
                    "has more cells than the first row has columns (%(columns)s); "
                    "put values that contain the separator in quotes",
                    {"columns": str(len(table[0]))},
                )
            )
        for column in kind.columns:
            index = columns.get(column.key)
            raw = cells[index] if index is not None and index < len(cells) else ""
            if raw.lstrip().startswith("="):
                problems.append(
                    problem("formula", column.label, "holds a formula; enter the value instead")
                )
                continue
            try:
                row[column.key] = clean_text(
                    raw, field=column.label, max_length=column.max_length, required=column.required
                )
            except InvalidInput as exc:
                problems.append(_problem(exc))
        stage = row.get("stage", "")
        if stages is not None and stage and not creates_stages:
            if stage.casefold() not in {s.casefold() for s in named}:
                problems.append(_unknown_stage(stage, named))
            else:  # as the event spells it
                row["stage"] = next(s for s in named if s.casefold() == stage.casefold())
        if not problems and kind.unique in row:
            key = row[kind.unique].casefold()
            if key in seen:
                value = {"value": repr(row[kind.unique]), "row": str(seen[key])}
                problems.append(
                    problem("repeated", "", N_("%(value)s repeats row %(row)s"), value)
                    if seen[key]
                    else problem(
                        "already_stored", "", N_("%(value)s repeats what is already stored"), value
                    )
                )
            seen.setdefault(key, number)
        if problems:
            result.errors.append(RowError(number, tuple(problems)))
        else:
            result.rows.append(row)
    return result


def sign_preview(kind_slug: str, rows: Sequence[dict[str, str]], *, secret: str) -> str:
    """The preview's rows as the confirm form carries them: ``<hmac>.<json>``. The
    key is derived from a per-event secret, so only this server's preview of this event
    (and this kind of list) is accepted back."""
    body = json.dumps(list(rows), ensure_ascii=False, separators=(",", ":"))
    return f"{_preview_mac(kind_slug, body, secret)}.{body}"


def _preview_mac(kind_slug: str, body: str, secret: str) -> str:
    key = hmac.new(secret.encode(), b"import-preview", hashlib.sha256).digest()
    return hmac.new(key, f"{kind_slug}\n{body}".encode(), hashlib.sha256).hexdigest()


def check_confirmed(
    kind_slug: str,
    payload: str,
    *,
    secret: str,
    existing: Sequence[str] = (),
    stages: Sequence[str] | None = None,
) -> CheckedImport:
    """The confirm step: the payload must be a preview this server signed, and it is
    checked again with the same row, field and size limits as the file was."""
    kind = KINDS[kind_slug]
    damaged = ImportFileError("The preview data was damaged. Upload the file again.")
    if len(payload) > MAX_BYTES * 2:
        raise ImportFileError("The file is larger than %(mb)s MB.", mb=MAX_BYTES // 1_000_000)
    mac, _, body = payload.partition(".")
    if not hmac.compare_digest(mac.encode(), _preview_mac(kind_slug, body, secret).encode()):
        raise damaged  # checked before parsing: a forged payload is never parsed
    try:
        rows = json.loads(body)
    except (ValueError, RecursionError):
        raise damaged from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise damaged
    if len(rows) > MAX_ROWS:
        raise ImportFileError("The file has more than %(n)s rows.", n=MAX_ROWS)
    table = [[c.key for c in kind.columns]]
    table += [[_cell(r.get(c.key, "")) for c in kind.columns] for r in rows]
    return check_rows(kind, table, existing, stages)


def _cell(value: object) -> str:
    return value if isinstance(value, str) else ""


def check_file(
    kind_slug: str,
    data: bytes,
    filename: str,
    existing: Sequence[str] = (),
    stages: Sequence[str] | None = None,
) -> CheckedImport:
    kind = KINDS[kind_slug]
    return check_rows(kind, read_table(data, filename), existing, stages)


async def apply_import(
    event_id: int, checked: CheckedImport, *, db: Database, bus: Bus, namespace: str
) -> EventState | int:
    """Store every checked row, or nothing when any row is bad."""
    if not checked.ok:
        raise ImportFileError("Nothing was imported: fix the rows listed and try again.")
    if checked.kind.slug == "pitches":
        if any(r.get("stage") or r.get("session") for r in checked.rows):
            from eventapp.voting.rules import new_key

            states = await db.run(store.import_pitches, event_id, checked.rows, new_key)
            await publish_states(states, bus=bus, namespace=namespace)
            return states[0]
        specs = [(r["title"], r.get("presenter", ""), None) for r in checked.rows]
        state = await db.run(store.add_pitches, event_id, specs)
        return await publish_state(state, bus=bus, namespace=namespace)
    return int(await db.run(store.add_partners, event_id, checked.rows))


def existing_values(kind_slug: str, event_id: int, *, db: Database) -> list[str]:
    if kind_slug == "pitches":
        from eventapp.voting import queries

        # Titles are unique across the conference: every stage's pitches.
        return [p.title for s in db.read(queries.load_states, event_id) for p in s.pitches]
    return [p.name for p in db.read(shared.partners_of_event, event_id)]


def stage_names(kind_slug: str, event_id: int, *, db: Database) -> list[str] | None:
    """The event's stage names for a pitch import (None for other lists)."""
    if kind_slug != "pitches":
        return None
    from eventapp.voting import queries

    return [s.name for s in db.read(queries.stages_of, event_id)]
