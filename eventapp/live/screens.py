"""What the moderator and the projector see: pure functions from state and counts.

No sockets, no I/O: the hub reads the tallies once per tick and hands the counts here; the
result is serialised once per role and sent to every screen of that role.
"""

from __future__ import annotations

from collections.abc import Mapping

from eventapp.messages import Screen, ScreenCurrent
from eventapp.voting.queries import EventState, PitchInfo
from eventapp.voting.stats import Summary, rank_pitches, results_visible, summarize


def summaries_of(state: EventState, counts: Mapping[int, Mapping[int, int]]) -> dict[int, Summary]:
    return {
        p.id: summarize(counts.get(p.id, {}), scale_min=state.scale_min, scale_max=state.scale_max)
        for p in state.pitches
    }


def screen_payload(
    state: EventState,
    summaries: Mapping[int, Summary],
    connected: int,
    *,
    full: bool,
    prior_weight: float,
) -> Screen:
    """The ``screen`` message; ``full`` (the moderator) also shows unrevealed results."""

    def shown(p: PitchInfo) -> bool:
        return full or results_visible(state, p)

    current = state.current
    current_json: ScreenCurrent | None = None
    if current is not None:
        s = summaries[current.id]
        current_json = ScreenCurrent(
            pitch_id=current.id,
            votes_in=s.n,
            results_shown=results_visible(state, current),
            summary=s.as_json() if shown(current) else None,
        )
    standings = rank_pitches(
        [(p.id, p.title, summaries[p.id]) for p in state.pitches if shown(p)],
        prior_weight=prior_weight,
        scale_mid=(state.scale_min + state.scale_max) / 2,
    )
    return Screen(
        version=state.version,
        connected=connected,
        current=current_json,
        leaderboard=[s.as_json() for s in standings],
        votes={str(pid): s.n for pid, s in summaries.items()} if full else None,
    )
