"""The dial queue in Redis: ranked entries, retries waiting for their time, calls in flight.

- queue   (sorted set) entry id -> rank score; the pacer pops the highest first.
- retry   (sorted set) entry id -> not-before time; promoted into the queue when due.
- dialing (sorted set) entry id -> time handed to a worker; removed when the call is
  answered or ends, expired by the pacer if a worker died (the entry then goes back).
- account lock (string) held by the campaign entry calling the account, so no two
  campaigns dial one account at once.
SQL stays the truth: `rebuild` can recreate all three from the entries table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import redis

from dialer.redis import Keys, release_lock

LOCK_SECONDS = 3600  # outlives any call; released as soon as the call ends
# Simulated seconds an entry may stay in flight without its call showing up (its worker
# died, or a preview lease lapsed) before the pacer gives it back to the queue.
IN_FLIGHT_SECONDS = 300


def lock_owner(campaign_id: int, entry_id: int) -> str:
    """The value an account lock holds: which campaign entry is calling the account."""
    return f"{campaign_id}:{entry_id}"


def lock_account(r: redis.Redis, account_id: int, campaign_id: int, entry_id: int) -> bool:
    """Take the account's lock for this entry; False if another call holds it."""
    owner = lock_owner(campaign_id, entry_id)
    return bool(r.set(Keys.account_lock(account_id), owner, nx=True, ex=LOCK_SECONDS))


def unlock_account(r: redis.Redis, account_id: int, campaign_id: int, entry_id: int) -> bool:
    """Release the account's lock if this entry still holds it."""
    return release_lock(r, Keys.account_lock(account_id), lock_owner(campaign_id, entry_id))


def push(r: redis.Redis, campaign_id: int, scores: Mapping[int, float], chunk: int = 10_000) -> int:
    """Add entries with their scores (pipelined in chunks); returns how many were sent."""
    items = list(scores.items())
    key = Keys.dial_queue(campaign_id)
    with r.pipeline(transaction=False) as pipe:
        for i in range(0, len(items), chunk):
            pipe.zadd(key, dict(items[i : i + chunk]))
            pipe.execute()
    return len(items)


# Pop up to N entries and mark them in flight, atomically (several pacers may run).
_POP = """
local popped = redis.call('ZPOPMAX', KEYS[1], ARGV[1])
local ids = {}
for i = 1, #popped, 2 do
  redis.call('ZADD', KEYS[2], ARGV[2], popped[i])
  table.insert(ids, popped[i])
end
return ids
"""

# Move retries whose time has come into the queue with their rank score.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  local score = redis.call('HGET', KEYS[3], id) or '0'
  redis.call('ZADD', KEYS[2], score, id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
end
return #due
"""


def pop_for_dialing(
    r: redis.Redis, campaign_id: int, n: int, now: float, hold_seconds: float = IN_FLIGHT_SECONDS
) -> list[int]:
    """Take up to n best entries and record them as in flight at `now`. An entry held longer
    than IN_FLIGHT_SECONDS (a preview lease) is marked that much later, so the pacer does not
    give it back while it is still on an agent's screen."""
    if n <= 0:
        return []
    marked = now + max(0.0, hold_seconds - IN_FLIGHT_SECONDS)
    ids = r.eval(_POP, 2, Keys.dial_queue(campaign_id), Keys.dialing(campaign_id), n, marked)
    return [int(i) for i in ids]


def mark_in_flight(r: redis.Redis, campaign_id: int, entry_id: int, now: float) -> None:
    """Mark a handed-out entry in flight afresh at `now` (only if it is still marked)."""
    r.zadd(Keys.dialing(campaign_id), {entry_id: now}, xx=True)


def done_dialing(r: redis.Redis, campaign_id: int, entry_id: int) -> None:
    """The entry's call was answered or ended: it no longer counts as in flight."""
    r.zrem(Keys.dialing(campaign_id), entry_id)


def schedule_retry(
    r: redis.Redis, campaign_id: int, entry_id: int, score: float, not_before: float
) -> None:
    with r.pipeline() as pipe:
        pipe.hset(Keys.retry_scores(campaign_id), entry_id, score)
        pipe.zadd(Keys.retry(campaign_id), {entry_id: not_before})
        pipe.execute()


def promote_due(r: redis.Redis, campaign_id: int, now: float, limit: int = 1000) -> int:
    keys = (Keys.retry(campaign_id), Keys.dial_queue(campaign_id), Keys.retry_scores(campaign_id))
    return int(r.eval(_PROMOTE, 3, *keys, now, limit))


def stale_in_flight(r: redis.Redis, campaign_id: int, older_than: float) -> list[int]:
    """Entries marked in flight before `older_than` (their call never showed up): read, not
    removed, so a pacer that dies while looking at them loses nothing."""
    return [int(i) for i in r.zrangebyscore(Keys.dialing(campaign_id), "-inf", older_than)]


def settle_stale(
    r: redis.Redis,
    campaign_id: int,
    back: Mapping[int, float],
    keep: Iterable[int],
    drop: Iterable[int],
    now: float,
    retry: Mapping[int, tuple[float, float]] | None = None,
) -> None:
    """After SQL said what became of stale entries: `back` into the queue, `keep` marked
    afresh (looked at again later), `drop` no longer in flight, `retry` (score, not-before)
    into the retry set."""
    keep, retry = list(keep), dict(retry or {})
    with r.pipeline() as pipe:
        if back:
            pipe.zadd(Keys.dial_queue(campaign_id), dict(back))
        if retry:
            pipe.zadd(Keys.retry(campaign_id), {i: at for i, (_, at) in retry.items()})
            pipe.hset(Keys.retry_scores(campaign_id), mapping={i: s for i, (s, _) in retry.items()})
        gone = [*back, *drop, *retry]
        if gone:
            pipe.zrem(Keys.dialing(campaign_id), *gone)
        if keep:
            pipe.zadd(Keys.dialing(campaign_id), dict.fromkeys(keep, now), xx=True)
        pipe.execute()


def sizes(r: redis.Redis, campaign_id: int) -> dict[str, int]:
    with r.pipeline(transaction=False) as pipe:
        pipe.zcard(Keys.dial_queue(campaign_id))
        pipe.zcard(Keys.retry(campaign_id))
        pipe.zcard(Keys.dialing(campaign_id))
        queued, retry, dialing = pipe.execute()
    return {"queued": queued, "retry": retry, "dialing": dialing}


def clear(r: redis.Redis, campaign_id: int, extra_keys: Iterable[str] = ()) -> None:
    r.delete(
        Keys.dial_queue(campaign_id),
        Keys.retry(campaign_id),
        Keys.retry_scores(campaign_id),
        Keys.dialing(campaign_id),
        *extra_keys,
    )
