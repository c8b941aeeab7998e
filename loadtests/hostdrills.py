"""Fault drills on the multi-host test bed (loadtests/testbed.py), each printing figures
and PASS/FAIL:

    python -m loadtests.hostdrills kill-app         # SIGKILL one app host mid-burst
    python -m loadtests.hostdrills pg-restart       # PostgreSQL stopped and started mid-burst
    python -m loadtests.hostdrills redis-outage     # Redis unreachable for 30 s mid-burst
    python -m loadtests.hostdrills rolling-restart  # both app hosts restarted, one by one
    python -m loadtests.hostdrills all

Options: --phones N (500), --burst-seconds S (10; the Redis drill's burst spans its
outage), --pg-down-seconds (5), --redis-down-seconds (30), --redis-fault cut|stop (cut:
the Redis host's link goes down, packets vanish; stop: redis-server killed, restarted
empty), --kill-mode process|power-off (power-off also unplugs the app host, so nobody
gets a reset), --victim app1|app2 (the host kill-app kills), --ping-seconds (25, the
phones' heartbeat as in live.js), --ready-path (/healthz; /readyz once the app has it).

Each drill builds a fresh test bed, seeds the phones, connects them through nginx
(least_conn spreads them over both app hosts), opens voting and runs a burst in which
every phone votes once while the fault happens. Phones behave like static/js/live.js:
a lost socket is reopened through nginx after 250 ms + a jittered backoff, unconfirmed
votes are resent with their seq, ``not_saved`` is retried. The check is the one of
loadtests/drills.py: every acknowledged vote is in SQL, each phone has one row (a resend
counts once), and the projector shows exactly SQL's counts. Everything stops by itself
and the test bed is removed at the end, also on failure. Exit code 0 when all pass.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import uvloop
import websockets

from eventapp.core.db import Database
from loadtests.drills import Hall
from loadtests.harness import RESULTS, ms, percentile, phone_backoff
from loadtests.testbed import Testbed
from tests.support.phones import Phone, Screen, Stats, connect_all
from tests.support.seeding import first_stage, new_event, seed_attendees, stored_votes
from tests.support.servers import Servers, in_netns, raise_fd_limit

Json = dict[str, Any]


def backoff(attempt: int) -> float:
    """static/js/live.js: 250 ms + full jitter over 500 ms × 2^attempt, at most 15 s."""
    return phone_backoff(attempt)


class RoamingPhone(Phone):
    """A phone that reopens its socket by itself after losing it, through the same URL
    (nginx), so it lands on whichever app host is up. Like static/js/live.js it pings every
    ``ping_every`` s and gives a socket up after 2 × ``ping_every`` + 5 s of silence: the
    only way to notice a host that vanished without a reset (power off)."""

    def __init__(self, *args: Any, ping_every: float | None = 25.0, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.ping_every = ping_every
        self.closing = False
        self.online = False
        self.lost_at: float | None = None
        self.back_after: list[float] = []  # seconds from each loss to the next welcome
        self.heartbeat_drops = 0
        self.closes: Counter[str] = Counter()  # close code (None: no close frame) -> times
        self.last_heard = time.perf_counter()
        self._retry: asyncio.Task[None] | None = None
        self._heart: asyncio.Task[None] | None = None

    async def connect(self, timeout: float = 60.0) -> Json:
        welcome = await super().connect(timeout)
        self.online = True
        self.last_heard = time.perf_counter()
        if self.lost_at is not None:
            self.back_after.append(time.perf_counter() - self.lost_at)
            self.lost_at = None
        if self.ping_every and self._heart is None:
            self._heart = asyncio.create_task(self._heartbeat(self.ping_every))
        return welcome

    def handle(self, msg: Json) -> None:
        self.last_heard = time.perf_counter()
        super().handle(msg)

    async def _heartbeat(self, every: float) -> None:
        await asyncio.sleep(random.random() * every)  # phones joined at different times
        while not self.closing:
            if self.online and self.ws is not None:
                if time.perf_counter() - self.last_heard > 2 * every + 5:
                    self.heartbeat_drops += 1
                    self.abort()
                    self.online = False
                    self.lost_at = time.perf_counter()
                    self._retry = asyncio.create_task(self._reconnect())
                else:
                    with contextlib.suppress(Exception):
                        await self.ws.send('{"type": "ping"}')
            await asyncio.sleep(every)

    async def _read(self, ws: Any) -> None:
        await super()._read(ws)  # returns when the server side closed; cancel propagates
        if self.ws is ws and not self.closing:
            code = f"{ws.close_code} {ws.close_reason or ''}".strip()
            self.closes[code] += 1
            self.ws = None
            self.online = False
            self.lost_at = time.perf_counter()
            self._retry = asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        attempt = 0
        while not self.closing:
            await asyncio.sleep(backoff(attempt))
            attempt += 1
            try:
                # A browser waits for `welcome` as long as the socket is open (until its
                # heartbeat gives up); a short timeout here would turn a slow, busy host
                # into a storm of retries.
                await self.connect(timeout=2 * (self.ping_every or 25.0) + 5)
                return
            except Exception:
                self.abort()  # a half-open try: drop it, its reader must not retry too

    def shut(self) -> None:
        self.closing = True
        for task in (self._retry, self._heart):
            if task is not None:
                task.cancel()
        self.abort()


class RoamingScreen(Screen):
    """A projector or moderator that reopens its socket through nginx when it is lost,
    with the same heartbeat as the phones (screen.js uses live.js too)."""

    def __init__(self, *args: Any, ping_every: float | None = 25.0) -> None:
        super().__init__(*args)
        self.ping_every = ping_every
        self.closing = False
        self.reconnects = 0
        self.last_heard = time.perf_counter()
        self._retry: asyncio.Task[None] | None = None
        self._heart: asyncio.Task[None] | None = None

    async def connect(self) -> Json:
        welcome = await super().connect()
        self.last_heard = time.perf_counter()
        if self.ping_every and self._heart is None:
            self._heart = asyncio.create_task(self._heartbeat(self.ping_every))
        return welcome

    async def _read(self) -> None:
        ws = self.ws
        assert ws is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                self.last_heard = time.perf_counter()
                msg = json.loads(raw)
                if msg["type"] == "screen":
                    self.screens.append((time.perf_counter(), msg))
                    self._changed.set()
                elif msg["type"] in ("command_ack", "error"):
                    self.acks.put_nowait(msg)
        if not self.closing and self.ws is ws:
            self._retry = asyncio.create_task(self._reconnect())

    async def _heartbeat(self, every: float) -> None:
        await asyncio.sleep(random.random() * every)
        while not self.closing:
            ws = self.ws
            if ws is not None and (self._retry is None or self._retry.done()):
                if time.perf_counter() - self.last_heard > 2 * every + 5:
                    if self._reader is not None:
                        self._reader.cancel()
                    ws.transport.abort()
                    self._retry = asyncio.create_task(self._reconnect())
                else:
                    with contextlib.suppress(Exception):
                        await ws.send('{"type": "ping"}')
            await asyncio.sleep(every)

    async def _reconnect(self) -> None:
        attempt = 0
        while not self.closing:
            await asyncio.sleep(backoff(attempt))
            attempt += 1
            try:
                await self.connect()
                self.reconnects += 1
                return
            except Exception:
                if self.ws is not None:
                    self.ws.transport.abort()

    async def close(self) -> None:
        self.closing = True
        for task in (self._retry, self._heart):
            if task is not None:
                task.cancel()
        await super().close()


# ------------------------------------------------------------------ the hall on the bed


def sockets_on(bed: Testbed, host: str) -> int:
    """Established TCP connections to the app port on one app host (nginx's upstream
    connections: one per phone or screen, plus a few for HTTP)."""
    out = subprocess.run(
        [*in_netns(bed.netns(host)), "ss", "-Htn", "state", "established", "( sport = :8000 )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return len([line for line in out.splitlines() if line.strip()])


def spread(bed: Testbed) -> dict[str, int]:
    return {h: sockets_on(bed, h) for h in ("app1", "app2")}


async def open_bed_hall(bed: Testbed, phones: int, ping_every: float | None = 25.0) -> Hall:
    db = Database(bed.database_url)
    event = new_event(db, pitches=3, name="Host drill")
    assert event.id is not None
    tokens = [t for _i, t in await asyncio.to_thread(seed_attendees, db, event.id, phones)]
    stats = Stats()
    ws_url = bed.check_target(f"{bed.ws_base}/e/{event.code}/ws")
    origin = bed.check_target(bed.front_url)
    hall_phones: list[Phone] = [
        RoamingPhone(ws_url, origin, t, stats, ident=i, ping_every=ping_every)
        for i, t in enumerate(tokens)
    ]
    projector = RoamingScreen(
        ws_url, origin, "projector", first_stage(db, event).projector_key, ping_every=ping_every
    )
    moderator = RoamingScreen(
        ws_url, origin, "moderator", first_stage(db, event).moderator_key, ping_every=ping_every
    )
    await projector.connect()
    await moderator.connect()
    connected, failures = await connect_all(hall_phones, 100)
    if connected != phones:
        raise RuntimeError(f"only {connected}/{phones} phones connected: {failures[:3]}")
    pitch_ids = [int(p["id"]) for p in moderator.welcome["event"]["pitches"]]
    servers = Servers(bed.workdir or RESULTS, apps=list(bed.apps))
    return Hall(
        servers, db, bed.apps[0], event.code, pitch_ids, hall_phones, projector, moderator, stats
    )


def roaming(hall: Hall) -> list[RoamingPhone]:
    return [p for p in hall.phones if isinstance(p, RoamingPhone)]


async def all_online(
    hall: Hall, timeout: float, *, since: float | None = None, loss_within: float = 5.0
) -> float | None:
    """Seconds from ``since`` (the fault; default now) until every phone has its welcome
    again; None if some never got it. Right after a fault the phones may not have noticed
    yet: first wait up to ``loss_within`` s for one of them to lose its socket."""
    started = time.perf_counter()
    since = started if since is None else since
    while time.perf_counter() - started < loss_within and all(p.online for p in roaming(hall)):
        await asyncio.sleep(0.02)
    while time.perf_counter() - started < timeout:
        if all(p.online for p in roaming(hall)):
            return round(time.perf_counter() - since, 2)
        await asyncio.sleep(0.05)
    return None


def acked_now(hall: Hall) -> dict[Phone, tuple[int, int]]:
    return {p: p.acked[hall.vote_pitch] for p in hall.phones if hall.vote_pitch in p.acked}


def merge_acked(into: dict[Phone, tuple[int, int]], hall: Hall) -> None:
    for p, acked in acked_now(hall).items():
        if p not in into or into[p][1] < acked[1]:
            into[p] = acked


def moved_figures(hall: Hall) -> Json:
    back = [t for p in roaming(hall) for t in p.back_after]
    return {
        "phones_lost_socket": sum(1 for p in roaming(hall) if p.back_after or not p.online),
        "reconnects": len(back),
        "reconnect_p50_ms": ms(percentile(back, 50)),
        "reconnect_max_ms": ms(max(back) if back else None),
        "heartbeat_drops": sum(p.heartbeat_drops for p in roaming(hall)),
        "close_codes": dict(sum((p.closes for p in roaming(hall)), Counter())),
        "errors": dict(hall.stats.errors),
        "projector_reconnects": getattr(hall.projector, "reconnects", 0),
    }


async def close_hall(hall: Hall, bed: Testbed, figures: Json) -> None:
    """Close every socket, then look for the event's keys and the phones' device tokens
    in every log of the test bed (apps, nginx access and error logs, PostgreSQL)."""
    for p in roaming(hall):
        p.shut()
    await hall.close()
    hall.db.engine.dispose()
    await asyncio.sleep(0.5)  # nginx writes an access-log line when a socket ends
    secrets = [hall.projector.key, hall.moderator.key, *(p.token for p in hall.phones)]
    figures["secrets_in_logs"] = await asyncio.to_thread(secrets_in_logs, bed, secrets)


def secrets_in_logs(bed: Testbed, secrets: list[str]) -> int:
    assert bed.workdir is not None
    found = 0
    for log in bed.workdir.rglob("*.log"):
        with contextlib.suppress(OSError):
            text = log.read_text(errors="replace")
            found += sum(1 for secret in secrets if secret in text)
    return found


def app_ready(bed: Testbed, host: str) -> bool:
    app = bed.app(host)
    with contextlib.suppress(httpx.HTTPError):
        response = httpx.get(f"{app.url}{bed.ready_path}", timeout=2, trust_env=False)
        return response.status_code == 200
    return False


def exact(figures: Json, phones: int) -> bool:
    """The exactness check: nothing acknowledged lost, one row per phone, projector = SQL;
    and no key or device token in any log."""
    return (
        figures["lost"] == 0
        and figures["lost_acked_before_fault"] == 0
        and figures["projector_exact"]
        and figures["stored_rows"] == figures["acked_phones"] == phones
        and figures.get("secrets_in_logs", 0) == 0
    )


# ------------------------------------------------------------------ the drills


async def kill_app(bed: Testbed, args: argparse.Namespace) -> tuple[Json, bool]:
    hall = await open_bed_hall(bed, args.phones, args.ping_seconds)
    await hall.open_voting()
    before = spread(bed)
    acked_before: dict[Phone, tuple[int, int]] = {}
    timings: Json = {}
    power_off = args.kill_mode == "power-off"
    # A vanished host is noticed only by the phones' heartbeat (up to 3 pings + 5 s).
    patience = 60.0 + (3 * args.ping_seconds + 5 if power_off else 0)

    async def kill() -> None:
        merge_acked(acked_before, hall)
        killed = time.perf_counter()
        if power_off:
            bed.cut(args.victim)  # packets to and from it vanish: nobody gets a reset
        bed.app(args.victim).kill()  # SIGKILL: no goodbye, votes in flight unanswered
        timings["all_back_s"] = await all_online(
            hall, patience, since=killed, loss_within=patience if power_off else 5.0
        )

    await hall.burst(hall.phones, args.burst_seconds, at=0.4, fault=kill)
    unconfirmed = await hall.settle(hall.phones, patience)
    figures = await hall.integrity(acked_before)
    figures |= {
        "phones": args.phones,
        "kill_mode": args.kill_mode,
        "sockets_before_kill": before,
        "sockets_after": spread(bed),
        "acked_before_kill": len(acked_before),
        **timings,
        **moved_figures(hall),
        "resent": hall.stats.resent,
        "unconfirmed": unconfirmed,
    }
    await close_hall(hall, bed, figures)
    passed = (
        exact(figures, args.phones)
        and unconfirmed == 0
        and figures["all_back_s"] is not None
        and before[args.victim] > 0
        and figures["phones_lost_socket"] > 0
    )
    return figures, passed


async def pg_restart(bed: Testbed, args: argparse.Namespace) -> tuple[Json, bool]:
    hall = await open_bed_hall(bed, args.phones, args.ping_seconds)
    await hall.open_voting()
    pids = [a.process.pid for a in bed.apps if a.process is not None]
    acked_before: dict[Phone, tuple[int, int]] = {}
    moment: Json = {}

    async def restart() -> None:
        merge_acked(acked_before, hall)
        started = time.perf_counter()
        await asyncio.to_thread(bed.stop_pg)
        moment["stopped_s"] = round(time.perf_counter() - started, 2)
        await asyncio.sleep(args.pg_down_seconds)
        await asyncio.to_thread(bed.start_pg)
        moment["back"] = time.perf_counter()
        moment["down_s"] = round(moment["back"] - started, 2)

    await hall.burst(hall.phones, args.burst_seconds, at=0.4, fault=restart)
    unconfirmed = await hall.settle(hall.phones, 60)
    drained = time.perf_counter() - moment["back"]
    figures = await hall.integrity(acked_before)
    alive = all(a.process is not None and a.process.poll() is None for a in bed.apps)
    same = pids == [a.process.pid for a in bed.apps if a.process is not None]
    ready = [app_ready(bed, h) for h in ("app1", "app2")]
    figures |= {
        "phones": args.phones,
        "acked_before_stop": len(acked_before),
        "pg_stop_s": moment["stopped_s"],
        "pg_down_s": moment["down_s"],
        "not_saved_errors": hall.stats.errors.get("not_saved", 0),
        "resent": hall.stats.resent,
        "all_acked_after_pg_back_s": round(drained, 2) if unconfirmed == 0 else None,
        "apps_same_processes": alive and same,
        "apps_ready_after": ready,
        **moved_figures(hall),
        "unconfirmed": unconfirmed,
    }
    await close_hall(hall, bed, figures)
    passed = (
        exact(figures, args.phones)
        and unconfirmed == 0
        and figures["not_saved_errors"] > 0  # the outage did hit votes
        and alive
        and same
        and all(ready)
    )
    return figures, passed


async def redis_outage(bed: Testbed, args: argparse.Namespace) -> tuple[Json, bool]:
    hall = await open_bed_hall(bed, args.phones, args.ping_seconds)
    await hall.open_voting()
    down = args.redis_down_seconds
    # The burst spans the outage: a third before, the outage, a little after.
    seconds = max(args.burst_seconds, down * 1.5)
    at = 0.25
    moment: Json = {}

    async def outage() -> None:
        moment["cut"] = time.perf_counter()
        moment["stored_at_cut"] = len(
            await asyncio.to_thread(stored_votes, hall.db, hall.vote_pitch)
        )
        if args.redis_fault == "cut":
            bed.cut("redis")
        else:
            assert bed.redis is not None
            bed.redis.kill()
        await asyncio.sleep(down)
        if args.redis_fault == "cut":
            bed.plug("redis")
        else:
            assert bed.redis is not None
            await asyncio.to_thread(bed.redis.start)
        moment["back"] = time.perf_counter()
        moment["stored_at_back"] = len(
            await asyncio.to_thread(stored_votes, hall.db, hall.vote_pitch)
        )

    t0 = await hall.burst(hall.phones, seconds, at=at, fault=outage)
    unconfirmed = await hall.settle(hall.phones, 60)
    cut, back = moment["cut"], moment["back"]
    stats = hall.stats
    during = [
        lat
        for lat, sent in zip(stats.ack_latency, stats.ack_sent, strict=True)
        if cut <= sent + lat <= back
    ]
    recovered = next(
        (
            at_ - back
            for at_, m in hall.projector.screens
            if at_ > back
            and (m.get("current") or {}).get("votes_in", 0) >= moment["stored_at_back"]
        ),
        None,
    )
    figures = await hall.integrity()
    figures["lost_acked_before_fault"] = 0
    figures |= {
        "phones": args.phones,
        "fault": args.redis_fault,
        "burst_s": seconds,
        "outage_s": round(back - cut, 1),
        "outage_started_at_s": round(cut - t0, 1),
        "acked_during_outage": len(during),
        "ack_p50_during_outage_ms": ms(percentile(during, 50)),
        "ack_p99_during_outage_ms": ms(percentile(during, 99)),
        "stored_at_cut": moment["stored_at_cut"],
        "stored_at_back": moment["stored_at_back"],
        "tallies_recovered_after_back_s": None if recovered is None else round(recovered, 2),
        "not_saved_errors": stats.errors.get("not_saved", 0),
        **moved_figures(hall),
        "unconfirmed": unconfirmed,
    }
    await close_hall(hall, bed, figures)
    passed = (
        exact(figures, args.phones)
        and unconfirmed == 0
        # Voting went on: votes were acknowledged (stored in SQL) while Redis was away.
        and len(during) > 0
        and figures["stored_at_back"] > figures["stored_at_cut"]
        and recovered is not None
        and recovered <= 10.0
    )
    return figures, passed


async def rolling_restart(bed: Testbed, args: argparse.Namespace) -> tuple[Json, bool]:
    hall = await open_bed_hall(bed, args.phones, args.ping_seconds)
    await hall.open_voting()
    seconds = max(args.burst_seconds, 20.0)
    acked_before: dict[Phone, tuple[int, int]] = {}
    steps: list[Json] = []
    old = [a.process.pid for a in bed.apps if a.process is not None]

    async def roll() -> None:
        for host in ("app1", "app2"):
            app = bed.app(host)
            merge_acked(acked_before, hall)
            step: Json = {"host": host, "sockets_before": spread(bed)}
            started = time.perf_counter()
            await asyncio.to_thread(app.stop)  # SIGTERM, SIGKILL after 15 s
            step["stop_s"] = round(time.perf_counter() - started, 2)
            await asyncio.to_thread(app.start)  # returns when the ready path answers 200
            step["down_s"] = round(time.perf_counter() - started, 2)
            # The phones moved to the other host while this one restarted.
            step["all_back_s"] = await all_online(hall, 60, since=started, loss_within=0)
            step["sockets_after"] = spread(bed)
            steps.append(step)
            await asyncio.sleep(1.0)

    await hall.burst(hall.phones, seconds, at=0.15, fault=roll)
    unconfirmed = await hall.settle(hall.phones, 60)
    figures = await hall.integrity(acked_before)
    new = [a.process.pid for a in bed.apps if a.process is not None]
    figures |= {
        "phones": args.phones,
        "burst_s": seconds,
        "steps": steps,
        **moved_figures(hall),
        "resent": hall.stats.resent,
        "unconfirmed": unconfirmed,
    }
    await close_hall(hall, bed, figures)
    passed = (
        exact(figures, args.phones)
        and unconfirmed == 0
        and len(steps) == 2
        and all(s["all_back_s"] is not None for s in steps)
        and all(a != b for a, b in zip(old, new, strict=True))
    )
    return figures, passed


Drill = Callable[[Testbed, argparse.Namespace], Coroutine[Any, Any, tuple[Json, bool]]]
DRILLS: dict[str, Drill] = {
    "kill-app": kill_app,
    "pg-restart": pg_restart,
    "redis-outage": redis_outage,
    "rolling-restart": rolling_restart,
}


async def run_drill(name: str, args: argparse.Namespace) -> tuple[Json, bool]:
    """Build a fresh test bed, run one drill in it, remove the test bed (also on failure)."""
    bed = Testbed(tag=args.tag, subnet=args.subnet, ready_path=args.ready_path)
    with bed:
        figures, passed = await asyncio.wait_for(DRILLS[name](bed, args), args.timeout)
    return figures, passed


async def run(name: str, args: argparse.Namespace) -> bool:
    print(f"== {name}: {args.phones} phones on the test bed", flush=True)
    figures, passed = await run_drill(name, args)
    for key, value in figures.items():
        print(f"   {key:34} {value}")
    print(f"   {'PASS' if passed else 'FAIL'}  {name}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"hostdrill-{name}-{args.phones}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"drill": name, "passed": passed, "figures": figures}, indent=2))
    return passed


async def main(args: argparse.Namespace) -> int:
    raise_fd_limit()
    # SIGTERM (e.g. from `timeout`) cancels the run, so the test bed is still removed.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    # Every target is a test bed address; a proxy from the environment must not see them.
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        os.environ.pop(var, None)
    names = list(DRILLS) if args.drill == "all" else [args.drill]
    results = [await run(name, args) for name in names]
    return 0 if all(results) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.hostdrills",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("drill", choices=[*DRILLS, "all"])
    p.add_argument("--phones", type=int, default=500)
    p.add_argument("--burst-seconds", type=float, default=10.0)
    p.add_argument("--pg-down-seconds", type=float, default=5.0)
    p.add_argument("--redis-down-seconds", type=float, default=30.0)
    p.add_argument("--redis-fault", choices=["cut", "stop"], default="cut")
    p.add_argument(
        "--kill-mode",
        choices=["process", "power-off"],
        default="process",
        help="kill-app: SIGKILL the app (process) or also unplug its host (power-off)",
    )
    p.add_argument("--victim", choices=["app1", "app2"], default="app1", help="kill-app: which")
    p.add_argument("--ping-seconds", type=float, default=25.0, help="phone heartbeat (live.js)")
    p.add_argument("--ready-path", default="/healthz")
    p.add_argument("--tag", default="eatb", help="test bed name prefix")
    p.add_argument("--subnet", default="10.231.7", help="test bed /24 (first three octets)")
    p.add_argument("--timeout", type=float, default=300.0, help="upper bound per drill, s")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(uvloop.run(main(parse())))
