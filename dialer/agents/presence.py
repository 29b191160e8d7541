"""Agent presence in Redis: who is ready, atomic claiming of a ready agent for a live answer.

States: offline -> connecting (softphone being called into the agent's conference)
-> ready -> on_call -> wrap_up -> ready ... -> offline.
Ready agents sit in a per-campaign sorted set scored by ready-since time, so the agent idle
longest is claimed first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from dialer.redis import Keys

STATES = ("offline", "connecting", "ready", "on_call", "wrap_up")


@dataclass(frozen=True)
class AgentPresence:
    agent_id: int
    state: str
    campaign_id: int | None
    attempt_id: int | None
    agent_call_sid: str | None
    since: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "agent_id": self.agent_id,
            "state": self.state,
            "campaign_id": self.campaign_id,
            "attempt_id": self.attempt_id,
            "since": self.since,
        }


def _int(value: bytes | None) -> int | None:
    return int(value) if value not in (None, b"") else None


def get(r: redis.Redis, agent_id: int) -> AgentPresence:
    h = r.hgetall(Keys.agent(agent_id))
    return AgentPresence(
        agent_id=agent_id,
        state=h.get(b"state", b"offline").decode(),
        campaign_id=_int(h.get(b"campaign_id")),
        attempt_id=_int(h.get(b"attempt_id")),
        agent_call_sid=(h.get(b"agent_call_sid") or b"").decode() or None,
        since=float(h[b"since"]) if h.get(b"since") else None,
    )


def set_connecting(
    r: redis.Redis, agent_id: int, campaign_id: int, agent_call_sid: str, now: float
) -> None:
    with r.pipeline() as pipe:
        pipe.hset(
            Keys.agent(agent_id),
            mapping={
                "state": "connecting",
                "campaign_id": campaign_id,
                "attempt_id": "",
                "agent_call_sid": agent_call_sid,
                "since": now,
            },
        )
        pipe.sadd(Keys.campaign_agents(campaign_id), agent_id)
        pipe.execute()


def set_agent_call(r: redis.Redis, agent_id: int, agent_call_sid: str) -> None:
    """Remember the agent's own leg, to hang it up at logout."""
    r.hset(Keys.agent(agent_id), "agent_call_sid", agent_call_sid)


# Make an agent ready (after connecting, a call, or wrap-up) unless they went offline.
_SET_READY = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'connecting' and state ~= 'wrap_up' and state ~= 'on_call' and state ~= 'ready' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'ready', 'attempt_id', '', 'since', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""


def set_ready(r: redis.Redis, agent_id: int, now: float) -> bool:
    """Put the agent in their campaign's ready set; False if they are not logged in."""
    campaign_id = _int(r.hget(Keys.agent(agent_id), "campaign_id"))
    if campaign_id is None:
        return False
    keys = (Keys.agent(agent_id), Keys.ready_agents(campaign_id))
    return bool(r.eval(_SET_READY, 2, *keys, agent_id, now))


# Mark a popped agent as on the call, only if still ready (they may have logged out).
_MARK_CLAIMED = """
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'on_call', 'attempt_id', ARGV[1], 'since', ARGV[2])
return 1
"""


def claim(
    r: redis.Redis, campaign_id: int, attempt_id: int, now: float, wait_seconds: float
) -> int | None:
    """Atomically take the longest-idle ready agent, waiting up to wait_seconds (real)."""
    deadline = time.monotonic() + wait_seconds
    key = Keys.ready_agents(campaign_id)
    while True:
        popped = r.zpopmin(key)
        if not popped:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # BZPOPMIN wakes as soon as an agent turns ready; its timeout has 10 ms resolution.
            got = r.bzpopmin(key, timeout=max(0.01, remaining))
            if got is None:
                return None
            popped = [(got[1], got[2])]
        agent_id = int(popped[0][0])
        if r.eval(_MARK_CLAIMED, 1, Keys.agent(agent_id), attempt_id, now):
            return agent_id


_WRAP_UP = """
if redis.call('HGET', KEYS[1], 'state') ~= 'on_call'
   or redis.call('HGET', KEYS[1], 'attempt_id') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'wrap_up', 'since', ARGV[2])
return 1
"""


def start_wrap_up(r: redis.Redis, agent_id: int, attempt_id: int, now: float) -> bool:
    """The customer left the agent's conference: the agent now records the result."""
    return bool(r.eval(_WRAP_UP, 1, Keys.agent(agent_id), attempt_id, now))


def set_offline(r: redis.Redis, agent_id: int, now: float) -> AgentPresence:
    """Log the agent out of Redis state; returns what they were doing."""
    before = get(r, agent_id)
    with r.pipeline() as pipe:
        if before.campaign_id is not None:
            pipe.zrem(Keys.ready_agents(before.campaign_id), agent_id)
            pipe.srem(Keys.campaign_agents(before.campaign_id), agent_id)
        pipe.hset(
            Keys.agent(agent_id),
            mapping={"state": "offline", "attempt_id": "", "agent_call_sid": "", "since": now},
        )
        pipe.execute()
    return before


def counts(r: redis.Redis, campaign_id: int) -> dict[str, int]:
    """Agents of the campaign by state."""
    ids = [int(i) for i in r.smembers(Keys.campaign_agents(campaign_id))]
    out = dict.fromkeys(STATES, 0)
    if not ids:
        return out
    with r.pipeline(transaction=False) as pipe:
        for agent_id in ids:
            pipe.hget(Keys.agent(agent_id), "state")
        for state in pipe.execute():
            out[(state or b"offline").decode()] += 1
    return out
