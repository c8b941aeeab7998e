"""Who says hello: the attendees of many hellos read together.

A phone's hello needs its attendee (by device token; a removed attendee's token no longer
works), the votes stored for it (``welcome``'s ``my_votes``: a phone that reconnects
learns which of its votes are saved) and its own questions. Read one by one that is
three trips to the database threads per phone; when a hall's Wi-Fi comes back, thousands
of hellos arrive within seconds. The greeter queues them and reads each batch in one
trip with one query per kind, whatever the batch size; while hellos keep coming, a
batch waits ``GATHER`` (20 ms) after its first hello for others to join, in a storm
``STORM_GATHER`` (100 ms), but no longer than until ``ENOUGH`` (64) have come. SQL stays
the only truth: nothing here is cached, so a removal or a vote committed by another
process is seen by the next batch.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from dataclasses import dataclass

from sqlmodel import Session

from eventapp.core.db import Database
from eventapp.questions import queries as questions
from eventapp.questions.queries import MyQuestions
from eventapp.voting import queries

BATCH_MAX = 500  # hellos per read: bounded statements (IN lists) and bounded waits
IN_FLIGHT = 2  # batches read at once: the next one gathers while one is read
# A batch waits this long for more hellos after its first (unless it is full). A read
# costs ~1.5 ms of CPU whatever its size up to ~20 hellos; read as they came, hellos of a
# storm made batches of ~4, and those reads took ~30 % of the process's CPU per connect.
GATHER = 0.02  # seconds
# ... but only while hellos keep coming: a batch within this long before. A lone hello
# (one phone, a test) is read on the next turn of the loop.
BUSY_WINDOW = 0.5  # seconds
# In a storm (more than STORM_RATE attendees greeted in the last second) a batch waits
# STORM_GATHER: a 10,000-phone storm answers ~500 hellos a second, so 20 ms made batches
# of ~8 and their reads (five queries each) took ~20 % of the process's CPU. A phone
# then waits up to 0.1 s longer for its welcome; the hall is back sooner. The rate is a
# process's own: with two processes on one core each answered ~120 a second.
STORM_RATE = 50
STORM_GATHER = 0.1  # seconds
# A gathering batch this big is read at once: its read costs per hello what a bigger
# one's does, and its phones need not wait out the gather. At ~1,500 hellos a second the
# 100 ms gather had made every welcome ~100 ms late while the server idled: with 200
# handshakes in flight that, not the server, set the connect rate.
ENOUGH = 64


@dataclass(frozen=True)
class Greeting:
    attendee_id: int
    votes: dict[int, tuple[int, int]]  # pitch_id -> (score, seq), as stored
    questions: MyQuestions


_Request = tuple[int, str]  # (event_id, token)


def greet(session: Session, requests: list[_Request]) -> dict[_Request, Greeting]:
    """The greeting of every (event, token) that names an attendee of that event."""
    tokens: dict[int, set[str]] = defaultdict(set)
    for event_id, token in requests:
        tokens[event_id].add(token)
    found: dict[_Request, Greeting] = {}
    for event_id, wanted in tokens.items():
        attendees = queries.attendees_by_tokens(session, event_id, wanted)
        if not attendees:
            continue
        ids = set(attendees.values())
        votes = queries.votes_of_attendees(session, ids)
        mine = questions.my_questions_of(session, event_id, ids)
        for token, aid in attendees.items():
            found[(event_id, token)] = Greeting(aid, votes.get(aid, {}), mine[aid])
    return found


class Greeter:
    def __init__(self, db: Database, *, batch_max: int = BATCH_MAX) -> None:
        self.db = db
        self.batch_max = batch_max
        self._queue: list[tuple[_Request, asyncio.Future[Greeting | None]]] = []
        self._in_flight = 0
        self.enough = min(ENOUGH, batch_max)
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None  # a gathering batch's start
        self._last_batch = float("-inf")  # loop time the last batch was taken
        self._tasks: set[asyncio.Task[None]] = set()
        self._answered: deque[tuple[float, int]] = deque()  # (loop time, hellos) per batch
        self._keep = 0.0  # seconds of _answered kept: the longest window asked for

    def answered_within(self, seconds: float) -> int:
        """Attendees greeted in the last ``seconds``: a reconnect storm greets hundreds a
        second; a flood of silent sockets (or of made-up tokens), none."""
        # Callers ask over different windows (the storm gather 1 s, the pump's storm
        # check 5 s): keep what the longest one asked for needs, count the asked one.
        self._keep = max(self._keep, seconds)
        now = asyncio.get_running_loop().time()
        while self._answered and self._answered[0][0] < now - self._keep:
            self._answered.popleft()
        horizon = now - seconds
        return sum(n for at, n in self._answered if at >= horizon)

    async def greet(self, event_id: int, token: str) -> Greeting | None:
        """The attendee of this device token with its stored votes and questions, or
        ``None`` (unknown token, another event's, or a removed attendee)."""
        future: asyncio.Future[Greeting | None] = asyncio.get_running_loop().create_future()
        self._queue.append(((event_id, token), future))
        self._kick()
        return await future

    def _kick(self) -> None:
        if not self._queue or self._in_flight >= IN_FLIGHT:
            return
        loop = asyncio.get_running_loop()
        if self._scheduled:
            # Hellos that arrive meanwhile join the batch; once it is big enough it goes.
            if self._timer is not None and len(self._queue) >= self.enough:
                self._timer.cancel()
                self._timer = None
                loop.call_soon(self._start)
            return
        self._scheduled = True
        busy = loop.time() - self._last_batch < BUSY_WINDOW
        if len(self._queue) >= self.enough or not busy:
            loop.call_soon(self._start)  # big enough, or a lone hello: no waiting
        elif self.answered_within(1.0) > STORM_RATE:
            self._timer = loop.call_later(STORM_GATHER, self._start)
        else:
            self._timer = loop.call_later(GATHER, self._start)

    def _start(self) -> None:
        self._scheduled = False
        self._timer = None
        self._last_batch = asyncio.get_running_loop().time()
        batch, self._queue = self._queue[: self.batch_max], self._queue[self.batch_max :]
        batch = [(request, future) for request, future in batch if not future.done()]
        if not batch:
            self._kick()
            return
        self._in_flight += 1
        task = asyncio.ensure_future(self._read(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._kick()

    async def _read(self, batch: list[tuple[_Request, asyncio.Future[Greeting | None]]]) -> None:
        try:
            found = await self.db.run_read(greet, [request for request, _ in batch])
        except Exception as exc:
            for _request, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for request, future in batch:
                if not future.done():
                    future.set_result(found.get(request))
            # Only hellos of real attendees: made-up tokens must not make a storm.
            self._answered.append((asyncio.get_running_loop().time(), len(found)))
        finally:
            self._in_flight -= 1
            self._kick()
