"""Calls per second per carrier account: one token bucket in Redis shared by every process.

Twilio queues (or refuses) calls created faster than the account's CPS; this keeps the
dialer under it however many pacers and workers run. Time is the system clock's (simulated
in a demo, like the mock carrier's own limit), passed in so the bucket is testable.
"""

from __future__ import annotations

import redis

from dialer.clock import Clock
from dialer.redis import Keys

# Refill by elapsed time, then grant up to n whole tokens. Returns {granted, tokens left x
# 1000, seconds until the next token x 1000} (Lua numbers come back as integers).
_TAKE = """
local rate, burst, now, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local granted = math.max(0, math.min(n, math.floor(tokens)))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('EXPIRE', KEYS[1], 3600)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate end
return {granted, math.floor(tokens * 1000), math.ceil(wait * 1000)}
"""


def burst_for(rate: float) -> float:
    """At most one second's worth of calls at once (and at least one call)."""
    return max(1.0, rate)


def take(r: redis.Redis, rate: float, now: float, n: int = 1) -> tuple[int, float]:
    """Take up to n tokens; returns (granted, seconds until the next token)."""
    if rate <= 0:
        raise ValueError("calls per second must be above 0")
    granted, _, wait_ms = r.eval(_TAKE, 1, Keys.cps_bucket(), rate, burst_for(rate), now, n)
    return int(granted), wait_ms / 1000


def available(r: redis.Redis, rate: float, now: float) -> int:
    """Whole tokens in the bucket now (nothing taken): what a pacer may hand out."""
    _, tokens_milli, _ = r.eval(_TAKE, 1, Keys.cps_bucket(), rate, burst_for(rate), now, 0)
    return int(tokens_milli // 1000)


def acquire(r: redis.Redis, rate: float, clock: Clock, max_wait: float) -> bool:
    """Wait (in simulated seconds, at most max_wait) for one token; False if none came."""
    waited = 0.0
    while True:
        granted, wait = take(r, rate, clock.time())
        if granted:
            return True
        if waited + wait > max_wait:
            return False
        clock.sleep(wait)
        waited += wait


# The carrier said "too many requests" (20429): every process holds back for a while,
# longer after each refusal in a row, and a call placed ends it (`clear_backoff`).
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0


def back_off(r: redis.Redis, clock: Clock) -> float:
    """Note a 20429; returns the simulated seconds every dial now waits."""
    key = Keys.carrier_backoff()
    refusals = int(r.incr(f"{key}:count"))
    r.expire(f"{key}:count", 3600)
    seconds = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (refusals - 1))
    r.set(key, refusals, px=max(1, int(1000 * clock.real_seconds(seconds))))
    return seconds


def backoff_left(r: redis.Redis, clock: Clock) -> float:
    """Simulated seconds the carrier's backoff still lasts (0: none)."""
    left_ms = r.pttl(Keys.carrier_backoff())
    return 0.0 if left_ms <= 0 else left_ms / 1000 * clock.speed


def clear_backoff(r: redis.Redis) -> None:
    """A call was placed: the carrier takes calls again."""
    r.delete(f"{Keys.carrier_backoff()}:count")
