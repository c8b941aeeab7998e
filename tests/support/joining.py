"""Joining an event over HTTP as a new phone: the join page (CSRF cookie and field), then
the form. Tests, the benchmark and the drills all join through this one path."""

from __future__ import annotations

import asyncio
import re

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "join form has no csrf field"
    return match.group(1)


async def join_with(http: httpx.AsyncClient, code: str, name: str) -> str:
    """Join through the real form (CSRF cookie + field), as a new phone; returns the token.
    ``http`` may be reused for the next phone: its cookies are cleared first."""
    http.cookies.clear()
    page = await http.get(f"/e/{code}")
    match = CSRF.search(page.text)
    if match is None:
        raise RuntimeError(f"join page without csrf field: {page.status_code}")
    response = await http.post(
        f"/e/{code}/join",
        data={"name": name, "csrf": match.group(1)},
        headers={"origin": str(http.base_url).rstrip("/")},
    )
    token = response.cookies.get(f"ea_{code}")
    if response.status_code != 303 or not token:
        raise RuntimeError(f"join refused: {response.status_code} {response.text[-500:]}")
    return token


async def join_http(base: str, code: str, name: str) -> str:
    """One new phone joins the app at ``base``, with a client of its own."""
    async with httpx.AsyncClient(base_url=base) as http:
        return await join_with(http, code, name)


async def join_many(base: str, code: str, count: int, concurrency: int = 32) -> list[str]:
    """Join ``count`` phones over HTTP, ``concurrency`` at a time (one client each)."""
    tokens: list[str] = []
    counter = iter(range(count))

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for i in counter:
                tokens.append(await join_with(http, code, f"Phone {i}"))

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return tokens
