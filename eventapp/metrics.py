"""Prometheus metrics (README, "Metrics"): one registry per app, never the global default,
so several apps in one process (tests) count apart.

Code that counts calls one method of ``Metrics`` in one line; the socket counts are read
from the hub when Prometheus scrapes, so attaching and detaching need no bookkeeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Acknowledgement latency: the README's target is p99 ≤ 250 ms.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_INTERVAL = 0.5

# (event id, role, sockets) for every event this process serves.
ConnectionCounts = Callable[[], Iterable[tuple[int, str, int]]]


class _Connections(Collector):
    def __init__(self) -> None:
        self.source: ConnectionCounts | None = None

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "eventapp_connections",
            "Open sockets in this process per event and role (attendee = phones).",
            labels=["event", "role"],
        )
        for event_id, role, count in self.source() if self.source else ():
            family.add_metric([str(event_id), role], count)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._connections = _Connections()
        r.register(self._connections)
        self.votes_received = Counter(
            "eventapp_votes_received", "Votes received from phones.", registry=r
        )
        self.votes_acked = Counter(
            "eventapp_votes_acked", "Votes committed to SQL and acknowledged.", registry=r
        )
        self.votes_refused = Counter(
            "eventapp_votes_refused",
            "Votes refused, by error code (e.g. voting_closed, not_saved).",
            ["code"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "eventapp_vote_ack_seconds",
            "From a vote's arrival to its vote_ack (includes the SQL commit).",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "eventapp_writer_batch_size",
            "Votes per writer transaction.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.commit_seconds = Histogram(
            "eventapp_writer_commit_seconds",
            "Time of one writer transaction.",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.bus_reconnects = Counter(
            "eventapp_bus_reconnects", "Reconnects of the Redis bus.", registry=r
        )
        self.tally_rebuilds = Counter(
            "eventapp_tally_rebuilds", "Live tallies rebuilt from SQL.", registry=r
        )
        self.reconcile_merges = Counter(
            "eventapp_reconcile_merges",
            "Reconciliations that found tallies and SQL apart and merged SQL in.",
            registry=r,
        )
        self.last_loop_lag = 0.0  # seconds, the newest reading of ``watch_loop_lag``
        self.loop_lag = Histogram(
            "eventapp_event_loop_lag_seconds",
            "How late a timer fires on the event loop (blocked loop = late everything).",
            buckets=LAG_BUCKETS,
            registry=r,
        )

    # One-line calls for the code that counts.

    def count_connections(self, source: ConnectionCounts) -> None:
        self._connections.source = source

    def vote_acked(self, received_at: float) -> None:
        self.votes_acked.inc()
        self.ack_seconds.observe(time.monotonic() - received_at)

    def vote_refused(self, code: str) -> None:
        self.votes_refused.labels(code=code).inc()

    def batch_committed(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.commit_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def watch_loop_lag(self, interval: float = LAG_INTERVAL) -> None:
        """Sleep and see how much later than asked the loop woke us; runs until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(interval)
            self.last_loop_lag = max(0.0, loop.time() - start - interval)
            self.loop_lag.observe(self.last_loop_lag)
