"""Audience questions in a real browser (issue 16): two phones ask and upvote, the
moderator puts a question on the projector and marks it answered, the projector shows
it in large type; typed HTML stays text; stored states and counts are read from SQL."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, Contexts, ServeEvent
from tests.e2e.test_voting_browser import (
    PITCHES,
    WAIT,
    XSS,
    command,
    join,
    open_moderator,
    open_projector,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_phones_ask_and_upvote_moderator_highlights_and_answers_projector_shows(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    moderator = open_moderator(contexts, served)
    projector = open_projector(contexts, served)
    command(moderator, "next", "pending")

    ada = contexts.page(**PHONE)
    join(ada, f"{served.url}/e/{served.code}", "Ada Lovelace", "Stadtwerke")
    bob = contexts.page(**PHONE)
    join(bob, f"{served.url}/e/{served.code}", "Bob")

    # Ada asks with her name; the question is typed HTML and must stay text.
    expect(ada.locator("#qa-form")).to_be_visible(timeout=WAIT)
    ada.locator("#qa-text").fill(f"Wie wird das finanziert? {XSS}")
    ada.locator("#qa-send").tap()
    expect(ada.locator("#qa-status")).to_have_text("Gesendet ✓", timeout=WAIT)
    # Bob asks anonymously.
    bob.locator("#qa-anon").check()
    bob.locator("#qa-text").fill("Wer testet das zuerst?")
    bob.locator("#qa-send").tap()
    expect(bob.locator("#qa-status")).to_have_text("Gesendet ✓", timeout=WAIT)

    # Bob sees Ada's question live and upvotes it; his own cannot be upvoted.
    ada_item = bob.locator(".qa-item", has_text="Wie wird das finanziert?")
    expect(ada_item).to_be_visible(timeout=WAIT)
    expect(ada_item.locator(".qa-meta")).to_have_text("Ada Lovelace")
    ada_item.locator(".qa-up").tap()
    expect(ada_item.locator(".qa-up")).to_have_attribute("aria-pressed", "true", timeout=WAIT)
    expect(ada_item.locator(".qa-up")).to_have_text("▲ 1", timeout=WAIT)
    own = bob.locator(".qa-item", has_text="Wer testet das zuerst?")
    expect(own.locator(".qa-up")).to_be_disabled()
    expect(own.locator(".qa-meta")).to_contain_text("Anonym")

    # The moderator sees both, sorted by votes, and shows Ada's on the projector.
    first = moderator.locator("#qa-mod-list .qa-item").first
    expect(first.locator(".qa-text")).to_have_text(f"Wie wird das finanziert? {XSS}", timeout=WAIT)
    expect(first.locator(".qa-meta")).to_contain_text("▲ 1")
    expect(moderator.locator("#qa-mod-list .qa-item").nth(1).locator(".qa-meta")).to_contain_text(
        "Anonym"
    )
    first.get_by_role("button", name="Auf der Leinwand zeigen").click()
    expect(projector.locator("#qa-projector")).to_be_visible(timeout=WAIT)
    expect(projector.locator("#qa-proj-text")).to_have_text(
        f"Wie wird das finanziert? {XSS}", timeout=WAIT
    )
    expect(projector.locator("#qa-proj-meta")).to_have_text("Ada Lovelace · ▲ 1")
    # Large type, read from 40 m: at least 5 % of the screen's height.
    size = projector.locator("#qa-proj-text").evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert size >= 0.045 * 1080

    first.get_by_role("button", name="Beantwortet").click()
    expect(projector.locator("#qa-proj-meta")).to_have_text(
        "Ada Lovelace · ▲ 1 · beantwortet", timeout=WAIT
    )
    # Ada sees her own question's state.
    expect(ada.locator("#qa-mine .qa-meta")).to_contain_text("beantwortet", timeout=WAIT)

    rows = served.sql(
        "SELECT q.text, q.show_name, q.state, q.highlighted,"
        " (SELECT COUNT(*) FROM questionupvote u WHERE u.question_id = q.id)"
        " FROM question q ORDER BY q.id"
    )
    assert rows == [
        (f"Wie wird das finanziert? {XSS}", 1, "answered", 1, 1),
        ("Wer testet das zuerst?", 0, "shown", 0, 0),
    ]
    assert contexts.watch.dialogs == []  # the <img onerror> never ran
    assert contexts.watch.page_errors == []
    assert contexts.watch.console_errors == []
