"""The hall, in a real browser: a phone scans the projector's QR code, joins, votes, and
the projector counts it; identity survives reloads and lost cookies; a phone that drops
off the network gets its vote in once; typed HTML stays text; the stage never scrolls;
both languages; nothing loads from other hosts.

Every page runs in Debian's headless Chromium against a real uvicorn process; stored
values are read back from SQL.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from eventapp.__main__ import DEMO_NAME, DEMO_PITCHES
from tests.conftest import ROOT
from tests.e2e.conftest import (
    LAPTOP,
    PHONE,
    PROJECTOR,
    Contexts,
    ServedEvent,
    ServeEvent,
    seed_votes,
)
from tests.e2e.pages import qr_texts

pytestmark = pytest.mark.browser

WAIT = 10_000  # ms: a live update that takes longer than this is a failure
PITCHES = [
    ("Smartes Parken in der Innenstadt", "Stadtwerke"),
    ("Kommunale Wärmeplanung im Quartier", "Klimaschutzagentur"),
    ("Leerstandsbörse für Wohnraum", ""),
]
XSS = "<img src=x onerror=alert(1)>"


# ------------------------------------------------------------------ page helpers


def open_moderator(contexts: Contexts, served: ServedEvent) -> Page:
    page = contexts.page(**LAPTOP)
    page.goto(served.links["moderator"])
    # Commands are sent over the socket: wait until it is open.
    expect(page.locator("#conn")).to_have_class("conn open", timeout=WAIT)
    return page


def open_projector(contexts: Contexts, served: ServedEvent, **options: Any) -> Page:
    page = contexts.page(**{**PROJECTOR, **options})
    page.goto(served.links["projector"])
    expect(page.locator("#conn")).to_have_class("conn-dot open", timeout=WAIT)
    return page


def command(moderator: Page, name: str, state: str) -> None:
    """Press a big moderator button and wait until the pitch on stage is in ``state``."""
    moderator.locator(f'[data-command="{name}"]').click()
    expect(moderator.locator("#pitch-state")).to_have_class(f"badge {state}", timeout=WAIT)


def join(phone: Page, url: str, name: str, organization: str = "") -> None:
    phone.goto(url)
    phone.locator("#name").fill(name)
    phone.locator("#organization").fill(organization)
    phone.locator("#join-form button[type=submit]").tap()
    expect(phone.locator(".hello")).to_have_text(
        f"{name} · {organization}" if organization else name, timeout=WAIT
    )


def tap_score(phone: Page, score: int, saved: str = "Gespeichert ✓") -> None:
    phone.locator(f'#scale button[data-score="{score}"]').tap()
    expect(phone.locator("#vote-status")).to_have_class("vote-status saved", timeout=WAIT)
    expect(phone.locator("#vote-status")).to_have_text(saved)
    expect(phone.locator(f'#scale button[data-score="{score}"]')).to_have_attribute(
        "aria-pressed", "true"
    )


def pressed_scores(phone: Page) -> list[str]:
    scores: list[str] = phone.locator('#scale button[aria-pressed="true"]').evaluate_all(
        "buttons => buttons.map(b => b.dataset.score)"
    )
    return scores


def hosts_of(urls: list[str]) -> set[str]:
    return {urlsplit(url).hostname or url for url in urls}


# ------------------------------------------------------------------ the test


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def test_phone_scans_projector_qr_joins_votes_and_projector_counts_it(
    serve_event: ServeEvent, contexts: Contexts, backend: str
) -> None:
    served = serve_event(PITCHES, redis=backend == "redis")
    projector = open_projector(contexts, served)

    # The projector's rendered QR code leads to the attendee link.
    assert qr_texts(projector, "join-qr") == [f"{served.url}/e/{served.code}"]
    expect(projector.locator("#event-code")).to_have_text(served.code)

    phone = contexts.page(**PHONE)
    join(phone, qr_texts(projector, "join-qr")[0], "Erika Mustermann", "Stadtwerke")
    expect(phone.locator("#conn")).to_have_class("conn open", timeout=WAIT)
    expect(phone.locator("#rating")).to_be_hidden()

    moderator = open_moderator(contexts, served)
    command(moderator, "next", "pending")
    expect(phone.locator("#pitch-title")).to_have_text(PITCHES[0][0], timeout=WAIT)
    expect(phone.locator("#voting-note")).to_have_text("Die Abstimmung beginnt gleich.")
    command(moderator, "open_voting", "open")

    # The rating card appears on the phone without a reload.
    expect(phone.locator("#rating")).to_be_visible(timeout=WAIT)
    expect(projector.locator("#turnout")).to_have_text("Stimmen: 0 / 1 verbunden", timeout=WAIT)
    tap_score(phone, 4)
    expect(projector.locator("#turnout")).to_have_text("Stimmen: 1 / 1 verbunden", timeout=WAIT)
    # Blind voting: the projector shows turnout only while voting runs.
    expect(projector.locator("#results")).to_be_hidden()
    expect(projector.locator("#blind-note")).to_be_visible()

    # A changed rating replaces the first: still one vote, now a 2.
    tap_score(phone, 2)
    assert pressed_scores(phone) == ["2"]
    expect(moderator.locator("#bars .bar-count")).to_have_text(
        ["0", "1", "0", "0", "0"], timeout=WAIT
    )
    expect(projector.locator("#turnout")).to_have_text("Stimmen: 1 / 1 verbunden")

    command(moderator, "reveal", "revealed")
    expect(projector.locator("#bars .bar-count")).to_have_text(
        ["0", "1", "0", "0", "0"], timeout=WAIT
    )
    expect(projector.locator("#mean")).to_have_text("Mittel 2,00")
    expect(projector.locator("#leaderboard .title")).to_have_text([PITCHES[0][0]])
    expect(phone.locator("#voting-note")).to_have_text("Die Abstimmung ist geschlossen.")

    [(attendee_id, name, organization)] = served.attendees()
    assert (name, organization) == ("Erika Mustermann", "Stadtwerke")
    assert served.votes() == [(PITCHES[0][0], attendee_id, 2)]

    # Nothing came from another host and no page broke a CSP rule or threw.
    assert hosts_of(contexts.watch.requests) == {"127.0.0.1"}
    assert contexts.watch.failed == []
    assert contexts.watch.console_errors == []
    assert contexts.watch.page_errors == []


# ------------------------------------------------------------------ identity on the phone


def test_reload_and_lost_cookie_keep_the_same_attendee_and_vote(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    moderator = open_moderator(contexts, served)
    command(moderator, "next", "pending")
    command(moderator, "open_voting", "open")
    phone_context = contexts.new(**PHONE)
    phone = phone_context.new_page()
    join(phone, f"{served.url}/e/{served.code}", "Jonas Weber")
    tap_score(phone, 5)

    phone.reload()
    expect(phone.locator(".hello")).to_have_text("Jonas Weber")
    expect(phone.locator("#vote-status")).to_have_text("Gespeichert ✓", timeout=WAIT)
    assert pressed_scores(phone) == ["5"]

    # Cookies gone (private mode ended, browser cleaned up) but the phone kept its storage:
    # the join page restores the identity through /resume instead of joining again.
    phone_context.clear_cookies()
    phone.goto(f"{served.url}/e/{served.code}")
    expect(phone.locator(".hello")).to_have_text("Jonas Weber", timeout=WAIT)
    expect(phone.locator("#vote-status")).to_have_text("Gespeichert ✓", timeout=WAIT)
    assert pressed_scores(phone) == ["5"]
    cookies = {c["name"] for c in phone_context.cookies()}
    assert f"ea_{served.code}" in cookies

    [(attendee_id, name, _)] = served.attendees()
    assert name == "Jonas Weber"
    assert served.votes() == [(PITCHES[0][0], attendee_id, 5)]


@pytest.mark.slow
def test_offline_phone_resends_its_vote_once_after_reconnecting(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    projector = open_projector(contexts, served)
    moderator = open_moderator(contexts, served)
    command(moderator, "next", "pending")
    command(moderator, "open_voting", "open")
    phone_context = contexts.new(**PHONE)
    phone = phone_context.new_page()
    join(phone, f"{served.url}/e/{served.code}", "Aylin Kaya")
    tap_score(phone, 3)
    expect(projector.locator("#turnout")).to_have_text("Stimmen: 1 / 1 verbunden", timeout=WAIT)

    phone_context.set_offline(True)
    expect(phone.locator("#conn")).to_have_class("conn closed", timeout=WAIT)
    expect(phone.locator("#conn")).to_have_text("Offline – verbinde neu …")
    phone.locator('#scale button[data-score="5"]').tap()
    # Not confirmed by the server, so not claimed as saved.
    expect(phone.locator("#vote-status")).to_have_text("Wird gespeichert …")
    expect(phone.locator("#vote-status")).to_have_class("vote-status saving")
    assert served.votes()[0][2] == 3

    phone_context.set_offline(False)
    # Reconnects by itself (no reload), resends, and the server confirms.
    expect(phone.locator("#conn")).to_have_class("conn open", timeout=20_000)
    expect(phone.locator("#vote-status")).to_have_text("Gespeichert ✓", timeout=WAIT)
    assert pressed_scores(phone) == ["5"]
    # One phone, one socket, one vote.
    expect(projector.locator("#turnout")).to_have_text("Stimmen: 1 / 1 verbunden", timeout=WAIT)
    expect(moderator.locator("#bars .bar-count")).to_have_text(
        ["0", "0", "0", "0", "1"], timeout=WAIT
    )
    [(attendee_id, _, _)] = served.attendees()
    assert served.votes() == [(PITCHES[0][0], attendee_id, 5)]


# ------------------------------------------------------------------ typed HTML stays text


def test_html_in_titles_and_names_is_shown_as_text_everywhere(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event([(XSS, XSS), ("Zweiter Pitch", "")])
    projector = open_projector(contexts, served)
    moderator = open_moderator(contexts, served)
    command(moderator, "next", "pending")
    command(moderator, "open_voting", "open")
    phone = contexts.page(**PHONE)
    join(phone, f"{served.url}/e/{served.code}", XSS, XSS)
    tap_score(phone, 4)
    command(moderator, "reveal", "revealed")

    for page in (projector, moderator, phone):
        expect(page.locator("#pitch-title")).to_have_text(XSS, timeout=WAIT)
    expect(projector.locator("#pitch-presenter")).to_have_text(XSS)
    expect(phone.locator("#pitch-presenter")).to_have_text(XSS)
    expect(projector.locator("#leaderboard .title")).to_have_text([XSS], timeout=WAIT)
    expect(moderator.locator("#leaderboard .title")).to_have_text([XSS])
    expect(moderator.locator("#agenda .title")).to_have_text([XSS, "Zweiter Pitch"])
    assert phone.locator(".hello").text_content() == f"{XSS} · {XSS}"
    # The only image anywhere is the projector's own QR code.
    assert projector.locator("img").evaluate_all("imgs => imgs.map(i => i.id)") == ["join-qr"]
    assert moderator.locator("img").count() == 0
    assert phone.locator("img").count() == 0
    assert contexts.watch.dialogs == []
    assert contexts.watch.page_errors == []
    assert [name for _, name, _ in served.attendees()] == [XSS]


# ------------------------------------------------------------------ the stage screen


LONG_PITCHES = [
    (
        f"{i + 1:02d} Interkommunale Digitalisierungsstrategie für Daseinsvorsorge, "
        "Mobilitätsmanagement und klimagerechte Quartiersentwicklung im ländlichen Raum",
        "Forschungsinstitut für Stadtentwicklung und Regionalplanung",
    )
    for i in range(18)
]


def assert_fits(page: Page) -> None:
    """No scrollbars, and the parts read from the hall are inside the screen."""
    size = page.evaluate(
        """() => ({
          sh: document.documentElement.scrollHeight, sw: document.documentElement.scrollWidth,
          h: innerHeight, w: innerWidth,
          bottoms: ['event-code', 'mean', 'turnout', 'join-qr'].map(id => {
            const r = document.getElementById(id).getBoundingClientRect();
            return [id, Math.round(r.bottom), Math.round(r.right)];
          }),
          board: [...document.querySelectorAll('#leaderboard li')].map(li => {
            const r = li.getBoundingClientRect();
            return Math.round(r.bottom);
          }),
        })"""
    )
    assert size["sh"] <= size["h"], size
    assert size["sw"] <= size["w"], size
    for element_id, bottom, right in size["bottoms"]:
        assert bottom <= size["h"] and right <= size["w"], (element_id, size)
    # The top of the table is shown, as many whole rows as fit (the script drops the rest).
    # With hall-sized type (issue 13) 130-character titles take two lines: four rows.
    assert 4 <= len(size["board"]) <= 8, size
    assert max(size["board"]) <= size["h"], size


@pytest.mark.slow
def test_projector_never_scrolls_with_18_long_pitches(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(LONG_PITCHES)
    seed_votes(served, {title: [5, 4, 4, 3, 2] for title, _ in LONG_PITCHES}, leave_on=17)
    projector = open_projector(contexts, served)
    expect(projector.locator("#pitch-position")).to_have_text("18 / 18", timeout=WAIT)
    expect(projector.locator("#mean")).to_have_text("Mittel 3,60", timeout=WAIT)
    # Hall-sized type (issue 13): 130-character titles take two lines, four rows fit.
    expect(projector.locator("#leaderboard li").nth(3)).to_be_visible()
    for width, height in ((1920, 1080), (1280, 720)):
        projector.set_viewport_size({"width": width, "height": height})
        assert_fits(projector)


# ------------------------------------------------------------------ languages


def test_english_browser_gets_english_and_the_switch_changes_language(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    moderator = open_moderator(contexts, served)  # German browser: German buttons
    expect(moderator.locator('[data-command="open_voting"]')).to_have_text("Abstimmung öffnen")
    command(moderator, "next", "pending")
    command(moderator, "open_voting", "open")

    phone = contexts.page(locale="en-GB", **PHONE)
    phone.goto(f"{served.url}/e/{served.code}")
    expect(phone.locator("label[for=name]")).to_have_text("Your name")
    expect(phone.locator("#join-form button[type=submit]")).to_have_text("Join")
    join(phone, phone.url, "Sam Taylor")
    expect(phone.locator("#rating h2")).to_have_text("How relevant is this project?")
    expect(phone.locator("#conn")).to_have_text("Connected", timeout=WAIT)
    tap_score(phone, 4, saved="Saved ✓")
    expect(phone.locator("#scale button .lbl")).to_have_text(
        ["gar nicht relevant", "wenig relevant", "teils relevant", "relevant", "sehr relevant"]
    )

    phone.locator('.lang a[href^="/lang/de"]').tap()
    expect(phone.locator("#rating h2")).to_have_text("Wie relevant ist dieses Projekt?")
    expect(phone.locator("#vote-status")).to_have_text("Gespeichert ✓", timeout=WAIT)
    expect(phone.locator("html")).to_have_attribute("lang", "de")
    phone.locator('.lang a[href^="/lang/en"]').tap()
    expect(phone.locator("#vote-status")).to_have_text("Saved ✓", timeout=WAIT)
    expect(phone.locator("html")).to_have_attribute("lang", "en")

    # The stage screen keeps the event's language whatever the laptop's browser says,
    # unless its link asks for another one.
    projector = open_projector(contexts, served, locale="en-US")
    expect(projector.locator(".scan")).to_have_text("Scannen und mitmachen")
    projector.goto(served.links["projector"] + "?lang=en")
    expect(projector.locator(".scan")).to_have_text("Scan to join")
    expect(projector.locator("#turnout")).to_have_text("Votes in: 1 / 1 connected", timeout=WAIT)


# ------------------------------------------------------------------ hosts and CSP


def test_pages_load_nothing_from_other_hosts_and_break_no_csp_rule(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    seed_votes(served, {PITCHES[0][0]: [4, 5, 3]})
    csp_reports: list[str] = []
    pages = [open_projector(contexts, served), open_moderator(contexts, served)]
    phone = contexts.page(**PHONE)
    phone.goto(f"{served.url}/")
    phone.goto(f"{served.url}/e/{served.code}")
    join(phone, phone.url, "Lena Schmidt")
    pages.append(phone)
    for page in pages:
        # securitypolicyviolation fires for every blocked inline script, style or host.
        csp_reports += page.evaluate(
            """() => new Promise(done => {
              const seen = [];
              document.addEventListener('securitypolicyviolation',
                e => seen.push(e.violatedDirective + ' ' + e.blockedURI));
              setTimeout(() => done(seen), 300);
            })"""
        )
        expect(page.locator("#leaderboard .title, #pitch-title").first).not_to_be_empty()
    expect(pages[0].locator("#leaderboard .title")).to_have_text([PITCHES[0][0]], timeout=WAIT)
    assert contexts.watch.requests, "no requests recorded"
    assert hosts_of(contexts.watch.requests) == {"127.0.0.1"}, contexts.watch.requests
    assert {urlsplit(u).port for u in contexts.watch.requests} == {served.app.port}
    assert f"ws://127.0.0.1:{served.app.port}/e/{served.code}/ws" in contexts.watch.requests
    assert csp_reports == []
    assert [e for e in contexts.watch.console_errors if "Content Security Policy" in e] == []
    assert contexts.watch.console_errors == []


# ------------------------------------------------------------------ README screenshots


SCREENSHOTS = ROOT / "static" / "screenshots"


def save_png(data: bytes, name: str) -> None:
    """Written only when asked (EVENTAPP_SCREENSHOTS=1): the README's pictures, reduced to
    a palette so each stays small in the repository."""
    if os.environ.get("EVENTAPP_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(
        Path(SCREENSHOTS / name), optimize=True
    )


@pytest.mark.slow
def test_demo_event_on_stage_fits_and_makes_the_readme_screenshots(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    # The QR code and the printed address show a public host, as in a real hall.
    served = serve_event(
        DEMO_PITCHES, name=DEMO_NAME, env={"PUBLIC_URL": "https://abstimmen.example.org"}
    )
    ballots = {
        DEMO_PITCHES[0][0]: [5, 4, 5, 4, 3, 5, 4, 4, 5],
        DEMO_PITCHES[1][0]: [4, 4, 3, 5, 4, 3, 4, 2],
        DEMO_PITCHES[2][0]: [3, 2, 3, 4, 3, 2, 3],
        DEMO_PITCHES[3][0]: [5, 5, 4, 4, 5, 3, 4, 5, 4],
        DEMO_PITCHES[4][0]: [4, 3, 4, 3, 5, 4, 4],
        DEMO_PITCHES[5][0]: [5, 4, 5, 5, 4, 5, 4, 5],
        DEMO_PITCHES[6][0]: [3, 4, 2, 3, 4, 3],
        DEMO_PITCHES[7][0]: [4, 5, 4, 4, 3, 4, 5, 4, 4],
        DEMO_PITCHES[8][0]: [4, 4, 5, 3, 4, 4, 5, 3, 4],
    }
    seed_votes(served, ballots, leave_on=8)
    projector = open_projector(contexts, served)
    expect(projector.locator("#pitch-title")).to_have_text(DEMO_PITCHES[8][0], timeout=WAIT)
    expect(projector.locator("#mean")).to_have_text("Mittel 4,00", timeout=WAIT)
    # Hall-sized type (issue 13): 130-character titles take two lines, four rows fit.
    expect(projector.locator("#leaderboard li").nth(3)).to_be_visible()
    assert qr_texts(projector, "join-qr") == [f"https://abstimmen.example.org/e/{served.code}"]
    save_png(projector.screenshot(), "projector.png")
    assert_fits(projector)

    moderator = open_moderator(contexts, served)
    command(moderator, "next", "pending")
    command(moderator, "open_voting", "open")
    phone = contexts.page(**PHONE)
    join(phone, f"{served.url}/e/{served.code}", "Erika Mustermann", "Stadtwerke")
    expect(phone.locator("#pitch-title")).to_have_text(DEMO_PITCHES[9][0], timeout=WAIT)
    tap_score(phone, 4)
    expect(moderator.locator("#turnout")).to_have_text(
        re.compile(r"^Stimmen: 1 / 1 verbunden$"), timeout=WAIT
    )
    save_png(phone.screenshot(), "phone.png")
    save_png(moderator.screenshot(), "moderator.png")
    assert served.votes()[-1][0] == DEMO_PITCHES[9][0]
