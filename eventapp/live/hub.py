"""The process-local live hub: which sockets watch which event, and what they are sent.

One Hub per app process. For each event with connected sockets it keeps a LiveEvent:
the cached event state (updated from the event's bus channel), the sockets, and flags
for what changed. A ticker coalesces screen updates to at most
``screen_updates_per_second`` per event, reading fresh tallies each time, so a burst of
4,000 votes costs the projector ten updates a second, not 4,000.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from eventapp.core.bus import Bus
from eventapp.core.db import Database
from eventapp.enums import Role
from eventapp.live.gcpolicy import manage_gc
from eventapp.live.outbox import Outbox
from eventapp.messages import server_message
from eventapp.metrics import Metrics
from eventapp.questions.live import QuestionFeed
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.voting.queries import EventState, PitchInfo
from eventapp.voting.rules import event_channel
from eventapp.voting.stats import Summary, rank_pitches, results_visible, summarize
from eventapp.voting.tallies import Tallies, TallyVote

log = logging.getLogger(__name__)

PRESENCE_INTERVAL = 1.0  # seconds between connection-count refreshes and tally checks
RECONCILE_EVERY = 5  # presence ticks between comparisons of the tallies with SQL


@dataclass(eq=False)
class Connection:
    """One socket, as the hub sees it: who it is and where its messages go."""

    role: Role
    outbox: Outbox
    attendee_id: int | None = None


@dataclass(eq=False)
class LiveEvent:
    state: EventState
    phones: set[Connection] = field(default_factory=set)
    screens: set[Connection] = field(default_factory=set)
    dirty: bool = True  # screens need a fresh update
    votes_changed: bool = False  # local votes to announce to other processes
    needs_rebuild: bool = False
    connected: int = 0  # phones across all processes
    last_screen: dict[Role, str] = field(default_factory=dict)
    # SQL's per-pitch (count, sum) at the last check that disagreed with the tallies.
    mismatch: dict[int, tuple[int, int]] | None = None


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
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.questions = QuestionFeed(
            db=db, bus=bus, channel=lambda e: event_channel(settings.namespace, e)
        )

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        await self.bus.start(
            event_channel(self.settings.namespace, 0)[:-1] + "*",
            self._on_bus_message,
            self._on_bus_reconnect,
        )
        self._tasks = [
            asyncio.create_task(self._screen_loop(), name="hub-screens"),
            asyncio.create_task(self._presence_loop(), name="hub-presence"),
            asyncio.create_task(manage_gc(self.voting_open), name="gc-policy"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -------------------------------------------------------------- sockets

    async def attach(self, event_id: int, conn: Connection) -> LiveEvent:
        async with self._lock:
            live = self.events.get(event_id)
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
            # Join the sets before the next await: the presence loop drops events that have
            # no sockets, and would orphan this one (it would never see another update)
            # while the tallies are being built.
            (live.phones if conn.role is Role.ATTENDEE else live.screens).add(conn)
            if created:
                try:
                    await self._ensure_tallies(live)
                except Exception:
                    # The socket gets no welcome and will not detach: do not count it.
                    live.phones.discard(conn)
                    live.screens.discard(conn)
                    raise
        live.dirty = True
        if conn.role is not Role.ATTENDEE and conn.role in live.last_screen:
            conn.outbox.put(live.last_screen[conn.role], key="screen")
        return live

    async def detach(self, event_id: int, conn: Connection) -> None:
        live = self.events.get(event_id)
        if live is None:
            return
        live.phones.discard(conn)
        live.screens.discard(conn)
        live.dirty = True

    # -------------------------------------------------------------- changes

    def apply_state(self, state: EventState) -> None:
        """Take a newer event state (from this process's own write or the bus)."""
        live = self.events.get(state.id)
        if live is None or state.version <= live.state.version:
            return
        live.state = state
        live.dirty = True
        live.last_screen.clear()
        text = server_message("state", event=state.as_json())
        for conn in (*live.phones, *live.screens):
            conn.outbox.put(text, key="state")

    async def notify_attendee(self, event_id: int, attendee_id: int, text: str) -> None:
        """Send a server message (made with ``server_message``) to one attendee's sockets,
        whichever process holds them."""
        payload = json.dumps({"type": "direct", "attendee_id": attendee_id, "message": text})
        await self.bus.publish(event_channel(self.settings.namespace, event_id), payload)

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

    async def _on_bus_message(self, channel: str, message: str) -> None:
        try:
            event_id = int(channel.rsplit(":", 1)[1])
            data = json.loads(message)
        except (ValueError, IndexError):
            log.warning("ignoring malformed bus message on %s", channel)
            return
        live = self.events.get(event_id)
        if live is None:
            return
        if data.get("type") == "state":
            self.apply_state(EventState.from_json(data["event"]))
        elif data.get("type") == "votes":
            live.dirty = True
        elif data.get("type") == "questions":
            self.questions.changed(event_id, local=False)
        elif data.get("type") == "direct":
            for conn in live.phones:
                if conn.attendee_id == data.get("attendee_id"):
                    conn.outbox.put(str(data["message"]))

    def _on_bus_reconnect(self) -> None:
        # Messages may have been missed while Redis was away: reload everything.
        self.metrics.bus_reconnects.inc()
        for live in self.events.values():
            live.needs_rebuild = True
            live.dirty = True
        self.questions.resync()

    # -------------------------------------------------------------- tallies

    async def _ensure_tallies(self, live: LiveEvent) -> None:
        if live.needs_rebuild or not await self.tallies.is_built(live.state.id):
            await self.rebuild(live)

    async def rebuild(self, live: LiveEvent) -> None:
        """Rebuild the event's tallies from SQL, the source of truth."""
        live.needs_rebuild = False
        self.metrics.tally_rebuilds.inc()
        event_id = live.state.id
        state = await self.db.run_read(queries.load_state, event_id)
        rows = await self.db.run_read(queries.votes_of_event, event_id)
        rounds = {p.id: p.round for p in state.pitches}
        await self.tallies.rebuild(
            event_id,
            [TallyVote(pid, rounds[pid], aid, score, seq) for pid, aid, score, seq in rows],
        )
        self.apply_state(state)
        live.dirty = True
        log.info("rebuilt tallies of event %s from %d votes", event_id, len(rows))

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
        if live.votes_changed:
            live.votes_changed = False
            channel = event_channel(self.settings.namespace, event_id)
            await self.bus.publish(channel, '{"type":"votes"}')
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
        summaries = {
            p.id: summarize(counts[p.id], scale_min=state.scale_min, scale_max=state.scale_max)
            for p in state.pitches
        }
        roles = {c.role for c in live.screens}
        return {
            role: server_message(
                "screen",
                **self._screen(state, summaries, live.connected, full=role is Role.MODERATOR),
            )
            for role in roles
        }

    def _screen(
        self, state: EventState, summaries: dict[int, Summary], connected: int, *, full: bool
    ) -> dict[str, object]:
        def shown(p: PitchInfo) -> bool:
            return full or results_visible(state, p)

        current = state.current
        current_json: dict[str, object] | None = None
        if current is not None:
            s = summaries[current.id]
            current_json = {
                "pitch_id": current.id,
                "votes_in": s.n,
                "results_shown": results_visible(state, current),
                "summary": s.as_json() if shown(current) else None,
            }
        standings = rank_pitches(
            [(p.id, p.title, summaries[p.id]) for p in state.pitches if shown(p)],
            prior_weight=self.settings.prior_weight,
            scale_mid=(state.scale_min + state.scale_max) / 2,
        )
        return {
            "version": state.version,
            "connected": connected,
            "current": current_json,
            "leaderboard": [s.as_json() for s in standings],
            "votes": {str(pid): s.n for pid, s in summaries.items()} if full else None,
        }

    async def reconcile(self, live: LiveEvent) -> bool:
        """Compare the tallies with SQL; merge SQL in when they disagree twice running
        while SQL stood still. Returns whether it rebuilt.

        This heals what no message announces: a process that died between committing a
        batch and mirroring it into Redis (another process may go on serving the event).
        Votes in flight make the two differ for a moment; requiring the same SQL figures
        on two checks skips those, and the merge is harmless when it does run.
        """
        state = live.state
        sql = await self.db.run_read(queries.event_checksums, state.id)
        counts = await self.tallies.counts((p.id, p.round) for p in state.pitches)
        live_sums = {
            pid: (sum(c.values()), sum(score * n for score, n in c.items()))
            for pid, c in counts.items()
            if c
        }
        wanted = {pid: v for pid, v in sql.items() if pid in counts}
        if live_sums == wanted:
            live.mismatch = None
            return False
        if live.mismatch != wanted:
            live.mismatch = wanted
            return False
        log.warning("tallies of event %s disagree with SQL; merging SQL in", state.id)
        live.mismatch = None
        self.metrics.reconcile_merges.inc()
        await self.rebuild(live)
        return True

    async def _presence_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(PRESENCE_INTERVAL)
            ticks += 1
            for event_id, live in list(self.events.items()):
                try:
                    if not live.phones and not live.screens:
                        del self.events[event_id]
                        await self.tallies.set_presence(event_id, self.process_id, 0)
                        continue
                    await self.tallies.set_presence(event_id, self.process_id, len(live.phones))
                    connected = await self.tallies.presence(event_id)
                    if connected != live.connected:
                        live.connected = connected
                        live.dirty = True
                    await self._ensure_tallies(live)
                    if ticks % RECONCILE_EVERY == 0:
                        await self.reconcile(live)
                except Exception:
                    log.debug("presence tick failed for event %s", event_id, exc_info=True)
