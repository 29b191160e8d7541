"""The facts the rules read, gathered from the real SQL database right before a dial."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.campaigns import service
from dialer.campaigns.attempts import (
    NO_DIALABLE_PHONE,
    account_hold,
    choose_phone,
    compliance_verdict,
    dial_facts,
)
from dialer.campaigns.compliance import Verdict, get_profile
from dialer.campaigns.models import CallAttempt, CampaignEntry, DncNumber
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import Disposition, Referral
from dialer.portfolio.models import Phone
from tests import factories

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 12:00 in New York, 17:00 in London


@pytest.fixture
def codes(session):
    seed_default_codes(session)
    session.commit()


def _dial(session, campaign, entry, phone, ago: timedelta, result: str, sid: bool = True):
    attempt = CallAttempt(
        campaign_id=campaign.id,
        entry_id=entry.id,
        account_id=entry.account_id,
        phone_id=phone.id,
        call_sid=f"CA{session.info.setdefault('n', 0) + 1:032d}" if sid else None,
        status="completed",
        result=result,
        created_at=NOW - ago,
        ended_at=NOW - ago + timedelta(seconds=30),
    )
    session.info["n"] = session.info["n"] + 1
    session.add(attempt)
    session.flush()
    return attempt


def test_facts_come_from_the_accounts_history(session, codes):
    account = factories.account(
        session,
        phones=(("+12025550123", "mobile"), ("+12025550124", "work")),
        timezone="America/New_York",
    )
    mobile, work = sorted(account.phones, key=lambda p: p.priority)
    campaign = service.create_campaign(
        session, "us", compliance_profile="us-regf", **factories.CALLER
    )
    entry = CampaignEntry(campaign_id=campaign.id, account_id=account.id, score=1)
    session.add(entry)
    session.flush()
    _dial(session, campaign, entry, mobile, timedelta(hours=1), "abandoned")
    _dial(session, campaign, entry, mobile, timedelta(hours=2), "machine")
    _dial(session, campaign, entry, work, timedelta(hours=3), "no_answer")
    _dial(session, campaign, entry, mobile, timedelta(days=3), "human")
    _dial(session, campaign, entry, mobile, timedelta(days=9), "no_answer")  # too old to count
    _dial(
        session, campaign, entry, mobile, timedelta(minutes=5), "error", sid=False
    )  # never placed
    talk = _dial(session, campaign, entry, mobile, timedelta(days=4), "human")
    session.add(
        Disposition(
            attempt_id=talk.id,
            account_id=account.id,
            code="RTP",
            set_by="agent",
            created_at=NOW - timedelta(days=4),
        )
    )
    session.add(DncNumber(number=work.number, reason="opt-out"))
    session.commit()

    profile = get_profile("us-regf")
    facts = dial_facts(session, profile, account, mobile, NOW, "Asia/Ho_Chi_Minh", ring_timeout=25)
    assert facts.timezone == "America/New_York"  # the account's override
    assert facts.attempts_today == 3 and facts.attempts_on_phone_today == 2
    assert len(facts.recent_attempt_times) == 5  # seven days' worth, placed calls only
    assert facts.last_attempt_on_phone_at == NOW - timedelta(hours=1)
    work_facts = dial_facts(session, profile, account, work, NOW, "UTC", ring_timeout=25)
    assert work_facts.last_attempt_on_phone_at == NOW - timedelta(hours=3)
    assert facts.last_abandoned_at == NOW - timedelta(hours=1)
    assert facts.machine_today and not facts.on_dnc
    assert facts.last_conversation_at == NOW - timedelta(days=4)
    verdict = compliance_verdict(
        session, campaign, account, mobile, NOW, "Asia/Ho_Chi_Minh", ring_timeout=25
    )
    assert verdict.rule == "after_conversation"
    assert verdict.retry_at == NOW + timedelta(days=3)
    assert dial_facts(session, profile, account, work, NOW, "UTC", ring_timeout=25).on_dnc


def test_per_number_rules_count_every_accounts_dials_to_the_number(session, codes):
    """A reference on one account is another borrower's mobile: the person at that number
    was called once today through the other account, and the per-number rules (daily
    limit, gap, machine today, quiet after an abandon) count that call."""
    shared = "+12025550199"
    borrower = factories.account(session, phones=((shared, "mobile"),), timezone="America/New_York")
    other = factories.account(
        session, phones=(("+12025550198", "mobile"), (shared, "reference")),
        timezone="America/New_York",
    )  # fmt: skip
    campaign = service.create_campaign(
        session, "us", compliance_profile="us-regf", **factories.CALLER
    )
    first = CampaignEntry(campaign_id=campaign.id, account_id=borrower.id, score=1)
    second = CampaignEntry(campaign_id=campaign.id, account_id=other.id, score=1)
    session.add_all([first, second])
    session.flush()
    _dial(session, campaign, first, borrower.phones[0], timedelta(minutes=30), "abandoned")
    _dial(session, campaign, first, borrower.phones[0], timedelta(hours=2), "machine")
    session.commit()
    reference = next(p for p in other.phones if p.number == shared)
    profile = get_profile("us-regf")
    facts = dial_facts(session, profile, other, reference, NOW, "UTC", ring_timeout=25)
    assert facts.attempts_today == 0  # the account itself: never called
    assert facts.attempts_on_phone_today == 2  # the number: twice, through the borrower
    assert facts.last_attempt_on_phone_at == NOW - timedelta(minutes=30)
    assert facts.last_abandoned_at == NOW - timedelta(minutes=30) and facts.machine_today
    own = next(p for p in other.phones if p.number != shared)
    assert (
        dial_facts(
            session, profile, other, own, NOW, "UTC", ring_timeout=25
        ).attempts_on_phone_today
        == 0
    )


def test_the_campaigns_narrowed_profile_is_what_is_checked(session, codes):
    account = factories.account(session, phones=(("+84901234567", "mobile"),))
    campaign = service.create_campaign(session, "vn", window_start="08:00", window_end="11:00")
    session.commit()
    (phone,) = account.phones
    noon_vn = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    verdict = compliance_verdict(session, campaign, account, phone, noon_vn, "UTC", ring_timeout=25)
    assert verdict.rule == "calling_window"
    assert verdict.retry_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 08:00 tomorrow


# --- property: random portfolios and clocks through the SQL path ----------------------------
#
# Each example writes one account (1-4 phones, references included, VN/US/GB numbers, an
# optional timezone override, some numbers on the DNC list), a history of call attempts in
# two campaigns (some never placed) and dispositions, plus a second account whose history
# must not count; then asks dial_facts / compliance_verdict / account_hold / choose_phone
# at a random moment (and compliance_verdict again at the retry time it gives). The oracle
# below reads only the rows the example wrote and the rules' text (RULEBOOKS), never
# DialFacts or Profile. Every example is rolled back: the database stays empty.

# The oracle's own idea of each number's zone, written by hand (not from phonenumbers).
NUMBER_ZONES = {
    "+8490": "Asia/Ho_Chi_Minh",  # Vietnamese mobiles
    "+8497": "Asia/Ho_Chi_Minh",
    "+84243": "Asia/Ho_Chi_Minh",  # Hà Nội landline
    "+1202": "America/New_York",
    "+1213": "America/Los_Angeles",
    "+1312": "America/Chicago",
    "+1808": "Pacific/Honolulu",
    "+44207": "Europe/London",
    "+44161": "Europe/London",
}
OVERRIDE_ZONES = ("Asia/Ho_Chi_Minh", "America/New_York", "America/Denver", "Europe/London")
CONTACT_CODES = ("PTP", "RTP", "CAB", "HUP")  # a conversation with someone on the account
OTHER_CODES = ("NKP", "NAB", "CFF")  # no conversation
RESULTS = ("human", "abandoned", "abandoned", "machine", "machine", "no_answer", "busy")
RESULTS += ("hung_up", "error")


@dataclass(frozen=True)
class Rulebook:
    """A profile as its regulation reads, for the oracle (docs/compliance.md)."""

    country: str
    opens: time
    closes: time
    per_day: int | None  # attempts on the account per local day
    in_days: tuple[int, int] | None = None  # (calls, days) on the account
    quiet_after_talk: timedelta | None = None
    abandon_quiet: timedelta | None = None  # per number
    machine_redial_same_day: bool = True


RULEBOOKS = {
    "vn-finance": Rulebook("VN", time(7), time(21), 5),
    "us-regf": Rulebook(
        "US", time(8), time(21), None, in_days=(7, 7), quiet_after_talk=timedelta(days=7)
    ),
    "uk-ofcom": Rulebook(
        "GB", time(8), time(21), None, abandon_quiet=timedelta(hours=72),
        machine_redial_same_day=False,
    ),
}  # fmt: skip
MIN_GAP_ON_NUMBER = timedelta(minutes=30)
# The order the rules are checked in: a blocked dial records the first one it breaks.
RULE_ORDER = (
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
HOLD_ORDER = ("account_closed", "suppressed", "referred")
PER_NUMBER_PER_DAY = 3
MIN_RING = 15


@dataclass(frozen=True)
class Narrowing:
    window: tuple[str, str] | None = None
    per_day: int | None = None
    skip_holidays: bool | None = None


@dataclass(frozen=True)
class Case:
    profile: str
    narrowing: Narrowing
    phones: tuple[tuple[str, str, bool], ...]  # (number, relation, dialable)
    override: str | None
    dnc: frozenset[int]  # indexes into phones
    status: str
    suppressed_days: int | None  # suppressed_until = today + n
    referral: str | None  # state of a referral, if any
    # (phone index, minutes before now, placed, result, in the checked campaign)
    attempts: tuple[tuple[int, int, bool, str, bool], ...]
    dispositions: tuple[tuple[int, str, int], ...]  # (attempt index, code, minutes after it)
    noise_minutes: tuple[int, ...]  # the other account's placed attempts
    now: datetime
    default_tz: str
    ring_timeout: int
    reserved_agent: bool


def weighted(*choices: tuple[st.SearchStrategy, int]) -> st.SearchStrategy:
    """One of the strategies, drawn with the given weights."""
    return st.sampled_from([s for s, weight in choices for _ in range(weight)]).flatmap(lambda s: s)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def narrowings(draw, profile: str) -> Narrowing:
    book = RULEBOOKS[profile]
    window = None
    if draw(st.integers(0, 2)) == 0:
        low, high = book.opens.hour * 60, book.closes.hour * 60
        start = draw(st.integers(low // 30, high // 30 - 1)) * 30
        end = draw(st.integers(start // 30 + 1, high // 30)) * 30
        window = (_hhmm(start), _hhmm(end))
    per_day = draw(weighted((st.none(), 2), (st.integers(1, book.per_day or 6), 1)))
    return Narrowing(window, per_day, draw(st.sampled_from([None, True])))


@st.composite
def numbers(draw, country: str | None) -> str:
    """A valid number of the country (+84, +1, +44; None: any), in E.164."""
    prefix = draw(st.sampled_from([p for p in NUMBER_ZONES if p.startswith(country or "+")]))
    if prefix.startswith("+1"):  # NPA + NXX + line
        nxx = f"{draw(st.integers(2, 9))}{draw(st.integers(0, 99)):02d}"
        return f"{prefix}{nxx}{draw(st.integers(0, 9999)):04d}"
    return prefix + f"{draw(st.integers(0, 9_999_999)):07d}"


MOSTLY = st.sampled_from([True, True, True, False])
# Public holidays of the three calendars, and the days around them.
HOLIDAYS = [
    date(2026, 1, 1),  # everywhere
    date(2026, 4, 30),  # VN Reunification Day
    date(2026, 9, 2),  # VN National Day
    date(2026, 7, 3),  # US Independence Day (observed)
    date(2026, 11, 26),  # US Thanksgiving
    date(2026, 12, 25),  # US, GB
    date(2026, 12, 28),  # GB Boxing Day (substitute)
    date(2027, 2, 6),  # VN Tết
    date(2027, 2, 9),
]
local_dates = weighted(
    (st.dates(date(2026, 1, 1), date(2027, 12, 31)), 3),
    (
        st.builds(
            lambda d, shift: d + timedelta(days=shift),
            st.sampled_from(HOLIDAYS),
            st.integers(-1, 1),
        ),
        1,
    ),
)
# Mostly inside the usual calling hours (where the other rules matter), else any time.
local_times = weighted((st.times(time(8), time(20, 59, 59, 999999)), 3), (st.times(), 1))
gap = st.integers(0, 120)  # the gap between two dials
today_or_yesterday = st.integers(0, 36 * 60)  # daily counts, machines
days_back = st.integers(0, 11 * 24 * 60)  # the 7-day look-back
around_72_hours = st.integers(66 * 60, 78 * 60)  # Ofcom's quiet period after an abandon
around_7_days = st.integers(6 * 24 * 60, 8 * 24 * 60)  # Regulation F's 7 in 7
spread = st.one_of(gap, today_or_yesterday, today_or_yesterday, days_back, around_72_hours)
# A history is spread out, or crowded into the hours or days a limit counts over, so
# that the counts often stand right at a limit.
HISTORY_SHAPES = (
    spread,
    st.integers(0, 14 * 60),
    st.integers(0, 7 * 24 * 60) | around_7_days,
)


@st.composite
def cases(draw) -> Case:
    profile = draw(st.sampled_from(sorted(RULEBOOKS)))
    # Most accounts have all their numbers in one country; some are spread out.
    country = draw(st.sampled_from(["+84", "+84", "+1", "+1", "+44", "+44", None]))
    phones = draw(
        st.lists(
            st.tuples(
                numbers(country),
                st.sampled_from(["mobile", "mobile", "home", "home", "work", "reference"]),
                MOSTLY,  # dialable
            ),
            min_size=1,
            max_size=4,
            unique_by=lambda p: p[0],
        )
    )
    n = len(phones)
    # Hypothesis keeps lists short; some histories must be long (7 calls in 7 days).
    size = draw(st.integers(0, 4) | st.integers(3, 9) | st.integers(6, 16))
    minutes_back = draw(st.sampled_from(HISTORY_SHAPES))
    attempts = draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                minutes_back,
                MOSTLY,  # placed (else the dial never reached the carrier)
                st.sampled_from(RESULTS),
                st.booleans(),
            ),
            min_size=size,
            max_size=size,
        )
    )
    dispositions = ()
    if attempts:
        dispositions = draw(
            st.lists(
                st.tuples(
                    st.integers(0, len(attempts) - 1),
                    st.sampled_from(CONTACT_CODES + OTHER_CODES),
                    st.integers(0, 15),
                ),
                max_size=3,
                unique_by=lambda d: d[0],  # one disposition per call
            )
        )
    override = draw(st.none() | st.sampled_from(OVERRIDE_ZONES))
    zone = ZoneInfo(override or _zone_of(phones[0][0]))
    now = datetime.combine(draw(local_dates), draw(local_times), zone).astimezone(UTC)
    return Case(
        profile=profile,
        narrowing=draw(narrowings(profile)),
        phones=tuple(phones),
        override=override,
        dnc=draw(weighted((st.just(frozenset()), 3), (st.frozensets(st.integers(0, n - 1)), 1))),
        status=draw(st.sampled_from(["active"] * 5 + ["closed"])),
        suppressed_days=draw(st.none() | st.none() | st.integers(-2, 2)),
        referral=draw(st.sampled_from([None, None, None, "open", "closed"])),
        attempts=tuple(attempts),
        dispositions=tuple(dispositions),
        noise_minutes=tuple(draw(st.lists(st.integers(0, 60), max_size=6))),
        now=now,
        default_tz=draw(st.sampled_from(OVERRIDE_ZONES)),
        ring_timeout=draw(st.sampled_from([25, 25, 25, 25, 25, 25, 14, 15, 30])),
        reserved_agent=draw(st.booleans()),
    )


def _zone_of(number: str) -> str:
    return next(z for p, z in NUMBER_ZONES.items() if number.startswith(p))


def oracle_broken(case: Case, index: int, at: datetime | None = None) -> set[str]:
    """Every rule a dial of phone `index` breaks at `at` (default: case.now), from the rows
    the case wrote (all of them before case.now)."""
    book = RULEBOOKS[case.profile]
    narrow_ = case.narrowing
    opens, closes = book.opens, book.closes
    if narrow_.window:
        opens, closes = (time.fromisoformat(t) for t in narrow_.window)
    per_day = narrow_.per_day if narrow_.per_day is not None else book.per_day
    number, relation, _ = case.phones[index]
    zone = ZoneInfo(case.override or _zone_of(number))
    now = at or case.now
    local_day = now.astimezone(zone).date()

    def ago(minutes: int) -> datetime:
        return case.now - timedelta(minutes=minutes)

    placed = [(i, ago(m), result) for i, m, sent, result, _ in case.attempts if sent]
    today = [(i, t, r) for i, t, r in placed if t.astimezone(zone).date() == local_day]
    mine = [(t, r) for i, t, r in placed if i == index]
    broken = set()
    if index in case.dnc:
        broken.add("dnc")
    if relation == "reference":
        broken.add("obligors_only")  # every profile: obligors only
    if case.ring_timeout < MIN_RING:
        broken.add("min_ring_time")
    if narrow_.skip_holidays and local_day in holidays.country_holidays(
        book.country, years=local_day.year
    ):
        broken.add("public_holiday")
    if not opens <= now.astimezone(zone).time() < closes:
        broken.add("calling_window")
    if per_day is not None and len(today) >= per_day:
        broken.add("daily_attempt_limit")
    if sum(1 for i, _, _ in today if i == index) >= PER_NUMBER_PER_DAY:
        broken.add("phone_daily_limit")
    if book.in_days:
        calls, days = book.in_days
        if sum(1 for _, t, _ in placed if t > now - timedelta(days=days)) >= calls:
            broken.add("attempts_in_days")
    if book.quiet_after_talk:
        # A disposition is set `after` minutes after its call, never later than case.now.
        talks = [
            ago(max(case.attempts[a][1] - after, 0))
            for a, code, after in case.dispositions
            if code in CONTACT_CODES
        ]
        if any(now < t + book.quiet_after_talk for t in talks):
            broken.add("after_conversation")
    quiet = book.abandon_quiet
    dropped_lately = quiet and any(r == "abandoned" and now < t + quiet for t, r in mine)
    if dropped_lately and not case.reserved_agent:  # with an agent waiting, no abandon
        broken.add("abandon_quiet_period")
    machine_today = any(r == "machine" and t.astimezone(zone).date() == local_day for t, r in mine)
    if not book.machine_redial_same_day and machine_today and not case.reserved_agent:
        broken.add("machine_same_day")
    if any(now < t + MIN_GAP_ON_NUMBER for t, _ in mine):
        broken.add("min_gap")
    return broken


def oracle_holds(case: Case) -> set[str]:
    holds = set()
    if case.status != "active":
        holds.add("account_closed")
    if case.suppressed_days is not None and case.suppressed_days >= 0:  # until today or later
        holds.add("suppressed")
    if case.referral == "open":
        holds.add("referred")
    return holds


_sids = count(1)


def _write(session, case: Case):
    """The case's rows, flushed (never committed): the account, its campaigns and history."""
    today = case.now.astimezone(ZoneInfo(case.default_tz)).date()
    account = factories.account(
        session,
        phones=tuple((number, relation) for number, relation, _ in case.phones),
        timezone=case.override,
        status=case.status,
        suppressed_until=(
            None if case.suppressed_days is None else today + timedelta(case.suppressed_days)
        ),
    )
    phones = sorted(account.phones, key=lambda p: p.priority)
    for phone, (_, _, dialable) in zip(phones, case.phones, strict=True):
        phone.dialable = dialable
    n = case.narrowing
    checked = service.create_campaign(
        session,
        "checked",
        compliance_profile=case.profile,
        window_start=n.window[0] if n.window else None,
        window_end=n.window[1] if n.window else None,
        max_attempts_per_day=n.per_day,
        skip_public_holidays=n.skip_holidays,
        **factories.CALLER,
    )
    other = service.create_campaign(session, "other campaign")
    entries = {}
    for campaign in (checked, other):
        entries[campaign.id] = CampaignEntry(
            campaign_id=campaign.id, account_id=account.id, score=1
        )
        session.add(entries[campaign.id])
    noise = factories.account(session, phones=(("+842838221234", "mobile"),))
    noise_entry = CampaignEntry(campaign_id=checked.id, account_id=noise.id, score=1)
    session.add(noise_entry)
    session.flush()

    def attempt(entry, phone_id, minutes, placed, result):
        created = case.now - timedelta(minutes=minutes)
        row = CallAttempt(
            campaign_id=entry.campaign_id,
            entry_id=entry.id,
            account_id=entry.account_id,
            phone_id=phone_id,
            call_sid=f"CA{next(_sids):032d}" if placed else None,
            status="completed" if placed else "queued",
            result=result,
            created_at=created,
            ended_at=created + timedelta(seconds=20),
        )
        session.add(row)
        return row

    rows = [
        attempt(entries[(checked if in_checked else other).id], phones[i].id, m, sent, result)
        for i, m, sent, result, in_checked in case.attempts
    ]
    noise_rows = [
        attempt(noise_entry, noise.phones[0].id, minutes, True, "abandoned")
        for minutes in case.noise_minutes
    ]
    session.flush()
    for a, code, after in case.dispositions:
        created = rows[a].created_at + timedelta(minutes=after)
        session.add(
            Disposition(
                attempt_id=rows[a].id,
                account_id=account.id,
                code=code,
                set_by="agent",
                created_at=min(created, case.now),
            )
        )
    for row in noise_rows[:1]:  # someone on the other account talked lately
        session.add(
            Disposition(
                attempt_id=row.id,
                account_id=noise.id,
                code="PTP",
                set_by="agent",
                created_at=row.created_at,
            )
        )
    for i in case.dnc:
        session.add(DncNumber(number=phones[i].number, reason="opt-out"))
    if case.referral is not None:
        session.add(Referral(account_id=account.id, kind="dispute", state=case.referral))
    session.flush()
    return account, phones, checked, entries[checked.id]


def oracle_facts(case: Case, index: int) -> dict[str, object]:
    """What the rows say about a dial of phone `index` at case.now, counted plainly."""
    number, relation, _ = case.phones[index]
    zone = ZoneInfo(case.override or _zone_of(number))
    local_day = case.now.astimezone(zone).date()
    today = [
        (i, result)
        for i, minutes, placed, result, _ in case.attempts
        if placed and (case.now - timedelta(minutes=minutes)).astimezone(zone).date() == local_day
    ]
    return {
        "timezone": str(zone),
        "phone_relation": relation,
        "attempts_today": len(today),
        "attempts_on_phone_today": sum(1 for i, _ in today if i == index),
        "machine_today": any(i == index and r == "machine" for i, r in today),
        "on_dnc": index in case.dnc,
    }


def _facts_seen(facts) -> dict[str, object]:
    return {
        "timezone": facts.timezone,
        "phone_relation": facts.phone_relation,
        "attempts_today": facts.attempts_today,
        "attempts_on_phone_today": facts.attempts_on_phone_today,
        "machine_today": facts.machine_today,
        "on_dnc": facts.on_dnc,
    }


def _verdict_is_the_oracles(session, case, campaign, account, phone, index, at):
    """compliance_verdict at `at` (the case's rows unchanged), checked against the oracle:
    allowed exactly when no rule is broken, else blocked by the first rule broken."""
    verdict = compliance_verdict(
        session,
        campaign,
        account,
        phone,
        at,
        case.default_tz,
        ring_timeout=case.ring_timeout,
        reserved_agent=case.reserved_agent,
    )
    broken = oracle_broken(case, index, at)
    assert verdict.allowed == (not broken), (index, at, verdict, broken)
    if not verdict.allowed:
        assert verdict.rule in broken, (index, at, verdict, broken)
        first = next(rule for rule in RULE_ORDER if rule in broken)
        assert verdict.rule == first, (index, at, verdict, broken)
    return verdict


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_random_portfolios_and_clocks_through_the_sql_path(session, codes, case):
    try:
        account, phones, campaign, entry = _write(session, case)
        profile = service.effective_profile(campaign)
        for index, phone in enumerate(phones):
            # The facts as read from SQL, against the rows' own counts...
            facts = dial_facts(
                session, profile, account, phone, case.now, case.default_tz, ring_timeout=25
            )
            assert _facts_seen(facts) == oracle_facts(case, index), index
            # ... and the verdict now, then again at the retry time it gives.
            verdict = _verdict_is_the_oracles(
                session, case, campaign, account, phone, index, case.now
            )
            if verdict.retry_at is not None:  # None: never in this campaign (dnc, ...)
                assert verdict.retry_at > case.now, verdict
                later = _verdict_is_the_oracles(
                    session, case, campaign, account, phone, index, verdict.retry_at
                )
                assert later.rule != verdict.rule, (index, verdict, later)

        today = case.now.astimezone(ZoneInfo(case.default_tz)).date()
        holds = oracle_holds(case)
        hold = account_hold(session, account, today)
        assert (hold is None) == (not holds), (hold, holds)
        assert hold is None or hold.rule == next(h for h in HOLD_ORDER if h in holds)

        # The number chosen: dialable, not on the DNC list, not a reference (every profile
        # calls obligors only); fewest attempts in this entry, then relation priority.
        tried: dict[int, int] = {}
        for i, _, _, _, in_checked in case.attempts:
            if in_checked:
                tried[phones[i].id] = tried.get(phones[i].id, 0) + 1
        allowed = [p for p in phones if p.dialable and p.relation != "reference"]
        callable_ = [p for p in allowed if p.number not in {phones[i].number for i in case.dnc}]
        chosen = choose_phone(session, entry, account, service.effective_profile(campaign))
        if callable_:
            best = min(callable_, key=lambda p: (tried.get(p.id, 0), p.priority, p.id))
            assert isinstance(chosen, Phone) and chosen.id == best.id, chosen
        elif allowed:  # every number left is on the DNC list
            assert isinstance(chosen, Verdict) and chosen.rule == "dnc", chosen
        elif any(p.dialable for p in phones):  # only references left
            assert isinstance(chosen, Verdict) and chosen.rule == "obligors_only", chosen
        else:
            assert chosen is NO_DIALABLE_PHONE
    finally:
        session.rollback()
