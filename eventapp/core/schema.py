"""Schema migrations (Alembic, see migrations/): upgrade to the newest revision, safely.

Several processes may start at once against one server database (``serve --workers 2``,
a rolling deploy). They take a lock first — a PostgreSQL advisory lock keyed by the schema,
or a lock file next to a SQLite database — so exactly one migrates and the others then find
the schema at the newest revision. Databases made by ``create_all`` before Alembic have no
``alembic_version`` table: their columns tell which revision they are, and they are stamped
with it before upgrading.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, pool, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent.parent
MIGRATIONS = ROOT / "migrations"
# The schema main had when migrations were introduced: every database made by
# ``create_all`` with all of today's tables is at this revision. Never moves.
LAST_BEFORE_ALEMBIC = "0003"
LOCK_WAIT_SECONDS = 300.0

log = logging.getLogger(__name__)


class SchemaNotReady(RuntimeError):
    """The database is not at the newest revision and this process may not migrate it."""


@dataclass(frozen=True)
class MigrationResult:
    before: str | None  # revision found (None: empty database)
    stamped: str | None  # revision a pre-Alembic database was recognised as
    after: str


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "migrations/versions has no revision"
    return head


def migration_engine(url: str, *, schema: str | None = None) -> Engine:
    """A plain engine without the app's SQLite pragmas: batch migrations copy tables, and
    SQLite's foreign-key enforcement would refuse dropping the old copy."""
    connect_args: dict[str, object] = {}
    if schema and not url.startswith("sqlite"):
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(url, poolclass=pool.NullPool, connect_args=connect_args)


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def recognise_revision(conn: Connection) -> str | None:
    """The revision a database without ``alembic_version`` is at (None: no tables yet)."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    if "event" not in tables:
        return None
    columns = {c["name"] for c in inspector.get_columns("event")}
    if "date" not in columns:
        return "0001"  # the previous release: no organiser settings
    if "network_profile" not in tables:
        return "0002"  # organiser settings, networking not yet
    return LAST_BEFORE_ALEMBIC


def schema_revision(conn: Connection) -> str | None:
    """Where this database is: its stamped revision, else what its tables say."""
    return current_revision(conn) or recognise_revision(conn)


@contextlib.contextmanager
def migration_lock(conn: Connection, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Exclusive for the database (PostgreSQL: per schema), across processes and hosts."""
    if conn.dialect.name == "postgresql":
        key = text("SELECT hashtext('eventapp-migrate:' || current_schema())")
        lock_id = conn.execute(key).scalar_one()
        deadline = time.monotonic() + wait
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_id}).scalar():
            conn.commit()
            if time.monotonic() > deadline:
                raise SchemaNotReady(
                    f"another process has held the migration lock for {wait:.0f} s; "
                    "is a `python -m eventapp migrate` still running?"
                )
            time.sleep(0.2)
        conn.commit()
        try:
            yield
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})
            conn.commit()
        return
    database = make_url(str(conn.engine.url)).database
    if conn.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def stamp(conn: Connection, revision: str) -> None:
    command.stamp(alembic_config(conn), revision)
    conn.commit()


def migrate(url: str, *, schema: str | None = None) -> MigrationResult:
    """Upgrade to the newest revision under the migration lock; a no-op when there."""
    engine = migration_engine(url, schema=schema)
    try:
        with engine.connect() as conn, migration_lock(conn):
            before = current_revision(conn)
            recognised = None
            if before is None:
                recognised = recognise_revision(conn)
                if recognised is not None:
                    log.warning("database without alembic_version recognised as %s", recognised)
                    stamp(conn, recognised)
            head = head_revision()
            if (before or recognised) != head:
                command.upgrade(alembic_config(conn), "head")
                conn.commit()
                log.info("database schema upgraded from %s to %s", before or recognised, head)
            return MigrationResult(before, recognised, current_revision(conn) or "")
    finally:
        engine.dispose()


def check_at_head(url: str, *, schema: str | None = None) -> None:
    """Refuse to serve on an old schema (MIGRATE_ON_START=false): say what to run."""
    engine = migration_engine(url, schema=schema)
    try:
        with engine.connect() as conn:
            found, head = current_revision(conn), head_revision()
    finally:
        engine.dispose()
    if found != head:
        raise SchemaNotReady(
            f"the database schema is at revision {found or 'none'}, this version needs "
            f"{head}: run `python -m eventapp migrate` first (see README, Running in production)"
        )


def upgrade_sql(url: str, *, schema: str | None = None, out: TextIO) -> str | None:
    """Write the SQL that would bring this database to the newest revision (for a DBA),
    starting where the database is when it can be reached; returns that revision."""
    start: str | None = None
    stamped = False
    engine = migration_engine(url, schema=schema)
    try:
        with engine.connect() as conn:
            start = current_revision(conn)
            if start is None:
                start = recognise_revision(conn)
                stamped = start is not None
    except Exception as exc:  # an unreachable database: the script from the beginning
        log.warning("database not reachable (%s); printing the full script", exc)
    finally:
        engine.dispose()
    buffer = io.StringIO()
    cfg = alembic_config(url=url)
    cfg.output_buffer = buffer
    if stamped and start is not None:
        command.stamp(cfg, start, sql=True)
    head = head_revision()
    if start != head:
        command.upgrade(cfg, f"{start}:head" if start else "head", sql=True)
    out.write(buffer.getvalue())
    return start
