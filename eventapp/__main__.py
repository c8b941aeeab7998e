"""Command line: ``python -m eventapp {demo,serve,migrate,create,links}``.

    demo     seed a demo event (the smart-city model event), print its links, serve it
    serve    serve the app (settings from the environment, see README)
    migrate  upgrade the database schema to the newest revision (--sql: print the SQL)
    backup   copy the SQLite database to a file while the app runs (online backup)
    create   create an event with its pitches and print its links (--json for scripts)
    links    print the links of an existing event

Organiser commands (export, report, import-pitches, import-partners, settings, purge):
see eventapp/organizer_cli.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sqlmodel import Session

from eventapp.core import schema as migrations
from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.core.validation import InvalidInput
from eventapp.errors import Refused
from eventapp.organizing import cli as organizer_cli
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, StageSpec, create_event
from eventapp.web.render import event_links, stage_links

DEMO_NAME = "Smart-City-Allianz: Projektbörse 2026"
DEMO_PITCHES = [
    ("Smartes Parken in der Innenstadt", "Stadtwerke"),
    ("Kommunale Wärmeplanung im Quartier", "Klimaschutzagentur"),
    ("Sensorgestützte Straßenbeleuchtung", "Tiefbauamt"),
    ("Digitaler Zwilling der Altstadt", "Hochschule für Technik"),
    ("Mobilitätsstationen im Umland", "Verkehrsverbund"),
    ("Leerstandsbörse für Wohnraum", "Wohnungsbaugesellschaft"),
    ("Hitzeaktionsplan mit Bürgerdaten", "Gesundheitsamt"),
    ("Barrierefreie Haltestellen-App", "Start-up Wegweiser"),
    ("Open-Data-Portal der Region", "IHK"),
    ("Quartiersstrom aus Mieterstrom", "Energiegenossenschaft"),
    ("Smarte Abfallbehälter", "Entsorgungsbetrieb"),
    ("Telemedizin für ältere Menschen", "Klinikverbund"),
    ("Lastenrad-Sharing für Gewerbe", "Handwerkskammer"),
    ("Digitale Bauantragsstrecke", "Bauordnungsamt"),
    ("Frühwarnsystem Starkregen", "Umweltamt"),
    ("Co-Working im ländlichen Raum", "Wirtschaftsförderung"),
    ("Schulwegsicherheit mit Verkehrsdaten", "Forschungsinstitut Mobilität"),
    ("Bürgerbeteiligung per App", "Stadtverwaltung"),
]


# The demo conference's two rooms, the 18 pilot projects split between them.
DEMO_STAGES = [("Saal A", slice(0, 9)), ("Saal B", slice(9, 18))]


class _Agenda(argparse.Action):
    """``--stage`` and ``--pitch`` in the order given: pitches after a stage are its own."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.append((option_string, str(values)))
        setattr(namespace, self.dest, items)


def _agenda(items: Sequence[tuple[str, str]]) -> tuple[list[PitchSpec], list[StageSpec] | None]:
    """Pitches and stages from ``create``'s options: without ``--stage`` one unnamed stage
    (as before stages existed); pitches before the first ``--stage`` are refused."""

    def pitch(spec: str) -> PitchSpec:
        return PitchSpec(*(part.strip() for part in spec.split("|", 1)))

    if not any(option == "--stage" for option, _ in items):
        return [pitch(v) for _, v in items], None
    if items[0][0] != "--stage":
        raise Refused("pitch_before_stage", "Put a --stage before the first --pitch.")
    stages: list[tuple[str, list[PitchSpec]]] = []
    for option, value in items:
        if option == "--stage":
            stages.append((value, []))
        else:
            stages[-1][1].append(pitch(value))
    names = [name.strip().casefold() for name, _ in stages]
    if not all(names) or len(set(names)) != len(names):
        raise Refused("bad_stage_name", "Every --stage needs a name of its own.")
    return [], [StageSpec(name, specs) for name, specs in stages]


def _print_links(event: Event, base: str, as_json: bool, db: Database) -> None:
    """The event's links; with several stages (or a named one), every stage's moderator,
    projector and phone link after the attendee and organiser links."""
    assert event.id is not None
    stages = db.read(queries.stages_of, event.id)
    links = event_links(event, base, stages[0])
    per_stage = [{"id": s.id, "name": s.name, "links": stage_links(event, base, s)} for s in stages]
    if as_json:
        body = {"code": event.code, "name": event.name, "links": links, "stages": per_stage}
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return
    print(f"\n  {event.name}   (event code {event.code})\n")
    if len(stages) == 1 and not stages[0].name:
        for role, url in links.items():
            print(f"  {role:<10} {url}")
        print()
        return
    for role in ("attendee", "organizer"):
        print(f"  {role:<10} {links[role]}")
    for stage in stages:
        print(f"\n  {stage.name or event.name}")
        for role, url in stage_links(event, base, stage).items():
            print(f"    {'phone' if role == 'attendee' else role:<10} {url}")
    print()


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _existing_demo(db: Database) -> Event | None:
    from sqlmodel import select

    def first(session: Session, /) -> Event | None:
        return session.exec(select(Event).where(Event.name == DEMO_NAME).order_by(Event.id)).first()  # type: ignore[arg-type]

    return db.read(first)


GRACEFUL_SECONDS = 10
# Connections the kernel queues until the server accepts them (capped by the kernel's
# net.core.somaxconn, 4096 on current Linux). When a hall's Wi-Fi comes back, thousands of
# phones connect within a second; each connection the full queue turns away costs its
# phone a TCP retry 1 s later, then 3, 7 and 15 s (uvicorn's default: 2048).
# docs/deploy.md, "A big hall".
BACKLOG = 4096


def _serve(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    *,
    access_log: bool = False,
    backlog: int = BACKLOG,
) -> None:
    import uvicorn

    from eventapp.web import limits

    uvicorn.run(
        "eventapp.app:app_from_environ" if workers > 1 else _app(settings),  # type: ignore[arg-type]
        factory=workers > 1,
        host=host,
        port=port,
        workers=workers,
        backlog=backlog,
        # Forwarded headers are handled by the app, from TRUSTED_PROXIES only (see README).
        proxy_headers=False,
        # On SIGTERM: stop accepting, close sockets with 1012 (phones move on at once),
        # then at most this long for requests in flight before the writer's last commit.
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        ws="websockets-sansio",
        ws_max_size=64 * 1024,
        # Connection hygiene (README, "Security"): a deadline for request headers, a cap on
        # their size, and a short keep-alive; body limits are the app's BodyLimits.
        http=limits.GuardedH11Protocol,
        h11_max_incomplete_event_size=limits.MAX_HEADER_BYTES,
        timeout_keep_alive=limits.KEEP_ALIVE_SECONDS,
        # Access lines (keys and tokens masked, see web/logs.py) only when asked for: the
        # demo and a quiet console do without them.
        log_level="info" if access_log else "warning",
        access_log=access_log,
    )


def _migrate(settings: Settings, *, sql: bool) -> int:
    if sql:
        from alembic.util.exc import CommandError

        try:
            migrations.upgrade_sql(settings.database_url, out=sys.stdout)
        except CommandError:  # SQLite's batch table copies need the live tables
            print(
                "error: --sql prints SQL for PostgreSQL; for SQLite run "
                "`python -m eventapp migrate` itself (back up the file first)",
                file=sys.stderr,
            )
            return 2
        return 0
    result = migrations.migrate(settings.database_url)
    if result.stamped:
        print(f"database without migration history recognised as revision {result.stamped}")
    before = result.stamped or result.before or "empty"
    if before == result.after:
        print(f"database schema is at the newest revision ({result.after})")
    else:
        print(f"database schema upgraded from {before} to {result.after}")
    return 0


def _backup(settings: Settings, target: str) -> int:
    """SQLite's online backup API: a consistent copy while votes are being written."""
    import sqlite3

    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        print("error: backup copies a SQLite database; for PostgreSQL use pg_dump", file=sys.stderr)
        return 2
    source = sqlite3.connect(url.database, timeout=30)
    dest = sqlite3.connect(target)
    try:
        with dest:
            source.backup(dest, pages=1024, sleep=0.005)
        check = dest.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        dest.close()
        source.close()
    if check != "ok":
        print(f"error: the copy failed its integrity check: {check}", file=sys.stderr)
        return 1
    print(f"backed up {url.database} to {target}")
    return 0


def _prepare_schema(settings: Settings) -> None:
    """Migrate once before the workers start (they migrate too, but find nothing to do)."""
    if settings.auto_migrate:
        migrations.migrate(settings.database_url)


def _app(settings: Settings) -> object:
    import logging

    from eventapp.app import create_app
    from eventapp.web.logs import install_log_redaction

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    return create_app(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eventapp",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the app")
    serve.add_argument(
        "--access-log", action="store_true", help="log each request (keys and tokens masked)"
    )
    demo = sub.add_parser("demo", help="seed a demo event, print its links and serve it")
    for p in (serve, demo):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--workers", type=int, default=1)
        p.add_argument(
            "--backlog",
            type=int,
            default=BACKLOG,
            help=f"connections queued until accepted (default {BACKLOG}; the kernel caps it "
            "at net.core.somaxconn)",
        )

    migrate = sub.add_parser("migrate", help="upgrade the database schema to the newest revision")
    migrate.add_argument(
        "--sql",
        action="store_true",
        help="print the SQL instead of running it (PostgreSQL; for a DBA to review and run)",
    )

    backup = sub.add_parser(
        "backup", help="online backup of the SQLite database (PostgreSQL: use pg_dump)"
    )
    backup.add_argument("target", help="file to write, e.g. backups/eventapp-2026-05-04.db")

    create = sub.add_parser("create", help="create an event and print its links")
    create.add_argument("name")
    create.add_argument(
        "--stage",
        action=_Agenda,
        dest="agenda",
        metavar="NAME",
        help="a stage (room); the --pitch options after it are its agenda; repeat for each",
    )
    create.add_argument(
        "--pitch",
        action=_Agenda,
        dest="agenda",
        metavar="TITLE[|PRESENTER]",
        help="a pitch, in agenda order (of the --stage before it); repeat for each",
    )
    create.add_argument("--scale", default="1-5", help="rating scale, e.g. 1-5 or 0-10")
    create.add_argument(
        "--live-results",
        action="store_true",
        help="show tallies on the projector while voting runs",
    )
    create.add_argument("--language", default="de", choices=["de", "en"])
    links = sub.add_parser("links", help="print an event's links")
    links.add_argument("code")
    for p in (create, links, demo):
        p.add_argument("--base-url", default=None, help="public URL (default: PUBLIC_URL or local)")
    for p in (create, links):
        p.add_argument("--json", action="store_true", help="machine-readable output")

    organizer_cli.add_parsers(sub)

    args = parser.parse_args(argv)
    settings = Settings.from_environ()

    if args.command == "migrate":
        return _migrate(settings, sql=args.sql)
    if args.command == "backup":
        return _backup(settings, args.target)
    if args.command == "serve":
        _prepare_schema(settings)
        _serve(
            settings,
            args.host,
            args.port,
            args.workers,
            access_log=args.access_log,
            backlog=args.backlog,
        )
        return 0

    db = Database(settings.database_url)
    db.migrate()
    base = (
        getattr(args, "base_url", None)
        or settings.public_url
        or f"http://{getattr(args, 'host', '127.0.0.1')}:{getattr(args, 'port', 8000)}"
    )
    base = base.rstrip("/")
    try:
        if args.command in organizer_cli.COMMANDS:
            return organizer_cli.run(args, db, settings)
        if args.command == "create":
            lo, _, hi = args.scale.partition("-")
            pitches, stages = _agenda(args.agenda or [])
            event = create_event(
                args.name,
                pitches,
                db=db,
                scale=(int(lo), int(hi)),
                live_results=args.live_results,
                language=args.language,
                stages=stages,
            )
            _print_links(event, base, args.json, db)
            if not (getattr(args, "base_url", None) or settings.public_url):
                print(
                    f"note: these links use {base}; pass --base-url (or set PUBLIC_URL) "
                    "with the address phones will reach the app at",
                    file=sys.stderr,
                )
        elif args.command == "links":
            found = db.read(queries.event_by_code, args.code)
            if found is None:
                print(f"no event with code {args.code!r}", file=sys.stderr)
                return 1
            _print_links(found, base, args.json, db)
        elif args.command == "demo":
            # A second run must not add an event and then die on the busy port: check the
            # port first, and reuse the demo event of an earlier run.
            if not _port_free(args.host, args.port):
                print(
                    f"error: port {args.port} on {args.host} is busy (is the demo already "
                    "running?); stop it or pass --port",
                    file=sys.stderr,
                )
                return 1
            event = _existing_demo(db) or create_event(
                DEMO_NAME,
                [],
                db=db,
                stages=[
                    StageSpec(name, [PitchSpec(t, p) for t, p in DEMO_PITCHES[part]])
                    for name, part in DEMO_STAGES
                ],
            )
            _print_links(event, base, as_json=False, db=db)
            sys.stdout.flush()  # the links show even when stdout is a pipe or a log file
            db.close()
            _serve(settings, args.host, args.port, args.workers, backlog=args.backlog)
    except InvalidInput as exc:
        print(f"error: {exc.field} {exc.message}", file=sys.stderr)
        return 2
    except Refused as exc:  # the same refusal the pages and sockets show
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
