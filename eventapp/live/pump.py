"""The one WebSocket pump every audience uses.

A receive loop validates each message and calls one domain function; a send loop drains
the socket's Outbox. Both run together and either ending stops both. Messages that are
refused get an ``error`` on this socket only; repeated abuse closes it (1008).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from typing import TypedDict

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from eventapp.core.bus import Bus
from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.core.permissions import has_role
from eventapp.enums import SCREEN_ROLES, Role
from eventapp.live.hub import Connection, Hub, LiveEvent
from eventapp.live.outbox import Outbox
from eventapp.messages import (
    CloseVoting,
    Goto,
    Hello,
    Next,
    OpenVoting,
    Ping,
    ProtocolError,
    ResetVotes,
    Reveal,
    Vote,
    parse_client_message,
    server_message,
)
from eventapp.questions import live as questions
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.voting import rules as ev
from eventapp.voting.queries import VoteRow
from eventapp.voting.stats import VoteWriter, check_vote
from eventapp.web.security import origin_allowed

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
ATTENDEE_COOKIE = "ea_{code}"


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class _Abusive(Exception):
    pass


class _Deps(TypedDict):
    """What a moderator's state change needs (see eventapp.voting.rules)."""

    db: Database
    bus: Bus
    namespace: str


class LiveSession:
    def __init__(self, websocket: WebSocket, event: Event) -> None:
        self.ws = websocket
        self.event = event
        state = websocket.state
        self.settings: Settings = state.settings
        self.db: Database = state.db
        self.hub: Hub = state.hub
        self.writer: VoteWriter = state.writer
        self.outbox = Outbox(self.settings.send_queue_limit)
        self.bucket = TokenBucket(self.settings.messages_per_second, self.settings.message_burst)
        self.strikes: deque[float] = deque()
        self.conn: Connection | None = None
        self.live: LiveEvent | None = None

    async def run(self) -> None:
        abusive = False

        async def receive(scope: anyio.CancelScope) -> None:
            nonlocal abusive
            try:
                await self._receive_loop()
            except _Abusive:
                abusive = True
            scope.cancel()

        async def send(scope: anyio.CancelScope) -> None:
            # The client went away: the receive side sees it too.
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await self._send_loop()
            scope.cancel()

        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(receive, tasks.cancel_scope)
                tasks.start_soon(send, tasks.cancel_scope)
        finally:
            with anyio.CancelScope(shield=True):
                if abusive:
                    await self.ws.close(POLICY_VIOLATION, "too many refused messages")
                if self.conn is not None and self.event.id is not None:
                    await self.hub.detach(self.event.id, self.conn)

    async def _send_loop(self) -> None:
        while True:
            for text in await self.outbox.get():
                await self.ws.send_text(text)

    async def _receive_loop(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                await self._handle(raw)
        except WebSocketDisconnect:
            return

    def _refuse(
        self,
        code: str,
        text: str,
        ref: str | None = None,
        params: dict[str, str | int] | None = None,
        **extra: object,
    ) -> None:
        self.outbox.put(
            server_message("error", code=code, params=params or {}, message=text, ref=ref, **extra)
        )
        now = time.monotonic()
        self.strikes.append(now)
        while self.strikes and now - self.strikes[0] > 60:
            self.strikes.popleft()
        if len(self.strikes) >= self.settings.strikes_before_close:
            raise _Abusive

    async def _handle(self, raw: str | bytes) -> None:
        if not self.bucket.take():
            self._refuse("rate_limited", "Too many messages; slow down.")
            return
        msg: object
        try:
            msg = parse_client_message(raw, max_bytes=self.settings.max_message_bytes)
        except ProtocolError as exc:
            try:  # a question message (eventapp/questions), else this refusal
                msg = questions.parse(raw, exc, max_bytes=self.settings.max_message_bytes)
            except ProtocolError as refused:
                self._refuse(refused.code, refused.message, params=refused.params)
                return
        kind = getattr(msg, "type", None)
        try:
            if isinstance(msg, Hello):
                await self._hello(msg)
            elif isinstance(msg, Ping):
                self.outbox.put(server_message("pong"), key="pong")
            elif self.conn is None or self.live is None:
                raise ProtocolError("not_joined", "Send hello first.")
            elif isinstance(msg, Vote):
                await self._vote(msg)
            elif questions.is_question(msg):
                await questions.handle(self, msg)  # type: ignore[arg-type]
            else:
                await self._command(msg)
        except ProtocolError as exc:
            # A refused vote names its pitch, so the phone drops exactly that pending vote.
            extra = {"pitch_id": msg.pitch_id} if isinstance(msg, Vote) else {}
            if isinstance(msg, Vote):
                self.ws.state.metrics.vote_refused(exc.code)
            self._refuse(exc.code, exc.message, kind, exc.params, **extra)
        except ev.CommandRefused as exc:
            # A moderator's honest mistake (e.g. "last pitch"): no strike.
            self.outbox.put(
                server_message(
                    "error", code=exc.code, params=exc.params, message=exc.message, ref=kind
                )
            )

    async def _hello(self, msg: Hello) -> None:
        event = self.event
        assert event.id is not None
        if self.conn is not None:
            raise ProtocolError("already_joined", "This socket has already said hello.")
        attendee_id = None
        my_votes: dict[str, dict[str, int]] | None = None
        if msg.role is Role.ATTENDEE:
            token = msg.token or self.ws.cookies.get(ATTENDEE_COOKIE.format(code=event.code))
            attendee = (
                await self.db.run_read(queries.attendee_by_token, event.id, token)
                if token
                else None
            )
            if attendee is None or attendee.id is None:
                raise ProtocolError("bad_token", "Unknown attendee; please join the event.")
            attendee_id = attendee.id
            votes = await self.db.run_read(queries.votes_of_attendee, attendee.id)
            my_votes = {str(p): {"score": s, "seq": q} for p, (s, q) in votes.items()}
        elif msg.role in SCREEN_ROLES:
            if not has_role(event, msg.role, msg.key):
                raise ProtocolError("forbidden", "This link is not valid.")
        else:
            raise ProtocolError("bad_message", "Unknown role.")
        conn = Connection(role=msg.role, outbox=self.outbox, attendee_id=attendee_id)
        self.live = await self.hub.attach(event.id, conn)
        self.conn = conn
        self.outbox.put(
            server_message(
                "welcome",
                role=msg.role.value,
                attendee_id=attendee_id,
                event=self.live.state.as_json(),
                my_votes=my_votes,
            )
        )
        await questions.welcome(self)

    async def _vote(self, msg: Vote) -> None:
        assert self.conn is not None and self.live is not None
        received_at = time.monotonic()
        self.ws.state.metrics.votes_received.inc()
        if self.conn.attendee_id is None:
            raise ProtocolError("forbidden", "Only attendees vote.")
        check_vote(self.live.state, msg.pitch_id, msg.score)
        row = VoteRow(self.live.state.id, msg.pitch_id, self.conn.attendee_id, msg.score, msg.seq)
        try:
            stored = await self.writer.submit(row)
        except Exception:
            # Not durable: the phone keeps the vote pending and resends it.
            self.ws.state.metrics.vote_refused("not_saved")
            self.outbox.put(
                server_message(
                    "error",
                    code="not_saved",
                    params={},
                    message="Vote not saved; retrying.",
                    ref="vote",
                    pitch_id=msg.pitch_id,
                )
            )
            return
        if not stored:
            raise ProtocolError("voting_closed", "Voting on this pitch is not open.")
        self.outbox.put(
            server_message("vote_ack", pitch_id=msg.pitch_id, score=msg.score, seq=msg.seq),
            key=f"ack:{msg.pitch_id}",
        )
        self.ws.state.metrics.vote_acked(received_at)

    async def _command(self, msg: object) -> None:
        assert self.conn is not None and self.live is not None
        if self.conn.role is not Role.MODERATOR:
            raise ProtocolError("forbidden", "Only the moderator can do that.")
        state = self.live.state
        deps = _Deps(db=self.db, bus=self.hub.bus, namespace=self.settings.namespace)
        if isinstance(msg, OpenVoting):
            new = await ev.open_voting(state, msg.pitch_id, **deps)
        elif isinstance(msg, CloseVoting):
            new = await ev.close_voting(state, **deps)
        elif isinstance(msg, Reveal):
            new = await ev.reveal_results(state, msg.pitch_id, **deps)
        elif isinstance(msg, Goto):
            new = await ev.goto_pitch(state, msg.pitch_id, **deps)
        elif isinstance(msg, Next):
            new = await ev.next_pitch(state, **deps)
        elif isinstance(msg, ResetVotes):
            new = await ev.reset_votes(state, msg.pitch_id, confirm=msg.confirm, **deps)
        else:
            raise ProtocolError("unknown_type", "Unknown message type.")
        self.hub.apply_state(new)
        self.outbox.put(server_message("command_ack", command=getattr(msg, "type", "")))


async def live_endpoint(websocket: WebSocket) -> None:
    settings: Settings = websocket.state.settings
    if not origin_allowed(websocket, settings.allowed_origins):
        await websocket.close(POLICY_VIOLATION)
        return
    code = str(websocket.path_params["code"]).upper()
    event = await websocket.state.db.run_read(queries.event_by_code, code)
    if event is None:
        await websocket.close(4404)
        return
    await websocket.accept()
    await LiveSession(websocket, event).run()
