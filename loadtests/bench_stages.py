"""Many stages at once (issue 15): S stages × M phones of one conference against the real
app, on one process or several on one Redis.

    python -m loadtests.bench_stages --stages 20 --phones-per-stage 250
    python -m loadtests.bench_stages --stages 20 --phones-per-stage 250 --procs 2

Every stage has its own moderator and projector socket; phones are seeded in SQL, each
on its stage (spread over the processes round-robin). It measures, per stage, how long
"voting opened" takes to reach every phone of that stage when all stages' moderators open
voting at the same moment (several rounds), then a vote burst in which every phone votes
once on its stage's pitch: the ack p50/p99, and that every projector's count equals SQL.
The single-stage targets (README "Load and drills") are the yardstick: "voting opened"
to all phones and ack p99 within them. Figures are printed and written as JSON to
loadtests/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import uvloop

from eventapp.core.db import Database
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, StageSpec, create_event
from loadtests.harness import RESULTS, ms, percentile
from tests.support.phones import Phone, Screen, Stats, connect_all
from tests.support.seeding import seed_attendees
from tests.support.servers import Servers, app_env, raise_fd_limit

Json = dict[str, Any]


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", type=int, default=20)
    parser.add_argument("--phones-per-stage", type=int, default=250)
    parser.add_argument("--pitches-per-stage", type=int, default=4)
    parser.add_argument("--procs", type=int, default=1, help="app processes (2+: Redis)")
    parser.add_argument("--rounds", type=int, default=3, help="'voting opened' rounds")
    parser.add_argument("--burst-seconds", type=float, default=5.0)
    parser.add_argument("--connect-concurrency", type=int, default=200)
    return parser.parse_args()


async def _open_everywhere(
    moderators: list[Screen], pitches: list[int], stats: Stats, per_stage: list[int]
) -> list[float | None]:
    """All stages open voting at once; per stage, the time until all its phones saw it."""
    for pitch in pitches:
        stats.opened[pitch] = []
    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            m.command({"type": "open_voting", "pitch_id": p})
            for m, p in zip(moderators, pitches, strict=True)
        )
    )
    deadline = t0 + 20
    while time.perf_counter() < deadline and any(
        len(stats.opened[p]) < n for p, n in zip(pitches, per_stage, strict=True)
    ):
        await asyncio.sleep(0.01)
    return [
        (max(stats.opened[p]) - t0) if len(stats.opened[p]) >= n else None
        for p, n in zip(pitches, per_stage, strict=True)
    ]


async def run(args: argparse.Namespace, servers: Servers) -> Json:
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{servers.workdir / 'st.db'}"
    database_url = Settings.from_environ({"DATABASE_URL": database_url}).database_url
    db = Database(database_url)
    db.migrate()
    redis_url = servers.start_redis().url if args.procs > 1 else None
    env = app_env(database_url, redis_url, f"stages-{uuid.uuid4().hex[:8]}")
    # The servers' own ack times (receipt to ack, /metrics) tell server from client delay.
    env["METRICS_TOKEN"] = METRICS_TOKEN
    apps = [servers.start_app(env) for _ in range(args.procs)]
    event = create_event(
        "Many stages",
        [],
        db=db,
        live_results=True,
        language="en",
        stages=[
            StageSpec(
                f"Stage {s + 1}",
                [PitchSpec(f"Pitch {s + 1}.{i + 1}") for i in range(args.pitches_per_stage)],
            )
            for s in range(args.stages)
        ],
    )
    assert event.id is not None
    states = db.read(queries.load_states, event.id)
    stages = db.read(queries.stages_of, event.id)
    m = args.phones_per_stage
    seeded = await asyncio.to_thread(seed_attendees, db, event.id, args.stages * m)
    urls = [f"{a.ws_base}/e/{event.code}/ws" for a in apps]
    stats = Stats()
    phones: list[list[Phone]] = []
    n = 0
    for state in states:
        mine = []
        for _aid, token in seeded[len(phones) * m : (len(phones) + 1) * m]:
            url = urls[n % len(urls)]
            mine.append(
                Phone(url, apps[n % len(apps)].url, token, stats, ident=n, stage=state.stage_id)
            )
            n += 1
        phones.append(mine)
    moderators = [
        Screen(urls[i % len(urls)], apps[i % len(apps)].url, "moderator", s.moderator_key)
        for i, s in enumerate(stages)
    ]
    projectors = [
        Screen(
            urls[(i + 1) % len(urls)], apps[(i + 1) % len(apps)].url, "projector", s.projector_key
        )
        for i, s in enumerate(stages)
    ]
    for screen in (*moderators, *projectors):
        await screen.connect()
    t0 = time.perf_counter()
    everyone = [p for group in phones for p in group]
    connected, failures = await connect_all(everyone, args.connect_concurrency)
    connect_s = time.perf_counter() - t0
    print(f"  {connected}/{len(everyone)} phones on {args.stages} stages in {connect_s:.1f} s")
    per_stage = [sum(1 for p in group if p.ws is not None) for group in phones]

    # ------------------------------------------------------------ "voting opened", all stages
    rounds: list[list[float | None]] = []
    for r in range(args.rounds):
        await asyncio.sleep(1.0)
        pitches = [s.pitches[(r + 1) % len(s.pitches)].id for s in states]
        rounds.append(await _open_everywhere(moderators, pitches, stats, per_stage))
    await asyncio.sleep(1.0)
    vote_pitches = [s.pitches[0].id for s in states]
    rounds.append(await _open_everywhere(moderators, vote_pitches, stats, per_stage))
    times = [t for rnd in rounds for t in rnd if t is not None]
    missed = sum(1 for rnd in rounds for t in rnd if t is None)

    # ------------------------------------------------------------ vote burst, every phone
    rng = random.Random(15)
    schedule = sorted(
        (rng.uniform(0, args.burst_seconds), phone, pitch)
        for group, pitch in zip(phones, vote_pitches, strict=True)
        for phone in group
        if phone.ws is not None
    )
    lags: list[float] = []
    probe = asyncio.create_task(_loop_lag(lags))
    t0 = time.perf_counter()
    for at, phone, pitch in schedule:
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await phone.vote(pitch, rng.randint(1, 5))
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and any(
        pitch in phone.pending for _at, phone, pitch in schedule
    ):
        await asyncio.sleep(0.05)
    unacked = sum(1 for _at, phone, pitch in schedule if pitch in phone.pending)
    latency = list(stats.ack_latency)
    probe.cancel()
    server_acks = [await _server_ack_p99(app.url) for app in apps]

    # ------------------------------------------------------------ every projector against SQL
    exact = 0
    for projector, pitch in zip(projectors, vote_pitches, strict=True):
        sql = db.read(queries.score_counts, pitch)
        want = sum(sql.values())
        shown = await projector.wait_for(
            lambda msg, p=pitch, w=want: (
                (msg.get("current") or {}).get("pitch_id") == p
                and (msg.get("current") or {}).get("votes_in") == w
            ),
            15,
        )
        exact += shown is not None
    acked = len(schedule) - unacked
    stored = sum(sum(db.read(queries.score_counts, p).values()) for p in vote_pitches)
    for screen in (*moderators, *projectors):
        await screen.close()
    for phone in everyone:
        await phone.drop()
    db.close()
    return {
        "setup": {
            "stages": args.stages,
            "phones_per_stage": m,
            "procs": args.procs,
            "redis": bool(redis_url),
            "database": database_url.split(":")[0],
        },
        "connect": {
            "connected": connected,
            "failures": failures[:5],
            "seconds": round(connect_s, 1),
        },
        "voting_opened": {
            "stage_rounds": len(times) + missed,
            "missed": missed,
            "to_all_phones_of_a_stage_ms_p50": ms(percentile(times, 50)),
            "to_all_phones_of_a_stage_ms_max": ms(max(times) if times else None),
        },
        "burst": {
            "votes": len(schedule),
            "acked": acked,
            "stored_in_sql": stored,
            "ack_p50_ms": ms(percentile(latency, 50)),
            "ack_p99_ms": ms(percentile(latency, 99)),
            # Receipt to ack inside each app process (the bucket bound that holds 99 %).
            "server_ack_p99_ms_at_most": server_acks,
            # This (one) client process's own event-loop lag during the burst.
            "client_loop_lag_p99_ms": ms(percentile(lags, 99)),
            "client_loop_lag_max_ms": ms(max(lags) if lags else None),
            "projectors_exact": f"{exact}/{len(projectors)}",
        },
        "errors": stats.errors,
    }


METRICS_TOKEN = "bench-stages-metrics"


async def _loop_lag(lags: list[float], every: float = 0.01) -> None:
    """How late this client's event loop wakes a 10 ms timer (until cancelled)."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(every)
        lags.append(max(0.0, loop.time() - start - every))


async def _server_ack_p99(url: str) -> float | None:
    """The smallest ``eventapp_vote_ack_seconds`` bucket bound holding 99 % of the acks,
    in ms (None: no metrics)."""

    def fetch() -> str:
        request = urllib.request.Request(
            f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.read().decode())

    text = await asyncio.to_thread(fetch)
    buckets = [
        (float(m.group(1)), float(m.group(2)))
        for m in re.finditer(r'eventapp_vote_ack_seconds_bucket\{le="([^"+]+)"\} (\S+)', text)
    ]
    total = max((n for _le, n in buckets), default=0.0)
    for le, n in sorted(buckets):
        if total and n >= 0.99 * total:
            return le * 1000
    return None


def main() -> None:
    args = _args()
    raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp, Servers(Path(tmp)) as servers:
        result = uvloop.run(run(args, servers))
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    name = f"stages-{args.stages}x{args.phones_per_stage}-p{args.procs}-{int(time.time())}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
