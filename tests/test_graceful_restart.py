"""Graceful restarts: SIGTERM to one of two processes in the middle of a vote burst. Its
phones get close code 1012, reconnect (as the load balancer would send them) to the
other process and resend what was not acknowledged; every acknowledged vote is in SQL,
none counts twice, and the projector equals SQL. The process exits within its bound."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from eventapp.core.db import Database
from tests.conftest import ROOT, DatabaseTarget
from tests.support.phones import Phone, Screen, Stats, connect_all
from tests.support.seeding import first_stage, new_event, seed_attendees, stored_votes
from tests.support.servers import RedisServer, free_port
from tests.test_startup import wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.redis]
PHONES = 120
VOTES_EACH = 3
BURST_SECONDS = 4.0
GRACE = 10


def start(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """As the Procfile runs it: 1012 on SIGTERM, at most GRACE s for what is in flight."""
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "eventapp.app:app_from_environ",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-proxy-headers",
        "--timeout-graceful-shutdown",
        str(GRACE),
        "--ws",
        "websockets-sansio",
        "--log-level",
        "warning",
    ]
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    wait_ready(port, proc, log)
    return proc


def test_rolling_restart_during_a_burst_loses_and_doubles_nothing(
    redis_server: RedisServer, database_target: DatabaseTarget, tmp_path: Path
) -> None:
    db = database_target.created()
    event = new_event(db, pitches=2, name="Rolling")
    assert event.id is not None
    tokens = [t for _i, t in seed_attendees(db, event.id, PHONES)]
    env = {**os.environ, **database_target.env(), "REDIS_URL": redis_server.url}
    env["EVENTAPP_NAMESPACE"] = f"roll-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    procs = [start(p, env, tmp_path / f"app-{i}.log") for i, p in enumerate(ports)]
    try:
        figures = asyncio.run(scenario(event.code, event, tokens, ports, procs[0], db))
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        db.close()
    print(figures)
    # uvicorn finishes its graceful shutdown, then re-raises the SIGTERM it caught.
    assert figures["exit_code"] in (0, -signal.SIGTERM)
    assert float(figures["exit_seconds"]) < GRACE + 5  # type: ignore[arg-type]
    assert figures["close_codes"] == {1012: PHONES // 2}
    assert figures["reconnected"] == PHONES // 2
    assert figures["unconfirmed"] == 0
    assert figures["lost_acked"] == 0
    assert figures["stored_rows"] == PHONES  # one row per phone: none counted twice
    assert figures["final_equals_last_sent"] == PHONES
    assert figures["projector_exact"] is True


async def scenario(
    code: str,
    event: object,
    tokens: list[str],
    ports: list[int],
    leaving: subprocess.Popen[bytes],
    db: Database,
) -> dict[str, object]:
    a, b = (f"ws://127.0.0.1:{p}/e/{code}/ws" for p in ports)
    origin_b = f"http://127.0.0.1:{ports[1]}"
    stats = Stats()
    phones = [
        Phone(a if i % 2 == 0 else b, f"http://127.0.0.1:{ports[i % 2]}", t, stats, ident=i)
        for i, t in enumerate(tokens)
    ]
    on_a = phones[::2]
    stage = first_stage(db, event)  # type: ignore[arg-type]
    moderator = Screen(b, origin_b, "moderator", stage.moderator_key)
    projector = Screen(b, origin_b, "projector", stage.projector_key)
    await moderator.connect()
    await projector.connect()
    connected, failures = await connect_all(phones, 60)
    assert connected == PHONES, failures[:3]
    pitch = int(moderator.welcome["event"]["pitches"][0]["id"])
    await moderator.command({"type": "open_voting", "pitch_id": pitch})

    close_codes: Counter[int] = Counter()
    acked_before: dict[Phone, tuple[int, int]] = {}
    moved: list[Phone] = []
    exit_info: dict[str, float | int] = {}

    async def follow(phone: Phone) -> None:
        """The phone's client: on close, reconnect (to the process the balancer picks)."""
        while phone._reader is None or not phone._reader.done():
            await asyncio.sleep(0.02)
        assert phone.ws is not None
        close_codes[phone.ws.close_code or 0] += 1
        phone.ws = None
        await asyncio.sleep(0.25 + random.random() * 0.5)  # live.js: 1012 → now, jittered
        phone.ws_url, phone.origin = b, origin_b
        await phone.connect()
        moved.append(phone)

    async def sigterm() -> None:
        for p in on_a:
            if pitch in p.acked:
                acked_before[p] = p.acked[pitch]
        began = time.perf_counter()
        leaving.send_signal(signal.SIGTERM)
        exit_info["exit_code"] = await asyncio.to_thread(leaving.wait, GRACE + 10)
        exit_info["exit_seconds"] = round(time.perf_counter() - began, 2)

    followers = [asyncio.create_task(follow(p)) for p in on_a]
    rng = random.Random(7)
    schedule = sorted((rng.uniform(0, BURST_SECONDS), p) for p in phones for _ in range(VOTES_EACH))
    t0 = time.perf_counter()
    stopper: asyncio.Task[None] | None = None
    for offset, phone in schedule:
        if stopper is None and offset >= 0.4 * BURST_SECONDS:
            stopper = asyncio.create_task(sigterm())
        delay = t0 + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await phone.vote(pitch, rng.randint(1, 5))
    assert stopper is not None
    await stopper
    await asyncio.wait_for(asyncio.gather(*followers), 30)

    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and any(p.pending for p in phones):
        await asyncio.sleep(0.05)
    unconfirmed = sum(1 for p in phones if p.pending)

    stored = await asyncio.to_thread(stored_votes, db, pitch)
    lost = [
        p
        for p in phones
        if pitch in p.acked and stored.get(p.attendee_id or 0, (0, -1))[1] < p.acked[pitch][1]
    ]
    lost_before = [
        p
        for p, (_s, seq) in acked_before.items()
        if stored.get(p.attendee_id or 0, (0, -1))[1] < seq
    ]
    final_ok = sum(
        1 for p in phones if stored.get(p.attendee_id or 0) == (p.acked[pitch][0], p.seq)
    )
    counts = Counter(score for score, _ in stored.values())
    expected = {str(s): counts.get(s, 0) for s in range(1, 6)}
    shown = await projector.wait_for(
        lambda m: ((m.get("current") or {}).get("summary") or {}).get("distribution") == expected,
        10,
    )
    await moderator.close()
    await projector.close()
    for p in phones:
        p.abort()
    return {
        **exit_info,
        "close_codes": dict(close_codes),
        "reconnected": len(moved),
        "acked_before_sigterm": len(acked_before),
        "resent": stats.resent,
        "unconfirmed": unconfirmed,
        "lost_acked": len(lost) + len(lost_before),
        "stored_rows": len(stored),
        "final_equals_last_sent": final_ok,
        "projector_exact": shown is not None,
    }
