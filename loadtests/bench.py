"""The hall-sized benchmark: N phones on asyncio WebSocket clients against the real app,
and in the same run against the bare-websockets floor (loadtests/floor.py).

    python -m loadtests.bench --phones 10000
    python -m loadtests.bench --phones 2000 --procs 2          # two processes, one Redis
    python -m loadtests.bench --phones 2000 --workers 2        # uvicorn --workers 2
    DATABASE_URL=postgresql://... python -m loadtests.bench --phones 5000

It starts everything itself on 127.0.0.1 (app processes, redis-server when asked or
needed, the floor), creates the event, joins ``--http-joins`` phones through the real
join form (the join rate) and seeds the rest in SQL, connects them, and measures:
memory per connection, the "voting opened" broadcast, a vote burst, sustained votes,
ack and vote-to-projector latency, event-loop lag, and votes lost (acked vs SQL vs the
projector). It prints a table with the floor's figures and the ratios, and writes JSON
to loadtests/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import uvloop

from eventapp.core.db import Database
from eventapp.settings import Settings
from loadtests.harness import RESULTS, ms, percentile
from tests.support.joining import join_many
from tests.support.phones import Phone, Screen, Stats, connect_all, vote_to_screen
from tests.support.seeding import first_stage, new_event, seed_attendees, stored_votes
from tests.support.servers import (
    ROOT,
    AppServer,
    Servers,
    app_env,
    free_port,
    raise_fd_limit,
    tree_rss,
    wait_for_port,
)

Json = dict[str, Any]


@dataclass
class Target:
    """What a run talks to: the app (one or more processes) or the floor."""

    name: str
    ws_urls: list[str]  # phones are spread over these, round-robin
    origin: str
    tokens: list[str]
    moderator_key: str
    projector_key: str
    pitch_ids: list[int]
    rss: Any  # () -> bytes
    cpu: Any  # () -> seconds
    db: Database | None = None
    pid: int | None = None  # the process py-spy attaches to (--profile)


async def run_phases(target: Target, args: argparse.Namespace) -> Json:
    out: Json = {"target": target.name}
    stats = Stats()
    phones = [
        Phone(
            target.ws_urls[i % len(target.ws_urls)],
            # Each process is its own origin (host:port), as a browser on it would send.
            origin_of(target.ws_urls[i % len(target.ws_urls)]),
            token,
            stats,
            ident=i,
            deflate=not args.no_deflate,
        )
        for i, token in enumerate(target.tokens)
    ]
    projector = Screen(target.ws_urls[0], target.origin, "projector", target.projector_key)
    moderator = Screen(target.ws_urls[0], target.origin, "moderator", target.moderator_key)
    await moderator.connect()
    await projector.connect()

    # ------------------------------------------------------------ connect
    await asyncio.sleep(1.0)
    rss_before = target.rss()
    started = time.perf_counter()
    connected, failures = await connect_all(phones, args.connect_concurrency)
    took = time.perf_counter() - started
    await asyncio.sleep(2.0)  # let allocations settle before reading memory
    rss_after = target.rss()
    out["connect"] = {
        "phones": len(phones),
        "connected": connected,
        "failures": failures[:5],
        "seconds": round(took, 2),
        "per_second": round(connected / took, 1),
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_after_mib": round(rss_after / 2**20, 1),
        "kib_per_connection": round((rss_after - rss_before) / max(connected, 1) / 1024, 1),
    }
    print(
        f"  [{target.name}] {connected}/{len(phones)} phones connected in {took:.1f} s, "
        f"server RSS {rss_after / 2**20:.0f} MiB",
        flush=True,
    )

    # ------------------------------------------------------------ "voting opened" broadcast
    vote_pitch = target.pitch_ids[0]
    others = target.pitch_ids[1:] or target.pitch_ids
    rounds: list[Json] = []
    spy = None
    if args.profile == "broadcast":
        spy = start_spy(target, "broadcast", 1.5 * (args.broadcast_rounds + 1) + 2)
    sequence = [others[r % len(others)] for r in range(args.broadcast_rounds)] + [vote_pitch]
    for pitch in sequence:
        await asyncio.sleep(0.5)
        stats.opened[pitch] = []
        t0 = time.perf_counter()
        await moderator.command({"type": "open_voting", "pitch_id": pitch})
        deadline = t0 + 15
        while len(stats.opened[pitch]) < connected and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        got = [t - t0 for t in stats.opened[pitch]]
        rounds.append(
            {"reached": len(got), "all_s": max(got) if got else None, "p50_s": percentile(got, 50)}
        )
    all_times = [r["all_s"] for r in rounds if r["all_s"] is not None]
    out["broadcast"] = {
        "rounds": len(rounds),
        "reached_all": all(r["reached"] == connected for r in rounds),
        "to_all_ms_median": ms(percentile(all_times, 50)),
        "to_all_ms_max": ms(max(all_times) if all_times else None),
        "p50_ms_median": ms(percentile([r["p50_s"] for r in rounds if r["p50_s"]], 50)),
    }
    print(
        f"  [{target.name}] voting opened reached all in "
        f"{out['broadcast']['to_all_ms_median']} ms (median of {len(rounds)})",
        flush=True,
    )

    # ------------------------------------------------------------ lag probe, in its own process
    probe_seconds = args.burst_seconds + args.sustained_seconds + 6
    probe = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtests.probe",
            target.ws_urls[0],
            "--seconds",
            str(probe_seconds),
            "--hello",
            json.dumps({"type": "hello", "role": "projector", "key": target.projector_key}),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    if args.profile == "votes":
        spy = start_spy(target, "votes", probe_seconds)
    await asyncio.sleep(1.0)

    # ------------------------------------------------------------ vote burst
    rng = random.Random(7)
    stats.measured_pitch = vote_pitch
    voting = [p for p in phones if p.ws is not None]
    voters = rng.sample(voting, min(args.votes, len(voting)))
    schedule = sorted((rng.uniform(0, args.burst_seconds), p) for p in voters)
    cpu0 = target.cpu()
    t0 = time.perf_counter()
    for at, phone in schedule:
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await phone.vote(vote_pitch, rng.randint(1, 5))
    sent_done = time.perf_counter()
    await wait_acked(voters, 30)
    burst_lat = list(stats.ack_latency)
    out["burst_slow_acks"] = slow_acks(stats, t0)
    last_ack = max(stats.first_acks) if stats.first_acks else time.perf_counter()
    unacked = sum(1 for p in voters if vote_pitch in p.pending)
    out["burst"] = {
        "votes": len(voters),
        "window_s": args.burst_seconds,
        "send_s": round(sent_done - t0, 2),
        "acked": len(voters) - unacked,
        "throughput_per_s": round((len(voters) - unacked) / max(last_ack - t0, 1e-9), 1),
        "ack_p50_ms": ms(percentile(burst_lat, 50)),
        "ack_p99_ms": ms(percentile(burst_lat, 99)),
        "ack_max_ms": ms(max(burst_lat) if burst_lat else None),
        "server_cpu_s": round(target.cpu() - cpu0, 2),
    }
    shown = await projector.wait_for(
        lambda m: (
            (m.get("current") or {}).get("pitch_id") == vote_pitch
            and (m.get("current") or {}).get("votes_in", 0) >= len(stats.first_acks)
        ),
        10,
    )
    v2p = vote_to_screen(stats.first_acks, projector.screens, vote_pitch)
    out["vote_to_projector"] = {
        "samples": len(v2p),
        "missing": len(stats.first_acks) - len(v2p),
        "p50_ms": ms(percentile(v2p, 50)),
        "p99_ms": ms(percentile(v2p, 99)),
        "reached": shown is not None,
    }
    print(f"  [{target.name}] burst: {out['burst']}", flush=True)

    # ------------------------------------------------------------ sustained votes (changes)
    stats.ack_latency.clear()
    stats.ack_sent.clear()
    for phone in voting:
        phone.inflight.clear()
    sustained_n = int(args.rate * args.sustained_seconds)
    t0 = time.perf_counter()
    cpu0 = target.cpu()
    touched: set[Phone] = set()
    for i in range(sustained_n):
        delay = t0 + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        phone = voting[rng.randrange(len(voting))]
        touched.add(phone)
        await phone.vote(vote_pitch, rng.randint(1, 5))
    sent_s = time.perf_counter() - t0
    await wait_acked(list(touched), 60)
    done = time.perf_counter() - t0
    sus_lat = list(stats.ack_latency)
    out["sustained"] = {
        "offered_per_s": args.rate,
        "votes": sustained_n,
        "send_s": round(sent_s, 2),
        "acked": len(sus_lat),
        "acked_per_s": round(len(sus_lat) / max(done, 1e-9), 1),
        "ack_p50_ms": ms(percentile(sus_lat, 50)),
        "ack_p99_ms": ms(percentile(sus_lat, 99)),
        "server_cpu_s": round(target.cpu() - cpu0, 2),
        # Server CPU per vote: what the machine's cores allow, whatever the client manages.
        "server_cpu_ms_per_vote": round((target.cpu() - cpu0) * 1000 / max(sustained_n, 1), 3),
    }
    print(f"  [{target.name}] sustained: {out['sustained']}", flush=True)

    stdout, _ = probe.communicate(timeout=probe_seconds + 30)
    if spy is not None:
        spy.wait(timeout=120)
    lag = json.loads(stdout or '{"rtt": [], "lost": 0}')
    out["loop_lag"] = {
        "samples": len(lag["rtt"]),
        "lost": lag["lost"],
        "p50_ms": ms(percentile(lag["rtt"], 50)),
        "p99_ms": ms(percentile(lag["rtt"], 99)),
        "max_ms": ms(max(lag["rtt"]) if lag["rtt"] else None),
    }

    # ------------------------------------------------------------ votes lost, tallies exact
    if target.db is not None:
        out["integrity"] = await check_integrity(target.db, vote_pitch, voting, projector)
    out["errors"] = dict(stats.errors)
    out["disconnects"] = stats.disconnects
    await moderator.close()
    await projector.close()
    await close_all(phones)
    return out


def slow_acks(stats: Stats, t0: float) -> list[tuple[float, float]]:
    """(seconds into the phase, ms) of the slowest 2% acks: are they one stall or spread?"""
    pairs = sorted(zip(stats.ack_latency, stats.ack_sent, strict=True), reverse=True)
    return [(round(sent - t0, 2), ms(lat) or 0.0) for lat, sent in pairs[: len(pairs) // 50]]


def origin_of(ws_url: str) -> str:
    return "http://" + ws_url.split("://", 1)[1].split("/", 1)[0]


def start_spy(target: Target, phase: str, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy the app process for ``seconds``; collapsed stacks go to results/."""
    if target.pid is None:
        return None
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{target.name}-{phase}-{time.strftime('%H%M%S')}.txt"
    spy = str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(target.pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "200",
            "--format",
            "raw",
            "--threads",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_acked(phones: list[Phone], timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and any(p.pending for p in phones):
        await asyncio.sleep(0.05)


async def check_integrity(
    db: Database, pitch_id: int, phones: list[Phone], projector: Screen
) -> Json:
    stored = await asyncio.to_thread(stored_votes, db, pitch_id)
    acked = 0
    lost = 0
    attendee_ids: dict[Phone, int] = {}
    for phone in phones:
        if pitch_id not in phone.acked:
            continue
        acked += 1
        aid = phone.attendee_id
        if aid is None:
            continue
        attendee_ids[phone] = aid
        row = stored.get(aid)
        if row is None or row[1] < phone.acked[pitch_id][1]:
            lost += 1
    sql_counts = Counter(score for score, _seq in stored.values())
    expected = {str(s): sql_counts.get(s, 0) for s in range(1, 6)}
    screen = await projector.wait_for(
        lambda m: ((m.get("current") or {}).get("summary") or {}).get("distribution") == expected,
        5,
    )
    shown = ((projector.last() or {}).get("current") or {}).get("summary") or {}
    # What the phones were told is saved, newest per phone, must be what SQL holds.
    mismatched = sum(
        1
        for phone, aid in attendee_ids.items()
        if not phone.pending and stored.get(aid, (None, None))[0] != phone.acked[pitch_id][0]
    )
    return {
        "acked_phones": acked,
        "stored_rows": len(stored),
        "lost": lost,
        "acked_score_differs_from_sql": mismatched,
        "sql_counts": expected,
        "projector_counts": shown.get("distribution"),
        "projector_exact": screen is not None,
    }


async def close_all(phones: list[Phone]) -> None:
    gate = asyncio.Semaphore(500)

    async def one(p: Phone) -> None:
        async with gate:
            await p.drop()

    await asyncio.wait_for(asyncio.gather(*(one(p) for p in phones)), 120)


# ------------------------------------------------------------------ the two targets


async def bench_app(args: argparse.Namespace, servers: Servers) -> Json:
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{servers.workdir / 'bench.db'}"
    database_url = Settings.from_environ({"DATABASE_URL": database_url}).database_url
    db = Database(database_url)
    db.migrate()  # the real path: every table, whatever this process imported
    redis_url = None
    if args.redis or args.procs > 1 or args.workers > 1:
        redis_url = servers.start_redis().url
    env = app_env(database_url, redis_url, f"bench-{uuid.uuid4().hex[:8]}")
    apps: list[AppServer] = [
        servers.start_app(env, workers=args.workers) for _ in range(args.procs)
    ]
    event = new_event(db, pitches=args.pitches)
    assert event.id is not None
    http_joins = min(args.http_joins, args.phones)
    t0 = time.perf_counter()
    joined = await join_many(apps[0].url, event.code, http_joins, args.join_concurrency)
    join_s = time.perf_counter() - t0
    seeded = await asyncio.to_thread(seed_attendees, db, event.id, args.phones - http_joins)
    tokens = joined + [t for _aid, t in seeded]
    pitch_ids = [p.id for p in db.read(_pitches, event.id)]
    target = Target(
        name="app",
        ws_urls=[f"{a.ws_base}/e/{event.code}/ws" for a in apps],
        origin=apps[0].url,
        tokens=tokens,
        moderator_key=first_stage(db, event).moderator_key,
        projector_key=first_stage(db, event).projector_key,
        pitch_ids=pitch_ids,
        rss=lambda: sum(a.rss() for a in apps),
        cpu=lambda: sum(a.cpu_seconds() for a in apps),
        db=db,
        pid=apps[0].process.pid if apps[0].process else None,
    )
    result = await run_phases(target, args)
    result["join"] = {
        "http_joins": http_joins,
        "seconds": round(join_s, 2),
        "per_second": round(http_joins / max(join_s, 1e-9), 1),
        "seeded": len(seeded),
    }
    result["setup"] = {
        "database": database_url.split(":")[0],
        "redis": bool(redis_url),
        "procs": args.procs,
        "workers": args.workers,
    }
    db.close()
    return result


def _pitches(session: Any, event_id: int) -> list[Any]:
    from sqlmodel import col, select

    from eventapp.core.models import Pitch

    return list(
        session.exec(
            select(Pitch).where(Pitch.event_id == event_id).order_by(col(Pitch.position))
        ).all()
    )


async def bench_floor(args: argparse.Namespace, servers: Servers) -> Json:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtests.floor",
            "--port",
            str(port),
            "--pitches",
            str(args.pitches),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        target = Target(
            name="floor",
            ws_urls=[f"ws://127.0.0.1:{port}/"],
            origin=f"http://127.0.0.1:{port}",
            tokens=[f"floor-{i}" for i in range(args.phones)],
            moderator_key="-",
            projector_key="-",
            pitch_ids=list(range(1, args.pitches + 1)),
            rss=lambda: tree_rss(proc),
            cpu=lambda: _cpu(proc),
        )
        return await run_phases(target, args)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _cpu(proc: subprocess.Popen[bytes]) -> float:
    t = psutil.Process(proc.pid).cpu_times()
    return float(t.user + t.system)


# ------------------------------------------------------------------ report


ROWS: list[tuple[str, str, str, bool]] = [
    # label, section, key, lower is better (for the ratio's direction)
    ("phones connected", "connect", "connected", False),
    ("connect rate (/s)", "connect", "per_second", False),
    ("memory per connection (KiB)", "connect", "kib_per_connection", True),
    ("server RSS with phones (MiB)", "connect", "rss_after_mib", True),
    ("'voting opened' to all (ms, median)", "broadcast", "to_all_ms_median", True),
    ("'voting opened' to all (ms, max)", "broadcast", "to_all_ms_max", True),
    ("burst votes acked", "burst", "acked", False),
    ("burst throughput (votes/s)", "burst", "throughput_per_s", False),
    ("burst ack p50 (ms)", "burst", "ack_p50_ms", True),
    ("burst ack p99 (ms)", "burst", "ack_p99_ms", True),
    ("vote->projector p50 (ms)", "vote_to_projector", "p50_ms", True),
    ("vote->projector p99 (ms)", "vote_to_projector", "p99_ms", True),
    ("sustained offered (votes/s)", "sustained", "offered_per_s", False),
    ("sustained acked (votes/s)", "sustained", "acked_per_s", False),
    ("sustained ack p99 (ms)", "sustained", "ack_p99_ms", True),
    ("server CPU per vote (ms)", "sustained", "server_cpu_ms_per_vote", True),
    ("event-loop lag p50 (ms)", "loop_lag", "p50_ms", True),
    ("event-loop lag p99 (ms)", "loop_lag", "p99_ms", True),
]


def render(app: Json, floor: Json | None) -> str:
    lines = [f"{'':40} {'app':>12} {'floor':>12} {'app/floor':>10}"]
    for label, section, key, _lower in ROWS:
        a = app.get(section, {}).get(key)
        f = floor.get(section, {}).get(key) if floor else None
        ratio = (
            f"{a / f:.2f}"
            if isinstance(a, int | float) and isinstance(f, int | float) and f
            else ""
        )
        lines.append(f"{label:40} {_fmt(a):>12} {_fmt(f):>12} {ratio:>10}")
    if "join" in app:
        lines.append(f"{'HTTP join rate (/s)':40} {_fmt(app['join']['per_second']):>12}")
    integ = app.get("integrity", {})
    lines.append(
        f"{'votes acked (phones) / stored rows':40} "
        f"{integ.get('acked_phones')} / {integ.get('stored_rows')}"
    )
    lines.append(f"{'votes lost (acked, not in SQL)':40} {integ.get('lost')}")
    lines.append(f"{'projector tallies == SQL':40} {integ.get('projector_exact')}")
    return "\n".join(lines)


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1 else f"{v:.1f}"
    return str(v)


def verdicts(app: Json, floor: Json | None) -> list[tuple[str, bool]]:
    c, b, bu, v = app["connect"], app["broadcast"], app["burst"], app["vote_to_projector"]
    integ = app.get("integrity", {})
    checks = [
        (f"{c['phones']} phones connected", c["connected"] == c["phones"]),
        (
            "burst: zero lost, exact tallies",
            integ.get("lost") == 0
            and bool(integ.get("projector_exact"))
            and bu["acked"] == bu["votes"],
        ),
        ("ack p99 <= 250 ms", (bu["ack_p99_ms"] or 1e9) <= 250),
        ("vote->projector p99 <= 500 ms", (v["p99_ms"] or 1e9) <= 500),
        (
            "'voting opened' to every phone <= 1 s",
            b["reached_all"] and (b["to_all_ms_max"] or 1e9) <= 1000,
        ),
        ("server memory < 1 GiB", c["rss_after_mib"] < 1024),
    ]
    if floor:
        fb = floor["broadcast"]["to_all_ms_median"] or 0
        checks.append(
            ("stretch: 'voting opened' <= 1.5x floor", (b["to_all_ms_median"] or 1e9) <= 1.5 * fb)
        )
    s = app["sustained"]
    checks.append(
        (
            f"sustained {s['offered_per_s']} votes/s acked",
            s["acked_per_s"] >= 0.95 * s["offered_per_s"],
        )
    )
    return checks


async def main(args: argparse.Namespace) -> int:
    limit = raise_fd_limit()
    if limit < args.phones + 1000:
        print(f"warning: open-files limit {limit} is low for {args.phones} phones", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="eventapp-bench-") as tmp,
        Servers(Path(tmp)) as servers,
    ):
        print(
            f"app: {args.phones} phones, {args.procs} process(es) x {args.workers} worker(s)",
            flush=True,
        )
        app = await bench_app(args, servers)
        for proc in servers.apps:
            proc.stop()
        floor = None
        if not args.no_floor:
            print("floor: bare websockets server", flush=True)
            floor = await bench_floor(args, servers)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": psutil.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_end": os.getloadavg(),
        },
        "command": " ".join(["python -m loadtests.bench", *sys.argv[1:]]),
        "app": app,
        "floor": floor,
    }
    print()
    print(render(app, floor))
    print()
    checks = verdicts(app, floor)
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    report["verdicts"] = {label: ok for label, ok in checks}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"bench-{args.phones}-p{args.procs}w{args.workers}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {RESULTS / name}")
    return 0 if all(ok for _l, ok in checks) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--phones", type=int, default=5000)
    p.add_argument("--votes", type=int, default=4000, help="votes in the burst")
    p.add_argument("--burst-seconds", type=float, default=5.0)
    p.add_argument("--rate", type=float, default=2000, help="sustained votes per second")
    p.add_argument("--sustained-seconds", type=float, default=10.0)
    p.add_argument("--pitches", type=int, default=3)
    p.add_argument(
        "--broadcast-rounds",
        type=int,
        default=4,
        help="extra 'voting opened' broadcasts before the burst",
    )
    p.add_argument(
        "--http-joins",
        type=int,
        default=500,
        help="phones joined through the form (the rest are seeded in SQL)",
    )
    p.add_argument("--join-concurrency", type=int, default=32)
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--procs", type=int, default=1, help="app processes on one Redis")
    p.add_argument("--workers", type=int, default=1, help="uvicorn --workers per process")
    p.add_argument("--redis", action="store_true", help="use Redis even with one process")
    p.add_argument("--no-floor", action="store_true", help="skip the floor run")
    p.add_argument(
        "--no-deflate",
        action="store_true",
        help="phones do not offer permessage-deflate (browsers do): less client CPU",
    )
    p.add_argument(
        "--profile",
        choices=["votes", "broadcast"],
        help="py-spy the app process during a phase (collapsed stacks in results/)",
    )
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(uvloop.run(main(parse())))
