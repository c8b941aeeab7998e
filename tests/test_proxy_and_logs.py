"""Proxy and logs: the Procfile's own web command, run for real, keeps keys and tokens out
of its access log; forwarded headers count only from trusted proxies; links use the Host
header only when it is allowed."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from eventapp.app import create_app
from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.settings import Settings
from eventapp.voting.rules import PitchSpec, create_event
from tests.conftest import ROOT
from tests.support.seeding import first_stage
from tests.support.servers import free_port


def procfile_command(kind: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return line.partition(":")[2].strip()
    raise AssertionError(f"no {kind} line in the Procfile")


def test_procfile_migrates_on_release_and_trusts_only_loopback() -> None:
    assert procfile_command("release") == "python -m eventapp migrate"
    web = procfile_command("web")
    assert "TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1}" in web
    # `serve` runs uvicorn with the app's own header deadline and size cap (README,
    # "Security"), proxy headers off in uvicorn (the app reads them from TRUSTED_PROXIES
    # only) and a 10 s graceful shutdown.
    assert "python -m eventapp serve" in web and "forwarded-allow-ips" not in web


@pytest.mark.slow
def test_access_log_of_a_real_process_holds_no_key_or_token(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'logs.db'}"
    db = Database(db_url)
    db.create_all()
    event = create_event("Log Forum", [PitchSpec("Smart Parking")], db=db)
    db.close()
    port = free_port()
    log = tmp_path / "access.log"
    env = {**os.environ, "PORT": str(port), "DATABASE_URL": db_url, "PATH": os.environ["PATH"]}
    env.pop("REDIS_URL", None)
    env["ALLOWED_HOSTS"] = "vote.example.org"
    # The Procfile runs `uvicorn` from PATH: the one of this interpreter's environment.
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            ["bash", "-c", "exec env " + procfile_command("web")],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    personal = secrets.token_urlsafe(18)
    secret_query = secrets.token_hex(12)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        code = event.code
        urls = [
            f"/e/{code}/organizer/{event.organizer_key}",
            f"/e/{code}/organizer/{event.organizer_key}/export/votes.csv",
            f"/e/{code}/organizer/{event.organizer_key}/report",
            f"/e/{code}/moderator/{first_stage(db, event).moderator_key}",
            f"/e/{code}/projector/{first_stage(db, event).projector_key}",
            f"/e/{code}/n/{personal}",
            f"/e/{code}?key={secret_query}",
        ]
        statuses = [httpx.get(base + url).status_code for url in urls]
        assert statuses[:5] == [200] * 5
        # Behind the (loopback) proxy: the forwarded scheme and an allowed Host make links.
        console = httpx.get(
            base + urls[0],
            headers={"Host": "vote.example.org", "X-Forwarded-Proto": "https"},
        ).text
        assert f"https://vote.example.org/e/{code}/projector/" in console
        forged = httpx.get(base + urls[0], headers={"Host": "evil.example"}).text
        assert "evil.example" not in forged
        assert f"http://127.0.0.1:{port}/e/{code}/projector/" in forged
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    text = log.read_text()
    assert f"/e/{code}/organizer/*** HTTP/1.1" in text
    assert f"/e/{code}/n/*** HTTP/1.1" in text
    for secret in (
        event.organizer_key,
        first_stage(db, event).moderator_key,
        first_stage(db, event).projector_key,
        personal,
        secret_query,
    ):
        assert secret not in text
    assert len(re.findall(r'"GET /e/', text)) >= len(urls)


def links_in(client: TestClient, event: Event, **headers: str) -> str:
    page = client.get(f"/e/{event.code}/organizer/{event.organizer_key}", headers=headers)
    assert page.status_code == 200
    found = re.search(r'[a-z]+://[^"<\s]+/e/' + event.code + "/projector/", page.text)
    assert found, page.text[:500]
    return found.group(0)


@pytest.mark.parametrize(
    ("changes", "headers", "expected"),
    [
        # Nothing configured: neither the Host nor a forwarded scheme is believed.
        ({}, {"host": "evil.example", "x-forwarded-proto": "https"}, "http://testserver"),
        # An allowed Host is used; forwarded headers from an untrusted peer are not.
        (
            {"allowed_hosts": ("vote.example.org",), "trusted_proxies": ("10.9.9.9",)},
            {"host": "vote.example.org", "x-forwarded-proto": "https"},
            "http://vote.example.org",
        ),
        # PUBLIC_URL wins over everything.
        (
            {"public_url": "https://events.example.com/"},
            {"host": "evil.example"},
            "https://events.example.com",
        ),
    ],
)
def test_links_come_from_public_url_or_an_allowed_host(
    db: Database, event: Event, changes: dict[str, object], headers: dict[str, str], expected: str
) -> None:
    settings = replace(Settings(database_url="unused", namespace="links"), **changes)  # type: ignore[arg-type]
    with TestClient(create_app(settings, database=db), base_url="http://testserver") as client:
        link = links_in(client, event, **headers)
    assert link == f"{expected}/e/{event.code}/projector/"
