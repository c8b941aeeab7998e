"""My contacts: private notes, vCards read back with vobject, and pitch partnering
(the presenter sees who wants to get involved, within consent)."""

from __future__ import annotations

from typing import Any

import vobject
from sqlalchemy import update
from sqlmodel import col, select
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event, Pitch, Vote
from eventapp.networking.models import ContactNote, PartnerInterest
from eventapp.networking.queries import list_connections, list_partner_interests
from eventapp.networking.suggestions import list_suggestions
from tests.helpers import ORIGIN, hello_attendee, of_type, receive_until
from tests.network_helpers import Phone


def connect(a: Phone, b: Phone) -> None:
    """b scans a's code and confirms."""
    assert b.post(a.code_link()).status_code == 303


def test_notes_are_private_and_vcards_hold_only_shared_fields(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    carla = Phone(client, db, event, "Carla Roth")
    anna.save_profile(
        organization="Stadt Musterstadt",
        role="Head of IT",
        email="anna@stadt.example",
        share_email="on",
        phone="+49 30 123456",
        website="stadt.example",
        share_website="on",
        linkedin="anna-schmidt",
        share_linkedin="on",
    )
    ben.save_profile(email="ben@sensorik.example", share_email="on", organization="Sensorik GmbH")
    carla.save_profile(phone="+49 89 777", share_phone="on")
    connect(anna, ben)
    connect(anna, carla)

    saved = ben.post(f"{ben.net}/contacts/{anna.id}/note", {"note": "Pilot in Q3; call Monday"})
    assert saved.headers["location"] == f"{ben.net}/contacts/{anna.id}?done=noted"
    assert "Pilot in Q3; call Monday" in ben.get(f"{ben.net}/contacts/{anna.id}").text
    assert "Pilot in Q3" not in anna.get(f"{anna.net}/contacts").text
    html_note = ben.post(f"{ben.net}/contacts/{anna.id}/note", {"note": "<img src=x>"})
    assert html_note.status_code == 400 and "note: must not contain" in html_note.text
    stranger = carla.post(f"{carla.net}/contacts/{ben.id}/note", {"note": "hm"})
    assert stranger.status_code == 400 and "Notes are for your contacts." in stranger.text
    notes = db.read(lambda s: s.exec(select(ContactNote)).all())
    assert [(n.owner_id, n.about_id, n.text) for n in notes] == [
        (ben.id, anna.id, "Pilot in Q3; call Monday")
    ]

    single = ben.get(f"{ben.net}/contacts/{anna.id}.vcf")
    assert single.headers["content-type"] == "text/vcard; charset=utf-8"
    assert 'filename="Anna-Schmidt.vcf"' in single.headers["content-disposition"]
    card = vobject.readOne(single.text)
    assert card.fn.value == "Anna Schmidt"
    assert (card.n.value.given, card.n.value.family) == ("Anna", "Schmidt")
    assert card.org.value == ["Stadt Musterstadt"]
    assert card.title.value == "Head of IT"
    assert [e.value for e in card.contents["email"]] == ["anna@stadt.example"]
    assert sorted(u.value for u in card.contents["url"]) == [
        "https://stadt.example",
        "https://www.linkedin.com/in/anna-schmidt",
    ]
    assert "tel" not in card.contents  # Anna did not share her phone
    assert card.note.value == "Met at Smart City Forum.\nPilot in Q3; call Monday"

    everyone = [vobject.readOne(c) for c in _split(anna.get(f"{anna.net}/contacts.vcf").text)]
    assert sorted(c.fn.value for c in everyone) == ["Ben Weber", "Carla Roth"]
    by_name = {c.fn.value: c for c in everyone}
    assert [e.value for e in by_name["Ben Weber"].contents["email"]] == ["ben@sensorik.example"]
    assert [t.value for t in by_name["Carla Roth"].contents["tel"]] == ["+49 89 777"]
    assert "email" not in by_name["Carla Roth"].contents
    # Not a contact: no card at all.
    refused = carla.get(f"{carla.net}/contacts/{ben.id}.vcf")
    assert refused.status_code == 400 and "BEGIN:VCARD" not in refused.text
    # Withdrawing consent hides the fields from existing contacts too.
    anna.save_profile(email="anna@stadt.example", share_email="on", opt_in="")
    assert "anna@stadt.example" not in ben.get(f"{ben.net}/contacts.vcf").text

    connections = db.read(list_connections, event.id)
    assert sorted((c["a_name"], c["b_name"], c["state"], c["via"]) for c in connections) == [
        ("Anna Schmidt", "Ben Weber", "accepted", "qr"),
        ("Anna Schmidt", "Carla Roth", "accepted", "qr"),
    ]


def _split(text: str) -> list[str]:
    return [part + "END:VCARD\r\n" for part in text.split("END:VCARD\r\n") if part.strip()]


def test_presenter_sees_who_wants_to_get_involved_within_consent(
    client: TestClient, db: Database, event: Event
) -> None:
    presenter = Phone(client, db, event, "Petra Stadtwerke")
    ben = Phone(client, db, event, "Ben Weber")
    carla = Phone(client, db, event, "Carla Roth")
    presenter.save_profile()
    ben.save_profile(email="ben@sensorik.example", share_email="on", organization="Sensorik GmbH")
    carla.save_profile(email="carla@uni.example", share_email="on")
    pitch_id = db.read(
        lambda s: s.exec(
            select(Pitch.id).where(Pitch.event_id == event.id, Pitch.title == "Smart Parking")
        ).one()
    )

    def link_presenter(session: Any) -> None:
        session.execute(
            update(Pitch)
            .where(col(Pitch.id) == pitch_id)
            .values(presenter_attendee_id=presenter.id)
        )
        session.commit()

    db.call(link_presenter)
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws:
        hello_attendee(ws, presenter.token)
        saved = ben.post(
            f"{ben.net}/pitches/{pitch_id}",
            {"role": "technology_provider", "note": "We have 500 sensors"},
        )
        assert saved.headers["location"] == f"{ben.net}/pitches?done=interest"
        told = receive_until(ws, of_type("partner_interest"))
        assert told == {
            "type": "partner_interest",
            "pitch_id": pitch_id,
            "attendee_id": ben.id,
            "name": "Ben Weber",
            "organization": "Sensorik GmbH",
            "role": "technology_provider",
        }
    carla.post(f"{carla.net}/pitches/{pitch_id}", {"role": "funder", "note": ""})
    connect(presenter, carla)

    page = presenter.get(f"{presenter.net}/pitches").text
    interested = page.split("Interested in your pitch", 1)[1]
    assert "Ben Weber" in interested and "Technology provider" in interested
    assert "We have 500 sensors" in interested
    assert "ben@sensorik.example" not in page  # not connected: no contact fields
    assert "carla@uni.example" in interested  # connected: her shared e-mail
    assert "Interested in your pitch" not in ben.get(f"{ben.net}/pitches").text

    bad = ben.post(f"{ben.net}/pitches/{pitch_id}", {"role": "overlord", "note": ""})
    assert bad.status_code == 400 and "role: is not one of the listed roles" in bad.text
    other_event_pitch = ben.post(f"{ben.net}/pitches/999999", {"role": "funder"})
    assert other_event_pitch.status_code == 400 and "No such pitch" in other_event_pitch.text
    rows = db.read(list_partner_interests, event.id)
    assert [(r["pitch_title"], r["name"], r["role"], r["note"]) for r in rows] == [
        ("Smart Parking", "Ben Weber", "technology_provider", "We have 500 sensors"),
        ("Smart Parking", "Carla Roth", "funder", ""),
    ]
    ben.post(f"{ben.net}/pitches/{pitch_id}", {"withdraw": "1"})
    remaining = db.read(lambda s: s.exec(select(PartnerInterest.attendee_id)).all())
    assert remaining == [carla.id]


def test_suggestions_page_explains_why(client: TestClient, db: Database, event: Event) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    carla = Phone(client, db, event, "Carla Roth")
    anna.save_profile(org_type="public_admin", seeks="sensor hardware")
    ben.save_profile(org_type="startup", offers="sensor hardware, LoRaWAN")
    carla.save_profile(org_type="public_admin", opt_in="")  # not opted in: never suggested
    page = anna.get(anna.net).text
    suggestion = page.split('class="person suggestion"', 1)[1]
    assert "Ben Weber" in suggestion
    assert "You seek sensor hardware, Ben Weber offers it" in suggestion
    assert "Public administration ↔ Start-up" in suggestion
    assert "Carla" not in page
    de = anna.get(anna.net, lang="de").text
    assert "Sie suchen sensor hardware, Ben Weber bietet es" in de
    assert "Öffentliche Verwaltung ↔ Start-up" in de
    # Once connected, no longer suggested.
    connect(ben, anna)
    assert 'class="person suggestion"' not in anna.get(anna.net).text


def test_organiser_gets_every_suggestion_with_reasons_from_live_votes(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    anna.save_profile()
    ben.save_profile()
    pitch_id = db.read(
        lambda s: s.exec(
            select(Pitch.id).where(Pitch.event_id == event.id, Pitch.title == "Smart Parking")
        ).one()
    )

    def vote(session: Any) -> None:
        for who, score in ((anna.id, 5), (ben.id, 5)):
            session.add(
                Vote(event_id=event.id, pitch_id=pitch_id, attendee_id=who, score=score, seq=1)
            )
        session.commit()

    db.call(vote)
    rows = db.read(list_suggestions, event.id)
    assert [(r["name"], r["suggested_name"], r["rank"], r["reasons"]) for r in rows] == [
        ("Anna Schmidt", "Ben Weber", 1, "Both rated 'Smart Parking' 5/5"),
        ("Ben Weber", "Anna Schmidt", 1, "Both rated 'Smart Parking' 5/5"),
    ]
    assert "You both rated &#39;Smart Parking&#39; 5/5" in anna.get(anna.net).text
