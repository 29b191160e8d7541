"""Compliance profiles as pure rules: examples for every rule, and property tests that
drive random histories and clocks through each profile against a plainly written oracle."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.campaigns.compliance import (
    PROFILES,
    RULES,
    DialFacts,
    Profile,
    check,
    get_profile,
    narrow,
    next_window_open,
)

VN = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hà Nội


def _facts(now=NOW, tz=VN, **kw) -> DialFacts:
    base = {"phone_relation": "mobile", "attempts_today": 0}
    return DialFacts(now=now, timezone=tz, **{**base, **kw})


# --- examples, rule by rule -----------------------------------------------------------------


def test_vn_window_blocks_before_seven_and_from_nine_pm():
    profile = get_profile("vn-finance")
    early = datetime(2026, 11, 22, 23, 59, tzinfo=UTC)  # 06:59 local
    verdict = check(profile, _facts(now=early))
    assert not verdict.allowed and verdict.rule == "calling_window"
    assert verdict.retry_at == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    late = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 21:00 local
    assert check(profile, _facts(now=late)).rule == "calling_window"
    assert check(profile, _facts(now=late - timedelta(minutes=1))).allowed


def test_the_window_is_the_phones_local_time():
    profile = get_profile("us-regf")
    # 10:00 in Hà Nội is 22:00 the day before in New York: too late there.
    verdict = check(profile, _facts(tz="America/New_York"))
    assert verdict.rule == "calling_window"
    assert verdict.retry_at == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 08:00 EST


def test_vn_daily_limits_references_dnc_and_ring_time():
    profile = get_profile("vn-finance")
    assert check(profile, _facts(attempts_today=4)).allowed
    blocked = check(profile, _facts(attempts_today=5))
    assert blocked.rule == "daily_attempt_limit"
    assert blocked.retry_at == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 07:00 tomorrow
    assert check(profile, _facts(attempts_on_phone_today=3)).rule == "phone_daily_limit"
    assert check(profile, _facts(phone_relation="reference")).rule == "obligors_only"
    dnc = check(profile, _facts(on_dnc=True))
    assert dnc.rule == "dnc" and dnc.retry_at is None
    assert check(profile, _facts(ring_timeout=10)).rule == "min_ring_time"


def test_min_gap_between_attempts():
    profile = get_profile("vn-finance")
    verdict = check(profile, _facts(last_attempt_on_phone_at=NOW - timedelta(minutes=10)))
    assert verdict.rule == "min_gap" and verdict.retry_at == NOW + timedelta(minutes=20)


def test_us_seven_calls_in_seven_days_and_quiet_after_a_conversation():
    profile = get_profile("us-regf")
    noon_ny = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    six = tuple(noon_ny - timedelta(days=d, hours=1) for d in range(6))
    assert check(profile, _facts(now=noon_ny, tz="America/New_York", recent_attempt_times=six))
    seven = (*six, noon_ny - timedelta(days=6, hours=20))
    verdict = check(profile, _facts(now=noon_ny, tz="America/New_York", recent_attempt_times=seven))
    assert verdict.rule == "attempts_in_days"
    assert verdict.retry_at == min(seven) + timedelta(days=7)  # the oldest leaves the window
    eight = (*seven, noon_ny - timedelta(days=6, hours=21))
    verdict = check(profile, _facts(now=noon_ny, tz="America/New_York", recent_attempt_times=eight))
    assert verdict.retry_at == sorted(eight)[1] + timedelta(days=7)  # two must leave
    talked = noon_ny - timedelta(days=3)
    verdict = check(
        profile, _facts(now=noon_ny, tz="America/New_York", last_conversation_at=talked)
    )
    assert verdict.rule == "after_conversation" and verdict.retry_at == talked + timedelta(days=7)


def test_uk_abandon_and_machine_rules_yield_to_a_reserved_agent():
    profile = get_profile("uk-ofcom")
    noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    abandoned = noon - timedelta(hours=30)
    verdict = check(profile, _facts(now=noon, tz="Europe/London", last_abandoned_at=abandoned))
    assert verdict.rule == "abandon_quiet_period"
    assert verdict.retry_at == abandoned + timedelta(hours=72)
    reserved = _facts(
        now=noon, tz="Europe/London", last_abandoned_at=abandoned, reserved_agent=True
    )
    assert check(profile, reserved).allowed
    machine = check(profile, _facts(now=noon, tz="Europe/London", machine_today=True))
    assert machine.rule == "machine_same_day"
    assert machine.retry_at == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert check(
        profile, _facts(now=noon, tz="Europe/London", machine_today=True, reserved_agent=True)
    ).allowed
    # Vietnam has neither rule.
    assert check(get_profile("vn-finance"), _facts(machine_today=True, last_abandoned_at=NOW))


def test_public_holidays_when_the_profile_skips_them():
    tet = datetime(2027, 2, 6, 3, 0, tzinfo=UTC)  # Lunar New Year, 10:00 local
    assert check(get_profile("vn-finance"), _facts(now=tet)).allowed  # optional: off by default
    profile = narrow(get_profile("vn-finance"), skip_public_holidays=True)
    verdict = check(profile, _facts(now=tet))
    assert verdict.rule == "public_holiday"
    # Tết runs to 10 February (a Wednesday): the next calling day is the 11th.
    assert verdict.retry_at == datetime(2027, 2, 11, 0, 0, tzinfo=UTC)


def test_narrowing_never_widens():
    vn = get_profile("vn-finance")
    narrowed = narrow(
        vn, window_start=time(8), window_end=time(18, 30), max_attempts_per_account_per_day=3
    )
    assert (narrowed.window_start, narrowed.window_end) == (time(8), time(18, 30))
    assert narrowed.max_attempts_per_account_per_day == 3
    for kwargs in (
        {"window_start": time(6)},
        {"window_end": time(22)},
        {"window_start": time(12), "window_end": time(11)},
        {"max_attempts_per_account_per_day": 6},
    ):
        with pytest.raises(ValueError):
            narrow(vn, **kwargs)
    strict = narrow(vn, skip_public_holidays=True)
    with pytest.raises(ValueError, match="public holidays"):
        narrow(strict, skip_public_holidays=False)


def test_unknown_profile():
    with pytest.raises(ValueError, match="unknown compliance profile"):
        get_profile("mars")


# --- properties -----------------------------------------------------------------------------

ZONES = (VN, "America/New_York", "America/Los_Angeles", "Europe/London")


def broken_rules(profile: Profile, f: DialFacts) -> set[str]:
    """Every rule this dial would break, written from the rules' text (the oracle)."""
    local = f.now.astimezone(ZoneInfo(f.timezone))
    broken = set()
    if f.on_dnc:
        broken.add("dnc")
    if profile.obligors_only and f.phone_relation == "reference":
        broken.add("obligors_only")
    if f.ring_timeout < 15:
        broken.add("min_ring_time")
    if profile.skip_public_holidays and local.date() in holidays.country_holidays(
        profile.country, years=local.year
    ):
        broken.add("public_holiday")
    if not (profile.window_start <= local.time() < profile.window_end):
        broken.add("calling_window")
    per_day = profile.max_attempts_per_account_per_day
    if per_day is not None and f.attempts_today >= per_day:
        broken.add("daily_attempt_limit")
    if f.attempts_on_phone_today >= 3:
        broken.add("phone_daily_limit")
    if profile.max_attempts_per_account_in_days:
        calls, days = profile.max_attempts_per_account_in_days
        if (
            sum(1 for t in f.recent_attempt_times if f.now - timedelta(days=days) < t <= f.now)
            >= calls
        ):
            broken.add("attempts_in_days")
    talked = f.last_conversation_at
    if profile.quiet_days_after_conversation and talked and f.now < talked + timedelta(days=7):
        broken.add("after_conversation")
    dropped = f.last_abandoned_at
    quiet = profile.abandon_quiet_hours and dropped and not f.reserved_agent
    if quiet and f.now < dropped + timedelta(hours=72):
        broken.add("abandon_quiet_period")
    if not profile.machine_same_day and f.machine_today and not f.reserved_agent:
        broken.add("machine_same_day")
    last_on_phone = f.last_attempt_on_phone_at
    if last_on_phone and f.now < last_on_phone + timedelta(minutes=30):
        broken.add("min_gap")
    return broken


def at(f: DialFacts, when: datetime) -> DialFacts:
    """The same history looked at later: counts of a past local day no longer count."""
    zone = ZoneInfo(f.timezone)
    same_day = when.astimezone(zone).date() == f.now.astimezone(zone).date()
    if same_day:
        return replace(f, now=when)
    return replace(f, now=when, attempts_today=0, attempts_on_phone_today=0, machine_today=False)


@st.composite
def dial_facts(draw) -> DialFacts:
    now = draw(
        st.datetimes(
            min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
        )
    )
    hours_back = draw(st.lists(st.floats(0.01, 24 * 9), max_size=14))
    recent = tuple(now - timedelta(hours=h) for h in hours_back)
    optional_past = st.none() | st.floats(0.01, 24 * 10).map(lambda h: now - timedelta(hours=h))
    return DialFacts(
        now=now,
        timezone=draw(st.sampled_from(ZONES)),
        phone_relation=draw(st.sampled_from(["mobile", "home", "work", "reference"])),
        attempts_today=draw(st.integers(0, 8)),
        last_attempt_on_phone_at=draw(st.none() | st.sampled_from(recent)) if recent else None,
        on_dnc=draw(st.booleans().map(lambda b: b and draw(st.booleans()))),
        attempts_on_phone_today=draw(st.integers(0, 5)),
        recent_attempt_times=recent,
        last_conversation_at=draw(optional_past),
        last_abandoned_at=draw(optional_past),
        machine_today=draw(st.booleans()),
        ring_timeout=draw(st.sampled_from([10, 15, 25, 30])),
        reserved_agent=draw(st.booleans()),
    )


PROFILE_CHOICES = st.sampled_from(
    [*PROFILES.values(), narrow(get_profile("vn-finance"), skip_public_holidays=True)]
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PROFILE_CHOICES, dial_facts())
def test_no_allowed_dial_breaks_a_rule_and_no_block_lacks_one(profile, facts):
    verdict = check(profile, facts)
    broken = broken_rules(profile, facts)
    assert verdict.allowed == (not broken), (verdict, broken)
    if not verdict.allowed:
        assert verdict.rule in broken  # blocked by a rule that really is broken now
        assert verdict.rule in RULES  # one the reports and docs know


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PROFILE_CHOICES, dial_facts())
def test_retry_time_is_when_the_rule_stops_blocking(profile, facts):
    verdict = check(profile, facts)
    if verdict.allowed or verdict.retry_at is None:
        return
    assert verdict.retry_at > facts.now
    later = at(facts, verdict.retry_at)
    assert verdict.rule not in broken_rules(profile, later)
    # And a day-based rule's retry is inside a calling window on a calling day.
    if verdict.rule in ("calling_window", "public_holiday", "daily_attempt_limit"):
        assert not {"calling_window", "public_holiday"} & broken_rules(profile, later)


@settings(max_examples=200, deadline=None)
@given(
    PROFILE_CHOICES,
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    st.sampled_from(ZONES),
)
def test_next_window_open_is_the_first_callable_moment(profile, now, tz):
    opens = next_window_open(profile, now, tz)
    assert opens >= now
    facts = _facts(now=opens, tz=tz)
    assert not {"calling_window", "public_holiday"} & broken_rules(profile, facts)
    # Nothing callable in between: one minute before, it was closed (or it is `now`).
    if opens > now:
        before = _facts(now=max(now, opens - timedelta(minutes=1)), tz=tz)
        assert {"calling_window", "public_holiday"} & broken_rules(profile, before) or (
            opens - now < timedelta(minutes=1)
        )
