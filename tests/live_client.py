"""Async clients for real app processes: join over HTTP, talk the protocol over a socket."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import websockets


async def join_http(base: str, code: str, name: str) -> str:
    """Join through the real form (CSRF cookie + field); returns the device token."""
    async with httpx.AsyncClient(base_url=base) as http:
        page = await http.get(f"/e/{code}")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match
        response = await http.post(
            f"/e/{code}/join",
            data={"name": name, "csrf": match.group(1)},
            headers={"origin": base},
        )
        assert response.status_code == 303, response.text
        token = response.cookies.get(f"ea_{code}")
        assert token
        return token


class LiveClient:
    def __init__(self, base: str, code: str) -> None:
        self.base = base
        self.url = base.replace("http://", "ws://") + f"/e/{code}/ws"
        self.ws: Any = None
        self.inbox: list[dict[str, Any]] = []

    async def connect(self, hello: dict[str, Any]) -> dict[str, Any]:
        self.ws = await websockets.connect(self.url, additional_headers={"origin": self.base})
        await self.send(hello)
        return await self.wait_for(lambda m: m["type"] in ("welcome", "error"))

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        async def next_match() -> dict[str, Any]:
            while True:
                message: dict[str, Any] = json.loads(await self.ws.recv())
                self.inbox.append(message)
                if predicate(message):
                    return message

        return await asyncio.wait_for(next_match(), timeout)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
