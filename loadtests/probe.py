"""Event-loop lag, measured from outside: one idle socket in a process of its own sends a
WebSocket ping every ``interval`` seconds and records the round trip. The server answers
pings on its event loop, so while that loop is busy the pong waits; the benchmark's own
busy client loop does not distort it because this runs in a separate process.

    python -m loadtests.probe ws://127.0.0.1:8000/e/CODE/ws --seconds 10

Prints one JSON object: {"rtt": [seconds, ...], "lost": n}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import uvloop
import websockets


async def probe(url: str, seconds: float, interval: float) -> dict[str, object]:
    rtts: list[float] = []
    lost = 0
    async with websockets.connect(url, ping_interval=None, open_timeout=30) as ws:
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
    return {"rtt": rtts, "lost": lost}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    print(json.dumps(uvloop.run(probe(args.url, args.seconds, args.interval))), flush=True)
