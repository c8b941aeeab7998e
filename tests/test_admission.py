"""Admission (issue 12): hall code, join limits, cap, one browser one attendee, invites,
badges, and refusals that change nothing. In-process app; real servers are in
test_admission_server.py."""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
import time
import uuid

import pypdfium2
import pytest
import zxingcpp
from starlette.testclient import TestClient

from eventapp.admission import queries as admission
from eventapp.admission.hallcode import HallCheck, check_hall_code, hall_code
from eventapp.admission.limits import MemoryLimiter, RedisLimiter
from eventapp.admission.models import Mode
from eventapp.admission.rules import address_group, device_label
from eventapp.core.db import Database
from eventapp.core.models import Event, Stage
from eventapp.organizing import attendees as electorate
from eventapp.organizing import invites
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
from tests.helpers import ORIGIN, csrf_of, join
from tests.support.servers import RedisServer

DE = {"accept-language": "de"}
EN = {"accept-language": "en"}


def _root(event: Event) -> str:
    return f"/e/{event.code}/organizer/{event.organizer_key}"


def _post(client: TestClient, event: Event, path: str, data: dict[str, object], **kw) -> str:
    page = client.get(_root(event), headers=EN)
    response = client.post(
        _root(event) + path,
        data={"csrf": csrf_of(page.text), **data},
        headers={**ORIGIN, **EN},
        **kw,
    )
    return html.unescape(response.text)


def _csrf(client: TestClient) -> str:
    """The double-submit token this browser holds (any page sets it)."""
    return str(client.cookies.get("ea_csrf") or csrf_of(client.get("/privacy").text))


def _mode(db: Database, event: Event, mode: Mode, **kw) -> None:
    db.call(admission.save_admission, event.id, mode=mode, **kw)


def _try_join(client: TestClient, event: Event, name: str, hall: str = "", headers=None):
    client.cookies.clear()
    page = client.get(f"/e/{event.code}", headers=headers or EN)
    return client.post(
        f"/e/{event.code}/join",
        data={
            "name": name,
            "csrf": client.cookies.get("ea_csrf") or csrf_of(page.text),
            "hall": hall,
        },
        headers={**ORIGIN, **(headers or EN)},
        follow_redirects=False,
    )


# ------------------------------------------------------------------ hall code


def test_hall_code_accepts_this_and_the_previous_minute_only() -> None:
    secret = "s" * 32
    now = 1_800_000_000.0
    minute = int(now // 60)
    assert check_hall_code(secret, hall_code(secret, minute), now) is HallCheck.OK
    assert check_hall_code(secret, hall_code(secret, minute - 1).lower(), now) is HallCheck.OK
    assert check_hall_code(secret, hall_code(secret, minute - 2), now) is HallCheck.EXPIRED
    assert check_hall_code(secret, hall_code("other" * 8, minute), now) is HallCheck.WRONG
    assert check_hall_code(secret, "", now) is HallCheck.WRONG
    # Every process derives the same code; codes differ between minutes and events.
    assert hall_code(secret, minute) == hall_code(secret, minute)
    assert len({hall_code(secret, m) for m in range(minute, minute + 50)}) == 50


def test_address_groups_keep_only_the_network() -> None:
    assert address_group("203.0.113.77") == "203.0.113.0/24"
    assert address_group("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_group("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert address_group("testclient") == ""
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"
    assert device_label(iphone) == "iPhone Safari"
    assert device_label("python-httpx/0.28.1") == "python-httpx"


# ------------------------------------------------------------------ limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limiter_factory(request: pytest.FixtureRequest):
    def make(clock: FakeClock, rate: float = 8.5, burst: int = 100):
        if request.param == "memory":
            return MemoryLimiter(rate=rate, burst=burst, clock=clock)
        from redis.asyncio import Redis

        server: RedisServer = request.getfixturevalue("redis_server")
        client = Redis.from_url(server.url, decode_responses=True)
        ns = f"lim-{uuid.uuid4().hex[:8]}"
        return RedisLimiter(client, namespace=ns, rate=rate, burst=burst, clock=clock)

    return make


def test_limiter_lets_a_paced_hall_in_and_caps_a_flood(limiter_factory) -> None:
    async def scenario() -> tuple[int, int, int, float]:
        clock = FakeClock()
        limiter = limiter_factory(clock)
        # A hall: 1,000 people behind one address, arriving evenly within 120 s.
        hall = 0
        for i in range(1000):
            clock.now = 1_800_000_000.0 + i * 0.119
            hall += (await limiter.take("e1:203.0.113.0/24")) == 0
        # A script from another address, as fast as it can (every 5 ms) for 60 s.
        start = clock.now = 1_800_001_000.0
        flood = 0
        while clock.now < start + 60:
            flood += (await limiter.take("e1:198.51.100.0/24")) == 0
            clock.now += 0.005
        # Buckets are per key: another event's hall is not affected.
        other = sum([(await limiter.take("e2:198.51.100.0/24")) == 0 for _ in range(100)])
        waits = [await limiter.take("e1:198.51.100.0/24") for _ in range(2)]
        wait = max(waits)
        await limiter.close()
        return hall, flood, other, wait

    hall, flood, other, wait = asyncio.run(scenario())
    assert hall == 1000
    assert 600 <= flood <= 610  # burst 100 + 60 s × 8.5/s
    assert other == 100
    assert 0 < wait <= 1 / 8.5 + 1e-6


# ------------------------------------------------------------------ joining


def test_hall_mode_needs_the_current_code_and_refusals_create_nothing(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    _mode(db, event, Mode.HALL)
    secret = db.read(admission.read_admission, event.id).secret
    minute = int(time.time() // 60)
    no_code = _try_join(client, event, "Mallory")
    assert no_code.status_code == 403
    assert "This hall code is not right" in html.unescape(no_code.text)
    expired = _try_join(client, event, "Mallory", hall_code(secret, minute - 3), headers=DE)
    assert "Dieser Saalcode ist abgelaufen" in html.unescape(expired.text)
    assert db.read(queries.attendee_count, event.id) == 0
    # The projector's QR link carries the code into the form.
    page = client.get(f"/e/{event.code}?hall={hall_code(secret, minute)}", headers=EN)
    assert f'value="{hall_code(secret, minute)}"' in page.text
    ok = _try_join(client, event, "Ada", hall_code(secret, minute))
    assert ok.status_code == 303
    assert db.read(queries.attendee_count, event.id) == 1
    # The projector (and only it) can read the code.
    shown = client.get(f"/e/{event.code}/projector/{stage.projector_key}/admission.json").json()
    assert shown["mode"] == "hall"
    assert shown["hall_code"] in {hall_code(secret, minute), hall_code(secret, minute + 1)}
    assert shown["join_url"].endswith(f"/e/{event.code}?hall={shown['hall_code']}")
    assert client.get(f"/e/{event.code}/projector/wrong/admission.json").status_code == 404


def test_cap_refuses_joins_past_it_with_a_clear_message(
    client: TestClient, db: Database, event: Event
) -> None:
    _mode(db, event, Mode.OPEN, cap=2)
    join(client, event.code, "One")
    join(client, event.code, "Two")
    full = _try_join(client, event, "Three")
    assert full.status_code == 403
    assert "at most 2 attendees" in html.unescape(full.text)
    assert db.read(queries.attendee_count, event.id) == 2
    console = _post(client, event, "/admission", {"mode": "open", "cap": "2", "expected": "150"})
    assert 'id="cap">2<' in client.get(_root(event), headers=EN).text or console


def test_the_same_browser_joining_again_stays_one_attendee(
    client: TestClient, db: Database, event: Event
) -> None:
    token = join(client, event.code, "Ada")
    page = client.get(f"/e/{event.code}")
    assert "vote" in page.text
    again = client.post(
        f"/e/{event.code}/join",
        data={"name": "Ada again", "csrf": _csrf(client)},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert client.cookies.get(f"ea_{event.code}") == token
    assert db.read(queries.attendee_count, event.id) == 1


def test_join_rate_limit_refuses_in_the_phones_language(db: Database, settings) -> None:
    from dataclasses import replace

    from eventapp.app import create_app

    event = create_event("Tiny", [PitchSpec("P")], db=db)
    app = create_app(replace(settings, join_burst=3, join_rate=0.01), database=db)
    with TestClient(app, base_url="http://testserver") as client:
        for i in range(3):
            join(client, event.code, f"P{i}")
        refused = _try_join(client, event, "P4", headers=DE)
        assert refused.status_code == 429
        assert "Bitte versuchen Sie es in" in html.unescape(refused.text)
    assert db.read(queries.attendee_count, event.id) == 3


# ------------------------------------------------------------------ invites and badges

PRETIX_CSV = (
    "Order code,Position ID,Status,Email,Product,Attendee name: Given name,"
    "Attendee name: Family name,Attendee email,Company\n"
    "ABC12,1,paid,buyer@example.org,Ticket,Ada,Lovelace,ada@example.org,Analytical Engines\n"
    "ABC12,2,paid,buyer@example.org,Ticket,Grace,Hopper,,Navy\n"
    "XYZ99,1,paid,kurt@example.de,Ticket,Kurt,Gödel,kurt@example.de,Uni Wien\n"
).encode()


def _upload_invites(client: TestClient, event: Event, name: str, data: bytes) -> str:
    page = client.get(_root(event), headers=EN)
    response = client.post(
        _root(event) + "/invites/import",
        files={"file": (name, data, "text/csv")},
        data={"csrf": csrf_of(page.text)},
        headers={**ORIGIN, **EN},
    )
    return response.text


def _confirm_invites(client: TestClient, event: Event, preview: str) -> None:
    payload = re.search(r'name="payload" value="([^"]*)"', preview)
    assert payload, preview
    client.post(
        _root(event) + "/invites/import",
        data={"csrf": csrf_of(preview), "payload": html.unescape(payload.group(1))},
        headers={**ORIGIN, **EN},
    )


def test_pretix_export_is_previewed_then_imported(
    client: TestClient, db: Database, event: Event
) -> None:
    preview = _upload_invites(client, event, "pretix.csv", PRETIX_CSV)
    assert 'id="invite-preview"' in preview and "invite-errors" not in preview
    _confirm_invites(client, event, preview)
    stored = db.read(admission.invites_of_event, event.id)
    assert [(i.name, i.organization, i.email) for i in stored] == [
        ("Ada Lovelace", "Analytical Engines", "ada@example.org"),
        ("Grace Hopper", "Navy", ""),  # the buyer's address is not hers
        ("Kurt Gödel", "Uni Wien", "kurt@example.de"),
    ]
    # A second copy repeats what is stored: refused, nothing added.
    again = html.unescape(_upload_invites(client, event, "pretix.csv", PRETIX_CSV))
    assert "is already invited" in again
    assert len(db.read(admission.invites_of_event, event.id)) == 3


def test_bad_invite_rows_are_named_and_nothing_is_stored(db: Database, event: Event) -> None:
    table = [
        ["Name", "Organisation", "E-Mail"],
        ["Ada", "AE", "ada@example.org"],
        ["Ada L.", "AE", "ADA@example.org"],
        ["Bob", "B", "not-an-address"],
        ["=HYPERLINK(1)", "", ""],
        ["", "", ""],
        ["Eve", "E", ""],
        ["Eve", "e", ""],
    ]
    checked = invites.check_table(table)
    assert not checked.ok
    messages = {e.row: e.message for e in checked.errors}
    assert set(messages) == {3, 4, 5, 8}
    assert "repeats row 2" in messages[3]
    assert "is not an e-mail address" in messages[4]
    assert "formula" in messages[5]
    assert "repeats row 7" in messages[8]
    with pytest.raises(Exception, match="Nothing was imported"):
        asyncio.run(invites.store(event.id, checked, db=db))
    assert db.read(admission.invites_of_event, event.id) == []


def _decode_pdf(data: bytes, scale: float = 4) -> list[str]:
    pdf = pypdfium2.PdfDocument(io.BytesIO(data))
    found: list[str] = []
    for page in pdf:
        image = page.render(scale=scale).to_pil()
        found += [r.text for r in zxingcpp.read_barcodes(image)]
        page.close()
    pdf.close()
    return found


def test_invite_link_binds_one_device_and_badges_decode_to_it(
    client: TestClient, db: Database, event: Event
) -> None:
    _mode(db, event, Mode.INVITE)
    db.call(
        admission.add_invites,
        event.id,
        [{"name": f"Gast {i}", "organization": "Stadt", "email": ""} for i in range(12)],
    )
    links = {i["link"] for i in client.get(_root(event) + "/invites.json").json()}
    for size, pages in (("a6", 12), ("labels", 2)):
        pdf = client.get(_root(event) + f"/badges.pdf?size={size}")
        assert pdf.headers["content-type"] == "application/pdf"
        assert len(pypdfium2.PdfDocument(io.BytesIO(pdf.content))) == pages
        assert set(_decode_pdf(pdf.content)) == links
    link = sorted(links)[0].replace("http://testserver", "")
    # Uninvited: the form is refused, nothing created.
    refused = _try_join(client, event, "Crasher")
    assert refused.status_code == 403 and "invited guests only" in html.unescape(refused.text)
    # First device: joins as the invitee.
    client.cookies.clear()
    page = client.get(link, headers=EN)
    assert "Join as this person" in page.text
    joined = client.post(
        link, data={"csrf": csrf_of(page.text)}, headers=ORIGIN, follow_redirects=False
    )
    assert joined.status_code == 303
    first_token = joined.cookies.get(f"ea_{event.code}")
    assert first_token and db.read(queries.attendee_count, event.id) == 1
    # Second device: refused until the organiser approves.
    client.cookies.clear()
    second = client.get(link, headers=DE)
    assert second.status_code == 409 and "bereits auf einem anderen Gerät" in html.unescape(
        second.text
    )
    post = client.post(link, data={"csrf": _csrf(client)}, headers=ORIGIN, follow_redirects=False)
    assert post.status_code == 403
    assert db.read(queries.attendee_count, event.id) == 1
    invite = next(i for i in db.read(admission.invites_of_event, event.id) if i.attendee_id)
    _post(client, event, f"/invites/{invite.id}/approve", {})
    client.cookies.clear()
    page = client.get(link, headers=EN)
    moved = client.post(
        link, data={"csrf": csrf_of(page.text)}, headers=ORIGIN, follow_redirects=False
    )
    assert moved.status_code == 303
    assert db.read(queries.attendee_count, event.id) == 1  # the same attendee, new device
    assert db.read(queries.attendee_by_token, event.id, first_token) is None
    # A re-issued code: the old link stops working.
    _post(client, event, f"/invites/{invite.id}/reissue", {})
    client.cookies.clear()
    assert client.get(link, headers=EN).status_code == 404


# ------------------------------------------------------------------ removal refusals


def test_removing_twice_or_from_another_event_is_refused(
    client: TestClient, db: Database, event: Event
) -> None:
    join(client, event.code, "Fake")
    other = create_event("Other", [PitchSpec("X")], db=db)
    join(client, other.code, "Elsewhere")
    ids = {r.name: r.id for r in db.read(electorate.attendee_rows, event.id)}
    foreign = db.read(electorate.attendee_rows, other.id)[0].id
    text = _post(client, event, "/attendees/remove", {"attendee": str(foreign), "reason": "x"})
    assert f"Attendee #{foreign} is not in this event." in text
    assert db.read(queries.attendee_count, other.id) == 1
    _post(client, event, "/attendees/remove", {"attendee": str(ids["Fake"]), "reason": "fake"})
    assert db.read(queries.attendee_count, event.id) == 0
    text = _post(client, event, "/attendees/remove", {"attendee": str(ids["Fake"]), "reason": "x"})
    assert f"Attendee #{ids['Fake']} was already removed." in text
    audit = db.read(admission.audit_of_event, event.id)
    assert [(a.action, a.attendees, a.reason) for a in audit] == [("remove", 1, "fake")]
    # Undo brings the attendee back; after closing, undo is refused.
    _post(client, event, f"/audit/{audit[0].id}/undo", {})
    assert db.read(queries.attendee_count, event.id) == 1
    _post(client, event, "/attendees/remove", {"attendee": str(ids["Fake"]), "reason": "again"})
    _post(client, event, "/close", {"confirm": "yes"})
    last = db.read(admission.audit_of_event, event.id)[-1]
    text = _post(client, event, f"/audit/{last.id}/undo", {})
    assert "The event is closed" in text
    assert db.read(queries.attendee_count, event.id) == 0
    assert json.loads(last.attendee_ids) == [ids["Fake"]]


def test_command_line_sets_admission_imports_invites_and_prints_badges(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "PUBLIC_URL": "https://vote.example.org",
    }
    env.pop("REDIS_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "eventapp", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    code = json.loads(cli("create", "Projektbörse", "--json").stdout)["code"]
    result = cli("admission", code, "--mode", "invite", "--cap", "150", "--expected", "140")
    assert result.returncode == 0, result.stderr
    assert "admission invite, cap 150, expected 140" in result.stdout
    assert cli("admission", code, "--cap", "lots").returncode == 2
    listing = tmp_path / "pretix.csv"
    listing.write_bytes(PRETIX_CSV)
    assert "imported 3 invites" in cli("import-invites", code, str(listing)).stdout
    again = cli("import-invites", code, str(listing))
    assert again.returncode == 2 and "is already invited" in again.stderr
    out = tmp_path / "badges.pdf"
    assert cli("badges", code, "--size", "labels", "-o", str(out)).returncode == 0
    links = _decode_pdf(out.read_bytes())
    assert len(links) == 3
    assert all(link.startswith(f"https://vote.example.org/e/{code}/i/") for link in links)
    assert cli("attendees", code).stdout.startswith("id\tname")


def test_merge_keeps_the_newest_vote_per_pitch_and_screens_follow(
    client: TestClient, db: Database, event: Event, stage: Stage
) -> None:
    from tests.helpers import command, hello_attendee, hello_screen, of_type, receive_until

    phone_a = join(client, event.code, "Ada (phone)")
    phone_b = join(client, event.code, "Ada (laptop)")
    a = db.read(queries.attendee_by_token, event.id, phone_a)
    b = db.read(queries.attendee_by_token, event.id, phone_b)
    with (
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as moderator,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws_a,
        client.websocket_connect(f"/e/{event.code}/ws", headers=ORIGIN) as ws_b,
    ):
        hello_screen(moderator, "moderator", stage.moderator_key)
        hello_attendee(ws_a, phone_a)
        hello_attendee(ws_b, phone_b)
        state = command(moderator, {"type": "next"})
        first = state["event"]["current_pitch_id"]
        command(moderator, {"type": "open_voting"})
        ws_a.send_json({"type": "vote", "pitch_id": first, "score": 2, "seq": 10})
        receive_until(ws_a, of_type("vote_ack"))
        time.sleep(1.1)  # the laptop's rating is the newer one
        ws_b.send_json({"type": "vote", "pitch_id": first, "score": 4, "seq": 5})
        receive_until(ws_b, of_type("vote_ack"))
        state = command(moderator, {"type": "next"})
        second = state["event"]["current_pitch_id"]
        command(moderator, {"type": "open_voting"})
        ws_b.send_json({"type": "vote", "pitch_id": second, "score": 5, "seq": 6})
        receive_until(ws_b, of_type("vote_ack"))
        _post(client, event, "/attendees/merge", {"keep": a.id, "other": b.id, "reason": "same"})

        def merged(m: dict) -> bool:
            votes = (m.get("votes") or {}) if m.get("type") == "screen" else {}
            return votes.get(str(first)) == 1 and votes.get(str(second)) == 1

        receive_until(moderator, merged, limit=400)
    votes = db.read(queries.votes_of_attendee, a.id)
    assert {p: s for p, (s, _q) in votes.items()} == {first: 4, second: 5}
    assert votes[first][1] == 10  # the kept phone's next rating still wins
    assert db.read(queries.votes_of_attendee, b.id) == {}
    assert db.read(queries.attendee_by_token, event.id, phone_b) is None
    assert db.read(queries.counts_by_pitch, event.id) == {first: {4: 1}, second: {5: 1}}
    audit = db.read(admission.audit_of_event, event.id)
    assert [(e.action, json.loads(e.attendee_ids)) for e in audit] == [("merge", [a.id, b.id])]


def test_scanning_someone_elses_badge_offers_the_contact_exchange(
    client: TestClient, db: Database, event: Event
) -> None:
    from tests.network_helpers import CSRF, Phone

    ada = Phone(client, db, event, "Ada", "AE")
    assert ada.save_profile().status_code == 303
    db.call(admission.add_invites, event.id, [{"name": "Grace", "organization": "Navy"}])
    badge = f"/e/{event.code}/i/{db.read(admission.invites_of_event, event.id)[0].token}"
    # Not joined yet: nothing to exchange.
    assert ada.get(badge).status_code == 404
    client.cookies.clear()
    client.cookies.set("ea_csrf", CSRF)
    joined = client.post(badge, data={"csrf": CSRF}, headers=ORIGIN, follow_redirects=False)
    grace = Phone.__new__(Phone)
    grace.client, grace.event, grace.name = client, event, "Grace"
    grace.token = joined.cookies.get(f"ea_{event.code}")
    grace.net = f"/e/{event.code}/network"
    # Grace has networking off: her badge offers nothing (her consent is missing).
    refused = ada.get(badge)
    assert refused.status_code == 403
    assert "does not exchange contacts" in html.unescape(refused.text)
    assert grace.save_profile().status_code == 303
    ada._use()
    offer = client.get(badge, follow_redirects=False)
    assert offer.status_code == 303 and f"/e/{event.code}/n/" in offer.headers["location"]
    preview = ada.get(offer.headers["location"])
    assert "Grace" in preview.text
    confirmed = ada.post(offer.headers["location"])
    assert confirmed.status_code == 303 and "/contacts/" in confirmed.headers["location"]


def test_removal_by_flag_handles_thousands_and_says_so_in_the_preview(
    client: TestClient, db: Database, event: Event
) -> None:
    from eventapp.core.models import Attendee

    for i in range(1500):
        db.call(
            queries.add_attendee, Attendee(event_id=event.id, token=f"bot{i:05d}" * 4, name=f"B{i}")
        )
    honest = join(client, event.code, "Honest")
    client.get(f"/e/{event.code}")  # loads the vote page: not flagged
    preview = _post(client, event, "/attendees/preview", {"flag": "never_loaded"})
    assert "Preview: removing 1500 attendees" in preview
    ids = re.search(r'name="ids" value="([\d,]*)"', preview)
    assert ids
    _post(client, event, "/attendees/remove", {"ids": ids.group(1), "reason": "bots"})
    assert db.read(queries.attendee_count, event.id) == 1
    assert db.read(queries.attendee_by_token, event.id, honest) is not None
