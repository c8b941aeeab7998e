"""Two stages of one conference in Debian's Chromium (issue 15): two projectors, phones
scanning each stage's QR code (the URL the code encodes, decoded from a screenshot),
switching stage with one tap, the conference leaderboard, and networking across stages;
every page with several stages passes axe-core (WCAG 2.1 A/AA) with one h1."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from eventapp.core import queries as shared
from eventapp.core.db import Database
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, StageSpec, create_event
from tests.conftest import AppProcess
from tests.e2e.a11y import check
from tests.e2e.conftest import LAPTOP, PHONE, PROJECTOR, Contexts, Socket
from tests.e2e.pages import fill_profile, qr_texts
from tests.support.seeding import set_topics, stored_votes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def scanned_url(projector: Page) -> str:
    """What a phone's camera reads off the projector: the QR code, decoded."""
    found = qr_texts(projector, "join-qr")
    assert len(found) == 1
    return found[0]


def join(phone: Page, url: str, name: str) -> None:
    phone.goto(url)
    phone.fill("#name", name)
    phone.click("button[type=submit]")
    expect(phone.locator("#conn")).to_have_text("Verbunden")


def rate(phone: Page, score: int) -> None:
    phone.click(f"#scale button[data-score='{score}']")
    expect(phone.locator("#vote-status")).to_have_text("Gespeichert ✓")


def profile(phone: Page, org: str, email: str) -> None:
    phone.click("#network-link")
    fill_profile(phone, org, "public_admin", {"email": email}, ["email"])


def test_two_projectors_phones_scan_each_stage_switch_and_network_across_stages(
    contexts: Contexts, app_processes: Callable[..., AppProcess], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'stages.db'}"
    db = Database(url)
    db.create_all()
    event = create_event(
        "Smart-City-Konferenz",
        [],
        db=db,
        live_results=True,
        stages=[
            StageSpec("Saal A", [PitchSpec("Smart Parking", "Stadtwerke")]),
            StageSpec("Saal B", [PitchSpec("Wärmewende", "Energieagentur")]),
        ],
    )

    assert event.id is not None
    set_topics(db, event.id, ["Mobilität", "Energie"])
    stage_a, stage_b = db.read(queries.stages_of, event.id)
    pitch_a, pitch_b = (s.pitches[0].id for s in db.read(queries.load_states, event.id))
    app = app_processes({"DATABASE_URL": url})
    base, code = app.url, event.code
    problems: dict[str, list[str]] = {}

    with ExitStack() as stack:
        # Each stage's moderator opens voting on its pitch (over the protocol).
        for stage in (stage_a, stage_b):
            moderator = Socket(
                stack,
                base,
                code,
                {"type": "hello", "role": "moderator", "key": stage.moderator_key},
            )
            moderator.send({"type": "open_voting"})
            moderator.wait("command_ack")

        projectors = {}
        for stage in (stage_a, stage_b):
            page = contexts.page(**PROJECTOR)
            page.goto(f"{base}/e/{code}/projector/{stage.projector_key}")
            expect(page.locator("#stage-name")).to_have_text(stage.name)
            expect(page.locator("#conn")).to_have_class("conn-dot open")
            check(page, f"projector of {stage.name}", problems)
            projectors[stage.id] = page
        expect(projectors[stage_a.id].locator("#pitch-title")).to_have_text("Smart Parking")
        expect(projectors[stage_b.id].locator("#pitch-title")).to_have_text("Wärmewende")
        scanned = {sid: scanned_url(page) for sid, page in projectors.items()}
        assert scanned == {
            stage_a.id: f"{base}/e/{code}?stage={stage_a.id}",
            stage_b.id: f"{base}/e/{code}?stage={stage_b.id}",
        }

        # Anna scans stage A's code, Ben stage B's: each phone follows its stage.
        anna, ben = contexts.page(**PHONE), contexts.page(**PHONE)
        join(anna, scanned[stage_a.id], "Anna Schmidt")
        join(ben, scanned[stage_b.id], "Ben Weber")
        expect(anna.locator("#pitch-title")).to_have_text("Smart Parking")
        expect(ben.locator("#pitch-title")).to_have_text("Wärmewende")
        expect(anna.locator(f"#stage-picker [data-stage='{stage_a.id}']")).to_have_attribute(
            "aria-pressed", "true"
        )
        check(anna, "phone with the stage picker", problems)
        rate(anna, 4)
        rate(ben, 2)
        expect(projectors[stage_a.id].locator("#turnout")).to_have_text("Stimmen: 1 / 1 verbunden")
        expect(projectors[stage_b.id].locator("#turnout")).to_have_text("Stimmen: 1 / 1 verbunden")

        # One tap: Anna moves to stage B and rates there; her stage-A rating stays.
        anna.click(f"#stage-picker [data-stage='{stage_b.id}']")
        expect(anna.locator("#pitch-title")).to_have_text("Wärmewende")
        expect(anna.locator(f"#stage-picker [data-stage='{stage_b.id}']")).to_have_attribute(
            "aria-pressed", "true"
        )
        rate(anna, 5)
        expect(projectors[stage_b.id].locator("#turnout")).to_have_text("Stimmen: 2 / 2 verbunden")
        expect(projectors[stage_a.id].locator("#turnout")).to_have_text("Stimmen: 1 / 0 verbunden")
        # The phone remembers its stage across a reload.
        anna.reload()
        expect(anna.locator("#pitch-title")).to_have_text("Wärmewende")
        expect(anna.locator("#vote-status")).to_have_text("Gespeichert ✓")

        # The conference leaderboard names both stages' pitches.
        board = contexts.page(**PROJECTOR)
        board.goto(f"{base}/e/{code}/projector/{stage_a.projector_key}?view=conference")
        rows = board.locator("#leaderboard .standing .title")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_have_text("Smart Parking · Saal A")
        expect(rows.nth(1)).to_have_text("Wärmewende · Saal B")
        check(board, "conference leaderboard", problems)

        # The moderator of stage A sees, read only, what stage B is doing.
        mod_page = contexts.page(**LAPTOP)
        mod_page.goto(f"{base}/e/{code}/moderator/{stage_a.moderator_key}")
        other = mod_page.locator(f"#stages-overview [data-stage='{stage_b.id}']")
        expect(other).to_contain_text("Wärmewende")
        expect(other.locator(".badge")).to_have_text("offen")
        check(mod_page, "moderator with the other stages", problems)

        # The organiser's console and report with two stages.
        organizer = contexts.page(**LAPTOP)
        organizer.goto(f"{base}/e/{code}/organizer/{event.organizer_key}")
        expect(organizer.locator("body")).to_contain_text("Saal B")
        check(organizer, "organiser console with two stages", problems)
        organizer.goto(f"{base}/e/{code}/organizer/{event.organizer_key}/report")
        check(organizer, "report with two stages", problems)

        # Networking spans the conference: Anna (stage B now) and Ben exchange contacts
        # with Anna back on stage A.
        anna.click(f"#stage-picker [data-stage='{stage_a.id}']")
        expect(anna.locator("#pitch-title")).to_have_text("Smart Parking")
        profile(anna, "Stadt Musterstadt", "anna@stadt.example")
        profile(ben, "Stadtwerke Süd", "ben@stadtwerke.example")
        anna.goto(f"{base}/e/{code}/network/code")
        expect(anna.locator("#conn")).to_have_text("Verbunden")
        link = qr_texts(anna, "my-code")[0]
        ben.goto(f"{base}/e/{code}/network/scan")
        ben.fill("#paste", link)
        ben.click("#paste-form button[type=submit]")
        expect(ben.locator("#preview .person-name")).to_have_text("Anna Schmidt")
        ben.click("#confirm-exchange")
        expect(ben.locator("#done")).to_have_text("Kontakte getauscht.")
        expect(ben.locator(".f-email")).to_have_text("anna@stadt.example")
        expect(anna.locator("#live-notice")).to_contain_text(
            "Sie haben Kontakte mit Ben Weber getauscht."
        )

    # SQL agrees: two attendees, Anna's votes on both stages under one identity.
    people = {a.name: a.id for a in db.read(shared.attendees_of_event, event.id)}
    assert set(people) == {"Anna Schmidt", "Ben Weber"}
    assert {a: s for a, (s, _q) in stored_votes(db, pitch_a).items()} == {people["Anna Schmidt"]: 4}
    assert {a: s for a, (s, _q) in stored_votes(db, pitch_b).items()} == {
        people["Anna Schmidt"]: 5,
        people["Ben Weber"]: 2,
    }
    db.close()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
    assert contexts.watch.page_errors == []
    assert contexts.watch.console_errors == []
