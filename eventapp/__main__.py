"""Command line: ``python -m eventapp {demo,serve,create,links}``.

    demo     seed a demo event (the smart-city model event), print its links, serve it
    serve    serve the app (settings from the environment, see README)
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

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.core.validation import InvalidInput
from eventapp.errors import Refused
from eventapp.organizing import cli as organizer_cli
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
from eventapp.web.render import event_links

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


def _print_links(event: Event, base: str, as_json: bool) -> None:
    links = event_links(event, base)
    if as_json:
        print(json.dumps({"code": event.code, "name": event.name, "links": links}, indent=2))
        return
    print(f"\n  {event.name}   (event code {event.code})\n")
    for role, url in links.items():
        print(f"  {role:<10} {url}")
    print()


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "eventapp.app:app_from_environ" if workers > 1 else _app(settings),  # type: ignore[arg-type]
        factory=workers > 1,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        ws="websockets-sansio",
        ws_max_size=64 * 1024,
        log_level="warning",
    )


def _app(settings: Settings) -> object:
    import logging

    from eventapp.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return create_app(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eventapp",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the app")
    demo = sub.add_parser("demo", help="seed a demo event, print its links and serve it")
    for p in (serve, demo):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--workers", type=int, default=1)

    create = sub.add_parser("create", help="create an event and print its links")
    create.add_argument("name")
    create.add_argument(
        "--pitch",
        action="append",
        default=[],
        metavar="TITLE[|PRESENTER]",
        help="a pitch, in stage order; repeat for each",
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

    if args.command == "serve":
        _serve(settings, args.host, args.port, args.workers)
        return 0

    db = Database(settings.database_url)
    db.create_all()
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
            pitches = [
                PitchSpec(*(part.strip() for part in spec.split("|", 1))) for spec in args.pitch
            ]
            event = create_event(
                args.name,
                pitches,
                db=db,
                scale=(int(lo), int(hi)),
                live_results=args.live_results,
                language=args.language,
            )
            _print_links(event, base, args.json)
        elif args.command == "links":
            found = db.read(queries.event_by_code, args.code)
            if found is None:
                print(f"no event with code {args.code!r}", file=sys.stderr)
                return 1
            _print_links(found, base, args.json)
        elif args.command == "demo":
            event = create_event(DEMO_NAME, [PitchSpec(t, p) for t, p in DEMO_PITCHES], db=db)
            _print_links(event, base, as_json=False)
            db.close()
            _serve(settings, args.host, args.port, args.workers)
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
