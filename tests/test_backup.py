"""Backups as docs/deploy.md describes them, restored and compared: the organiser's
console, report, exports and networking pages equal what they were before.

SQLite: ``python -m eventapp backup FILE`` (the online backup API), restore = put the file
in place. PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore`` of the schema."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from eventapp.core import schema
from eventapp.core.db import Database
from eventapp.voting.rules import PitchSpec, create_event
from tests.conftest import ROOT, DatabaseTarget
from tests.test_migrations import dataset, insert_models, snapshot


def test_sqlite_online_backup_restores_the_same_pages(tmp_path: Path) -> None:
    live = tmp_path / "eventapp.db"
    db = Database(f"sqlite:///{live}")
    db.create_all()
    insert_models(db, dataset("main_before_alembic"))
    before = snapshot(db)
    backup = tmp_path / "backups" / "eventapp-copy.db"
    backup.parent.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "eventapp", "backup", str(backup)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{live}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    db.close()
    assert done.returncode == 0, done.stderr
    assert f"to {backup}" in done.stdout

    # Disaster: the database is gone. Restore: the copy goes where the database was.
    for leftover in tmp_path.glob("eventapp.db*"):
        leftover.unlink()
    shutil.copy(backup, live)
    restored = Database(f"sqlite:///{live}")
    try:
        assert restored.revision() == schema.head_revision()
        assert snapshot(restored) == before
    finally:
        restored.close()


def test_backup_refuses_postgresql(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "eventapp", "backup", str(tmp_path / "x.db")],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "use pg_dump" in done.stderr


@pytest.mark.postgres
def test_pg_dump_and_restore_round_trip(database_target: DatabaseTarget, tmp_path: Path) -> None:
    if database_target.schema is None:
        pytest.skip("PostgreSQL only (the SQLite backup has its own test)")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore not installed")
    db = database_target.created()
    insert_models(db, dataset("main_before_alembic"))
    before = snapshot(db)
    db.close()

    url = httpx.URL(database_target.url.replace("postgresql+psycopg", "http"))
    conn = ["-h", url.host, "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    database = url.path.lstrip("/")
    dump = tmp_path / "eventapp.dump"
    subprocess.run(
        [
            *("pg_dump", *conn, "--format=custom", "--no-owner"),
            *("-n", database_target.schema, "-f", str(dump), database),
        ],
        check=True,
        timeout=120,
    )
    admin = sa.create_engine(database_target.url)
    with admin.begin() as c:  # disaster: the schema and its data are gone
        c.execute(sa.text(f'DROP SCHEMA "{database_target.schema}" CASCADE'))
    admin.dispose()
    subprocess.run(
        ["pg_restore", *conn, "--no-owner", "--exit-on-error", "-d", database, str(dump)],
        check=True,
        timeout=120,
    )
    restored = Database(database_target.url, schema=database_target.schema)
    try:
        assert restored.revision() == schema.head_revision()
        assert snapshot(restored) == before
        # The sequences came back too: a new event gets a fresh id, not a duplicate key.
        assert create_event("After restore", [PitchSpec("Next")], db=restored).id == 2
    finally:
        restored.close()
