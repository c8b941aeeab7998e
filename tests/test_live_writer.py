"""The vote writer and the supervisor it runs under, on a real database."""

from __future__ import annotations

import asyncio
import logging

import pytest

from eventapp.core.db import Database
from eventapp.core.models import Attendee, Event
from eventapp.enums import PitchState
from eventapp.live.supervisor import Supervisor, closed_within
from eventapp.live.writer import NotSaved, StoredVote, VoteWriter
from eventapp.organizing.attendees import remove_attendees
from eventapp.voting import queries
from eventapp.voting.queries import VoteRow
from eventapp.voting.tallies import MemoryTallies


def _open(db: Database, event: Event) -> tuple[int, int]:
    state = db.read(queries.load_state, event.id)
    pitch = state.pitches[0]
    db.call(
        queries.set_pitch_states,
        event.id,
        states={pitch.id: PitchState.OPEN},
        current_pitch_id=pitch.id,
    )
    attendee = db.call(queries.add_attendee, Attendee(event_id=event.id, token="tok", name="Ann"))
    assert attendee.id is not None
    return pitch.id, attendee.id


def _writer(db: Database) -> VoteWriter:
    return VoteWriter(
        db=db, tallies=MemoryTallies(), on_applied=lambda _: None, on_tally_failure=lambda _: None
    )


def test_submit_answers_with_the_stored_vote(db: Database, event: Event) -> None:
    pitch_id, attendee_id = _open(db, event)

    async def scenario() -> list[StoredVote | None]:
        writer = _writer(db)
        async with Supervisor() as loops:
            loops.run("vote-writer", writer.run, on_crash=writer.fail_batch)
            newer = await writer.submit(VoteRow(event.id, pitch_id, attendee_id, 2, 9))
            older = await writer.submit(VoteRow(event.id, pitch_id, attendee_id, 5, 3))
            writer.stop()
        return [newer, older]

    assert asyncio.run(scenario()) == [StoredVote(2, 9), StoredVote(2, 9)]


def test_one_batch_stores_new_and_newer_votes_answers_resends_and_drops_removed(
    db: Database, event: Event
) -> None:
    pitch_id, ann = _open(db, event)
    bob = db.call(queries.add_attendee, Attendee(event_id=event.id, token="t2", name="Bob")).id
    eve = db.call(queries.add_attendee, Attendee(event_id=event.id, token="t3", name="Eve")).id
    assert bob is not None and eve is not None
    db.call(queries.commit_votes, [VoteRow(event.id, pitch_id, bob, 4, 5)])
    db.call(remove_attendees, event.id, [eve], reason="script", actor="test")

    accepted, rounds, stored = db.call(
        queries.commit_votes,
        [
            VoteRow(event.id, pitch_id, ann, 2, 1),
            VoteRow(event.id, pitch_id, ann, 3, 2),  # newer, same batch: this one is stored
            VoteRow(event.id, pitch_id, bob, 1, 4),  # older than Bob's stored vote: a resend
            VoteRow(event.id, pitch_id, eve, 5, 1),  # removed: does not land
        ],
    )

    assert stored == {(ann, pitch_id): (3, 2), (bob, pitch_id): (4, 5)}
    assert sorted((r.attendee_id, r.score, r.seq) for r in accepted) == [(ann, 3, 2), (bob, 1, 4)]
    assert rounds == {pitch_id: db.read(queries.load_state, event.id).pitch(pitch_id).round}
    assert db.read(queries.votes_of_attendee, ann) == {pitch_id: (3, 2)}
    assert db.read(queries.votes_of_attendee, bob) == {pitch_id: (4, 5)}
    assert db.read(queries.votes_of_attendee, eve) == {}


def test_stop_fails_every_pending_vote(db: Database, event: Event) -> None:
    pitch_id, attendee_id = _open(db, event)

    async def scenario() -> list[BaseException | StoredVote | None]:
        writer = _writer(db)  # never started: votes stay queued
        pending = [
            asyncio.ensure_future(writer.submit(VoteRow(event.id, pitch_id, attendee_id, 3, s)))
            for s in (1, 2)
        ]
        await asyncio.sleep(0)
        writer.stop()
        results = await asyncio.gather(*pending, return_exceptions=True)
        with pytest.raises(NotSaved):
            await writer.submit(VoteRow(event.id, pitch_id, attendee_id, 3, 4))
        return results

    results = asyncio.run(scenario())
    assert [type(r) for r in results] == [NotSaved, NotSaved]
    assert db.read(queries.score_counts, pitch_id) == {}


def test_a_crashing_loop_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    crashes: list[str] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("first run fails")
        await asyncio.sleep(3600)

    async def scenario() -> dict[str, int]:
        async with Supervisor() as loops:
            loops.run("flaky", flaky, on_crash=lambda exc: crashes.append(str(exc)))
            while len(runs) < 2:
                await asyncio.sleep(0.01)
            return dict(loops.restarts)

    with caplog.at_level(logging.ERROR):
        restarts = asyncio.run(scenario())
    assert restarts == {"flaky": 1}
    assert crashes == ["first run fails"]
    assert any("flaky crashed" in r.getMessage() for r in caplog.records)


def test_a_close_that_hangs_is_given_up_after_its_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def hangs() -> None:
        await asyncio.sleep(3600)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await closed_within("a dead server", hangs(), timeout=0.2)
        return loop.time() - started

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(scenario()) < 2
    assert any("a dead server" in r.getMessage() for r in caplog.records)


def test_a_loop_that_ignores_cancellation_does_not_hang_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    swallowed: list[bool] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed.append(True)  # once, as a misbehaving client library may
        await release.wait()

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        async with Supervisor() as loops:
            loops.run("stubborn", stubborn)
            await asyncio.sleep(0.05)
            started = loop.time()
            await loops.stop(timeout=0.2)
            took = loop.time() - started
        release.set()  # it ends late; its restart honours the next cancel
        await asyncio.sleep(0.3)
        await loops.stop(timeout=1)
        return took

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(scenario()) < 2
    assert any("stubborn did not stop" in r.getMessage() for r in caplog.records)
