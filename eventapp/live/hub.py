"""The process-local live hub: which sockets watch which event, and the loops that feed them.

One Hub per app process. For each event with connected sockets it keeps a LiveEvent
(``eventapp.live.connections``): the cached event state (updated from the event's bus
channel), the sockets -- phones indexed by attendee -- and flags for what changed. The
screen loop coalesces screen updates to at most ``screen_updates_per_second`` per event,
reading fresh tallies each time, so a burst of 4,000 votes costs the projector ten updates
a second, not 4,000. Payloads come from ``screens``; the tallies are kept equal to SQL by
``keeper``; connection counts come from ``presence``. The loops run under the app's
``Supervisor``.
"""

from __future__ import annotations

import asyncio
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
from eventapp.live.screens import screen_payload, summaries_of
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
from eventapp.voting.queries import EventState
from eventapp.voting.rules import event_channel, event_channel_pattern, event_of_channel
from eventapp.voting.tallies import Tallies

__all__ = ["Connection", "Hub", "LiveEvent"]

log = logging.getLogger(__name__)

PRESENCE_INTERVAL = 1.0  # seconds between connection-count refreshes and tally checks
RECONCILE_EVERY = 5  # presence ticks between comparisons of the tallies with SQL
LINK_REPLACED = 4403  # close code of a screen whose link was rotated (the page says so)
TOO_MANY_SOCKETS = 4429  # close code of a socket over the per-attendee cap
MAX_CACHED_EVENTS = 1000  # events remembered by code (then forgotten all at once)


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
        self.events: dict[int, LiveEvent] = {}
        self.process_id = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.keeper = TallyKeeper(
            db=db, tallies=tallies, apply_state=self.apply_state, metrics=self.metrics
        )
        # One lock per event, held while its LiveEvent is made and its tallies built:
        # a first attach of one event does not hold up phones of the others.
        self._locks: dict[int, asyncio.Lock] = {}
        self.greeter = Greeter(db)
        # code -> event of the sockets that connected here (see ``event_by_code``).
        self._events_by_code: dict[str, Event] = {}
        self.questions = QuestionFeed(
            db=db, bus=bus, channel=lambda e: event_channel(settings.namespace, e)
        )
        # One handler per bus envelope type (eventapp.messages.BUS_MODELS).
        self._bus_handlers: dict[str, Callable[[LiveEvent, Any, str], Awaitable[None]]] = {
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

    # -------------------------------------------------------------- sockets

    async def event_by_code(self, code: str) -> Event | None:
        """The event a socket names, read once per process: a phone's hello uses only its
        id and code, which never change (a screen's hello reads the event afresh for its
        keys; a deleted event has no attendees, so its tokens are refused). Unknown codes
        are not remembered."""
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

    async def attach(self, event_id: int, conn: Connection) -> LiveEvent:
        live = self.events.get(event_id)
        if live is not None and live.ready:
            # Built already: nothing to wait for (no await between the check and add).
            self._check_cap(live, conn)
            live.add(conn)
        else:
            live = await self._attach_first(event_id, conn)
        live.dirty = True
        if conn.role is not Role.ATTENDEE and conn.role in live.last_screen:
            conn.outbox.put(live.last_screen[conn.role], key="screen")
        return live

    def _check_cap(self, live: LiveEvent, conn: Connection) -> None:
        if conn.attendee_id is not None:
            cap = self.settings.sockets_per_attendee
            if len(live.by_attendee.get(conn.attendee_id, ())) >= cap:
                raise Refused("too_many_sockets", None, {"limit": cap})

    async def _attach_first(self, event_id: int, conn: Connection) -> LiveEvent:
        lock = self._locks.setdefault(event_id, asyncio.Lock())
        async with lock:
            live = self.events.get(event_id)
            if live is not None:
                self._check_cap(live, conn)
            created = live is None
            if live is None:
                state = await self.db.run_read(queries.load_state, event_id)
                # A process that starts serving an event merges SQL into the tallies
                # even when Redis says "built": a crashed predecessor may have committed
                # votes it never mirrored, and phones do not resend those (welcome's
                # my_votes tells them they are saved). The merge is newest-seq-wins, so
                # it commutes with votes arriving meanwhile.
                live = LiveEvent(state=state, needs_rebuild=True)
                self.events[event_id] = live
            # Join before the next await: the presence loop drops events that have no
            # sockets, and would orphan this one while the tallies are being built.
            live.add(conn)
            if created:
                try:
                    await self.keeper.ensure(live)
                except Exception:
                    # The socket gets no welcome and will not detach: do not count it,
                    # and let the next attach build the event afresh.
                    live.discard(conn)
                    if live.is_empty() and self.events.get(event_id) is live:
                        del self.events[event_id]
                    raise
                live.ready = True
        return live

    async def detach(self, event_id: int, conn: Connection) -> None:
        live = self.events.get(event_id)
        if live is None:
            return
        live.discard(conn)
        live.dirty = True

    def vote_stored(
        self, event_id: int, attendee_id: int, pitch_id: int, score: int, seq: int
    ) -> None:
        """Tell every socket of the attendee which vote is stored: here at once, on other
        processes with the next ``votes`` announcement (at most a screen tick later)."""
        live = self.events.get(event_id)
        if live is None:
            return
        text = encode(VoteAck(pitch_id=pitch_id, score=score, seq=seq))
        for conn in live.by_attendee.get(attendee_id, ()):
            conn.outbox.put(text, key=f"ack:{pitch_id}")
        live.acks.append((attendee_id, pitch_id, score, seq))

    # -------------------------------------------------------------- changes

    def apply_state(self, state: EventState, text: str | None = None) -> None:
        """Take a newer event state (from this process's own write or the bus)."""
        live = self.events.get(state.id)
        if live is None or state.version <= live.state.version:
            return
        live.state = state
        live.dirty = True
        live.last_screen.clear()
        text = text or encode(State(event=state.as_json()))
        for conn in (*live.phones, *live.screens):
            conn.outbox.put(text, key="state")

    async def notify_attendee(self, event_id: int, attendee_id: int, text: str) -> None:
        """Send a server message (made with ``server_message``) to one attendee's sockets,
        whichever process holds them."""
        envelope = BusDirect(attendee_id=attendee_id, message=json.loads(text))
        await self.bus.publish(event_channel(self.settings.namespace, event_id), encode(envelope))

    def voting_open(self) -> bool:
        """Is any pitch of an event served here taking votes right now?"""
        return any(live.state.open_pitch is not None for live in self.events.values())

    def votes_applied(self, event_ids: Iterable[int]) -> None:
        """Called by the vote writer after a batch reached the tallies."""
        for event_id in event_ids:
            live = self.events.get(event_id)
            if live is not None:
                live.dirty = True
                live.votes_changed = True

    def tallies_failed(self, event_ids: Iterable[int]) -> None:
        for event_id in event_ids:
            live = self.events.get(event_id)
            if live is not None:
                live.needs_rebuild = True

    # -------------------------------------------------------------- the bus

    async def _on_bus_message(self, channel: str, message: str) -> None:
        event_id = event_of_channel(channel)
        live = self.events.get(event_id) if event_id is not None else None
        if live is None:
            return
        try:
            envelope = decode_bus(message)
        except ValidationError:
            log.warning("ignoring malformed bus message on %s", channel)
            return
        await self._on_envelope(live, envelope, message)

    async def _on_envelope(self, live: LiveEvent, envelope: BaseModel, raw: str) -> None:
        handler = self._bus_handlers[envelope.type]  # type: ignore[attr-defined]
        await handler(live, envelope, raw)

    async def _bus_state(self, live: LiveEvent, envelope: State, raw: str) -> None:
        # The envelope is the server message itself: forward the text as it came.
        self.apply_state(EventState.from_json(envelope.event), raw)

    async def _bus_votes(self, live: LiveEvent, envelope: BusVotes, raw: str) -> None:
        live.dirty = True
        if envelope.origin == self.process_id:
            return
        for attendee_id, pitch_id, score, seq in envelope.acks:
            sockets = live.by_attendee.get(attendee_id)
            if sockets:
                text = encode(VoteAck(pitch_id=pitch_id, score=score, seq=seq))
                for conn in sockets:
                    conn.outbox.put(text, key=f"ack:{pitch_id}")

    async def _bus_direct(self, live: LiveEvent, envelope: BusDirect, raw: str) -> None:
        sockets = live.by_attendee.get(envelope.attendee_id)
        if sockets:
            text = json.dumps(envelope.message, separators=(",", ":"), ensure_ascii=False)
            for conn in sockets:
                conn.outbox.put(text)

    async def _bus_votes_reset(self, live: LiveEvent, envelope: BusVotesReset, raw: str) -> None:
        text = encode(VoteReset(pitch_id=envelope.pitch_id))
        for conn in live.phones:
            # Replaces an undelivered ack of the deleted vote.
            conn.outbox.put(text, key=f"ack:{envelope.pitch_id}")

    async def _bus_questions(self, live: LiveEvent, envelope: BusQuestions, raw: str) -> None:
        self.questions.changed(live.state.id, local=False)

    async def _bus_key_rotated(self, live: LiveEvent, envelope: BusKeyRotated, raw: str) -> None:
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
        for live in self.events.values():
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
            for event_id, live in list(self.events.items()):
                try:
                    await self._tick(event_id, live)
                except Exception:
                    # Redis away: keep the last picture, retry next tick.
                    log.debug("screen tick failed for event %s", event_id, exc_info=True)
                    live.needs_rebuild = True
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def _tick(self, event_id: int, live: LiveEvent) -> None:
        await self.questions.tick(event_id, live)
        if live.votes_changed or live.acks:
            live.votes_changed = False
            acks, live.acks = live.acks, []
            envelope = BusVotes(origin=self.process_id, acks=acks)
            await self.bus.publish(
                event_channel(self.settings.namespace, event_id), encode(envelope)
            )
        if not live.dirty or not live.screens:
            return
        live.dirty = False
        for role, text in (await self.screen_messages(live)).items():
            live.last_screen[role] = text
            for conn in live.screens:
                if conn.role is role:
                    conn.outbox.put(text, key="screen")

    async def screen_messages(self, live: LiveEvent) -> dict[Role, str]:
        state = live.state
        counts = await self.tallies.counts((p.id, p.round) for p in state.pitches)
        summaries = summaries_of(state, counts)
        return {
            role: encode(
                screen_payload(
                    state,
                    summaries,
                    live.connected,
                    full=role is Role.MODERATOR,
                    prior_weight=self.settings.prior_weight,
                )
            )
            for role in {c.role for c in live.screens}
        }

    async def _presence_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(PRESENCE_INTERVAL)
            ticks += 1
            for event_id, live in list(self.events.items()):
                try:
                    if live.is_empty():
                        del self.events[event_id]
                        await self.tallies.set_presence(event_id, self.process_id, 0)
                        continue
                    await refresh_presence(
                        self.tallies, live, event_id=event_id, process_id=self.process_id
                    )
                    await self.keeper.ensure(live)
                    if ticks % RECONCILE_EVERY == 0:
                        await self.keeper.reconcile(live)
                except Exception:
                    log.debug("presence tick failed for event %s", event_id, exc_info=True)
