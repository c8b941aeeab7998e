"""A ballot-stuffing scenario against real app processes (issue 12): honest phones and
fake attendees vote, the organiser flags and removes the fakes through the console, and
every place that shows a result is read back."""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass
from typing import Any

import httpx

from tests.live_client import LiveClient

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
HONEST = 20
FAKES = 40


def honest_scores(pitch_index: int, i: int) -> int:
    # At most 4 honest phones give one pitch the same score: no crowd to flag.
    return (i % 5) + 1 if pitch_index == 0 else (i % 4) + 1


async def join(base: str, code: str, name: str, *, load_vote_page: bool) -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        page = await http.get(f"/e/{code}")
        match = CSRF.search(page.text)
        assert match, page.text[:500]
        response = await http.post(
            f"/e/{code}/join",
            data={"name": name, "csrf": match.group(1)},
            headers={"origin": base},
        )
        assert response.status_code == 303, html.unescape(response.text)[-800:]
        token = response.cookies.get(f"ea_{code}")
        assert token
        if load_vote_page:
            assert (await http.get(f"/e/{code}")).status_code == 200
        return token


class Console:
    """The organiser's console over HTTP, with its cross-site token."""

    def __init__(self, base: str, code: str, key: str) -> None:
        self.base, self.root = base, f"/e/{code}/organizer/{key}"
        self.http = httpx.AsyncClient(base_url=base, timeout=30)

    async def post(self, path: str, data: dict[str, Any]) -> str:
        page = await self.http.get(self.root)
        match = CSRF.search(page.text)
        assert match
        response = await self.http.post(
            self.root + path,
            data={"csrf": match.group(1), **data},
            headers={"origin": self.base, "accept-language": "en"},
            follow_redirects=True,
        )
        return html.unescape(response.text)

    async def get_json(self, path: str) -> Any:
        response = await self.http.get(self.root + path)
        assert response.status_code == 200, response.text[:300]
        return response.json()

    async def close(self) -> None:
        await self.http.aclose()


@dataclass
class Outcome:
    pitch_ids: list[int]
    flagged: dict[str, list[int]]
    fake_ids: set[int]
    honest_ids: set[int]
    preview_text: str
    screen: dict[str, Any]
    votes_export: dict[str, Any]
    raw_export: dict[str, Any]


async def _vote(phone: LiveClient, pitch_id: int, score: int) -> None:
    await phone.send({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": 1})
    await phone.wait_for(lambda m: m["type"] == "vote_ack" and m["pitch_id"] == pitch_id)


async def run(bases: list[str], code: str, keys: dict[str, str]) -> Outcome:
    """bases: app processes; phones alternate between them, screens use the last one,
    the console the first."""
    screen_base = bases[-1]
    moderator, projector = LiveClient(screen_base, code), LiveClient(screen_base, code)
    await moderator.connect({"type": "hello", "role": "moderator", "key": keys["moderator"]})
    await projector.connect({"type": "hello", "role": "projector", "key": keys["projector"]})
    honest_tokens = [
        await join(bases[i % len(bases)], code, f"Honest {i}", load_vote_page=True)
        for i in range(HONEST)
    ]
    fake_tokens = await asyncio.gather(
        *(join(bases[i % len(bases)], code, f"Bot {i}", load_vote_page=False) for i in range(FAKES))
    )
    phones = []
    for i, token in enumerate([*honest_tokens, *fake_tokens]):
        phone = LiveClient(bases[i % len(bases)], code)
        await phone.connect({"type": "hello", "token": token})
        phones.append(phone)
    honest, fakes = phones[:HONEST], phones[HONEST:]

    pitch_ids: list[int] = []
    for index in range(2):
        await moderator.send({"type": "next"})
        await moderator.send({"type": "open_voting"})
        state = await moderator.wait_for(
            lambda m: (
                m["type"] == "state"
                and any(p["state"] == "open" for p in m["event"]["pitches"])
                and len(m["event"]["pitches"]) > len(pitch_ids)
                and m["event"]["current_pitch_id"] not in pitch_ids
            )
        )
        pitch_id = int(state["event"]["current_pitch_id"])
        pitch_ids.append(pitch_id)
        for i, phone in enumerate(honest):
            await _vote(phone, pitch_id, honest_scores(index, i))
        # The script: every fake gives 5, all at once.
        await asyncio.gather(*(_vote(phone, pitch_id, 5) for phone in fakes))
        await moderator.send({"type": "close_voting"})

    console = Console(bases[0], code, keys["organizer"])
    rows = await console.get_json("/attendees.json")
    flagged: dict[str, list[int]] = {}
    for row in rows:
        for flag in row["flags"]:
            flagged.setdefault(flag, []).append(row["id"])
    fake_ids = {r["id"] for r in rows if r["name"].startswith("Bot")}
    honest_ids = {r["id"] for r in rows if r["name"].startswith("Honest")}
    preview = await console.post("/attendees/preview", {"flag": "never_loaded", "reason": "bots"})
    chosen = re.findall(r'<input type="hidden" name="attendee" value="(\d+)">', preview)
    await console.post(
        "/attendees/remove", {"attendee": chosen, "reason": "script from one address"}
    )

    def exact(m: dict[str, Any]) -> bool:
        if m["type"] != "screen":
            return False
        board = {e["pitch_id"]: e for e in m["leaderboard"]}
        return all(board.get(p, {}).get("n") == HONEST for p in pitch_ids)

    screen = await projector.wait_for(exact, timeout=20)
    votes_export = await console.get_json("/export/votes.json")
    raw_export = await console.get_json("/export/raw-votes.json")
    await console.close()
    for client in (moderator, projector, *phones):
        await client.close()
    return Outcome(
        pitch_ids, flagged, fake_ids, honest_ids, preview, screen, votes_export, raw_export
    )
