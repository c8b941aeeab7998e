"""The SQL engine, run off the event loop in a small thread pool.

The transaction convention of every area: a transaction is one function of a ``Session``
handed to ``Database.run`` (or ``call``); that function commits once at its end (a session
closed without a commit rolls back), and the helpers it calls never commit. After the
commit the rule that asked for the write publishes the change itself on the event's bus
channel (``voting.rules.publish_state``); nothing is published for a write that failed.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from eventapp.core import models  # noqa: F401  (registers the tables)
from eventapp.core import schema as migrations

P = ParamSpec("P")
T = TypeVar("T")


def make_engine(url: str, *, schema: str | None = None) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8
        )

        @sa_event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers run beside the vote writer; synchronous=FULL makes a
            # committed vote survive a power cut, which is what "Saved" promises.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            # Let SQLAlchemy's "begin" event below decide how transactions start.
            dbapi_conn.isolation_level = None

        @sa_event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A writer takes SQLite's write lock up front (BEGIN IMMEDIATE): its reads then
            # see exactly what it writes against, e.g. "is voting still open?".
            immediate = conn.get_execution_options().get("write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # A database host that vanished (no "connection refused") must not hold a worker
    # thread for the kernel's TCP timeout: give up connecting after a few seconds.
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(
        url, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=connect_args
    )


class Database:
    """Owns the engine; ``run`` calls a query function in a worker thread with a session."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self.engine = make_engine(url, schema=schema)
        self.dialect = self.engine.dialect.name
        self._pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="sql")
        # The vote writer's own thread: a storm of reads (hellos, pages) never queues a
        # vote batch behind it, and batches stay one at a time.
        self._votes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sql-votes")

    def create_all(self) -> None:
        """Tables straight from the models, stamped as the newest revision (tests, scratch
        databases). Only the tables of model modules this process has imported are made,
        so scripts that do not import the app (load tests, tools) use ``migrate``; real
        databases are made and upgraded by ``prepare``/``migrate``."""
        SQLModel.metadata.create_all(self.engine)
        with self.engine.connect() as conn:
            if migrations.current_revision(conn) is None:
                migrations.stamp(conn, migrations.head_revision())

    def migrate(self) -> migrations.MigrationResult:
        """Upgrade to the newest revision (under the migration lock, see core/schema.py)."""
        return migrations.migrate(self.url, schema=self.schema)

    def prepare(self, *, auto_migrate: bool) -> None:
        """At start: migrate, or (MIGRATE_ON_START=false) refuse an old schema clearly."""
        if auto_migrate:
            self.migrate()
        else:
            migrations.check_at_head(self.url, schema=self.schema)

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            return migrations.current_revision(conn)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def call(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kw: P.kwargs) -> T:
        """Synchronous form, for the command line and tests."""
        with self.session() as session:
            session.connection(execution_options={"write": True})
            return fn(session, *args, **kw)

    def read(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kw: P.kwargs) -> T:
        with self.session() as session:
            return fn(session, *args, **kw)

    async def run(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        """Run a writing query function in a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(self.call, fn, *args, **kw))

    async def run_votes(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        """Run a writing query function in the vote writer's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._votes, functools.partial(self.call, fn, *args, **kw)
        )

    async def run_read(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        """Run a read-only query function in a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(self.read, fn, *args, **kw))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._votes.shutdown(wait=True)
        self.engine.dispose()
