"""Alembic environment: the app's tables, batch mode for SQLite, the connection handed in.

``python -m eventapp migrate`` and the start-up migration pass their own connection (which
holds the migration lock, see eventapp/core/schema.py) in ``config.attributes``; the plain
``alembic`` command line connects to DATABASE_URL itself.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool
from sqlmodel import SQLModel

import eventapp.app  # noqa: F401  (imports every area, so every table is registered)
from eventapp.settings import Settings

config = context.config
target_metadata = SQLModel.metadata


def _configure(**kw: Any) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
    # compare_type: a changed column type (e.g. a longer VARCHAR) is a schema change too.
    context.configure(
        target_metadata=target_metadata, render_as_batch=True, compare_type=True, **kw
    )


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or Settings.from_environ().database_url
    _configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_with(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        run_with(given)
        return
    section = config.get_section(config.config_ini_section, {})
    section.setdefault("sqlalchemy.url", Settings.from_environ().database_url)
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_with(connection)
        connection.commit()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
