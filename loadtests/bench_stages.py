"""Many stages at once (issue 15): S stages × M phones of one conference against the real
app, on one process or several on one Redis, with the phones spread over several client
processes (loadtests/crowd.py) so that the load generator is not the limit.

    python -m loadtests.bench_stages --stages 20 --phones-per-stage 250
    python -m loadtests.bench_stages --stages 20 --phones-per-stage 250 \\
        --config sqlite-redis --procs 2
    python -m loadtests.bench_stages --stages 1 --phones-per-stage 5000     # the yardstick

Every stage has its own moderator and projector socket; phones are seeded in SQL, each
on its stage (spread over the app processes round-robin). It measures, per stage, how long
"voting opened" takes to reach every phone of that stage when all stages' moderators open
voting at the same moment (several rounds), then a vote burst in which every phone votes
once on its stage's pitch: the ack p50/p99, acked vs SQL (lost), and that every
projector's counts equal SQL; beside them each app process's own receipt-to-ack p99
(/metrics) and each client process's loop lag per phase. The single-stage targets (README
"Load and drills") are the yardstick: "voting opened" to all phones and ack p99 within
them. Servers run on the first half of the CPUs, clients on the rest (``--pin``).

The 2S screens stay in this (the parent) process: they are few, the parent does nothing
timed while the workers' phones vote (acks are timed in the workers), and the one thing it
times, the moderators' "open voting" sends, starts its clock here; its own loop lag is
sampled and reported per phase beside the workers' (``parent``), and flagged like theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop

from eventapp.core.db import Database
from eventapp.core.models import Stage
from eventapp.voting import queries
from eventapp.voting.rules import PitchSpec, StageSpec, create_event
from loadtests.bench import slow_acks
from loadtests.crowd import Crowd, client_bound, lag_lines, spread
from loadtests.harness import RESULTS, ms, percentile
from loadtests.setups import (
    Cpus,
    add_options,
    check_config,
    client_count,
    database,
    describe,
    on_cpus,
    run_report,
    split_cpus,
    start_apps,
)
from tests.support.phones import Screen
from tests.support.seeding import seed_attendees, stored_votes
from tests.support.servers import ROOT, AppServer, Servers, raise_fd_limit

Json = dict[str, Any]
METRICS_TOKEN = "bench-stages-metrics"
OPENED_TIMEOUT = 20.0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.bench_stages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stages", type=int, default=20)
    p.add_argument("--phones-per-stage", type=int, default=250)
    p.add_argument("--pitches-per-stage", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3, help="'voting opened' rounds before the vote")
    p.add_argument("--burst-seconds", type=float, default=5.0)
    p.add_argument("--connect-concurrency", type=int, default=200)
    add_options(p)
    return p.parse_args(argv)


class Conference:
    """The conference under test: its stages (in order), each stage's pitches, the
    phones' tokens in stage order (phone i is on stage i // M) and the screens."""

    def __init__(self, db: Database, args: argparse.Namespace, apps: list[AppServer]) -> None:
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
        self.code = event.code
        states = db.read(queries.load_states, event.id)
        self.stages: list[Stage] = db.read(queries.stages_of, event.id)
        by_stage = {s.stage_id: [int(p.id) for p in s.pitches] for s in states}
        self.stage_ids = [int(s.id) for s in self.stages if s.id is not None]
        self.pitches = [by_stage[s] for s in self.stage_ids]
        m = args.phones_per_stage
        seeded = seed_attendees(db, event.id, args.stages * m)
        self.tokens = [token for _aid, token in seeded]
        self.phone_stage: list[int | None] = [self.stage_ids[i // m] for i in range(len(seeded))]
        self.ws_urls = [f"{a.ws_base}/e/{event.code}/ws" for a in apps]
        n = len(apps)
        # A stage's projector on another process than its moderator (when there are two):
        # its counts then travel over Redis.
        self.moderators = [
            Screen(self.ws_urls[i % n], apps[i % n].url, "moderator", s.moderator_key)
            for i, s in enumerate(self.stages)
        ]
        self.projectors = [
            Screen(self.ws_urls[(i + 1) % n], apps[(i + 1) % n].url, "projector", s.projector_key)
            for i, s in enumerate(self.stages)
        ]

    @property
    def screens(self) -> list[Screen]:
        return [*self.moderators, *self.projectors]


async def open_everywhere(conf: Conference, crowd: Crowd, pitches: list[int]) -> list[Json]:
    """All stages' moderators open voting at once (``pitches[s]`` on stage s); per stage,
    the time from that common start until all its connected phones saw it."""
    stages = [[s, p] for s, p in zip(conf.stage_ids, pitches, strict=True)]
    await crowd.ask("arm_opened", stages=stages)
    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            m.command({"type": "open_voting", "pitch_id": p})
            for m, p in zip(conf.moderators, pitches, strict=True)
        )
    )
    answers = await crowd.ask("opened", stages=stages, timeout=OPENED_TIMEOUT)
    out = []
    for pitch in pitches:
        times = [t - t0 for a in answers for t in a["by_pitch"][str(pitch)]]
        want = sum(a["want"][str(pitch)] for a in answers)
        out.append(
            {
                "reached": len(times),
                "want": want,
                "all_s": max(times) if times and len(times) >= want else None,
            }
        )
    return out


async def measure(
    conf: Conference, db: Database, apps: list[AppServer], args: argparse.Namespace, cpus: Cpus
) -> Json:
    out: Json = {}
    crowd = await Crowd.start(
        conf.tokens,
        conf.ws_urls,
        workers=client_count(args, cpus),
        cpus=cpus.clients,
        lean=args.client == "lean",
        stages=conf.phone_stage,
    )
    crowd.watch_parent()
    try:
        for screen in conf.screens:
            await screen.connect()
        await _phases(conf, db, apps, args, crowd, out)
        for screen in conf.screens:
            await screen.close()
    finally:
        out["client_lag"] = await crowd.lag_report()
        await crowd.close()
    out["client_bound_phases"] = client_bound(out["client_lag"])
    return out


async def _phases(
    conf: Conference,
    db: Database,
    apps: list[AppServer],
    args: argparse.Namespace,
    crowd: Crowd,
    out: Json,
) -> None:
    phones = len(conf.tokens)

    # ------------------------------------------------------------ connect
    with crowd.phase("connect"):
        concurrency = max(1, args.connect_concurrency // crowd.workers)
        answers = await crowd.ask("connect", concurrency=concurrency)
    connected = sum(a["connected"] for a in answers)
    took = max(a["done"] for a in answers) - min(a["started"] for a in answers)
    out["connect"] = {
        "phones": phones,
        "connected": connected,
        "failures": [f for a in answers for f in a["failures"]][:5],
        "seconds": round(took, 1),
    }
    print(
        f"  {connected}/{phones} phones on {args.stages} stages in {took:.1f} s "
        f"({crowd.workers} client processes)",
        flush=True,
    )

    # ------------------------------------------------------------ "voting opened", all stages
    rounds: list[list[Json]] = []
    with crowd.phase("opened"):
        for r in range(args.rounds):
            await asyncio.sleep(1.0)
            rounds.append(
                await open_everywhere(conf, crowd, [p[(r + 1) % len(p)] for p in conf.pitches])
            )
        await asyncio.sleep(1.0)
        vote_pitches = [p[0] for p in conf.pitches]
        rounds.append(await open_everywhere(conf, crowd, vote_pitches))
    times = [s["all_s"] for rnd in rounds for s in rnd if s["all_s"] is not None]
    missed = sum(1 for rnd in rounds for s in rnd if s["all_s"] is None)
    worst_stage = [max((s["all_s"] or 1e9) for s in col) for col in zip(*rounds, strict=True)]
    out["voting_opened"] = {
        "stage_rounds": len(times) + missed,
        "missed": missed,
        "to_all_phones_of_a_stage_ms_p50": ms(percentile(times, 50)),
        "to_all_phones_of_a_stage_ms_max": ms(max(times) if times else None),
        # Per stage, its worst round (ms): is one stage always last?
        "worst_round_per_stage_ms": [ms(t) for t in worst_stage],
    }
    print(f"  voting opened: {out['voting_opened']}", flush=True)

    # ------------------------------------------------------------ vote burst, every phone
    rng = random.Random(15)
    m = args.phones_per_stage
    schedule = sorted(
        (rng.uniform(0, args.burst_seconds), i, rng.randint(1, 5), vote_pitches[i // m])
        for i in range(phones)
    )
    # Each app process's loop lag from outside (a ping on an idle socket, loadtests/probe.py)
    probe_seconds = args.burst_seconds + 4
    probes = [
        _start_probe(url, stage.projector_key, probe_seconds)
        for url, stage in zip(conf.ws_urls, conf.stages, strict=False)
    ]
    await asyncio.sleep(1.0)
    t0 = time.perf_counter() + 0.2
    with crowd.phase("burst"):
        answers = await crowd.ask("votes", spread(schedule, crowd), t0=t0, wait=60)
    latency = [x for a in answers for x in a["ack_latency"]]
    sent = [x for a in answers for x in a["ack_sent"]]
    server_lag = [await asyncio.to_thread(_probe_result, p, probe_seconds) for p in probes]
    unacked = sum(a["unacked"] for a in answers)
    voters = sum(a["voters"] for a in answers)
    server_acks = [await _server_metrics(app.url) for app in apps]

    # ------------------------------------------------------------ lost; projectors vs SQL
    lost = mismatched = acked_phones = stored_rows = exact = 0
    for projector, pitch in zip(conf.projectors, vote_pitches, strict=True):
        stored = await asyncio.to_thread(stored_votes, db, pitch)
        acked = [row for a in await crowd.ask("acked", pitch=pitch) for row in a["acked"]]
        acked_phones += len(acked)
        stored_rows += len(stored)
        lost += sum(1 for aid, _score, seq in acked if stored.get(aid, (0, -1))[1] < seq)
        mismatched += sum(1 for aid, score, _seq in acked if stored.get(aid, (None, 0))[0] != score)
        counts = Counter(score for score, _seq in stored.values())
        expected = {str(s): counts.get(s, 0) for s in range(1, 6)}
        shown = await projector.wait_for(
            lambda msg, p=pitch, w=expected: _shows(msg, p, w),
            15,
        )
        exact += shown is not None
    out["burst"] = {
        "votes": len(schedule),
        "voters": voters,
        "acked": voters - unacked,
        "ack_p50_ms": ms(percentile(latency, 50)),
        "ack_p99_ms": ms(percentile(latency, 99)),
        "ack_max_ms": ms(max(latency) if latency else None),
        # Receipt to ack inside each app process (the bucket bound that holds 99 %).
        "server_ack_p99_ms_at_most": [a["p99_ms_at_most"] for a in server_acks],
        # Acks slower than 250 ms: as the phones saw them, and from receipt in the servers.
        "acks_over_250ms": sum(1 for x in latency if x > 0.25),
        "server_acks_over_250ms": [a["over_250ms"] for a in server_acks],
        # Each app process's loop lag (ping round trip on an idle socket) during the burst.
        "server_loop_lag_p99_ms": [ms(percentile(rtt, 99)) for rtt in server_lag],
        "server_loop_lag_max_ms": [ms(max(rtt) if rtt else None) for rtt in server_lag],
        # The slowest 1 % of acks: seconds into the burst they were sent (one stall or
        # spread over the burst?) and how long they took.
        "slowest_1pct_sent_s": _window(slow_acks(latency, sent, t0)[: max(1, len(latency) // 100)]),
    }
    out["integrity"] = {
        "acked_phones": acked_phones,
        "stored_rows": stored_rows,
        "lost": lost,
        "acked_score_differs_from_sql": mismatched,
        "projectors_exact": f"{exact}/{len(conf.projectors)}",
    }
    print(f"  burst: {out['burst']}", flush=True)
    print(f"  integrity: {out['integrity']}", flush=True)


def _start_probe(ws_url: str, projector_key: str, seconds: float) -> subprocess.Popen[str]:
    """A ping probe in a process of its own, on this process's (the clients') CPUs."""
    hello = json.dumps({"type": "hello", "role": "projector", "key": projector_key})
    command = [sys.executable, "-m", "loadtests.probe", ws_url, "--seconds", str(seconds)]
    return subprocess.Popen(
        [*command, "--hello", hello], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )


def _probe_result(probe: subprocess.Popen[str], seconds: float) -> list[float]:
    stdout, _ = probe.communicate(timeout=seconds + 30)
    return list(json.loads(stdout or '{"rtt": []}')["rtt"])


def _window(slow: list[tuple[float, float]]) -> Json:
    """(sent at, ms) pairs -> where in the burst they were sent and how slow."""
    if not slow:
        return {}
    at = [a for a, _ms in slow]
    return {"from_s": min(at), "to_s": max(at), "ms_min": min(m for _a, m in slow)}


def _shows(screen: Json, pitch: int, counts: dict[str, int]) -> bool:
    """The projector shows ``pitch`` with exactly these score counts (and their sum)."""
    current = screen.get("current") or {}
    return (
        current.get("pitch_id") == pitch
        and current.get("votes_in") == sum(counts.values())
        and (current.get("summary") or {}).get("distribution") == counts
    )


async def _server_metrics(url: str) -> Json:
    """From /metrics: the smallest ``eventapp_vote_ack_seconds`` bucket bound holding 99 %
    of the acks (ms; None: no metrics) and how many acks took longer than 250 ms from
    receipt, so a client-seen tail can be told apart from one inside the server."""

    def fetch() -> str:
        request = urllib.request.Request(
            f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.read().decode())

    text = await asyncio.to_thread(fetch)
    buckets = sorted(
        (float(m.group(1)), float(m.group(2)))
        for m in re.finditer(r'eventapp_vote_ack_seconds_bucket\{le="([^"+]+)"\} (\S+)', text)
    )
    total = max((n for _le, n in buckets), default=0.0)
    p99 = next((le * 1000 for le, n in buckets if total and n >= 0.99 * total), None)
    within = next((n for le, n in buckets if le == 0.25), total)
    return {"p99_ms_at_most": p99, "over_250ms": int(total - within)}


# ------------------------------------------------------------------ report


def verdicts(result: Json) -> list[tuple[str, bool]]:
    c, o, b, i = result["connect"], result["voting_opened"], result["burst"], result["integrity"]
    projectors = str(i["projectors_exact"]).split("/")
    return [
        (f"{c['phones']} phones connected", c["connected"] == c["phones"]),
        (
            "'voting opened' to every phone of each stage <= 1 s",
            o["missed"] == 0 and (o["to_all_phones_of_a_stage_ms_max"] or 1e9) <= 1000,
        ),
        ("burst ack p99 <= 250 ms", (b["ack_p99_ms"] or 1e9) <= 250),
        (
            "burst: zero lost, acked = SQL",
            i["lost"] == 0
            and i["acked_score_differs_from_sql"] == 0
            and b["acked"] == b["votes"] == i["stored_rows"],
        ),
        ("every projector == SQL", projectors[0] == projectors[1]),
    ]


def markdown_header() -> str:
    return (
        "| configuration | stages × phones | client processes | 'voting opened' to all phones "
        "of a stage p50 / max | burst ack p50 / p99 | server ack p99 (/metrics, ≤) "
        "| acks > 250 ms: phones / servers "
        "| server loop lag p99 (probe) | lost "
        "| acked = SQL = projectors | client loop lag p99 (worst; opened / burst) | load avg |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )


def markdown_row(args: argparse.Namespace, report: Json) -> str:
    r = report["result"]
    o, b, i = r["voting_opened"], r["burst"], r["integrity"]
    projectors = str(i["projectors_exact"]).split("/")
    exact = (
        "exact"
        if i["lost"] == 0
        and i["acked_score_differs_from_sql"] == 0
        and i["stored_rows"] == b["acked"]
        and projectors[0] == projectors[1]
        else "NOT exact"
    )
    lag = r.get("client_lag", {})

    def worst(phase: str) -> str:
        p = lag.get(phase) or {}
        values = [p.get("worst_p99_ms"), (p.get("parent") or {}).get("p99_ms")]
        return str(max((v for v in values if v is not None), default="-"))

    server = " / ".join(str(v) for v in b["server_ack_p99_ms_at_most"])
    server_lag = " / ".join(str(v) for v in b["server_loop_lag_p99_ms"])
    load = report["machine"]["load_avg_at_start"][0], report["machine"]["load_avg_at_end"][0]
    return (
        f"| {describe(args)} | {args.stages} × {args.phones_per_stage} "
        f"| {report['machine']['client_processes']} "
        f"| {o['to_all_phones_of_a_stage_ms_p50']} / {o['to_all_phones_of_a_stage_ms_max']} ms "
        f"| {b['ack_p50_ms']} / {b['ack_p99_ms']} ms | {server} ms "
        f"| {b['acks_over_250ms']} / {sum(b['server_acks_over_250ms'])} | {server_lag} ms "
        f"| {i['lost']} | {exact} "
        f"| {worst('opened')} / {worst('burst')} ms | {load[0]:.1f}–{load[1]:.1f} |"
    )


async def main(args: argparse.Namespace) -> int:
    check_config(args)
    raise_fd_limit()
    cpus = split_cpus(args.pin)
    load_start = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp,
        Servers(Path(tmp)) as servers,
        on_cpus(cpus.clients),
        database(args, servers, "stages") as (url, db),
    ):
        print(
            f"{args.stages} stages × {args.phones_per_stage} phones, {describe(args)}; "
            f"{client_count(args, cpus)} client processes; {cpus.describe()}; "
            f"load average {load_start[0]:.1f}",
            flush=True,
        )
        apps = start_apps(args, servers, url, cpus, "stages", {"METRICS_TOKEN": METRICS_TOKEN})
        conf = await asyncio.to_thread(Conference, db, args, apps)
        result = await measure(conf, db, apps, args, cpus)
        result["setup"] = {
            "config": args.config,
            "database": url.split(":")[0],
            "redis": servers.redis is not None,
            "procs": args.procs,
            "stages": args.stages,
            "phones_per_stage": args.phones_per_stage,
        }
        for app in apps:
            app.stop()
    report = run_report("loadtests.bench_stages", args, cpus, load_start, result=result)
    print()
    for line in lag_lines(result["client_lag"]):
        print(line)
    checks = verdicts(result)
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    report["verdicts"] = {label: ok for label, ok in checks}
    if result["client_bound_phases"]:
        print(
            "  NOTE  a client loop lagged > 50 ms (p99) in: "
            + ", ".join(result["client_bound_phases"])
        )
    print()
    print("README row (Load and drills, many stages):")
    print(markdown_header())
    print(markdown_row(args, report))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = (
        f"stages-{args.config}-p{args.procs}-{args.stages}x{args.phones_per_stage}-"
        f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    (RESULTS / name).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {RESULTS / name}")
    return 0 if all(ok for _l, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(uvloop.run(main(parse())))
