"""The fault drills of loadtests/drills.py at a modest size, so CI guards them: Redis
restarted and the app killed in the middle of a vote burst of 200 phones."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from loadtests import drills
from tests.support.servers import Servers, raise_fd_limit

pytestmark = [pytest.mark.slow, pytest.mark.redis]

PHONES = 200


def _run(name: str, tmp_path: Path) -> dict[str, object]:
    raise_fd_limit()
    args = argparse.Namespace(phones=PHONES, burst_seconds=3.0)
    with Servers(tmp_path) as servers:
        figures, passed = asyncio.run(drills.DRILLS[name](servers, args))
    assert passed, repr(figures)
    return dict(figures)


def test_redis_restart_mid_burst_loses_nothing_and_tallies_recover(tmp_path: Path) -> None:
    figures = _run("redis-restart", tmp_path)

    assert figures["lost"] == 0
    assert figures["unconfirmed"] == 0
    assert figures["stored_rows"] == figures["acked_phones"] == PHONES
    assert figures["projector_exact"] is True
    recovered = figures["tallies_recovered_after_restart_s"]
    assert isinstance(recovered, float) and recovered <= 5.0


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
