"""Statistics the projector shows: summaries and the low-vote-adjusted ranking."""

from __future__ import annotations

import pytest

from eventapp.voting.stats import rank_pitches, summarize


def test_summary_counts_every_score_of_the_scale() -> None:
    s = summarize({5: 3, 4: 1}, scale_min=1, scale_max=5)
    assert s.n == 4
    assert s.mean == pytest.approx(4.75)
    assert s.distribution == {1: 0, 2: 0, 3: 0, 4: 1, 5: 3}


def test_one_five_star_vote_cannot_top_the_table() -> None:
    lone = summarize({5: 1}, scale_min=1, scale_max=5)
    solid = summarize({5: 30, 4: 10}, scale_min=1, scale_max=5)  # mean 4.75
    weak = summarize({2: 20}, scale_min=1, scale_max=5)
    table = rank_pitches(
        [(1, "Lone fan", lone), (2, "Solid", solid), (3, "Weak", weak)],
        prior_weight=5,
        scale_mid=3,
    )
    assert [row.title for row in table] == ["Solid", "Lone fan", "Weak"]
    # prior = mean of all 61 votes = (5 + 190 + 40) / 61
    prior = 235 / 61
    assert table[1].adjusted == pytest.approx((5 * prior + 5) / 6)
    assert [row.rank for row in table] == [1, 2, 3]
    assert table[1].mean == 5.0


def test_pitches_without_votes_are_not_ranked() -> None:
    empty = summarize({}, scale_min=1, scale_max=5)
    assert empty.mean is None
    assert rank_pitches([(1, "Nobody voted", empty)], prior_weight=5, scale_mid=3) == []
