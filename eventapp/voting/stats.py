"""Casting votes: validation and tally statistics (the durable writer is live.writer)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eventapp.enums import ACCEPTS_VOTES, PitchState
from eventapp.errors import Refused
from eventapp.voting.queries import EventState, PitchInfo

log = logging.getLogger(__name__)


def check_vote(state: EventState, pitch_id: int, score: int) -> None:
    """Refuse a vote the cached event state already rules out (the writer re-checks in SQL)."""
    pitch = state.pitch(pitch_id)
    if pitch is None:
        raise Refused("unknown_pitch")
    if pitch.state not in ACCEPTS_VOTES:
        raise Refused("voting_closed")
    if not state.scale_min <= score <= state.scale_max:
        raise Refused("out_of_scale", None, {"min": state.scale_min, "max": state.scale_max})


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
