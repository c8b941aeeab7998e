"""A socket's send queue keeps the latest state, not a backlog."""

from __future__ import annotations

import asyncio

from eventapp.live.outbox import Outbox


def test_keyed_messages_replace_undelivered_ones() -> None:
    async def scenario() -> list[str]:
        box = Outbox(limit=4)
        for i in range(1000):
            box.put(f"screen {i}", key="screen")
            box.put(f"state {i}", key="state")
        box.put("ack 1", key="ack:1")
        return await box.get()

    assert asyncio.run(scenario()) == ["screen 999", "state 999", "ack 1"]


def test_unkeyed_messages_are_capped_oldest_dropped_first() -> None:
    async def scenario() -> list[str]:
        box = Outbox(limit=3)
        for i in range(10):
            box.put(f"error {i}")
        return await box.get()

    assert asyncio.run(scenario()) == ["error 7", "error 8", "error 9"]


def test_get_waits_for_the_next_message() -> None:
    async def scenario() -> list[str]:
        box = Outbox()
        waiter = asyncio.create_task(box.get())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        box.put("hello", key="state")
        return await asyncio.wait_for(waiter, 1)

    assert asyncio.run(scenario()) == ["hello"]


def test_put_first_goes_ahead_of_what_is_pending() -> None:
    """A welcome is queued ahead of the broadcasts that reached the socket while it was
    being made (eventapp.live.pump.on_hello); keyed messages still replace their own."""

    async def scenario() -> list[str]:
        box = Outbox()
        box.put("state 1", key="state")
        box.put("error")
        box.put_first("welcome")
        box.put("state 2", key="state")
        return await box.get()

    assert asyncio.run(scenario()) == ["welcome", "error", "state 2"]


def test_a_held_outbox_sends_nothing_until_released_then_the_welcome_first() -> None:
    """From attach to the queued welcome (eventapp.live.pump.on_hello) a broadcast may
    reach the socket; the send loop must not send it ahead of the welcome (seen once in
    CI: a phone's first message was the questions feed, not its welcome)."""

    async def scenario() -> tuple[bool, list[str]]:
        box = Outbox()
        box.hold()
        waiter = asyncio.create_task(box.get())
        box.put("questions", key="questions")
        box.put("state 1", key="state")
        await asyncio.sleep(0.01)
        sent_while_held = waiter.done()
        box.put_first("welcome")
        box.release()
        return sent_while_held, await asyncio.wait_for(waiter, 1)

    assert asyncio.run(scenario()) == (False, ["welcome", "questions", "state 1"])


def test_a_close_is_not_held_back() -> None:
    async def scenario() -> list[str]:
        box = Outbox()
        box.hold()
        box.put("error")
        box.close(4000, "bye")
        return await asyncio.wait_for(box.get(), 1)

    assert asyncio.run(scenario()) == ["error"]
