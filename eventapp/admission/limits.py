"""Join limits: a token bucket per (event, address group), shared by all processes.

A whole hall often reaches the server from one public address (venue Wi-Fi behind NAT),
so the bucket must let a hall in, yet stop one script from filling the event. With the
defaults (burst 100, 8.5 joins/s refill) 1,000 people behind one address who arrive
within two minutes all get in (100 + 120 × 8.5 = 1,120 ≥ 1,000), while one address can
create at most 100 + 60 × 8.5 = 610 attendees in any minute. No limit can do better on
rate alone: letting 1,000 in within 120 s means ≥ 500 within some 60 s. The hall code,
invite lists, the attendee cap and the console's stuffing flags close the rest.

Two implementations behind one interface, chosen from the Redis URL like the bus: in
process (one app process) and Redis (a Lua script, atomic across processes). Both take
an injected clock so tests can check the arithmetic without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis

Clock = Callable[[], float]


class JoinLimiter(Protocol):
    async def take(self, key: str) -> float:
        """Take one join from ``key``'s bucket: 0.0 when allowed, else the seconds until
        one is free again (nothing is taken then)."""
        ...

    async def close(self) -> None: ...


def _refill(tokens: float, stamp: float, now: float, rate: float, burst: int) -> float:
    return min(float(burst), tokens + max(0.0, now - stamp) * rate)


class MemoryLimiter:
    MAX_KEYS = 100_000  # beyond this, full buckets are forgotten (they hold no state)

    def __init__(self, *, rate: float, burst: int, clock: Clock = time.time) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str) -> float:
        now = self.clock()
        tokens, stamp = self._buckets.get(key, (float(self.burst), now))
        tokens = _refill(tokens, stamp, now, self.rate, self.burst)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, max(now, stamp))
        if len(self._buckets) > self.MAX_KEYS:
            self._forget_full(now)
        return wait

    def _forget_full(self, now: float) -> None:
        for key, (tokens, stamp) in list(self._buckets.items()):
            if _refill(tokens, stamp, now, self.rate, self.burst) >= self.burst:
                del self._buckets[key]

    async def close(self) -> None:
        return None


# KEYS: bucket. ARGV: rate, burst, now. Returns the wait in seconds as text ("0": taken).
_TAKE = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens, stamp = tonumber(held[1]), tonumber(held[2])
if tokens == nil then tokens = burst; stamp = now end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(math.max(now, stamp)))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RedisLimiter:
    """The same bucket in Redis. The clock is the app's (hosts keep time with NTP); the
    script keeps the later stamp, so a host a little behind cannot refill a bucket."""

    def __init__(
        self, client: Redis, *, namespace: str, rate: float, burst: int, clock: Clock = time.time
    ) -> None:
        self.client, self.ns = client, namespace
        self.rate, self.burst, self.clock = rate, burst, clock
        self._take = client.register_script(_TAKE)

    async def take(self, key: str) -> float:
        wait = await self._take(
            keys=[f"{self.ns}:joinlimit:{key}"], args=[self.rate, self.burst, self.clock()]
        )
        return float(wait)

    async def close(self) -> None:
        await self.client.aclose()


def open_limiter(
    redis_url: str | None, *, namespace: str, rate: float, burst: int, clock: Clock = time.time
) -> JoinLimiter:
    """In-process limiter, or a Redis one when the app runs on Redis."""
    if not redis_url:
        return MemoryLimiter(rate=rate, burst=burst, clock=clock)
    client = Redis.from_url(redis_url, decode_responses=True, socket_connect_timeout=2)
    return RedisLimiter(client, namespace=namespace, rate=rate, burst=burst, clock=clock)
