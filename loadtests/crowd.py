"""The phones of a benchmark or drill, spread over several client processes so that the
load generator is not the limit, and each process reports its own event-loop lag.

The parent (bench.py, drills.py) starts ``--clients`` worker processes
(``python -m loadtests.crowd``, pinned to the client CPUs when asked), hands each its
share of the phones (phone i goes to worker i mod W), and drives them phase by phase
with one JSON line per command on the worker's stdin; each answers one JSON line on its
stdout. Workers return raw samples (ack latencies, receive times, reconnect times), never
percentiles, so the parent's percentiles are over all samples of all processes.

Several stages (bench_stages.py): a phone may carry its stage (it says so in its hello), a
vote schedule entry its own pitch, and the "opened" wait takes [stage, pitch] pairs and
answers per pitch, so every stage can open voting at once and be timed on its own.

Times are ``time.perf_counter()``, CLOCK_MONOTONIC on Linux: the same clock in every
process of the machine, so a worker's receive time and the parent's send time compare.

Each worker samples its own loop: a task sleeps 10 ms and records how late it woke
(``lag``). The parent cuts the samples into its phases; a client loop that lags during a
phase means that phase measured the client, not the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil  # type: ignore[import-untyped]
import uvloop

from loadtests.harness import ms, percentile, phone_backoff
from tests.support.phones import Phone, Stats
from tests.support.servers import ROOT, raise_fd_limit

Json = dict[str, Any]

LAG_TICK = 0.01  # the worker's loop-lag sampler sleeps this long between samples
# A phone that opened its socket waits for `welcome` as long as a browser keeps the socket
# (live.js gives it up after two silent 25 s heartbeats).
WELCOME_WAIT = 55.0


# ------------------------------------------------------------------ the worker process


class Worker:
    def __init__(self, init: Json) -> None:
        self.stats = Stats()
        # [ident, url, origin, token, stage or None]: a phone on a stage says so in its
        # hello (issue 15); None is the event's first stage.
        self.phones = [
            Phone(
                url,
                origin,
                token,
                self.stats,
                ident=ident,
                deflate=init["deflate"],
                stage=stage,
                lean=init["lean"],
            )
            for ident, url, origin, token, stage in init["phones"]
        ]
        self.lag: list[tuple[float, float]] = []
        self.connected = 0

    async def sample_lag(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(LAG_TICK)
            now = time.perf_counter()
            self.lag.append((now, max(0.0, now - t - LAG_TICK)))

    async def freeze_survivors(self) -> None:
        """As the app does (eventapp/live/gcpolicy.py): thousands of sockets' long-lived
        objects are frozen every 2 s, so a full collection does not walk them all and stall
        this client's loop. Frozen sockets that die in cycles (the storm's aborted ones)
        are never freed: a few hundred MiB at 10,000 phones, for a process of one run."""
        while True:
            await asyncio.sleep(2.0)
            gc.freeze()

    async def op_connect(self, concurrency: int) -> Json:
        gate = asyncio.Semaphore(max(1, concurrency))
        failures: list[str] = []
        latencies: list[float] = []
        started = time.perf_counter()

        async def one(phone: Phone) -> bool:
            async with gate:
                for attempt in range(3):
                    t = time.perf_counter()
                    try:
                        await phone.connect()
                        latencies.append(time.perf_counter() - t)
                        return True
                    except Exception as exc:
                        phone.abort()
                        if attempt == 2:
                            failures.append(f"{type(exc).__name__}: {exc}"[:200])
                        await asyncio.sleep(0.5 * (attempt + 1))
                return False

        results = await asyncio.gather(*(one(p) for p in self.phones))
        self.connected = sum(results)
        return {
            "connected": self.connected,
            "failures": failures[:5],
            "started": started,
            "done": time.perf_counter(),
            "latencies": latencies,
        }

    async def op_arm_opened(
        self, pitch: int | None = None, stages: list[list[int]] | None = None
    ) -> Json:
        for p in [pitch] if pitch is not None else [p for _stage, p in stages or []]:
            self.stats.opened[p] = []
        return {}

    async def op_opened(
        self, timeout: float, pitch: int | None = None, stages: list[list[int]] | None = None
    ) -> Json:
        """Wait until every connected phone saw ``pitch`` open; or, with ``stages``
        ([[stage id, pitch] …], several stages opening at once), until every connected
        phone of each stage saw its stage's pitch. Answers the receive times, all of them
        (``times``) and per pitch (``by_pitch``), and how many phones waited (``want``)."""
        deadline = time.perf_counter() + timeout
        live = [p for p in self.phones if p.ws is not None]
        if pitch is not None:
            want = {pitch: len(live)}
        else:
            want = {p: sum(1 for ph in live if ph.stage == stage) for stage, p in stages or []}
        opened = self.stats.opened
        while time.perf_counter() < deadline and any(
            len(opened.get(p, [])) < n for p, n in want.items()
        ):
            await asyncio.sleep(0.01)
        by_pitch = {str(p): list(opened.get(p, [])) for p in want}
        return {
            "times": [t for times in by_pitch.values() for t in times],
            "by_pitch": by_pitch,
            "want": {str(p): n for p, n in want.items()},  # connected phones waiting for it
        }

    async def op_votes(
        self, t0: float, schedule: list[list[float]], wait: float, pitch: int | None = None
    ) -> Json:
        """Send ``schedule`` from ``t0``; wait for acks. An entry is [offset, local index,
        score] on ``pitch``, or [offset, local index, score, pitch] on a pitch of its own
        (several stages voting at once). ``first_acks`` are counted on ``pitch`` only."""
        s = self.stats
        s.ack_latency.clear()
        s.ack_sent.clear()
        s.first_acks.clear()
        s.measured_pitch = pitch
        for phone in self.phones:
            phone.inflight.clear()
        touched: set[tuple[Phone, int]] = set()
        skipped = 0
        for offset, index, score, *own in schedule:
            phone = self.phones[int(index)]
            target = int(own[0]) if own else pitch
            assert target is not None, "a vote needs a pitch: the op's or the entry's own"
            delay = t0 + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if phone.ws is None:
                skipped += 1
                continue
            touched.add((phone, target))
            await phone.vote(target, int(score))
        sent_done = time.perf_counter()
        deadline = sent_done + wait
        while time.perf_counter() < deadline and any(p in ph.pending for ph, p in touched):
            await asyncio.sleep(0.05)
        return {
            "ack_latency": list(s.ack_latency),
            "ack_sent": list(s.ack_sent),
            "first_acks": list(s.first_acks),
            "voters": len({ph for ph, _p in touched}),
            "unacked": sum(1 for ph, p in touched if p in ph.pending),
            "skipped": skipped,
            "sent_done": sent_done,
        }

    async def op_acked(self, pitch: int) -> Json:
        """What each phone was told is saved for ``pitch``: [attendee_id, score, seq]."""
        return {
            "acked": [
                [p.attendee_id, *p.acked[pitch]]
                for p in self.phones
                if pitch in p.acked and p.attendee_id is not None
            ],
            "pending": sum(1 for p in self.phones if pitch in p.pending),
        }

    async def op_storm(self, timeout: float) -> Json:
        """Every phone loses its socket at once without a closing handshake, then comes
        back as static/js/live.js does: 250 ms + full jitter, doubling per failed try."""
        dropped = time.perf_counter()
        for phone in self.phones:
            phone.abort()
        back: list[float] = []
        tries: list[int] = []
        failures: list[str] = []
        deadline = dropped + timeout

        async def one(phone: Phone) -> None:
            attempt = 0  # live.js's backoff exponent
            tried = 0
            while time.perf_counter() < deadline:
                await asyncio.sleep(phone_backoff(attempt))
                attempt += 1
                tried += 1
                try:
                    await phone.connect(timeout=WELCOME_WAIT)
                except Exception as exc:
                    if phone.ws is not None:
                        attempt = 0  # live.js: the socket opened (onopen resets the backoff)
                    phone.abort()
                    if len(failures) < 5:
                        failures.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                back.append(time.perf_counter())
                tries.append(tried)
                return

        await asyncio.gather(*(one(p) for p in self.phones))
        self.connected = sum(1 for p in self.phones if p.ws is not None)
        return {"dropped": dropped, "back": back, "tries": tries, "failures": failures}

    async def op_lag(self) -> Json:
        return {"lag": self.lag}

    async def op_close(self) -> Json:
        for phone in self.phones:
            phone.abort()
        return {}


async def worker_main() -> None:
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**28)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout

    def reply(message: Json) -> None:
        out.write(json.dumps(message, separators=(",", ":")) + "\n")
        out.flush()

    worker = Worker(json.loads(await reader.readline()))
    sampler = asyncio.create_task(worker.sample_lag())
    freezer = asyncio.create_task(worker.freeze_survivors())
    reply({"ready": os.getpid()})
    while line := await reader.readline():
        command = json.loads(line)
        op = command.pop("op")
        try:
            reply(await getattr(worker, f"op_{op}")(**command))
        except Exception as exc:  # the parent reports it; the worker stays usable
            reply({"error": f"{op}: {type(exc).__name__}: {exc}"})
        if op == "close":
            break
    sampler.cancel()
    freezer.cancel()


# ------------------------------------------------------------------ the parent's side


@dataclass
class Phase:
    name: str
    start: float
    end: float | None = None


@dataclass
class Crowd:
    """The client processes of one target (app or floor) and the phases they ran."""

    procs: list[asyncio.subprocess.Process]
    sizes: list[int]  # phones per worker
    phases: list[Phase] = field(default_factory=list)
    cpu_marks: dict[str, float] = field(default_factory=dict)
    # The orchestrating process's own loop lag, when it holds sockets too (watch_parent).
    parent_lag: list[tuple[float, float]] = field(default_factory=list)
    _parent_sampler: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        tokens: Sequence[str],
        ws_urls: Sequence[str],
        *,
        workers: int,
        cpus: set[int] | None,
        deflate: bool = True,
        lean: bool = True,
        stages: Sequence[int | None] | None = None,
    ) -> Crowd:
        """``stages[i]``: the stage phone i is on (None or absent: the event's first)."""
        workers = max(1, min(workers, len(tokens) or 1))
        shares: list[list[list[Any]]] = [[] for _ in range(workers)]
        for i, token in enumerate(tokens):
            url = ws_urls[i % len(ws_urls)]
            stage = stages[i] if stages is not None else None
            shares[i % workers].append([i, url, origin_of(url), token, stage])

        def pin() -> None:
            if cpus:
                os.sched_setaffinity(0, cpus)

        procs = []
        for share in shares:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "loadtests.crowd",
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=2**28,
                preexec_fn=pin,
            )
            assert proc.stdin is not None
            proc.stdin.write(
                json.dumps({"phones": share, "deflate": deflate, "lean": lean}).encode() + b"\n"
            )
            procs.append(proc)
        crowd = cls(procs, [len(s) for s in shares])
        for proc in procs:
            await crowd._read(proc)
        return crowd

    @property
    def workers(self) -> int:
        return len(self.procs)

    async def _read(self, proc: asyncio.subprocess.Process) -> Json:
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError(f"client process {proc.pid} ended (exit {await proc.wait()})")
        answer: Json = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"client process {proc.pid}: {answer['error']}")
        return answer

    async def ask(self, op: str, each: Sequence[Json] | None = None, **common: Any) -> list[Json]:
        """Send ``op`` to every worker (``each[w]`` adds worker w's own arguments) and
        gather the answers in worker order."""
        for w, proc in enumerate(self.procs):
            assert proc.stdin is not None
            args = {"op": op, **common, **(each[w] if each is not None else {})}
            proc.stdin.write(json.dumps(args, separators=(",", ":")).encode() + b"\n")
        for proc in self.procs:
            assert proc.stdin is not None
            await proc.stdin.drain()
        return list(await asyncio.gather(*(self._read(p) for p in self.procs)))

    def watch_parent(self) -> None:
        """Sample this (the parent) process's loop lag as the workers do theirs: for a
        parent that holds sockets of its own (screens), its lag is in the figures too."""

        async def sample() -> None:
            while True:
                t = time.perf_counter()
                await asyncio.sleep(LAG_TICK)
                now = time.perf_counter()
                self.parent_lag.append((now, max(0.0, now - t - LAG_TICK)))

        self._parent_sampler = asyncio.create_task(sample())

    def locate(self, index: int) -> tuple[int, int]:
        """Global phone index -> (worker, index within the worker)."""
        return index % self.workers, index // self.workers

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Mark a phase: its client loop lag and client CPU are reported per worker."""
        self.cpu_marks[name] = self.cpu_seconds()
        phase = Phase(name, time.perf_counter())
        self.phases.append(phase)
        try:
            yield
        finally:
            phase.end = time.perf_counter()
            self.cpu_marks[name] = self.cpu_seconds() - self.cpu_marks[name]

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = psutil.Process(proc.pid).cpu_times()
                total += t.user + t.system
        return total

    async def lag_report(self) -> Json:
        """Per phase: each client process's loop lag p50/p99/max (ms) and the clients'
        CPU use (busy fraction of one core, summed over the processes)."""
        answers = await self.ask("lag")
        report: Json = {}
        for phase in self.phases:
            end = phase.end or time.perf_counter()
            per_worker = []
            for answer in answers:
                lags = [lag for at, lag in answer["lag"] if phase.start <= at <= end]
                per_worker.append(
                    {
                        "p50_ms": ms(percentile(lags, 50)),
                        "p99_ms": ms(percentile(lags, 99)),
                        "max_ms": ms(max(lags) if lags else None),
                    }
                )
            worst = max((w["p99_ms"] or 0.0) for w in per_worker) if per_worker else None
            parent = None
            if self._parent_sampler is not None:
                lags = [lag for at, lag in self.parent_lag if phase.start <= at <= end]
                parent = {
                    "p50_ms": ms(percentile(lags, 50)),
                    "p99_ms": ms(percentile(lags, 99)),
                    "max_ms": ms(max(lags) if lags else None),
                }
            report[phase.name] = {
                "seconds": round(end - phase.start, 2),
                "client_cpu_cores": round(
                    self.cpu_marks.get(phase.name, 0.0) / max(end - phase.start, 1e-9), 2
                ),
                "worst_p99_ms": worst,
                "per_client": per_worker,
                **({"parent": parent} if parent is not None else {}),
            }
        return report

    async def close(self) -> None:
        if self._parent_sampler is not None:
            self._parent_sampler.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ask("close"), 60)
        for proc in self.procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()


def origin_of(ws_url: str) -> str:
    """Each app process is its own origin (host:port), as a browser on it would send."""
    return "http://" + ws_url.split("://", 1)[1].split("/", 1)[0]


def spread(schedule: Sequence[Sequence[float]], crowd: Crowd) -> list[Json]:
    """[(offset, global phone index, score[, pitch]) …] -> each worker's share, in local
    indexes (an entry's own pitch, if any, goes along)."""
    each: list[list[list[float]]] = [[] for _ in range(crowd.workers)]
    for offset, index, *rest in schedule:
        w, local = crowd.locate(int(index))
        each[w].append([offset, local, *rest])
    return [{"schedule": s} for s in each]


def lag_lines(report: Json, limit_ms: float = 50.0) -> list[str]:
    """Human lines: client loop lag per phase, flagged when a client was the limit."""
    lines = []
    for name, phase in report.items():
        per = ", ".join(f"{w['p50_ms']}/{w['p99_ms']}" for w in phase["per_client"])
        # Lag with little client CPU: the client waited for a CPU (a shared machine);
        # with much: the client's own work. Either way the phase's figures include it.
        flag = (
            "  <- CLIENT LAGGED: this phase's figures include client delay"
            if (phase["worst_p99_ms"] or 0) > limit_ms
            else ""
        )
        parent = phase.get("parent")
        own = f"; parent {parent['p50_ms']}/{parent['p99_ms']}" if parent else ""
        if parent and (parent["p99_ms"] or 0) > limit_ms:
            flag += "  <- PARENT LAGGED: its screens' figures include its delay"
        lines.append(
            f"    client loop lag p50/p99 ms [{name}]: {per}{own}; "
            f"client CPU {phase['client_cpu_cores']} cores{flag}"
        )
    return lines


def client_bound(report: Json, limit_ms: float = 50.0) -> list[str]:
    return [
        name
        for name, p in report.items()
        if max(p["worst_p99_ms"] or 0, (p.get("parent") or {}).get("p99_ms") or 0) > limit_ms
    ]


if __name__ == "__main__":
    random.seed()
    uvloop.run(worker_main())
