"""Tallies heal themselves when SQL holds votes they never saw (a process died between
committing a batch and mirroring it), even while another process goes on serving."""

from __future__ import annotations

import asyncio

from eventapp.app import open_live_backends
from eventapp.core.db import Database
from eventapp.core.models import Attendee, Event
from eventapp.enums import PitchState, Role
from eventapp.live.hub import Connection, Hub
from eventapp.live.outbox import Outbox
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.voting.queries import VoteRow
from eventapp.voting.tallies import TallyVote


def test_votes_committed_but_never_mirrored_are_merged_in(
    settings: Settings, db: Database, event: Event
) -> None:
    state = db.read(queries.load_state, event.id)
    pitch = state.pitches[0]
    db.call(
        queries.set_pitch_states,
        event.id,
        states={pitch.id: PitchState.OPEN},
        current_pitch_id=pitch.id,
    )

    async def scenario() -> tuple[list[bool], dict[int, dict[int, int]]]:
        tallies, bus = open_live_backends(settings)
        hub = Hub(settings=settings, db=db, tallies=tallies, bus=bus)
        live = await hub.attach(event.id, Connection(Role.PROJECTOR, Outbox()))
        attendees = [
            await db.run(
                queries.add_attendee, Attendee(event_id=event.id, token=f"t{i}", name=f"P{i}")
            )
            for i in range(2)
        ]
        # One vote goes the normal way (SQL, then tallies) ...
        first = VoteRow(event.id, pitch.id, attendees[0].id, 4, 1)
        await db.run(queries.commit_votes, [first])
        await tallies.apply([TallyVote(pitch.id, pitch.round, attendees[0].id, 4, 1)])
        # ... the other is committed by a process that dies before mirroring it.
        await db.run(queries.commit_votes, [VoteRow(event.id, pitch.id, attendees[1].id, 2, 1)])

        checks = [await hub.reconcile(live), await hub.reconcile(live), await hub.reconcile(live)]
        counts = await tallies.counts([(pitch.id, pitch.round)])
        await tallies.close()
        return checks, counts

    checks, counts = asyncio.run(scenario())
    # First sight of a difference waits (votes may be in flight); the second merges.
    assert checks == [False, True, False]
    assert counts == {pitch.id: {4: 1, 2: 1}}
