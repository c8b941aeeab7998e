"""What the moderator and the projector see: pure functions from state and counts.

No sockets, no I/O: the hub reads the tallies once per tick and hands the counts here; the
result is serialised once per role and sent to every screen of that role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


def stage_overview(
    states: Sequence[EventState],
    counts: Mapping[int, Mapping[int, int]],
    turnout: Mapping[int, int],
    *,
    prior_weight: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A conference with several stages (issue 15): what each stage is doing (the
    moderator's read-only overview) and the leaderboard across all stages, of the results
    the projectors may show (each entry names its stage)."""
    overview: list[dict[str, Any]] = []
    shown: list[tuple[int, str, Summary]] = []
    stage_of: dict[int, int] = {}
    for state in states:
        current = state.current
        overview.append(
            {
                "stage_id": state.stage_id,
                "name": state.stage_name,
                "current_pitch_id": current.id if current else None,
                "title": current.title if current else None,
                "state": current.state.value if current else None,
                "connected": turnout.get(state.stage_id, 0),
            }
        )
        summaries = summaries_of(state, counts)
        for p in state.pitches:
            stage_of[p.id] = state.stage_id
            if results_visible(state, p):
                shown.append((p.id, p.title, summaries[p.id]))
    first = states[0] if states else None
    mid = (first.scale_min + first.scale_max) / 2 if first else 3.0
    standings = rank_pitches(shown, prior_weight=prior_weight, scale_mid=mid)
    conference = [{**s.as_json(), "stage_id": stage_of[s.pitch_id]} for s in standings]
    return overview, conference
