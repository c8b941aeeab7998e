"""Many attendees voting and changing votes at once, on a real server: per-score counts
shown on the screens equal the votes stored in SQL, and each attendee has one row."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
from tests.conftest import AppProcess, DatabaseTarget
from tests.support.joining import join_http
from tests.support.phones import LiveClient
from tests.support.seeding import first_stage
from tests.support.servers import RedisServer

PHONES = 60
CHANGES = 4


async def _run_burst(
    base: str, code: str, moderator_key: str
) -> tuple[dict[int, int], dict[str, int], int]:
    tokens = await asyncio.gather(*(join_http(base, code, f"Phone {i}") for i in range(PHONES)))
    mod = LiveClient(base, code)
    welcome = await mod.connect({"type": "hello", "role": "moderator", "key": moderator_key})
    pitch_id = welcome["event"]["pitches"][0]["id"]
    started = asyncio.get_running_loop().time()
    await mod.send({"type": "open_voting", "pitch_id": pitch_id})
    await mod.wait_for(lambda m: m["type"] == "command_ack")

    final: dict[int, int] = {}

    async def phone(i: int, token: str) -> None:
        client = LiveClient(base, code)
        await client.connect({"type": "hello", "token": token})
        rng = random.Random(i)
        votes = [(rng.randint(1, 5), seq) for seq in range(1, CHANGES + 1)]
        # Send the changes out of order, and one twice: newest seq must win, once.
        sent = [*votes, votes[0]]
        rng.shuffle(sent)
        for score, seq in sent:
            await client.send({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": seq})
        acked: set[int] = set()
        while len(acked) < CHANGES:
            ack = await client.wait_for(lambda m: m["type"] in ("vote_ack", "error"))
            assert ack["type"] == "vote_ack", ack
            # Acks for one pitch are coalesced: the newest ack stands for all before it.
            acked.update(seq for _s, seq in votes if seq <= ack["seq"])
        final[i] = votes[-1][0]
        await client.close()

    await asyncio.gather(*(phone(i, t) for i, t in enumerate(tokens)))
    expected = Counter(final.values())

    def matches(m: dict[str, Any]) -> bool:
        summary = (m.get("current") or {}).get("summary") or {}
        return m["type"] == "screen" and summary.get("distribution") == {
            str(s): expected.get(s, 0) for s in range(1, 6)
        }

    screen = await mod.wait_for(matches, timeout=10)
    elapsed = asyncio.get_running_loop().time() - started
    # Coalesced: a burst of votes costs a screen at most ~10 updates a second.
    screens = sum(1 for m in mod.inbox if m["type"] == "screen")
    assert screens <= 10 * elapsed + 3, (screens, elapsed)
    await mod.close()
    return dict(expected), screen["current"]["summary"]["distribution"], pitch_id


@pytest.mark.slow
@pytest.mark.parametrize("live", ["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def test_concurrent_votes_and_changes_are_counted_exactly(
    live: str,
    request: pytest.FixtureRequest,
    database_target: DatabaseTarget,
    app_processes: Callable[..., AppProcess],
) -> None:
    env = database_target.env()
    if live == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        env = database_target.with_redis(redis.url, "conc")
    db = database_target.created()
    event = create_event("Burst", [PitchSpec("Smart Parking")], db=db)
    app = app_processes(env)

    expected, shown, pitch_id = asyncio.run(
        _run_burst(app.url, event.code, first_stage(db, event).moderator_key)
    )

    stored = db.read(queries.score_counts, pitch_id)
    assert stored == expected
    assert sum(stored.values()) == PHONES
    assert {int(k): v for k, v in shown.items() if v} == stored
    db.close()
