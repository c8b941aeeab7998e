"""The live glue of questions: socket handlers and the coalesced ``questions`` feed.

Handlers are plain async functions ``handler(context, message)``; the context is the
live session (anything with the attributes of ``LiveContext``). The pump calls
``parse`` for message types it does not know and ``handle`` for ours; the hub calls
``QuestionFeed.tick`` from its screen tick and ``QuestionFeed.changed`` for the bus
message ``{"type": "questions"}``.

Cost on the hot path: an ask, upvote or moderation is one SQL transaction and sets a flag.
The hub's tick publishes one bus message per tick for all local changes, and each process
reloads the feed from SQL (one read) at most every ``SCREEN_INTERVAL`` while changes come
in, sending one text per screen role and, at most every ``PHONE_INTERVAL``, one text to
all phones. Counts are SQL's: a reload after the last change shows exact figures.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from eventapp import errors
from eventapp.core.bus import Bus
from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.enums import Role
from eventapp.i18n import LANGUAGES, negotiate, translator
from eventapp.messages import server_message
from eventapp.questions import queries as store
from eventapp.questions import rules
from eventapp.questions.messages import (
    AskQuestion,
    ModerateQuestion,
    UpvoteQuestion,
    parse_question_message,
    question_message,
)
from eventapp.questions.models import PUBLIC_STATES, QuestionState
from eventapp.questions.queries import Feed, MyQuestions, QuestionView, Refused

log = logging.getLogger(__name__)

SCREEN_INTERVAL = 0.2  # seconds between reloads of an event's feed while it changes
PHONE_INTERVAL = 1.0  # seconds between feed updates to phones (one text for all) ...
PHONES_PER_INTERVAL = 1000  # ... per this many phones: 5,000 phones get one every 5 s,
# since each socket compresses and sends the list itself (the vote path comes first).
PHONE_SLICE = 25  # phones handed the feed at a time (``_to_phones``) ...
PHONE_PAUSE = 0.01  # ... then this many seconds for everything else: 5,000 phones in ~2 s
PHONE_LIST_LIMIT = 100  # questions per pitch sent to phones: the most upvoted
PROJECTOR_TOP = 3
CHANGED = '{"type":"questions"}'  # the bus message: "questions of this event changed"
# The language switch's cookie (eventapp.web.render.LANG_COOKIE; web is a layer above).
LANG_COOKIE = "ea_lang"

QuestionClient = AskQuestion | UpvoteQuestion | ModerateQuestion


# ------------------------------------------------------------------ what we need of others


class _Outbox(Protocol):
    def put(self, text: str, key: str | None = None) -> None: ...


class _Conn(Protocol):
    @property
    def role(self) -> Role: ...
    @property
    def attendee_id(self) -> int | None: ...
    @property
    def outbox(self) -> _Outbox: ...


class _State(Protocol):
    @property
    def version(self) -> int: ...


class _Live(Protocol):
    @property
    def state(self) -> _State: ...
    @property
    def phones(self) -> Sequence[_Conn]: ...
    @property
    def screens(self) -> Collection[_Conn]: ...
    @property
    def phone_count(self) -> int: ...
    def is_empty(self) -> bool: ...


class _Hub(Protocol):
    @property
    def questions(self) -> QuestionFeed: ...
    async def notify_attendee(self, event_id: int, attendee_id: int, text: str) -> None: ...


class _Socket(Protocol):
    @property
    def cookies(self) -> Mapping[str, str]: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


class LiveContext(Protocol):
    """What a handler reads of the live session."""

    @property
    def event(self) -> Event: ...
    @property
    def db(self) -> Database: ...
    @property
    def outbox(self) -> _Outbox: ...
    @property
    def conn(self) -> _Conn | None: ...
    @property
    def hub(self) -> _Hub: ...
    @property
    def ws(self) -> _Socket: ...


# ------------------------------------------------------------------ rendering the feed


def _ranked(questions: list[QuestionView]) -> list[QuestionView]:
    return sorted(questions, key=lambda q: (-q.upvotes, q.id))


def _pitch_blocks(feed: Feed, *, full: bool) -> list[dict[str, object]]:
    grouped = store.by_pitch(feed.questions)
    blocks = []
    for active in feed.pitches:
        questions = grouped.get(active.pitch_id, [])
        shown = questions if full else [q for q in questions if q.state in PUBLIC_STATES]
        if not full:
            shown = _ranked(shown)[:PHONE_LIST_LIMIT]
        blocks.append(
            {
                "pitch_id": active.pitch_id,
                "title": active.title,
                "on_stage": active.on_stage,
                "open_until": active.open_until.isoformat(timespec="seconds")
                if active.open_until
                else None,
                # Public counts: moderation is visible, nobody cuts questions silently.
                "counts": store.counts_by_state(questions),
                "questions": [q.as_json(full=full) for q in shown],
            }
        )
    return blocks


def _settings(feed: Feed) -> dict[str, object]:
    return {
        "enabled": feed.enabled,
        "anonymous_allowed": feed.anonymous_allowed,
        "premoderated": feed.premoderated,
        "max_length": feed.max_length,
    }


def render_feed(feed: Feed) -> dict[Role, str]:
    """One text per role: moderator (every question, with reasons), phones (visible ones
    and counts), projector (the highlighted question, optionally the top three)."""
    highlighted = next((q for q in feed.questions if q.highlighted), None)
    on_stage = next((a for a in feed.pitches if a.on_stage), None)
    top: list[dict[str, object]] = []
    counts: dict[str, int] | None = None
    if on_stage is not None:
        stage_questions = [q for q in feed.questions if q.pitch_id == on_stage.pitch_id]
        counts = store.counts_by_state(stage_questions)
        if feed.projector_top:
            candidates = [q for q in stage_questions if q.state is QuestionState.SHOWN]
            top = [q.as_json(full=False) for q in _ranked(candidates)[:PROJECTOR_TOP]]
    return {
        Role.MODERATOR: question_message(
            "questions",
            role=Role.MODERATOR.value,
            **_settings(feed),
            pitches=_pitch_blocks(feed, full=True),
            highlighted=highlighted.as_json(full=True) if highlighted else None,
        ),
        Role.ATTENDEE: question_message(
            "questions",
            role=Role.ATTENDEE.value,
            **_settings(feed),
            pitches=_pitch_blocks(feed, full=False),
        ),
        Role.PROJECTOR: question_message(
            "questions",
            role=Role.PROJECTOR.value,
            enabled=feed.enabled,
            highlighted=highlighted.as_json(full=False) if highlighted else None,
            top=top,
            counts=counts,
        ),
    }


def render_mine(mine: MyQuestions) -> str:
    return question_message(
        "my_questions",
        questions=[q.as_json(full=True) for q in mine.questions],
        upvoted=list(mine.upvoted),
        presenting=list(mine.presenting),
    )


# ------------------------------------------------------------------ the feed


@dataclass(eq=False)
class _EventFeed:
    dirty: bool = True
    publish: bool = False
    version: int = -1
    next_close: datetime | None = None
    loaded_at: float = 0.0
    seen: float = 0.0
    texts: dict[Role, str] = field(default_factory=dict)
    sent: dict[Role, str] = field(default_factory=dict)
    phones_sent_at: float = 0.0
    loading: asyncio.Future[Feed] | None = None
    to_phones: asyncio.Future[None] | None = None  # the feed on its way to the phones


async def _to_phones(phones: Sequence[_Conn], text: str) -> None:
    """Hand the phones' feed to every phone, ``PHONE_SLICE`` at a time, ``PHONE_PAUSE``
    apart.

    Each socket compresses and sends its own copy (~80-160 µs): handed to 5,000 phones at
    once, the sends held the loop for 0.4 s, and every vote that arrived meanwhile waited
    (the burst's 150-500 ms ack tail of issue 8: py-spy showed the loop in the send loops
    for 0.4 s after the tick that changed the feed). A slice per turn of the loop still
    took the whole process for ~0.8 s: the feed changes when a pitch comes on stage, just
    as its vote burst starts, and the vote writer's thread, starved of the GIL, took 8-20 ms
    a commit instead of 2 (the acks of that second were the burst's p99). Paced, the feed
    takes about a quarter of the loop and reaches 5,000 phones within ~2 s (it is sent at
    most every 5 s to that many). ``phones`` is the list taken at the tick: a phone joining
    meanwhile has the feed in its welcome."""
    for start in range(0, len(phones), PHONE_SLICE):
        if start:
            await asyncio.sleep(PHONE_PAUSE)
        for conn in phones[start : start + PHONE_SLICE]:
            conn.outbox.put(text, key="questions")


class QuestionFeed:
    """Per process: which events' questions changed, and the last texts per role."""

    def __init__(self, *, db: Database, bus: Bus, channel: Callable[[int], str]) -> None:
        self.db = db
        self.bus = bus
        self.channel = channel
        self._feeds: dict[int, _EventFeed] = {}
        self._ticks = 0
        # One writer per process: upvotes of all sockets share its transactions.
        self.upvotes = rules.UpvoteWriter(db=db)

    def _feed(self, event_id: int) -> _EventFeed:
        feed = self._feeds.get(event_id)
        if feed is None:
            feed = self._feeds[event_id] = _EventFeed()
        return feed

    def changed(self, event_id: int, *, local: bool = True) -> None:
        """Questions of the event changed (here: also tell the other processes)."""
        feed = self._feed(event_id)
        feed.dirty = True
        feed.publish = feed.publish or local

    def resync(self) -> None:
        """The bus was away: changes of other processes may be missed; reload all."""
        for feed in self._feeds.values():
            feed.dirty = True

    async def tick(self, event_id: int, live: _Live) -> None:
        """Called by the hub's screen loop for each event, ~10 times a second."""
        try:
            await self._tick(event_id, live)
        except Exception:
            # SQL or Redis away (or SQLite busy): keep the last picture and try again next
            # tick; the change that was being loaded or announced must not be forgotten.
            feed = self._feed(event_id)
            feed.dirty = True
            log.debug("questions tick failed for event %s", event_id, exc_info=True)

    async def _tick(self, event_id: int, live: _Live) -> None:
        now = time.monotonic()
        feed = self._feed(event_id)
        feed.seen = now
        self._ticks += 1
        if self._ticks % 1000 == 0:
            self._forget_idle(now)
        if feed.publish:
            feed.publish = False
            try:
                await self.bus.publish(self.channel(event_id), CHANGED)
            except Exception:
                feed.publish = True  # the other processes still need to hear of it
                raise
        if live.state.version != feed.version:
            feed.dirty = True  # another pitch on stage: other pitches are open
        if feed.next_close is not None and store.now_utc() >= feed.next_close:
            feed.dirty = True  # a pitch's time for questions ran out
        if live.is_empty():
            return
        if feed.dirty and now - feed.loaded_at >= SCREEN_INTERVAL:
            # Clear first: a change landing during the read marks it again.
            feed.dirty = False
            feed.version = live.state.version
            feed.loaded_at = now
            loaded = await self.db.run_read(store.load_feed, event_id, store.now_utc())
            feed.next_close = loaded.next_close
            feed.texts = render_feed(loaded)
        for role in (Role.MODERATOR, Role.PROJECTOR):
            text = feed.texts.get(role)
            if text is not None and feed.sent.get(role) != text:
                feed.sent[role] = text
                for conn in live.screens:
                    if conn.role is role:
                        conn.outbox.put(text, key="questions")
        text = feed.texts.get(Role.ATTENDEE)
        if (
            text is not None
            and feed.sent.get(Role.ATTENDEE) != text
            and now - feed.phones_sent_at
            >= PHONE_INTERVAL * max(1.0, live.phone_count / PHONES_PER_INTERVAL)
        ):
            feed.sent[Role.ATTENDEE] = text
            feed.phones_sent_at = now
            if feed.to_phones is not None:
                feed.to_phones.cancel()  # the newer text goes to every phone instead
            feed.to_phones = asyncio.ensure_future(_to_phones(live.phones, text))

    def _forget_idle(self, now: float) -> None:
        for event_id in [e for e, f in self._feeds.items() if now - f.seen > 30]:
            del self._feeds[event_id]

    async def current(self, event_id: int, role: Role) -> str:
        """The latest text for a socket that just said hello. A reconnect storm must not
        cost a read per socket: the cached text is good (the tick sends a newer one if
        anything changed), and hellos before the first load share one read."""
        feed = self._feed(event_id)
        if role not in feed.texts:
            if feed.loading is None or feed.loading.done():
                feed.loading = asyncio.ensure_future(
                    self.db.run_read(store.load_feed, event_id, store.now_utc())
                )
            loaded = await asyncio.shield(feed.loading)
            if role not in feed.texts:
                feed.texts = render_feed(loaded)
        return feed.texts[role]


# ------------------------------------------------------------------ socket handlers


def parse(raw: str | bytes, refused: errors.Refused, *, max_bytes: int) -> QuestionClient:
    """The pump's fallback for a type it does not know: ours, or its own refusal."""
    message = parse_question_message(raw, max_bytes=max_bytes)
    if message is None:
        raise refused
    return message


def is_question(message: object) -> bool:
    return isinstance(message, AskQuestion | UpvoteQuestion | ModerateQuestion)


def language_of(ctx: LiveContext) -> str:
    event = ctx.event
    offered = [x.strip() for x in (event.languages or "").split(",") if x.strip() in LANGUAGES]
    lang = negotiate(
        ctx.ws.cookies.get(LANG_COOKIE), ctx.ws.headers.get("accept-language"), event.language
    )
    if offered and lang not in offered:
        lang = event.language if event.language in offered else offered[0]
    return lang


def refusal_text(lang: str, exc: Refused) -> str:
    text = translator(lang)(exc.message)
    return text % exc.values if exc.values else text


async def welcome(ctx: LiveContext, mine: MyQuestions | None = None) -> list[str]:
    """What follows the welcome at once: the current feed for this role, and an attendee's
    own questions (``mine`` when the hello already read them, see
    ``eventapp.live.greeter``). The pump sends them in the welcome's ``then``."""
    conn, event_id = ctx.conn, ctx.event.id
    if conn is None or event_id is None:
        return []
    texts = [await ctx.hub.questions.current(event_id, conn.role)]
    if conn.attendee_id is not None:
        if mine is None:
            mine = await ctx.db.run_read(store.my_questions, event_id, conn.attendee_id)
        texts.append(render_mine(mine))
    return texts


async def handle(ctx: LiveContext, message: QuestionClient) -> None:
    conn, event_id = ctx.conn, ctx.event.id
    if conn is None or event_id is None:
        raise errors.Refused("not_joined")
    try:
        if isinstance(message, ModerateQuestion):
            if conn.role is not Role.MODERATOR:
                raise errors.Refused("forbidden", "Only the moderator can do that.")
            await _moderate(ctx, event_id, message)
            return
        if conn.attendee_id is None:
            raise errors.Refused("forbidden", "Only attendees ask and upvote.")
        if isinstance(message, AskQuestion):
            await _ask(ctx, event_id, conn.attendee_id, message)
        else:
            await _upvote(ctx, event_id, conn.attendee_id, message)
    except Refused as exc:
        # A person's mistake (too long, closed, twice): a clear error, no strike.
        extra = {"question_id": message.question_id} if not isinstance(message, AskQuestion) else {}
        ctx.outbox.put(
            server_message(
                "error",
                code=exc.code,
                message=refusal_text(language_of(ctx), exc),
                ref=message.type,
                **extra,
            )
        )


async def _ask(ctx: LiveContext, event_id: int, attendee_id: int, msg: AskQuestion) -> None:
    question = await rules.ask_question(
        event_id, msg.pitch_id, attendee_id, msg.text, anonymous=msg.anonymous, db=ctx.db
    )
    ctx.hub.questions.changed(event_id)
    ctx.outbox.put(
        question_message(
            "question_ack", action="ask", question_id=question.id, state=question.state.value
        )
    )
    mine = await ctx.db.run_read(store.my_questions, event_id, attendee_id)
    ctx.outbox.put(render_mine(mine), key="my_questions")


async def _upvote(ctx: LiveContext, event_id: int, attendee_id: int, msg: UpvoteQuestion) -> None:
    stored = await rules.upvote_question(
        event_id,
        msg.question_id,
        attendee_id,
        up=msg.up,
        seq=msg.seq,
        writer=ctx.hub.questions.upvotes,
    )
    ctx.hub.questions.changed(event_id)
    # What is stored, which a newer wish (another tab, a resend) may have set.
    ctx.outbox.put(
        question_message(
            "question_ack",
            action="upvote",
            question_id=msg.question_id,
            up=stored.up,
            seq=stored.seq,
        ),
        key=f"qack:{msg.question_id}",
    )


async def _moderate(ctx: LiveContext, event_id: int, msg: ModerateQuestion) -> None:
    done = await rules.moderate_question(
        event_id,
        msg.question_id,
        msg.action,
        reason=msg.reason.value if msg.reason else None,
        db=ctx.db,
    )
    ctx.hub.questions.changed(event_id)
    ctx.outbox.put(question_message("question_ack", action=msg.action, question_id=msg.question_id))
    # The asker sees their question's new state (and the reason), wherever they are.
    mine = await ctx.db.run_read(store.my_questions, event_id, done.asker_id)
    await ctx.hub.notify_attendee(event_id, done.asker_id, render_mine(mine))
