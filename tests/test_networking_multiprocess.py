"""Two app processes (with different environments: signing keys live in SQL) on one Redis and
one database: a code shown by one verifies on the other, and survives a restart; the
owner's socket on the first process hears about the exchange made on the second."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import httpx
import pytest

from eventapp.voting.rules import PitchSpec, create_event
from tests.conftest import AppProcess, DatabaseTarget
from tests.network_helpers import decode_svg_qr
from tests.support.phones import LiveClient
from tests.support.servers import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.redis]


class HttpPhone:
    """A phone over real HTTP: its own cookie jar, the join and profile forms."""

    def __init__(self, base: str, code: str) -> None:
        self.http = httpx.Client(base_url=base)
        self.base, self.code = base, code
        self.token = ""
        self.link_path = ""

    def use(self, base: str) -> None:
        """The same phone reaching another process (a load balancer's choice)."""
        self.http.base_url = httpx.URL(base)
        self.base = base

    def csrf(self, path: str) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', self.http.get(path).text)
        assert match
        return match.group(1)

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self.http.post(path, data=data, headers={"origin": self.base})

    def join(self, name: str, email: str) -> None:
        page = f"/e/{self.code}"
        answer = self.post(f"{page}/join", {"name": name, "csrf": self.csrf(page)})
        assert answer.status_code == 303
        self.token = answer.cookies[f"ea_{self.code}"]
        profile = f"{page}/network/profile"
        saved = self.post(
            profile,
            {
                "name": name,
                "email": email,
                "share_email": "on",
                "opt_in": "on",
                "csrf": self.csrf(profile),
            },
        )
        assert saved.status_code == 303, saved.text[:500]


def test_codes_verify_on_every_process_and_notices_cross_processes(
    database_target: DatabaseTarget,
    redis_server: RedisServer,
    app_processes: Callable[..., AppProcess],
) -> None:
    db = database_target.created()
    event = create_event("Two Hosts", [PitchSpec("Smart Parking")], db=db)
    db.close()
    env = database_target.with_redis(redis_server.url, "net")
    a = app_processes(env | {"SECRET_KEY": "secret-of-a"})
    b = app_processes(env | {"SECRET_KEY": "secret-of-b"})
    anna, ben = HttpPhone(a.url, event.code), HttpPhone(b.url, event.code)
    try:
        exchange_across_processes(anna, ben, a, event.code)
        # A restarted process (new random secret) still accepts the code: the signing
        # secret lives in the database, not in the process.
        a.stop()
        c = app_processes(env)
        ben.use(c.url)
        again = ben.http.get(anna.link_path)
        assert again.status_code == 200 and "Anna Schmidt" in again.text
    finally:
        anna.http.close()
        ben.http.close()


def exchange_across_processes(anna: HttpPhone, ben: HttpPhone, a: AppProcess, code: str) -> None:
    anna.join("Anna Schmidt", "anna@stadt.example")
    ben.join("Ben Weber", "ben@sensorik.example")
    link = decode_svg_qr(anna.http.get(f"/e/{code}/network/code.svg").content)
    anna.link_path = f"/e/{code}/n/{link.rsplit('/', 1)[1]}"

    async def scenario() -> dict[str, object]:
        socket = LiveClient(a.url, code)
        await socket.connect({"type": "hello", "token": anna.token})
        path = anna.link_path
        preview = await asyncio.to_thread(ben.http.get, path)
        assert "Anna Schmidt" in preview.text, preview.text[:500]
        done = await asyncio.to_thread(ben.post, path, {"csrf": ben.csrf(path)})
        assert done.status_code == 303, done.text[:500]
        notice = await socket.wait_for(lambda m: m["type"] == "contact_exchanged")
        await socket.close()
        return notice

    notice = asyncio.run(scenario())
    assert notice["name"] == "Ben Weber"
    assert "ben@sensorik.example" not in str(notice)
    assert "anna@stadt.example" in ben.http.get(f"/e/{code}/network/contacts").text
