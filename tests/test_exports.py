"""Exports read back with their own libraries; their totals equal the projector's."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl
import pytest
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.voting.rules import PitchSpec, create_event
from tests.helpers import ORIGIN, command, hello_attendee, hello_screen, join, receive_until
from tests.network_helpers import Phone
from tests.support.seeding import first_stage

VOTES = {0: [5, 4, 4, 2], 1: [3, 5, 5]}  # pitch index -> scores, one attendee each


def _vote(client: TestClient, event: Event, name: str, pitch_id: int, score: int) -> str:
    token = join(client, event.code, name, "Stadtwerke")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone:
        hello_attendee(phone, token)
        phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": 1})
        receive_until(phone, lambda m: m["type"] == "vote_ack")
    return token


@pytest.fixture
def voted(client: TestClient, db: Database) -> tuple[Event, dict[str, Any]]:
    """Two pitches voted and revealed, one not voted; returns what the projector showed."""
    event = create_event(
        "Forum",
        [PitchSpec("+SUM(1)", "Stadtwerke"), PitchSpec("Wärmewende"), PitchSpec("Housing")],
        db=db,
    )
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as projector,
    ):
        welcome = hello_screen(mod, "moderator", first_stage(db, event).moderator_key)
        hello_screen(projector, "projector", first_stage(db, event).projector_key)
        ids = [p["id"] for p in welcome["event"]["pitches"]]
        for index, scores in VOTES.items():
            command(mod, {"type": "open_voting", "pitch_id": ids[index]})
            for n, score in enumerate(scores):
                _vote(client, event, f"Voter {index}-{n}", ids[index], score)
            command(mod, {"type": "reveal", "pitch_id": ids[index]})
        total = sum(len(s) for s in VOTES.values())
        screen = receive_until(
            projector,
            lambda m: m["type"] == "screen" and sum(r["n"] for r in m["leaderboard"]) == total,
        )
    return event, screen


def _get(client: TestClient, event: Event, slug: str, fmt: str) -> bytes:
    response = client.get(f"/e/{event.code}/organizer/{event.organizer_key}/export/{slug}.{fmt}")
    assert response.status_code == 200, response.text
    assert f'filename="{event.code}-{slug}.{fmt}"' in response.headers["content-disposition"]
    return response.content


def _csv(client: TestClient, event: Event, slug: str) -> io.StringIO:
    return io.StringIO(_get(client, event, slug, "csv").decode("utf-8-sig"))


def _standings(rows: list[dict[str, Any]]) -> list[tuple[str, int, float, float, int]]:
    return [
        (
            str(r["pitch"]).lstrip("'"),
            int(r["n"]),
            float(r["mean"]),
            float(r["adjusted_mean"]),
            int(r["rank"]),
        )
        for r in rows
        if r["rank"] not in ("", None)
    ]


def test_votes_per_pitch_equal_the_projector_in_every_format(
    client: TestClient, voted: tuple[Event, dict[str, Any]]
) -> None:
    event, screen = voted
    shown = [
        (r["title"], r["n"], r["mean"], r["adjusted"], r["rank"]) for r in screen["leaderboard"]
    ]
    assert [s[0] for s in shown] == ["Wärmewende", "+SUM(1)"]  # 4.33 beats 3.75

    as_csv = list(csv.DictReader(_csv(client, event, "votes")))
    as_json = json.loads(_get(client, event, "votes", "json"))["rows"]
    sheet = openpyxl.load_workbook(io.BytesIO(_get(client, event, "votes", "xlsx"))).active
    header, *body = [list(r) for r in sheet.iter_rows(values_only=True)]
    as_xlsx = [dict(zip(header, r, strict=False)) for r in body if len(r) > 1 and r[1]]

    for rows in (as_csv, as_json, as_xlsx):
        assert _standings(rows) == shown
    # The distribution, median and spread of the first pitch (scores 5, 4, 4, 2).
    first = next(r for r in as_json if r["pitch"] == "+SUM(1)")
    assert [first[f"votes_{s}"] for s in range(1, 6)] == [0, 1, 0, 2, 1]
    assert (first["median"], first["sd"]) == (4.0, 1.26)
    unvoted = next(r for r in as_json if r["pitch"] == "Housing")
    assert (unvoted["n"], unvoted["rank"], unvoted["mean"]) == (0, None, None)


def test_raw_votes_are_pseudonymous_and_add_up(
    client: TestClient, db: Database, voted: tuple[Event, dict[str, Any]]
) -> None:
    event, screen = voted
    rows = list(csv.DictReader(_csv(client, event, "raw-votes")))
    assert len(rows) == sum(r["n"] for r in screen["leaderboard"]) == 7
    assert sorted(int(r["score"]) for r in rows if r["pitch"] == "Wärmewende") == [3, 5, 5]
    voters = {r["voter"] for r in rows}
    assert len(voters) == 7 and all(v.startswith("v-") and len(v) == 18 for v in voters)
    text = _get(client, event, "raw-votes", "json").decode()
    assert "Voter" not in text and "Stadtwerke" not in text
    # Keyed: the id is not a plain hash anyone could recompute from the attendee number.
    assert all(str(a) not in voters for a in range(1, 20))


def test_spreadsheet_cells_cannot_run_formulas(
    client: TestClient, db: Database, voted: tuple[Event, dict[str, Any]]
) -> None:
    event, _ = voted
    evil = Phone(client, db, event, '=HYPERLINK("http://x","y")')
    evil.save_profile(organization="@evil", org_type="startup")

    rows = list(csv.reader(_csv(client, event, "attendees")))
    named = [r for r in rows[1:] if r[1]]
    assert [r[1:4] for r in named] == [['\'=HYPERLINK("http://x","y")', "'@evil", "Start-up"]]
    sheet = openpyxl.load_workbook(io.BytesIO(_get(client, event, "attendees", "xlsx"))).active
    cells = [c for row in sheet.iter_rows() for c in row if c.value and "HYPERLINK" in str(c.value)]
    assert [(c.value, c.data_type) for c in cells] == [('\'=HYPERLINK("http://x","y")', "s")]
    votes = list(csv.reader(_csv(client, event, "votes")))
    assert "'+SUM(1)" in [r[2] for r in votes]
    # JSON is not a spreadsheet: values stay exact.
    people = json.loads(_get(client, event, "attendees", "json"))["rows"]
    assert [p["name"] for p in people if p["name"]] == ['=HYPERLINK("http://x","y")']


def test_attendees_export_only_consented_fields(
    client: TestClient, db: Database, voted: tuple[Event, dict[str, Any]]
) -> None:
    event, _ = voted
    anna = Phone(client, db, event, "Anna Schmidt")
    anna.save_profile(
        organization="Stadt",
        org_type="public_admin",
        email="anna@stadt.example",
        share_email="on",
        phone="+49 30 1",
    )
    people = json.loads(_get(client, event, "attendees", "json"))["rows"]
    assert len(people) == 8
    named = [p for p in people if p["name"]]
    assert [(p["name"], p["organisation"], p["email"], p["phone"]) for p in named] == [
        ("Anna Schmidt", "Stadt", "anna@stadt.example", None)
    ]  # phone not shared
    assert all(p["organisation"] is None for p in people if not p["name"])


def test_unknown_export_and_wrong_key_find_nothing(
    client: TestClient, event: Event, stage: Stage
) -> None:
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    for url in (
        f"{root}/export/nope.csv",
        f"{root}/export/votes.pdf",
        f"/e/{event.code}/organizer/{stage.moderator_key}/export/votes.csv",
    ):
        response = client.get(url, headers={"accept-language": "en"})
        assert response.status_code == 404
        assert "not" in response.text and "rank" not in response.text


def test_organiser_page_lists_every_registered_exporter(client: TestClient, event: Event) -> None:
    from eventapp.exports.registry import BY_SLUG

    page = client.get(f"/e/{event.code}/organizer/{event.organizer_key}").text
    for slug in BY_SLUG:
        for fmt in ("csv", "xlsx", "json"):
            assert f'id="export-{slug}-{fmt}"' in page
    assert {
        "votes",
        "raw-votes",
        "attendees",
        "partners",
        "contacts",
        "partner-interests",
        "suggestions",
    } <= set(BY_SLUG)


def test_blind_event_export_ranks_like_the_projector_until_everything_is_revealed(
    client: TestClient, db: Database
) -> None:
    event = create_event("Blind", [PitchSpec("Shown"), PitchSpec("Hidden")], db=db)
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as projector,
    ):
        ids = [
            p["id"]
            for p in hello_screen(mod, "moderator", first_stage(db, event).moderator_key)["event"][
                "pitches"
            ]
        ]
        hello_screen(projector, "projector", first_stage(db, event).projector_key)
        for pitch_id, scores in zip(ids, ([4, 2], [5, 5, 5]), strict=True):
            command(mod, {"type": "open_voting", "pitch_id": pitch_id})
            for n, score in enumerate(scores):
                _vote(client, event, f"V{pitch_id}-{n}", pitch_id, score)
        command(mod, {"type": "close_voting"})
        command(mod, {"type": "reveal", "pitch_id": ids[0]})
        screen = receive_until(
            projector, lambda m: m["type"] == "screen" and len(m["leaderboard"]) == 1
        )
    [shown] = screen["leaderboard"]
    rows = {r["pitch"]: r for r in json.loads(_get(client, event, "votes", "json"))["rows"]}
    assert (rows["Shown"]["rank"], rows["Shown"]["adjusted_mean"], rows["Shown"]["shown"]) == (
        shown["rank"],
        shown["adjusted"],
        "yes",
    )
    hidden = rows["Hidden"]
    assert (hidden["rank"], hidden["adjusted_mean"], hidden["shown"]) == (None, None, "no")
    assert (hidden["n"], hidden["mean"], hidden["rank_all"]) == (3, 5.0, 1)
    assert rows["Shown"]["rank_all"] == 2
