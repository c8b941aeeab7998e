"""A socket's bounded send queue that keeps the latest state, not a backlog.

Messages with a ``key`` (the event state, a screen update, the ack for a pitch) replace
the undelivered one with the same key; a phone that stops reading holds at most one of
each. Unkeyed messages (errors) are capped: the oldest are dropped first. ``close`` asks
the socket's send loop to close it once what is queued has gone out. ``hold`` keeps
everything back until ``release`` (a welcome being made: nothing may overtake it).
"""

from __future__ import annotations

import asyncio
import itertools


class Outbox:
    __slots__ = ("_counter", "_held", "_pending", "_unkeyed", "_waiter", "closing", "limit")

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._pending: dict[object, str] = {}
        self._unkeyed: list[int] = []
        self._counter = itertools.count()
        self._waiter: asyncio.Future[None] | None = None
        self._held = False
        self.closing: tuple[int, str] | None = None  # (close code, reason) once asked to

    def put(self, text: str, key: str | None = None) -> None:
        if key is None:
            slot = next(self._counter)
            self._unkeyed.append(slot)
            self._pending[slot] = text
            if len(self._unkeyed) > self.limit:
                self._pending.pop(self._unkeyed.pop(0), None)
        else:
            # Re-insert so a replaced message moves behind what was queued before it.
            self._pending.pop(key, None)
            self._pending[key] = text
        self._wake()

    def put_first(self, text: str) -> None:
        """Queue ``text`` ahead of everything pending (a welcome before the broadcasts that
        reached the socket while the welcome was being made)."""
        slot = next(self._counter)
        self._unkeyed.insert(0, slot)
        self._pending = {slot: text, **self._pending}
        self._wake()

    def hold(self) -> None:
        """Send nothing until ``release``: from the moment a socket can be reached by
        broadcasts until its welcome is queued, which takes awaits (the feed, my
        questions). A broadcast queued meanwhile goes out after the welcome, not before
        it. A close is not held back."""
        self._held = True

    def release(self) -> None:
        self._held = False
        self._wake()

    def close(self, code: int, reason: str) -> None:
        """Close the socket after the queued messages (e.g. a final error) are sent."""
        if self.closing is None:
            self.closing = (code, reason)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __len__(self) -> int:
        return len(self._pending)

    async def get(self) -> list[str]:
        """Wait for and take everything pending, oldest first (empty once closing)."""
        while (self._held or not self._pending) and self.closing is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items = list(self._pending.values())
        self._pending.clear()
        self._unkeyed.clear()
        return items
