"""The organiser's work from the command line, for scripting (see ``python -m eventapp``).

export          write an export (votes, raw-votes, attendees, contacts, ...) as csv/xlsx/json
report          write the results report as PDF
import-pitches  append pitches from a CSV or XLSX file (all rows or none)
import-partners add organisations to the partner list from a CSV or XLSX file
settings        change an event's settings
purge           delete an event (or every event past its retention period) for good
admission, import-invites, badges, attendees: see ``admission_cli`` (issue 12)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from eventapp.core import privacy
from eventapp.core.bus import Bus, MemoryBus, RedisBus
from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.exports import base as exports
from eventapp.exports import registry
from eventapp.organizing import admission_cli, imports, report
from eventapp.organizing import rules as organizing
from eventapp.organizing.event_settings import (
    EventSettings,
    parse_days,
    parse_languages,
    parse_scale,
)
from eventapp.settings import Settings
from eventapp.voting import queries

T = TypeVar("T")

COMMANDS = (
    "export",
    "report",
    "import-pitches",
    "import-partners",
    "settings",
    "purge",
    *admission_cli.COMMANDS,
)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = sub.add_parser("export", help="write an export file")
    export.add_argument("code")
    export.add_argument("--what", required=True, choices=sorted(registry.BY_SLUG))
    export.add_argument("--format", default="csv", choices=sorted(exports.FORMATS))
    export.add_argument("-o", "--output", default="-", help="file to write ('-': stdout)")
    rep = sub.add_parser("report", help="write the results report as PDF")
    rep.add_argument("code")
    rep.add_argument("-o", "--output", required=True)
    for kind in imports.KINDS:
        imp = sub.add_parser(f"import-{kind}", help=f"import the {kind} from CSV or XLSX")
        imp.add_argument("code")
        imp.add_argument("file")
        imp.add_argument("--dry-run", action="store_true", help="check only, store nothing")
    sets = sub.add_parser("settings", help="change an event's settings")
    sets.add_argument("code")
    for name in ("name", "date", "languages", "language", "retention-days", "topics"):
        sets.add_argument(f"--{name}")
    sets.add_argument("--scale", help="rating scale, e.g. 1-5 (only before votes exist)")
    sets.add_argument("--labels", help="one label per score, separated by |")
    sets.add_argument(
        "--matrix",
        help="organisation-type matrix, lines separated by |, "
        "e.g. 'Start-up: Forschung, Verwaltung|KMU: Hochschule'",
    )
    sets.add_argument("--results", choices=["live", "blind"])
    sets.add_argument("--networking", choices=["on", "off"])
    purge = sub.add_parser("purge", help="delete an event and all its data")
    purge.add_argument("code", nargs="?")
    purge.add_argument(
        "--expired", action="store_true", help="purge every event past its retention period"
    )
    purge.add_argument(
        "--force", action="store_true", help="purge CODE even before its retention period ends"
    )
    admission_cli.add_parsers(sub)  # admission, import-invites, badges, attendees (issue 12)


def settings_input(args: argparse.Namespace, current: EventSettings) -> EventSettings:
    """The options given, over the event's current settings (``|`` separates lines)."""
    changes: dict[str, object] = {}
    for key in ("name", "date", "language"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.languages is not None:
        changes["languages"] = parse_languages(args.languages)
    if args.retention_days is not None:
        changes["retention_days"] = parse_days(args.retention_days)
    if args.results is not None:
        changes["live_results"] = args.results == "live"
    if args.networking is not None:
        changes["networking"] = args.networking == "on"
    if args.scale:
        low, _, high = args.scale.partition("-")
        changes["scale_min"], changes["scale_max"] = parse_scale(low, high)
    if args.labels is not None:
        changes["labels"] = tuple(args.labels.split("|"))
    if args.topics is not None:
        changes["topics"] = tuple(args.topics.split("|"))
    if args.matrix is not None:
        changes["org_type_matrix"] = args.matrix.replace("|", "\n")
    return dataclasses.replace(current, **changes)  # type: ignore[arg-type]


def _bus(settings: Settings) -> Bus:
    """Publish to Redis when the app runs on it, so open screens see the change."""
    if settings.redis_url:
        from redis.asyncio import Redis

        return RedisBus(Redis.from_url(settings.redis_url, decode_responses=True))
    return MemoryBus()


def _event(db: Database, code: str | None) -> Event:
    event = db.read(queries.event_by_code, code or "") if code else None
    if event is None or event.id is None:
        raise LookupError(f"no event with code {code!r}")
    return event


async def _publishing(settings: Settings, work: Callable[[Bus], Awaitable[T]]) -> T:
    """Run a rule that publishes its change (it gets the bus), then close the bus."""
    bus = _bus(settings)
    try:
        return await work(bus)
    finally:
        await bus.close()


def run(args: argparse.Namespace, db: Database, settings: Settings) -> int:
    try:
        return _run(args, db, settings)
    except LookupError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    except imports.ImportFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, db: Database, settings: Settings) -> int:
    if args.command == "purge":
        if args.expired:
            for code in privacy.purge_expired(db=db):
                print(f"purged {code}")
            return 0
        event = _event(db, args.code)
        if not args.force and not privacy.is_expired(event):
            ends = privacy.retention_ends(event).date().isoformat()
            print(
                f"error: {event.code} is kept until {ends}; add --force to delete it now",
                file=sys.stderr,
            )
            return 2
        privacy.purge_event(event, db=db)
        print(f"purged {event.code}")
        return 0
    event = _event(db, args.code)
    assert event.id is not None
    ctx = exports.ExportContext(db, event, settings.prior_weight)
    if args.command == "export":
        file = registry.export(args.what, args.format, ctx)
        if args.output == "-":
            sys.stdout.buffer.write(file.content)
        else:
            Path(args.output).write_bytes(file.content)
        return 0
    if args.command == "report":
        from eventapp.exports.networking import network_of

        Path(args.output).write_bytes(report.pdf(report.build_report(ctx, network_of(ctx))))
        return 0
    if args.command == "settings":
        changed = settings_input(args, EventSettings.of_event(event))
        event_id = event.id
        asyncio.run(
            _publishing(
                settings,
                lambda bus: organizing.update_settings(
                    event, changed, db=db, bus=bus, namespace=settings.namespace
                ),
            )
        )
        print(f"saved settings of {event.code} (event {event_id})")
        return 0
    if args.command in admission_cli.COMMANDS:
        return admission_cli.run(args, db, event, settings)
    kind = args.command.removeprefix("import-")
    data = Path(args.file).read_bytes()
    existing = imports.existing_values(kind, event.id, db=db)
    stage_names = imports.stage_names(kind, event.id, db=db)
    checked = imports.check_file(kind, data, args.file, existing, stage_names)
    for error in checked.errors:
        print(f"row {error.row}: {error.message}", file=sys.stderr)
    if checked.errors:
        print("nothing imported", file=sys.stderr)
        return 2
    if not args.dry_run:
        asyncio.run(
            _publishing(
                settings,
                lambda bus: imports.apply_import(
                    event.id or 0, checked, db=db, bus=bus, namespace=settings.namespace
                ),
            )
        )
    print(f"{'checked' if args.dry_run else 'imported'} {len(checked.rows)} {kind}")
    return 0
