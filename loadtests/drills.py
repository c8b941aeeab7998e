"""Fault drills against a real app on a real Redis, each printing figures and PASS/FAIL.

    python -m loadtests.drills redis-restart     # Redis killed and restarted mid-burst
    python -m loadtests.drills app-kill          # the app SIGKILLed mid-burst, restarted
    python -m loadtests.drills reconnect-storm   # every phone drops and reconnects at once
    python -m loadtests.drills slow-readers      # 1% of phones stop reading their socket
    python -m loadtests.drills all

Options: --phones N (default 1000), --burst-seconds S (default 5). Everything runs on
127.0.0.1 in processes started here, and stops by itself. Exit code 0 when all pass.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from eventapp.core.db import Database
from loadtests.harness import RESULTS, ms, percentile
from tests.support.phones import Phone, Screen, Stats, connect_all
from tests.support.seeding import first_stage, new_event, seed_attendees, stored_votes
from tests.support.servers import AppServer, Servers, app_env, raise_fd_limit

Json = dict[str, Any]


@dataclass
class Hall:
    """One event with N phones, a projector and a moderator, on an app with Redis."""

    servers: Servers
    db: Database
    app: AppServer
    code: str
    pitch_ids: list[int]
    phones: list[Phone]
    projector: Screen
    moderator: Screen
    stats: Stats
    figures: Json = field(default_factory=dict)

    @property
    def vote_pitch(self) -> int:
        return self.pitch_ids[0]

    async def open_voting(self) -> None:
        await self.moderator.command({"type": "open_voting", "pitch_id": self.vote_pitch})

    async def burst(
        self,
        voters: list[Phone],
        seconds: float,
        *,
        at: float | None = None,
        fault: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> float:
        """Each voter rates the pitch once, spread over ``seconds``; ``fault`` runs at
        fraction ``at`` of the way through. Returns the start time."""
        rng = random.Random(11)
        schedule = sorted((rng.uniform(0, seconds), p) for p in voters)
        t0 = time.perf_counter()
        fault_task: asyncio.Task[None] | None = None
        for offset, phone in schedule:
            if (
                fault is not None
                and fault_task is None
                and at is not None
                and offset >= at * seconds
            ):
                fault_task = asyncio.create_task(fault())
            delay = t0 + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await phone.vote(self.vote_pitch, rng.randint(1, 5))
        if fault_task is not None:
            await fault_task
        return t0

    async def settle(self, phones: list[Phone], timeout: float) -> int:
        """Wait until no phone has an unconfirmed vote; returns how many still have one."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and any(p.pending for p in phones):
            await asyncio.sleep(0.05)
        return sum(1 for p in phones if p.pending)

    async def integrity(self, acked_before: dict[Phone, tuple[int, int]] | None = None) -> Json:
        """Acked vs SQL vs projector, for the vote pitch."""
        stored = await asyncio.to_thread(stored_votes, self.db, self.vote_pitch)
        lost = [
            p
            for p in self.phones
            if self.vote_pitch in p.acked
            and p.attendee_id is not None
            and stored.get(p.attendee_id, (0, -1))[1] < p.acked[self.vote_pitch][1]
        ]
        lost_before = [
            p
            for p, (_score, seq) in (acked_before or {}).items()
            if p.attendee_id is not None and stored.get(p.attendee_id, (0, -1))[1] < seq
        ]
        counts = Counter(score for score, _seq in stored.values())
        expected = {str(s): counts.get(s, 0) for s in range(1, 6)}
        started = time.perf_counter()
        screen = await self.projector.wait_for(
            lambda m: (
                ((m.get("current") or {}).get("summary") or {}).get("distribution") == expected
            ),
            10,
        )
        voters = sum(1 for p in self.phones if self.vote_pitch in p.acked)
        return {
            "acked_phones": voters,
            "stored_rows": len(stored),
            "lost": len(lost),
            "lost_acked_before_fault": len(lost_before),
            "projector_exact": screen is not None,
            "projector_counts": (
                ((self.projector.last() or {}).get("current") or {}).get("summary") or {}
            ).get("distribution"),
            "projector_matched_after_s": round(time.perf_counter() - started, 2),
            "sql_counts": expected,
        }

    async def close(self) -> None:
        await self.moderator.close()
        await self.projector.close()
        for p in self.phones:
            p.abort()


async def open_hall(servers: Servers, phones: int, *, pitches: int = 3) -> Hall:
    redis = servers.start_redis()
    url = f"sqlite:///{servers.workdir / 'drill.db'}"
    db = Database(url)
    db.migrate()  # the real path: every table, whatever this process imported
    app = servers.start_app(app_env(url, redis.url, f"drill-{uuid.uuid4().hex[:8]}"))
    event = new_event(db, pitches=pitches, name="Drill")
    assert event.id is not None
    tokens = [t for _i, t in await asyncio.to_thread(seed_attendees, db, event.id, phones)]
    stats = Stats()
    ws_url = f"{app.ws_base}/e/{event.code}/ws"
    hall_phones = [Phone(ws_url, app.url, t, stats, ident=i) for i, t in enumerate(tokens)]
    projector = Screen(ws_url, app.url, "projector", first_stage(db, event).projector_key)
    moderator = Screen(ws_url, app.url, "moderator", first_stage(db, event).moderator_key)
    await projector.connect()
    await moderator.connect()
    connected, failures = await connect_all(hall_phones, 200)
    if connected != phones:
        raise RuntimeError(f"only {connected}/{phones} phones connected: {failures[:3]}")
    pitch_ids = [int(p["id"]) for p in moderator.welcome["event"]["pitches"]]
    return Hall(servers, db, app, event.code, pitch_ids, hall_phones, projector, moderator, stats)


# ------------------------------------------------------------------ the drills


async def redis_restart(servers: Servers, args: argparse.Namespace) -> tuple[Json, bool]:
    hall = await open_hall(servers, args.phones)
    await hall.open_voting()
    assert servers.redis is not None
    moment: Json = {}

    async def restart() -> None:
        await asyncio.to_thread(servers.redis.restart)
        moment["at"] = time.perf_counter()
        # What SQL held when Redis came back empty: until the hub rebuilds from SQL, the
        # projector cannot show that many (fewer votes follow the restart than preceded it).
        moment["stored"] = len(await asyncio.to_thread(stored_votes, hall.db, hall.vote_pitch))

    await hall.burst(hall.phones, args.burst_seconds, at=0.6, fault=restart)
    unconfirmed = await hall.settle(hall.phones, 30)
    figures = await hall.integrity()
    recovered = next(
        (
            at - moment["at"]
            for at, m in hall.projector.screens
            if at > moment["at"] and (m.get("current") or {}).get("votes_in", 0) >= moment["stored"]
        ),
        None,
    )
    figures |= {
        "phones": args.phones,
        "unconfirmed": unconfirmed,
        "votes_stored_at_restart": moment["stored"],
        "not_saved_errors": hall.stats.errors.get("not_saved", 0),
        "resent": hall.stats.resent,
        "tallies_recovered_after_restart_s": None if recovered is None else round(recovered, 2),
    }
    await hall.close()
    passed = (
        figures["lost"] == 0
        and unconfirmed == 0
        and figures["projector_exact"]
        and recovered is not None
        and recovered <= 5.0
    )
    return figures, passed


async def app_kill(servers: Servers, args: argparse.Namespace) -> tuple[Json, bool]:
    hall = await open_hall(servers, args.phones)
    await hall.open_voting()
    acked_before: dict[Phone, tuple[int, int]] = {}
    timings: Json = {}

    async def kill_and_restart() -> None:
        hall.app.kill()
        killed = time.perf_counter()
        for p in hall.phones:
            if hall.vote_pitch in p.acked:
                acked_before[p] = p.acked[hall.vote_pitch]
        for p in hall.phones:
            p.abort()
        await hall.projector.close()
        await asyncio.to_thread(hall.app.start)
        timings["restart_s"] = round(time.perf_counter() - killed, 2)
        started = time.perf_counter()
        connected, failures = await connect_all(hall.phones, 200)
        timings["reconnect_all_s"] = round(time.perf_counter() - started, 2)
        timings["reconnected"] = connected
        timings["reconnect_failures"] = failures[:3]
        await hall.projector.connect()

    await hall.burst(hall.phones, args.burst_seconds, at=0.4, fault=kill_and_restart)
    unconfirmed = await hall.settle(hall.phones, 30)
    figures = await hall.integrity(acked_before)
    figures |= timings | {
        "phones": args.phones,
        "acked_before_kill": len(acked_before),
        "resent_after_reconnect": hall.stats.resent,
        "unconfirmed": unconfirmed,
    }
    await hall.close()
    passed = (
        figures["lost_acked_before_fault"] == 0
        and figures["lost"] == 0
        and unconfirmed == 0
        and figures["projector_exact"]
        and figures["reconnected"] == args.phones
        # Resent votes count once: one row per phone that voted, no more.
        and figures["stored_rows"] == figures["acked_phones"] == args.phones
    )
    return figures, passed


async def reconnect_storm(servers: Servers, args: argparse.Namespace) -> tuple[Json, bool]:
    hall = await open_hall(servers, args.phones)
    await hall.open_voting()
    await asyncio.sleep(1.5)
    rss_before = hall.app.rss()
    for p in hall.phones:
        p.abort()
    started = time.perf_counter()
    connected, failures = await connect_all(hall.phones, args.phones)
    took = time.perf_counter() - started
    # Presence catches up within a couple of its 1 s ticks.
    shown = await hall.projector.wait_for(lambda m: m.get("connected") == args.phones, 10)
    presence_s = time.perf_counter() - started
    await asyncio.sleep(2)
    rss_after = hall.app.rss()
    # The hall still works: a burst right after the storm.
    hall.stats.ack_latency.clear()
    await hall.burst(hall.phones, args.burst_seconds)
    unconfirmed = await hall.settle(hall.phones, 30)
    lat = hall.stats.ack_latency
    figures = await hall.integrity()
    figures |= {
        "phones": args.phones,
        "reconnected": connected,
        "failures": failures[:3],
        "reconnect_all_s": round(took, 2),
        "reconnects_per_s": round(connected / took, 1),
        "projector_connected_ok_after_s": round(presence_s, 2) if shown else None,
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_after_mib": round(rss_after / 2**20, 1),
        "ack_p99_after_ms": ms(percentile(lat, 99)),
        "unconfirmed": unconfirmed,
    }
    await hall.close()
    passed = (
        connected == args.phones
        and shown is not None
        and figures["lost"] == 0
        and unconfirmed == 0
        and figures["projector_exact"]
        and rss_after < rss_before * 1.5 + 50 * 2**20
    )
    return figures, passed


async def slow_readers(servers: Servers, args: argparse.Namespace) -> tuple[Json, bool]:
    hall = await open_hall(servers, args.phones, pitches=18)
    rng = random.Random(5)
    slow = rng.sample(hall.phones, max(1, args.phones // 100))
    others = [p for p in hall.phones if p not in slow]
    half = len(others) // 2
    first, second = others[:half], others[half:]
    await hall.open_voting()

    async def churn() -> None:
        # Every state change goes to every socket, the frozen ones too. Re-opening the
        # open pitch is one (version bump, broadcast) that keeps voting open; twice a
        # second, far busier than a real moderator.
        deadline = time.perf_counter() + args.burst_seconds
        while time.perf_counter() < deadline:
            await hall.moderator.command({"type": "open_voting", "pitch_id": hall.vote_pitch})
            await asyncio.sleep(0.5)

    # Baseline: the same churn while half of the healthy phones vote, every phone reading.
    churning = asyncio.create_task(churn())
    await hall.burst(first, args.burst_seconds)
    await churning
    await hall.settle(first, 30)
    baseline = list(hall.stats.ack_latency)
    # Now 1% freeze, the moderator churns state, and the other half votes.
    for p in slow:
        p.stop_reading()
    hall.stats.ack_latency.clear()
    churning = asyncio.create_task(churn())
    await hall.burst(second, args.burst_seconds)
    await churning
    unconfirmed = await hall.settle(second, 30)
    with_slow = list(hall.stats.ack_latency)
    rss = hall.app.rss()
    figures = await hall.integrity()
    b99, s99 = percentile(baseline, 99) or 0.0, percentile(with_slow, 99) or 1e9
    figures |= {
        "phones": args.phones,
        "frozen": len(slow),
        "ack_p50_baseline_ms": ms(percentile(baseline, 50)),
        "ack_p99_baseline_ms": ms(b99),
        "ack_p50_with_frozen_ms": ms(percentile(with_slow, 50)),
        "ack_p99_with_frozen_ms": ms(s99),
        "unconfirmed": unconfirmed,
        "server_rss_mib": round(rss / 2**20, 1),
    }
    await hall.close()
    # Unaffected: the others' latency with frozen phones stays within noise of the same
    # load with every phone reading.
    passed = unconfirmed == 0 and figures["projector_exact"] and s99 <= 2 * b99 + 0.05
    return figures, passed


Drill = Callable[[Servers, argparse.Namespace], Coroutine[Any, Any, tuple[Json, bool]]]
DRILLS: dict[str, Drill] = {
    "redis-restart": redis_restart,
    "app-kill": app_kill,
    "reconnect-storm": reconnect_storm,
    "slow-readers": slow_readers,
}


async def run(name: str, args: argparse.Namespace) -> bool:
    print(f"== {name}: {args.phones} phones", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"eventapp-{name}-") as tmp, Servers(Path(tmp)) as s:
        figures, passed = await DRILLS[name](s, args)
    for key, value in figures.items():
        print(f"   {key:40} {value}")
    print(f"   {'PASS' if passed else 'FAIL'}  {name}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"drill-{name}-{args.phones}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"drill": name, "passed": passed, "figures": figures}, indent=2))
    return passed


async def main(args: argparse.Namespace) -> int:
    raise_fd_limit()
    names = list(DRILLS) if args.drill == "all" else [args.drill]
    results = [await run(name, args) for name in names]
    return 0 if all(results) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.drills",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("drill", choices=[*DRILLS, "all"])
    p.add_argument("--phones", type=int, default=1000)
    p.add_argument("--burst-seconds", type=float, default=5.0)
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(uvloop.run(main(parse())))
