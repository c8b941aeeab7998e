"""The batching durable vote writer.

Votes from every socket of the process queue here and are committed many per transaction,
off the event loop. ``submit`` returns once the vote is durable -- with the vote now stored
for that attendee and pitch, which is the newest by seq and so not always the one
submitted -- or ``None`` when the database refused it because voting closed meanwhile.
Only then is the phone told "saved".

``run`` is the loop; the app's supervisor (``eventapp.live.supervisor``) restarts it when a
batch fails. The failed batch's votes get ``NotSaved`` (the socket answers ``not_saved``
and the phone resends them); votes still queued wait for the restarted loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from eventapp.core.db import Database
from eventapp.voting import queries
from eventapp.voting.queries import VoteRow
from eventapp.voting.tallies import Tallies, TallyVote

log = logging.getLogger(__name__)


class NotSaved(Exception):
    """The vote is not durable; the phone keeps it pending and resends it."""


@dataclass(frozen=True)
class StoredVote:
    score: int
    seq: int


_Item = tuple[VoteRow, "asyncio.Future[StoredVote | None]"]


class VoteWriter:
    def __init__(
        self,
        *,
        db: Database,
        tallies: Tallies,
        on_applied: Callable[[set[int]], None],
        on_tally_failure: Callable[[set[int]], None],
        batch_max: int = 1000,
    ) -> None:
        self.db = db
        self.tallies = tallies
        self.on_applied = on_applied
        self.on_tally_failure = on_tally_failure
        self.batch_max = batch_max
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._batch: list[_Item] = []  # the batch being committed
        self._stopped = False

    async def submit(self, row: VoteRow) -> StoredVote | None:
        if self._stopped:
            raise NotSaved("the app is shutting down")
        future: asyncio.Future[StoredVote | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((row, future))
        return await future

    async def run(self) -> None:
        """Commit batches until cancelled; a failed batch raises (the supervisor restarts)."""
        while True:
            self._batch = [await self._queue.get()]
            while len(self._batch) < self.batch_max and not self._queue.empty():
                self._batch.append(self._queue.get_nowait())
            await self._commit(self._batch)
            self._batch = []

    def fail_batch(self, exc: BaseException) -> None:
        """The loop crashed: tell the votes of the batch it was committing to resend."""
        batch, self._batch = self._batch, []
        _fail(batch, exc)

    def stop(self) -> None:
        """Fail every vote not yet committed: nothing waits forever at shutdown."""
        self._stopped = True
        self.fail_batch(NotSaved("the app is shutting down"))
        queued: list[_Item] = []
        while not self._queue.empty():
            queued.append(self._queue.get_nowait())
        _fail(queued, NotSaved("the app is shutting down"))

    async def _commit(self, batch: list[_Item]) -> None:
        accepted, rounds, stored = await self.db.run(queries.commit_votes, [r for r, _ in batch])
        events = {r.event_id for r in accepted}
        try:
            await self.tallies.apply(
                [
                    TallyVote(r.pitch_id, rounds[r.pitch_id], r.attendee_id, r.score, r.seq)
                    for r in accepted
                ]
            )
        except Exception:
            # The votes are durable; the live tallies are rebuilt from SQL.
            log.warning("tally update failed; rebuilding from SQL", exc_info=True)
            self.on_tally_failure(events)
        for row, future in batch:
            if not future.done():
                vote = stored.get((row.attendee_id, row.pitch_id))
                future.set_result(None if vote is None else StoredVote(*vote))
        if events:
            self.on_applied(events)


def _fail(items: list[_Item], exc: BaseException) -> None:
    error = exc if isinstance(exc, NotSaved) else NotSaved(str(exc))
    for _row, future in items:
        if not future.done():
            future.set_exception(error)
