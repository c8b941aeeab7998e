"""Data protection: delete my data (votes stay, anonymously), purge, the privacy notice,
and no page asking another host for anything."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from starlette.testclient import TestClient

from eventapp.core import queries as shared
from eventapp.core.db import Database
from eventapp.core.models import Attendee, ConsentRecord, Event, Stage
from eventapp.core.privacy import purge_expired, record_consent
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
from tests.helpers import (
    ORIGIN,
    command,
    csrf_of,
    hello_attendee,
    hello_screen,
    join,
    of_type,
    receive_until,
)

EN = {"accept-language": "en"}


def _vote(client: TestClient, event: Event, token: str, pitch_id: int, score: int) -> None:
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as phone:
        hello_attendee(phone, token)
        phone.send_json({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": 1})
        receive_until(phone, of_type("vote_ack"))


def test_delete_my_data_keeps_the_votes_anonymously_and_tallies_unchanged(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    ada = join(client, event.code, "Ada Lovelace", "Analytical Engines")
    bob = join(client, event.code, "Bob", "Stadtwerke")
    with client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as mod:
        hello_screen(mod, "moderator", stage.moderator_key)
        pitch_id = command(mod, {"type": "open_voting", "pitch_id": 1})["event"]["current_pitch_id"]
        _vote(client, event, ada, pitch_id, 5)
        _vote(client, event, bob, pitch_id, 2)
        before = receive_until(
            mod, lambda m: m["type"] == "screen" and (m["current"] or {}).get("votes_in") == 2
        )["current"]["summary"]
        attendee = db.read(queries.attendee_by_token, event.id, ada)
        record_consent(attendee, "networking", db=db)

        client.cookies.clear()
        client.cookies.set(f"ea_{event.code}", ada)
        page = client.get(f"/e/{event.code}/privacy", headers=EN)
        assert 'id="delete-my-data"' in page.text
        refused = client.post(
            f"/e/{event.code}/privacy/delete",
            headers={**ORIGIN, **EN},
            data={"csrf": csrf_of(page.text)},
        )
        assert "Tick the box to confirm" in refused.text
        done = client.post(
            f"/e/{event.code}/privacy/delete",
            headers={**ORIGIN, **EN},
            data={"csrf": csrf_of(page.text), "confirm": "yes"},
        )
        assert "Your data was deleted" in done.text
        assert "ea_" + event.code + '=""' in done.headers["set-cookie"]

        # Another vote arrives; the screen still counts Ada's 5 exactly once.
        carol = join(client, event.code, "Carol")
        _vote(client, event, carol, pitch_id, 4)
        after = receive_until(
            mod, lambda m: m["type"] == "screen" and (m["current"] or {}).get("votes_in") == 3
        )["current"]["summary"]
    assert before == {"n": 2, "mean": 3.5, "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}}
    assert after == {"n": 3, "mean": 3.67, "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}}
    assert db.read(queries.score_counts, pitch_id) == {5: 1, 2: 1, 4: 1}

    row = db.read(queries.attendee_by_token, event.id, ada)
    assert row is None  # the old device token opens nothing
    blank = [a for a in db.read(shared.attendees_of_event, event.id) if a.anonymised_at]
    assert [(a.name, a.organization) for a in blank] == [("", "")]
    everyone = html.unescape(
        client.get(f"/e/{event.code}/organizer/{event.organizer_key}/export/attendees.json").text
    )
    assert "Ada" not in everyone and "Analytical" not in everyone
    # Consent records keep no personal data and stay as proof; the person is gone.
    kept = [
        c.kind for c in db.read(shared.consents_of_event, event.id) if c.attendee_id == attendee.id
    ]
    assert sorted(kept) == ["networking", "privacy"]


def test_delete_needs_a_joined_phone_and_the_form_token(client: TestClient, event: Event) -> None:
    page = client.get(f"/e/{event.code}/privacy", headers=EN)
    assert 'id="delete-my-data"' not in page.text
    token = csrf_of(client.get(f"/e/{event.code}").text)  # the same browser's form token
    nobody = client.post(
        f"/e/{event.code}/privacy/delete",
        headers={**ORIGIN, **EN},
        data={"csrf": token, "confirm": "yes"},
    )
    assert "This phone holds no data of yours for this event." in nobody.text
    forged = client.post(
        f"/e/{event.code}/privacy/delete", headers={**ORIGIN, **EN}, data={"confirm": "yes"}
    )
    assert forged.status_code == 403 and "The form expired" in forged.text


def test_privacy_notice_names_what_is_stored_and_until_when(
    client: TestClient, db: Database, event: Event
) -> None:
    page = client.get(f"/e/{event.code}/privacy", headers=EN).text
    ends = event.created_at.date() + timedelta(days=90)
    assert f"<strong>{ends:%b} {ends.day}, {ends.year}</strong>" in page
    assert "Version 2026-11" in page
    german = client.get(f"/e/{event.code}/privacy", headers={"accept-language": "de"}).text
    assert "Datenschutzhinweis" in german and "Meine Daten löschen" not in german


def test_purge_button_needs_the_code_then_deletes_everything(
    client: TestClient, db: Database, event: Event
) -> None:
    token = join(client, event.code, "Ada")
    attendee = db.read(queries.attendee_by_token, event.id, token)
    record_consent(attendee, "privacy", db=db)
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    page = client.get(root, headers=EN)
    wrong = client.post(
        f"{root}/purge",
        headers={**ORIGIN, **EN},
        data={"csrf": csrf_of(page.text), "confirm_code": "NOPE"},
    )
    assert "Type the event code to confirm" in wrong.text
    assert db.read(queries.event_by_code, event.code) is not None
    gone = client.post(
        f"{root}/purge",
        headers={**ORIGIN, **EN},
        data={"csrf": csrf_of(page.text), "confirm_code": event.code.lower()},
    )
    assert "The event and all its data" in gone.text
    assert db.read(queries.event_by_code, event.code) is None
    assert db.read(shared.attendees_of_event, event.id) == []
    assert db.read(shared.consents_of_event, event.id) == []
    assert client.get(root).status_code == 404


def test_purge_expired_removes_only_events_past_their_retention(db: Database) -> None:
    old = create_event("Old", [PitchSpec("A")], db=db)
    new = create_event("New", [PitchSpec("B")], db=db)
    ada = db.call(queries.add_attendee, Attendee(event_id=old.id, token="t" * 40, name="Ada"))
    db.call(
        shared.add_consent,
        ConsentRecord(event_id=old.id, attendee_id=ada.id, kind="privacy", text_version="1"),
    )
    with db.session() as session:
        row = session.get(Event, old.id)
        assert row is not None
        row.date, row.retention_days = "2026-01-10", 30
        session.add(row)
        session.commit()
    assert purge_expired(db=db, now=datetime(2026, 2, 8, tzinfo=UTC)) == []
    assert purge_expired(db=db, now=datetime(2026, 2, 10, tzinfo=UTC)) == [old.code]
    assert db.read(queries.event_by_code, old.code) is None
    assert db.read(shared.consents_of_event, old.id) == []
    assert db.read(queries.event_by_code, new.code) is not None


ASSET = re.compile(r'(?:src|href|action)="([^"]+)"|url\(([^)]+)\)|@import\s+"([^"]+)"')


def test_no_page_asks_another_host_for_anything(
    client: TestClient, event: Event, stage: Stage
) -> None:
    token = join(client, event.code, "Ada")
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    pages = [
        "/",
        f"/e/{event.code}",
        f"/e/{event.code}/privacy",
        f"/e/{event.code}/moderator/{stage.moderator_key}",
        f"/e/{event.code}/projector/{stage.projector_key}",
        root,
        f"{root}/report",
    ]
    client.cookies.set(f"ea_{event.code}", token)
    seen: set[str] = set()
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        for match in ASSET.finditer(response.text):
            url = next(g for g in match.groups() if g)
            seen.add(url)
    for url in [u for u in seen if u.startswith("/static/")]:
        body = client.get(url).text
        for match in ASSET.finditer(body):
            seen.add(next(g for g in match.groups() if g))
        assert "http://" not in body and "https://" not in body, url
    foreign = [u for u in seen if urlsplit(u).netloc not in ("", "testserver")]
    assert foreign == []
    assert any(u.startswith("/static/js/") for u in seen)


def test_delete_my_data_removes_profile_contacts_interests_and_notes(
    client: TestClient, db: Database, event: Event
) -> None:
    from sqlmodel import select

    from eventapp.networking.models import (
        ContactBlock,
        ContactLink,
        ContactNote,
        NetworkProfile,
        PartnerInterest,
    )
    from tests.network_helpers import CSRF, Phone

    anna = Phone(client, db, event, "Anna Schmidt")
    ben = Phone(client, db, event, "Ben Weber")
    anna.save_profile(organization="Stadt", org_type="public_admin", email="anna@stadt.example")
    ben.save_profile(organization="Sensorik", org_type="startup")
    assert ben.post(anna.code_link()).status_code == 303
    pitch_id = db.read(queries.load_state, event.id).pitches[0].id
    anna.post(f"{anna.net}/pitches/{pitch_id}", {"role": "partner"})
    ben.post(f"{ben.net}/contacts/{anna.id}/note", {"text": "met at the coffee bar"})
    carl = Phone(client, db, event, "Carl Braun")
    carl.save_profile(organization="Verkehr", org_type="public_admin")
    carl.post(f"{carl.net}/block/{anna.id}")
    anna.post(f"{anna.net}/block/{carl.id}")

    def rows(model: type) -> list[object]:
        return list(db.read(lambda s: s.exec(select(model)).all()))

    before = [len(rows(m)) for m in (NetworkProfile, ContactLink, PartnerInterest, ContactNote)]
    assert before == [3, 1, 1, 1]
    blocks = {(b.blocker_id, b.blocked_id) for b in rows(ContactBlock)}  # type: ignore[attr-defined]
    assert blocks == {(carl.id, anna.id), (anna.id, carl.id)}
    anna.get(f"/e/{event.code}/privacy")
    done = client.post(
        f"/e/{event.code}/privacy/delete",
        headers={**ORIGIN, **EN},
        data={"csrf": CSRF, "confirm": "yes"},
    )
    assert "Your data was deleted" in done.text
    assert [p.attendee_id for p in rows(NetworkProfile)] == [ben.id, carl.id]  # type: ignore[attr-defined]
    # Anna's own block is gone; Carl's block against her is Carl's data and stays (with
    # the device hash it holds, it keeps her phone away from him if she joins again).
    kept = [(b.blocker_id, b.blocked_id) for b in rows(ContactBlock)]  # type: ignore[attr-defined]
    assert kept == [(carl.id, anna.id)]
    assert rows(ContactLink) == [] and rows(PartnerInterest) == [] and rows(ContactNote) == []
    assert "Anna" not in ben.get(f"{ben.net}/contacts").text
