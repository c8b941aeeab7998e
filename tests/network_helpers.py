"""Phones for networking tests: each keeps its own cookies on one shared TestClient."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx2  # starlette.testclient answers with httpx2 responses
import zxingcpp
from PIL import Image, ImageDraw
from starlette.testclient import TestClient

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.voting import queries
from tests.helpers import ORIGIN, join

CSRF = "n" * 32


class Phone:
    """One attendee's phone: joins through the real form, then talks HTTP as them."""

    def __init__(
        self, client: TestClient, db: Database, event: Event, name: str, organization: str = ""
    ) -> None:
        self.client, self.event = client, event
        self.token = join(client, event.code, name, organization)
        attendee = db.read(queries.attendee_by_token, event.id, self.token)
        assert attendee is not None and attendee.id is not None
        self.id: int = attendee.id
        self.name = name
        self.net = f"/e/{event.code}/network"

    def _use(self) -> None:
        self.client.cookies.clear()
        self.client.cookies.set(f"ea_{self.event.code}", self.token)
        self.client.cookies.set("ea_csrf", CSRF)

    def get(self, path: str, *, lang: str = "en") -> httpx2.Response:
        self._use()
        return self.client.get(path, headers={"accept-language": lang})

    def post(self, path: str, data: dict[str, Any] | None = None) -> httpx2.Response:
        self._use()
        return self.client.post(
            path,
            data={"csrf": CSRF, **(data or {})},
            headers={**ORIGIN, "accept-language": "en"},
            follow_redirects=False,
        )

    def save_profile(self, **fields: Any) -> httpx2.Response:
        data: dict[str, Any] = {"name": self.name, "opt_in": "on", **fields}
        return self.post(f"{self.net}/profile", data)

    def code_link(self) -> str:
        return decode_svg_qr(self.get(f"{self.net}/code.svg").content)


def decode_svg_qr(svg: bytes) -> str:
    """Paint the SVG's unit squares ("Mx,yHx+1Vy+1Hxz") and decode them as a QR code."""
    size = int(re.search(rb'viewBox="0 0 (\d+) ', svg).group(1))
    scale = 8
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    for x, y in re.findall(rb"M(\d+),(\d+)H", svg):
        left, top = int(x) * scale, int(y) * scale
        draw.rectangle((left, top, left + scale - 1, top + scale - 1), fill=0)
    decoded = zxingcpp.read_barcodes(image)
    assert len(decoded) == 1
    return str(decoded[0].text)


def set_topics(db: Database, event: Event, topics: list[str]) -> None:
    def tx(session: Any) -> None:
        row = session.get(Event, event.id)
        row.topics = json.dumps(topics)
        session.add(row)
        session.commit()

    db.call(tx)
