"""Casting votes: validation, the batching durable writer, and tally statistics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from eventapp.core.db import Database
from eventapp.enums import ACCEPTS_VOTES, PitchState
from eventapp.messages import ProtocolError
from eventapp.metrics import Metrics
from eventapp.voting import queries
from eventapp.voting.queries import EventState, PitchInfo, VoteRow
from eventapp.voting.tallies import Tallies, TallyVote

log = logging.getLogger(__name__)


def check_vote(state: EventState, pitch_id: int, score: int) -> None:
    """Refuse a vote the cached event state already rules out (the writer re-checks in SQL)."""
    pitch = state.pitch(pitch_id)
    if pitch is None:
        raise ProtocolError("unknown_pitch", "No such pitch in this event.")
    if pitch.state not in ACCEPTS_VOTES:
        raise ProtocolError("voting_closed", "Voting on this pitch is not open.")
    if not state.scale_min <= score <= state.scale_max:
        raise ProtocolError(
            "out_of_scale",
            "Score must be between %(min)d and %(max)d.",
            min=state.scale_min,
            max=state.scale_max,
        )


class VoteWriter:
    """Commits votes in batches: many votes per transaction, off the event loop.

    ``submit`` returns once the vote is durable (True), or the database refused it
    because voting closed meanwhile (False). Only then is the phone told "saved".
    """

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
        self._queue: asyncio.Queue[tuple[VoteRow, asyncio.Future[bool]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vote-writer")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, drain_seconds: float = 10.0) -> None:
        # Commit what is queued or committing first (a graceful restart): those phones
        # then see their votes saved in welcome's my_votes on the process they move to.
        deadline = time.monotonic() + drain_seconds
        while self.running and (self._busy or not self._queue.empty()):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, row: VoteRow) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((row, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._busy = True
            await self._commit(batch)
            self._busy = False

    async def _commit(self, batch: list[tuple[VoteRow, asyncio.Future[bool]]]) -> None:
        started = time.monotonic()
        try:
            accepted, rounds = await self.db.run(queries.commit_votes, [r for r, _ in batch])
            self.metrics.batch_committed(len(batch), time.monotonic() - started)
        except Exception as exc:
            log.exception("vote batch of %d failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
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
        keys = {(r.attendee_id, r.pitch_id) for r in accepted}
        for row, future in batch:
            if not future.done():
                future.set_result((row.attendee_id, row.pitch_id) in keys)
        if events:
            self.on_applied(events)


# ------------------------------------------------------------------ statistics


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    distribution: dict[int, int]

    def as_json(self) -> dict[str, object]:
        return {
            "n": self.n,
            "mean": None if self.mean is None else round(self.mean, 2),
            "distribution": {str(k): v for k, v in self.distribution.items()},
        }


def summarize(counts: Mapping[int, int], *, scale_min: int, scale_max: int) -> Summary:
    distribution = {s: counts.get(s, 0) for s in range(scale_min, scale_max + 1)}
    n = sum(distribution.values())
    mean = sum(s * c for s, c in distribution.items()) / n if n else None
    return Summary(n, mean, distribution)


@dataclass(frozen=True)
class Standing:
    pitch_id: int
    title: str
    n: int
    mean: float
    adjusted: float
    rank: int

    def as_json(self) -> dict[str, object]:
        return {
            "pitch_id": self.pitch_id,
            "title": self.title,
            "n": self.n,
            "mean": round(self.mean, 2),
            "adjusted": round(self.adjusted, 2),
            "rank": self.rank,
        }


def rank_pitches(
    summaries: Sequence[tuple[int, str, Summary]], *, prior_weight: float, scale_mid: float
) -> list[Standing]:
    """Rank by Bayesian average: each pitch starts with ``prior_weight`` virtual votes at
    the mean of all votes shown, so one 5-star vote cannot top the table."""
    voted = [(pid, title, s) for pid, title, s in summaries if s.n and s.mean is not None]
    total_n = sum(s.n for _, _, s in voted)
    prior = (
        sum(s.mean * s.n for _, _, s in voted if s.mean is not None) / total_n
        if total_n
        else scale_mid
    )
    rows = []
    for pid, title, s in voted:
        assert s.mean is not None
        adjusted = (prior_weight * prior + s.mean * s.n) / (prior_weight + s.n)
        rows.append((pid, title, s.n, s.mean, adjusted))
    rows.sort(key=lambda r: (-r[4], -r[2], r[1]))
    return [
        Standing(pid, title, n, mean, adjusted, rank)
        for rank, (pid, title, n, mean, adjusted) in enumerate(rows, start=1)
    ]


def results_visible(state: EventState, pitch: PitchInfo) -> bool:
    """May the projector show this pitch's distribution and mean?"""
    if pitch.state is PitchState.REVEALED:
        return True
    return state.live_results and pitch.state is not PitchState.PENDING
