"""Networking over HTTP and the live socket: consent, QR exchange, token rotation,
requests, blocks, and that no contact field reaches anyone without consent."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlmodel import select
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Attendee, ConsentRecord, Event
from eventapp.networking.contacts import make_token
from eventapp.networking.models import ContactLink, NetworkProfile, NetworkState
from tests.helpers import ORIGIN, hello_attendee, of_type, receive_until
from tests.network_helpers import Phone, set_topics

ANNA = {
    "email": "anna@stadt.example",
    "share_email": "on",
    "phone": "+49 30 123456",
    "organization": "Stadt Musterstadt",
    "org_type": "public_admin",
    "role": "Head of IT",
}
BEN = {
    "email": "ben@sensorik.example",
    "phone": "+49 171 555",
    "share_phone": "on",
    "organization": "Sensorik GmbH",
    "org_type": "startup",
    "offers": "sensor hardware",
}


def rows(db: Database, model: Any) -> list[Any]:
    return list(db.read(lambda s: s.exec(select(model)).all()))


def networking_consents(db: Database) -> list[Any]:
    """Joining records its own (privacy) consent; these tests look at networking's."""
    return [r for r in rows(db, ConsentRecord) if r.kind == "networking"]


def test_nobody_is_listed_before_opting_in_and_consent_is_recorded(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    ben.save_profile(**BEN)
    saved = anna.save_profile(**{**ANNA, "opt_in": ""})
    assert saved.headers["location"] == f"{anna.net}?done=saved"
    assert "Anna" not in ben.get(f"{ben.net}/people").text
    assert [r for r in networking_consents(db) if r.attendee_id == anna.id] == []
    refused = ben.post(f"{ben.net}/request/{anna.id}")
    assert refused.status_code == 400
    assert "not in the directory" in refused.text

    before = time.time()
    anna.save_profile(**ANNA)
    profile = db.read(lambda s: s.get(NetworkProfile, anna.id))
    assert profile.opted_in is True
    assert profile.consent_version == "networking-1"
    assert profile.consented_at is not None
    assert profile.consented_at.timestamp() >= before - 1
    consent = [r for r in networking_consents(db) if r.attendee_id == anna.id]
    assert [(r.kind, r.text_version) for r in consent] == [("networking", "networking-1")]
    listed = ben.get(f"{ben.net}/people").text
    assert "Anna Schmidt" in listed and "Stadt Musterstadt" in listed
    # The directory is public within the event, contact fields are not.
    assert ANNA["email"] not in listed and ANNA["phone"] not in listed

    anna.save_profile(**{**ANNA, "opt_in": ""})
    assert "Anna Schmidt" not in ben.get(f"{ben.net}/people").text
    assert "Turn on networking" in anna.get(f"{anna.net}/code").text


def test_qr_exchange_shows_each_only_the_fields_the_other_shares(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    anna.save_profile(**ANNA)
    ben.save_profile(**BEN)
    link = anna.code_link()
    assert link.startswith(f"http://testserver/e/{event.code}/n/")
    assert "anna" not in link.lower()  # a link, never contact data

    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as anna_ws:
        hello_attendee(anna_ws, anna.token)
        preview = ben.get(link)
        assert "Anna Schmidt" in preview.text and "Exchange contacts" in preview.text
        assert ANNA["email"] not in preview.text
        assert rows(db, ContactLink) == []
        done = ben.post(link)
        assert done.headers["location"] == f"{ben.net}/contacts/{anna.id}?done=exchanged"
        notice = receive_until(anna_ws, of_type("contact_exchanged"))
        assert notice == {
            "type": "contact_exchanged",
            "attendee_id": ben.id,
            "name": "Ben Weber",
            "organization": "Sensorik GmbH",
        }

    seen_by_ben = ben.get(f"{ben.net}/contacts/{anna.id}").text
    assert ANNA["email"] in seen_by_ben
    assert ANNA["phone"] not in seen_by_ben  # not shared
    seen_by_anna = anna.get(f"{anna.net}/contacts").text
    assert BEN["phone"] in seen_by_anna
    assert BEN["email"] not in seen_by_anna
    [contact] = rows(db, ContactLink)
    assert (contact.state, contact.via) == ("accepted", "qr")


def test_rotating_the_code_invalidates_the_old_one(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    anna.save_profile(**ANNA)
    ben.save_profile(**BEN)
    old = anna.code_link()
    rotated = anna.post(f"{anna.net}/code/rotate")
    assert rotated.headers["location"] == f"{anna.net}/code?done=rotated"
    new = anna.code_link()
    assert new != old
    for attempt in (ben.get(old), ben.post(old)):
        assert attempt.status_code == 400
        assert "replaced by a newer one" in attempt.text
    assert rows(db, ContactLink) == []
    assert ben.post(new).status_code == 303
    assert len(rows(db, ContactLink)) == 1


def test_forged_expired_and_own_codes_are_refused_and_nothing_stored(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    anna.save_profile(**ANNA)
    ben.save_profile(**BEN)
    link = anna.code_link()
    token = link.rsplit("/", 1)[1]
    body, _, sig = token.rpartition(".")
    forged = f"{body}.{'A' * len(sig)}"
    nonce = db.read(lambda s: s.get(NetworkProfile, anna.id)).qr_nonce
    # Signed with someone else's id: the signature no longer matches.
    other = make_token("not-the-secret", event.id, ben.id, nonce, int(time.time()) + 60)
    secret = db.read(lambda s: s.get(NetworkState, event.id)).secret
    expired = make_token(secret, event.id, anna.id, nonce, int(time.time()) - 1)
    base = f"/e/{event.code}/n/"
    for bad in (forged, other, "garbage", "1.2.3"):
        answer = ben.post(base + bad)
        assert answer.status_code == 400 and "This code is not valid." in answer.text, bad
    late = ben.post(base + expired)
    assert late.status_code == 400 and "expired" in late.text
    own = anna.post(link)
    assert own.status_code == 400 and "your own code" in own.text
    assert rows(db, ContactLink) == []


def test_request_accept_and_decline_are_told_live_without_contact_fields(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    carla = Phone(client, db, event, "Carla Roth")
    anna.save_profile(**ANNA)
    ben.save_profile(**BEN)
    carla.save_profile(email="carla@uni.example", share_email="on")
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as anna_ws,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ben_ws,
    ):
        hello_attendee(anna_ws, anna.token)
        hello_attendee(ben_ws, ben.token)
        assert (
            ben.post(f"{ben.net}/request/{anna.id}").headers["location"].endswith("?done=requested")
        )
        request = receive_until(anna_ws, of_type("contact_request"))
        assert request["attendee_id"] == ben.id and request["name"] == "Ben Weber"
        assert BEN["phone"] not in json.dumps(request)
        # Before Anna answers, Ben sees nothing of hers.
        assert ben.get(f"{ben.net}/contacts/{anna.id}").status_code == 400
        assert ANNA["email"] not in ben.get(f"{ben.net}/contacts.vcf").text
        again = ben.post(f"{ben.net}/request/{anna.id}")
        assert again.status_code == 409 and "already sent" in again.text

        overview = anna.get(anna.net).text
        assert "Contact requests" in overview and "Ben Weber" in overview
        accept = anna.post(f"{anna.net}/requests/{request['link_id']}/accept")
        assert accept.headers["location"] == f"{anna.net}/contacts?done=accepted"
        answer = receive_until(ben_ws, of_type("contact_answer"))
        assert answer == {
            "type": "contact_answer",
            "attendee_id": anna.id,
            "name": "Anna Schmidt",
            "accepted": True,
        }
        assert ANNA["email"] in ben.get(f"{ben.net}/contacts/{anna.id}").text

        carla.post(f"{carla.net}/request/{ben.id}")
        request = receive_until(ben_ws, of_type("contact_request"))
        ben.post(f"{ben.net}/requests/{request['link_id']}/decline")
        refused = carla.get(f"{carla.net}/contacts/{ben.id}")
        assert refused.status_code == 400 and "not among your contacts" in refused.text
        retry = carla.post(f"{carla.net}/request/{ben.id}")
        assert retry.status_code == 400 and "declined" in retry.text
        # Declined people are never suggested either.
        assert f'data-attendee="{ben.id}"' not in carla.get(carla.net).text


def test_blocked_people_cannot_request_exchange_or_find_each_other(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    anna.save_profile(**ANNA)
    ben.save_profile(**BEN)
    link = anna.code_link()
    assert anna.post(f"{anna.net}/block/{ben.id}").headers["location"].endswith("done=blocked")
    request = ben.post(f"{ben.net}/request/{anna.id}")
    assert request.status_code == 403 and "cannot exchange contacts" in request.text
    scan = ben.post(link)
    assert scan.status_code == 403
    assert "Anna" not in ben.get(f"{ben.net}/people").text
    assert "Ben" not in anna.get(f"{anna.net}/people").text
    assert rows(db, ContactLink) == []
    anna.post(f"{anna.net}/block/{ben.id}", {"undo": "1"})
    assert "Anna Schmidt" in ben.get(f"{ben.net}/people").text


def test_bad_profile_input_is_refused_with_a_clear_error_and_nothing_stored(
    client: TestClient, db: Database, event: Event
) -> None:
    set_topics(db, event, ["Mobility", "Energy"])
    anna = Phone(client, db, event, "Anna Schmidt")
    cases = {
        "offers": ("<script>alert(1)</script>", "offers: must not contain &lt; or &gt;"),
        "role": ("x" * 81, "role: is longer than 80 characters"),
        "email": ("not-an-address", "email: is not an e-mail address"),
        "linkedin": ("https://evil.example/x", "LinkedIn: is not a LinkedIn profile address"),
        "org_type": ("pirates", "organisation type: is not one of the listed types"),
        "interests": ("Knitting", "interests: must be topics of this event"),
        "website": ("javascript:alert(1)", "website: is not a web address"),
    }
    for field, (value, error) in cases.items():
        answer = anna.save_profile(**{**ANNA, field: value})
        assert answer.status_code == 400, field
        assert error in answer.text, (field, answer.text[:3000])
    assert rows(db, NetworkProfile) == []
    huge = anna.save_profile(**{**ANNA, "offers_text": "y" * 20_000})
    assert huge.status_code == 413 and "too large" in huge.text
    assert rows(db, NetworkProfile) == []
    assert networking_consents(db) == []
    # Names follow the join form's rule (plain text, shown escaped): accepted at the door,
    # accepted by the profile too (issue 13).
    assert anna.save_profile(**{**ANNA, "name": "Anna <Stadt>"}).status_code == 303
    assert [a.name for a in rows(db, Attendee)] == ["Anna <Stadt>"]


def test_forms_without_the_csrf_token_are_refused(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    anna._use()
    answer = client.post(
        f"{anna.net}/profile",
        data={"name": "Anna", "opt_in": "on"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert rows(db, NetworkProfile) == []


def test_the_vote_page_links_to_networking(client: TestClient, db: Database, event: Event) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    page = anna.get(f"/e/{event.code}").text
    assert f'href="/e/{event.code}/network" id="network-link"' in page
    german = client.get(anna.net, headers={"accept-language": "de"}).text
    assert "Networking ist für Sie aus" in german
