"""The live runtime's promises, in a real browser: after a moderator reset the phone asks
for a new rating; a quick series of taps ends saved on the newest rating without the
socket being closed; two tabs of one phone show the same rating; a screen whose link was
renewed stops and says so.

Debian's headless Chromium against a real uvicorn process; stored values read from SQL.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LAPTOP, PHONE, PROJECTOR, Contexts, ServedEvent, ServeEvent, Socket

pytestmark = pytest.mark.browser

WAIT = 10_000
PITCHES = [("Smartes Parken", "Stadtwerke"), ("Wärmewende", "")]


def _moderator(stack: ExitStack, served: ServedEvent) -> Socket:
    key = served.links["moderator"].rsplit("/", 1)[1]
    return Socket(
        stack, served.url, served.code, {"type": "hello", "role": "moderator", "key": key}
    )


def _open_first(moderator: Socket) -> int:
    pitch_id = int(moderator.welcome["event"]["pitches"][0]["id"])
    moderator.send({"type": "open_voting", "pitch_id": pitch_id})
    moderator.wait("command_ack")
    return pitch_id


def _join(phone: Page, served: ServedEvent, name: str) -> None:
    phone.goto(f"{served.url}/e/{served.code}")
    phone.locator("#name").fill(name)
    phone.locator("#join-form button[type=submit]").tap()
    expect(phone.locator("#conn")).to_have_class("conn open", timeout=WAIT)


def _pressed(phone: Page) -> list[str]:
    scores: list[str] = phone.locator('#scale button[aria-pressed="true"]').evaluate_all(
        "buttons => buttons.map(b => b.dataset.score)"
    )
    return scores


@pytest.mark.slow
def test_reset_quick_taps_tabs_and_a_replaced_link(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    with ExitStack() as stack:
        moderator = _moderator(stack, served)
        pitch_id = _open_first(moderator)
        phone_context = contexts.new(**PHONE)
        phone = phone_context.new_page()
        _join(phone, served, "Aylin Kaya")

        # A quick series of taps: coalesced, never closed, ends saved on the newest.
        for score in (1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3, 4):
            phone.locator(f'#scale button[data-score="{score}"]').tap()
        expect(phone.locator("#vote-status")).to_have_text("Gespeichert ✓", timeout=WAIT)
        assert _pressed(phone) == ["4"]
        expect(phone.locator("#conn")).to_have_class("conn open")
        [(attendee_id, _, _)] = served.attendees()
        assert served.votes() == [(PITCHES[0][0], attendee_id, 4)]

        # A second tab of the same phone; a change in one shows in the other.
        tab = phone_context.new_page()
        tab.goto(phone.url)
        expect(tab.locator("#conn")).to_have_class("conn open", timeout=WAIT)
        expect(tab.locator('#scale button[data-score="4"]')).to_have_attribute(
            "aria-pressed", "true", timeout=WAIT
        )
        tab.locator('#scale button[data-score="2"]').tap()
        expect(phone.locator('#scale button[data-score="2"]')).to_have_attribute(
            "aria-pressed", "true", timeout=WAIT
        )
        assert _pressed(phone) == ["2"]
        assert served.votes() == [(PITCHES[0][0], attendee_id, 2)]

        # The moderator resets the pitch and opens it again: the phone asks to rate again.
        moderator.send({"type": "reset_votes", "pitch_id": pitch_id, "confirm": True})
        moderator.wait("command_ack")
        moderator.send({"type": "open_voting", "pitch_id": pitch_id})
        moderator.wait("command_ack")
        expect(phone.locator("#vote-status")).to_have_text(
            "Ihre Bewertung wurde zurückgesetzt – bitte bewerten Sie noch einmal.", timeout=WAIT
        )
        assert _pressed(phone) == []
        assert served.votes() == []

    # A projector whose link is renewed stops at once and says why.
    projector = contexts.page(**PROJECTOR)
    projector.goto(served.links["projector"])
    expect(projector.locator("#conn")).to_have_class("conn-dot open", timeout=WAIT)
    organiser = contexts.page(**LAPTOP)
    organiser.goto(served.links["organizer"])
    organiser.click("#rotate-projector")
    expect(projector.locator("#ended")).to_have_text(
        "Dieser Link wurde ersetzt. Bitte fragen Sie die Organisation nach dem neuen Link.",
        timeout=3_000,
    )
