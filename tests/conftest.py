"""Real parts: SQLite (always), PostgreSQL (when DATABASE_URL is set), a real Redis
server (REDIS_URL, or one started here on a free port), real app processes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from eventapp.app import create_app
from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.settings import Settings
from eventapp.voting.rules import PitchSpec, create_event
from tests.support.seeding import first_stage
from tests.support.servers import AppServer, RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Our own redis-server on a free port (restartable for drills), or REDIS_URL."""
    if os.environ.get("REDIS_URL") and not os.environ.get("EVENTAPP_OWN_REDIS"):
        yield RedisServer(0, None, external_url=os.environ["REDIS_URL"])
        return
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server a test may restart or kill."""
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql")):
        return Settings.from_environ({"DATABASE_URL": url}).database_url
    return None


@dataclass
class DatabaseTarget:
    url: str
    schema: str | None

    def env(self) -> dict[str, str]:
        """Environment for an app process using this database."""
        url = self.url
        if self.schema:
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}options=-csearch_path%3D{self.schema}"
        return {"DATABASE_URL": url}

    def with_redis(self, redis_url: str, prefix: str) -> dict[str, str]:
        """Environment for app processes that share this database and one Redis, under a
        key namespace of their own (``prefix`` plus a random part)."""
        return self.env() | {
            "REDIS_URL": redis_url,
            "EVENTAPP_NAMESPACE": f"{prefix}-{uuid.uuid4().hex[:8]}",
        }

    def created(self) -> Database:
        """A Database on this target with every table created."""
        db = Database(self.url, schema=self.schema)
        db.create_all()
        return db


DATABASES = ["sqlite"] + (["postgres"] if _postgres_url() else [])


@pytest.fixture(params=DATABASES)
def database_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseTarget]:
    if request.param == "sqlite":
        yield DatabaseTarget(f"sqlite:///{tmp_path / 'eventapp.db'}", None)
        return
    url = _postgres_url()
    assert url is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield DatabaseTarget(url, schema)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def db(database_target: DatabaseTarget) -> Iterator[Database]:
    database = Database(database_target.url, schema=database_target.schema)
    database.create_all()
    yield database
    database.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def live_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(live_backend: str, request: pytest.FixtureRequest) -> Settings:
    redis_url = None
    if live_backend == "redis":
        redis_url = request.getfixturevalue("redis_server").url
    return Settings(
        database_url="unused-db-is-injected",
        redis_url=redis_url,
        namespace=f"test-{uuid.uuid4().hex[:10]}",
    )


@pytest.fixture
def event(db: Database) -> Event:
    return create_event(
        "Smart City Forum",
        [
            PitchSpec("Smart Parking", "Stadtwerke"),
            PitchSpec("Heat Transition"),
            PitchSpec("Housing Exchange"),
        ],
        db=db,
    )


@pytest.fixture
def stage(db: Database, event: Event) -> Stage:
    """The event's only stage: its moderator and projector links."""
    return first_stage(db, event)


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    app = create_app(settings, database=db)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


# ------------------------------------------------------------------ real app processes


# A real app process: the same launcher the benchmark and drills use (uvicorn as in the
# Procfile, health-checked, log to a file, stopped or killed with its whole tree).
AppProcess = AppServer


def start_app_process(
    env_overrides: dict[str, str], log: Path, port: int | None = None
) -> AppProcess:
    """Start uvicorn on a free port; embedded default unless the env names REDIS_URL."""
    server = AppServer(port or free_port(), env_overrides, log)
    server.start(timeout=30)
    return server


@pytest.fixture
def app_processes(tmp_path: Path) -> Iterator[Callable[..., AppProcess]]:
    """Factory: start real uvicorn processes; all are stopped after the test."""
    started: list[AppProcess] = []

    def start(env: dict[str, str], port: int | None = None) -> AppProcess:
        proc = start_app_process(env, tmp_path / f"app-{len(started)}.log", port)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running in
    the main thread for the whole session, and asyncio.run() refuses to start inside it."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
