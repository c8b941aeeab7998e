"""The invite list: imported from CSV or XLSX, including pretix's attendee export.

Reuses the import machinery of ``imports`` (file reading, header aliases, per-row
problems, preview before storing, all rows or none) and adds what an invite list needs:
pretix's split name columns, e-mail checks, and duplicates by e-mail or by name and
organisation.

pretix column mapping (the "Order data" export, one row per ticket, English and German
headers): "Attendee name" → name, or "Attendee name: Given name" + "…: Family name" when
the name is split; "Attendee email" → e-mail (the order's "Email" is the buyer's and is
ignored when the ticket has its own column); "Company" → organisation. Other columns are
ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from eventapp.admission import queries as admission
from eventapp.core.db import Database
from eventapp.errors import Refused
from eventapp.i18n import N_
from eventapp.organizing import imports
from eventapp.organizing.imports import CheckedImport, Column, ImportKind, RowError, problem

KIND = ImportKind(
    "invites",
    "Invite list",
    (
        Column(
            "name",
            "name",
            60,
            True,
            (
                "attendee name",
                "name des teilnehmers",
                "name der teilnehmerin",
                "teilnehmer name",
                "teilnehmername",
                "teilnehmende",
                "vollständiger name",
                "full name",
            ),
        ),
        Column(
            "organization",
            "organisation",
            80,
            False,
            ("company", "firma", "organization", "unternehmen", "invoice address: company"),
        ),
        Column(
            "email",
            "email",
            160,
            False,
            (
                "attendee email",
                "e-mail",
                "e-mail des teilnehmers",
                "teilnehmer e-mail",
                "mail",
                "email address",
            ),
        ),
    ),
    unique="",  # duplicates are checked below: by e-mail, else by name and organisation
)
# pretix splits names by the event's name scheme: "Attendee name: Given name", ...
_GIVEN = ("attendee name: given name", "attendee name: first name", "vorname")
_FAMILY = ("attendee name: family name", "attendee name: last name", "nachname")
_ORDER_EMAIL = ("email", "e-mail-adresse")
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+$")


def _prepare(table: Sequence[Sequence[str]]) -> list[list[str]]:
    """Add a "name" column from pretix's given/family parts when there is no full name,
    and use the order's e-mail when the ticket has none."""
    rows = [list(r) for r in table]
    header = [h.strip().casefold() for h in rows[0]]

    def find(names: Sequence[str]) -> int | None:
        return next((header.index(n) for n in names if n in header), None)

    full = find([c.casefold() for c in ("name", *KIND.columns[0].aliases)])
    given, family = find(_GIVEN), find(_FAMILY)
    if full is None and (given is not None or family is not None):
        rows[0].append("name")
        for r in rows[1:]:
            parts = [r[i] if i is not None and i < len(r) else "" for i in (given, family)]
            r.append(" ".join(p.strip() for p in parts if p.strip()))
    order_email = find(_ORDER_EMAIL)
    ticket_email = find(["attendee email", "e-mail des teilnehmers", "teilnehmer e-mail"])
    if order_email is not None and ticket_email is not None:
        # The buyer's address is not the guest's: only the ticket's own e-mail counts.
        rows[0][order_email] = "order email"
    return rows


def check_table(
    table: Sequence[Sequence[str]], existing: Sequence[tuple[str, str, str]] = ()
) -> CheckedImport:
    """Per-row problems (the import's rules plus e-mail and duplicate checks)."""
    checked = imports.check_rows(KIND, _prepare(table), ())
    errors = {e.row: list(e.problems) for e in checked.errors}
    seen: dict[str, int] = {}
    for name, org, email in existing:
        seen.setdefault(_key(name, org, email), 0)
    rows_ok: list[dict[str, str]] = []
    # Row numbers of the good rows: check_rows drops blank and bad rows, so recount.
    numbered = _numbers(table, checked)
    for number, row in numbered:
        problems: list[Refused] = []
        email = row.get("email", "")
        if email and not EMAIL.match(email):
            problems.append(problem("bad_email", "email", "is not an e-mail address"))
        key = _key(row["name"], row.get("organization", ""), email)
        if key in seen:
            params = {"value": repr(email or row["name"]), "row": str(seen[key])}
            problems.append(
                problem("repeated", "", N_("%(value)s repeats row %(row)s"), params)
                if seen[key]
                else problem("already_invited", "", N_("%(value)s is already invited"), params)
            )
        seen.setdefault(key, number)
        if problems:
            errors.setdefault(number, []).extend(problems)
        else:
            rows_ok.append(row)
    result = CheckedImport(KIND)
    result.rows = rows_ok
    result.errors = [RowError(n, tuple(p)) for n, p in sorted(errors.items())]
    return result


def _key(name: str, org: str, email: str) -> str:
    return f"@{email.casefold()}" if email else f"{name.casefold()}|{org.casefold()}"


def _numbers(
    table: Sequence[Sequence[str]], checked: CheckedImport
) -> list[tuple[int, dict[str, str]]]:
    bad = {e.row for e in checked.errors}
    numbers = [
        n
        for n, cells in enumerate(table[1:], start=2)
        if any(c.strip() for c in cells) and n not in bad
    ]
    return list(zip(numbers, checked.rows, strict=True))


def check_file(
    data: bytes, filename: str, existing: Sequence[tuple[str, str, str]] = ()
) -> CheckedImport:
    return check_table(imports.read_table(data, filename), existing)


def check_payload(
    rows: Sequence[dict[str, str]], existing: Sequence[tuple[str, str, str]]
) -> CheckedImport:
    """The confirmed preview, checked again (it came back from the browser)."""
    table = [[c.key for c in KIND.columns]]
    table += [[str(r.get(c.key, "")) for c in KIND.columns] for r in rows]
    return check_table(table, existing)


def existing_invites(event_id: int, *, db: Database) -> list[tuple[str, str, str]]:
    return [
        (i.name, i.organization, i.email) for i in db.read(admission.invites_of_event, event_id)
    ]


async def store(event_id: int, checked: CheckedImport, *, db: Database) -> int:
    """All rows or none."""
    if not checked.ok:
        raise imports.ImportFileError("Nothing was imported: fix the rows listed and try again.")
    return int(await db.run(admission.add_invites, event_id, checked.rows))
