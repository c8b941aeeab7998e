"""Command-line parts of issue 12 (called from ``cli``):

admission       set the admission mode (open, hall, invite), attendee cap, expected attendees
import-invites  add people to the invite list from CSV/XLSX (pretix export works as is)
badges          write name badges with personal QR codes as PDF (a6 or labels)
attendees       list attendees with their stuffing flags (tab-separated)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eventapp.admission import queries as admission
from eventapp.admission.rules import clean_count, clean_mode
from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.errors import Refused
from eventapp.organizing import attendees as electorate
from eventapp.organizing import badges, invites
from eventapp.settings import Settings

COMMANDS = ("admission", "import-invites", "badges", "attendees")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    adm = sub.add_parser("admission", help="admission mode, attendee cap, expected attendees")
    adm.add_argument("code")
    adm.add_argument("--mode", choices=["open", "hall", "invite"])
    adm.add_argument("--cap", help="most attendees admitted (0: no cap)")
    adm.add_argument("--expected", help="expected attendees, for turnout (0: not set)")
    inv = sub.add_parser("import-invites", help="add people to the invite list (CSV/XLSX)")
    inv.add_argument("code")
    inv.add_argument("file")
    inv.add_argument("--dry-run", action="store_true", help="check only, store nothing")
    bad = sub.add_parser("badges", help="write name badges with personal QR codes as PDF")
    bad.add_argument("code")
    bad.add_argument("--size", default="a6", choices=list(badges.SIZES))
    bad.add_argument("-o", "--output", required=True)
    lst = sub.add_parser("attendees", help="list attendees with stuffing flags")
    lst.add_argument("code")
    lst.add_argument("--flagged", action="store_true", help="only attendees with a flag")


def run(args: argparse.Namespace, db: Database, event: Event, settings: Settings) -> int:
    assert event.id is not None
    if args.command == "admission":
        try:
            mode = clean_mode(args.mode) if args.mode else None
            cap = None if args.cap is None else clean_count(args.cap, label="--cap")
            expected = (
                None if args.expected is None else clean_count(args.expected, label="--expected")
            )
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        adm = db.call(admission.save_admission, event.id, mode=mode, cap=cap, expected=expected)
        print(
            f"{event.code}: admission {adm.mode}, cap {adm.attendee_cap or 'none'}, "
            f"expected {adm.expected_attendees or 'not set'}"
        )
        return 0
    if args.command == "import-invites":
        existing = invites.existing_invites(event.id, db=db)
        checked = invites.check_file(Path(args.file).read_bytes(), args.file, existing)
        for error in checked.errors:
            print(f"row {error.row}: {error.message}", file=sys.stderr)
        if checked.errors:
            print("nothing imported", file=sys.stderr)
            return 2
        if not args.dry_run:
            db.call(admission.add_invites, event.id, checked.rows)
        print(f"{'checked' if args.dry_run else 'imported'} {len(checked.rows)} invites")
        return 0
    if args.command == "badges":
        if not settings.public_url:
            print("error: set PUBLIC_URL: badges print links to it", file=sys.stderr)
            return 2
        base = settings.public_url.rstrip("/")
        items = [
            badges.Badge(i.name, i.organization, f"{base}/e/{event.code}/i/{i.token}")
            for i in db.read(admission.invites_of_event, event.id)
        ]
        Path(args.output).write_bytes(badges.badges_pdf(items, size=args.size, event=event.name))
        print(f"wrote {len(items)} badges to {args.output}")
        return 0
    rows = db.read(electorate.attendee_rows, event.id)
    print("id\tname\torganisation\tjoined_at\taddress_group\tdevice\tvia\tvotes\tflags")
    for r in rows:
        if args.flagged and not r.flags:
            continue
        print(
            f"{r.id}\t{r.name}\t{r.organization}\t{r.joined_at.isoformat(timespec='seconds')}\t"
            f"{r.address_group}\t{r.device}\t{r.via}\t{r.votes}\t{','.join(r.flags)}"
        )
    return 0
