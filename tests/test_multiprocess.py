"""Two app processes on one Redis and one database behave as one app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
from tests.conftest import AppProcess, DatabaseTarget
from tests.support.joining import join_http
from tests.support.phones import LiveClient
from tests.support.seeding import first_stage
from tests.support.servers import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def test_vote_through_one_process_shows_on_a_projector_of_the_other(
    database_target: DatabaseTarget,
    redis_server: RedisServer,
    app_processes: Callable[..., AppProcess],
) -> None:
    db = database_target.created()
    event = create_event(
        "Two Hosts", [PitchSpec("Smart Parking"), PitchSpec("Heat")], db=db, live_results=True
    )
    env = database_target.with_redis(redis_server.url, "mp")
    a, b = app_processes(env), app_processes(env)

    async def scenario() -> tuple[dict[str, int], int, int]:
        moderator = LiveClient(b.url, event.code)
        projector = LiveClient(b.url, event.code)
        await moderator.connect(
            {"type": "hello", "role": "moderator", "key": first_stage(db, event).moderator_key}
        )
        await projector.connect(
            {"type": "hello", "role": "projector", "key": first_stage(db, event).projector_key}
        )
        token_a = await join_http(a.url, event.code, "Phone on A")
        token_b = await join_http(b.url, event.code, "Phone on B")
        phone_a, phone_b = LiveClient(a.url, event.code), LiveClient(b.url, event.code)
        await phone_a.connect({"type": "hello", "token": token_a})
        await phone_b.connect({"type": "hello", "token": token_b})

        # The moderator on B opens voting; the phone on A hears it.
        await moderator.send({"type": "next"})
        await moderator.send({"type": "open_voting"})
        state = await phone_a.wait_for(
            lambda m: (
                m["type"] == "state" and any(p["state"] == "open" for p in m["event"]["pitches"])
            )
        )
        pitch_id = state["event"]["current_pitch_id"]

        await phone_a.send({"type": "vote", "pitch_id": pitch_id, "score": 5, "seq": 1})
        await phone_a.wait_for(lambda m: m["type"] == "vote_ack")
        await phone_b.send({"type": "vote", "pitch_id": pitch_id, "score": 3, "seq": 1})
        await phone_b.wait_for(lambda m: m["type"] == "vote_ack")

        # The projector on B shows both, and both phones as connected (presence is shared).
        screen = await projector.wait_for(
            lambda m: (
                m["type"] == "screen"
                and (m.get("current") or {}).get("votes_in") == 2
                and m["connected"] == 2
            ),
            timeout=10,
        )
        for client in (moderator, projector, phone_a, phone_b):
            await client.close()
        return screen["current"]["summary"]["distribution"], screen["connected"], pitch_id

    distribution, connected, pitch_id = asyncio.run(scenario())
    assert distribution == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}
    assert connected == 2
    assert db.read(queries.score_counts, pitch_id) == {3: 1, 5: 1}
    db.close()
