"""The organiser's flow in Debian's Chromium against a real app process: settings, pitch
editing seen live on the moderator's screen, import with preview, link rotation, the
dashboard, an XLSX export and the report, with no request to any other host."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import openpyxl
import pypdfium2 as pdfium
import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect, sync_playwright

from tests.conftest import ROOT, AppProcess
from tests.support.joining import join_http
from tests.support.phones import LiveClient

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """The e2e suite's shared Chromium when it has one, else our own; never downloads."""
    try:
        yield request.getfixturevalue("browser")
        return
    except pytest.FixtureLookupError:
        pass
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run .ci/test, which installs it")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def served(tmp_path: Path, app_processes: Callable[..., AppProcess]) -> tuple[AppProcess, dict]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}", "SECRET_KEY": "e2e"}
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "eventapp",
            "create",
            "Projektbörse",
            "--pitch",
            "Smart Parking|Stadtwerke",
            "--pitch",
            "Wärmewende",
            "--json",
        ],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    event = json.loads(created.stdout)
    app = app_processes(env)
    links = {k: v.replace("http://127.0.0.1:8000", app.url) for k, v in event["links"].items()}
    return app, {"code": event["code"], "links": links}


async def _seed_votes(base: str, code: str, moderator_key: str, scores: list[int]) -> None:
    """Phones vote on the first pitch over the real protocol; the moderator reveals it."""
    mod = LiveClient(base, code)
    welcome = await mod.connect({"type": "hello", "role": "moderator", "key": moderator_key})
    pitch_id = welcome["event"]["pitches"][0]["id"]
    await mod.send({"type": "open_voting", "pitch_id": pitch_id})
    await mod.wait_for(lambda m: m["type"] == "command_ack")
    for n, score in enumerate(scores):
        phone = LiveClient(base, code)
        await phone.connect({"type": "hello", "token": await join_http(base, code, f"P{n}")})
        await phone.send({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": 1})
        await phone.wait_for(lambda m: m["type"] == "vote_ack")
        await phone.close()
    await mod.send({"type": "reveal", "pitch_id": pitch_id})
    await mod.wait_for(lambda m: m["type"] == "command_ack")
    await mod.close()


def _watch(page: Page, requests: list[str], errors: list[str]) -> None:
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))


def test_organiser_sets_up_imports_rotates_exports_and_reports(
    chromium: Browser, served: tuple[AppProcess, dict], tmp_path: Path
) -> None:
    app, event = served
    code, links = event["code"], event["links"]
    context = chromium.new_context(
        viewport={"width": 1440, "height": 900}, accept_downloads=True, locale="en-GB"
    )
    requests: list[str] = []
    errors: list[str] = []
    org = context.new_page()
    mod = context.new_page()
    for page in (org, mod):
        _watch(page, requests, errors)
    org.goto(links["organizer"])
    mod.goto(links["moderator"])
    expect(mod.locator("#agenda")).to_contain_text("Wärmewende")

    # Settings: saved, shown, and the moderator's screen takes the new name live.
    org.fill("#s-name", "Projektbörse Süd")
    org.check("input[name=results][value=live]")
    org.fill("#s-retention", "30")
    org.click("#save-settings")
    expect(org.locator("#notice")).to_have_text("Saved.")
    expect(org.locator("#s-retention")).to_have_value("30")
    org.fill("#s-date", "2026-05-14")
    org.fill("#s-matrix", "this line has no colon")
    org.click("#save-settings")
    expect(org.locator("#errors")).to_contain_text("line 1: write 'type: other type")

    # Pitches: add one, see it on the moderator's agenda at once, move it, delete it.
    org.goto(links["organizer"])
    org.fill("#add-pitch input[name=title]", "Open-Data-Portal")
    org.click("#add-pitch button")
    expect(mod.locator("#agenda")).to_contain_text("Open-Data-Portal")
    row = org.locator('.pitch-row:has(input[value="Open-Data-Portal"])')
    row.get_by_role("button", name="Move up").click()
    expect(org.locator(".pitch-row").nth(1).locator("input[name=title]")).to_have_value(
        "Open-Data-Portal"
    )
    row = org.locator(".pitch-row").nth(1)
    row.get_by_role("button", name="Delete").click()
    expect(org.locator("#errors")).to_contain_text("tick the box to confirm")
    row = org.locator(".pitch-row").nth(1)
    row.locator("input[name=confirm]").check()
    row.get_by_role("button", name="Delete").click()
    expect(org.locator(".pitch-row")).to_have_count(2)
    expect(mod.locator("#agenda")).not_to_contain_text("Open-Data-Portal")

    # Import: a bad file names its rows and stores nothing; a good one is previewed first.
    org.set_input_files(
        "#import-pitches input[type=file]",
        files=[
            FilePayload(
                name="bad.csv",
                mimeType="text/csv",
                buffer=b"title;presenter\n;IHK\n=cmd|' /C calc'!A0;x\n",
            )
        ],
    )
    org.click("#import-pitches button")
    expect(org.locator("#row-errors li")).to_have_text(
        ["Row 2: title is required", "Row 3: title holds a formula; enter the value instead"]
    )
    expect(org.locator("#confirm-import")).to_have_count(0)
    org.set_input_files(
        "#import-pitches input[type=file]",
        files=[
            FilePayload(
                name="pitches.csv",
                mimeType="text/csv",
                buffer="Titel;Präsentiert von\nDigitaler Zwilling;Hochschule\n".encode(),
            )
        ],
    )
    org.click("#import-pitches button")
    expect(org.locator("#preview")).to_contain_text("Digitaler Zwilling")
    org.click("#confirm-import")
    expect(org.locator(".pitch-row")).to_have_count(3)
    expect(mod.locator("#agenda")).to_contain_text("Digitaler Zwilling")
    expect(org.locator(".pitch-row .pos")).to_have_text(["1.", "2.", "3."])

    # Rotating the projector link: the old one stops working, the new one works.
    old_projector = links["projector"]
    org.click("#rotate-projector")
    new_projector = org.locator("#link-projector").inner_text()
    assert new_projector != old_projector and new_projector.startswith(app.url)
    screen = context.new_page()
    _watch(screen, requests, errors)
    screen.goto(old_projector)
    expect(screen.locator("body")).to_contain_text("This link is not valid.")
    screen.goto(new_projector)
    expect(screen.locator("#event-code")).to_have_text(code)

    # Votes arrive from phones: the dashboard updates itself.
    moderator_key = links["moderator"].rsplit("/", 1)[1]
    # Playwright's sync API owns this thread's event loop: the phones run in another.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _seed_votes(app.url, code, moderator_key, [5, 4, 4])).result()
    expect(org.locator("#dash-attendees")).to_have_text("3", timeout=10_000)
    expect(org.locator("#dash-pitches tr").first.locator(".votes")).to_have_text("3")
    expect(screen.locator("#leaderboard .standing")).to_have_count(1, timeout=10_000)
    shown = screen.locator("#leaderboard .standing .adjusted").inner_text()

    # The XLSX export, read back with openpyxl, has the projector's numbers.
    with org.expect_download() as download:
        org.click("#export-votes-xlsx")
    path = tmp_path / "votes.xlsx"
    download.value.save_as(path)
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    first = dict(zip(rows[0], rows[1], strict=False))
    assert (first["pitch"], first["n"], first["mean"], first["rank"]) == (
        "Smart Parking",
        3,
        4.33,
        1,
    )
    # The screen keeps the event's language (German): a decimal comma.
    assert f"{first['adjusted_mean']:.2f}".replace(".", ",") == shown

    # The report: leaderboard, charts drawn by the app, and the PDF.
    org.click("#report-link")
    expect(org.locator("#leaderboard tbody tr").first).to_contain_text("Smart Parking")
    # A chart for the ranked pitch only; the ones without votes are listed (issue 13).
    expect(org.locator(".pitch-chart figcaption")).to_contain_text(["1. Smart Parking"])
    expect(org.locator(".unranked-list li")).to_have_text(
        ["2. Wärmewende: No votes", "3. Digitaler Zwilling: No votes"]
    )
    org.wait_for_load_state("networkidle")
    widths = org.eval_on_selector_all("img.chart", "els => els.map(e => e.naturalWidth)")
    assert len(widths) == 3 and all(w > 0 for w in widths)
    org.screenshot(path="/tmp/eventapp-organizer-report.png", full_page=True)
    pdf = context.request.get(app.url + str(org.locator("#pdf-link").get_attribute("href")))
    text = pdfium.PdfDocument(io.BytesIO(pdf.body()))[0].get_textpage().get_text_range()
    assert "Projektbörse Süd" in text and "Smart Parking" in text

    hosts = {urlsplit(u).netloc for u in requests if not u.startswith(("data:", "blob:"))}
    assert hosts == {urlsplit(app.url).netloc}
    # Refused forms answer 400/403/404 on purpose; anything else (a CSP block, a script
    # error) is a bug.
    refused = "Failed to load resource: the server responded with a status of 4"
    assert [e for e in errors if not e.startswith(refused)] == []
    context.close()


def test_attendee_deletes_their_data_and_the_organiser_sees_it(
    chromium: Browser, served: tuple[AppProcess, dict]
) -> None:
    app, event = served
    code, links = event["code"], event["links"]
    phone_ctx = chromium.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="de-DE"
    )
    laptop = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="de-DE")
    requests: list[str] = []
    errors: list[str] = []
    phone, org = phone_ctx.new_page(), laptop.new_page()
    for page in (phone, org):
        _watch(page, requests, errors)

    phone.goto(links["attendee"])
    phone.fill("#name", "Ada Lovelace")
    phone.click("#join-form button")
    expect(phone.locator("body")).not_to_contain_text("Ihr Name", timeout=10_000)
    org.goto(links["organizer"])
    expect(org.locator("#dash-attendees")).to_have_text("1")

    phone.goto(f"{app.url}/e/{code}/privacy")
    expect(phone.locator("#notice h1")).to_have_text("Datenschutzhinweis")
    phone.click("#delete-data")  # without the tick: refused, nothing deleted
    expect(phone.locator(".error")).to_have_text(
        "Bitte ankreuzen, um das Löschen Ihrer Daten zu bestätigen."
    )
    phone.check("#confirm-delete")
    phone.click("#delete-data")
    expect(phone.locator("#deleted h2")).to_have_text("Ihre Daten wurden gelöscht")
    expect(phone.locator("#delete-my-data")).to_have_count(0)  # this phone holds nothing now

    expect(org.locator("#dash-attendees")).to_have_text("0", timeout=10_000)  # polled
    phone.goto(links["attendee"])
    expect(phone.locator("#join-form")).to_be_visible()  # the old identity opens nothing
    hosts = {urlsplit(u).netloc for u in requests if not u.startswith(("data:", "blob:"))}
    assert hosts == {urlsplit(app.url).netloc}
    refused = "Failed to load resource: the server responded with a status of 4"
    assert [e for e in errors if not e.startswith(refused)] == []
    phone_ctx.close()
    laptop.close()
