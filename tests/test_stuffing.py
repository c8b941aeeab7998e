"""Ballot stuffing found and removed exactly (issue 12), against real app processes:
SQLite with in-process tallies, and PostgreSQL with Redis on two processes."""

from __future__ import annotations

import asyncio
import html
import re
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from eventapp.admission import queries as admission
from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
from tests.conftest import AppProcess, _postgres_url
from tests.support.joining import CSRF, join_with
from tests.support.phones import LiveClient
from tests.support.seeding import first_stage
from tests.support.servers import RedisServer

HONEST = 20
FAKES = 40


def honest_scores(pitch_index: int, i: int) -> int:
    # At most 4 honest phones give one pitch the same score: no crowd to flag.
    return (i % 5) + 1 if pitch_index == 0 else (i % 4) + 1


async def join(base: str, code: str, name: str, *, load_vote_page: bool) -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        token = await join_with(http, code, name)
        if load_vote_page:
            assert (await http.get(f"/e/{code}")).status_code == 200
        return token


class Console:
    """The organiser's console over HTTP, with its cross-site token."""

    def __init__(self, base: str, code: str, key: str) -> None:
        self.base, self.root = base, f"/e/{code}/organizer/{key}"
        self.http = httpx.AsyncClient(base_url=base, timeout=30)

    async def post(self, path: str, data: dict[str, Any]) -> str:
        page = await self.http.get(self.root)
        match = CSRF.search(page.text)
        assert match
        response = await self.http.post(
            self.root + path,
            data={"csrf": match.group(1), **data},
            headers={"origin": self.base, "accept-language": "en"},
            follow_redirects=True,
        )
        return html.unescape(response.text)

    async def get_json(self, path: str) -> Any:
        response = await self.http.get(self.root + path)
        assert response.status_code == 200, response.text[:300]
        return response.json()

    async def close(self) -> None:
        await self.http.aclose()


@dataclass
class Outcome:
    pitch_ids: list[int]
    flagged: dict[str, list[int]]
    fake_ids: set[int]
    honest_ids: set[int]
    preview_text: str
    screen: dict[str, Any]
    votes_export: dict[str, Any]
    raw_export: dict[str, Any]


async def _vote(phone: LiveClient, pitch_id: int, score: int) -> None:
    await phone.send({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": 1})
    await phone.wait_for(lambda m: m["type"] == "vote_ack" and m["pitch_id"] == pitch_id)


async def run(bases: list[str], code: str, keys: dict[str, str]) -> Outcome:
    """bases: app processes; phones alternate between them, screens use the last one,
    the console the first."""
    screen_base = bases[-1]
    moderator, projector = LiveClient(screen_base, code), LiveClient(screen_base, code)
    await moderator.connect({"type": "hello", "role": "moderator", "key": keys["moderator"]})
    await projector.connect({"type": "hello", "role": "projector", "key": keys["projector"]})
    honest_tokens = [
        await join(bases[i % len(bases)], code, f"Honest {i}", load_vote_page=True)
        for i in range(HONEST)
    ]
    fake_tokens = await asyncio.gather(
        *(join(bases[i % len(bases)], code, f"Bot {i}", load_vote_page=False) for i in range(FAKES))
    )
    phones = []
    for i, token in enumerate([*honest_tokens, *fake_tokens]):
        phone = LiveClient(bases[i % len(bases)], code)
        await phone.connect({"type": "hello", "token": token})
        phones.append(phone)
    honest, fakes = phones[:HONEST], phones[HONEST:]

    pitch_ids: list[int] = []
    for index in range(2):
        await moderator.send({"type": "next"})
        await moderator.send({"type": "open_voting"})
        state = await moderator.wait_for(
            lambda m: (
                m["type"] == "state"
                and any(p["state"] == "open" for p in m["event"]["pitches"])
                and len(m["event"]["pitches"]) > len(pitch_ids)
                and m["event"]["current_pitch_id"] not in pitch_ids
            )
        )
        pitch_id = int(state["event"]["current_pitch_id"])
        pitch_ids.append(pitch_id)
        for i, phone in enumerate(honest):
            await _vote(phone, pitch_id, honest_scores(index, i))
        # The script: every fake gives 5, all at once.
        await asyncio.gather(*(_vote(phone, pitch_id, 5) for phone in fakes))
        await moderator.send({"type": "close_voting"})

    console = Console(bases[0], code, keys["organizer"])
    rows = await console.get_json("/attendees.json")
    flagged: dict[str, list[int]] = {}
    for row in rows:
        for flag in row["flags"]:
            flagged.setdefault(flag, []).append(row["id"])
    fake_ids = {r["id"] for r in rows if r["name"].startswith("Bot")}
    honest_ids = {r["id"] for r in rows if r["name"].startswith("Honest")}
    preview = await console.post("/attendees/preview", {"flag": "never_loaded", "reason": "bots"})
    chosen = re.search(r'<input type="hidden" name="ids" value="([\d,]*)">', preview)
    assert chosen

    def counted(n: int) -> Any:
        def match(m: dict[str, Any]) -> bool:
            if m["type"] != "screen":
                return False
            board = {e["pitch_id"]: e for e in m["leaderboard"]}
            return all(board.get(p, {}).get("n") == n for p in pitch_ids)

        return match

    # Remove, undo (every screen shows the stuffed counts again), remove for good.
    page = await console.post("/attendees/remove", {"ids": chosen.group(1), "reason": "first"})
    await projector.wait_for(counted(HONEST), timeout=20)
    undo = re.search(r'id="undo-(\d+)"', page)
    assert undo, page[-3000:]
    await console.post(f"/audit/{undo.group(1)}/undo", {})
    await projector.wait_for(counted(HONEST + FAKES), timeout=20)
    await console.post(
        "/attendees/remove", {"ids": chosen.group(1), "reason": "script from one address"}
    )
    screen = await projector.wait_for(counted(HONEST), timeout=20)
    votes_export = await console.get_json("/export/votes.json")
    raw_export = await console.get_json("/export/raw-votes.json")
    await console.close()
    for client in (moderator, projector, *phones):
        await client.close()
    return Outcome(
        pitch_ids, flagged, fake_ids, honest_ids, preview, screen, votes_export, raw_export
    )


pytestmark = pytest.mark.slow


def _honest(index: int) -> list[int]:
    return [honest_scores(index, i) for i in range(HONEST)]


def _check(outcome: Outcome, db: Database, event_id: int) -> None:
    # Flags: every fake never loaded the vote page; crowds of equal votes are fakes only.
    assert set(outcome.flagged["never_loaded"]) == outcome.fake_ids
    assert set(outcome.flagged.get("same_second", [])) <= outcome.fake_ids
    assert len(outcome.flagged.get("same_second", [])) >= FAKES // 2
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
    assert len(outcome.raw_export["rows"]) == 2 * HONEST
    assert "took out 40 attendee(s)" in outcome.raw_export["note"]
    assert db.read(queries.attendee_count, event_id) == HONEST
    audit = db.read(admission.audit_of_event, event_id)
    assert [(a.action, a.attendees, a.votes, a.reason) for a in audit] == [
        ("remove", 40, 80, "first"),
        ("undo", 40, 80, f"undo of removal #{audit[0].id}"),
        ("remove", 40, 80, "script from one address"),
    ]
    assert audit[0].undone_at is not None


def _event(db: Database):
    return create_event(
        "Stuffed", [PitchSpec("Smart Parking"), PitchSpec("Heat")], db=db, live_results=True
    )


def _keys(db: Database, event: Event) -> dict[str, str]:
    stage = first_stage(db, event)
    return {
        "moderator": stage.moderator_key,
        "projector": stage.projector_key,
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
    outcome = asyncio.run(run([app.url], event.code, _keys(db, event)))
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
        outcome = asyncio.run(run([a.url, b.url], event.code, _keys(db, event)))
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
