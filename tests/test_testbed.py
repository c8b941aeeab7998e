"""The multi-host test bed (loadtests/testbed.py) with a short kill-app drill: nginx in
front of two app hosts, Redis and PostgreSQL on hosts of their own, each a network
namespace. One app host is SIGKILLed in the middle of a vote burst; its phones reconnect
through nginx to the other. Skipped where namespaces are not permitted or a program is
missing; the reason says which."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from loadtests import hostdrills
from loadtests.testbed import Testbed, why_unavailable
from tests.support.servers import raise_fd_limit

pytestmark = [pytest.mark.slow, pytest.mark.redis]

PHONES = 120
# Not the default test bed's names and subnet, so a test bed someone left running by
# hand (python -m loadtests.testbed up) is neither disturbed nor mistaken for ours.
TAG, SUBNET = "eatt", "10.231.8"


@pytest.fixture(scope="module")
def testbed_allowed() -> None:
    reason = why_unavailable(TAG)
    if reason is not None:
        pytest.skip(f"multi-host test bed unavailable: {reason}")
    if Testbed(tag=TAG, subnet=SUBNET).status()["namespaces"]:
        pytest.skip(
            f"a test bed '{TAG}' is already up (python -m loadtests.testbed down --tag {TAG})"
        )


def test_killing_an_app_host_mid_burst_moves_its_phones_and_loses_no_acked_vote(
    testbed_allowed: None,
) -> None:
    raise_fd_limit()
    args = hostdrills.parse(
        [
            "kill-app",
            "--phones",
            str(PHONES),
            "--burst-seconds",
            "3",
            "--tag",
            TAG,
            "--subnet",
            SUBNET,
            "--timeout",
            "180",
        ]
    )
    assert isinstance(args, argparse.Namespace)
    figures, passed = asyncio.run(hostdrills.run_drill("kill-app", args))

    assert passed, repr(figures)
    # least_conn spread the phones over both hosts; the killed host's phones moved.
    assert figures["sockets_before_kill"]["app1"] > 0
    assert figures["sockets_before_kill"]["app2"] > 0
    assert figures["sockets_after"]["app1"] == 0
    assert figures["phones_lost_socket"] > 0
    assert figures["all_back_s"] is not None
    # Nothing acknowledged lost, each phone counted once, the projector equals SQL.
    assert figures["lost_acked_before_fault"] == 0
    assert figures["lost"] == 0
    assert figures["unconfirmed"] == 0
    assert figures["stored_rows"] == figures["acked_phones"] == PHONES
    assert figures["projector_exact"] is True
    assert figures["projector_counts"] == figures["sql_counts"]
    # No event key and no device token in any log of the run (apps, nginx, PostgreSQL).
    assert figures["secrets_in_logs"] == 0

    # The teardown left nothing behind: no namespace, no bridge, no process, no files.
    status = Testbed(tag=TAG, subnet=SUBNET).status()
    assert status == {"namespaces": {}, "bridge": False, "workdir": None}
    assert not Path(f"/sys/class/net/{TAG}0").exists()
