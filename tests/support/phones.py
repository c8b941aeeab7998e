"""Asyncio WebSocket clients for real app processes.

``LiveClient`` is the plain one the tests use: say hello, send, wait for a message.
``Phone`` and ``Screen`` behave like the attendee page (static/js/attendee.js) and the
projector/moderator screens, for sizes Locust cannot drive from one small machine.

A phone says hello with its device token, keeps the newest unacknowledged rating per
pitch, resends it with the same seq after a reconnect or a ``not_saved`` error, and
records what the benchmark measures: ack latency, when "voting opened" arrived, and the
ordinal of each first ack (for vote-to-projector latency). The same clients talk to the
bare-websockets floor server, which speaks the same messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests.support import wire

Json = dict[str, Any]


def unbundle(message: Json) -> list[Json]:
    """A message and, in order, those it carries in ``then`` (a welcome: the questions
    feed, my questions), as static/js/live.js reads them."""
    return [message, *(message.get("then") or [])]


async def open_socket(ws_url: str, origin: str, **options: Any) -> ClientConnection:
    """Open a socket to the app as its pages do, with their Origin (the app refuses a
    socket from another origin); ``options`` go to websockets.connect."""
    return await websockets.connect(ws_url, additional_headers={"origin": origin}, **options)


@dataclass
class Stats:
    """Shared by all phones of one run (one asyncio loop: no locking needed)."""

    ack_latency: list[float] = field(default_factory=list)
    ack_sent: list[float] = field(default_factory=list)  # send time of each ack_latency sample
    # Time of the k-th first ack on the pitch being measured (k = index + 1).
    first_acks: list[float] = field(default_factory=list)
    measured_pitch: int | None = None
    # pitch_id -> receive times of the first "state" showing it open, one per phone.
    opened: dict[int, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    disconnects: int = 0
    resent: int = 0

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


@dataclass
class Pending:
    score: int
    seq: int
    sent: float


class Phone:
    def __init__(
        self,
        ws_url: str,
        origin: str,
        token: str,
        stats: Stats,
        *,
        ident: int,
        deflate: bool = True,
        stage: int | None = None,
        lean: bool = False,
    ) -> None:
        # Browsers offer permessage-deflate; --no-deflate saves the client CPU it costs.
        self.compression: str | None = "deflate" if deflate else None
        # The load generator's thousands of phones use the lean client (wire.py): the
        # websockets client costs several times the CPU per connect.
        self.lean = lean
        self.source = wire.source_address(ws_url, ident) if lean else ""
        self.ws_url = ws_url
        self.origin = origin
        self.token = token
        self.stats = stats
        self.ident = ident
        self.stage = stage  # the stage the phone is on (issue 15); None: the first
        self.ws: ClientConnection | wire.LeanSocket | None = None
        self.seq = 0
        self.pending: dict[int, Pending] = {}
        # pitch -> (seq, sent) of every vote sent and not yet covered by an ack: acks for
        # a pitch are coalesced, so one ack may confirm several of them.
        self.inflight: dict[int, list[tuple[int, float]]] = {}
        self.acked: dict[int, tuple[int, int]] = {}  # pitch -> (score, seq) confirmed
        self.open_pitch: int | None = None
        self.attendee_id: int | None = None
        self.reading = True
        self._reader: asyncio.Task[None] | None = None
        self._welcome: asyncio.Future[Json] | None = None

    async def connect(self, timeout: float = 60.0) -> Json:
        """Open the socket, say hello, wait for welcome; resend what was not confirmed."""
        if self.lean:
            self.ws = await wire.connect(
                self.ws_url,
                self.origin,
                timeout=timeout,
                deflate=self.compression is not None,
                source=self.source,
            )
        else:
            self.ws = await open_socket(
                self.ws_url,
                self.origin,
                open_timeout=timeout,
                ping_interval=None,
                close_timeout=2,
                max_queue=64,
                compression=self.compression,
            )
        self._welcome = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(self.ws))
        hello: Json = {"type": "hello", "token": self.token}
        if self.stage is not None:
            hello["stage"] = self.stage
        await self.ws.send(json.dumps(hello))
        welcome = await asyncio.wait_for(self._welcome, timeout)
        self.attendee_id = welcome.get("attendee_id")
        for pid, mine in (welcome.get("my_votes") or {}).items():
            self._confirm(int(pid), int(mine["score"]), int(mine["seq"]))
        self._note_state(welcome.get("event") or {})
        await self.resend_pending()
        return welcome

    async def resend_pending(self) -> None:
        for pid, p in list(self.pending.items()):
            self.stats.resent += 1
            await self._send_vote(pid, p)

    def stop_reading(self) -> None:
        """Behave like a phone whose page froze: the socket stays open, nothing is read."""
        self.reading = False
        if self._reader is not None:
            self._reader.cancel()

    async def vote(self, pitch_id: int, score: int) -> None:
        self.seq += 1
        p = Pending(score, self.seq, time.perf_counter())
        self.pending[pitch_id] = p
        await self._send_vote(pitch_id, p)

    async def _send_vote(self, pitch_id: int, p: Pending) -> None:
        if self.ws is None:
            return
        p.sent = time.perf_counter()
        self.inflight.setdefault(pitch_id, []).append((p.seq, p.sent))
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(
                json.dumps({"type": "vote", "pitch_id": pitch_id, "score": p.score, "seq": p.seq})
            )

    async def send(self, message: Json) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(message))

    def abort(self) -> None:
        """Vanish without a closing handshake (battery dies, network switches)."""
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            self.ws.transport.abort()
        self.ws = None

    async def drop(self) -> None:
        """Lose the connection (as a phone going through a tunnel does)."""
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        self.ws = None

    # ---------------------------------------------------------------- receiving

    async def _read(self, ws: ClientConnection | wire.LeanSocket) -> None:
        try:
            async for raw in ws:
                for message in unbundle(json.loads(raw)):
                    self.handle(message)
        except websockets.ConnectionClosed:
            pass
        if self._welcome is not None and not self._welcome.done():
            # Closed before welcome (e.g. 4408): connect() fails now, as live.js's onclose
            # reconnects at once, instead of waiting out its timeout.
            code = ws.close_code if ws.close_code is not None else 1006
            self._welcome.set_exception(ConnectionError(f"closed before welcome: {code}"))
            # connect() may have stopped waiting (its timeout): mark the exception as seen,
            # so asyncio does not log "Future exception was never retrieved" for it.
            self._welcome.exception()
        if self.ws is ws:
            self.stats.disconnects += 1

    def handle(self, msg: Json) -> None:
        kind = msg.get("type")
        if kind == "vote_ack":
            self._on_ack(int(msg["pitch_id"]), int(msg["score"]), int(msg["seq"]))
        elif kind == "state":
            self._note_state(msg["event"])
        elif kind == "welcome":
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_result(msg)
        elif kind == "error":
            code = str(msg.get("code"))
            self.stats.error(code)
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_exception(RuntimeError(f"hello refused: {code}"))
            elif code == "not_saved":
                # Not durable: resend the same seq a little later (attendee.js does too).
                asyncio.get_running_loop().call_later(
                    0.5 + random.random(), lambda: asyncio.ensure_future(self.resend_pending())
                )
            elif code == "voting_closed":
                pid = msg.get("pitch_id")
                if isinstance(pid, int):
                    self.pending.pop(pid, None)

    def _on_ack(self, pitch_id: int, score: int, seq: int) -> None:
        now = time.perf_counter()
        waiting = self.inflight.get(pitch_id, [])
        covered = [sent for s, sent in waiting if s <= seq]
        if covered:
            self.stats.ack_latency.extend(now - sent for sent in covered)
            self.stats.ack_sent.extend(covered)
            self.inflight[pitch_id] = [(s, sent) for s, sent in waiting if s > seq]
        first = pitch_id not in self.acked
        self._confirm(pitch_id, score, seq)
        if first and pitch_id == self.stats.measured_pitch:
            self.stats.first_acks.append(now)

    def _confirm(self, pitch_id: int, score: int, seq: int) -> None:
        known = self.acked.get(pitch_id)
        if known is None or known[1] <= seq:
            self.acked[pitch_id] = (score, seq)
        self.seq = max(self.seq, seq)
        p = self.pending.get(pitch_id)
        if p is not None and p.seq <= seq:
            del self.pending[pitch_id]

    def _note_state(self, event: Json) -> None:
        open_pitch = next(
            (int(p["id"]) for p in event.get("pitches", []) if p.get("state") == "open"), None
        )
        if open_pitch is not None and open_pitch != self.open_pitch:
            self.stats.opened.setdefault(open_pitch, []).append(time.perf_counter())
        self.open_pitch = open_pitch


class Screen:
    """A projector or moderator socket: records every screen update and command ack."""

    def __init__(self, ws_url: str, origin: str, role: str, key: str) -> None:
        self.ws_url, self.origin, self.role, self.key = ws_url, origin, role, key
        self.ws: ClientConnection | None = None
        self.screens: list[tuple[float, Json]] = []
        self.acks: asyncio.Queue[Json] = asyncio.Queue()
        self.welcome: Json = {}
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def connect(self) -> Json:
        self.ws = await open_socket(
            self.ws_url,
            self.origin,
            ping_interval=None,
            max_size=2**22,
            max_queue=None,
        )
        await self.ws.send(json.dumps({"type": "hello", "role": self.role, "key": self.key}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg["type"] == "welcome":
                self.welcome = msg
                break
            if msg["type"] == "error":
                raise RuntimeError(f"screen hello refused: {msg}")
        self._reader = asyncio.create_task(self._read())
        return self.welcome

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg["type"] == "screen":
                    self.screens.append((time.perf_counter(), msg))
                    self._changed.set()
                elif msg["type"] in ("command_ack", "error"):
                    self.acks.put_nowait(msg)

    async def command(self, message: Json, timeout: float = 30.0) -> Json:
        assert self.ws is not None
        await self.ws.send(json.dumps(message))
        reply = await asyncio.wait_for(self.acks.get(), timeout)
        if reply["type"] == "error":
            raise RuntimeError(f"command refused: {reply}")
        return reply

    def last(self) -> Json | None:
        return self.screens[-1][1] if self.screens else None

    async def wait_for(self, predicate: Any, timeout: float) -> Json | None:
        """Wait until the newest screen satisfies ``predicate``; None on timeout."""
        deadline = time.perf_counter() + timeout
        while True:
            last = self.last()
            if last is not None and predicate(last):
                return last
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


def vote_to_screen(
    first_acks: list[float], screens: list[tuple[float, Json]], pitch_id: int
) -> list[float]:
    """For the k-th first ack, the time until a screen showed at least k votes on the
    pitch (0 when such a screen had already arrived: it was ahead of the ack)."""
    shown: list[tuple[float, int]] = []
    for at, msg in screens:
        current = msg.get("current") or {}
        if current.get("pitch_id") == pitch_id:
            shown.append((at, int(current.get("votes_in", 0))))
    latencies: list[float] = []
    j = 0
    for k, acked_at in enumerate(first_acks, start=1):
        while j < len(shown) and shown[j][1] < k:
            j += 1
        if j == len(shown):
            break  # never shown (reported as missing by the caller)
        latencies.append(max(0.0, shown[j][0] - acked_at))
    return latencies


async def connect_all(phones: Sequence[Phone], concurrency: int) -> tuple[int, list[str]]:
    """Connect every phone, ``concurrency`` handshakes at a time; returns (connected, errors)."""
    gate = asyncio.Semaphore(concurrency)
    failures: list[str] = []

    async def one(phone: Phone) -> bool:
        async with gate:
            for attempt in range(3):
                try:
                    await phone.connect()
                    return True
                except Exception as exc:
                    if attempt == 2:
                        failures.append(f"{type(exc).__name__}: {exc}"[:200])
                    await asyncio.sleep(0.5 * (attempt + 1))
            return False

    results = await asyncio.gather(*(one(p) for p in phones))
    return sum(results), failures


class LiveClient:
    """One socket as a test drives it: every message received is kept in ``inbox``."""

    def __init__(self, base: str, code: str) -> None:
        self.base = base
        self.url = base.replace("http://", "ws://") + f"/e/{code}/ws"
        self.ws: ClientConnection | None = None
        self.inbox: list[dict[str, Any]] = []
        self._ahead: list[dict[str, Any]] = []  # received, not yet looked at

    async def connect(self, hello: dict[str, Any]) -> dict[str, Any]:
        self.ws = await open_socket(self.url, self.base)
        await self.send(hello)
        return await self.wait_for(lambda m: m["type"] in ("welcome", "error"))

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        async def next_match() -> dict[str, Any]:
            while True:
                if not self._ahead:
                    self._ahead += unbundle(json.loads(await self.ws.recv()))
                message = self._ahead.pop(0)
                self.inbox.append(message)
                if predicate(message):
                    return message

        return await asyncio.wait_for(next_match(), timeout)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
