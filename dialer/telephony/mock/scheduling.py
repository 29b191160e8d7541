"""A single timer thread that runs short jobs at simulated times (async AMD results, ...)."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable

from dialer.clock import Clock

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, clock: Clock, name: str = "mock-scheduler"):
        self.clock = clock
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, sim_seconds: float, job: Callable[[], None]) -> None:
        """Run job (which must be quick) sim_seconds of simulated time from now."""
        when = self.clock.time() + max(0.0, sim_seconds)
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (when, next(self._counter), job))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._heap:
                        wait = self._heap[0][0] - self.clock.time()
                        if wait <= 0:
                            break
                        self._cond.wait(min(self.clock.real_seconds(wait), 1.0))
                    else:
                        self._cond.wait(1.0)
                if self._stopped:
                    return
                _, _, job = heapq.heappop(self._heap)
            try:
                job()
            except Exception:
                log.exception("scheduled job failed")

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        self._thread.join(timeout)
