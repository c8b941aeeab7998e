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
import time
from collections.abc import Callable
from dataclasses import dataclass

from eventapp.core.db import Database
from eventapp.metrics import Metrics
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
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.db = db
        self.tallies = tallies
        self.on_applied = on_applied
        self.on_tally_failure = on_tally_failure
        self.batch_max = batch_max
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._batch: list[_Item] = []  # the batch being committed
        self._stopped = False
        self._running = False  # inside run(): the health check reports it

    async def submit(self, row: VoteRow) -> StoredVote | None:
        if self._stopped:
            raise NotSaved("the app is shutting down")
        future: asyncio.Future[StoredVote | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((row, future))
        return await future

    @property
    def running(self) -> bool:
        return self._running

    async def run(self) -> None:
        """Commit batches until cancelled; a failed batch raises (the supervisor restarts)."""
        self._running = True
        try:
            while True:
                self._batch = [await self._queue.get()]
                while len(self._batch) < self.batch_max and not self._queue.empty():
                    self._batch.append(self._queue.get_nowait())
                await self._commit(self._batch)
                self._batch = []
        finally:
            self._running = False

    async def drain(self, seconds: float = 10.0) -> None:
        """Let the loop commit what is queued or committing (a graceful restart: those
        phones then find their votes saved in welcome's my_votes on the process they
        move to). Gives up after ``seconds``; ``stop`` then fails the rest."""
        deadline = time.monotonic() + seconds
        while self._running and (self._batch or not self._queue.empty()):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)

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
        started = time.monotonic()
        accepted, rounds, stored = await self.db.run_votes(
            queries.commit_votes, [r for r, _ in batch]
        )
        self.metrics.batch_committed(len(batch), time.monotonic() - started)
        events = {r.event_id for r in accepted}
        try:
            await self.tallies.apply(
                # The stored vote, not the row: a resend of an older vote must not put
                # its score into tallies that lost the newer one (newest seq wins anyway).
                [
                    TallyVote(pid, rounds[pid], aid, *stored[(aid, pid)])
                    for aid, pid in ((r.attendee_id, r.pitch_id) for r in accepted)
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
