"""The process-local live hub: which sockets watch which stage, and the loops that feed them.

One Hub per app process. For each stage with connected sockets it keeps a LiveEvent
(``eventapp.live.connections``): the cached state of the stage (updated from the event's
bus channel), the sockets -- phones indexed by attendee -- and flags for what changed.
Per conference it keeps the latest state of every stage (the moderator's overview and the
conference leaderboard) and the votes to announce. Issue 15: one bus channel per
conference -- its envelopes name their stage where one is concerned -- because direct
messages, networking and questions are conference-wide. The screen loop coalesces screen
updates to at most ``screen_updates_per_second`` per stage, reading fresh tallies each
time, so a burst of 4,000 votes costs the projector ten updates a second, not 4,000.
Payloads come from ``screens``; the tallies are kept equal to SQL by
``keeper``; connection counts come from ``presence``. The loops run under the app's
``Supervisor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from eventapp.core.bus import Bus
from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.core.permissions import screen_stage
from eventapp.enums import Role
from eventapp.errors import Refused
from eventapp.live.connections import Connection, LiveEvent
from eventapp.live.gcpolicy import manage_gc
from eventapp.live.greeter import Greeter
from eventapp.live.keeper import TallyKeeper
from eventapp.live.presence import refresh_presence
from eventapp.live.screens import screen_payload, stage_overview, summaries_of
from eventapp.live.supervisor import Supervisor
from eventapp.messages import (
    BusDirect,
    BusKeyRotated,
    BusQuestions,
    BusVotes,
    BusVotesReset,
    Error,
    State,
    VoteAck,
    VoteReset,
    decode_bus,
    encode,
)
from eventapp.metrics import Metrics
from eventapp.questions.live import QuestionFeed
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.voting.queries import EventState, PitchInfo
from eventapp.voting.rules import event_channel, event_channel_pattern, event_of_channel
from eventapp.voting.tallies import Tallies

__all__ = ["Connection", "Hub", "LiveEvent"]

log = logging.getLogger(__name__)

PRESENCE_INTERVAL = 1.0  # seconds between connection-count refreshes and tally checks
RECONCILE_EVERY = 5  # presence ticks between comparisons of the tallies with SQL
LINK_REPLACED = 4403  # close code of a screen whose link was rotated (the page says so)
TOO_MANY_SOCKETS = 4429  # close code of a socket over the per-attendee cap
MAX_CACHED_EVENTS = 1000  # events remembered by code (then forgotten all at once)


class ConferenceView:
    """All of a conference's sockets on this process, as the questions feed sees them
    (questions are conference-wide); ``state.version`` moves with any stage's."""

    def __init__(self, lives: Iterable[LiveEvent], version: int) -> None:
        self._lives = list(lives)
        self.state = _Version(version)

    @property
    def phones(self) -> list[Connection]:
        return [c for live in self._lives for c in live.phones]

    @property
    def screens(self) -> list[Connection]:
        return [c for live in self._lives for c in live.screens]

    @property
    def phone_count(self) -> int:
        return sum(live.phone_count for live in self._lives)

    def is_empty(self) -> bool:
        return all(live.is_empty() for live in self._lives)


class _Version:
    def __init__(self, version: int) -> None:
        self.version = version


class Hub:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        tallies: Tallies,
        bus: Bus,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.settings = settings
        self.db = db
        self.tallies = tallies
        self.bus = bus
        # event id -> stage id -> the stage's live state and sockets on this process.
        self.events: dict[int, dict[int, LiveEvent]] = {}
        # event id -> stage id -> the newest state of every stage of the conference.
        self.conference: dict[int, dict[int, EventState]] = {}
        # stage id -> phones on it across processes (stages without sockets here too).
        self.turnout: dict[int, int] = {}
        # Votes stored here since the last announcement, per event (attendee, pitch,
        # score, seq): other processes pass them to the attendee's tabs they hold.
        self._acks: dict[int, list[tuple[int, int, int, int]]] = {}
        self._votes_changed: set[int] = set()
        self._stale: set[int] = set()  # conferences whose stage states must be reloaded
        self._reloaded_at: dict[int, float] = {}
        # Per event: the tallies-against-SQL check over every stage's pitches.
        self._checks: dict[int, LiveEvent] = {}
        self.process_id = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.keeper = TallyKeeper(
            db=db, tallies=tallies, apply_state=self.apply_state, metrics=self.metrics
        )
        # One lock per event, held while its LiveEvent is made and its tallies built:
        # a first attach of one event does not hold up phones of the others.
        self._locks: dict[int, asyncio.Lock] = {}
        # Sockets of this process that have not said hello yet (the pump counts them).
        self.awaiting_hello = 0
        self.greeter = Greeter(db)
        # code -> event of the sockets that connected here (see ``event_by_code``).
        self._events_by_code: dict[str, Event] = {}
        self.questions = QuestionFeed(
            db=db, bus=bus, channel=lambda e: event_channel(settings.namespace, e)
        )
        # One handler per bus envelope type (eventapp.messages.BUS_MODELS).
        self._bus_handlers: dict[str, Callable[[int, Any, str], Awaitable[None]]] = {
            "state": self._bus_state,
            "votes": self._bus_votes,
            "direct": self._bus_direct,
            "votes_reset": self._bus_votes_reset,
            "key_rotated": self._bus_key_rotated,
            "questions": self._bus_questions,
        }

    # -------------------------------------------------------------- lifecycle

    async def start(self, loops: Supervisor) -> None:
        await self.bus.start(
            event_channel_pattern(self.settings.namespace),
            self._on_bus_message,
            self._on_bus_reconnect,
        )
        loops.run("hub-screens", self._screen_loop)
        loops.run("hub-presence", self._presence_loop)
        loops.run("gc-policy", lambda: manage_gc(self.voting_open))

    # -------------------------------------------------------------- stages

    def lives(self, event_id: int) -> list[LiveEvent]:
        """The stages of the event with sockets on this process."""
        return list(self.events.get(event_id, {}).values())

    def stage_states(self, event_id: int) -> list[EventState]:
        """The newest state of every stage of the conference, in the stages' order."""
        states = self.conference.get(event_id, {})
        return sorted(states.values(), key=lambda s: _stage_order(s))

    def stage_of_pitch(self, event_id: int, pitch_id: int) -> int | None:
        """The stage a pitch of the conference is on (None: no such pitch)."""
        for state in self.conference.get(event_id, {}).values():
            if state.pitch(pitch_id) is not None:
                return state.stage_id
        return None

    async def _ensure_conference(self, event_id: int) -> dict[int, EventState]:
        """The newest state of every stage of the conference (read once, then kept by
        ``apply_state``; read again when marked stale)."""
        if event_id not in self.conference or event_id in self._stale:
            self._stale.discard(event_id)
            states = await self.db.run_read(queries.load_states, event_id)
            known = self.conference.setdefault(event_id, {})
            newer = False
            for state in states:
                old = known.get(state.stage_id)
                if old is None or state.version > old.version:
                    known[state.stage_id] = state
                    newer = True
            if newer:
                for live in self.lives(event_id):
                    live.dirty = True  # the overview and the conference leaderboard moved
            for state in self.stage_states(event_id):
                self.apply_state(state)  # the sockets here get what is newer than theirs
        return self.conference.setdefault(event_id, {})

    async def _catch_up(self, event_id: int) -> None:
        """Reload a stale conference; again if it went stale during the read (a second
        change of the stage list meanwhile)."""
        while event_id in self._stale:
            await self._ensure_conference(event_id)

    # -------------------------------------------------------------- sockets

    async def event_by_code(self, code: str) -> Event | None:
        """The event a socket names, read once per process: a phone's hello uses only its
        id and code, which never change (a screen's hello reads the stages afresh for
        their keys; a deleted event has no attendees, so its tokens are refused). Unknown
        codes are not remembered."""
        code = code.upper()
        event = self._events_by_code.get(code)
        if event is None:
            event = await self.db.run_read(queries.event_by_code, code)
            if event is not None:
                if len(self._events_by_code) >= MAX_CACHED_EVENTS:
                    self._events_by_code.clear()
                self._events_by_code[code] = event
        return event

    def forget_event(self, code: str) -> None:
        self._events_by_code.pop(code.upper(), None)

    async def attach(
        self, event_id: int, conn: Connection, stage_id: int | None = None
    ) -> LiveEvent:
        """Put a socket on a stage (the first when none is named); ``unknown_stage`` for
        a stage of another conference."""
        live = self._ready_live(event_id, stage_id)
        if live is not None:
            # Built already: nothing to wait for (no await between the check and add).
            self._check_cap(event_id, conn)
            live.add(conn)
        else:
            live = await self._attach_first(event_id, conn, stage_id)
        live.dirty = True
        if conn.role is not Role.ATTENDEE and conn.kind in live.last_screen:
            conn.outbox.put(live.last_screen[conn.kind], key="screen")
        return live

    def _ready_live(self, event_id: int, stage_id: int | None) -> LiveEvent | None:
        """The stage's live state when it is served here and built (the lock-free path)."""
        stages = self.events.get(event_id)
        if not stages or event_id in self._stale or not self.conference.get(event_id):
            return None
        if stage_id is None:
            stage_id = self.stage_states(event_id)[0].stage_id
        live = stages.get(stage_id)
        return live if live is not None and live.ready else None

    def _check_cap(self, event_id: int, conn: Connection) -> None:
        if conn.attendee_id is not None:
            cap = self.settings.sockets_per_attendee
            held = sum(len(x.by_attendee.get(conn.attendee_id, ())) for x in self.lives(event_id))
            if held >= cap:
                raise Refused("too_many_sockets", None, {"limit": cap})

    async def _attach_first(
        self, event_id: int, conn: Connection, stage_id: int | None
    ) -> LiveEvent:
        lock = self._locks.setdefault(event_id, asyncio.Lock())
        async with lock:
            self._check_cap(event_id, conn)
            known = await self._ensure_conference(event_id)
            if stage_id is None:
                stage_id = self.stage_states(event_id)[0].stage_id
            elif stage_id not in known:
                # Perhaps a stage added since: read again, at most once a second per event
                # (unknown stage ids cost a refusal, not a query each).
                now = time.monotonic()
                if now - self._reloaded_at.get(event_id, 0.0) >= 1.0:
                    self._reloaded_at[event_id] = now
                    self._stale.add(event_id)
                    known = await self._ensure_conference(event_id)
                if stage_id not in known:
                    raise Refused("unknown_stage")
            stages = self.events.setdefault(event_id, {})
            live = stages.get(stage_id)
            created = live is None
            if live is None:
                # A process that starts serving an event merges SQL into the tallies
                # even when Redis says "built": a crashed predecessor may have committed
                # votes it never mirrored, and phones do not resend those (welcome's
                # my_votes tells them they are saved). The merge is newest-seq-wins, so
                # it commutes with votes arriving meanwhile.
                # Tallies are per event: when another stage of it is served here, they
                # were merged already (one rebuild per event, not one per stage).
                served = any(not x.needs_rebuild for x in stages.values())
                live = LiveEvent(state=known[stage_id], needs_rebuild=not served)
                stages[stage_id] = live
            # Join before the next await: the presence loop drops stages that have no
            # sockets, and would orphan this one while the tallies are being built.
            live.add(conn)
            if created:
                try:
                    await self.keeper.ensure(live)
                except Exception:
                    # The socket gets no welcome and will not detach: do not count it,
                    # and let the next attach build the event afresh.
                    live.discard(conn)
                    if live.is_empty() and stages.get(stage_id) is live:
                        del stages[stage_id]
                    raise
                live.ready = True
        return live

    def detach(self, live: LiveEvent, conn: Connection) -> None:
        live.discard(conn)
        live.dirty = True

    async def move(self, live: LiveEvent, conn: Connection, stage_id: int) -> LiveEvent:
        """A phone switches stage: off its stage, onto the other (back if that fails)."""
        event_id = live.state.id
        live.discard(conn)
        live.dirty = True
        try:
            return await self.attach(event_id, conn, stage_id)
        except BaseException:
            live.add(conn)
            raise

    def vote_stored(
        self, event_id: int, attendee_id: int, pitch_id: int, score: int, seq: int
    ) -> None:
        """Tell every socket of the attendee (on any stage) which vote is stored: here at
        once, on other processes with the next ``votes`` announcement (at most a screen
        tick later)."""
        text = encode(VoteAck(pitch_id=pitch_id, score=score, seq=seq))
        for live in self.lives(event_id):
            for conn in live.by_attendee.get(attendee_id, ()):
                conn.outbox.put(text, key=f"ack:{pitch_id}")
        self._acks.setdefault(event_id, []).append((attendee_id, pitch_id, score, seq))

    # -------------------------------------------------------------- changes

    def apply_state(self, state: EventState, text: str | None = None) -> None:
        """Take a newer state of a stage (from this process's own write, the bus or a
        reload) and hand the newest known to the stage's sockets here."""
        known = self.conference.get(state.id)
        if known is None:
            return
        old = known.get(state.stage_id)
        if old is None or state.version > old.version:
            known[state.stage_id] = state
            if state.stages:
                self._follow_stage_list(state, known)
            for other in self.lives(state.id):
                other.dirty = True  # the overview and the conference leaderboard moved
        newest = known.get(state.stage_id)
        live = self.events.get(state.id, {}).get(state.stage_id)
        # Compared with the stage's sockets' state, not only the conference's: a reload
        # (``_catch_up``) puts the newest states in ``known`` first.
        if newest is None or live is None or newest.version <= live.state.version:
            return
        live.state = newest
        live.last_screen.clear()
        if newest is not state or text is None:
            text = encode(State(event=newest.as_json()))
        for conn in (*live.phones, *live.screens):
            conn.outbox.put(text, key="state")

    def _follow_stage_list(self, state: EventState, known: dict[int, EventState]) -> None:
        """Every stage's state names all stages, and a change of the list (add, rename,
        order, delete) is announced one stage's state after the other: the overview and
        the conference board must not wait for each. A deleted stage leaves at once; a
        stage that is new, renamed or moved makes the next tick read every stage's
        state again (one read per change of the list, none otherwise), so the first
        screen after the first announcement shows the list as it is now."""
        listed = {x.id: x for x in state.stages}
        for gone in [sid for sid in known if sid not in listed]:
            del known[gone]
        if any(sid not in known or known[sid].stage != info for sid, info in listed.items()):
            self._stale.add(state.id)

    async def notify_attendee(self, event_id: int, attendee_id: int, text: str) -> None:
        """Send a server message (made with ``server_message``) to one attendee's sockets,
        whichever process and stage holds them."""
        envelope = BusDirect(attendee_id=attendee_id, message=json.loads(text))
        await self.bus.publish(event_channel(self.settings.namespace, event_id), encode(envelope))

    def voting_open(self) -> bool:
        """Is any pitch of an event served here taking votes right now?"""
        return any(
            state.open_pitch is not None
            for states in self.conference.values()
            for state in states.values()
        )

    def votes_applied(self, event_ids: Iterable[int]) -> None:
        """Called by the vote writer after a batch reached the tallies."""
        for event_id in event_ids:
            if event_id in self.events:
                self._votes_changed.add(event_id)
                for live in self.lives(event_id):
                    live.dirty = True

    def tallies_failed(self, event_ids: Iterable[int]) -> None:
        for event_id in event_ids:
            for live in self.lives(event_id):
                live.needs_rebuild = True

    # -------------------------------------------------------------- the bus

    async def _on_bus_message(self, channel: str, message: str) -> None:
        event_id = event_of_channel(channel)
        if event_id is None or event_id not in self.events:
            return
        try:
            envelope = decode_bus(message)
        except ValidationError:
            log.warning("ignoring malformed bus message on %s", channel)
            return
        await self._on_envelope(event_id, envelope, message)

    async def _on_envelope(self, event_id: int, envelope: BaseModel, raw: str) -> None:
        handler = self._bus_handlers[envelope.type]  # type: ignore[attr-defined]
        await handler(event_id, envelope, raw)

    async def _bus_state(self, event_id: int, envelope: State, raw: str) -> None:
        # The envelope is the server message itself: forward the text as it came.
        self.apply_state(EventState.from_json(envelope.event), raw)

    async def _bus_votes(self, event_id: int, envelope: BusVotes, raw: str) -> None:
        lives = self.lives(event_id)
        for live in lives:
            live.dirty = True
        if envelope.origin == self.process_id:
            return
        for attendee_id, pitch_id, score, seq in envelope.acks:
            text: str | None = None
            for live in lives:
                for conn in live.by_attendee.get(attendee_id, ()):
                    text = text or encode(VoteAck(pitch_id=pitch_id, score=score, seq=seq))
                    conn.outbox.put(text, key=f"ack:{pitch_id}")

    async def _bus_direct(self, event_id: int, envelope: BusDirect, raw: str) -> None:
        text: str | None = None
        for live in self.lives(event_id):
            for conn in live.by_attendee.get(envelope.attendee_id, ()):
                text = text or json.dumps(
                    envelope.message, separators=(",", ":"), ensure_ascii=False
                )
                conn.outbox.put(text)

    async def _bus_votes_reset(self, event_id: int, envelope: BusVotesReset, raw: str) -> None:
        text = encode(VoteReset(pitch_id=envelope.pitch_id))
        for live in self.lives(event_id):
            for conn in live.phones:
                # Replaces an undelivered ack of the deleted vote.
                conn.outbox.put(text, key=f"ack:{envelope.pitch_id}")

    async def _bus_questions(self, event_id: int, envelope: BusQuestions, raw: str) -> None:
        self.questions.changed(event_id, local=False)

    async def _bus_key_rotated(self, event_id: int, envelope: BusKeyRotated, raw: str) -> None:
        for live in self.lives(event_id):
            await self._close_replaced_screens(live, Role(envelope.role))

    async def _close_replaced_screens(self, live: LiveEvent, role: Role) -> None:
        event = await self.db.run_read(queries.event_by_code, live.state.code)
        if event is None or event.id is None:
            return
        stages = await self.db.run_read(queries.stages_of, event.id)
        refusal = Refused("link_replaced")
        text = encode(Error(code=refusal.code, message=refusal.message))
        for conn in list(live.screens):
            if conn.role is role and screen_stage(event, stages, role, conn.key) is None:
                conn.outbox.put(text)
                conn.outbox.close(LINK_REPLACED, "link_replaced")

    def _on_bus_reconnect(self) -> None:
        # Messages may have been missed while Redis was away: reload everything.
        self.metrics.bus_reconnects.inc()
        for event_id, stages in self.events.items():
            self._stale.add(event_id)
            for live in stages.values():
                live.needs_rebuild = True
                live.dirty = True
        self.questions.resync()

    # -------------------------------------------------------------- tallies

    async def rebuild(self, live: LiveEvent) -> None:
        await self.keeper.rebuild(live)

    async def reconcile(self, live: LiveEvent) -> bool:
        return await self.keeper.reconcile(live)

    # -------------------------------------------------------------- loops

    async def _screen_loop(self) -> None:
        interval = 1.0 / self.settings.screen_updates_per_second
        while True:
            started = time.monotonic()
            for event_id, stages in list(self.events.items()):
                try:
                    await self._tick(event_id, stages)
                except Exception:
                    # Redis away: keep the last picture, retry next tick.
                    log.debug("screen tick failed for event %s", event_id, exc_info=True)
                    for live in stages.values():
                        live.needs_rebuild = True
                        live.dirty = True  # its screens may not have been sent
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def _tick(self, event_id: int, stages: dict[int, LiveEvent]) -> None:
        await self._catch_up(event_id)
        version = sum(s.version for s in self.conference.get(event_id, {}).values())
        await self.questions.tick(event_id, ConferenceView(stages.values(), version))
        if event_id in self._votes_changed or self._acks.get(event_id):
            self._votes_changed.discard(event_id)
            acks = self._acks.pop(event_id, [])
            envelope = BusVotes(origin=self.process_id, acks=acks)
            await self.bus.publish(
                event_channel(self.settings.namespace, event_id), encode(envelope)
            )
        # A state that arrived during the awaits above may have made the list stale.
        await self._catch_up(event_id)
        dirty = [live for live in stages.values() if live.dirty and live.screens]
        if not dirty:
            return
        # From here to the first await: each stage's state and the overview's states are
        # taken at one moment, so a screen carries the version it was made from. A state
        # arriving while the screens are made marks them dirty again (the next tick), and
        # the screen made from the older state carries the older version (pages drop it).
        made_from = [(live, live.state) for live in dirty]
        for live in dirty:
            live.dirty = False
        states = self.stage_states(event_id)
        wanted = any(
            c.role is Role.MODERATOR or c.conference for live in dirty for c in live.screens
        )
        overview = await self._overview(states) if len(states) > 1 and wanted else None
        for live, state in made_from:
            messages = await self.screen_messages(live, overview, state)
            for kind, text in messages.items():
                if live.state is state:  # not older than what a new screen is sent
                    live.last_screen[kind] = text
                for conn in live.screens:
                    if conn.kind == kind:
                        conn.outbox.put(text, key="screen")

    async def _overview(
        self, states: list[EventState]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What every stage is doing, and the leaderboard across the conference."""
        pitches: list[PitchInfo] = [p for s in states for p in s.pitches]
        counts = await self.tallies.counts((p.id, p.round) for p in pitches)
        overview, conference = stage_overview(
            states, counts, self.turnout, prior_weight=self.settings.prior_weight
        )
        return overview, conference

    async def screen_messages(
        self,
        live: LiveEvent,
        overview: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None,
        state: EventState | None = None,
    ) -> dict[tuple[Role, bool], str]:
        """One ``screen`` text per kind of screen on the stage, made from ``state`` (the
        stage's current one by default). Several stages: the moderator also gets what the
        other stages are doing, a conference-view projector the leaderboard across stages
        (nobody else pays for encoding them)."""
        state = state or live.state
        counts = await self.tallies.counts((p.id, p.round) for p in state.pitches)
        summaries = summaries_of(state, counts)
        messages = {}
        for kind in {c.kind for c in live.screens}:
            role, conference = kind
            payload = screen_payload(
                state,
                summaries,
                live.connected,
                full=role is Role.MODERATOR,
                prior_weight=self.settings.prior_weight,
            )
            if overview is not None and (role is Role.MODERATOR or conference):
                stages, board = overview
                payload = payload.model_copy(
                    update={"stages": stages, "conference": board if conference else None}
                )
            messages[kind] = encode(payload)
        return messages

    async def _reconcile(self, event_id: int, stages: dict[int, LiveEvent]) -> None:
        """Compare the event's tallies with SQL once per event (every stage's pitches in
        one check: one SQL read, not one per stage)."""
        states = self.stage_states(event_id) or [x.state for x in stages.values()]
        merged = dataclasses.replace(states[0], pitches=tuple(p for s in states for p in s.pitches))
        check = self._checks.get(event_id)
        if check is None:
            check = self._checks[event_id] = LiveEvent(state=merged)
        check.state = merged
        if await self.keeper.reconcile(check):
            for live in stages.values():
                live.dirty = True

    async def _presence_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(PRESENCE_INTERVAL)
            ticks += 1
            for event_id, stages in list(self.events.items()):
                for stage_id, live in list(stages.items()):
                    try:
                        if live.is_empty():
                            del stages[stage_id]
                            await self.tallies.set_presence(
                                event_id, self.process_id, 0, stage_id=stage_id
                            )
                            continue
                        if await refresh_presence(
                            self.tallies, live, event_id=event_id, process_id=self.process_id
                        ):
                            for other in stages.values():
                                other.dirty = True
                        self.turnout[stage_id] = live.connected
                        rebuilding = live.needs_rebuild
                        await self.keeper.ensure(live)
                        if rebuilding:  # the event's tallies: every stage's are rebuilt
                            for other in stages.values():
                                other.needs_rebuild = False
                    except Exception:
                        log.debug("presence tick failed for event %s", event_id, exc_info=True)
                if stages and ticks % RECONCILE_EVERY == 0:
                    try:
                        await self._reconcile(event_id, stages)
                    except Exception:
                        log.debug("tally check failed for event %s", event_id, exc_info=True)
                if not stages:
                    del self.events[event_id]
                    self._checks.pop(event_id, None)
                    self.conference.pop(event_id, None)
                    self._reloaded_at.pop(event_id, None)
                    self._acks.pop(event_id, None)
                    self._votes_changed.discard(event_id)
                    continue
                # Stages without sockets here: their turnout for the overview.
                if len(self.conference.get(event_id, {})) > 1:
                    for stage_id in self.conference[event_id]:
                        if stage_id not in stages:
                            with contextlib.suppress(Exception):
                                self.turnout[stage_id] = await self.tallies.presence(
                                    event_id, stage_id=stage_id
                                )


def _stage_order(state: EventState) -> tuple[int, int]:
    stage = state.stage
    return (stage.position if stage is not None else 0, state.stage_id)
