"""Which pacer paces a campaign: exactly one at a time, by a lease in Redis.

Any number of pacer processes may run (on several machines, against one Redis). Each tick,
a pacer takes or renews the lease of every running campaign it can; a campaign whose lease
another pacer holds is left to that pacer. A pacer that dies stops renewing: its leases
lapse after LEASE_SECONDS of wall time (Redis's own clock, whatever the simulated one says)
and the next pacer to tick takes them over.
"""

from __future__ import annotations

import os
import socket
import uuid

import redis

from dialer.redis import Keys

LEASE_SECONDS = 3.0  # real seconds a pacer's silence takes before another paces its campaign
# This process's name on its leases (host, pid, and a nonce should a pid be reused).
THIS_PACER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

# Renew the lease if it is ours, take it if it is free; 1 if ours now, else 0.
_TAKE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


def take(r: redis.Redis, campaign_id: int, *, owner: str = THIS_PACER) -> bool:
    """True when `owner` paces the campaign for the next LEASE_SECONDS."""
    ms = int(LEASE_SECONDS * 1000)
    return bool(r.eval(_TAKE_OR_RENEW, 1, Keys.pacer_lease(campaign_id), owner, ms))


def holder(r: redis.Redis, campaign_id: int) -> str | None:
    value = r.get(Keys.pacer_lease(campaign_id))
    return value.decode() if value is not None else None
