"""Agent presence in Redis: who is ready, atomic claiming of a ready agent for a live answer.

States (AgentState): offline -> connecting (softphone being called into the agent's
conference) -> ready -> on_call -> wrap_up -> ready ... -> offline. `reserved`: held for a
call being placed for them (preview, a callback's own agent) until it is answered and
bridged (on_call) or not (ready again). `paused`: away from calls with a reason (a pause
code: break, training..., or wrap_up_overrun set by the dialer); a pause asked for during a
call starts when the agent would otherwise become ready.

Ready agents sit in a per-campaign sorted set scored by ready-since time, so the agent idle
longest is claimed first.

Every change is a Lua script that checks the state it starts from (so a repeated or late
callback never frees an agent who is talking) and, in the same atomic step, appends the
change to the agent's event stream (the desk's server-sent events) and to the global
presence log (copied into SQL by agents/events.py for reports). Nothing here waits for SQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import redis

from dialer.redis import Keys


class AgentState(StrEnum):
    OFFLINE = "offline"
    CONNECTING = "connecting"
    READY = "ready"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


STATES = tuple(AgentState)
# Held for or on a call: the pacer counts these as busy (talking).
ENGAGED = (AgentState.RESERVED, AgentState.ON_CALL)
AGENT_EVENTS_MAXLEN = 1000  # per agent: enough for a desk that reconnects after a while
PRESENCE_LOG_MAXLEN = 200_000  # a safety cap; the SQL copy trims what it has recorded


@dataclass(frozen=True)
class AgentPresence:
    agent_id: int
    state: str
    campaign_id: int | None
    attempt_id: int | None
    agent_call_sid: str | None
    since: float | None
    pause_reason: str | None = None  # while paused: the pause code
    pause_pending: str | None = None  # asked for during a call: starts after it

    def as_dict(self) -> dict[str, object]:
        return {
            "agent_id": self.agent_id,
            "state": self.state,
            "campaign_id": self.campaign_id,
            "attempt_id": self.attempt_id,
            "since": self.since,
            "pause_reason": self.pause_reason,
            "pause_pending": self.pause_pending,
        }


def _int(value: bytes | None) -> int | None:
    return int(value) if value not in (None, b"") else None


def _text(value: bytes | None) -> str | None:
    return (value or b"").decode() or None


def get(r: redis.Redis, agent_id: int) -> AgentPresence:
    h = r.hgetall(Keys.agent(agent_id))
    return AgentPresence(
        agent_id=agent_id,
        state=h.get(b"state", b"offline").decode(),
        campaign_id=_int(h.get(b"campaign_id")),
        attempt_id=_int(h.get(b"attempt_id")),
        agent_call_sid=_text(h.get(b"agent_call_sid")),
        since=float(h[b"since"]) if h.get(b"since") else None,
        pause_reason=_text(h.get(b"pause_reason")),
        pause_pending=_text(h.get(b"pause_pending")),
    )


# Shared by every script below. KEYS: 1 the agent's hash, 2 the campaign's ready set,
# 3 the agent's event stream, 4 the presence log. ARGV: 1 agent id, 2 now (the system
# clock), then the script's own.
_LIB = f"""
local function log(from, to, reason, attempt)
  local campaign = redis.call('HGET', KEYS[1], 'campaign_id') or ''
  local fields = {{'agent', ARGV[1], 'from', from, 'to', to, 'reason', reason or '',
                  'attempt', attempt or '', 'campaign', campaign, 'at', ARGV[2]}}
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', {AGENT_EVENTS_MAXLEN}, '*', unpack(fields))
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', {PRESENCE_LOG_MAXLEN}, '*', unpack(fields))
end
local function state() return redis.call('HGET', KEYS[1], 'state') or 'offline' end
-- The call is over for the agent: ready (longest idle first from `since`), or paused if
-- they asked for a pause meanwhile.
local function available(from, reason, attempt, since)
  local pending = redis.call('HGET', KEYS[1], 'pause_pending') or ''
  if pending ~= '' then
    redis.call('HSET', KEYS[1], 'state', 'paused', 'attempt_id', '', 'disposed', '',
               'pause_reason', pending, 'pause_pending', '', 'since', ARGV[2])
    log(from, 'paused', pending, attempt)
    return 'paused'
  end
  redis.call('HSET', KEYS[1], 'state', 'ready', 'attempt_id', '', 'disposed', '',
             'pause_reason', '', 'since', ARGV[2])
  redis.call('ZADD', KEYS[2], since or ARGV[2], ARGV[1])
  log(from, 'ready', reason, attempt)
  return 'ready'
end
"""

# offline -> connecting: the agent logs in; their softphone is being called (ARGV 3
# campaign id, 4 the campaign's agents set).
_CONNECTING = (
    _LIB
    + """
local from = state()
if from ~= 'offline' then return false end
redis.call('HSET', KEYS[1], 'state', 'connecting', 'campaign_id', ARGV[3], 'attempt_id', '',
           'agent_call_sid', '', 'disposed', '', 'pause_reason', '', 'pause_pending', '',
           'since', ARGV[2])
redis.call('SADD', ARGV[4], ARGV[1])
log(from, 'connecting', 'login', '')
return 'connecting'
"""
)

# connecting -> ready: the agent's softphone answered and sits in their room.
_CONNECTED = (
    _LIB
    + """
local from = state()
if from == 'ready' then return 'ready' end
if from ~= 'connecting' then return false end
return available(from, 'softphone answered', '', nil)
"""
)

# ready -> on_call: the agent popped from the ready set takes this live answer (ARGV 3
# attempt), only if still ready (they may have logged out or paused meanwhile).
_CLAIMED = (
    _LIB
    + """
if state() ~= 'ready' then return false end
redis.call('HSET', KEYS[1], 'state', 'on_call', 'attempt_id', ARGV[3], 'disposed', '',
           'since', ARGV[2])
log('ready', 'on_call', ARGV[4], ARGV[3])
return 'on_call'
"""
)

# ready -> reserved: a call is being placed for this agent (ARGV 3 attempt, 4 reason).
_RESERVE = (
    _LIB
    + """
if state() ~= 'ready' then return false end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'reserved', 'attempt_id', ARGV[3], 'disposed', '',
           'since', ARGV[2])
log('ready', 'reserved', ARGV[4], ARGV[3])
return 'reserved'
"""
)

# reserved -> on_call: the call placed for them was answered and is being bridged.
_BRIDGED = (
    _LIB
    + """
if state() ~= 'reserved' or redis.call('HGET', KEYS[1], 'attempt_id') ~= ARGV[3] then
  return false
end
redis.call('HSET', KEYS[1], 'state', 'on_call', 'since', ARGV[2])
log('reserved', 'on_call', 'bridged', ARGV[3])
return 'on_call'
"""
)

# The customer left: wrap-up, or straight on (ready / paused) if already disposed.
_CALL_ENDED = (
    _LIB
    + """
if state() ~= 'on_call' or redis.call('HGET', KEYS[1], 'attempt_id') ~= ARGV[3] then
  return false
end
if redis.call('HGET', KEYS[1], 'disposed') == ARGV[3] then
  return available('on_call', 'call ended', ARGV[3], nil)
end
redis.call('HSET', KEYS[1], 'state', 'wrap_up', 'since', ARGV[2])
log('on_call', 'wrap_up', 'call ended', ARGV[3])
return 'wrap_up'
"""
)

# The agent recorded the call's action code: on (ready / paused) if the call is over,
# else remembered until it ends.
_DISPOSED = (
    _LIB
    + """
if redis.call('HGET', KEYS[1], 'attempt_id') ~= ARGV[3] then return false end
local from = state()
if from == 'wrap_up' then return available(from, 'disposed', ARGV[3], nil) end
if from == 'on_call' then
  redis.call('HSET', KEYS[1], 'disposed', ARGV[3])
  return 'on_call'
end
return false
"""
)

# An agent held for a call that ended before the bridge goes back, keeping their place in
# the ready order (ARGV 2 is their ready-since time here).
_RELEASE = (
    _LIB
    + """
local from = state()
if (from ~= 'on_call' and from ~= 'reserved')
   or redis.call('HGET', KEYS[1], 'attempt_id') ~= ARGV[3] then
  return false
end
return available(from, 'released', ARGV[3], ARGV[2])
"""
)

# The agent asks for a pause (ARGV 3 the pause code): at once when ready; after the call
# when reserved, on a call or wrapping up; a new reason when paused already.
_PAUSE = (
    _LIB
    + """
local from = state()
if from == 'ready' or from == 'paused' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[1], 'state', 'paused', 'pause_reason', ARGV[3], 'pause_pending', '',
             'since', ARGV[2])
  log(from, 'paused', ARGV[3], '')
  return 'paused'
end
if from == 'reserved' or from == 'on_call' or from == 'wrap_up' then
  redis.call('HSET', KEYS[1], 'pause_pending', ARGV[3])
  return 'pending'
end
return false
"""
)

# paused -> ready; a pause asked for during a call is cancelled instead.
_UNPAUSE = (
    _LIB
    + """
local from = state()
if from == 'paused' then
  redis.call('HSET', KEYS[1], 'pause_pending', '')
  return available(from, 'resumed', '', nil)
end
if (redis.call('HGET', KEYS[1], 'pause_pending') or '') ~= '' then
  redis.call('HSET', KEYS[1], 'pause_pending', '')
  return 'cancelled'
end
return false
"""
)

# wrap_up -> paused: the campaign's wrap-up time ran out on this attempt (ARGV 3).
_OVERRUN = (
    _LIB
    + """
if state() ~= 'wrap_up' or redis.call('HGET', KEYS[1], 'attempt_id') ~= ARGV[3] then
  return false
end
redis.call('HSET', KEYS[1], 'state', 'paused', 'attempt_id', '', 'disposed', '',
           'pause_reason', ARGV[4], 'pause_pending', '', 'since', ARGV[2])
log('wrap_up', 'paused', ARGV[4], ARGV[3])
return 'paused'
"""
)

# Any state -> offline (logout, the softphone's leg dropped): out of every set. ARGV 3 the
# reason, 4 the campaign's agents set (may be '').
_OFFLINE = (
    _LIB
    + """
local from = state()
local attempt = redis.call('HGET', KEYS[1], 'attempt_id') or ''
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[4] ~= '' then redis.call('SREM', ARGV[4], ARGV[1]) end
redis.call('HSET', KEYS[1], 'state', 'offline', 'attempt_id', '', 'agent_call_sid', '',
           'disposed', '', 'pause_reason', '', 'pause_pending', '', 'since', ARGV[2])
if from ~= 'offline' then log(from, 'offline', ARGV[3], attempt) end
return from
"""
)

WRAP_UP_OVERRUN = "wrap_up_overrun"  # the pause code the dialer sets (agents/pauses.py)


def _keys(agent_id: int, campaign_id: int | None) -> tuple[str, str, str, str]:
    ready = Keys.ready_agents(campaign_id) if campaign_id is not None else Keys.no_campaign()
    return (Keys.agent(agent_id), ready, Keys.agent_events(agent_id), Keys.presence_log())


def _run(
    r: redis.Redis, script: str, agent_id: int, now: float, *args: object, campaign_id=None
) -> str | None:
    """Run a transition for the agent's current campaign; its new state, or None if it did
    not apply (the agent was not where the transition starts)."""
    if campaign_id is None:
        campaign_id = _int(r.hget(Keys.agent(agent_id), "campaign_id"))
        if campaign_id is None:
            return None
    out = r.eval(script, 4, *_keys(agent_id, campaign_id), agent_id, now, *args)
    return out.decode() if isinstance(out, bytes) else None


def set_connecting(
    r: redis.Redis, agent_id: int, campaign_id: int, agent_call_sid: str, now: float
) -> bool:
    """offline -> connecting for this campaign; False if the agent is not offline."""
    done = _run(
        r,
        _CONNECTING,
        agent_id,
        now,
        campaign_id,
        Keys.campaign_agents(campaign_id),
        campaign_id=campaign_id,
    )
    if done and agent_call_sid:
        set_agent_call(r, agent_id, agent_call_sid)
    return done is not None


def set_agent_call(r: redis.Redis, agent_id: int, agent_call_sid: str) -> None:
    """Remember the agent's own leg, to hang it up at logout."""
    r.hset(Keys.agent(agent_id), "agent_call_sid", agent_call_sid)


def connected(r: redis.Redis, agent_id: int, now: float) -> bool:
    """The agent's leg answered: connecting -> ready. False if not logged in."""
    return _run(r, _CONNECTED, agent_id, now) is not None


def call_ended(r: redis.Redis, agent_id: int, attempt_id: int, now: float) -> str | None:
    """The customer left: 'wrap_up', or 'ready'/'paused' when the code is already in;
    None if moot."""
    return _run(r, _CALL_ENDED, agent_id, now, attempt_id)


def disposed(r: redis.Redis, agent_id: int, attempt_id: int, now: float) -> str | None:
    """The agent recorded the code: 'ready'/'paused' after the call, 'on_call' during it."""
    return _run(r, _DISPOSED, agent_id, now, attempt_id)


def release(r: redis.Redis, agent_id: int, attempt_id: int, ready_since: float) -> bool:
    """Give back an agent claimed or reserved for a call that ended before the bridge."""
    return _run(r, _RELEASE, agent_id, ready_since, attempt_id) is not None


def bridged(r: redis.Redis, agent_id: int, attempt_id: int, now: float) -> bool:
    """reserved -> on_call: the call placed for this agent is being bridged to them."""
    return _run(r, _BRIDGED, agent_id, now, attempt_id) is not None


def pause(r: redis.Redis, agent_id: int, code: str, now: float) -> str | None:
    """'paused' (now), 'pending' (after the call in progress), or None (offline/connecting)."""
    return _run(r, _PAUSE, agent_id, now, code)


def unpause(r: redis.Redis, agent_id: int, now: float) -> str | None:
    """'ready' (back from a pause), 'cancelled' (a pending pause), or None (not paused)."""
    return _run(r, _UNPAUSE, agent_id, now)


def wrap_up_overrun(r: redis.Redis, agent_id: int, attempt_id: int, now: float) -> bool:
    """wrap_up -> paused (wrap_up_overrun), if the agent is still wrapping up this call."""
    return _run(r, _OVERRUN, agent_id, now, attempt_id, WRAP_UP_OVERRUN) is not None


# A blocked BZPOPMIN times out on the server's clock tick (Redis's `hz`, 10 by default: up
# to 100 ms late), which would stretch a 1 s wait for an agent and the person's wait for
# the abandon message. So it blocks only until this long before the deadline, and the rest
# is polled in POLL_SECONDS steps.
BLOCK_MARGIN_SECONDS = 0.15
POLL_SECONDS = 0.005


def _wait_pop(r: redis.Redis, keys: list[str], deadline: float) -> tuple | None:
    """(key, member, score) popped from the first of `keys` with a member, waiting until
    `deadline` (time.monotonic()) at most; None when none came."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        if remaining > BLOCK_MARGIN_SECONDS + 0.05:
            # BZPOPMIN wakes the moment an agent turns ready, over several sets in order.
            got = r.bzpopmin(keys, timeout=remaining - BLOCK_MARGIN_SECONDS)
            if got is not None:
                return got
            continue
        for key in keys:
            popped = r.zpopmin(key)
            if popped:
                return (key.encode(), popped[0][0], popped[0][1])
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def claim(
    r: redis.Redis,
    campaign_id: int,
    attempt_id: int,
    now: float,
    wait_seconds: float,
    entry_id: int | None = None,
    reason: str = "claimed",
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
                got = _wait_pop(r, [key], deadline)
                if got is None:
                    return None
                popped = [(got[1], got[2])]
            agent_id = int(popped[0][0])
            marked = r.eval(
                _CLAIMED,
                4,
                *_keys(agent_id, campaign_id),
                agent_id,
                now,
                attempt_id,
                reason,
            )
            if marked:
                return agent_id
    finally:
        if waiting:
            r.zrem(Keys.waiting_callers(campaign_id), entry_id)


def claim_first(
    r: redis.Redis,
    campaign_ids: list[int],
    attempt_id: int,
    now: float,
    wait_seconds: float,
    reason: str = "claimed",
) -> tuple[int, int] | None:
    """The longest-idle ready agent of the first of these campaigns that has one, waiting
    up to wait_seconds (real) for any of them: (agent id, campaign id), or None."""
    if not campaign_ids:
        return None
    keys = {Keys.ready_agents(c): c for c in campaign_ids}
    deadline = time.monotonic() + wait_seconds
    while True:
        popped = None
        for key in keys:
            got = r.zpopmin(key)
            if got:
                popped = (key, got[0][0])
                break
        if popped is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            got = _wait_pop(r, list(keys), deadline)
            if got is None:
                return None
            popped = (got[0].decode(), got[1])
        campaign_id, agent_id = keys[popped[0]], int(popped[1])
        marked = r.eval(
            _CLAIMED, 4, *_keys(agent_id, campaign_id), agent_id, now, attempt_id, reason
        )
        if marked:
            return agent_id, campaign_id


def waiting_callers(
    r: redis.Redis, campaign_id: int, since: float, prune: bool = False
) -> set[int]:
    """Entries whose person has waited for an agent since `since`; older ones are leftovers
    of a web process that died mid-wait (removed with `prune`)."""
    key = Keys.waiting_callers(campaign_id)
    if prune:
        r.zremrangebyscore(key, "-inf", f"({since}")
    return {int(i) for i in r.zrangebyscore(key, since, "+inf")}


def reserve(
    r: redis.Redis,
    campaign_id: int,
    agent_id: int,
    attempt_id: int,
    now: float,
    reason: str = "reserved",
) -> bool:
    """ready -> reserved: hold the agent for this attempt's call before it is placed
    (preview dialing, a callback's own agent)."""
    return _run(r, _RESERVE, agent_id, now, attempt_id, reason, campaign_id=campaign_id) is not None


def set_offline(r: redis.Redis, agent_id: int, now: float, reason: str = "logout") -> AgentPresence:
    """Log the agent out of Redis state; returns what they were doing."""
    before = get(r, agent_id)
    agents_key = Keys.campaign_agents(before.campaign_id) if before.campaign_id else ""
    r.eval(_OFFLINE, 4, *_keys(agent_id, before.campaign_id), agent_id, now, reason, agents_key)
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
        out[AgentState(state)] += 1
    return {str(k): v for k, v in out.items()}
