"""Two phones in Debian's Chromium: one shows its personal QR code, the other decodes it
from a screenshot of the first one's screen and confirms; both end up with each other's
shared contact fields (and nothing that was not shared)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from eventapp.core.db import Database
from eventapp.voting.rules import PitchSpec, create_event
from tests.conftest import AppProcess
from tests.e2e.pages import fill_profile, qr_texts
from tests.support.seeding import set_topics

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    "locale": "de-DE",
}


@pytest.fixture(scope="module")
def chromium(browser: Browser) -> Browser:
    # The session's Chromium (tests/e2e/conftest.py): a second sync_playwright() in the
    # same thread fails once another browser module has started the shared one.
    return browser


def served_event(tmp_path: Path, start: Callable[..., AppProcess]) -> tuple[AppProcess, str]:
    url = f"sqlite:///{tmp_path / 'net.db'}"
    db = Database(url)
    db.create_all()
    event = create_event("Smart-City-Allianz", [PitchSpec("Smart Parking")], db=db)

    assert event.id is not None
    set_topics(db, event.id, ["Mobilität", "Energie"])
    db.close()
    return start({"DATABASE_URL": url}), event.code


def join_and_profile(
    page: Page, base: str, code: str, name: str, org: str, fields: dict[str, str], shared: list[str]
) -> None:
    page.goto(f"{base}/e/{code}")
    page.fill("#name", name)
    page.click("button[type=submit]")
    page.click("#network-link")
    expect(page.locator("h1")).to_have_text("Networking")
    fill_profile(page, org, "startup" if "GmbH" in org else "public_admin", fields, shared)


def test_one_phone_scans_the_others_code_and_both_get_the_shared_fields(
    chromium: Browser, app_processes: Callable[..., AppProcess], tmp_path: Path
) -> None:
    app, code = served_event(tmp_path, app_processes)
    base = app.url
    contexts = [chromium.new_context(**PHONE) for _ in range(2)]
    problems: list[str] = []
    hosts: set[str] = set()
    for context in contexts:
        context.set_default_timeout(20_000)
        context.on("request", lambda r: hosts.add(r.url.split("/")[2]))
        context.on(
            "page",
            lambda p: p.on(
                "console", lambda m: problems.append(m.text) if m.type == "error" else None
            ),
        )
    anna, ben = (c.new_page() for c in contexts)
    try:
        join_and_profile(
            anna,
            base,
            code,
            "Anna Schmidt",
            "Stadt Musterstadt",
            {"email": "anna@stadt.example", "phone": "+49 30 123456"},
            ["email"],
        )
        join_and_profile(
            ben,
            base,
            code,
            "Ben Weber",
            "Sensorik GmbH",
            {"email": "ben@sensorik.example", "phone": "+49 171 555"},
            ["phone"],
        )

        anna.goto(f"{base}/e/{code}/network/code")
        qr = anna.locator("#my-code")
        expect(qr).to_be_visible()
        expect(anna.locator("#conn")).to_have_text("Verbunden")
        decoded = qr_texts(anna, "my-code")
        assert len(decoded) == 1
        link = decoded[0]
        assert link.startswith(f"{base}/e/{code}/n/")
        assert "anna" not in link.lower() and "123456" not in link

        ben.goto(f"{base}/e/{code}/network/scan")
        ben.fill("#paste", link)
        ben.click("#paste-form button[type=submit]")
        expect(ben.locator("#preview .person-name")).to_have_text("Anna Schmidt")
        assert "anna@stadt.example" not in ben.content()  # not before confirming
        ben.click("#confirm-exchange")
        expect(ben.locator("#done")).to_have_text("Kontakte getauscht.")
        expect(ben.locator(".f-email")).to_have_text("anna@stadt.example")
        assert "+49 30 123456" not in ben.content()  # Anna did not share her phone

        notice = anna.locator("#live-notice")
        expect(notice).to_contain_text("Sie haben Kontakte mit Ben Weber getauscht.")
        notice.locator("a").click()
        expect(anna.locator(".contact .person-name")).to_have_text("Ben Weber")
        expect(anna.locator(".f-phone")).to_have_text("+49 171 555")
        assert "ben@sensorik.example" not in anna.content()  # Ben did not share his e-mail
    finally:
        for context in contexts:
            context.close()
    assert problems == []
    assert hosts == {base.split("/")[2]}
