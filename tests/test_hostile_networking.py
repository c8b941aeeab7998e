"""Privacy edges of contact exchange, as someone hostile in the hall would probe them."""

from __future__ import annotations

import asyncio
import time

from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.networking import contacts as ct
from eventapp.networking.profiles import Refused
from eventapp.voting import queries
from tests.helpers import ORIGIN, csrf_of
from tests.network_helpers import Phone

ANNA = {"email": "anna@stadt.example", "share_email": "on"}
BEN = {"email": "ben@sensorik.example", "share_email": "on"}


def _token_of(link: str) -> str:
    return link.rsplit("/n/", 1)[1]


def test_a_photographed_code_after_a_decline_is_refused(
    client: TestClient, db: Database, event: Event
) -> None:
    anna, ben = Phone(client, db, event, "Anna"), Phone(client, db, event, "Ben")
    anna.save_profile(**ANNA)
    ben.save_profile(**BEN)
    ben.post(f"{ben.net}/request/{anna.id}")
    inbox = asyncio.run(ct.my_requests(anna.id, db=db))
    link_id = inbox.incoming[0][0]
    assert anna.post(f"{anna.net}/requests/{link_id}/decline").status_code == 303

    photo = anna.code_link()  # Ben photographs Anna's phone
    preview = ben.get(photo)
    confirm = ben.post(photo)
    assert (preview.status_code, confirm.status_code) == (400, 400)
    assert "This person declined to exchange contacts with you." in confirm.text
    assert ANNA["email"] not in ben.get(f"{ben.net}/contacts").text
    assert ANNA["email"] not in ben.get(f"{ben.net}/contacts.vcf").text
    # Anna changing her mind face to face (she scans Ben) is her own consent.
    assert anna.post(ben.code_link()).status_code == 303
    assert ANNA["email"] in ben.get(f"{ben.net}/contacts").text


def test_a_code_lives_ten_minutes_from_first_shown_and_new_code_ends_it(
    client: TestClient, db: Database, event: Event
) -> None:
    anna, ben = Phone(client, db, event, "Anna"), Phone(client, db, event, "Ben")
    anna.save_profile(**ANNA)
    ben.save_profile(**BEN)
    first = anna.code_link()
    assert anna.code_link() == first  # reloading shows the same code, not a renewed one
    assert anna.post(f"{anna.net}/code/rotate").status_code == 303
    assert anna.code_link() != first
    refused = ben.post(first)
    assert refused.status_code == 400 and "replaced by a newer one" in refused.text

    now = time.time()
    shown = asyncio.run(ct.my_token(event.id, anna.id, db=db, now=now))
    reloaded = asyncio.run(ct.my_token(event.id, anna.id, db=db, now=now + 300))
    assert reloaded == shown
    expires = int(shown.split(".")[1], 16)
    assert expires - now <= ct.TOKEN_TTL == 600
    later = asyncio.run(ct.my_token(event.id, anna.id, db=db, now=now + ct.TOKEN_TTL + 1))
    assert later != shown
    for at in (now + 60, now + ct.TOKEN_TTL + 2):  # the old nonce is gone: refused at once
        try:
            asyncio.run(ct.preview_exchange(event.id, ben.id, shown, db=db, now=at))
            raise AssertionError("an old code was accepted")
        except Refused as exc:
            assert exc.code in ("rotated_token", "expired_token")


def test_withdrawing_consent_hides_what_you_received_until_you_opt_in_again(
    client: TestClient, db: Database, event: Event
) -> None:
    anna, ben = Phone(client, db, event, "Anna"), Phone(client, db, event, "Ben")
    anna.save_profile(**ANNA)
    ben.save_profile(**BEN)
    assert ben.post(anna.code_link()).status_code == 303
    assert BEN["email"] in anna.get(f"{anna.net}/contacts").text
    anna.save_profile(**ANNA, opt_in="")
    page = anna.get(f"{anna.net}/contacts")
    assert BEN["email"] not in page.text and "Ben" not in page.text
    assert BEN["email"] not in anna.get(f"{anna.net}/contacts.vcf").text
    assert anna.get(f"{anna.net}/contacts/{ben.id}").status_code == 400
    anna.save_profile(**ANNA)
    assert BEN["email"] in anna.get(f"{anna.net}/contacts").text


class DevicePhone(Phone):
    """A phone that keeps its browser's device cookie across a fresh join."""

    def __init__(
        self, client: TestClient, db: Database, event: Event, name: str, device: str
    ) -> None:
        self.client, self.event, self.name, self.device = client, event, name, device
        self.net = f"/e/{event.code}/network"
        client.cookies.clear()
        client.cookies.set("ea_device", device)
        page = client.get(f"/e/{event.code}")
        joined = client.post(
            f"/e/{event.code}/join",
            data={"name": name, "organization": "", "csrf": csrf_of(page.text)},
            headers=ORIGIN,
            follow_redirects=False,
        )
        self.token = str(joined.cookies.get(f"ea_{event.code}"))
        attendee = db.read(queries.attendee_by_token, event.id, self.token)
        assert attendee is not None and attendee.id is not None
        self.id = attendee.id

    def _use(self) -> None:
        super()._use()
        self.client.cookies.set("ea_device", self.device)


def test_a_block_follows_the_device_into_a_new_join(
    client: TestClient, db: Database, event: Event
) -> None:
    # A first join hands the browser a device cookie.
    client.cookies.clear()
    page = client.get(f"/e/{event.code}")
    joined = client.post(
        f"/e/{event.code}/join",
        data={"name": "Probe", "csrf": csrf_of(page.text)},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert len(joined.cookies.get("ea_device") or "") >= 20

    anna = Phone(client, db, event, "Anna")
    anna.save_profile(**ANNA)
    pest = DevicePhone(client, db, event, "Pest", device="d" * 24)
    pest.save_profile()
    assert pest.post(f"{pest.net}/request/{anna.id}").status_code == 303
    assert anna.post(f"{anna.net}/block/{pest.id}").status_code == 303

    # The same browser, event cookie cleared, joins under a new name.
    again = DevicePhone(client, db, event, "Totally New Person", device="d" * 24)
    again.save_profile()
    asked = again.post(f"{again.net}/request/{anna.id}")
    assert asked.status_code == 403
    assert "You cannot exchange contacts with this person." in asked.text
    assert again.post(anna.code_link()).status_code == 403
    # Someone else on another device is not affected.
    other = DevicePhone(client, db, event, "Someone Else", device="e" * 24)
    other.save_profile()
    assert other.post(f"{other.net}/request/{anna.id}").status_code == 303


def test_contact_requests_are_rate_limited_per_requester_and_per_target(
    client: TestClient, db: Database, event: Event
) -> None:
    target = Phone(client, db, event, "Popular")
    target.save_profile()
    flood = []
    for i in range(ct.REQUESTS_PER_MINUTE_RECEIVED + 1):
        phone = Phone(client, db, event, f"Throwaway {i}")
        phone.save_profile()
        flood.append(phone)
    for phone in flood[:-1]:
        assert phone.post(f"{phone.net}/request/{target.id}").status_code == 303
    last = flood[-1].post(f"{flood[-1].net}/request/{target.id}")
    assert last.status_code == 400
    assert "This person has received many requests just now" in last.text

    sender = flood[-1]
    others = []
    for i in range(ct.REQUESTS_PER_MINUTE_SENT + 1):
        phone = Phone(client, db, event, f"Guest {i}")
        phone.save_profile()
        others.append(phone)
    for phone in others[:-1]:
        assert sender.post(f"{sender.net}/request/{phone.id}").status_code == 303
    refused = sender.post(f"{sender.net}/request/{others[-1].id}")
    assert refused.status_code == 400
    assert "Too many requests in a short time; wait a minute." in refused.text
    german = sender.client.post(
        f"{sender.net}/request/{others[-1].id}",
        data={"csrf": "n" * 32},
        headers={**ORIGIN, "accept-language": "de"},
    )
    assert "Zu viele Anfragen in kurzer Zeit" in german.text
