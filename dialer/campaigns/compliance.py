"""Compliance profiles: calling rules as data, checked when the queue is built and again
right before each dial. Pure functions: the caller supplies the facts and the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Profile:
    name: str
    window_start: time  # at the phone's local time
    window_end: time
    max_attempts_per_account_per_day: int
    obligors_only: bool = True  # never call references / third parties about the debt
    min_gap_minutes: int = 0  # between two attempts on one account
    min_ring_seconds: int = 15


PROFILES: dict[str, Profile] = {
    # Circular 43/2016/TT-NHNN Art. 7 as amended by Circular 18/2019/TT-NHNN.
    "vn-finance": Profile("vn-finance", time(7, 0), time(21, 0), 5, obligors_only=True),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown compliance profile {name!r} (known: {known})") from None


def may_call_relation(profile: Profile, relation: str) -> bool:
    """Whether the profile allows dialing a phone of this relation at all."""
    return not (profile.obligors_only and relation == "reference")


@dataclass(frozen=True)
class DialFacts:
    now: datetime  # aware
    timezone: str  # the phone's (or account's) local zone
    phone_relation: str  # mobile | home | work | reference
    attempts_today: int  # on this account, all campaigns, local day
    last_attempt_at: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: str | None = None  # the rule's name when blocked
    detail: str | None = None
    retry_at: datetime | None = None  # the earliest time the rule would allow it


ALLOWED = Verdict(True)


def _next_window_open(profile: Profile, local: datetime) -> datetime:
    opening = local.replace(
        hour=profile.window_start.hour,
        minute=profile.window_start.minute,
        second=0,
        microsecond=0,
    )
    if local.time() >= profile.window_start:
        opening += timedelta(days=1)
    return opening


def check(profile: Profile, facts: DialFacts) -> Verdict:
    """Whether this dial may happen now; if not, which rule stops it and until when."""
    local = facts.now.astimezone(ZoneInfo(facts.timezone))
    if not (profile.window_start <= local.time() < profile.window_end):
        return Verdict(
            False,
            "calling_window",
            f"{local:%H:%M} local is outside {profile.window_start:%H:%M}-"
            f"{profile.window_end:%H:%M}",
            _next_window_open(profile, local),
        )
    if not may_call_relation(profile, facts.phone_relation):
        return Verdict(False, "obligors_only", "the profile does not allow calling references")
    if facts.attempts_today >= profile.max_attempts_per_account_per_day:
        return Verdict(
            False,
            "daily_attempt_limit",
            f"{facts.attempts_today} attempts today (limit "
            f"{profile.max_attempts_per_account_per_day})",
            _next_window_open(profile, local),
        )
    if profile.min_gap_minutes and facts.last_attempt_at is not None:
        allowed_at = facts.last_attempt_at + timedelta(minutes=profile.min_gap_minutes)
        if facts.now < allowed_at:
            return Verdict(
                False,
                "min_gap",
                f"last attempt less than {profile.min_gap_minutes} min ago",
                allowed_at,
            )
    return ALLOWED
