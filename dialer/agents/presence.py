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


# Every transition below checks the state it starts from, so a repeated or late callback
# can never put an agent who is talking back into the ready set.

# connecting -> ready: the agent's softphone answered and sits in their room.
_CONNECTED = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'ready' then return 1 end
if state ~= 'connecting' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'ready', 'attempt_id', '', 'disposed', '', 'since', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""

# The agent's call ended: wrap-up, or straight back to ready if already disposed.
_CALL_ENDED = """
if redis.call('HGET', KEYS[1], 'state') ~= 'on_call'
   or redis.call('HGET', KEYS[1], 'attempt_id') ~= ARGV[3] then
  return 0
end
if redis.call('HGET', KEYS[1], 'disposed') == ARGV[3] then
  redis.call('HSET', KEYS[1], 'state', 'ready', 'attempt_id', '', 'disposed', '', 'since', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  return 2
end
redis.call('HSET', KEYS[1], 'state', 'wrap_up', 'since', ARGV[2])
return 1
"""

# The agent recorded the call's action code: ready if the call is over, else remembered.
_DISPOSED = """
if redis.call('HGET', KEYS[1], 'attempt_id') ~= ARGV[3] then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'wrap_up' then
  redis.call('HSET', KEYS[1], 'state', 'ready', 'attempt_id', '', 'disposed', '', 'since', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  return 2
end
if state == 'on_call' then
  redis.call('HSET', KEYS[1], 'disposed', ARGV[3])
  return 1
end
return 0
"""

# An agent claimed for a call that ended before the bridge goes back, keeping their place.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'on_call'
   or redis.call('HGET', KEYS[1], 'attempt_id') ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'ready', 'attempt_id', '', 'disposed', '')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""


def _transition(r: redis.Redis, script: str, agent_id: int, now: float, *args: object) -> int:
    campaign_id = _int(r.hget(Keys.agent(agent_id), "campaign_id"))
    if campaign_id is None:
        return 0
    keys = (Keys.agent(agent_id), Keys.ready_agents(campaign_id))
    return int(r.eval(script, 2, *keys, agent_id, now, *args))


def connected(r: redis.Redis, agent_id: int, now: float) -> bool:
    """The agent's leg answered: connecting -> ready. False if not logged in."""
    return bool(_transition(r, _CONNECTED, agent_id, now))


def call_ended(r: redis.Redis, agent_id: int, attempt_id: int, now: float) -> str | None:
    """The customer left: 'wrap_up', or 'ready' when the code is already in; None if moot."""
    return {1: "wrap_up", 2: "ready"}.get(_transition(r, _CALL_ENDED, agent_id, now, attempt_id))


def disposed(r: redis.Redis, agent_id: int, attempt_id: int, now: float) -> str | None:
    """The agent recorded the code: 'ready' after the call, 'on_call' during it."""
    return {1: "on_call", 2: "ready"}.get(_transition(r, _DISPOSED, agent_id, now, attempt_id))


def release(r: redis.Redis, agent_id: int, attempt_id: int, ready_since: float) -> bool:
    """Give back an agent claimed for a call that ended before it was bridged."""
    return bool(_transition(r, _RELEASE, agent_id, ready_since, attempt_id))


# Mark a popped agent as on the call, only if still ready (they may have logged out).
_MARK_CLAIMED = """
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'on_call', 'attempt_id', ARGV[1], 'disposed', '',
           'since', ARGV[2])
return 1
"""


def claim(
    r: redis.Redis,
    campaign_id: int,
    attempt_id: int,
    now: float,
    wait_seconds: float,
    entry_id: int | None = None,
) -> int | None:
    """Atomically take the longest-idle ready agent, waiting up to wait_seconds (real).
    While it waits, the caller (`entry_id`) is listed as waiting for the pacer to see."""
    deadline = time.monotonic() + wait_seconds
    key = Keys.ready_agents(campaign_id)
    waiting = False
    try:
        while True:
            popped = r.zpopmin(key)
            if not popped:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                if entry_id is not None and not waiting:
                    r.zadd(Keys.waiting_callers(campaign_id), {entry_id: now})
                    waiting = True
                # BZPOPMIN wakes as soon as an agent turns ready; 10 ms timeout resolution.
                got = r.bzpopmin(key, timeout=max(0.01, remaining))
                if got is None:
                    return None
                popped = [(got[1], got[2])]
            agent_id = int(popped[0][0])
            if r.eval(_MARK_CLAIMED, 1, Keys.agent(agent_id), attempt_id, now):
                return agent_id
    finally:
        if waiting:
            r.zrem(Keys.waiting_callers(campaign_id), entry_id)


def waiting_callers(
    r: redis.Redis, campaign_id: int, since: float, prune: bool = False
) -> set[int]:
    """Entries whose person has waited for an agent since `since`; older ones are leftovers
    of a web process that died mid-wait (removed with `prune`)."""
    key = Keys.waiting_callers(campaign_id)
    if prune:
        r.zremrangebyscore(key, "-inf", f"({since}")
    return {int(i) for i in r.zrangebyscore(key, since, "+inf")}


# A preview call reserves the agent who chose to dial it: only if they are ready.
_RESERVE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'state', 'on_call', 'attempt_id', ARGV[1], 'disposed', '',
           'since', ARGV[2])
return 1
"""


def reserve(r: redis.Redis, campaign_id: int, agent_id: int, attempt_id: int, now: float) -> bool:
    """Put a ready agent on this attempt's call before it is placed (preview dialing)."""
    keys = (Keys.agent(agent_id), Keys.ready_agents(campaign_id))
    return bool(r.eval(_RESERVE, 2, *keys, attempt_id, now, agent_id))


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


def states(r: redis.Redis, campaign_id: int) -> list[tuple[str, float | None]]:
    """(state, since) of every agent logged in to the campaign, for the pacer."""
    ids = [int(i) for i in r.smembers(Keys.campaign_agents(campaign_id))]
    if not ids:
        return []
    with r.pipeline(transaction=False) as pipe:
        for agent_id in ids:
            pipe.hmget(Keys.agent(agent_id), "state", "since")
        rows = pipe.execute()
    return [
        ((state or b"offline").decode(), float(since) if since else None) for state, since in rows
    ]


def counts(r: redis.Redis, campaign_id: int) -> dict[str, int]:
    """Agents of the campaign by state."""
    out = dict.fromkeys(STATES, 0)
    for state, _ in states(r, campaign_id):
        out[state] += 1
    return out
