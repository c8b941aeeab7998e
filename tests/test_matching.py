"""Suggestions on a handcrafted event whose right answer is worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eventapp.core.models import Event
from eventapp.networking import matching
from eventapp.networking.matching import (
    build_features,
    compute_suggestions,
    org_matrix,
)
from eventapp.networking.matching_queries import MatchingData
from eventapp.networking.models import OrgType
from eventapp.networking.queries import Person
from eventapp.networking.reasons import explain

TOPICS = ["Mobility", "Parking", "Energy", "Housing", "Digital twin"]
PITCHES = {1: "Smart Parking", 2: "Heat Transition", 3: "Housing Exchange"}
ANNA, BEN, CARLA, DIETER, EVA, FRANK = 1, 2, 3, 4, 5, 6


def person(
    pid: int,
    name: str,
    org_type: str,
    interests: tuple[str, ...] = (),
    offers: tuple[str, ...] = (),
    seeks: tuple[str, ...] = (),
) -> Person:
    return Person(pid, name, "", True, org_type, "", interests, offers, seeks, "", "", {}, {})


def event(matrix: str = "{}") -> Event:
    return Event(
        name="Forum",
        code="ABCDEF",
        organizer_key="o",
        topics=json.dumps(TOPICS),
        org_type_matrix=matrix,
        scale_min=1,
        scale_max=5,
    )


def data(excluded: list[tuple[int, int]] | None = None) -> MatchingData:
    return MatchingData(
        people=[
            person(
                ANNA,
                "Anna Schmidt",
                "public_admin",
                ("Parking", "Mobility"),
                seeks=("sensor hardware",),
            ),
            person(BEN, "Ben Weber", "startup", ("Parking",), offers=("sensor hardware",)),
            person(
                CARLA,
                "Carla Roth",
                "research",
                ("Housing", "Digital twin"),
                offers=("data analysis",),
            ),
            person(DIETER, "Dieter Kuhn", "public_admin", ("Energy",), seeks=("data analysis",)),
            person(EVA, "Eva Lang", "large_company", ("Mobility",)),
            person(FRANK, "Frank Berg", "sme", ("Housing",)),
        ],
        votes=[
            (ANNA, 1, 5),
            (BEN, 1, 5),
            (DIETER, 2, 5),
            (CARLA, 2, 5),
            (EVA, 1, 2),
            (FRANK, 3, 3),
        ],
        interests=[],
        presenters=[],
        pitch_titles=PITCHES,
        excluded=excluded or [],
    )


def names(result: matching.Suggestions, attendee: int) -> list[str]:
    f = result.features
    return [f.names[f.index[other]] for other, _ in result.for_attendee(attendee)]


def texts(f: matching.Features, me: int, other: int) -> list[str]:
    return [r.text(lambda s: s) for r in explain(f, me, other)]


def test_ranking_and_reasons_match_the_hand_worked_answer() -> None:
    f = build_features(data(), event())
    result = compute_suggestions(f)
    # Anna–Ben: Parking (idf ln 7/3) + sensor hardware, offered by one of six
    # (1.5 · (1 + ln 7/2)) + admin↔start-up (1.5 · 1.0) + both 5/5 on Smart Parking (2/3)
    # = 5.39; Eva: Mobility + admin↔large company (1.5 · .8) = 2.05; Frank: admin↔SME
    # 1.5; Carla: admin↔research 1.2; Dieter: same type, nothing shared, no suggestion.
    assert names(result, ANNA) == ["Ben Weber", "Eva Lang", "Frank Berg", "Carla Roth"]
    scores = [s for _, s in result.for_attendee(ANNA)]
    idf = float(np.log(7 / 3))
    # (Ties are broken by a jitter below 0.001.)
    offer = 1 + float(np.log(7 / 2))
    assert scores == pytest.approx([idf + 1.5 * offer + 1.5 + 2 / 3, idf + 1.2, 1.5, 1.2], abs=2e-3)
    assert texts(f, ANNA, BEN) == [
        "You seek sensor hardware, Ben Weber offers it",
        "Public administration ↔ Start-up",
        "You share an interest in Parking",
        "You both rated 'Smart Parking' 5/5",
    ]
    assert texts(f, BEN, ANNA)[0] == "Anna Schmidt seeks sensor hardware, you offer it"
    assert names(result, DIETER)[0] == "Carla Roth"
    assert texts(f, DIETER, CARLA) == [
        "You seek data analysis, Carla Roth offers it",
        "Public administration ↔ Research institute",
        "You both rated 'Heat Transition' 5/5",
    ]
    # A 2/5 is not "relevant": Eva's vote gives Anna no co-voting reason.
    assert not any("rated" in t for t in texts(f, ANNA, EVA))


def test_connected_declined_and_blocked_pairs_are_never_suggested() -> None:
    result = compute_suggestions(build_features(data(excluded=[(ANNA, BEN), (EVA, ANNA)]), event()))
    assert names(result, ANNA) == ["Frank Berg", "Carla Roth"]
    assert "Anna Schmidt" not in names(result, BEN)
    assert "Anna Schmidt" not in names(result, EVA)
    for attendee in (ANNA, BEN, CARLA, DIETER, EVA, FRANK):
        assert attendee not in [other for other, _ in result.for_attendee(attendee)]


def test_rare_interests_weigh_more_than_common_ones() -> None:
    people = [person(i, f"P{i}", "", ("Mobility",)) for i in range(1, 9)]
    people[0] = person(1, "P1", "", ("Mobility", "Digital twin"))
    people[1] = person(2, "P2", "", ("Mobility", "Digital twin"))
    f = build_features(MatchingData(people, [], [], [], PITCHES, []), event())
    result = compute_suggestions(f)
    assert names(result, 1)[0] == "P2"
    assert texts(f, 1, 2) == ["You share an interest in Digital twin, Mobility"]
    # Everybody shares Mobility: its weight ln(9/9) is 0, no suggestion from it alone.
    assert names(result, 3) == []


def test_popular_people_are_not_suggested_to_everyone() -> None:
    n = 200
    people = [person(1, "Star", "startup", offers=("funding",))]
    people += [
        person(i, f"P{i}", "public_admin" if i % 2 else "sme", seeks=("funding",))
        for i in range(2, n + 1)
    ]
    result = compute_suggestions(
        build_features(MatchingData(people, [], [], [], PITCHES, []), event())
    )
    lists_with_star = sum(1 for i in range(2, n + 1) if 1 in [o for o, _ in result.for_attendee(i)])
    # Without damping the star would top all 199 lists.
    assert 0 < lists_with_star <= 2 * matching.LIST_LENGTH
    # Those who do get the star are the ones who gain most (administration ↔ start-up).
    got = [i for i in range(2, n + 1) if 1 in [o for o, _ in result.for_attendee(i)]]
    assert all(i % 2 == 1 for i in got)
    assert all(len(result.for_attendee(i)) == matching.LIST_LENGTH for i in range(2, n + 1))


def test_organiser_matrix_in_words_replaces_the_default() -> None:
    default = org_matrix("{}")
    t = {o: i for i, o in enumerate(OrgType)}
    assert default[t[OrgType.PUBLIC_ADMIN], t[OrgType.STARTUP]] == 1.0
    assert default[t[OrgType.STARTUP], t[OrgType.PUBLIC_ADMIN]] == 1.0
    custom = org_matrix(
        json.dumps(
            {"start-up": ["Forschung", "company"], "Verwaltung": {"SME": 0.5}, "pirates": ["ships"]}
        )
    )
    assert custom[t[OrgType.STARTUP], t[OrgType.RESEARCH]] == 1.0
    assert custom[t[OrgType.STARTUP], t[OrgType.LARGE_COMPANY]] == 1.0
    assert custom[t[OrgType.PUBLIC_ADMIN], t[OrgType.SME]] == 0.5
    assert custom[t[OrgType.PUBLIC_ADMIN], t[OrgType.STARTUP]] == 0.0
    assert float(custom.sum()) == 2.5
    f = build_features(data(), event(json.dumps({"public administration": ["start-up"]})))
    result = compute_suggestions(f)
    assert names(result, ANNA) == ["Ben Weber", "Eva Lang"]
    assert texts(f, ANNA, BEN)[1] == "Public administration ↔ Start-up"
    # The organiser's matrix is directional: start-ups were not told to meet the city.
    assert not any("↔" in t for t in texts(f, BEN, ANNA))
