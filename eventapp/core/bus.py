"""The live bus: per-event channels carrying changes between app processes.

Shaped after encode/broadcaster: a tiny interface, an in-process backend, and a Redis
pub/sub backend that takes an injected client. Messages are JSON text on a channel per
event. A process listens to every event channel of its namespace (one pattern
subscription) and drops what concerns no socket it holds: no subscribe/unsubscribe
churn as sockets come and go, and nothing to redo but one pattern after a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Handler = Callable[[str, str], Awaitable[None]]  # (channel, message)


class Bus(Protocol):
    async def start(
        self, pattern: str, handler: Handler, on_reconnect: Callable[[], None]
    ) -> None: ...

    async def publish(self, channel: str, message: str) -> None: ...

    async def close(self) -> None: ...


class MemoryBus:
    """In-process bus: delivers to this process's handler, in order."""

    def __init__(self) -> None:
        self._pattern = ""
        self._handler: Handler | None = None

    async def start(self, pattern: str, handler: Handler, on_reconnect: Callable[[], None]) -> None:
        self._pattern, self._handler = pattern, handler

    async def publish(self, channel: str, message: str) -> None:
        if self._handler is not None and fnmatch.fnmatchcase(channel, self._pattern):
            await self._handler(channel, message)

    async def close(self) -> None:
        self._handler = None


class RedisBus:
    """Redis pub/sub on one connection per process. After a lost connection it
    resubscribes with backoff and calls ``on_reconnect`` so the app resyncs whatever
    it may have missed meanwhile."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._task: asyncio.Task[None] | None = None
        self._pubsub: object | None = None

    async def start(self, pattern: str, handler: Handler, on_reconnect: Callable[[], None]) -> None:
        self._task = asyncio.create_task(
            self._listen(pattern, handler, on_reconnect), name="redis-bus"
        )

    async def _listen(
        self, pattern: str, handler: Handler, on_reconnect: Callable[[], None]
    ) -> None:
        delay, first = 0.1, True
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            self._pubsub = pubsub
            try:
                await pubsub.psubscribe(pattern)
                if not first:
                    log.info("redis bus reconnected")
                    on_reconnect()
                first, delay = False, 0.1
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None and message["type"] == "pmessage":
                        try:
                            await handler(message["channel"], message["data"])
                        except Exception:
                            log.exception("bus handler failed")
            except (RedisError, OSError) as exc:
                log.warning("redis bus lost its connection (%s); retrying", exc)
                first = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                await asyncio.shield(_quietly_close(pubsub))

    async def publish(self, channel: str, message: str) -> None:
        await self.client.publish(channel, message)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # The listener's own close runs shielded and may still be in flight: finish it
        # here, so the connection is closed before the event loop is.
        if self._pubsub is not None:
            await _quietly_close(self._pubsub)


async def _quietly_close(pubsub: object) -> None:
    with contextlib.suppress(Exception):
        await pubsub.aclose()  # type: ignore[attr-defined]
