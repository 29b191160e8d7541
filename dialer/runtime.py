"""What every process needs, built once from Settings: clock, database, Redis, carrier, RQ.

The Flask app keeps one in app.extensions["dialer"] (see dialer/app.py); the worker and the
pacer build their own. Tests build one from their own Settings.
"""

from __future__ import annotations

from datetime import date
from functools import cached_property
from zoneinfo import ZoneInfo

import redis
from rq import Queue

from dialer.clock import Clock
from dialer.config import Settings, get_settings
from dialer.db import Database, get_database
from dialer.redis import get_blocking_redis, get_redis
from dialer.telephony.carrier import Carrier, TwilioCarrier


class Runtime:
    def __init__(self, settings: Settings, carrier: Carrier | None = None) -> None:
        self.settings = settings
        self.clock = Clock.from_settings(settings)
        self._carrier = carrier

    @cached_property
    def db(self) -> Database:
        return get_database(self.settings)

    @property
    def redis(self) -> redis.Redis:
        return get_redis(self.settings)  # per-process cache; safe after fork

    @property
    def blocking_redis(self) -> redis.Redis:
        """For reads that block for seconds (the event streams): a longer socket timeout."""
        return get_blocking_redis(self.settings)

    @property
    def carrier(self) -> Carrier:
        if self._carrier is None:
            self._carrier = TwilioCarrier(self.settings)
        return self._carrier

    @property
    def queue(self) -> Queue:
        """Calls to place and other short jobs."""
        return Queue(self.settings.rq_queue, connection=self.redis)

    @property
    def imports_queue(self) -> Queue:
        """Files imported from the console: minutes of work, kept off the calls' queue."""
        return Queue(f"{self.settings.rq_queue}-imports", connection=self.redis)

    @property
    def queues(self) -> list[Queue]:
        """What a worker takes jobs from, in order: a call before a file, every time."""
        return [self.queue, self.imports_queue]

    def now_ts(self) -> float:
        return self.clock.time()


_runtime: Runtime | None = None


def local_today(rt: Runtime) -> date:
    """Today's date at the collections centre (promise dates, daily limits, reports)."""
    return rt.clock.now().astimezone(ZoneInfo(rt.settings.timezone)).date()


def get_runtime() -> Runtime:
    """The process-wide runtime (settings from the environment)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime


def reset_runtime() -> None:
    """Forget the process-wide runtime and settings (after the environment changed)."""
    global _runtime
    _runtime = None
    get_settings.cache_clear()
