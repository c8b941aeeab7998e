"""Q&A during a vote burst (issue 16): questions and upvotes on the same sockets while
the hall votes, against the same vote burst without Q&A.

    python -m loadtests.bench_questions --phones 500            # SQLite, one process
    python -m loadtests.bench_questions --phones 500 --redis --procs 2

One run: start the app, seed ``--phones`` attendees in SQL, connect them all, then

1. **baseline burst**: every phone votes once on pitch 1, spread over ``--burst-seconds``;
2. **Q&A burst**: on pitch 2, the same vote burst, and in the same window ``--askers``
   phones ask a question (first 30 % of the window) and every phone upvotes
   ``--upvotes`` random questions of others (the rest of the window), 10 % of them sent
   twice (a double tap) and 10 % taken back afterwards;
3. figures: vote ack p50/p99 in both bursts, ask and upvote ack p50/p99, time from the last
   upvote ack until the moderator's feed shows the final counts, and whether the counts are
   exact: expected (from acks) = SQL = moderator = a phone on each process.

Results go to ``loadtests/results/`` as JSON. Keep it small on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import uvloop
import websockets

from eventapp.core.db import Database
from eventapp.questions import queries as qstore
from eventapp.settings import Settings
from loadtests.harness import ms, percentile
from tests.support.phones import Json, Phone, Screen, Stats, connect_all
from tests.support.seeding import first_stage, new_event, seed_attendees
from tests.support.servers import Servers, app_env, raise_fd_limit

RESULTS = Path(__file__).resolve().parent / "results"


class QPhone(Phone):
    """A phone that also asks and upvotes, timing each question_ack."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.asked: list[tuple[float, float]] = []  # (sent, acked)
        self.ask_sent: float = 0.0
        self.question_id: int | None = None
        self.up_sent: dict[int, float] = {}  # question -> send time of the newest wish
        self.wish: dict[int, bool] = {}  # question -> the newest up/down sent
        self.up_latency: list[float] = []
        self.ups: dict[int, bool] = {}  # acknowledged state per question
        self.feed: Json | None = None
        self.q_errors: dict[str, int] = {}

    def handle(self, msg: Json) -> None:
        kind = msg.get("type")
        if kind == "question_ack":
            now = time.perf_counter()
            if msg["action"] == "ask":
                self.question_id = int(msg["question_id"])
                self.asked.append((self.ask_sent, now))
            elif msg["action"] == "upvote":
                qid = int(msg["question_id"])
                self.ups[qid] = bool(msg["up"])
                # Acks per question are coalesced: one for the newest wish settles it.
                if self.wish.get(qid) == self.ups[qid]:
                    sent = self.up_sent.pop(qid, None)
                    if sent is not None:
                        self.up_latency.append(now - sent)
            return
        if kind == "questions":
            self.feed = msg
            return
        if kind == "my_questions":
            return
        if kind == "error" and str(msg.get("ref", "")).endswith("_question"):
            code = str(msg.get("code"))
            self.q_errors[code] = self.q_errors.get(code, 0) + 1
            return
        super().handle(msg)

    async def ask(self, pitch_id: int, text: str) -> None:
        self.ask_sent = time.perf_counter()
        await self.send({"type": "ask_question", "pitch_id": pitch_id, "text": text})

    async def upvote(self, question_id: int, up: bool) -> None:
        self.up_sent[question_id] = time.perf_counter()
        self.wish[question_id] = up
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.send({"type": "upvote_question", "question_id": question_id, "up": up})


class QScreen(Screen):
    """The moderator: also records every ``questions`` feed with its arrival time."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.feeds: list[tuple[float, Json]] = []

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg["type"] == "questions":
                    self.feeds.append((time.perf_counter(), msg))
                elif msg["type"] in ("command_ack", "error"):
                    self.acks.put_nowait(msg)


def counts_of(feed: Json | None) -> dict[int, int]:
    if not feed:
        return {}
    return {q["id"]: q["upvotes"] for b in feed.get("pitches", []) for q in b["questions"]}


async def burst(
    phones: list[QPhone], pitch_id: int, seconds: float, rng: random.Random
) -> tuple[list[float], int]:
    """Every phone votes once on ``pitch_id`` within ``seconds``; returns ack latencies."""
    stats = phones[0].stats
    before = len(stats.ack_latency)
    schedule = sorted((rng.uniform(0, seconds), i) for i in range(len(phones)))
    t0 = time.perf_counter()
    for at, i in schedule:
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await phones[i].vote(pitch_id, rng.randint(1, 5))
    deadline = time.perf_counter() + 30
    while any(pitch_id in p.pending for p in phones) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    unacked = sum(1 for p in phones if pitch_id in p.pending)
    return stats.ack_latency[before:], unacked


async def qa(
    phones: list[QPhone], pitch_id: int, args: argparse.Namespace, rng: random.Random
) -> dict[int, int]:
    """Asks then upvotes within the burst window; returns the expected final counts."""
    window = args.burst_seconds
    askers = rng.sample(phones, min(args.askers, len(phones)))
    ask_end = 0.3 * window
    t0 = time.perf_counter()
    for at, phone in sorted((rng.uniform(0, ask_end), p) for p in askers):
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await phone.ask(pitch_id, f"Question {phone.ident}: what does it cost?")
    deadline = time.perf_counter() + 20
    while any(p.question_id is None for p in askers) and time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
    questions = [p.question_id for p in askers if p.question_id is not None]
    plan: list[tuple[float, QPhone, int, bool]] = []
    for phone in phones:
        others = [q for q in questions if q != phone.question_id]
        for qid in rng.sample(others, min(args.upvotes, len(others))):
            at = rng.uniform(ask_end, window)
            plan.append((at, phone, qid, True))
            if rng.random() < 0.1:  # a double tap
                plan.append((at + 0.01, phone, qid, True))
            if rng.random() < 0.1:  # changed their mind
                plan.append((min(window, at + 0.3), phone, qid, False))
    plan.sort(key=lambda x: x[0])
    for at, phone, qid, up in plan:
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await phone.upvote(qid, up)
    deadline = time.perf_counter() + 30
    while any(p.up_sent for p in phones) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    # What the hall wanted: every phone's newest wish per question (a refused or lost
    # message would make SQL differ from this, and the run report it as not exact).
    expected = dict.fromkeys(questions, 0)
    for phone in phones:
        for qid, up in phone.wish.items():
            if up and qid in expected:
                expected[qid] += 1
    return expected


async def run(args: argparse.Namespace, servers: Servers) -> Json:
    import os

    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{servers.workdir / 'q.db'}"
    database_url = Settings.from_environ({"DATABASE_URL": database_url}).database_url
    db = Database(database_url)
    db.migrate()  # the real path: every table, whatever this process imported
    redis_url = servers.start_redis().url if (args.redis or args.procs > 1) else None
    env = app_env(database_url, redis_url, f"qbench-{uuid.uuid4().hex[:8]}")
    apps = [servers.start_app(env) for _ in range(args.procs)]
    event = new_event(db, pitches=2)
    assert event.id is not None
    tokens = [t for _a, t in seed_attendees(db, event.id, args.phones)]
    urls = [f"{a.ws_base}/e/{event.code}/ws" for a in apps]
    stats = Stats()
    phones = [
        QPhone(urls[i % len(urls)], apps[i % len(apps)].url, t, stats, ident=i, deflate=False)
        for i, t in enumerate(tokens)
    ]
    moderator = QScreen(urls[-1], apps[-1].url, "moderator", first_stage(db, event).moderator_key)
    await moderator.connect()
    connected, failures = await connect_all(phones, 100)
    print(f"  {connected}/{len(phones)} phones connected", flush=True)
    pitch_ids = [p["id"] for p in moderator.welcome["event"]["pitches"]]
    rng = random.Random(16)

    await moderator.command({"type": "open_voting", "pitch_id": pitch_ids[0]})
    await asyncio.sleep(1.0)
    base_lat, base_unacked = await burst(phones, pitch_ids[0], args.burst_seconds, rng)
    print(f"  baseline burst: vote ack p99 {ms(percentile(base_lat, 99))} ms", flush=True)

    await moderator.command({"type": "open_voting", "pitch_id": pitch_ids[1]})
    await asyncio.sleep(1.5)
    cpu0 = sum(a.cpu_seconds() for a in apps)
    (qa_lat, qa_unacked), expected = await asyncio.gather(
        burst(phones, pitch_ids[1], args.burst_seconds, random.Random(17)),
        qa(phones, pitch_ids[1], args, random.Random(18)),
    )
    last_ack = time.perf_counter()
    cpu = sum(a.cpu_seconds() for a in apps) - cpu0
    # When did the moderator first show exactly the final counts?
    shown_at = None
    deadline = time.perf_counter() + 20
    while time.perf_counter() < deadline:
        exact = [at for at, f in moderator.feeds if counts_of(f) == expected]
        if exact:
            shown_at = exact[0]
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.5)  # phones get the feed at most once a second
    sql = db.read(qstore.upvote_counts, event.id)
    sql_full = {q: sql.get(q, 0) for q in expected}
    diff = {q: (expected[q], sql_full[q]) for q in expected if expected[q] != sql_full[q]}
    if diff:
        print(f"  expected vs SQL differ: {diff}", flush=True)
        for app in servers.apps:
            print(app.log.read_text()[-3000:], flush=True)
    sample = [next(p for p in phones if p.ws_url == u) for u in urls]
    phone_counts = [counts_of(p.feed) for p in sample]
    mod_final = counts_of(moderator.feeds[-1][1]) if moderator.feeds else {}
    ask_lat = [acked - sent for p in phones for sent, acked in p.asked]
    up_lat = [x for p in phones for x in p.up_latency]
    q_errors: dict[str, int] = {}
    for p in phones:
        for code, n in p.q_errors.items():
            q_errors[code] = q_errors.get(code, 0) + n
    for p in phones:
        await p.drop()
    await moderator.close()
    db.close()
    upvotes_sent = sum(expected.values())
    return {
        "phones": len(phones),
        "connected": connected,
        "connect_failures": failures[:3],
        "procs": args.procs,
        "database": database_url.split(":")[0],
        "redis": bool(redis_url),
        "baseline_vote_ack_ms": {
            "p50": ms(percentile(base_lat, 50)),
            "p99": ms(percentile(base_lat, 99)),
            "unacked": base_unacked,
        },
        "qa_vote_ack_ms": {
            "p50": ms(percentile(qa_lat, 50)),
            "p99": ms(percentile(qa_lat, 99)),
            "unacked": qa_unacked,
        },
        "questions": len(expected),
        "ask_ack_ms": {"p50": ms(percentile(ask_lat, 50)), "p99": ms(percentile(ask_lat, 99))},
        "upvote_messages": len(up_lat),
        "upvotes_final": upvotes_sent,
        "upvote_ack_ms": {"p50": ms(percentile(up_lat, 50)), "p99": ms(percentile(up_lat, 99))},
        "last_ack_to_moderator_ms": ms(shown_at - last_ack) if shown_at else None,
        "server_cpu_s_qa_burst": round(cpu, 2),
        "question_errors": q_errors,
        "other_errors": dict(stats.errors),
        "disconnects": stats.disconnects,
        "exact": {
            "sql": sql_full == expected,
            "moderator": mod_final == expected,
            "phones": all(c == expected for c in phone_counts),
        },
    }


def render(r: Json) -> str:
    rows = [
        ("phones connected", f"{r['connected']} / {r['phones']}"),
        (
            "vote burst ack p50 / p99, votes only",
            f"{r['baseline_vote_ack_ms']['p50']} / {r['baseline_vote_ack_ms']['p99']} ms",
        ),
        (
            "vote burst ack p50 / p99, with Q&A",
            f"{r['qa_vote_ack_ms']['p50']} / {r['qa_vote_ack_ms']['p99']} ms",
        ),
        (
            "votes unacked (both bursts)",
            r["baseline_vote_ack_ms"]["unacked"] + r["qa_vote_ack_ms"]["unacked"],
        ),
        ("questions asked", r["questions"]),
        ("ask ack p50 / p99", f"{r['ask_ack_ms']['p50']} / {r['ask_ack_ms']['p99']} ms"),
        ("upvote wishes settled / final upvotes", f"{r['upvote_messages']} / {r['upvotes_final']}"),
        ("upvote ack p50 / p99", f"{r['upvote_ack_ms']['p50']} / {r['upvote_ack_ms']['p99']} ms"),
        ("last upvote ack → moderator exact", f"{r['last_ack_to_moderator_ms']} ms"),
        ("server CPU during the Q&A burst", f"{r['server_cpu_s_qa_burst']} s"),
        ("question errors", r["question_errors"] or "none"),
        ("other errors, disconnects", f"{r['other_errors'] or 'none'}, {r['disconnects']}"),
        ("counts exact: SQL / moderator / phones", " / ".join(str(v) for v in r["exact"].values())),
    ]
    width = max(len(k) for k, _v in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


async def main(args: argparse.Namespace) -> int:
    raise_fd_limit()
    with (
        tempfile.TemporaryDirectory(prefix="eventapp-qbench-") as tmp,
        Servers(Path(tmp)) as servers,
    ):
        print(f"Q&A bench: {args.phones} phones, {args.procs} process(es)", flush=True)
        result = await run(args, servers)
    print(render(result))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"bench-questions-{args.phones}-p{args.procs}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))
    print(f"\nwrote {RESULTS / name}")
    return 0 if all(result["exact"].values()) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loadtests.bench_questions", description=__doc__)
    p.add_argument("--phones", type=int, default=500)
    p.add_argument("--askers", type=int, default=50, help="phones that ask a question")
    p.add_argument("--upvotes", type=int, default=4, help="questions each phone upvotes")
    p.add_argument("--burst-seconds", type=float, default=5.0)
    p.add_argument("--procs", type=int, default=1, help="app processes on one Redis")
    p.add_argument("--redis", action="store_true", help="use Redis even with one process")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(uvloop.run(main(parse())))
