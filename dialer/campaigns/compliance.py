"""Compliance profiles: calling rules as data, checked when the queue is built and again
right before each dial. Pure functions: the caller supplies the facts and the clock.

docs/compliance.md lists the profiles, each rule's name (what blocked_dials.rule records)
and the regulations behind them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


@dataclass(frozen=True)
class Profile:
    name: str
    country: str  # ISO code of the public-holiday calendar
    window_start: time  # at the phone's local time
    window_end: time
    max_attempts_per_account_per_day: int | None
    obligors_only: bool = True  # never call references / third parties about the debt
    # (calls, days): at most `calls` attempts on one account in any `days` consecutive days.
    max_attempts_per_account_in_days: tuple[int, int] | None = None
    quiet_days_after_conversation: int | None = None  # no call this long after a contact
    # Between two attempts on one number. Per number, not per account, so that a no-answer
    # on the mobile moves on to the home number at once (the retry rules space the account).
    min_gap_minutes: int = 30
    max_attempts_per_phone_per_day: int | None = 3
    min_ring_seconds: int = 15
    abandon_cap: float = 0.03  # the most a campaign's abandon target may be
    abandon_cap_hours: int = 24  # the period the cap is measured over
    abandon_quiet_hours: int | None = None  # no redial after an abandon, unless reserved
    machine_same_day: bool = True  # redial a machine-answered number the same day
    skip_public_holidays: bool = False
    # The abandon message must say who is calling and a number to call back (the TSR's
    # safe harbour; Ofcom's information message): the campaign must name both.
    abandon_message_identifies: bool = False


PROFILES: dict[str, Profile] = {
    # Circular 43/2016/TT-NHNN Art. 7 as amended by Circular 18/2019/TT-NHNN: 07:00-21:00,
    # at most 5 reminders a day, nobody without a repayment obligation.
    "vn-finance": Profile("vn-finance", "VN", time(7, 0), time(21, 0), 5, obligors_only=True),
    # FDCPA / CFPB Regulation F: 08:00-21:00 local, 7 calls in 7 days, none within 7 days
    # after a conversation; abandons at most 3% over 30 days (TSR).
    "us-regf": Profile(
        "us-regf",
        "US",
        time(8, 0),
        time(21, 0),
        None,
        obligors_only=True,
        max_attempts_per_account_in_days=(7, 7),
        quiet_days_after_conversation=7,
        abandon_cap_hours=30 * 24,
        abandon_message_identifies=True,
    ),
    # Ofcom persistent misuse policy: 3% abandons per 24 h, no redial within 72 h of an
    # abandoned call and no same-day redial after a machine, unless an agent is reserved.
    "uk-ofcom": Profile(
        "uk-ofcom",
        "GB",
        time(8, 0),
        time(21, 0),
        None,
        obligors_only=True,
        abandon_quiet_hours=72,
        machine_same_day=False,
        abandon_message_identifies=True,
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown compliance profile {name!r} (known: {known})") from None


def describe(profile: Profile) -> dict[str, object]:
    """The profile as plain data for people and the API (times as "HH:MM")."""
    out: dict[str, object] = {}
    for name, value in asdict(profile).items():
        out[name] = value.strftime("%H:%M") if isinstance(value, time) else value
    return out


def narrow(
    profile: Profile,
    *,
    window_start: time | None = None,
    window_end: time | None = None,
    max_attempts_per_account_per_day: int | None = None,
    skip_public_holidays: bool | None = None,
) -> Profile:
    """The profile as a campaign narrows it; ValueError if a setting would widen it."""
    start = window_start or profile.window_start
    end = window_end or profile.window_end
    if start < profile.window_start or end > profile.window_end:
        raise ValueError(
            f"calling window {start:%H:%M}-{end:%H:%M} is wider than {profile.name}'s "
            f"{profile.window_start:%H:%M}-{profile.window_end:%H:%M}"
        )
    if start >= end:
        raise ValueError(f"calling window {start:%H:%M}-{end:%H:%M} is empty")
    daily = profile.max_attempts_per_account_per_day
    if max_attempts_per_account_per_day is not None:
        if daily is not None and max_attempts_per_account_per_day > daily:
            raise ValueError(
                f"{max_attempts_per_account_per_day} attempts per day is more than "
                f"{profile.name}'s {daily}"
            )
        daily = max_attempts_per_account_per_day
    skip = profile.skip_public_holidays
    if skip_public_holidays is not None:
        if skip and not skip_public_holidays:
            raise ValueError(f"{profile.name} does not allow calls on public holidays")
        skip = skip_public_holidays
    return replace(
        profile,
        window_start=start,
        window_end=end,
        max_attempts_per_account_per_day=daily,
        skip_public_holidays=skip,
    )


def may_call_relation(profile: Profile, relation: str) -> bool:
    """Whether the profile allows dialing a phone of this relation at all."""
    return not (profile.obligors_only and relation == "reference")


@lru_cache(maxsize=64)
def _holiday_calendar(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=year)


def is_public_holiday(country: str, day: date) -> bool:
    """Whether `day` is a public holiday in `country` (Vietnam's lunar ones included)."""
    return day in _holiday_calendar(country, day.year)


@dataclass(frozen=True)
class DialFacts:
    """Everything the rules read about one intended dial, as plain data."""

    now: datetime  # aware
    timezone: str  # the phone's local zone (the account's override already applied)
    phone_relation: str  # mobile | home | work | reference | ...
    attempts_today: int  # on this account, every campaign, the phone's local day
    last_attempt_on_phone_at: datetime | None = None  # on this number, any campaign
    on_dnc: bool = False  # the number is on the do-not-call list
    attempts_on_phone_today: int = 0
    # Attempts on the account within the profile's counting window (any order).
    recent_attempt_times: tuple[datetime, ...] = ()
    last_conversation_at: datetime | None = None  # last contact with anyone on the account
    last_abandoned_at: datetime | None = None  # last abandoned call to this number
    machine_today: bool = False  # a machine answered this number today (local day)
    ring_timeout: int = 25  # seconds the call will ring
    reserved_agent: bool = False  # an agent is waiting for this call (preview)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: str | None = None  # the rule's name when blocked
    detail: str | None = None
    retry_at: datetime | None = None  # the earliest time the rule would allow it


ALLOWED = Verdict(True)
# Every rule name `check` may block with, as blocked_dials.rule records it (docs/compliance.md).
RULES = (
    "dnc",
    "obligors_only",
    "min_ring_time",
    "public_holiday",
    "calling_window",
    "daily_attempt_limit",
    "phone_daily_limit",
    "attempts_in_days",
    "after_conversation",
    "abandon_quiet_period",
    "machine_same_day",
    "min_gap",
)


def _closed_day(profile: Profile, day: date) -> bool:
    return profile.skip_public_holidays and is_public_holiday(profile.country, day)


def next_window_open(profile: Profile, after: datetime, tz: str) -> datetime:
    """The first moment at or after `after` inside the calling window on a day the
    profile calls (holidays skipped when it skips them)."""
    zone = ZoneInfo(tz)
    local = after.astimezone(zone)
    for offset in range(400):
        day = local.date() + timedelta(days=offset)
        if _closed_day(profile, day):
            continue
        opens = datetime.combine(day, profile.window_start, zone)
        closes = datetime.combine(day, profile.window_end, zone)
        candidate = max(opens, local)
        if candidate < closes:
            return candidate
    raise ValueError("no calling day within a year")


def _next_day_open(profile: Profile, now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    tomorrow = datetime.combine(local.date() + timedelta(days=1), time(0), ZoneInfo(tz))
    return next_window_open(profile, tomorrow, tz)


def check(profile: Profile, facts: DialFacts) -> Verdict:
    """Whether this dial may happen now; if not, the first rule that stops it and the
    earliest time that rule would allow it (None: not in this campaign)."""
    tz, now = facts.timezone, facts.now
    local = now.astimezone(ZoneInfo(tz))
    if facts.on_dnc:
        return Verdict(False, "dnc", "the number is on the do-not-call list")
    if not may_call_relation(profile, facts.phone_relation):
        return Verdict(False, "obligors_only", "the profile does not allow calling references")
    if facts.ring_timeout < profile.min_ring_seconds:
        return Verdict(
            False,
            "min_ring_time",
            f"ring timeout {facts.ring_timeout} s is under {profile.min_ring_seconds} s",
        )
    if _closed_day(profile, local.date()):
        return Verdict(
            False,
            "public_holiday",
            f"{local:%Y-%m-%d} is a public holiday in {profile.country}",
            next_window_open(profile, now, tz),
        )
    if not (profile.window_start <= local.time() < profile.window_end):
        return Verdict(
            False,
            "calling_window",
            f"{local:%H:%M} local is outside {profile.window_start:%H:%M}-"
            f"{profile.window_end:%H:%M}",
            next_window_open(profile, now, tz),
        )
    daily = profile.max_attempts_per_account_per_day
    if daily is not None and facts.attempts_today >= daily:
        return Verdict(
            False,
            "daily_attempt_limit",
            f"{facts.attempts_today} attempts on the account today (limit {daily})",
            _next_day_open(profile, now, tz),
        )
    per_phone = profile.max_attempts_per_phone_per_day
    if per_phone is not None and facts.attempts_on_phone_today >= per_phone:
        return Verdict(
            False,
            "phone_daily_limit",
            f"{facts.attempts_on_phone_today} attempts on this number today (limit {per_phone})",
            _next_day_open(profile, now, tz),
        )
    if profile.max_attempts_per_account_in_days is not None:
        calls, days = profile.max_attempts_per_account_in_days
        span = timedelta(days=days)
        counted = sorted(t for t in facts.recent_attempt_times if now - span < t <= now)
        if len(counted) >= calls:
            # Allowed again once enough of the oldest counted attempts leave the window.
            return Verdict(
                False,
                "attempts_in_days",
                f"{len(counted)} attempts in {days} days (limit {calls})",
                counted[len(counted) - calls] + span,
            )
    quiet = profile.quiet_days_after_conversation
    if quiet is not None and facts.last_conversation_at is not None:
        until = facts.last_conversation_at + timedelta(days=quiet)
        if now < until:
            return Verdict(
                False, "after_conversation", f"a conversation less than {quiet} days ago", until
            )
    if (
        profile.abandon_quiet_hours is not None
        and facts.last_abandoned_at is not None
        and not facts.reserved_agent
    ):
        until = facts.last_abandoned_at + timedelta(hours=profile.abandon_quiet_hours)
        if now < until:
            return Verdict(
                False,
                "abandon_quiet_period",
                f"an abandoned call less than {profile.abandon_quiet_hours} h ago",
                until,
            )
    if not profile.machine_same_day and facts.machine_today and not facts.reserved_agent:
        return Verdict(
            False,
            "machine_same_day",
            "a machine answered this number today; redial tomorrow or with an agent reserved",
            _next_day_open(profile, now, tz),
        )
    if profile.min_gap_minutes and facts.last_attempt_on_phone_at is not None:
        allowed_at = facts.last_attempt_on_phone_at + timedelta(minutes=profile.min_gap_minutes)
        if now < allowed_at:
            return Verdict(
                False,
                "min_gap",
                f"last attempt on this number less than {profile.min_gap_minutes} min ago",
                allowed_at,
            )
    return ALLOWED
