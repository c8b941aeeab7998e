"""/metrics: only with the token, every metric documented in the README, votes counted
(received, acknowledged, refused by code), sockets per event and role, one registry per app."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from eventapp.app import create_app
from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.settings import Settings
from tests.conftest import ROOT
from tests.helpers import (
    ORIGIN,
    command,
    hello_attendee,
    hello_screen,
    join,
    of_type,
    receive_until,
)

TOKEN = "metrics-token-for-tests-0123456789"
README = (ROOT / "README.md").read_text()


@pytest.fixture
def metered(settings: Settings, db: Database) -> Iterator[TestClient]:
    app = create_app(replace(settings, metrics_token=TOKEN), database=db)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def scrape(client: TestClient) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.headers["content-type"].startswith("text/plain"), response.text
    return response.text


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        base, _, rest = metric.partition("{")
        found = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if base == name and found == wanted:
            return float(value)
    return 0.0


def test_no_token_configured_means_no_metrics_page(client: TestClient) -> None:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (response.status_code, response.text) == (404, "Not Found")


def test_wrong_or_missing_token_is_refused(metered: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN + "x"}):
        response = metered.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert "eventapp_" not in response.text


def test_every_metric_is_documented_in_the_readme(metered: TestClient) -> None:
    text = scrape(metered)
    names = [
        n
        for n in re.findall(r"^# TYPE (eventapp_\w+) ", text, flags=re.M)
        if not n.endswith("_created")
    ]
    assert len(names) >= 10
    missing = [n for n in names if f"`{n.removesuffix('_total')}`" not in README]
    assert missing == []


def test_votes_sockets_and_writer_are_counted(
    metered: TestClient, db: Database, event: Event, stage: Stage, settings: Settings
) -> None:
    token = join(metered, event.code, "Anna")
    with (
        metered.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod,
        metered.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone,
    ):
        hello_screen(mod, "moderator", stage.moderator_key)
        welcome = hello_attendee(phone, token)
        pitch_id = welcome["event"]["pitches"][0]["id"]
        command(mod, {"type": "open_voting", "pitch_id": pitch_id})
        phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": 4, "seq": 1})
        receive_until(phone, of_type("vote_ack"))
        phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": 99, "seq": 2})
        receive_until(phone, of_type("error", code="out_of_scale"))
        other = welcome["event"]["pitches"][1]["id"]
        phone.send_json({"type": "vote", "pitch_id": other, "score": 3, "seq": 3})
        receive_until(phone, of_type("error", code="voting_closed"))

        text = scrape(metered)
        event_id = str(event.id)
        assert sample(text, "eventapp_connections", event=event_id, role="attendee") == 1
        assert sample(text, "eventapp_connections", event=event_id, role="moderator") == 1
    assert sample(text, "eventapp_votes_received_total") == 3
    assert sample(text, "eventapp_votes_acked_total") == 1
    assert sample(text, "eventapp_votes_refused_total", code="out_of_scale") == 1
    assert sample(text, "eventapp_votes_refused_total", code="voting_closed") == 1
    assert sample(text, "eventapp_vote_ack_seconds_count") == 1
    assert sample(text, "eventapp_writer_batch_size_count") >= 1
    assert sample(text, "eventapp_writer_batch_size_sum") >= 1
    assert sample(text, "eventapp_writer_commit_seconds_count") >= 1
    # Opening voting built the tallies from SQL once.
    assert sample(text, "eventapp_tally_rebuilds_total") >= 1

    # The loop-lag probe has woken at least once (every 0.5 s) and measured something.
    deadline = time.monotonic() + 5
    while sample(scrape(metered), "eventapp_event_loop_lag_seconds_count") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)

    # A second app in the same process counts on its own.
    second = create_app(replace(settings, metrics_token=TOKEN), database=db)
    with TestClient(second, base_url="http://testserver") as fresh:
        assert sample(scrape(fresh), "eventapp_votes_received_total") == 0
