"""Long-lived objects are frozen out of full collections; they are unfrozen and
collected again only while no voting is open."""

from __future__ import annotations

import asyncio
import gc
import weakref

from eventapp.live.gcpolicy import THRESHOLDS, manage_gc


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_frozen_cycles_are_freed_by_the_policy_only_outside_voting() -> None:
    before = gc.get_threshold()

    async def scenario() -> tuple[int, bool, bool]:
        voting = True
        task = asyncio.create_task(manage_gc(lambda: voting, freeze_every=0.01, full_every=0.05))
        await asyncio.sleep(0)
        # Young passes every 10,000 allocations, no automatic full ones (the policy's own).
        assert gc.get_threshold() == THRESHOLDS
        cycle = _Cycle()
        ref = weakref.ref(cycle)
        await asyncio.sleep(0.05)  # the policy has frozen it by now
        frozen = gc.get_freeze_count()
        del cycle
        await asyncio.sleep(0.1)
        gc.collect()  # an ordinary full pass skips frozen objects
        alive_while_voting = ref() is not None
        voting = False
        await asyncio.sleep(0.1)
        freed_after = ref() is None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return frozen, alive_while_voting, freed_after

    try:
        frozen, alive_while_voting, freed_after = asyncio.run(scenario())
    finally:
        gc.unfreeze()
    assert frozen > 0
    assert alive_while_voting
    assert freed_after
    assert gc.get_threshold() == before  # handed back when the policy stops
