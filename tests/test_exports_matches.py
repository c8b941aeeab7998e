"""Match exports: contact exchanges named only with both people's consent, partner
interests per pitch with role, suggestions; the dashboard and report count connections."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.voting import queries
from tests.network_helpers import Phone


def _rows(client: TestClient, event: Event, slug: str) -> list[dict[str, Any]]:
    url = f"/e/{event.code}/organizer/{event.organizer_key}/export/{slug}.json"
    body = json.loads(client.get(url).content)
    assert body["export"] == slug
    rows: list[dict[str, Any]] = body["rows"]
    return rows


def _people(client: TestClient, db: Database, event: Event) -> tuple[Phone, Phone, Phone]:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    carla = Phone(client, db, event, "Carla Diaz")
    anna.save_profile(organization="Stadt Musterstadt", org_type="public_admin")
    ben.save_profile(organization="Sensorik GmbH", org_type="startup")
    carla.save_profile(organization="Hochschule", org_type="research")
    return anna, ben, carla


def test_contacts_are_named_only_when_both_consented(
    client: TestClient, db: Database, event: Event
) -> None:
    anna, ben, carla = _people(client, db, event)
    assert ben.post(anna.code_link()).status_code == 303  # QR exchange: accepted at once
    assert carla.post(anna.code_link()).status_code == 303
    ben.post(f"{ben.net}/request/{carla.id}")  # a request nobody answered yet
    carla.save_profile(organization="Hochschule", org_type="research", opt_in="")  # withdraws

    rows = _rows(client, event, "contacts")
    named = [r for r in rows if r["person_a"]]
    assert [(r["person_a"], r["person_b"], r["state"], r["via"], r["count"]) for r in named] == [
        ("Anna Schmidt", "Ben Weber", "accepted", "qr", 1)
    ]
    counted = {r["state"]: r["count"] for r in rows if not r["person_a"]}
    assert counted == {"accepted": 1, "pending": 1}
    assert "Carla" not in json.dumps(rows)

    dashboard = client.get(f"/e/{event.code}/organizer/{event.organizer_key}/dashboard.json")
    assert dashboard.json()["connections"] == 2


def test_partner_interests_per_pitch_with_role(
    client: TestClient, db: Database, event: Event
) -> None:
    anna, ben, carla = _people(client, db, event)
    pitches = [p.id for p in db.read(queries.load_state, event.id).pitches]
    anna.post(f"{anna.net}/pitches/{pitches[1]}", {"role": "pilot_site", "note": "Altstadt"})
    ben.post(f"{ben.net}/pitches/{pitches[0]}", {"role": "technology_provider"})
    carla.post(f"{carla.net}/pitches/{pitches[0]}", {"role": "partner"})
    carla.save_profile(organization="Hochschule", org_type="research", opt_in="")

    # Roles are words in the organiser's language, not codes.
    rows = _rows(client, event, "partner-interests")
    assert [(r["position"], r["pitch"], r["person"], r["role"], r["note"]) for r in rows] == [
        (1, "Smart Parking", "Ben Weber", "Technologieanbieter", ""),
        (1, "Smart Parking", None, "Partner", None),
        (2, "Heat Transition", "Anna Schmidt", "Pilotstandort", "Altstadt"),
    ]
    url = f"/e/{event.code}/organizer/{event.organizer_key}/export/partner-interests.csv"
    english = client.get(url, headers={"accept-language": "en"}).content.decode("utf-8-sig")
    as_csv = list(csv.DictReader(io.StringIO(english)))
    assert [r["role"] for r in as_csv] == ["Technology provider", "Partner", "Pilot site"]


def test_suggestions_name_only_opted_in_people(
    client: TestClient, db: Database, event: Event
) -> None:
    _people(client, db, event)
    Phone(client, db, event, "Dora Silent")  # joined, never opted in
    rows = _rows(client, event, "suggestions")
    names = {r["person"] for r in rows} | {r["suggested"] for r in rows}
    assert names == {"Anna Schmidt", "Ben Weber", "Carla Diaz"}
    assert all(isinstance(r["rank"], int) and r["rank"] >= 1 for r in rows)


def test_report_draws_the_network_and_counts_by_organisation_type(
    client: TestClient, db: Database, event: Event
) -> None:
    anna, ben, carla = _people(client, db, event)
    ben.post(anna.code_link())
    carla.post(anna.code_link())
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    page = client.get(f"{root}/report", headers={"accept-language": "en"}).text
    assert '<strong id="r-connections">2</strong>' in page
    assert re.findall(r"<li>(.*?): (\d+)</li>", page) == [
        ("Public administration", "2"),
        ("Research institute", "1"),
        ("Start-up", "1"),
    ]
    svg = client.get(f"{root}/report/network.svg").text
    # Three people (circles), two exchanges (lines, written as SVG paths "M x,y L x,y").
    assert svg.count("<circle") == 3
    assert len(re.findall(r'<path d="M [\d.]+,[\d.]+ L [\d.]+,[\d.]+ Z"', svg)) == 2
