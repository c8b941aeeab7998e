"""The load generator's lean WebSocket client (tests/support/wire.py) against a real
websockets server: what the phones of a benchmark receive must be exactly what a
browser would, whatever the server negotiates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import websockets
from websockets.asyncio.server import ServerConnection, serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode

from tests.support import wire

ORIGIN = "http://127.0.0.1"


@asynccontextmanager
async def echo_server(**options: object) -> AsyncIterator[tuple[str, list[str]]]:
    """Echoes each text message as JSON {"echo": …} and answers a few commands."""
    seen: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws.request.headers.get("Origin", "") if ws.request else "")
        async for raw in ws:
            assert isinstance(raw, str)
            if raw == "fragments":
                await ws.send(["frag", "ment", "ed" * 200])
            elif raw == "ping":
                await ws.ping(b"are you there")
                await ws.send("pinged")
            elif raw.startswith("close "):
                await ws.close(int(raw.split()[1]), "bye")
            else:
                await ws.send(json.dumps({"echo": raw, "pad": "x" * 300}))

    async with serve(handler, "127.0.0.1", 0, **options) as server:  # type: ignore[arg-type]
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/e/ABC/ws", seen


@pytest.mark.parametrize(
    "compression",
    [
        "deflate",  # websockets' defaults: 12-bit windows, context takeover
        "no-context-takeover",
        None,  # the server does not compress at all
    ],
)
def test_messages_arrive_exactly(compression: str | None) -> None:
    asyncio.run(_messages_arrive_exactly(compression))


async def _messages_arrive_exactly(compression: str | None) -> None:
    options: dict[str, object] = {"compression": compression}
    if compression == "no-context-takeover":
        options = {
            "compression": None,
            "extensions": [
                ServerPerMessageDeflateFactory(
                    server_no_context_takeover=True, client_no_context_takeover=True
                )
            ],
        }
    async with echo_server(**options) as (url, seen):
        ws = await wire.connect(url, ORIGIN, timeout=5)
        assert (ws.deflate is not None) == (compression is not None)
        if compression == "no-context-takeover":
            assert ws.deflate is not None and ws.deflate.server_reset and ws.deflate.client_reset
        # Several messages each way: with context takeover each depends on the last.
        sent = [f"hello {i} " + "abc" * i for i in range(20)]
        for text in sent:
            await ws.send(text)
        got = [json.loads(await ws.recv()) for _ in sent]
        assert [g["echo"] for g in got] == sent
        assert seen == [ORIGIN]
        await ws.send("fragments")
        assert await ws.recv() == "fragment" + "ed" * 200
        await ws.close()
        assert ws.close_code == 1000


def test_ping_is_answered_and_close_code_is_kept() -> None:
    asyncio.run(_ping_and_close())


async def _ping_and_close() -> None:
    async with echo_server() as (url, _seen):
        ws = await wire.connect(url, ORIGIN, timeout=5)
        await ws.send("ping")
        assert await ws.recv() == "pinged"
        await ws.send("close 4408")
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4408
        with pytest.raises(websockets.ConnectionClosed):
            await ws.send("too late")
        # async for ends quietly once the socket is closed, as with websockets' client.
        assert [m async for m in ws] == []


def test_a_refused_handshake_fails_the_connect() -> None:
    asyncio.run(_refused())


async def _refused() -> None:
    async def refuse(_conn: ServerConnection, _request: object) -> object:
        return _conn.respond(403, "no\n")

    async with echo_server(process_request=refuse) as (url, _seen):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await wire.connect(url, ORIGIN, timeout=5)
        assert refused.value.response.status_code == 403


def test_an_aborted_socket_reads_as_1006() -> None:
    asyncio.run(_aborted())


async def _aborted() -> None:
    async with echo_server() as (url, _seen):
        ws = await wire.connect(url, ORIGIN, timeout=5)
        ws.transport.abort()
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1006


def test_server_frames_are_parsed_whatever_their_length() -> None:
    """Lengths of 7, 16 and 64 bits, split at every byte boundary."""

    async def run() -> None:
        socket = wire.LeanSocket(b"", b"key")
        socket._handshaken = True
        texts = ["a" * n for n in (5, 125, 126, 300, 65535, 65536, 70000)]
        stream = b"".join(
            Frame(Opcode.TEXT, t.encode()).serialize(mask=False, extensions=[]) for t in texts
        )
        for i in range(0, len(stream), 997):
            socket.data_received(stream[i : i + 997])
        assert [socket._messages.popleft() for _ in texts] == texts

    asyncio.run(run())
