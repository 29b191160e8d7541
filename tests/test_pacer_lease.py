"""One pacer per campaign at a time, by a lease in Redis; another takes over within seconds
of the first one's death: in-process (two names on one Redis) and with two real `dialer
pacer` processes, one killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from dialer.campaigns import pacer, pacer_lease
from dialer.redis import Keys
from dialer.runtime import get_runtime
from tests import factories
from tests.mock_support import wait_until

TAKEOVER_SECONDS = pacer_lease.LEASE_SECONDS + 10  # the lease, and a busy machine's slack


@pytest.fixture
def running(process_env, db):
    """A running campaign with an entry still to call, listed for the pacers."""
    with db.begin() as s:
        campaign = factories.campaign(s, state="running")
        factories.entry(s, campaign=campaign, account=factories.account(s))
        campaign_id = campaign.id
    rt = get_runtime()
    rt.redis.hset(Keys.running_campaigns(), campaign_id, "progressive")
    return rt, campaign_id


def test_a_campaign_is_paced_by_one_pacer_and_taken_over_when_it_stops(running):
    rt, campaign_id = running
    assert campaign_id in pacer.tick(rt, owner="pacer-a")
    assert campaign_id not in pacer.tick(rt, owner="pacer-b")  # a holds it
    assert campaign_id in pacer.tick(rt, owner="pacer-a")  # and renews it
    assert pacer_lease.holder(rt.redis, campaign_id) == "pacer-a"
    # a stops ticking (dead): its lease lapses, b paces the campaign from then on.
    wait_until(
        lambda: campaign_id in pacer.tick(rt, owner="pacer-b"),
        timeout=TAKEOVER_SECONDS,
        what="pacer b to take the campaign over",
    )
    assert pacer_lease.holder(rt.redis, campaign_id) == "pacer-b"
    assert campaign_id not in pacer.tick(rt, owner="pacer-a")


def _pacer() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dialer.cli", "pacer", "--interval", "0.05"],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_two_pacer_processes_and_a_sigkill(running):
    rt, campaign_id = running
    first, second = _pacer(), _pacer()
    try:
        wait_until(
            lambda: pacer_lease.holder(rt.redis, campaign_id) is not None,
            timeout=30,
            what="a pacer to take the campaign",
        )
        holder = pacer_lease.holder(rt.redis, campaign_id)
        pid = int(holder.split(":")[1])
        assert pid in (first.pid, second.pid)
        survivor = second if pid == first.pid else first
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: (
                (h := pacer_lease.holder(rt.redis, campaign_id)) is not None
                and int(h.split(":")[1]) == survivor.pid
            ),
            timeout=TAKEOVER_SECONDS,
            what="the other pacer to take over",
        )
        assert survivor.poll() is None  # it was there all along, leaving the campaign alone
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
