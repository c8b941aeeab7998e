"""The live bus: per-event channels carrying changes between app processes.

Shaped after encode/broadcaster: a tiny interface, an in-process backend, and a Redis
pub/sub backend that takes an injected client. Messages are JSON text.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Handler = Callable[[str, str], Awaitable[None] | None]  # (channel, message)


class Bus(Protocol):
    async def start(self, handler: Handler, on_reconnect: Callable[[], None]) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channel: str, message: str) -> None: ...

    async def close(self) -> None: ...


class MemoryBus:
    """In-process bus: delivers to this process's handler, in order."""

    def __init__(self) -> None:
        self._handler: Handler | None = None
        self._channels: set[str] = set()

    async def start(self, handler: Handler, on_reconnect: Callable[[], None]) -> None:
        self._handler = handler

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, message: str) -> None:
        if self._handler is not None and channel in self._channels:
            result = self._handler(channel, message)
            if result is not None:
                await result

    async def close(self) -> None:
        self._handler = None


class RedisBus:
    """Redis pub/sub. One connection per process; reconnects with backoff and then
    calls ``on_reconnect`` so the app resyncs what it may have missed meanwhile."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._channels: defaultdict[str, int] = defaultdict(int)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self, handler: Handler, on_reconnect: Callable[[], None]) -> None:
        self._task = asyncio.create_task(self._reader(handler, on_reconnect), name="redis-bus")

    async def _reader(self, handler: Handler, on_reconnect: Callable[[], None]) -> None:
        delay = 0.1
        failed = False
        while True:
            try:
                if not self._channels:
                    self._subscribed.clear()
                    await self._subscribed.wait()
                    continue
                if failed:
                    # redis-py resubscribes on reconnect; make sure, then resync.
                    await self._pubsub.subscribe(*self._channels)
                    failed = False
                    delay = 0.1
                    on_reconnect()
                message = await self._pubsub.get_message(timeout=1.0)
                if message is None or message["type"] != "message":
                    continue
                result = handler(message["channel"], message["data"])
                if result is not None:
                    await result
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if not failed:
                    log.warning("redis bus lost its connection: %s", exc)
                failed = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception:
                log.exception("bus handler failed")

    async def subscribe(self, channel: str) -> None:
        self._channels[channel] += 1
        if self._channels[channel] == 1:
            try:
                await self._pubsub.subscribe(channel)
            except (RedisError, OSError):
                log.warning("subscribe to %s deferred until Redis is back", channel)
        self._subscribed.set()

    async def unsubscribe(self, channel: str) -> None:
        self._channels[channel] -= 1
        if self._channels[channel] <= 0:
            del self._channels[channel]
            try:
                await self._pubsub.unsubscribe(channel)
            except (RedisError, OSError):
                pass

    async def publish(self, channel: str, message: str) -> None:
        await self.client.publish(channel, message)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._pubsub.aclose()
