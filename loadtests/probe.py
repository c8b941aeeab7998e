"""Event-loop lag, measured from outside: one idle socket in a process of its own sends a
WebSocket ping every ``interval`` seconds and records the round trip. The server answers
pings on its event loop, so while that loop is busy the pong waits; the benchmark's own
busy client loop does not distort it because this runs in a separate process.

    python -m loadtests.probe ws://127.0.0.1:8000/e/CODE/ws --seconds 10 --hello '{...}'

The app closes a socket that has not said hello within a few seconds, so the probe sends
``--hello`` first (the benchmark passes the projector's) and reads what it is sent.

Prints one JSON object: {"rtt": [seconds, ...], "lost": n}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import uvloop
import websockets


async def probe(
    url: str, seconds: float, interval: float, hello: str | None = None
) -> dict[str, object]:
    rtts: list[float] = []
    lost = 0
    async with websockets.connect(url, ping_interval=None, open_timeout=30) as ws:
        if hello:
            await ws.send(hello)

        async def drain() -> None:
            # Unread messages would fill the client's queue and stall the pongs behind them.
            async for _ in ws:
                pass

        reader = asyncio.create_task(drain())
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                waiter = await ws.ping()
                await asyncio.wait_for(waiter, 5.0)
                rtts.append(time.perf_counter() - started)
            except TimeoutError:
                lost += 1
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))
        reader.cancel()
    return {"rtt": rtts, "lost": lost}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--hello", default=None, help="first message to send (JSON text)")
    args = parser.parse_args()
    result = uvloop.run(probe(args.url, args.seconds, args.interval, args.hello))
    print(json.dumps(result), flush=True)
