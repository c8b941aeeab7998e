"""Admission against a real app process (issue 12): hall codes, invite lists with badges,
and the join limit under a flood and under a hall's pace."""

from __future__ import annotations

import asyncio
import html
import io
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pypdfium2
import pytest
import zxingcpp

from eventapp.admission import queries as admission
from eventapp.admission.hallcode import hall_code
from eventapp.admission.models import Mode
from eventapp.core.db import Database
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, create_event
from tests.conftest import AppProcess
from tests.support.joining import CSRF
from tests.support.seeding import first_stage

pytestmark = pytest.mark.slow


def _db(tmp_path: Path) -> tuple[Database, str]:
    url = f"sqlite:///{tmp_path / 'admission.db'}"
    db = Database(url)
    db.create_all()
    return db, url


async def _attempt(http: httpx.AsyncClient, code: str, name: str, hall: str = "") -> int:
    """One join attempt of a new phone: the join page, then the form."""
    http.cookies.clear()
    page = await http.get(f"/e/{code}")
    match = CSRF.search(page.text)
    csrf = match.group(1) if match else http.cookies.get("ea_csrf")  # invite-only: no form
    assert csrf, page.text[:300]
    response = await http.post(
        f"/e/{code}/join",
        data={"name": name, "csrf": csrf, "hall": hall},
        headers={"origin": str(http.base_url).rstrip("/"), "accept-language": "en"},
    )
    if response.status_code not in (303, 403, 429):
        raise AssertionError(response.text[:300])
    return response.status_code


async def _many(base: str, jobs: list[tuple[str, str, str]], concurrency: int = 16) -> list[int]:
    queue = list(enumerate(jobs))
    results = [0] * len(jobs)

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while queue:
                i, (code, name, hall) = queue.pop()
                results[i] = await _attempt(http, code, name, hall)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def test_hall_code_mode_refuses_a_thousand_joins_without_a_valid_code(
    tmp_path: Path, app_processes: Callable[..., AppProcess]
) -> None:
    db, url = _db(tmp_path)
    event = create_event("Hall", [PitchSpec("P")], db=db)
    db.call(admission.save_admission, event.id, mode=Mode.HALL)
    secret = db.read(admission.read_admission, event.id).secret
    # A limit out of the way: every attempt must be refused by the code check itself.
    app = app_processes({"DATABASE_URL": url, "JOIN_BURST": "100000", "JOIN_RATE": "1000"})
    minute = int(time.time() // 60)
    rng = random.Random(12)
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
    valid = {hall_code(secret, m) for m in (minute - 1, minute, minute + 1)}
    wrong = ["", *("".join(rng.choice(alphabet) for _ in range(5)) for _ in range(800))]
    wrong = [c for c in wrong if c not in valid][:700]
    # Codes from two to five minutes ago: read off the projector earlier, passed on.
    old = [hall_code(secret, minute - k) for k in (2, 3, 4, 5)] * 75
    jobs = [(event.code, f"Guess {i}", c) for i, c in enumerate(wrong + old)]
    assert len(jobs) == 1000
    results = asyncio.run(_many(app.url, jobs))
    assert results == [403] * 1000
    assert db.read(queries.attendee_count, event.id) == 0
    # The projector's code admits (the current one, taken from the projector's endpoint).
    shown = httpx.get(
        f"{app.url}/e/{event.code}/projector/{first_stage(db, event).projector_key}/admission.json"
    ).json()
    assert asyncio.run(_many(app.url, [(event.code, "Ada", shown["hall_code"])], 1)) == [303]
    assert db.read(queries.attendee_count, event.id) == 1
    db.close()


def _decode(pdf: bytes) -> list[str]:
    doc = pypdfium2.PdfDocument(io.BytesIO(pdf))
    links = []
    for page in doc:
        links += [r.text for r in zxingcpp.read_barcodes(page.render(scale=4).to_pil())]
        page.close()
    doc.close()
    return links


def test_invite_mode_badges_decode_to_working_personal_links(
    tmp_path: Path, app_processes: Callable[..., AppProcess]
) -> None:
    db, url = _db(tmp_path)
    event = create_event("Invited", [PitchSpec("P")], db=db)
    db.call(admission.save_admission, event.id, mode=Mode.INVITE)
    app = app_processes({"DATABASE_URL": url})
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    csv_file = "Attendee name;Company;Attendee email\n" + "".join(
        f"Gast {i};Firma {i};gast{i}@example.org\n" for i in range(6)
    )
    with httpx.Client(base_url=app.url, timeout=30) as http:
        token = CSRF.search(http.get(root).text)
        assert token
        preview = http.post(
            root + "/invites/import",
            files={"file": ("pretix.csv", csv_file.encode(), "text/csv")},
            data={"csrf": token.group(1)},
            headers={"origin": app.url},
        ).text
        payload = re.search(r'name="payload" value="([^"]*)"', preview)
        assert payload, preview[-2000:]
        http.post(
            root + "/invites/import",
            data={"csrf": token.group(1), "payload": html.unescape(payload.group(1))},
            headers={"origin": app.url},
        )
        pdf = http.get(root + "/badges.pdf?size=labels").content
    links = sorted(_decode(pdf))
    assert len(links) == 6 and all(
        link.startswith(f"{app.url}/e/{event.code}/i/") for link in links
    )
    for link in links:
        with httpx.Client(timeout=30) as phone:
            page = phone.get(link)
            form = CSRF.search(page.text)
            assert form and 'id="invite-join"' in page.text
            joined = phone.post(link, data={"csrf": form.group(1)}, headers={"origin": app.url})
            assert joined.status_code == 303
            assert phone.get(f"{app.url}/e/{event.code}").status_code == 200
    names = sorted(a.name for a in db.read(queries_attendees, event.id))
    assert names == [f"Gast {i}" for i in range(6)]
    # Uninvited: refused, nothing created.
    assert asyncio.run(_many(app.url, [(event.code, "Crasher", "")], 1)) == [403]
    assert db.read(queries.attendee_count, event.id) == 6
    db.close()


def queries_attendees(session, event_id):
    from eventapp.core import queries as shared

    return shared.attendees_of_event(session, event_id)


# ------------------------------------------------------------------ limits

FLOOD_SECONDS = 60.0
RATE, BURST = 8.5, 100  # the defaults (Settings.join_rate, join_burst)


async def _flood(base: str, code: str, seconds: float) -> tuple[int, int]:
    """One script, one address, as fast as it can: (created, attempts)."""
    deadline = time.monotonic() + seconds
    created = attempts = 0

    async def worker(n: int) -> None:
        nonlocal created, attempts
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            i = 0
            while time.monotonic() < deadline:
                status = await _attempt(http, code, f"Bot {n}-{i}")
                attempts += 1
                created += status == 303
                i += 1

    await asyncio.gather(*(worker(n) for n in range(8)))
    return created, attempts


async def _hall(base: str, code: str, people: int, window: float) -> tuple[list[int], float]:
    """People arriving at random within ``window`` seconds (one address, like venue Wi-Fi)."""
    rng = random.Random(2026)
    arrivals = sorted(rng.uniform(0, window) for _ in range(people))
    results = [0] * people
    # One connection pool, a cookie jar per person; built before the clock starts.
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=200))
    clients = [
        httpx.AsyncClient(base_url=base, timeout=60, transport=transport) for _ in range(people)
    ]
    start = time.monotonic()

    async def person(i: int, at: float, http: httpx.AsyncClient) -> None:
        await asyncio.sleep(max(0.0, start + at - time.monotonic()))
        results[i] = await _attempt(http, code, f"Person {i}")

    try:
        await asyncio.gather(*(person(i, at, clients[i]) for i, at in enumerate(arrivals)))
    finally:
        await transport.aclose()
    return results, time.monotonic() - start


def test_join_limit_stops_a_flood_but_lets_a_hall_in(
    tmp_path: Path, app_processes: Callable[..., AppProcess]
) -> None:
    db, url = _db(tmp_path)
    flooded = create_event("Flooded", [PitchSpec("P")], db=db)
    hall = create_event("Hall", [PitchSpec("P")], db=db)
    app = app_processes({"DATABASE_URL": url, "JOIN_RATE": str(RATE), "JOIN_BURST": str(BURST)})

    async def flood_while_a_hall_joins() -> tuple[tuple[int, int], tuple[list[int], float]]:
        # Two events, so the flood and the hall have buckets of their own; they run at the
        # same time, which also shows the flood does not slow the hall down.
        return await asyncio.gather(
            _flood(app.url, flooded.code, FLOOD_SECONDS), _hall(app.url, hall.code, 1000, 115.0)
        )

    (created, attempts), (results, took) = asyncio.run(flood_while_a_hall_joins())
    # The documented limit: 610 a minute (a burst of 100, then 8.5 a second).
    limit = BURST + FLOOD_SECONDS * RATE
    print(
        f"\nflood: {attempts} attempts in {FLOOD_SECONDS:.0f} s, {created} created, "
        f"limit {limit:.0f}"
    )
    assert db.read(queries.attendee_count, flooded.id) == created
    assert created <= limit + RATE  # one refill step of slack for the requests in flight
    assert attempts > 2 * created  # the script was refused, not just slow
    print(f"hall: 1000 people within {took:.0f} s, {results.count(303)} joined")
    assert results.count(303) == 1000
    assert took < 125  # arrivals end at 115 s; the last answers follow
    assert db.read(queries.attendee_count, hall.id) == 1000
    db.close()
