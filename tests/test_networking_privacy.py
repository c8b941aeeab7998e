"""No contact field crosses the socket, ever; the directory filters and hides what it must;
suggestions follow profile changes."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient, WebSocketTestSession

from eventapp.core.db import Database
from eventapp.core.models import Event
from tests.helpers import ORIGIN, hello_attendee, of_type, receive_until
from tests.network_helpers import Phone, set_topics

SECRETS = {
    "anna": {
        "email": "anna.secret@stadt.example",
        "phone": "+49 30 111111",
        "website": "https://anna-secret.example",
        "linkedin": "anna-secret",
    },
    "ben": {
        "email": "ben.secret@sensorik.example",
        "phone": "+49 171 222222",
        "website": "https://ben-secret.example",
        "linkedin": "ben-secret",
    },
}


def drain(ws: WebSocketTestSession, into: list[str]) -> None:
    """Collect everything the server sent so far (a ping's pong marks the end)."""
    ws.send_json({"type": "ping"})
    while True:
        text = ws.receive_text()
        into.append(text)
        if json.loads(text)["type"] == "pong":
            return


def test_no_contact_field_is_ever_sent_over_the_socket(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    anna.save_profile(
        **SECRETS["anna"],
        share_email="on",
        share_phone="on",
        share_website="on",
        share_linkedin="on",
    )
    ben.save_profile(**SECRETS["ben"], share_email="on", share_phone="on")
    seen: list[str] = []
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as anna_ws,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ben_ws,
    ):
        welcome = hello_attendee(anna_ws, anna.token)
        seen.append(json.dumps(welcome))
        seen.append(json.dumps(hello_attendee(ben_ws, ben.token)))
        pitch_id = welcome["event"]["pitches"][0]["id"]
        ben.post(f"{ben.net}/request/{anna.id}")
        request = receive_until(anna_ws, of_type("contact_request"))
        seen.append(json.dumps(request))
        anna.post(f"{anna.net}/requests/{request['link_id']}/decline")
        seen.append(json.dumps(receive_until(ben_ws, of_type("contact_answer"))))
        # A decline wins over Ben scanning Anna's code; Anna scanning Ben's is her consent.
        assert ben.post(anna.code_link()).status_code == 400
        anna.post(ben.code_link())  # face to face, after all
        seen.append(json.dumps(receive_until(ben_ws, of_type("contact_exchanged"))))
        ben.post(f"{ben.net}/pitches/{pitch_id}", {"role": "partner", "note": "count me in"})
        for ws in (anna_ws, ben_ws):
            drain(ws, seen)
    everything = "\n".join(seen)
    for person in SECRETS.values():
        for value in person.values():
            assert value not in everything
    kinds = [json.loads(text)["type"] for text in seen]
    assert {"welcome", "contact_request", "contact_answer", "contact_exchanged"} <= set(kinds)
    # Over HTTP, after the exchange, each sees the other's shared fields.
    assert SECRETS["anna"]["email"] in ben.get(f"{ben.net}/contacts").text
    assert SECRETS["ben"]["phone"] in anna.get(f"{anna.net}/contacts").text


def test_directory_filters_by_text_tag_and_organisation_type(
    client: TestClient, db: Database, event: Event
) -> None:
    set_topics(db, event, ["Mobility", "Energy"])
    viewer = Phone(client, db, event, "Viola Viewer")
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    carla = Phone(client, db, event, "Carla Roth")
    viewer.save_profile()
    anna.save_profile(
        organization="Stadt Musterstadt",
        org_type="public_admin",
        interests="Mobility",
        seeks="sensor hardware",
    )
    ben.save_profile(
        organization="Sensorik GmbH",
        org_type="startup",
        offers="sensor hardware",
        offers_text="LoRaWAN parking sensors",
    )
    carla.save_profile(organization="Uni", org_type="research", interests="Energy")

    def listed(query: str) -> list[str]:
        page = viewer.get(f"{viewer.net}/people?{query}").text
        section = page.split('id="directory"', 1)[1]
        return [
            name
            for name in ("Anna Schmidt", "Ben Weber", "Carla Roth", "Viola Viewer")
            if name in section
        ]

    assert listed("") == ["Anna Schmidt", "Ben Weber", "Carla Roth"]
    assert listed("org_type=startup") == ["Ben Weber"]
    assert listed("tag=sensor+hardware") == ["Anna Schmidt", "Ben Weber"]
    assert listed("tag=Mobility") == ["Anna Schmidt"]
    assert listed("q=lorawan") == ["Ben Weber"]
    assert listed("q=musterstadt&org_type=public_admin") == ["Anna Schmidt"]
    assert listed("q=nobody") == []
    assert listed("org_type=pirates") == ["Anna Schmidt", "Ben Weber", "Carla Roth"]
    # Someone who is not opted in cannot browse the directory at all.
    dora = Phone(client, db, event, "Dora")
    refused = dora.get(f"{dora.net}/people")
    assert refused.status_code == 400 and "Turn on networking" in refused.text


def test_self_requests_and_interest_without_opt_in_are_refused(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    anna.save_profile()
    own = anna.post(f"{anna.net}/request/{anna.id}")
    assert own.status_code == 400 and "cannot send yourself a request" in own.text
    own_block = anna.post(f"{anna.net}/block/{anna.id}")
    assert own_block.status_code == 400 and "cannot block yourself" in own_block.text
    dora = Phone(client, db, event, "Dora")
    pitches = dora.get(f"{dora.net}/pitches").text
    pitch_id = pitches.split('id="pitch-', 1)[1].split('"', 1)[0]
    answer = dora.post(f"{dora.net}/pitches/{pitch_id}", {"role": "funder"})
    assert answer.status_code == 400 and "Turn on networking" in answer.text
    bad_answer = anna.post(f"{anna.net}/requests/1/maybe")
    assert bad_answer.status_code == 400 and "No such request." in bad_answer.text


def test_suggestions_follow_profile_changes(client: TestClient, db: Database, event: Event) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    anna.save_profile(seeks="funding")
    ben.save_profile()

    def suggested(phone: Phone) -> list[Any]:
        page = phone.get(phone.net).text
        return [
            part.split('"', 1)[0]
            for part in page.split('class="person suggestion" data-attendee="')[1:]
        ]

    assert suggested(anna) == []
    ben.save_profile(offers="funding")
    assert suggested(anna) == [str(ben.id)]
    ben.save_profile(offers="funding", opt_in="")
    assert suggested(anna) == []


def test_networking_switched_off_by_the_organiser(
    client: TestClient, db: Database, event: Event
) -> None:
    anna = Phone(client, db, event, "Anna Schmidt")
    anna.save_profile()

    def switch_off(session: Any) -> None:
        row = session.get(Event, event.id)
        row.networking_enabled = False
        session.add(row)
        session.commit()

    db.call(switch_off)
    for path in ("", "/people", "/code", "/contacts"):
        page = anna.get(f"{anna.net}{path}")
        assert page.status_code == 404
        assert "Networking is switched off for this event." in page.text
    assert 'id="network-link"' not in anna.get(f"/e/{event.code}").text


def backdate_requests(db: Database, *, minutes: int) -> None:
    """Move every contact request back in time (what waiting that long would do)."""
    from datetime import timedelta

    from sqlmodel import select

    from eventapp.networking.models import ContactLink

    def tx(session: Any) -> None:
        for link in session.exec(select(ContactLink)).all():
            link.created_at = link.created_at - timedelta(minutes=minutes)
            session.add(link)
        session.commit()

    db.call(tx)


def test_a_hall_cannot_be_spammed_with_requests(
    client: TestClient, db: Database, event: Event
) -> None:
    from eventapp.networking.contacts import MAX_OPEN_REQUESTS

    spammer = Phone(client, db, event, "Sam Spam")
    spammer.save_profile()
    targets = []
    for i in range(MAX_OPEN_REQUESTS + 1):
        target = Phone(client, db, event, f"Guest {i}")
        target.save_profile()
        targets.append(target)
    for target in targets[:-1]:
        assert spammer.post(f"{spammer.net}/request/{target.id}").status_code == 303
        backdate_requests(db, minutes=2)  # under the per-minute limit: a slow spammer
    refused = spammer.post(f"{spammer.net}/request/{targets[-1].id}")
    assert refused.status_code == 400 and "many unanswered requests" in refused.text
    assert "Contact requests" not in targets[-1].get(targets[-1].net).text
