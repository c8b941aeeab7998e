"""The same behaviour from the in-process and the Redis tallies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator

import pytest
from redis.asyncio import Redis

from eventapp.voting.tallies import MemoryTallies, RedisTallies, Tallies, TallyVote
from tests.support.servers import RedisServer


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_tallies(request: pytest.FixtureRequest) -> Iterator[Callable[[], Tallies]]:
    if request.param == "memory":
        yield lambda: MemoryTallies()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    namespace = f"tally-{uuid.uuid4().hex[:8]}"
    yield lambda: RedisTallies(
        Redis.from_url(server.url, decode_responses=True), namespace=namespace
    )


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_a_change_moves_the_count_and_stale_or_repeated_votes_change_nothing(make_tallies) -> None:
    async def scenario() -> dict[int, dict[int, int]]:
        tallies: Tallies = make_tallies()
        await tallies.apply([TallyVote(1, 0, 10, 4, 100)])
        await tallies.apply([TallyVote(1, 0, 10, 2, 101)])  # changed
        await tallies.apply([TallyVote(1, 0, 10, 5, 99)])  # older, arrives late
        await tallies.apply([TallyVote(1, 0, 10, 2, 101)])  # resent
        await tallies.apply([TallyVote(1, 0, 11, 2, 1), TallyVote(1, 0, 12, 5, 1)])
        counts = await tallies.counts([(1, 0)])
        await tallies.close()
        return counts

    assert run(scenario()) == {1: {2: 2, 5: 1}}


def test_rounds_keep_reset_pitches_apart(make_tallies) -> None:
    async def scenario() -> tuple[object, object]:
        tallies: Tallies = make_tallies()
        await tallies.apply([TallyVote(1, 0, 10, 4, 1)])
        await tallies.apply([TallyVote(1, 1, 10, 3, 1)])
        result = (await tallies.counts([(1, 1)]), await tallies.counts([(1, 0)]))
        await tallies.close()
        return result

    assert run(scenario()) == ({1: {3: 1}}, {1: {4: 1}})


def test_rebuild_merges_with_votes_that_arrived_meanwhile(make_tallies) -> None:
    async def scenario() -> tuple[bool, bool, object]:
        tallies: Tallies = make_tallies()
        before = await tallies.is_built(7)
        # A newer vote reached the tallies before the rebuild read of SQL did.
        await tallies.apply([TallyVote(1, 0, 10, 5, 200)])
        await tallies.rebuild(7, [TallyVote(1, 0, 10, 1, 100), TallyVote(1, 0, 11, 3, 50)])
        after = await tallies.is_built(7)
        counts = await tallies.counts([(1, 0)])
        await tallies.close()
        return before, after, counts

    assert run(scenario()) == (False, True, {1: {5: 1, 3: 1}})


def test_presence_sums_processes(make_tallies) -> None:
    async def scenario() -> int:
        tallies: Tallies = make_tallies()
        await tallies.set_presence(3, "a", 40)
        await tallies.set_presence(3, "b", 2)
        await tallies.set_presence(3, "a", 41)
        total = await tallies.presence(3)
        await tallies.close()
        return total

    assert run(scenario()) == 43
