"""Keeping the live tallies equal to SQL: rebuild from SQL, and reconcile now and then.

SQL is the source of truth. ``rebuild`` merges SQL's votes into the tallies (newest seq
wins, so it commutes with votes arriving meanwhile); ``reconcile`` compares the two and
merges when they disagree twice running while SQL stood still.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from eventapp.core.db import Database
from eventapp.live.connections import LiveEvent
from eventapp.metrics import Metrics
from eventapp.voting import queries
from eventapp.voting.queries import EventState
from eventapp.voting.tallies import Tallies, TallyVote

log = logging.getLogger(__name__)


class TallyKeeper:
    def __init__(
        self,
        *,
        db: Database,
        tallies: Tallies,
        apply_state: Callable[[EventState], None],
        metrics: Metrics,
    ) -> None:
        self.metrics = metrics
        self.db = db
        self.tallies = tallies
        self.apply_state = apply_state

    async def ensure(self, live: LiveEvent) -> None:
        if live.needs_rebuild or not await self.tallies.is_built(live.state.id):
            await self.rebuild(live)

    async def rebuild(self, live: LiveEvent) -> None:
        """Rebuild the event's tallies from SQL, the source of truth."""
        live.needs_rebuild = False
        self.metrics.tally_rebuilds.inc()
        event_id = live.state.id
        state = await self.db.run_read(queries.load_state, event_id, live.state.stage_id or None)
        rows = await self.db.run_read(queries.votes_of_event, event_id)
        rounds = await self.db.run_read(queries.pitch_rounds, event_id)
        await self.tallies.rebuild(
            event_id,
            [TallyVote(pid, rounds[pid], aid, score, seq) for pid, aid, score, seq in rows],
        )
        self.apply_state(state)
        live.dirty = True
        log.info("rebuilt tallies of event %s from %d votes", event_id, len(rows))

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
