"""How many attendees are on a stage of an event (issue 15: turnout is per stage), across
every app process.

Each process publishes the number of distinct attendees it holds sockets for (one phone
with three tabs counts once) and sums the fresh figures of all processes. An attendee
with sockets on two processes counts on both: a load balancer spreading one phone's
tabs over processes is rare, and exact cross-process de-duplication would cost a Redis
write per socket.
"""

from __future__ import annotations

from eventapp.live.connections import LiveEvent
from eventapp.voting.tallies import Tallies


async def refresh_presence(
    tallies: Tallies, live: LiveEvent, *, event_id: int, process_id: str
) -> bool:
    """Publish this process's count and read the total; True when the total changed."""
    stage_id = live.state.stage_id
    await tallies.set_presence(event_id, process_id, len(live.by_attendee), stage_id=stage_id)
    connected = await tallies.presence(event_id, stage_id=stage_id)
    if connected == live.connected:
        return False
    live.connected = connected
    live.dirty = True
    return True
