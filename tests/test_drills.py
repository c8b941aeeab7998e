"""The fault drills of loadtests/drills.py at a modest size, so CI guards them: Redis
restarted and the app killed in the middle of a vote burst of 200 phones, and the
reconnect storm (every phone drops at once and comes back with the phones' backoff, a
vote burst right after) on the embedded default, on Redis with two app processes and, when
DATABASE_URL names one, on PostgreSQL + Redis. They check exactness, never timing."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from pathlib import Path

import pytest

from loadtests import drills, harness
from tests.support.servers import ROOT, Servers, raise_fd_limit

PHONES = 200


def _run(name: str, tmp_path: Path) -> dict[str, object]:
    raise_fd_limit()
    args = argparse.Namespace(phones=PHONES, burst_seconds=3.0)
    with Servers(tmp_path) as servers:
        figures, passed = asyncio.run(drills.DRILLS[name](servers, args))
    assert passed, repr(figures)
    return dict(figures)


@pytest.mark.slow
@pytest.mark.redis
def test_redis_restart_mid_burst_loses_nothing_and_tallies_recover(tmp_path: Path) -> None:
    figures = _run("redis-restart", tmp_path)

    assert figures["lost"] == 0
    assert figures["unconfirmed"] == 0
    assert figures["stored_rows"] == figures["acked_phones"] == PHONES
    assert figures["projector_exact"] is True
    recovered = figures["tallies_recovered_after_restart_s"]
    assert isinstance(recovered, float) and recovered <= 5.0


@pytest.mark.slow
@pytest.mark.redis
def test_app_killed_mid_burst_keeps_every_acked_vote_and_counts_resends_once(
    tmp_path: Path,
) -> None:
    figures = _run("app-kill", tmp_path)

    assert isinstance(figures["acked_before_kill"], int) and figures["acked_before_kill"] > 0
    assert figures["lost_acked_before_fault"] == 0
    assert figures["lost"] == 0
    assert figures["reconnected"] == PHONES
    # Every phone voted once (some resent after the restart): one stored vote each.
    assert figures["stored_rows"] == figures["acked_phones"] == PHONES
    assert figures["projector_exact"] is True


STORM_CONFIGS = [
    pytest.param("embedded", 1, id="embedded"),
    pytest.param("sqlite-redis", 2, id="sqlite-redis-2procs", marks=pytest.mark.redis),
    pytest.param(
        "pg-redis",
        2,
        id="pg-redis-2procs",
        marks=[
            pytest.mark.redis,
            pytest.mark.skipif(
                not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                reason="DATABASE_URL names no PostgreSQL",
            ),
        ],
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("config", "procs"), STORM_CONFIGS)
def test_reconnect_storm_brings_every_phone_back_and_the_burst_after_is_exact(
    config: str, procs: int, tmp_path: Path
) -> None:
    raise_fd_limit()
    args = argparse.Namespace(
        phones=PHONES,
        burst_seconds=2.0,
        config=config,
        procs=procs,
        database_url=None,
        clients=2,
        pin=False,  # a shared CI machine: let the scheduler place the processes
        client="lean",  # the load generator's phones (tests/support/wire.py)
        votes=PHONES,
        storm_timeout=60.0,
        no_floor=True,
    )
    with Servers(tmp_path) as servers:
        figures, passed = asyncio.run(drills.reconnect_storm(servers, args))

    assert figures["back"] == figures["connected"] == PHONES, repr(figures)
    # Each phone took at least one backoff try; none gave up.
    tries = figures["tries"]
    assert isinstance(tries, dict) and sum(tries.values()) == PHONES
    assert figures["burst_votes"] == PHONES
    assert figures["burst_unacked"] == 0
    integrity = figures["integrity"]
    assert isinstance(integrity, dict)
    # acked = SQL = projector: every phone was told its vote is saved, SQL holds one row
    # per phone with that very score, and the projector shows SQL's per-score counts.
    assert integrity["acked_phones"] == integrity["stored_rows"] == PHONES
    assert integrity["lost"] == 0
    assert integrity["pending"] == 0
    assert integrity["acked_score_differs_from_sql"] == 0
    assert integrity["projector_exact"] is True
    assert integrity["projector_counts"] == integrity["sql_counts"]
    assert sum(integrity["sql_counts"].values()) == PHONES
    assert figures["presence_ok_after_s"] is not None
    assert passed


def test_drill_phones_reconnect_with_the_backoff_of_live_js() -> None:
    """The drills' phones wait what static/js/live.js waits: if the page's backoff
    changes, this fails until harness.phone_backoff follows it."""
    live = (ROOT / "static" / "js" / "live.js").read_text()
    match = re.search(
        r"Math\.min\((\d+), (\d+) \* Math\.pow\(2, attempt\+\+\)\);\s*"
        r"retryTimer = setTimeout\(open, (\d+) \+ Math\.random\(\) \* ceiling\)",
        live,
    )
    assert match, "live.js: dropAndRetry's backoff is no longer where the drills expect it"
    ceiling_ms, step_ms, base_ms = (int(g) for g in match.groups())
    assert ceiling_ms == harness.BACKOFF_CEILING_S * 1000
    assert step_ms == harness.BACKOFF_STEP_S * 1000
    assert base_ms == harness.BACKOFF_BASE_S * 1000
    waits = [harness.phone_backoff(0) for _ in range(2000)]
    assert min(waits) >= 0.25 and max(waits) <= 0.75
    assert max(waits) - min(waits) > 0.4  # full jitter, not a fixed delay
    late = [harness.phone_backoff(10) for _ in range(200)]
    assert max(late) <= 0.25 + 15.0 and max(late) > 5.0
