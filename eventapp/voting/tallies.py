"""Live tallies: per-pitch score counts, kept exact under changed and resent votes.

Each pitch round keeps every attendee's latest (score, seq) and the count per score. A
vote moves one count from the old score to the new one in a single atomic step, and only
when its seq is newer than the stored one: a resend or a reordered older vote changes
nothing. SQL stays the source of truth; ``rebuild`` merges it back after Redis lost its
state, with the same newest-seq-wins rule, so it commutes with votes arriving meanwhile.

Two implementations behind one interface: in-process (embedded default, one process)
and Redis (several processes or hosts).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

PitchKey = tuple[int, int]  # (pitch_id, round)


@dataclass(frozen=True)
class TallyVote:
    pitch_id: int
    round: int
    attendee_id: int
    score: int
    seq: int


class Tallies(Protocol):
    async def apply(self, votes: Sequence[TallyVote]) -> None: ...

    async def counts(self, pitches: Iterable[PitchKey]) -> dict[int, dict[int, int]]:
        """pitch_id -> {score: count}, only non-zero counts."""
        ...

    async def is_built(self, event_id: int) -> bool: ...

    async def rebuild(self, event_id: int, votes: Sequence[TallyVote]) -> None: ...

    async def set_presence(
        self, event_id: int, process_id: str, connected: int, *, stage_id: int | None = None
    ) -> None: ...

    async def presence(self, event_id: int, *, stage_id: int | None = None) -> int:
        """Phones connected to the event (or one of its stages) across all processes."""
        ...

    async def close(self) -> None: ...


PRESENCE_TTL = 5.0  # seconds a process's connection count stays valid without a refresh


class MemoryTallies:
    """In-process tallies for the embedded default."""

    def __init__(self) -> None:
        self._votes: dict[PitchKey, dict[int, tuple[int, int]]] = defaultdict(dict)
        self._counts: dict[PitchKey, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self._built: set[int] = set()
        self._presence: dict[tuple[int, int | None], dict[str, tuple[int, float]]] = defaultdict(
            dict
        )

    def _apply_one(self, v: TallyVote) -> None:
        key = (v.pitch_id, v.round)
        current = self._votes[key].get(v.attendee_id)
        if current is not None:
            if current[1] >= v.seq:
                return
            self._counts[key][current[0]] -= 1
        self._votes[key][v.attendee_id] = (v.score, v.seq)
        self._counts[key][v.score] += 1

    async def apply(self, votes: Sequence[TallyVote]) -> None:
        for v in votes:
            self._apply_one(v)

    async def counts(self, pitches: Iterable[PitchKey]) -> dict[int, dict[int, int]]:
        return {
            pid: {s: n for s, n in self._counts.get((pid, rnd), {}).items() if n}
            for pid, rnd in pitches
        }

    async def is_built(self, event_id: int) -> bool:
        return event_id in self._built

    async def rebuild(self, event_id: int, votes: Sequence[TallyVote]) -> None:
        for v in votes:
            self._apply_one(v)
        self._built.add(event_id)

    async def set_presence(
        self, event_id: int, process_id: str, connected: int, *, stage_id: int | None = None
    ) -> None:
        self._presence[(event_id, stage_id)][process_id] = (connected, time.monotonic())

    async def presence(self, event_id: int, *, stage_id: int | None = None) -> int:
        now = time.monotonic()
        found = self._presence[(event_id, stage_id)].values()
        return sum(n for n, ts in found if now - ts < PRESENCE_TTL)

    async def close(self) -> None:
        return None


# KEYS: votes hash, counts hash. ARGV: attendee, score, seq.
_APPLY = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local seq = tonumber(ARGV[3])
if cur then
  local sep = string.find(cur, ':', 1, true)
  if tonumber(string.sub(cur, sep + 1)) >= seq then return 0 end
  redis.call('HINCRBY', KEYS[2], string.sub(cur, 1, sep - 1), -1)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return 1
"""

# KEYS: votes hash, counts hash. ARGV: attendee, score, seq, attendee, score, seq, ...
# Merges with newest-seq-wins, then recounts from the votes hash.
_MERGE = """
for i = 1, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local keep = false
  if cur then
    local sep = string.find(cur, ':', 1, true)
    keep = tonumber(string.sub(cur, sep + 1)) >= tonumber(ARGV[i + 2])
  end
  if not keep then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. ':' .. ARGV[i + 2]) end
end
redis.call('DEL', KEYS[2])
local all = redis.call('HVALS', KEYS[1])
for _, v in ipairs(all) do
  redis.call('HINCRBY', KEYS[2], string.sub(v, 1, string.find(v, ':', 1, true) - 1), 1)
end
return #all
"""


class RedisTallies:
    """Tallies in Redis, shared by every app process on the server."""

    def __init__(self, client: Redis, *, namespace: str) -> None:
        self.client = client
        self.ns = namespace
        self._apply = client.register_script(_APPLY)
        self._merge = client.register_script(_MERGE)

    def _keys(self, pitch_id: int, round_: int) -> list[str]:
        base = f"{self.ns}:pitch:{pitch_id}:{round_}"
        return [f"{base}:votes", f"{base}:counts"]

    async def apply(self, votes: Sequence[TallyVote]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for v in votes:
                await self._apply(
                    keys=self._keys(v.pitch_id, v.round),
                    args=[v.attendee_id, v.score, v.seq],
                    client=pipe,
                )
            await pipe.execute()

    async def counts(self, pitches: Iterable[PitchKey]) -> dict[int, dict[int, int]]:
        pitches = list(pitches)
        async with self.client.pipeline(transaction=False) as pipe:
            for pid, rnd in pitches:
                pipe.hgetall(self._keys(pid, rnd)[1])
            replies = await pipe.execute()
        result: dict[int, dict[int, int]] = {}
        for (pid, _rnd), raw in zip(pitches, replies, strict=True):
            result[pid] = {int(s): int(n) for s, n in raw.items() if int(n)}
        return result

    def _built_key(self, event_id: int) -> str:
        return f"{self.ns}:event:{event_id}:built"

    async def is_built(self, event_id: int) -> bool:
        return bool(await self.client.exists(self._built_key(event_id)))

    async def rebuild(self, event_id: int, votes: Sequence[TallyVote]) -> None:
        by_pitch: dict[PitchKey, list[str | int]] = defaultdict(list)
        for v in votes:
            by_pitch[(v.pitch_id, v.round)] += [v.attendee_id, v.score, v.seq]
        async with self.client.pipeline(transaction=False) as pipe:
            for (pid, rnd), args in by_pitch.items():
                await self._merge(keys=self._keys(pid, rnd), args=args, client=pipe)
            pipe.set(self._built_key(event_id), "1")
            await pipe.execute()

    def _presence_key(self, event_id: int, stage_id: int | None) -> str:
        if stage_id is None:
            return f"{self.ns}:event:{event_id}:presence"
        return f"{self.ns}:event:{event_id}:stage:{stage_id}:presence"

    async def set_presence(
        self, event_id: int, process_id: str, connected: int, *, stage_id: int | None = None
    ) -> None:
        key = self._presence_key(event_id, stage_id)
        now = time.time()
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(key, process_id, f"{connected}:{now:.3f}")
            pipe.expire(key, 3600)
            await pipe.execute()

    async def presence(self, event_id: int, *, stage_id: int | None = None) -> int:
        raw = await self.client.hgetall(self._presence_key(event_id, stage_id))
        now, total = time.time(), 0
        for value in raw.values():
            n, ts = str(value).split(":")
            if now - float(ts) < PRESENCE_TTL:
                total += int(n)
        return total

    async def close(self) -> None:
        await self.client.aclose()
