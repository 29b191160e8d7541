"""Signed-in sessions kept in Redis, so that signing out (or being disabled) ends them for
good and idle time ends them by themselves: the cookie only carries a random session id."""

from __future__ import annotations

import secrets

import redis as redis_lib

from dialer.redis import Keys


def start(redis: redis_lib.Redis, *, user_id: int, idle_seconds: int) -> str:
    session_id = secrets.token_urlsafe(32)
    pipe = redis.pipeline()
    pipe.set(Keys.sign_in(session_id), user_id, ex=idle_seconds)
    pipe.sadd(Keys.user_sign_ins(user_id), session_id)
    pipe.execute()
    return session_id


def renew(redis: redis_lib.Redis, *, session_id: str, idle_seconds: int) -> int | None:
    """The session's user id, its idle time started again; None when it has ended."""
    pipe = redis.pipeline()
    pipe.get(Keys.sign_in(session_id))
    pipe.expire(Keys.sign_in(session_id), idle_seconds)
    user_id, _ = pipe.execute()
    return int(user_id) if user_id is not None else None


def alive(redis: redis_lib.Redis, *, session_id: str, user_id: int) -> bool:
    """Still signed in (without renewing it: an open event stream is not activity)."""
    owner = redis.get(Keys.sign_in(session_id))
    return owner is not None and int(owner) == user_id


def end(redis: redis_lib.Redis, *, session_id: str) -> None:
    user_id = redis.getdel(Keys.sign_in(session_id))
    if user_id is not None:
        redis.srem(Keys.user_sign_ins(int(user_id)), session_id)


def end_all(redis: redis_lib.Redis, *, user_id: int) -> int:
    """End every session of the user (disabled, password reset); how many were open."""
    ids = [
        i.decode() if isinstance(i, bytes) else i
        for i in redis.smembers(Keys.user_sign_ins(user_id))
    ]
    pipe = redis.pipeline()
    for session_id in ids:
        pipe.delete(Keys.sign_in(session_id))
    pipe.delete(Keys.user_sign_ins(user_id))
    results = pipe.execute()
    return sum(results[:-1])
