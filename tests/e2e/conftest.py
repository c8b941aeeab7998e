"""Real-browser fixtures: Debian's Chromium through Playwright, a real uvicorn process per
test, events created by the real command line, and a small protocol client that seeds
votes the way phones do (over the socket), so pages show believable data."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from sqlalchemy import Engine, create_engine, text
from websockets.sync.client import ClientConnection, connect

from tests.conftest import ROOT, AppProcess
from tests.support.servers import RedisServer, free_port

CHROMIUM = "/usr/bin/chromium"
# No sandbox (containers), no GPU, and nothing that phones home: the only host a page
# may reach is our app on 127.0.0.1.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
PROJECTOR: dict[str, Any] = {"viewport": {"width": 1920, "height": 1080}}
LAPTOP: dict[str, Any] = {"viewport": {"width": 1440, "height": 900}}


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Never downloads a browser: Debian's Chromium or a clear failure.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run .ci/test, which installs it")
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@dataclass
class PageWatch:
    """What a page did that a person would notice or a CSP would block."""

    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # responses with status >= 400


@dataclass
class Contexts:
    """Opens browser contexts (one per device) and watches every page they open."""

    browser: Browser
    opened: list[BrowserContext] = field(default_factory=list)
    watch: PageWatch = field(default_factory=PageWatch)

    def new(self, *, locale: str = "de-DE", **options: Any) -> BrowserContext:
        context = self.browser.new_context(locale=locale, **options)
        # Expectations wait up to 10 s; a step that takes longer than 20 s is a failure.
        context.set_default_timeout(20_000)
        context.on("page", self._watch)
        context.on("request", lambda request: self.watch.requests.append(request.url))
        context.on(
            "response",
            lambda r: self.watch.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        self.opened.append(context)
        return context

    def page(self, *, locale: str = "de-DE", **options: Any) -> Page:
        return self.new(locale=locale, **options).new_page()

    def _watch(self, page: Page) -> None:
        def on_dialog(dialog: Any) -> None:
            self.watch.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on(
            "console",
            lambda msg: self.watch.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: self.watch.page_errors.append(str(exc)))
        # Sockets are not "requests" to Playwright; their hosts count all the same.
        page.on("websocket", lambda ws: self.watch.requests.append(ws.url))

    def close(self) -> None:
        for context in self.opened:
            context.close()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Contexts]:
    opened = Contexts(browser)
    yield opened
    opened.close()


# ------------------------------------------------------------------ served events


@dataclass
class ServedEvent:
    """An event created by ``python -m eventapp create`` and a uvicorn process serving it."""

    app: AppProcess
    code: str
    links: dict[str, str]
    engine: Engine
    titles: list[str]

    @property
    def url(self) -> str:
        return self.app.url

    def sql(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        """Read the source of truth directly: what the browser claims must be stored."""
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query), params)]

    def attendees(self) -> list[tuple[int, str, str]]:
        return [
            (int(r[0]), str(r[1]), str(r[2]))
            for r in self.sql(
                "SELECT a.id, a.name, a.organization FROM attendee a JOIN event e"
                " ON e.id = a.event_id WHERE e.code = :code ORDER BY a.id",
                code=self.code,
            )
        ]

    def votes(self) -> list[tuple[str, int, int]]:
        """(pitch title, attendee id, score) of every stored vote of this event."""
        return [
            (str(r[0]), int(r[1]), int(r[2]))
            for r in self.sql(
                "SELECT p.title, v.attendee_id, v.score FROM vote v JOIN pitch p"
                " ON p.id = v.pitch_id JOIN event e ON e.id = v.event_id"
                " WHERE e.code = :code ORDER BY p.position, v.attendee_id",
                code=self.code,
            )
        ]


def create_event_cli(
    database_url: str,
    base_url: str,
    name: str,
    pitches: Sequence[tuple[str, str]],
    *extra: str,
) -> dict[str, Any]:
    """The organiser's way in: the real command line, as a separate process."""
    args = [sys.executable, "-m", "eventapp", "create", name, "--json", "--base-url", base_url]
    for title, presenter in pitches:
        args += ["--pitch", f"{title}|{presenter}" if presenter else title]
    done = subprocess.run(
        [*args, *extra],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    created: dict[str, Any] = json.loads(done.stdout)
    return created


ServeEvent = Callable[..., ServedEvent]


@pytest.fixture
def serve_event(
    app_processes: Callable[..., AppProcess], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ServeEvent]:
    """Factory: create an event on a fresh SQLite file, then serve it with a real uvicorn
    process (with ``redis=True`` on the session's real Redis server)."""
    engines: list[Engine] = []

    def serve(
        pitches: Sequence[tuple[str, str]],
        *,
        name: str = "Smart-City-Allianz: Projektbörse",
        redis: bool = False,
        extra: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> ServedEvent:
        database_url = f"sqlite:///{tmp_path / f'x{len(engines)}.db'}"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        created = create_event_cli(database_url, base, name, pitches, *extra)
        app_env = {"DATABASE_URL": database_url, **(env or {})}
        if redis:
            server: RedisServer = request.getfixturevalue("redis_server")
            app_env["REDIS_URL"] = server.url
            app_env["EVENTAPP_NAMESPACE"] = f"e2e-{created['code'].lower()}"
        app = app_processes(app_env, port=port)
        engine = create_engine(database_url)
        engines.append(engine)
        return ServedEvent(
            app, created["code"], created["links"], engine, [title for title, _ in pitches]
        )

    yield serve
    for engine in engines:
        engine.dispose()


# ------------------------------------------------------------------ protocol seeding


class Socket:
    """One live connection speaking the protocol synchronously (no asyncio: Playwright's
    sync API owns this thread's event loop). Opened inside an ExitStack that closes it."""

    def __init__(self, stack: ExitStack, base: str, code: str, hello: dict[str, Any]) -> None:
        url = base.replace("http://", "ws://") + f"/e/{code}/ws"
        self.ws: ClientConnection = stack.enter_context(
            connect(url, additional_headers={"origin": base}, legacy=False)
        )
        self.last_sent = 0.0
        self.send(hello)
        self.welcome = self.wait("welcome")

    def send(self, message: dict[str, Any]) -> None:
        # The server allows 10 messages a second per socket (then refuses: rate_limited);
        # a person never clicks faster, so the script keeps to 8.
        time.sleep(max(0.0, self.last_sent + 0.125 - time.monotonic()))
        self.last_sent = time.monotonic()
        self.ws.send(json.dumps(message))

    def wait(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
            assert message["type"] != "error", message
            if message["type"] == kind:
                return message


def join_over_http(base: str, code: str, name: str, organization: str = "") -> str:
    """Join through the real form; returns the device token."""
    with httpx.Client(base_url=base) as http:
        page = http.get(f"/e/{code}")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, page.text[:500]
        response = http.post(
            f"/e/{code}/join",
            data={"name": name, "organization": organization, "csrf": match.group(1)},
            headers={"origin": base},
        )
        token = response.cookies.get(f"ea_{code}")
        assert token, response.text[:500]
        return token


def seed_votes(
    served: ServedEvent,
    ballots: Mapping[str, Sequence[int]],
    *,
    reveal: bool = True,
    leave_on: int | None = None,
) -> None:
    """Run the stage over the protocol: for each pitch (by title), put it on stage, open
    voting, let one phone per score vote, close and (optionally) reveal. ``leave_on``
    ends with that pitch index on stage."""
    moderator_key = served.links["moderator"].rsplit("/", 1)[1]
    with ExitStack() as stack:
        moderator = Socket(
            stack,
            served.url,
            served.code,
            {"type": "hello", "role": "moderator", "key": moderator_key},
        )
        pitch_ids = {p["title"]: p["id"] for p in moderator.welcome["event"]["pitches"]}
        voters = max((len(scores) for scores in ballots.values()), default=0)
        phones = [
            Socket(
                stack,
                served.url,
                served.code,
                {"type": "hello", "token": join_over_http(served.url, served.code, f"Gast {i}")},
            )
            for i in range(voters)
        ]
        seq = 1
        for title, scores in ballots.items():
            pid = pitch_ids[title]
            moderator.send({"type": "goto", "pitch_id": pid})
            moderator.wait("command_ack")
            moderator.send({"type": "open_voting"})
            moderator.wait("command_ack")
            for phone, score in zip(phones, scores, strict=False):
                phone.send({"type": "vote", "pitch_id": pid, "score": score, "seq": seq})
                seq += 1
            for phone, _ in zip(phones, scores, strict=False):
                phone.wait("vote_ack")
            moderator.send({"type": "reveal"} if reveal else {"type": "close_voting"})
            moderator.wait("command_ack")
        if leave_on is not None:
            moderator.send({"type": "goto", "pitch_id": pitch_ids[served.titles[leave_on]]})
            moderator.wait("command_ack")
