"""Schema migrations: the newest revision equals the models, and databases made by earlier
releases (previous release; main before Alembic) upgrade with ``python -m eventapp migrate``
and then show the same pages and exports as a database made fresh with the same data.

The earlier schemas are the exact DDL ``create_all`` ran for those versions of the models
(tests/fixtures/schemas, captured from commits 359c6e6 and aa9ba7f), per dialect.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session, SQLModel, select
from starlette.testclient import TestClient

import eventapp.app  # noqa: F401  (every table registered)
from eventapp.app import create_app
from eventapp.core import models as core
from eventapp.core import schema
from eventapp.core.db import Database
from eventapp.enums import PitchState
from eventapp.exports.registry import EXPORTERS
from eventapp.networking import models as net
from eventapp.questions import queries as qstore
from eventapp.settings import Settings
from eventapp.voting import queries
from tests.conftest import ROOT, DatabaseTarget
from tests.helpers import ORIGIN, hello_attendee, hello_screen, of_type, receive_until

SCHEMAS = ROOT / "tests" / "fixtures" / "schemas"
CODE = "MGR8TE"
KEYS = {"moderator_key": "m" * 24, "projector_key": "p" * 24, "organizer_key": "o" * 24}
AT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
SALT = "5a17" * 8
MOVED_TO_STAGE = ("moderator_key", "projector_key", "current_pitch_id", "version")


def dataset(release: str) -> dict[str, list[dict[str, Any]]]:
    """One event with votes (and, for main, settings and networking), as table rows with
    exactly the columns that release had."""
    event: dict[str, Any] = {
        "id": 1,
        "code": CODE,
        "name": "Migration Forum",
        **KEYS,
        "scale_min": 1,
        "scale_max": 5,
        "scale_labels": "[]",
        "live_results": False,
        "language": "en",
        "current_pitch_id": 2,
        "version": 7,
        "created_at": AT,
    }
    pitches = [
        {"id": 1, "event_id": 1, "position": 0, "title": "Smart Parking", "state": "REVEALED"},
        {"id": 2, "event_id": 1, "position": 1, "title": "Heat Transition", "state": "CLOSED"},
        {"id": 3, "event_id": 1, "position": 2, "title": "Housing Exchange", "state": "PENDING"},
    ]
    for p in pitches:
        p.update(presenter="Stadtwerke", round=0)
    people = ["Ada", "Grace", "Linus", "Barbara"]
    attendees = [
        {
            "id": i,
            "event_id": 1,
            "token": f"token-{i:02d}-" + "x" * 20,
            "name": name,
            "organization": f"Org {name}",
            "created_at": AT,
        }
        for i, name in enumerate(people, start=1)
    ]
    scores = {(1, 1): 5, (2, 1): 4, (3, 1): 2, (1, 2): 3, (4, 2): 5}
    votes = [
        {
            "id": n,
            "event_id": 1,
            "pitch_id": pitch,
            "attendee_id": who,
            "score": score,
            "seq": 10 + n,
            "updated_at": AT,
        }
        for n, ((who, pitch), score) in enumerate(sorted(scores.items()), start=1)
    ]
    rows: dict[str, list[dict[str, Any]]] = {
        "event": [event],
        "attendee": attendees,  # before pitch: a pitch may name its presenting attendee
        "pitch": pitches,
        "vote": votes,
    }
    if release == "previous_release":
        return rows
    event.update(
        date="2026-05-04",
        languages="en,de",
        topics='["Energy", "Mobility"]',
        org_type_matrix="{}",
        networking_enabled=True,
        retention_days=120,
        privacy_version="2",
        export_salt=SALT,
    )
    for p in pitches:
        p["presenter_attendee_id"] = 4 if p["id"] == 1 else None
    for a in attendees:
        a["anonymised_at"] = None
    rows["consentrecord"] = [
        {
            "id": a["id"],
            "event_id": 1,
            "attendee_id": a["id"],
            "kind": "privacy",
            "text_version": "2",
            "given_at": AT,
        }
        for a in attendees
    ]
    rows["partner"] = [
        {
            "id": 1,
            "event_id": 1,
            "name": "Stadtwerke",
            "org_type": "public_admin",
            "contact": "Frau Meier",
            "email": "meier@example.org",
        }
    ]
    profile = {
        "event_id": 1,
        "opted_in": True,
        "consented_at": AT,
        "consent_version": "2",
        "org_type": "sme",
        "role": "CTO",
        "interests": '["Energy"]',
        "offers": '["Sensors"]',
        "seeks": '["Pilot site"]',
        "offers_text": "",
        "seeks_text": "",
        "email": "",
        "phone": "",
        "website": "",
        "linkedin": "",
        "share_email": True,
        "share_phone": False,
        "share_website": False,
        "share_linkedin": False,
        "qr_nonce": "n1",
        "updated_at": AT,
    }
    rows["network_state"] = [{"event_id": 1, "secret": "s" * 32, "version": 3}]
    rows["network_profile"] = [
        {**profile, "attendee_id": 1, "email": "ada@example.org"},
        {**profile, "attendee_id": 2, "email": "grace@example.org", "org_type": "research"},
    ]
    rows["contact_link"] = [
        {
            "id": 1,
            "event_id": 1,
            "low_id": 1,
            "high_id": 2,
            "requester_id": 1,
            "state": "accepted",
            "via": "qr",
            "created_at": AT,
            "decided_at": AT,
        }
    ]
    rows["contact_note"] = [
        {"id": 1, "owner_id": 1, "about_id": 2, "text": "Heat pumps", "updated_at": AT}
    ]
    rows["contact_block"] = []
    rows["partner_interest"] = [
        {
            "id": 1,
            "event_id": 1,
            "pitch_id": 1,
            "attendee_id": 2,
            "role": "pilot_site",
            "note": "Our campus",
            "created_at": AT,
        }
    ]
    return rows


def engine_for(target: DatabaseTarget) -> sa.Engine:
    return schema.migration_engine(target.url, schema=target.schema)


def run_ddl(target: DatabaseTarget, release: str) -> None:
    """The schema exactly as ``create_all`` of that release made it (no alembic_version)."""
    dialect = "sqlite" if target.url.startswith("sqlite") else "postgresql"
    script = (SCHEMAS / f"{release}.{dialect}.sql").read_text()
    engine = engine_for(target)
    with engine.begin() as conn:
        for statement in script.split(";\n"):
            lines = [ln for ln in statement.splitlines() if not ln.startswith("--")]
            if "".join(lines).strip():
                conn.exec_driver_sql("\n".join(lines))
    engine.dispose()


def insert_raw(target: DatabaseTarget, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Rows written as the old release wrote them: plain SQL, its columns only."""
    engine = engine_for(target)
    with engine.begin() as conn:
        for name, table_rows in rows.items():
            if not table_rows:
                continue
            table = sa.table(name, *(sa.column(c) for c in table_rows[0]))
            for row in table_rows:
                values = dict(row)
                if name == "pitch" and conn.dialect.name == "postgresql":
                    values["state"] = sa.cast(sa.literal(row["state"]), sa.Enum(name="pitchstate"))
                conn.execute(table.insert().values(**values))
        advance_sequences(conn, rows)
    engine.dispose()


def advance_sequences(conn: sa.Connection, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Rows inserted with explicit ids leave PostgreSQL's sequences behind: catch up."""
    if conn.dialect.name != "postgresql":
        return
    for name, table_rows in rows.items():
        if table_rows and "id" in table_rows[0]:
            conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))"
                )
            )


def insert_models(db: Database, rows: dict[str, list[dict[str, Any]]]) -> None:
    """The same rows through today's models: every newer column gets its model default."""
    classes: dict[str, type[SQLModel]] = {
        "event": core.Event,
        "pitch": core.Pitch,
        "attendee": core.Attendee,
        "vote": core.Vote,
        "consentrecord": core.ConsentRecord,
        "partner": core.Partner,
        "network_state": net.NetworkState,
        "network_profile": net.NetworkProfile,
        "contact_link": net.ContactLink,
        "contact_note": net.ContactNote,
        "contact_block": net.ContactBlock,
        "partner_interest": net.PartnerInterest,
    }
    with Session(db.engine) as session:
        for name, table_rows in rows.items():
            for row in table_rows:
                values = dict(row)
                if name == "pitch":
                    values["state"] = PitchState[row["state"]]
                    values["stage_id"] = values["event_id"]  # one stage per event, same id
                if name == "event":
                    # 0007: the screen links, pitch on stage and version are the stage's.
                    moved = {k: values.pop(k) for k in MOVED_TO_STAGE}
                    session.add(classes[name](**values))
                    session.flush()
                    session.add(core.Stage(id=values["id"], event_id=values["id"], **moved))
                    continue
                session.add(classes[name](**values))
            session.flush()
        # Each event's stage was inserted with the event's id too.
        advance_sequences(session.connection(), {**rows, "stage": rows.get("event", [])})
        session.commit()


def cli_migrate(target: DatabaseTarget, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **target.env()}
    return subprocess.run(
        [sys.executable, "-m", "eventapp", "migrate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


CSRF = re.compile(r'((?:name="csrf" value|data-csrf)=")[^"]+(")')


def snapshot(db: Database) -> dict[str, str]:
    """What organisers and attendees see: console, report, every CSV/JSON export, the
    attendee's page and networking contacts."""
    app = create_app(Settings(database_url="unused", namespace="mig"), database=db)
    root = f"/e/{CODE}/organizer/{KEYS['organizer_key']}"
    paths = [root, f"{root}/report", f"{root}/dashboard.json", f"/e/{CODE}"]
    # The screens' links of before still open them (0007 moved the keys to the stage).
    paths += [
        f"/e/{CODE}/moderator/{KEYS['moderator_key']}",
        f"/e/{CODE}/projector/{KEYS['projector_key']}",
    ]
    paths += [f"{root}/export/{e.slug}.{fmt}" for e in EXPORTERS for fmt in ("csv", "json")]
    pages: dict[str, str] = {}
    with TestClient(app, base_url="http://testserver") as client:
        # The attendee's pages first: loading the vote page is recorded (the console flags
        # attendees who never did), so a second snapshot of the same database stays equal.
        client.cookies.set(f"ea_{CODE}", "token-01-" + "x" * 20)
        for path in (f"/e/{CODE}", f"/e/{CODE}/network/contacts"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:500])
            pages["ada:" + path] = CSRF.sub(r"\1…\2", response.text)
        client.cookies.clear()
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:500])
            pages[path] = CSRF.sub(r"\1…\2", response.text)
    return pages


def fresh_target(target: DatabaseTarget, tmp_path: Path) -> DatabaseTarget:
    """A second, empty database of the same kind (the reference)."""
    if target.schema is None:
        return DatabaseTarget(f"sqlite:///{tmp_path / 'reference.db'}", None)
    ref = DatabaseTarget(target.url, target.schema + "_ref")
    admin = sa.create_engine(target.url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{ref.schema}"'))
    admin.dispose()
    return ref


def drop_target(target: DatabaseTarget) -> None:
    if target.schema is not None:
        admin = sa.create_engine(target.url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{target.schema}" CASCADE'))
        admin.dispose()


def model_diff(target: DatabaseTarget) -> list[Any]:
    engine = engine_for(target)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    return list(diff)


# ------------------------------------------------------------------ tests


def test_newest_migration_equals_the_models(database_target: DatabaseTarget) -> None:
    """Fails when a model changed without a migration: add one (README, "Schema changes")."""
    result = schema.migrate(database_target.url, schema=database_target.schema)
    assert result.before is None and result.stamped is None
    assert result.after == schema.head_revision()
    assert model_diff(database_target) == []


@pytest.mark.parametrize("release", ["previous_release", "main_before_alembic"])
def test_upgrade_keeps_pages_and_exports(
    database_target: DatabaseTarget, tmp_path: Path, release: str
) -> None:
    rows = dataset(release)
    run_ddl(database_target, release)
    insert_raw(database_target, rows)

    done = cli_migrate(database_target)
    assert done.returncode == 0, done.stderr
    recognised = "0001" if release == "previous_release" else schema.LAST_BEFORE_ALEMBIC
    assert f"recognised as revision {recognised}" in done.stdout
    assert done.stdout.splitlines()[-1].endswith(f"{schema.head_revision()})") or (
        done.stdout.splitlines()[-1].endswith(f"to {schema.head_revision()}")
    )
    again = cli_migrate(database_target)
    assert "at the newest revision" in again.stdout, again.stdout + again.stderr
    assert model_diff(database_target) == []

    upgraded = Database(database_target.url, schema=database_target.schema)
    salts = upgraded.read(lambda s: [e.export_salt for e in s.exec(select(core.Event))])
    assert len(salts) == 1 and len(salts[0]) == 32  # an old event gets its own random salt

    ref_target = fresh_target(database_target, tmp_path)
    reference = Database(ref_target.url, schema=ref_target.schema)
    try:
        reference.create_all()
        rows["event"][0]["export_salt"] = salts[0]
        insert_models(reference, rows)
        before, after = snapshot(reference), snapshot(upgraded)
    finally:
        upgraded.close()
        reference.close()
        drop_target(ref_target)

    assert after == before
    console = after[f"/e/{CODE}/organizer/{KEYS['organizer_key']}"]
    assert "Migration Forum" in console and "Housing Exchange" in console
    per_pitch = after[f"/e/{CODE}/organizer/{KEYS['organizer_key']}/export/votes.csv"]
    assert "Smart Parking" in per_pitch and "3.67" in per_pitch  # (5 + 4 + 2) / 3
    if release == "main_before_alembic":
        assert "grace@example.org" in after[f"ada:/e/{CODE}/network/contacts"]


def test_sql_for_a_dba(database_target: DatabaseTarget) -> None:
    if database_target.schema is None:
        done = cli_migrate(database_target, "--sql")
        # SQLite's batch copies need the live tables: migrate runs them itself.
        assert done.returncode == 2
        assert "for SQLite run `python -m eventapp migrate`" in done.stderr
        return
    run_ddl(database_target, "previous_release")
    done = cli_migrate(database_target, "--sql")
    assert done.returncode == 0, done.stderr
    sql = done.stdout
    assert "CREATE TABLE alembic_version" in sql
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    assert "ALTER TABLE event ADD COLUMN date VARCHAR(10)" in sql
    assert "CREATE TABLE network_profile" in sql
    engine = engine_for(database_target)
    with engine.connect() as conn:  # printing changed nothing
        assert schema.current_revision(conn) is None
        assert "date" not in {c["name"] for c in sa.inspect(conn).get_columns("event")}
    engine.dispose()


def test_refuses_to_start_on_an_old_schema_when_told_not_to_migrate(
    database_target: DatabaseTarget,
) -> None:
    run_ddl(database_target, "previous_release")
    db = Database(database_target.url, schema=database_target.schema)
    try:
        with pytest.raises(schema.SchemaNotReady, match="python -m eventapp migrate"):
            db.prepare(auto_migrate=False)
        db.prepare(auto_migrate=True)
        db.prepare(auto_migrate=False)
        assert db.revision() == schema.head_revision()
    finally:
        db.close()


def insert_at_0006(
    target: DatabaseTarget, extra: dict[str, list[dict[str, Any]]] | None = None
) -> None:
    """A database at revision 0006 with an event, attendees, pitches (the one on stage,
    id 2, open for voting) and votes, written as that release wrote them (plus ``extra``)."""
    engine = engine_for(target)
    with engine.connect() as conn:
        command.upgrade(schema.alembic_config(conn), "0006")
        conn.commit()
    engine.dispose()
    full = dataset("main_before_alembic")
    rows = {k: full[k] for k in ("event", "attendee", "pitch", "vote", "consentrecord")}
    rows["pitch"][1]["state"] = "OPEN"  # the pitch on stage (id 2) takes votes
    # Columns 0004-0006 added without a server default: the model defaults.
    rows["event"][0].update(
        timezone="Europe/Berlin",
        questions_enabled=True,
        questions_anonymous=True,
        questions_premoderated=False,
        questions_open_minutes=5,
        question_max_length=280,
        questions_projector_top=False,
    )
    for a in rows["attendee"]:
        a.update(address_group="", device="", via="open")
    insert_raw(target, rows | (extra or {}))


def test_a_one_stage_event_of_0006_upgrades_and_works_unchanged(
    database_target: DatabaseTarget,
) -> None:
    """Issue 15: a database at 0006 (event with pitches, votes and a pitch on stage, open
    for voting) upgrades to one stage per event; its links, current pitch, version and
    votes are as before, and voting goes on."""
    insert_at_0006(database_target)

    done = cli_migrate(database_target)
    assert done.returncode == 0, done.stderr
    assert model_diff(database_target) == []

    db = Database(database_target.url, schema=database_target.schema)
    try:
        stages = db.read(lambda s: list(s.exec(select(core.Stage))))
        assert [(x.event_id, x.name, x.current_pitch_id, x.version) for x in stages] == [
            (1, "", 2, 7)
        ]
        assert (stages[0].moderator_key, stages[0].projector_key) == (
            KEYS["moderator_key"],
            KEYS["projector_key"],
        )
        pitches = db.read(lambda s: list(s.exec(select(core.Pitch))))
        assert {p.stage_id for p in pitches} == {stages[0].id}
        app = create_app(Settings(database_url="unused", namespace="mig15"), database=db)
        with TestClient(app, base_url="http://testserver") as client:
            for role in ("moderator", "projector"):
                page = client.get(f"/e/{CODE}/{role}/{KEYS[role + '_key']}")
                assert f'data-role="{role}"' in page.text
            with client.websocket_connect(f"/e/{CODE}/ws", headers=ORIGIN) as mod:
                welcome = hello_screen(mod, "moderator", KEYS["moderator_key"])
                assert welcome["event"]["current_pitch_id"] == 2
                assert welcome["event"]["version"] == 7
                assert [p["title"] for p in welcome["event"]["pitches"]] == [
                    "Smart Parking",
                    "Heat Transition",
                    "Housing Exchange",
                ]
            with client.websocket_connect(f"/e/{CODE}/ws", headers=ORIGIN) as phone:
                welcome = hello_attendee(phone, "token-03-" + "x" * 20)  # Linus
                assert welcome["my_votes"] == {"1": {"score": 2, "seq": 14}}
                phone.send_json({"type": "vote", "pitch_id": 2, "score": 4, "seq": 50})
                ack = receive_until(phone, of_type("vote_ack"))
                assert (ack["pitch_id"], ack["score"]) == (2, 4)
        assert db.read(queries.score_counts, 2) == {3: 1, 5: 1, 4: 1}
    finally:
        db.close()


def test_upvotes_of_0007_upgrade_to_wishes_and_count_the_same(
    database_target: DatabaseTarget,
) -> None:
    """0008: a database of the previous release (0007) with upvotes upgrades; every
    stored upvote still counts (``up``, seq 0), and the first wish a phone makes after
    the upgrade applies, while a late one older than it does not."""
    question = {
        "id": 1,
        "event_id": 1,
        "pitch_id": 2,
        "attendee_id": 1,
        "text": "Who pays for the heat network?",
        "show_name": True,
        "state": "shown",
        "hide_reason": "",
        "highlighted": False,
        "created_at": AT,
        "updated_at": AT,
    }
    upvotes = [
        {"id": n, "question_id": 1, "attendee_id": who, "created_at": AT}
        for n, who in enumerate((2, 3), start=1)
    ]
    insert_at_0006(database_target, {"question": [question], "questionupvote": upvotes})
    engine = engine_for(database_target)
    with engine.connect() as conn:
        command.upgrade(schema.alembic_config(conn), "0007")  # the previous release
        conn.commit()
    engine.dispose()

    done = cli_migrate(database_target)
    assert done.returncode == 0, done.stderr
    assert model_diff(database_target) == []
    db = Database(database_target.url, schema=database_target.schema)
    try:
        assert db.read(qstore.upvote_counts, 1) == {1: 2}
        assert db.read(qstore.my_questions, 1, 2).upvoted == (1,)
        assert db.read(qstore.questions_of_event, 1)[0].upvotes == 2

        def wish(up: bool, seq: int) -> list[Any]:
            row = qstore.UpvoteRow(1, 1, 2, up, seq)
            return db.call(qstore.commit_upvotes, [row], qstore.now_utc())

        assert wish(False, 1_764_500_000_000) == [qstore.StoredWish(False, 1_764_500_000_000)]
        assert wish(True, 0) == [qstore.StoredWish(False, 1_764_500_000_000)]
        assert db.read(qstore.upvote_counts, 1) == {1: 1}
        assert db.read(qstore.my_questions, 1, 2).upvoted == ()
    finally:
        db.close()
