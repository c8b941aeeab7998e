"""The floor: a bare ``websockets`` server doing what the app does minus everything the app
adds (routing, validation, SQL, Redis, the hub): hello -> welcome, vote -> vote_ack at
once, ping -> pong, "open_voting" broadcast to every socket, and at most 10 screen
updates a second to screens. It runs as its own process on the same machine and in the
same run as the app, so the benchmark can print the app's figures as ratios to it.

    python -m loadtests.floor --port 8765 --pitches 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from typing import Any

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from tests.support.servers import raise_fd_limit


class Floor:
    def __init__(self, pitches: int) -> None:
        self.version = 0
        self.pitches: list[dict[str, Any]] = [
            {
                "id": i + 1,
                "position": i,
                "title": f"Pilot project {i + 1}",
                "presenter": "Stadtwerke",
                "state": "pending",
                "round": 0,
            }
            for i in range(pitches)
        ]
        self.current: int | None = None
        self.phones: set[ServerConnection] = set()
        self.screens: set[ServerConnection] = set()
        self.voters: dict[int, set[int]] = {}
        self.dirty = False

    def state(self) -> dict[str, Any]:
        # The same shape and size as the app's event state.
        return {
            "id": 1,
            "code": "FLOOR1",
            "name": "Load test",
            "scale": {
                "min": 1,
                "max": 5,
                "labels": [
                    "not relevant",
                    "slightly relevant",
                    "somewhat relevant",
                    "relevant",
                    "very relevant",
                ],
            },
            "live_results": True,
            "current_pitch_id": self.current,
            "version": self.version,
            "pitches": self.pitches,
        }

    async def handler(self, ws: ServerConnection) -> None:
        role = "attendee"
        ident = id(ws)
        try:
            async for raw in ws:
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "vote":
                    pid = int(msg["pitch_id"])
                    self.voters.setdefault(pid, set()).add(ident)
                    self.dirty = True
                    await ws.send(
                        json.dumps(
                            {
                                "type": "vote_ack",
                                "pitch_id": pid,
                                "score": msg["score"],
                                "seq": msg["seq"],
                            }
                        )
                    )
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind == "hello":
                    role = str(msg.get("role", "attendee"))
                    (self.phones if role == "attendee" else self.screens).add(ws)
                    await ws.send(
                        json.dumps(
                            {
                                "type": "welcome",
                                "role": role,
                                "attendee_id": ident,
                                "event": self.state(),
                                "my_votes": {},
                            }
                        )
                    )
                elif kind in ("open_voting", "close_voting", "next", "goto"):
                    self.command(msg)
                    await ws.send(json.dumps({"type": "command_ack", "command": kind}))
        finally:
            self.phones.discard(ws)
            self.screens.discard(ws)

    async def serve(self, ws: ServerConnection) -> None:
        # A phone that vanishes without a closing handshake (the reconnect storm) is the
        # normal case here, not an error to log.
        with contextlib.suppress(ConnectionClosed):
            await self.handler(ws)

    def command(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        for p in self.pitches:
            if p["state"] == "open":
                p["state"] = "closed"
        if kind == "open_voting":
            self.current = int(msg.get("pitch_id") or self.current or 1)
            self.pitches[self.current - 1]["state"] = "open"
        elif kind == "goto":
            self.current = int(msg["pitch_id"])
        self.version += 1
        text = json.dumps({"type": "state", "event": self.state()}, separators=(",", ":"))
        broadcast(self.phones | self.screens, text)
        self.dirty = True

    async def screens_loop(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            if not self.dirty or not self.screens:
                continue
            self.dirty = False
            current = self.current
            votes = len(self.voters.get(current or 0, ()))
            text = json.dumps(
                {
                    "type": "screen",
                    "version": self.version,
                    "connected": len(self.phones),
                    "current": {"pitch_id": current, "votes_in": votes},
                }
            )
            broadcast(self.screens, text)


async def main(port: int, pitches: int) -> None:
    floor = Floor(pitches)
    stop = asyncio.get_running_loop().create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, request_stop)
    ticker = asyncio.create_task(floor.screens_loop())
    async with serve(
        floor.serve, "127.0.0.1", port, max_size=65536, ping_interval=20, backlog=4096
    ):
        print("floor ready", flush=True)
        await stop
    ticker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticker


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pitches", type=int, default=3)
    args = parser.parse_args()
    raise_fd_limit()
    uvloop.run(main(args.port, args.pitches))
