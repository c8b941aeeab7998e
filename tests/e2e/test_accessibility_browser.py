"""Accessibility in a real browser (issue 13, item 11): axe-core finds no WCAG 2.1 A/AA
violation on any page in German or English, and the keyboard alone runs voting and the
moderator's open/close/reveal/next."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.a11y import check
from tests.e2e.conftest import LAPTOP, PHONE, PROJECTOR, Contexts, ServeEvent, seed_votes

pytestmark = pytest.mark.browser

WAIT = 10_000
PITCHES = [
    ("Smartes Parken in der Innenstadt", "Stadtwerke"),
    ("Kommunale Wärmeplanung im Quartier", "Klimaschutzagentur"),
    ("Leerstandsbörse für Wohnraum", ""),
]
LOCALES = {"de": "de-DE", "en": "en-US"}


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_page_passes_axe_in_both_languages(
    serve_event: ServeEvent, contexts: Contexts, lang: str
) -> None:
    served = serve_event(PITCHES)
    seed_votes(served, {PITCHES[0][0]: [4, 5, 3]}, reveal=True)
    locale = LOCALES[lang]
    problems: dict[str, list[str]] = {}

    # Screens show the event's language unless their link asks for another (README,
    # "Languages"); the browser's locale alone does not switch them.
    moderator = contexts.page(locale=locale, **LAPTOP)
    moderator.goto(f"{served.links['moderator']}?lang={lang}")
    expect(moderator.locator("#conn")).to_have_class("conn open", timeout=WAIT)
    expect(moderator.locator("html")).to_have_attribute("lang", lang)
    check(moderator, "moderator", problems)
    moderator.locator("#agenda .reset button.icon").first.click()
    expect(moderator.locator(".reset-confirm").first).to_be_visible()
    check(moderator, "moderator reset confirmation", problems)
    moderator.locator(".cancel-reset").first.click()

    projector = contexts.page(locale=locale, **PROJECTOR)
    projector.goto(f"{served.links['projector']}?lang={lang}")
    expect(projector.locator("#conn")).to_have_class("conn-dot open", timeout=WAIT)
    expect(projector.locator("html")).to_have_attribute("lang", lang)
    check(projector, "projector", problems)

    phone = contexts.page(locale=locale, **PHONE)
    phone.goto(f"{served.url}/e/{served.code}")
    check(phone, "join", problems)
    phone.locator("#name").fill("Erika Mustermann")
    phone.locator("#join-form button[type=submit]").tap()
    expect(phone.locator(".hello")).to_have_text("Erika Mustermann", timeout=WAIT)
    moderator.locator(f'#agenda button[data-goto="{served_pitch(moderator, 1)}"]').click()
    expect(phone.locator("#voting-note")).not_to_be_empty(timeout=WAIT)
    check(phone, "vote (pending)", problems)
    moderator.locator('[data-command="open_voting"]').click()
    expect(phone.locator("#rating")).to_be_visible(timeout=WAIT)
    check(phone, "vote (open)", problems)
    phone.locator('#scale button[data-score="4"]').tap()
    expect(phone.locator("#vote-status")).to_have_class("vote-status saved", timeout=WAIT)
    check(phone, "vote (saved)", problems)
    moderator.locator('[data-command="close_voting"]').click()
    expect(phone.locator("#rating")).to_be_hidden(timeout=WAIT)
    expect(phone.locator("#vote-outcome")).not_to_be_empty(timeout=WAIT)
    check(phone, "vote (closed)", problems)

    base = f"{served.url}/e/{served.code}"
    phone.goto(base + "/network/people")
    check(phone, "networking before a profile", problems)
    phone.goto(base + "/network/profile")
    phone.locator("#organization").fill("Stadtwerke")
    phone.check("#opt_in")
    phone.locator("#profile-form button[type=submit]").click()
    expect(phone.locator("#done")).to_be_visible()
    check(phone, "profile saved", problems)
    for path in (
        "/network",
        "/network/profile",
        "/network/people",
        "/network/pitches",
        "/network/code",
        "/network/scan",
        "/network/contacts",
        "/privacy",
    ):
        phone.goto(base + path)
        check(phone, path, problems)
    phone.goto(f"{served.url}/accessibility")
    check(phone, "accessibility statement", problems)
    phone.goto(f"{served.url}/")
    check(phone, "start page", problems)

    organizer = contexts.page(locale=locale, **LAPTOP)
    organizer.goto(served.links["organizer"])
    check(organizer, "organiser console", problems)
    organizer.goto(served.links["organizer"] + "/report")
    check(organizer, "report", problems)

    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


def served_pitch(moderator: Page, index: int) -> str:
    ids: list[str] = moderator.locator("#agenda button[data-goto]").evaluate_all(
        "buttons => buttons.map(b => b.dataset.goto)"
    )
    return ids[index]


@pytest.mark.slow
def test_keyboard_alone_runs_the_moderator_and_voting(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    moderator = contexts.page(**LAPTOP)
    moderator.goto(served.links["moderator"])
    expect(moderator.locator("#conn")).to_have_class("conn open", timeout=WAIT)
    phone = contexts.page(**PHONE)
    phone.goto(f"{served.url}/e/{served.code}")

    # Join with the keyboard: type the name, Enter submits.
    phone.locator("#name").focus()
    phone.keyboard.type("Kai Tastatur")
    phone.keyboard.press("Enter")
    expect(phone.locator(".hello")).to_have_text("Kai Tastatur", timeout=WAIT)

    def press_command(name: str, state: str) -> None:
        tab_to(moderator, f'[data-command="{name}"]')
        moderator.keyboard.press("Enter")
        expect(moderator.locator("#pitch-state")).to_have_class(f"badge {state}", timeout=WAIT)

    press_command("open_voting", "open")
    # Rating with Tab and Enter; moving focus alone never votes.
    tab_to(phone, '#scale button[data-score="4"]')
    assert pressed(phone) == []
    phone.keyboard.press("Enter")
    expect(phone.locator("#vote-status")).to_have_text("Gespeichert ✓", timeout=WAIT)
    assert pressed(phone) == ["4"]
    phone.keyboard.press("Tab")
    phone.keyboard.press("Space")
    expect(phone.locator("#vote-status")).to_have_text("Gespeichert ✓", timeout=WAIT)
    expect(phone.locator('#scale button[data-score="5"]')).to_have_attribute(
        "aria-pressed", "true", timeout=WAIT
    )
    press_command("close_voting", "closed")
    press_command("reveal", "revealed")
    # Screen readers hear the result once it is revealed (a polite live region).
    expect(moderator.locator("#announce")).to_have_text(
        f"{PITCHES[0][0]}: gezeigt. Mittel 5,00 · 1 Stimme", timeout=WAIT
    )
    expect(moderator.locator("#announce")).to_have_attribute("aria-live", "polite")
    expect(phone.locator("#vote-status")).to_have_attribute("role", "status")
    # "Next" with the keyboard: reveal closed voting, so it moves on at once.
    press_command("next", "pending")
    expect(moderator.locator("#pitch-title")).to_have_text(PITCHES[1][0])
    press_command("open_voting", "open")
    # "Next" while open asks; Enter on the focused "Cancel" keeps voting open and
    # gives focus back to "Next".
    tab_to(moderator, '[data-command="next"]')
    moderator.keyboard.press("Enter")
    expect(moderator.locator("#next-confirm")).to_be_visible()
    assert focused_id(moderator) == "next-cancel"
    moderator.keyboard.press("Enter")
    expect(moderator.locator("#next-confirm")).to_be_hidden()
    expect(moderator.locator("#pitch-state")).to_have_class("badge open")
    assert moderator.evaluate("document.activeElement.dataset.command") == "next"
    assert served.votes() == [(PITCHES[0][0], served.attendees()[0][0], 5)]


def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element is focused, as a keyboard user would."""
    for _ in range(limit):
        if page.evaluate(f"document.activeElement && document.activeElement.matches({selector!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got focus with Tab")


def focused_id(page: Page) -> str:
    value: str = page.evaluate("document.activeElement ? document.activeElement.id : ''")
    return value


def pressed(page: Page) -> list[str]:
    scores: list[str] = page.locator('#scale button[aria-pressed="true"]').evaluate_all(
        "buttons => buttons.map(b => b.dataset.score)"
    )
    return scores
