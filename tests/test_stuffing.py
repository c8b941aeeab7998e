"""Ballot stuffing found and removed exactly (issue 12), against real app processes:
SQLite with in-process tallies, and PostgreSQL with Redis on two processes."""

from __future__ import annotations

import asyncio
import statistics
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from eventapp.admission import queries as admission
from eventapp.core.db import Database
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
from tests import stuffing_client as stuffing
from tests.conftest import AppProcess, RedisServer, _postgres_url

pytestmark = pytest.mark.slow


def _honest(index: int) -> list[int]:
    return [stuffing.honest_scores(index, i) for i in range(stuffing.HONEST)]


def _check(outcome: stuffing.Outcome, db: Database, event_id: int) -> None:
    # Flags: every fake never loaded the vote page; crowds of equal votes are fakes only.
    assert set(outcome.flagged["never_loaded"]) == outcome.fake_ids
    assert set(outcome.flagged.get("same_second", [])) <= outcome.fake_ids
    assert len(outcome.flagged.get("same_second", [])) >= stuffing.FAKES // 2
    # The preview said what would change: pitch 1 from 60 votes to 20, mean 4.33 → 3.00.
    assert "Preview: removing 40 attendees" in outcome.preview_text
    expected = {
        pid: (len(_honest(i)), statistics.fmean(_honest(i)), _honest(i))
        for i, pid in enumerate(outcome.pitch_ids)
    }
    # SQL.
    counts = db.read(queries.counts_by_pitch, event_id)
    for pid, (n, mean, scores) in expected.items():
        assert sum(counts[pid].values()) == n
        assert sum(s * c for s, c in counts[pid].items()) / n == pytest.approx(mean)
        assert counts[pid] == {s: scores.count(s) for s in set(scores)}
    # The projector's leaderboard.
    board = {e["pitch_id"]: e for e in outcome.screen["leaderboard"]}
    for pid, (n, mean, _scores) in expected.items():
        assert board[pid]["n"] == n
        assert board[pid]["mean"] == round(mean, 2)
    # The exports, which also say that (and how much) was removed.
    rows = {r["position"]: r for r in outcome.votes_export["rows"]}
    for i, (n, mean, _scores) in enumerate(expected.values()):
        assert rows[i + 1]["n"] == n
        assert rows[i + 1]["mean"] == round(mean, 2)
    assert (
        "1 removal(s) in force took out 40 attendee(s) and 80 vote(s)"
        in (outcome.votes_export["note"])
    )
    assert len(outcome.raw_export["rows"]) == 2 * stuffing.HONEST
    assert "took out 40 attendee(s)" in outcome.raw_export["note"]
    assert db.read(queries.attendee_count, event_id) == stuffing.HONEST
    audit = db.read(admission.audit_of_event, event_id)
    assert [(a.action, a.attendees, a.votes, a.reason) for a in audit] == [
        ("remove", 40, 80, "script from one address")
    ]


def _event(db: Database):
    return create_event(
        "Stuffed", [PitchSpec("Smart Parking"), PitchSpec("Heat")], db=db, live_results=True
    )


def _keys(event) -> dict[str, str]:
    return {
        "moderator": event.moderator_key,
        "projector": event.projector_key,
        "organizer": event.organizer_key,
    }


def test_stuffing_removed_exactly_on_sqlite_and_memory(
    tmp_path: Path, app_processes: Callable[..., AppProcess]
) -> None:
    url = f"sqlite:///{tmp_path / 'stuffed.db'}"
    db = Database(url)
    db.create_all()
    event = _event(db)
    app = app_processes({"DATABASE_URL": url})
    outcome = asyncio.run(stuffing.run([app.url], event.code, _keys(event)))
    _check(outcome, db, event.id)
    db.close()


@pytest.mark.postgres
@pytest.mark.redis
def test_stuffing_removed_exactly_on_postgres_and_redis_with_two_processes(
    redis_server: RedisServer, app_processes: Callable[..., AppProcess]
) -> None:
    pg = _postgres_url()
    if pg is None:
        pytest.skip("DATABASE_URL does not name PostgreSQL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        db = Database(pg, schema=schema)
        db.create_all()
        event = _event(db)
        namespace = f"stuff-{uuid.uuid4().hex[:8]}"
        env = {
            "DATABASE_URL": f"{pg}?options=-csearch_path%3D{schema}",
            "REDIS_URL": redis_server.url,
            "EVENTAPP_NAMESPACE": namespace,
        }
        a, b = app_processes(env), app_processes(env)
        outcome = asyncio.run(stuffing.run([a.url, b.url], event.code, _keys(event)))
        _check(outcome, db, event.id)
        # Redis holds exactly the honest counts under the pitches' current rounds.
        state = db.read(queries.load_state, event.id)
        redis = Redis.from_url(redis_server.url, decode_responses=True)
        sql = db.read(queries.counts_by_pitch, event.id)
        for p in state.pitches:
            raw = redis.hgetall(f"{namespace}:pitch:{p.id}:{p.round}:counts")
            assert {int(s): int(n) for s, n in raw.items() if int(n)} == sql[p.id]
        redis.close()
        db.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
