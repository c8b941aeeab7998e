"""What a benchmark or drill runs against: the app in one of its configurations, or the
floor, with the server and the client processes on CPUs of their own.

Configurations (``--config``):

- ``embedded``: SQLite + the in-process bus, one app process (the default install);
- ``sqlite-redis``: SQLite + Redis, one or more app processes on one Redis;
- ``pg-redis``: PostgreSQL + Redis, one or more app processes (the big-hall setup).
  PostgreSQL from ``--database-url`` or ``DATABASE_URL``; each run works in a fresh
  schema of its own (``load_<hex>``), dropped when the run ends.

CPU pinning (``--pin``, on by default when the machine has 2 CPUs or more): the servers
(app processes, redis-server, the floor) run on the first half of the CPUs, the client
processes and the orchestrating process on the rest. PostgreSQL is the machine's own
service and is not pinned.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil  # type: ignore[import-untyped]
from sqlalchemy import create_engine, text
from sqlmodel import Session, col, select

from eventapp.core.db import Database
from eventapp.core.models import Event, Pitch
from eventapp.settings import Settings
from tests.support.seeding import first_stage, seed_attendees
from tests.support.servers import (
    ROOT,
    AppServer,
    Servers,
    app_env,
    free_port,
    wait_for_port,
)

Json = dict[str, Any]
CONFIGS = ("embedded", "sqlite-redis", "pg-redis")


@dataclass
class Cpus:
    server: set[int] | None  # None: not pinned
    clients: set[int] | None

    def describe(self) -> str:
        if self.server is None:
            return "not pinned"
        return f"servers on CPU {sorted(self.server)}, clients on CPU {sorted(self.clients or ())}"


def split_cpus(pin: bool) -> Cpus:
    available = sorted(os.sched_getaffinity(0))
    if not pin or len(available) < 2:
        return Cpus(None, None)
    half = len(available) // 2
    return Cpus(set(available[:half]), set(available[half:]))


@contextlib.contextmanager
def on_cpus(cpus: set[int] | None) -> Iterator[None]:
    """Processes started inside run on ``cpus`` (children inherit the affinity)."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@dataclass
class Target:
    """What phones talk to: the app (one or more processes) or the floor."""

    name: str
    ws_urls: list[str]  # phones are spread over these, round-robin
    origin: str
    tokens: list[str]
    moderator_key: str
    projector_key: str
    pitch_ids: list[int]
    processes: list[int] = field(default_factory=list)  # server pids (trees) for CPU/RSS
    db: Database | None = None
    setup: Json = field(default_factory=dict)

    def rss(self) -> int:
        return int(sum(_tree(pid, "rss") for pid in self.processes))

    def cpu(self) -> float:
        return sum(_tree(pid, "cpu") for pid in self.processes)

    @property
    def pid(self) -> int | None:
        return self.processes[0] if self.processes else None


def _tree(pid: int, what: str) -> float:
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                if what == "rss":
                    total += p.memory_info().rss
                else:
                    t = p.cpu_times()
                    total += t.user + t.system
    return total


def add_options(p: argparse.ArgumentParser) -> None:
    """The options every benchmark and drill shares."""
    p.add_argument("--config", choices=CONFIGS, default="embedded", help=__doc__)
    p.add_argument("--procs", type=int, default=1, help="app processes (one Redis)")
    p.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL for --config pg-redis (default: $DATABASE_URL)",
    )
    p.add_argument(
        "--clients",
        type=int,
        default=0,
        help="client processes (default: 2, or one per client CPU when there are more)",
    )
    p.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="servers on the first half of the CPUs, clients on the rest",
    )
    p.add_argument(
        "--client",
        choices=("lean", "websockets"),
        default="lean",
        help="the phones' WebSocket client: the lean one (tests/support/wire.py) or the "
        "websockets library's, which costs the clients several times the CPU per connect",
    )


def client_count(args: argparse.Namespace, cpus: Cpus) -> int:
    if args.clients:
        return int(args.clients)
    return max(2, len(cpus.clients or ()))


def postgres_url(args: argparse.Namespace) -> str:
    url = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql")):
        raise SystemExit("--config pg-redis needs --database-url or DATABASE_URL (PostgreSQL)")
    return Settings.from_environ({"DATABASE_URL": url}).database_url


@contextlib.contextmanager
def database(
    args: argparse.Namespace, servers: Servers, name: str
) -> Iterator[tuple[str, Database]]:
    """(URL for the app processes, Database for seeding and checking): a SQLite file in
    the run's directory, or a fresh PostgreSQL schema, dropped afterwards."""
    if args.config != "pg-redis":
        url = Settings.from_environ(
            {"DATABASE_URL": f"sqlite:///{servers.workdir / f'{name}.db'}"}
        ).database_url
        db = Database(url)
        try:
            db.migrate()  # the real path: every table, whatever this process imported
            yield url, db
        finally:
            db.close()
        return
    base = postgres_url(args)
    schema = f"load_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(base, schema=schema)
    try:
        db.migrate()
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}", db
    finally:
        db.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def check_config(args: argparse.Namespace) -> None:
    if args.config == "embedded" and args.procs > 1:
        raise SystemExit("--config embedded is one process; use sqlite-redis or pg-redis")


def start_apps(
    args: argparse.Namespace,
    servers: Servers,
    url: str,
    cpus: Cpus,
    namespace: str,
    extra_env: dict[str, str] | None = None,
) -> list[AppServer]:
    """The app processes (and Redis, unless embedded) on the server CPUs; ``extra_env``
    adds settings (e.g. METRICS_TOKEN)."""
    check_config(args)
    with on_cpus(cpus.server):
        redis_url = None
        if args.config != "embedded" or getattr(args, "redis", False):
            redis_url = servers.start_redis().url
        env = app_env(url, redis_url, f"{namespace}-{uuid.uuid4().hex[:8]}")
        env.update(extra_env or {})
        # As production runs it (python -m eventapp serve): the protocol, limits and
        # backlog measured are the ones a hall gets.
        return [
            servers.start_app(env, workers=getattr(args, "workers", 1), production=True)
            for _ in range(args.procs)
        ]


def app_target(
    apps: list[AppServer],
    db: Database,
    event: Event,
    *,
    phones: int,
    joined: list[str] | None = None,
) -> Target:
    """``event`` with ``phones`` attendees: ``joined`` tokens first, the rest seeded in SQL."""
    assert event.id is not None
    joined = joined or []
    seeded = seed_attendees(db, event.id, phones - len(joined))
    stage = first_stage(db, event)
    return Target(
        name="app",
        ws_urls=[f"{a.ws_base}/e/{event.code}/ws" for a in apps],
        origin=apps[0].url,
        tokens=joined + [t for _aid, t in seeded],
        moderator_key=stage.moderator_key,
        projector_key=stage.projector_key,
        pitch_ids=db.read(_pitch_ids, event.id),
        processes=[a.process.pid for a in apps if a.process is not None],
        db=db,
    )


def _pitch_ids(session: Session, event_id: int) -> list[int]:
    rows = session.exec(
        select(Pitch.id).where(Pitch.event_id == event_id).order_by(col(Pitch.position))
    ).all()
    return [int(i) for i in rows if i is not None]


@contextlib.contextmanager
def floor_target(phones: int, pitches: int, cpus: Cpus) -> Iterator[Target]:
    """The bare-websockets floor (floor.py) in a process of its own, on the server CPUs."""
    port = free_port()
    with on_cpus(cpus.server):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadtests.floor",
                "--port",
                str(port),
                "--pitches",
                str(pitches),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
    try:
        wait_for_port(port)
        yield Target(
            name="floor",
            ws_urls=[f"ws://127.0.0.1:{port}/"],
            origin=f"http://127.0.0.1:{port}",
            tokens=[f"floor-{i}" for i in range(phones)],
            moderator_key="-",
            projector_key="-",
            pitch_ids=list(range(1, pitches + 1)),
            processes=[proc.pid],
        )
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def describe(args: argparse.Namespace) -> str:
    return {
        "embedded": "SQLite + in-process bus",
        "sqlite-redis": "SQLite + Redis",
        "pg-redis": "PostgreSQL + Redis",
    }[args.config] + f", {args.procs} app process{'es' if args.procs > 1 else ''}"


def run_report(
    command: str,
    args: argparse.Namespace,
    cpus: Cpus,
    load_start: tuple[float, float, float],
    **parts: Any,
) -> dict[str, Any]:
    """The head every benchmark's JSON result starts with (when, the machine, the command
    line ``python -m <command> …``), followed by ``parts``."""
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": psutil.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": load_start,
            "load_avg_at_end": os.getloadavg(),
            "pinning": cpus.describe(),
            "client_processes": client_count(args, cpus),
            "phone_client": args.client,
        },
        "command": " ".join([f"python -m {command}", *sys.argv[1:]]),
        **parts,
    }
