"""Event day without surprises (issue 13): one browser test per numbered item of what a
moderator, a phone and an organiser tripped over. Item 11 (accessibility) is in
test_accessibility_browser.py. Each runs Debian's Chromium against a real uvicorn process;
stored values are read back from SQL."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocket, expect

from eventapp.__main__ import DEMO_NAME, DEMO_PITCHES
from tests.e2e.conftest import (
    LAPTOP,
    PHONE,
    PROJECTOR,
    Contexts,
    ServedEvent,
    ServeEvent,
    Socket,
    join_over_http,
    seed_votes,
)

pytestmark = pytest.mark.browser

WAIT = 10_000
PITCHES = [
    ("Smartes Parken in der Innenstadt", "Stadtwerke"),
    ("Kommunale Wärmeplanung im Quartier", "Klimaschutzagentur"),
    ("Leerstandsbörse für Wohnraum", ""),
]


def open_moderator(contexts: Contexts, served: ServedEvent, **options: Any) -> Page:
    page = contexts.page(**{**LAPTOP, **options})
    page.goto(served.links["moderator"])
    expect(page.locator("#conn")).to_have_class("conn open", timeout=WAIT)
    return page


def open_projector(contexts: Contexts, served: ServedEvent, **options: Any) -> Page:
    page = contexts.page(**{**PROJECTOR, **options})
    page.goto(served.links["projector"])
    expect(page.locator("#conn")).to_have_class("conn-dot open", timeout=WAIT)
    return page


def command(moderator: Page, name: str, state: str) -> None:
    moderator.locator(f'[data-command="{name}"]').click()
    expect(moderator.locator("#pitch-state")).to_have_class(f"badge {state}", timeout=WAIT)


def join(phone: Page, served: ServedEvent, name: str) -> None:
    phone.goto(f"{served.url}/e/{served.code}")
    phone.locator("#name").fill(name)
    phone.locator("#join-form button[type=submit]").tap()
    expect(phone.locator(".hello")).to_have_text(name, timeout=WAIT)
    expect(phone.locator("#conn")).to_have_class("conn open", timeout=WAIT)


def tap(phone: Page, score: int) -> None:
    phone.locator(f'#scale button[data-score="{score}"]').tap()
    expect(phone.locator("#vote-status")).to_have_text("Gespeichert ✓", timeout=WAIT)


def pressed(phone: Page) -> list[str]:
    scores: list[str] = phone.locator('#scale button[aria-pressed="true"]').evaluate_all(
        "buttons => buttons.map(b => b.dataset.score)"
    )
    return scores


# ------------------------------------------------------------------ 1. first action


def test_1_open_voting_on_a_fresh_event_opens_the_first_pitch_and_next_asks_first(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    moderator = open_moderator(contexts, served)
    # The very first tap on a new event: no "No such pitch", the first pitch opens.
    command(moderator, "open_voting", "open")
    expect(moderator.locator("#pitch-title")).to_have_text(PITCHES[0][0])
    expect(moderator.locator("#command-error")).to_be_empty()

    # "Next" while voting is open asks first; "Cancel" keeps the vote running.
    moderator.locator('[data-command="next"]').click()
    expect(moderator.locator("#next-confirm")).to_be_visible()
    expect(moderator.locator("#next-question")).to_have_text(
        "Die Abstimmung läuft noch. Schließen und den nächsten Pitch auf die Bühne holen?"
    )
    moderator.locator("#next-cancel").click()
    expect(moderator.locator("#next-confirm")).to_be_hidden()
    time.sleep(0.5)
    expect(moderator.locator("#pitch-state")).to_have_class("badge open")
    expect(moderator.locator("#pitch-title")).to_have_text(PITCHES[0][0])

    # Confirmed: it closes, moves on, and says what it closed.
    moderator.locator('[data-command="next"]').click()
    moderator.locator("#next-yes").click()
    expect(moderator.locator("#pitch-title")).to_have_text(PITCHES[1][0], timeout=WAIT)
    expect(moderator.locator("#command-done")).to_have_text(
        f"Die Abstimmung zu „{PITCHES[0][0]}“ wurde geschlossen.", timeout=WAIT
    )
    assert served.sql(
        "SELECT p.state FROM pitch p JOIN event e ON e.id = p.event_id"
        " WHERE e.code = :code ORDER BY p.position",
        code=served.code,
    ) == [("CLOSED",), ("PENDING",), ("PENDING",)]


# ------------------------------------------------------------------ 2. reset


def test_2_after_a_reset_the_phone_drops_the_deleted_vote_and_asks_again(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    moderator = open_moderator(contexts, served)
    phone = contexts.page(**PHONE)
    join(phone, served, "Erika Mustermann")
    command(moderator, "open_voting", "open")
    tap(phone, 4)

    moderator.locator("#agenda .reset button.icon").first.click()
    moderator.locator(".confirm-reset").first.click()
    expect(moderator.locator("#pitch-state")).to_have_class("badge pending", timeout=WAIT)
    command(moderator, "open_voting", "open")

    # Not reloaded, yet it no longer claims the deleted vote.
    expect(phone.locator("#vote-status")).to_have_text(
        "Ihre Bewertung wurde zurückgesetzt – bitte bewerten Sie noch einmal.", timeout=WAIT
    )
    assert pressed(phone) == []
    assert served.votes() == []
    tap(phone, 2)
    assert [score for _, _, score in served.votes()] == [2]


# ------------------------------------------------------------------ 3. one ranking


def test_3_report_pdf_and_projector_share_one_labelled_fair_rank(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    # Revealed: the first pitch. Closed but not revealed: the second (one top vote).
    # No votes: the third.
    seed_votes(served, {PITCHES[0][0]: [4, 3, 4]}, reveal=True)
    seed_votes(served, {PITCHES[1][0]: [5]}, reveal=False)
    projector = open_projector(contexts, served)
    expect(projector.locator("#leaderboard .standing")).to_have_count(1, timeout=WAIT)
    expect(projector.locator(".board-key")).to_have_text(re.compile("Fairer Rang.*gewichteter"))
    expect(projector.locator(".board-key h2")).to_have_text("Fairer Rang")
    shown = projector.locator("#leaderboard .standing .adjusted").inner_text()

    report = contexts.page(**LAPTOP)
    report.goto(served.links["organizer"] + "/report")
    head = report.locator("#leaderboard thead th").all_inner_texts()
    assert head == ["Fairer Rang", "Pitch", "n", "Mittel", "gewichteter Mittelwert"]
    rows = [
        [cell.strip() for cell in row]
        for row in report.locator("#leaderboard tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
    ]
    assert rows == [
        ["1", PITCHES[0][0], "3", "3,67", shown],
        ["Nicht aufgedeckt", PITCHES[1][0], "", "–", "–"],
        ["Keine Stimmen", PITCHES[2][0], "0", "–", "–"],
    ]
    expect(report.locator("#leaderboard caption")).to_contain_text("Der faire Rang")
    # Only the ranked pitch gets a chart; no empty charts for the others.
    expect(report.locator("figure.pitch-chart")).to_have_count(1)
    expect(report.locator(".unranked-list li")).to_have_count(2)

    pdf = report.request.get(served.links["organizer"] + "/report.pdf")
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf.body())
    text = "".join(page.get_textpage().get_text_range() for page in document)
    document.close()
    assert "Fairer Rang" in text and shown in text and "Nicht aufgedeckt" in text
    # The unrevealed pitch's lone 5 gives it no place and no chart in the PDF either (the
    # questions section after the results lists every pitch by title, with no votes).
    results, questions = re.split(r"Fragen\r?\n", text, maxsplit=1)
    assert results.count(PITCHES[1][0]) == 1 and PITCHES[1][0] in questions


# ------------------------------------------------------------------ 4. in place


def test_4_moderator_confirmation_and_focus_survive_flowing_votes(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    from contextlib import ExitStack

    served = serve_event(PITCHES)
    moderator = open_moderator(contexts, served)
    command(moderator, "open_voting", "open")
    agenda_buttons = moderator.locator("#agenda button[data-goto]")
    expect(agenda_buttons.first).to_have_attribute("aria-label", f"Auf die Bühne: {PITCHES[0][0]}")
    ask = moderator.locator("#agenda .reset button.icon").nth(1)
    expect(ask).to_have_attribute("aria-label", f"Stimmen zurücksetzen: {PITCHES[1][0]}")
    ask.click()
    confirm = moderator.locator(".reset-confirm").nth(1)
    expect(confirm).to_be_visible()
    assert moderator.evaluate("document.activeElement.className") == "small cancel-reset"

    # Votes flow for a while: the screen updates, the question stays, focus stays.
    pid = served.sql(
        "SELECT p.id FROM pitch p JOIN event e ON e.id = p.event_id WHERE e.code = :c"
        " ORDER BY p.position LIMIT 1",
        c=served.code,
    )[0][0]
    with ExitStack() as stack:
        phones = [
            Socket(
                stack,
                served.url,
                served.code,
                {"type": "hello", "token": join_over_http(served.url, served.code, f"Gast {i}")},
            )
            for i in range(4)
        ]
        for round_ in range(3):
            for i, phone in enumerate(phones):
                phone.send(
                    {
                        "type": "vote",
                        "pitch_id": pid,
                        "score": 1 + (i + round_) % 5,
                        "seq": 10 + round_,
                    }
                )
            for phone in phones:
                phone.wait("vote_ack")
    expect(moderator.locator("#turnout")).to_have_text(
        re.compile(r"Stimmen: 4 / \d+ verbunden"), timeout=WAIT
    )
    expect(confirm).to_be_visible()
    assert moderator.evaluate("document.activeElement.className") == "small cancel-reset"
    # The question has its own row: the title keeps its width.
    title_width = moderator.locator("#agenda .agenda-item .title").nth(1).bounding_box()
    assert title_width and title_width["width"] > 150
    moderator.locator(".cancel-reset").nth(1).click()
    expect(confirm).to_be_hidden()
    assert moderator.evaluate("document.activeElement.getAttribute('aria-label')") == (
        f"Stimmen zurücksetzen: {PITCHES[1][0]}"
    )


# ------------------------------------------------------------------ 5. tabs


def test_5_two_tabs_of_one_phone_show_the_same_current_rating(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    moderator = open_moderator(contexts, served)
    phone_context = contexts.new(**PHONE)
    first = phone_context.new_page()
    join(first, served, "Lena Zwei-Tabs")
    second = phone_context.new_page()
    second.goto(f"{served.url}/e/{served.code}")
    expect(second.locator("#conn")).to_have_class("conn open", timeout=WAIT)
    command(moderator, "open_voting", "open")
    tap(first, 4)
    expect(second.locator('#scale button[data-score="4"]')).to_have_attribute(
        "aria-pressed", "true", timeout=WAIT
    )
    tap(first, 2)
    expect(second.locator('#scale button[data-score="2"]')).to_have_attribute(
        "aria-pressed", "true", timeout=WAIT
    )
    assert pressed(second) == ["2"]
    assert [score for _, _, score in served.votes()] == [2]


# ------------------------------------------------------------------ 6. offline close


def test_6_rating_made_offline_before_close_says_which_rating_counted(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    moderator = open_moderator(contexts, served)
    phone_context = contexts.new(**PHONE)
    phone = phone_context.new_page()
    join(phone, served, "Aylin Kaya")
    command(moderator, "open_voting", "open")
    tap(phone, 3)

    phone_context.set_offline(True)
    expect(phone.locator("#conn")).to_have_class("conn closed", timeout=WAIT)
    phone.locator('#scale button[data-score="5"]').tap()
    expect(phone.locator("#vote-status")).to_have_text("Wird gespeichert …")
    command(moderator, "close_voting", "closed")
    phone_context.set_offline(False)

    expect(phone.locator("#vote-outcome")).to_have_text(
        "Ihre Bewertung 5 (sehr relevant) kam nach dem Ende der Abstimmung an und zählt nicht."
        " Ihre Bewertung 3 (teils relevant) zählt.",
        timeout=20_000,
    )
    assert [score for _, _, score in served.votes()] == [3]

    # A phone that rated nothing hears that nothing counted.
    other = contexts.page(**PHONE)
    join(other, served, "Ohne Stimme")
    expect(other.locator("#vote-outcome")).to_have_text(
        "Für diesen Pitch zählt keine Bewertung von Ihnen.", timeout=WAIT
    )


# ------------------------------------------------------------------ 7. quick series


def test_7_a_quick_series_of_taps_sends_the_newest_rating_and_stays_connected(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    moderator = open_moderator(contexts, served)
    phone = contexts.page(**PHONE)
    join(phone, served, "Schnelle Finger")
    sent: list[str] = []
    closed: list[bool] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: sent.append(str(payload)))
        ws.on("close", lambda _: closed.append(True))

    phone.on("websocket", watch)
    phone.reload()
    expect(phone.locator("#conn")).to_have_class("conn open", timeout=WAIT)
    command(moderator, "open_voting", "open")
    expect(phone.locator("#rating")).to_be_visible(timeout=WAIT)
    taps = [1, 2, 3, 4, 5] * 8 + [2]
    phone.evaluate(
        """(taps) => taps.forEach(s =>
             document.querySelector(`#scale button[data-score="${s}"]`).click())""",
        taps,
    )
    expect(phone.locator("#vote-status")).to_have_text("Gespeichert ✓", timeout=WAIT)
    assert pressed(phone) == ["2"]
    votes_sent = [m for m in sent if '"type":"vote"' in m.replace(" ", "")]
    # 41 taps in one go: only a few ratings go out, the newest last.
    assert 1 <= len(votes_sent) <= 3, votes_sent
    assert '"score":2' in votes_sent[-1].replace(" ", "")
    assert closed == []
    assert [score for _, _, score in served.votes()] == [2]


# ------------------------------------------------------------------ 8. projector


LONG_TITLE = (
    "Interkommunale Digitalisierungsstrategie für Daseinsvorsorge, Mobilitätsmanagement "
    "und klimagerechte Quartiere"
)


@pytest.mark.slow
def test_8_projector_type_is_big_enough_for_the_hall_and_titles_use_the_room(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    assert 110 <= len(LONG_TITLE) <= 130
    pitches = [*DEMO_PITCHES[:8], (LONG_TITLE, "Forschungsinstitut")]
    served = serve_event(pitches, name=DEMO_NAME)
    seed_votes(
        served,
        {title: [5, 4, 4, 3, (i % 5) + 1] for i, (title, _) in enumerate(pitches)},
        leave_on=8,
    )
    projector = open_projector(contexts, served)
    expect(projector.locator("#pitch-title")).to_have_text(LONG_TITLE, timeout=WAIT)
    for width, height in ((1280, 720), (1920, 1080)):
        projector.set_viewport_size({"width": width, "height": height})
        projector.wait_for_timeout(300)
        sizes = projector.evaluate(
            """() => [...document.querySelectorAll('.stage-grid *')]
                 .filter(e => e.offsetParent !== null && e.id !== 'conn' &&
                   [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
                 .map(e => [e.className || e.tagName, parseFloat(getComputedStyle(e).fontSize)])"""
        )
        smallest = min(size for _, size in sizes)
        # 3.3vh: 24 px at 720, 36 px at 1080 (README "Projector").
        assert smallest >= 0.033 * height - 0.5, (width, sorted(sizes, key=lambda s: s[1])[:5])
        # The long title is shown whole, not cut to three lines.
        title = projector.evaluate(
            """() => { const h = document.getElementById('pitch-title');
                 return [h.scrollHeight, h.clientHeight, h.getBoundingClientRect().bottom,
                         h.parentNode.getBoundingClientRect().bottom,
                         parseFloat(getComputedStyle(h).fontSize)]; }"""
        )
        assert title[0] <= title[1] + 1 and title[2] <= title[3], title
        assert title[4] >= 0.044 * height - 0.5, title
        # Leaderboard titles are not cut at 1920 (a demo title fits in two lines).
        if width == 1920:
            cut = projector.evaluate(
                """() => [...document.querySelectorAll('#leaderboard .title')]
                     .filter(t => t.scrollHeight > t.clientHeight + 1).map(t => t.textContent)"""
            )
            # (A 120-character title may end in "…" after two lines: the stage shows it.)
            assert [t for t in cut if t != LONG_TITLE] == []
            expect(projector.locator("#leaderboard .standing").nth(2)).to_be_visible()
        assert projector.evaluate(
            "document.documentElement.scrollHeight <= innerHeight"
            " && document.documentElement.scrollWidth <= innerWidth"
        )


# ------------------------------------------------------------------ 9. phones


def test_9_phone_header_shows_the_event_name(serve_event: ServeEvent, contexts: Contexts) -> None:
    served = serve_event(PITCHES, name="Smart-City-Allianz: Projektbörse")
    for width in (320, 390):
        phone = contexts.page(**{**PHONE, "viewport": {"width": width, "height": 700}})
        join(phone, served, f"Breite {width}")
        name = phone.locator(".bar .event-name")
        expect(name).to_have_text("Smart-City-Allianz: Projektbörse")
        box = name.evaluate(
            "e => [e.scrollWidth, e.clientWidth, e.getBoundingClientRect().right, innerWidth]"
        )
        assert box[0] <= box[1] and box[2] <= box[3], (width, box)


# ------------------------------------------------------------------ 10. organiser


def test_10_organiser_hears_the_real_reason_and_an_extra_column_is_refused(
    serve_event: ServeEvent, contexts: Contexts, tmp_path: Any
) -> None:
    served = serve_event(PITCHES)
    seed_votes(served, {PITCHES[0][0]: [4, 5]}, reveal=True)
    organizer = contexts.page(**LAPTOP)
    organizer.goto(served.links["organizer"])

    # Scale 1-5 -> 0-10 after votes: the reason is the votes, not the number of labels.
    organizer.locator("#s-min").fill("0")
    organizer.locator("#s-max").fill("10")
    organizer.locator("#save-settings").click()
    errors = organizer.locator("#errors .error")
    expect(errors).to_have_count(1)
    expect(errors).to_contain_text("Stimmen")
    expect(errors).not_to_contain_text("Bezeichnung")
    assert served.sql("SELECT scale_min, scale_max FROM event WHERE code = :c", c=served.code) == [
        (1, 5)
    ]

    # A row with one cell too many (an unquoted comma in a title) is refused, not cut.
    csv = tmp_path / "pitches.csv"
    csv.write_text("title,presenter\nDigitaler Zwilling, Altstadt,Hochschule\n", encoding="utf-8")
    organizer.locator("#import-pitches input[type=file]").set_input_files(str(csv))
    organizer.locator("#import-pitches button[type=submit]").click()
    expect(organizer.locator("#row-errors li")).to_have_count(1)
    expect(organizer.locator("#row-errors li")).to_contain_text("Zeile 2")
    expect(organizer.locator("#row-errors li")).to_contain_text("mehr Zellen")
    expect(organizer.locator("#confirm-import")).to_have_count(0)
    assert len(served.sql("SELECT id FROM pitch")) == len(PITCHES)


def test_9_profile_names_web_addresses_declined_requests_and_phone_export(
    serve_event: ServeEvent, contexts: Contexts
) -> None:
    served = serve_event(PITCHES)
    base = f"{served.url}/e/{served.code}"
    anna = contexts.page(**PHONE)
    join(anna, served, "Anna <Stadt>")
    anna.goto(base + "/network/profile")
    # The name accepted at the door is accepted by the profile too.
    expect(anna.locator("#name")).to_have_value("Anna <Stadt>")
    anna.locator("#organization").fill("Stadtwerke")
    anna.locator("#website").fill("javascript:alert(1)")
    anna.check("#opt_in")
    anna.locator("#profile-form button[type=submit]").click()
    expect(anna.locator("#profile-form .error, .error[role=alert]").first).to_contain_text(
        "Website"
    )
    assert served.sql("SELECT count(*) FROM network_profile")[0][0] == 0
    anna.locator("#website").fill("stadtwerke.example")
    anna.locator("#linkedin").fill("linkedin.com/in/anna-stadt")
    anna.locator("#phone").fill("+49 30 123456")
    for field in ("website", "linkedin", "phone"):
        anna.check(f"#share_{field}")
    anna.locator("#profile-form button[type=submit]").click()
    expect(anna.locator("#done")).to_be_visible(timeout=WAIT)
    assert served.sql("SELECT website, linkedin FROM network_profile") == [
        ("https://stadtwerke.example", "https://linkedin.com/in/anna-stadt")
    ]
    assert served.attendees()[0][1] == "Anna <Stadt>"

    # Ben asks, Anna declines: Ben's card says so instead of showing only "Block".
    ben = contexts.page(**PHONE)
    join(ben, served, "Ben Weber")
    ben.goto(base + "/network/profile")
    ben.check("#opt_in")
    ben.locator("#profile-form button[type=submit]").click()
    ben.goto(base + "/network/people")
    ben.locator("#directory form[action*='/request/'] button").click()
    anna.goto(base + "/network")
    anna.locator("#requests form[action$='/decline'] button").click()
    ben.goto(base + "/network/people")
    card = ben.locator("#directory .person")
    expect(card).to_contain_text("Kontaktanfrage abgelehnt: keine neue Anfrage möglich.")

    # The organiser's export shows the phone number as typed: no leading apostrophe.
    export = anna.request.get(served.links["organizer"] + "/export/attendees.csv")
    lines = export.text().splitlines()
    anna_row = next(line for line in lines if "Anna <Stadt>" in line)
    assert "+49 30 123456" in anna_row and "'+49" not in anna_row
