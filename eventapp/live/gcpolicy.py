"""Keep CPython's full garbage collections from stalling a hall of sockets.

Every connection holds a few hundred long-lived objects (protocol state, tasks, queues).
A full (generation 2) collection walks all of them, holding the event loop: measured at
5,000 phones, one pass took ~1 s and delayed every ack and broadcast behind it. So the
survivors are frozen every few seconds (``gc.freeze``: later passes skip them, and the
call costs next to nothing). Frozen objects that later die inside reference cycles would
never be freed, so now and then -- only while no pitch is open for voting -- everything
is unfrozen and collected once. While the policy runs, CPython's own collections are
made rarer (``THRESHOLDS``): full passes are left to the policy.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


# Collect the young generation every this many net allocations (CPython: 700), the middle
# one every this many young passes (CPython: 10), the old one only after this many middle
# passes (CPython: 10; in effect: never, the full passes are this module's own, below). A
# connect allocates a few hundred objects: at CPython's thresholds a 10,000-phone
# reconnect storm ran a pass over every unfrozen object about once a second, ~0.3 s each,
# a third of the storm's CPU (gc.callbacks timing: 28 full passes, 5.8 s). Young passes of
# 10,000 objects take ~1-2 ms, middle ones ~10 ms.
THRESHOLDS = (10_000, 5, 1_000)


async def manage_gc(
    voting_open: Callable[[], bool],
    *,
    freeze_every: float = 5.0,
    full_every: float = 600.0,
) -> None:
    last_full = time.monotonic()
    previous = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    try:
        while True:
            await asyncio.sleep(freeze_every)
            if time.monotonic() - last_full >= full_every and not voting_open():
                gc.unfreeze()
                started = time.perf_counter()
                found = gc.collect()
                last_full = time.monotonic()
                log.info(
                    "full collection: %d unreachable objects in %.0f ms",
                    found,
                    (time.perf_counter() - started) * 1000,
                )
            gc.freeze()
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()  # on shutdown, hand everything back to the collector
