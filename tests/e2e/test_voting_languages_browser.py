"""Both languages in Debian's Chromium (issue 9): the moderator's first actions on a fresh
event, a refused vote on a phone, the organiser's settings errors and the report -- no
English words on German pages and no German words on English ones; German numbers in
the German report.

"English words" and "German words" come from the catalogue itself: words that occur in
the English source strings but in no German translation, and the other way round. Text
people typed (event name, pitch titles, names) is removed before the check.
"""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
from playwright.sync_api import Page, expect

from eventapp.i18n_tools import read_catalogue
from eventapp.voting.rules import DEFAULT_LABELS
from tests.e2e.conftest import LAPTOP, PHONE, Contexts, ServedEvent, ServeEvent, join_over_http

pytestmark = pytest.mark.browser

WAIT = 10_000
NAME = "Smart-City-Allianz: Projektbörse"
PITCHES = [("Smartes Parken", "Stadtwerke"), ("Wärmeplanung", ""), ("Leerstandsbörse", "")]
WORD = re.compile(r"[A-Za-zÄÖÜäöüß]{4,}")


def _words(text: str) -> set[str]:
    # Placeholders and markup are not words anybody reads.
    text = re.sub(r"%\(\w+\)\w|<[^>]+>", " ", text)
    return {w.lower() for w in WORD.findall(text)}


@cache
def foreign_words() -> dict[str, set[str]]:
    """{"de": words that betray English, "en": words that betray German}."""
    english: set[str] = set()
    german: set[str] = set()
    for message in read_catalogue("de"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        for text in ids:
            english |= _words(str(text))
        for text in strings:
            german |= _words(str(text))
    return {"de": english - german, "en": german - english}


def assert_only(lang: str, page: Page, typed: list[str]) -> None:
    # Links printed on the page are addresses, not words.
    text = re.sub(r"https?://\S+", " ", page.locator("body").inner_text())
    for value in typed:
        text = text.replace(value, " ")
    found = _words(text) & foreign_words()[lang]
    assert not found, f"{page.url}: {sorted(found)} on a {lang} page"


CASES = [
    pytest.param("de", "de-DE", id="german"),
    pytest.param("en", "en-US", id="english"),
]
TEXT = {
    "de": {
        "no_pitch": "Diesen Pitch gibt es in dieser Veranstaltung nicht.",
        "last": "Das ist der letzte Pitch.",
        "scale": "Die Bewertung muss zwischen 1 und 5 liegen.",
        "languages": "Sprachen: muss eine oder mehrere von de, en sein, durch Komma getrennt",
        "state": "offen",
        "votes": "1 Stimme",
    },
    "en": {
        "no_pitch": "No such pitch in this event.",
        "last": "This is the last pitch.",
        "scale": "Score must be between 1 and 5.",
        "languages": "languages: must be one or more of de, en, separated by commas",
        "state": "open",
        "votes": "1 vote",
    },
}


def _moderator(contexts: Contexts, served: ServedEvent, lang: str, locale: str) -> Page:
    page = contexts.page(locale=locale, **LAPTOP)
    # The screen keeps the event's language (German) unless its link says otherwise.
    page.goto(served.links["moderator"] + ("?lang=en" if lang == "en" else ""))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("#conn")).to_have_class("conn open", timeout=WAIT)
    return page


@pytest.mark.parametrize(("lang", "locale"), CASES)
def test_a_fresh_event_walked_through_in_one_language(
    contexts: Contexts, serve_event: ServeEvent, lang: str, locale: str
) -> None:
    served = serve_event(PITCHES, name=NAME)
    # What the organiser typed (or chose: the German event's default scale labels).
    typed = [NAME, served.code, *(t for t, _ in PITCHES), *(p for _, p in PITCHES if p), "Gast"]
    typed += sorted(DEFAULT_LABELS["de"], key=len, reverse=True)
    text = TEXT[lang]

    # A refused command is explained in the screen's language (a stale agenda asking for
    # a pitch that is gone). Sent on the page's socket: the agenda offers no such pitch.
    mod = _moderator(contexts, served, lang, locale)
    mod.evaluate("EventApp.live.send({type: 'goto', pitch_id: 999999})")
    expect(mod.locator("#command-error")).to_have_text(text["no_pitch"], timeout=WAIT)
    assert_only(lang, mod, typed)
    # The first click on a fresh event opens the first pitch (nothing is on stage yet).
    mod.locator('[data-command="open_voting"]').click()
    expect(mod.locator("#pitch-title")).to_have_text(PITCHES[0][0], timeout=WAIT)
    expect(mod.locator("#pitch-state")).to_have_text(text["state"], timeout=WAIT)
    expect(mod.locator("#command-error")).to_be_empty()

    # A phone in that language: a vote the server refuses (off the scale, as a stale
    # phone might resend it) is explained in the phone's language.
    phone = contexts.page(locale=locale, **PHONE)
    token = join_over_http(served.url, served.code, "Gast")
    phone.context.add_cookies([{"name": f"ea_{served.code}", "value": token, "url": served.url}])
    phone.goto(served.links["attendee"])
    expect(phone.locator("#rating")).to_be_visible(timeout=WAIT)
    pitch_id = phone.locator("#scale").get_attribute("data-pitch")
    pending = json.dumps({pitch_id: {"score": 9, "seq": 1}})
    phone.evaluate(f"localStorage.setItem('ea:pending:{served.code}', {json.dumps(pending)})")
    phone.reload()
    expect(phone.locator("#vote-status")).to_have_text(text["scale"], timeout=WAIT)
    assert_only(lang, phone, typed)
    phone.locator('#scale button[data-score="4"]').click()
    expect(phone.locator("#vote-status")).to_have_class("vote-status saved", timeout=WAIT)

    # The moderator sees the vote counted with the right plural, then reaches the end.
    expect(mod.locator("#agenda li").first).to_contain_text(text["votes"], timeout=WAIT)
    mod.locator('[data-command="close_voting"]').click()
    mod.locator('[data-command="reveal"]').click()
    expect(mod.locator("#mean")).to_contain_text("4,00" if lang == "de" else "4.00")
    for title, _ in PITCHES[1:]:
        mod.locator('[data-command="next"]').click()
        expect(mod.locator("#pitch-title")).to_have_text(title, timeout=WAIT)
    mod.locator('[data-command="next"]').click()
    expect(mod.locator("#command-error")).to_have_text(text["last"], timeout=WAIT)
    assert_only(lang, mod, typed)

    # The organiser's settings error, in the organiser's browser language.
    org = contexts.page(locale=locale, **LAPTOP)
    org.goto(served.links["organizer"])
    expect(org.locator("html")).to_have_attribute("lang", lang)
    assert_only(lang, org, typed)
    org.fill("#s-languages", "fr")
    org.click("#save-settings")
    expect(org.locator("#errors")).to_contain_text(text["languages"])
    assert_only(lang, org, [*typed, "fr"])

    # The report: numbers as the reader writes them.
    org.goto(served.links["organizer"] + "/report")
    row = org.locator("#leaderboard tbody tr").first
    expect(row).to_contain_text("4,00" if lang == "de" else "4.00")
    assert_only(lang, org, typed)
