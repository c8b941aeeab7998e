"""The hall-sized benchmark: N phones on asyncio WebSocket clients, spread over several
client processes (loadtests/crowd.py), against the real app and in the same run against
the bare-websockets floor (loadtests/floor.py), with the same clients.

    python -m loadtests.bench --phones 5000                          # embedded default
    python -m loadtests.bench --phones 10000 --config pg-redis --procs 2
    python -m loadtests.bench --phones 2000 --config sqlite-redis --workers 2

It starts everything itself on 127.0.0.1 (app processes, redis-server, the floor; servers
pinned to the first half of the CPUs, clients to the rest unless --no-pin), creates the
event, joins ``--http-joins`` phones through the real join form (the join rate) and seeds
the rest in SQL, connects them, and measures: connect rate and hello→welcome latency,
memory per connection, the "voting opened" broadcast, a vote burst, sustained votes, ack
and vote-to-projector latency, the server's event-loop lag, each client process's own
loop lag per phase, and votes lost (acked vs SQL vs the projector). It prints a table with
the floor's figures and the ratios, a README row, and writes JSON to loadtests/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop

from eventapp.core.db import Database
from loadtests.crowd import Crowd, client_bound, lag_lines, spread
from loadtests.harness import RESULTS, ms, percentile
from loadtests.setups import (
    Cpus,
    Target,
    add_options,
    app_target,
    check_config,
    client_count,
    database,
    describe,
    floor_target,
    on_cpus,
    run_report,
    split_cpus,
    start_apps,
)
from tests.support.joining import join_many
from tests.support.phones import Screen, vote_to_screen
from tests.support.seeding import new_event, stored_votes
from tests.support.servers import ROOT, Servers, raise_fd_limit

Json = dict[str, Any]


async def run_phases(target: Target, args: argparse.Namespace, cpus: Cpus) -> Json:
    out: Json = {"target": target.name}
    crowd = await Crowd.start(
        target.tokens,
        target.ws_urls,
        workers=client_count(args, cpus),
        cpus=cpus.clients,
        deflate=not args.no_deflate,
        lean=args.client == "lean",
    )
    try:
        await _phases(target, args, crowd, out)
    finally:
        out["client_lag"] = await crowd.lag_report()
        await crowd.close()
    for line in lag_lines(out["client_lag"]):
        print(line, flush=True)
    out["client_bound_phases"] = client_bound(out["client_lag"])
    return out


async def _phases(target: Target, args: argparse.Namespace, crowd: Crowd, out: Json) -> None:
    projector = Screen(target.ws_urls[0], target.origin, "projector", target.projector_key)
    moderator = Screen(target.ws_urls[0], target.origin, "moderator", target.moderator_key)
    await moderator.connect()
    await projector.connect()
    phones = len(target.tokens)

    # ------------------------------------------------------------ connect
    await asyncio.sleep(1.0)
    rss_before = target.rss()
    cpu0 = target.cpu()
    concurrency = max(1, args.connect_concurrency // crowd.workers)
    connect_spy = (
        start_spy(target, "connect", phones / 1000 + 2) if args.profile == "connect" else None
    )
    with crowd.phase("connect"):
        answers = await crowd.ask("connect", concurrency=concurrency)
    if connect_spy is not None:
        await asyncio.to_thread(connect_spy.wait, 120)
    connected = sum(a["connected"] for a in answers)
    took = max(a["done"] for a in answers) - min(a["started"] for a in answers)
    connect_cpu = target.cpu() - cpu0
    latencies = [x for a in answers for x in a["latencies"]]
    await asyncio.sleep(2.0)  # let allocations settle before reading memory
    rss_after = target.rss()
    out["connect"] = {
        "phones": phones,
        "connected": connected,
        "failures": [f for a in answers for f in a["failures"]][:5],
        "seconds": round(took, 2),
        "per_second": round(connected / took, 1),
        "hello_to_welcome_p50_ms": ms(percentile(latencies, 50)),
        "hello_to_welcome_p99_ms": ms(percentile(latencies, 99)),
        "server_cpu_s": round(connect_cpu, 2),
        "server_cpu_ms_per_connect": round(connect_cpu * 1000 / max(connected, 1), 2),
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_after_mib": round(rss_after / 2**20, 1),
        "kib_per_connection": round((rss_after - rss_before) / max(connected, 1) / 1024, 1),
    }
    print(
        f"  [{target.name}] {connected}/{phones} phones connected in {took:.1f} s "
        f"({out['connect']['per_second']}/s), server RSS {rss_after / 2**20:.0f} MiB",
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
    with crowd.phase("broadcast"):
        for pitch in sequence:
            await asyncio.sleep(0.5)
            await crowd.ask("arm_opened", pitch=pitch)
            t0 = time.perf_counter()
            await moderator.command({"type": "open_voting", "pitch_id": pitch})
            answers = await crowd.ask("opened", pitch=pitch, timeout=15)
            got = [t - t0 for a in answers for t in a["times"]]
            rounds.append(
                {
                    "reached": len(got),
                    "all_s": max(got) if got else None,
                    "p50_s": percentile(got, 50),
                }
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
    with on_cpus(crowd_cpus(args)):
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
    voters = rng.sample(range(phones), min(args.votes, phones))
    schedule = sorted((rng.uniform(0, args.burst_seconds), i, rng.randint(1, 5)) for i in voters)
    cpu0 = target.cpu()
    t0 = time.perf_counter() + 0.2
    with crowd.phase("burst"):
        answers = await crowd.ask(
            "votes", spread(schedule, crowd), pitch=vote_pitch, t0=t0, wait=30
        )
    burst = merge_votes(answers)
    burst_lat = burst["ack_latency"]
    out["burst_slow_acks"] = slow_acks(burst_lat, burst["ack_sent"], t0)
    last_ack = max(burst["first_acks"]) if burst["first_acks"] else time.perf_counter()
    acked = burst["voters"] - burst["unacked"]
    out["burst"] = {
        "votes": len(voters),
        "window_s": args.burst_seconds,
        "send_s": round(burst["sent_done"] - t0, 2),
        "acked": acked,
        "throughput_per_s": round(acked / max(last_ack - t0, 1e-9), 1),
        "ack_p50_ms": ms(percentile(burst_lat, 50)),
        "ack_p99_ms": ms(percentile(burst_lat, 99)),
        "ack_max_ms": ms(max(burst_lat) if burst_lat else None),
        "server_cpu_s": round(target.cpu() - cpu0, 2),
    }
    first_acks = sorted(burst["first_acks"])
    shown = await projector.wait_for(
        lambda m: (
            (m.get("current") or {}).get("pitch_id") == vote_pitch
            and (m.get("current") or {}).get("votes_in", 0) >= len(first_acks)
        ),
        10,
    )
    v2p = vote_to_screen(first_acks, projector.screens, vote_pitch)
    out["vote_to_projector"] = {
        "samples": len(v2p),
        "missing": len(first_acks) - len(v2p),
        "p50_ms": ms(percentile(v2p, 50)),
        "p99_ms": ms(percentile(v2p, 99)),
        "reached": shown is not None,
    }
    print(f"  [{target.name}] burst: {out['burst']}", flush=True)

    # ------------------------------------------------------------ sustained votes (changes)
    sustained_n = int(args.rate * args.sustained_seconds)
    schedule = [
        (i / args.rate, rng.randrange(phones), rng.randint(1, 5)) for i in range(sustained_n)
    ]
    cpu0 = target.cpu()
    t0 = time.perf_counter() + 0.2
    with crowd.phase("sustained"):
        answers = await crowd.ask(
            "votes", spread(schedule, crowd), pitch=vote_pitch, t0=t0, wait=60
        )
    sustained = merge_votes(answers)
    done = time.perf_counter() - t0
    sus_lat = sustained["ack_latency"]
    out["sustained"] = {
        "offered_per_s": args.rate,
        "votes": sustained_n,
        "send_s": round(sustained["sent_done"] - t0, 2),
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
        out["integrity"] = await check_integrity(target.db, vote_pitch, crowd, projector)
    await moderator.close()
    await projector.close()


def crowd_cpus(args: argparse.Namespace) -> set[int] | None:
    return split_cpus(args.pin).clients


def merge_votes(answers: list[Json]) -> Json:
    """The workers' answers to one ``votes`` phase as one: samples concatenated."""
    return {
        "ack_latency": [x for a in answers for x in a["ack_latency"]],
        "ack_sent": [x for a in answers for x in a["ack_sent"]],
        "first_acks": [x for a in answers for x in a["first_acks"]],
        "voters": sum(a["voters"] for a in answers),
        "unacked": sum(a["unacked"] for a in answers),
        "skipped": sum(a["skipped"] for a in answers),
        "sent_done": max(a["sent_done"] for a in answers),
    }


def slow_acks(latency: list[float], sent: list[float], t0: float) -> list[tuple[float, float]]:
    """(seconds into the phase, ms) of the slowest 2% acks: are they one stall or spread?"""
    pairs = sorted(zip(latency, sent, strict=True), reverse=True)
    return [(round(at - t0, 2), ms(lat) or 0.0) for lat, at in pairs[: len(pairs) // 50]]


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
            os.environ.get("SPY_FORMAT", "raw"),
            "--threads",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def check_integrity(db: Database, pitch_id: int, crowd: Crowd, projector: Screen) -> Json:
    """Acked (what every phone was told is saved) vs SQL vs the projector."""
    stored = await asyncio.to_thread(stored_votes, db, pitch_id)
    answers = await crowd.ask("acked", pitch=pitch_id)
    acked = [row for a in answers for row in a["acked"]]
    lost = sum(1 for aid, _score, seq in acked if stored.get(aid, (0, -1))[1] < seq)
    # What the phones were told is saved, newest per phone, must be what SQL holds.
    mismatched = sum(1 for aid, score, _seq in acked if stored.get(aid, (None, 0))[0] != score)
    sql_counts = Counter(score for score, _seq in stored.values())
    expected = {str(s): sql_counts.get(s, 0) for s in range(1, 6)}
    screen = await projector.wait_for(
        lambda m: ((m.get("current") or {}).get("summary") or {}).get("distribution") == expected,
        10,
    )
    shown = ((projector.last() or {}).get("current") or {}).get("summary") or {}
    return {
        "acked_phones": len(acked),
        "stored_rows": len(stored),
        "lost": lost,
        "pending": sum(a["pending"] for a in answers),
        "acked_score_differs_from_sql": mismatched,
        "sql_counts": expected,
        "projector_counts": shown.get("distribution"),
        "projector_exact": screen is not None,
    }


# ------------------------------------------------------------------ the two targets


async def bench_app(args: argparse.Namespace, servers: Servers, cpus: Cpus) -> Json:
    with database(args, servers, "bench") as (url, db):
        apps = start_apps(args, servers, url, cpus, "bench")
        event = new_event(db, pitches=args.pitches)
        http_joins = min(args.http_joins, args.phones)
        t0 = time.perf_counter()
        joined = await join_many(apps[0].url, event.code, http_joins, args.join_concurrency)
        join_s = time.perf_counter() - t0
        target = await asyncio.to_thread(
            app_target, apps, db, event, phones=args.phones, joined=joined
        )
        result = await run_phases(target, args, cpus)
        result["join"] = {
            "http_joins": len(joined),
            "seconds": round(join_s, 2),
            "per_second": round(len(joined) / max(join_s, 1e-9), 1),
        }
        result["setup"] = {
            "config": args.config,
            "database": url.split(":")[0],
            "redis": servers.redis is not None,
            "procs": args.procs,
            "workers": args.workers,
        }
        for app in apps:
            app.stop()
        return result


async def bench_floor(args: argparse.Namespace, cpus: Cpus) -> Json:
    with floor_target(args.phones, args.pitches, cpus) as target:
        return await run_phases(target, args, cpus)


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
    check_config(args)
    if args.workers > 1 and args.config == "embedded":
        raise SystemExit("--workers needs Redis: --config sqlite-redis or pg-redis")
    limit = raise_fd_limit()
    if limit < args.phones + 1000:
        print(f"warning: open-files limit {limit} is low for {args.phones} phones", flush=True)
    cpus = split_cpus(args.pin)
    load_start = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="eventapp-bench-") as tmp,
        Servers(Path(tmp)) as servers,
        on_cpus(cpus.clients),
    ):
        print(
            f"app: {args.phones} phones, {describe(args)} x {args.workers} worker(s); "
            f"{client_count(args, cpus)} client processes; {cpus.describe()}; "
            f"load average {load_start[0]:.1f}",
            flush=True,
        )
        app = await bench_app(args, servers, cpus)
        floor = None
        if not args.no_floor:
            print("floor: bare websockets server", flush=True)
            floor = await bench_floor(args, cpus)
    report = run_report("loadtests.bench", args, cpus, load_start, app=app, floor=floor)
    print()
    print(render(app, floor))
    print()
    checks = verdicts(app, floor)
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    report["verdicts"] = {label: ok for label, ok in checks}
    bound = sorted(
        set(app.get("client_bound_phases", [])) | set((floor or {}).get("client_bound_phases", []))
    )
    if bound:
        print(f"  NOTE  a client loop lagged > 50 ms (p99) in: {', '.join(bound)}")
    print()
    print("README row (Load and drills, connect):")
    print(markdown_header())
    print(markdown_row(args, app, floor, report))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"bench-{args.config}-p{args.procs}-{args.phones}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {RESULTS / name}")
    return 0 if all(ok for _l, ok in checks) else 1


def markdown_header() -> str:
    return (
        "| configuration | phones | connect rate: app / floor (ratio, target ≥ 0.6) "
        "| hello→welcome p50 / p99 | server CPU per connect | burst ack p99 | lost "
        "| acked = SQL = projector | client loop lag p99 (worst, connect) | load avg |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )


def markdown_row(args: argparse.Namespace, app: Json, floor: Json | None, report: Json) -> str:
    c = app["connect"]
    f = (floor or {}).get("connect", {})
    ratio = f"{c['per_second'] / f['per_second']:.2f}" if f.get("per_second") else "-"
    integ = app.get("integrity", {})
    exact = (
        "exact"
        if integ.get("lost") == 0
        and integ.get("projector_exact")
        and integ.get("acked_score_differs_from_sql") == 0
        else "NOT exact"
    )
    lag = (app.get("client_lag", {}).get("connect") or {}).get("worst_p99_ms")
    load = report["machine"]["load_avg_at_start"][0], report["machine"]["load_avg_at_end"][0]
    return (
        f"| {describe(args)} | {args.phones:,} | {c['per_second']:,.0f} / "
        f"{f.get('per_second', 0):,.0f}/s ({ratio}) | {c['hello_to_welcome_p50_ms']} / "
        f"{c['hello_to_welcome_p99_ms']} ms | {c['server_cpu_ms_per_connect']} ms "
        f"| {app['burst']['ack_p99_ms']} ms | {integ.get('lost')} | {exact} | {lag} ms "
        f"| {load[0]:.1f}–{load[1]:.1f} |"
    )


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
    add_options(p)
    p.add_argument("--workers", type=int, default=1, help="uvicorn --workers per process")
    p.add_argument("--no-floor", action="store_true", help="skip the floor run")
    p.add_argument(
        "--no-deflate",
        action="store_true",
        help="phones do not offer permessage-deflate (browsers do): less client CPU",
    )
    p.add_argument(
        "--profile",
        choices=["connect", "votes", "broadcast"],
        help="py-spy the app process during a phase (collapsed stacks in results/)",
    )
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(uvloop.run(main(parse())))
