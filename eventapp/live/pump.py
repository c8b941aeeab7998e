"""The one WebSocket pump every audience uses.

A receive loop parses each message strictly and calls its handler from ``HANDLERS`` (one
entry per message type; a handler takes the session and the parsed message). A send
loop drains the socket's Outbox. Both run together and either ending stops both. A
refused message gets an ``error`` on this socket only (its code and parameters; the
browser says it in its reader's language); repeated abuse closes it (1008).

Limits (README "Live protocol"): ``hello`` within ``hello_timeout`` seconds (three
times that while over ``HELLO_STORM`` sockets of the process await theirs), at most
``sockets_per_attendee`` sockets per attendee per process, a token bucket of
``messages_per_second``/``message_burst``; rate-limited messages count as strikes only
beyond ``rate_limited_free`` a minute, so a phone's quick series of changes is slowed,
never closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

from pydantic import BaseModel
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from eventapp.core.bus import Bus
from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.core.permissions import screen_stage
from eventapp.enums import SCREEN_ROLES, Role
from eventapp.errors import Refused
from eventapp.live.greeter import Greeting
from eventapp.live.hub import TOO_MANY_SOCKETS, Connection, Hub, LiveEvent
from eventapp.live.outbox import Outbox
from eventapp.live.writer import NotSaved, VoteWriter
from eventapp.messages import (
    CloseVoting,
    CommandAck,
    Error,
    Goto,
    Hello,
    Next,
    OpenVoting,
    Pong,
    ResetVotes,
    Reveal,
    State,
    StoredVote,
    SwitchStage,
    Vote,
    Welcome,
    encode,
    followed_by,
    parse_client_message,
)
from eventapp.metrics import Metrics
from eventapp.questions import live as questions
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.voting import rules as ev
from eventapp.voting.queries import EventState, VoteRow
from eventapp.voting.stats import check_vote
from eventapp.web.security import origin_allowed

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
HELLO_TIMEOUT = 4408  # close code: no hello in time
# A process is in a reconnect storm when more sockets than this wait for their hello and
# it answered more hellos than this within ``STORM_WINDOW`` or its event loop is at least
# ``STORM_LOOP_LAG`` late: a silent socket then gets 3 × ``hello_timeout`` (15 s)
# instead of 5 s.
HELLO_STORM = 100
STORM_LOOP_LAG = 0.25  # seconds
STORM_WINDOW = 5.0  # seconds: more than HELLO_STORM hellos answered in this long
ATTENDEE_COOKIE = "ea_{code}"
STRIKE_WINDOW = 60.0  # seconds over which strikes and rate-limited messages are counted
# Refusals that end the socket, with their close code (the client shows the message).
CLOSING = {"too_many_sockets": TOO_MANY_SOCKETS}
_PONG = encode(Pong())


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


def _window(times: deque[float], now: float) -> int:
    times.append(now)
    while times and now - times[0] > STRIKE_WINDOW:
        times.popleft()
    return len(times)


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
        self.limited: deque[float] = deque()
        self.conn: Connection | None = None
        self.live: LiveEvent | None = None
        self.close_with: tuple[int, str] | None = None
        self.metrics: Metrics = state.metrics
        self._receiving = True  # the receive side runs (the send side may stop it)
        self._stopped_by_sender = False

    @property
    def event_id(self) -> int:
        assert self.event.id is not None
        return self.event.id

    async def run(self) -> None:
        """Receive in this task, send in a second one; either side ending ends both.

        Plain asyncio rather than a task group: a reconnect storm opens thousands of
        sockets a second, and a group's cancel scopes cost a tenth of each connect
        (issue 14's profiles). The send side stops this task by cancelling it, but only
        while the receive side runs, and says so first (``_stopped_by_sender``), so a
        cancellation from outside (server shutdown) still propagates."""
        task = asyncio.current_task()
        assert task is not None
        sender = asyncio.create_task(self._send_side(task))
        try:
            await self._receive_loop()
        except _Abusive:
            self.close_with = (POLICY_VIOLATION, "too many refused messages")
        except asyncio.CancelledError:
            if not self._stopped_by_sender:
                raise
            task.uncancel()
        finally:
            self._receiving = False
            sender.cancel()
            if self.conn is not None and self.live is not None:
                self.hub.detach(self.live, self.conn)
        if self.close_with is not None:
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await self.ws.close(*self.close_with)

    async def _send_side(self, receiver: asyncio.Task[None]) -> None:
        try:
            await self._send_loop()
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client went away: the receive side sees it too
        except Exception:
            log.exception("send loop failed; closing the socket")
            self.close_with = (INTERNAL_ERROR, "internal error")
        if self._receiving:
            self._stopped_by_sender = True
            receiver.cancel()

    async def _send_loop(self) -> None:
        while True:
            for text in await self.outbox.get():
                await self.ws.send_text(text)
            if self.outbox.closing is not None:
                self.close_with = self.outbox.closing
                return

    async def _receive_loop(self) -> None:
        timeout = self.settings.hello_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        extended = False
        self.hub.awaiting_hello += 1
        waiting = True
        try:
            while True:
                message: Message | None = None
                if self.conn is None:
                    # Until hello, a socket only costs us: it gets a few seconds.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(deadline):
                            message = await self.ws.receive()
                    if message is None:
                        if not extended and self._in_storm():
                            # A reconnect storm: the server, not the phone, is slow to
                            # read hellos. Closing would send the phone to the back of
                            # the queue and make the storm longer; it gets twice again.
                            extended = True
                            deadline = loop.time() + 2 * timeout
                            continue
                        self.close_with = (HELLO_TIMEOUT, "no hello")
                        return
                else:
                    if waiting:
                        waiting = False
                        self.hub.awaiting_hello -= 1
                    message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                await self._handle(raw)
        except WebSocketDisconnect:
            return
        finally:
            if waiting:
                self.hub.awaiting_hello -= 1

    def _in_storm(self) -> bool:
        """Many sockets wait for their hello and the server is busy with others' hellos
        or its loop is behind: the server, not the phone, is the slow one. A flood of
        silent sockets leaves the loop idle and brings no hellos, so it is not a storm.

        The loop's lag alone missed real storms: 10,000 phones back at once queue in the
        kernel and in uvloop's I/O, not in the ready queue, so the lag probe stayed low
        while hellos waited 5 s and more; 381-511 of 10,000 phones were closed (4408)
        and had to come back a second time."""
        hub = self.hub
        return hub.awaiting_hello > HELLO_STORM and (
            self.metrics.last_loop_lag >= STORM_LOOP_LAG
            or hub.greeter.answered_within(STORM_WINDOW) >= HELLO_STORM
        )

    # -------------------------------------------------------------- refusals

    def send_error(
        self, refusal: Refused, *, ref: str | None = None, pitch_id: int | None = None
    ) -> None:
        """Tell this socket (only) what was refused: the code and its parameters (the
        browser renders them in its reader's language) and the English text."""
        self.outbox.put(
            encode(
                Error(
                    code=refusal.code,
                    params=refusal.params,
                    message=refusal.message,
                    ref=ref,
                    pitch_id=pitch_id,
                )
            )
        )
        if pitch_id is not None and ref == "vote":
            self.metrics.vote_refused(refusal.code)
        if refusal.code in CLOSING:
            self.outbox.close(CLOSING[refusal.code], refusal.code)

    def refuse(
        self, refusal: Refused, *, ref: str | None = None, pitch_id: int | None = None
    ) -> None:
        """Send the error and count a strike; too many strikes close the socket."""
        self.send_error(refusal, ref=ref, pitch_id=pitch_id)
        if _window(self.strikes, time.monotonic()) >= self.settings.strikes_before_close:
            raise _Abusive

    # -------------------------------------------------------------- dispatch

    async def _handle(self, raw: str | bytes) -> None:
        allowed = self.bucket.take()
        msg: BaseModel
        try:
            msg = parse_client_message(raw, max_bytes=self.settings.max_message_bytes)
        except Refused as exc:
            if exc.code != "unknown_type":
                self.refuse(exc)
                return
            try:  # a type of another area (eventapp/questions), else this refusal
                msg = questions.parse(raw, exc, max_bytes=self.settings.max_message_bytes)
            except Refused as refused:
                self.refuse(refused)
                return
        kind: str = msg.type  # type: ignore[union-attr]
        # A refused vote names its pitch, so the phone settles exactly that pending vote.
        pitch_id = msg.pitch_id if isinstance(msg, Vote) else None
        if not allowed:
            refusal = Refused("rate_limited")
            if _window(self.limited, time.monotonic()) > self.settings.rate_limited_free:
                self.refuse(refusal, ref=kind, pitch_id=pitch_id)
            else:
                self.send_error(refusal, ref=kind, pitch_id=pitch_id)
            return
        if kind not in BEFORE_HELLO and self.conn is None:
            self.refuse(Refused("not_joined"), ref=kind, pitch_id=pitch_id)
            return
        try:
            await HANDLERS[kind](self, msg)
        except Refused as exc:
            self.refuse(exc, ref=kind, pitch_id=pitch_id)


# ------------------------------------------------------------------ handlers

Handler = Callable[[LiveSession, Any], Awaitable[None]]


async def on_hello(session: LiveSession, msg: Hello) -> None:
    event = session.event
    if session.conn is not None:
        raise Refused("already_joined")
    attendee_id = None
    my_votes: dict[str, StoredVote] | None = None
    key = None
    greeting: Greeting | None = None
    stage_id: int | None = None
    if msg.role is Role.ATTENDEE:
        token = msg.token or session.ws.cookies.get(ATTENDEE_COOKIE.format(code=event.code))
        # Attendee, stored votes and own questions, read with other phones' hellos.
        greeting = await session.hub.greeter.greet(session.event_id, token) if token else None
        if greeting is None:
            session.hub.forget_event(event.code)  # in case the code now names another
            raise Refused("bad_token")
        attendee_id = greeting.attendee_id
        my_votes = {str(p): StoredVote(score=s, seq=q) for p, (s, q) in greeting.votes.items()}
    elif msg.role in SCREEN_ROLES:
        # The keys as they are now (a rotated link no longer opens a screen).
        stages = await session.db.run_read(queries.stages_of, session.event_id)
        stage = screen_stage(event, stages, msg.role, msg.key)
        if stage is None:
            raise Refused("forbidden")
        if msg.stage is not None and msg.stage != stage.id:
            # The organiser's key opens any stage of this conference; a stage's key only
            # its own.
            if screen_stage(event, stages, msg.role, msg.key, msg.stage) is None:
                raise Refused(
                    "wrong_stage" if any(x.id == msg.stage for x in stages) else "unknown_stage"
                )
            stage = next(x for x in stages if x.id == msg.stage)
        key = msg.key
        stage_id = stage.id
    else:
        raise Refused("bad_message", "Unknown role.")
    if msg.role is Role.ATTENDEE:
        stage_id = msg.stage  # None: the first stage
    conn = Connection(
        role=msg.role,
        outbox=session.outbox,
        attendee_id=attendee_id,
        key=key,
        conference=msg.role is Role.PROJECTOR and msg.view == "conference",
    )
    # Once attached, broadcasts reach the socket; until the welcome is queued (the awaits
    # below), the send loop must not send them ahead of it.
    session.outbox.hold()
    try:
        session.live = await session.hub.attach(session.event_id, conn, stage_id)
        session.conn = conn
        welcome = encode(
            Welcome(
                role=msg.role,
                attendee_id=attendee_id,
                event=session.live.state.as_json(),
                my_votes=my_votes,
            )
        )
        # The questions feed and my questions go in the same send (see Welcome.then); a
        # broadcast that reached the socket meanwhile is newer than the welcome's state
        # and goes after it.
        then = await questions.welcome(session, greeting.questions if greeting else None)
        session.outbox.put_first(followed_by(welcome, then))
    finally:
        session.outbox.release()


async def on_ping(session: LiveSession, msg: object) -> None:
    session.outbox.put(_PONG, key="pong")


async def on_vote(session: LiveSession, msg: Vote) -> None:
    assert session.conn is not None and session.live is not None
    received_at = time.monotonic()
    session.metrics.votes_received.inc()
    attendee_id = session.conn.attendee_id
    if attendee_id is None:
        raise Refused("forbidden", "Only attendees vote.")
    state = session.live.state
    if (
        state.pitch(msg.pitch_id) is None
        and session.hub.stage_of_pitch(session.event_id, msg.pitch_id) is not None
    ):
        # A pitch of this conference, but another stage: vote where you are (issue 15).
        raise Refused("wrong_stage")
    check_vote(state, msg.pitch_id, msg.score)
    row = VoteRow(session.event_id, msg.pitch_id, attendee_id, msg.score, msg.seq)
    try:
        stored = await session.writer.submit(row)
    except NotSaved:
        # Not durable: the phone keeps the vote pending and resends it. No strike.
        session.send_error(Refused("not_saved"), ref="vote", pitch_id=msg.pitch_id)
        return
    if stored is None:
        raise Refused("voting_closed")
    # The stored vote (the newest seq), to every tab of this attendee, on every process:
    # all of them show the same current rating.
    session.hub.vote_stored(session.event_id, attendee_id, msg.pitch_id, stored.score, stored.seq)
    session.metrics.vote_acked(received_at)


Rule = Callable[[EventState, Any, _Deps], Awaitable[EventState]]


def moderator_command(rule: Rule) -> Handler:
    """A handler for a moderator command: only the moderator's socket may send it; the
    rule's refusal (an honest mistake such as "last pitch") is answered without a strike."""

    async def handle(session: LiveSession, msg: Any) -> None:
        assert session.conn is not None and session.live is not None
        if session.conn.role is not Role.MODERATOR:
            raise Refused("forbidden", "Only the moderator can do that.")
        deps = _Deps(db=session.db, bus=session.hub.bus, namespace=session.settings.namespace)
        pitch_id = getattr(msg, "pitch_id", None)
        if (
            pitch_id is not None
            and session.live.state.pitch(pitch_id) is None
            and session.hub.stage_of_pitch(session.event_id, pitch_id) is not None
        ):
            # A moderator commands their own stage only (issue 15); nothing is changed.
            session.send_error(Refused("wrong_stage"), ref=msg.type)
            return
        try:
            new = await rule(session.live.state, msg, deps)
        except Refused as exc:
            session.send_error(exc, ref=msg.type)
            return
        session.hub.apply_state(new)
        session.outbox.put(encode(CommandAck(command=msg.type)))

    return handle


async def _open(state: EventState, msg: OpenVoting, deps: _Deps) -> EventState:
    return await ev.open_voting(state, msg.pitch_id, **deps)


async def _close(state: EventState, msg: CloseVoting, deps: _Deps) -> EventState:
    return await ev.close_voting(state, **deps)


async def _reveal(state: EventState, msg: Reveal, deps: _Deps) -> EventState:
    return await ev.reveal_results(state, msg.pitch_id, **deps)


async def _goto(state: EventState, msg: Goto, deps: _Deps) -> EventState:
    return await ev.goto_pitch(state, msg.pitch_id, **deps)


async def _next(state: EventState, msg: Next, deps: _Deps) -> EventState:
    return await ev.next_pitch(state, **deps)


async def _reset(state: EventState, msg: ResetVotes, deps: _Deps) -> EventState:
    return await ev.reset_votes(state, msg.pitch_id, confirm=msg.confirm, **deps)


async def on_switch_stage(session: LiveSession, msg: SwitchStage) -> None:
    """A phone moves to another stage: it gets that stage's state (its identity, votes
    and questions stay; a vote belongs to a pitch, not to where the phone is)."""
    assert session.conn is not None and session.live is not None
    if session.conn.role is not Role.ATTENDEE:
        raise Refused("forbidden", "Only phones change stage; screens have their stage's link.")
    if msg.stage_id != session.live.state.stage_id:
        session.live = await session.hub.move(session.live, session.conn, msg.stage_id)
    session.outbox.put(encode(State(event=session.live.state.as_json())), key="state")


# One entry per client message type (``eventapp.messages.CLIENT_MODELS``).
HANDLERS: dict[str, Handler] = {
    "hello": on_hello,
    "ping": on_ping,
    "vote": on_vote,
    "open_voting": moderator_command(_open),
    "close_voting": moderator_command(_close),
    "reveal": moderator_command(_reveal),
    "goto": moderator_command(_goto),
    "next": moderator_command(_next),
    "reset_votes": moderator_command(_reset),
    "switch_stage": on_switch_stage,
    # Audience questions (eventapp/questions): parsed there, handled there.
    "ask_question": questions.handle,
    "upvote_question": questions.handle,
    "moderate_question": questions.handle,
}
BEFORE_HELLO = frozenset({"hello", "ping"})


async def live_endpoint(websocket: WebSocket) -> None:
    settings: Settings = websocket.state.settings
    if not origin_allowed(websocket, settings.allowed_origins):
        await websocket.close(POLICY_VIOLATION)
        return
    code = str(websocket.path_params["code"]).upper()
    event = await websocket.state.hub.event_by_code(code)
    if event is None:
        await websocket.close(4404)
        return
    await websocket.accept()
    await LiveSession(websocket, event).run()
