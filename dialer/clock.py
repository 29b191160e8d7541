"""The system's clock: wall time, or simulated time running `speed` times faster.

Every process of a demo (web, worker, pacer, mock carrier) builds the same Clock from the
same settings, so they agree on "now" and on how long a simulated second lasts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as dtime
from zoneinfo import ZoneInfo

from dialer.config import Settings


@dataclass(frozen=True)
class Clock:
    speed: float = 1.0
    real_origin: float | None = None
    sim_origin: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Clock:
        if settings.clock_real_origin is None or settings.clock_sim_origin is None:
            # A faster clock needs an origin to run from; without one it starts now.
            return cls() if settings.speed == 1.0 else cls.started_now(settings.speed)
        return cls(settings.speed, settings.clock_real_origin, settings.clock_sim_origin)

    @classmethod
    def started_now(cls, speed: float, sim_start: datetime | None = None) -> Clock:
        """A clock whose simulated time starts at sim_start (default: now) and runs at speed."""
        real = time.time()
        sim = sim_start.timestamp() if sim_start else real
        return cls(speed, real, sim)

    def time(self) -> float:
        """Simulated unix time in seconds."""
        real = time.time()
        if self.real_origin is None or self.sim_origin is None:
            return real
        return self.sim_origin + (real - self.real_origin) * self.speed

    def now(self) -> datetime:
        """Simulated now, timezone-aware UTC."""
        return datetime.fromtimestamp(self.time(), UTC)

    def wall_datetime(self, at: datetime) -> datetime:
        """When the wall clock will show simulated moment `at` (RQ's scheduler runs on the
        wall clock; ours may be simulated). Aware UTC."""
        real = time.time() + self.real_seconds(at.timestamp() - self.time())
        return datetime.fromtimestamp(real, UTC)

    def real_seconds(self, sim_seconds: float) -> float:
        """How long sim_seconds of simulated time take on the wall clock."""
        return max(0.0, sim_seconds) / self.speed

    def sleep(self, sim_seconds: float) -> None:
        time.sleep(self.real_seconds(sim_seconds))

    def env(self) -> dict[str, str]:
        """Environment variables that give a child process this same clock."""
        out = {"DIALER_SPEED": repr(self.speed)}
        if self.real_origin is not None and self.sim_origin is not None:
            out["DIALER_CLOCK_REAL_ORIGIN"] = repr(self.real_origin)
            out["DIALER_CLOCK_SIM_ORIGIN"] = repr(self.sim_origin)
        return out


def local_day_start(now: datetime, tz: str) -> datetime:
    """Midnight of `now`'s local day in tz, as an aware UTC datetime."""
    local = now.astimezone(ZoneInfo(tz))
    return datetime.combine(local.date(), dtime(0), ZoneInfo(tz)).astimezone(UTC)


def local_iso(moment: datetime | None, tz: str) -> str | None:
    """An aware moment as local time in `tz`, to the second, for people and the API."""
    return moment.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds") if moment else None
