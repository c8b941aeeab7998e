"""What the benchmark and the drills share beyond the servers, seeding and joining of
tests/support/: where results go, latency percentiles, a timer."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


@contextlib.contextmanager
def timer() -> Iterator[list[float]]:
    """``with timer() as t: ...`` then ``t[0]`` holds the elapsed seconds."""
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)


# static/js/live.js, dropAndRetry(): 250 ms + Math.random() * min(15000, 500 * 2^attempt),
# attempt counting the failed tries since the socket last opened (tests/test_drills.py
# checks these numbers against live.js, so the drills follow the phones' real backoff).
BACKOFF_BASE_S = 0.25
BACKOFF_STEP_S = 0.5
BACKOFF_CEILING_S = 15.0


def phone_backoff(attempt: int) -> float:
    """Seconds a phone waits before reconnect try ``attempt`` (0 right after the loss)."""
    return BACKOFF_BASE_S + random.random() * min(BACKOFF_CEILING_S, BACKOFF_STEP_S * 2**attempt)


def listen_drops() -> int:
    """Connection attempts the kernel dropped because a listening socket's accept queue was
    full (TcpExt ListenDrops, whole machine): each costs that client a SYN retransmission,
    1 s, then 2, 4, 8 … later."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenDrops", 0))
    return 0
