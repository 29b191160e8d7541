"""The campaign builder against the real SQL database and Redis: filters, the score in SQL
against ranking.score (the reference), exclusions by rule, loading the dial queue, saved
account lists."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from dialer.campaigns import builder, queue
from dialer.campaigns.errors import CampaignError
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry, DncNumber
from dialer.campaigns.ranking import (
    RankingWeights,
    RankInput,
    rank,
    score,
    weights_from,
)
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import Callback, Disposition, Promise, Referral
from dialer.portfolio.models import AccountList, AccountListMember
from dialer.portfolio.service import AccountListError, read_account_numbers, save_account_list
from dialer.redis import Keys
from tests import factories

VN = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hà Nội
TODAY = date(2026, 11, 23)
DAY_START = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # local midnight
_sids = count(1)


@pytest.fixture
def codes(session):
    seed_default_codes(session)
    session.commit()


@pytest.fixture
def history(session, codes):
    """A finished campaign that past calls (contacts, attempts) belong to."""
    campaign = Campaign(name="history", state="completed", filters={})
    session.add(campaign)
    session.flush()
    return campaign


def _call(session, history, account, at, code=None, placed=True):
    """A past call on the account at `at`, with its disposition when `code` is given."""
    entry = session.scalar(
        select(CampaignEntry).where(
            CampaignEntry.campaign_id == history.id, CampaignEntry.account_id == account.id
        )
    )
    if entry is None:
        entry = CampaignEntry(campaign_id=history.id, account_id=account.id, score=0, state="done")
        session.add(entry)
        session.flush()
    attempt = CallAttempt(
        campaign_id=history.id,
        entry_id=entry.id,
        account_id=account.id,
        phone_id=account.phones[0].id,
        call_sid=f"CA{next(_sids):032d}" if placed else None,
        status="completed",
        created_at=at,
    )
    session.add(attempt)
    session.flush()
    if code is None:
        return None
    disposition = Disposition(
        attempt_id=attempt.id, account_id=account.id, code=code, set_by="agent", created_at=at
    )
    session.add(disposition)
    session.flush()
    return disposition


def _campaign(session, filters=None, ranking=None, **fields) -> Campaign:
    campaign = Campaign(
        name="test",
        filters=builder.validate_filters(filters or {}, session=session),
        ranking=ranking or {},
        **fields,
    )
    session.add(campaign)
    session.flush()
    return campaign


def _build(session, campaign) -> dict[int, CampaignEntry]:
    """Build the campaign; its entries by account id."""
    builder.build_entries(session, campaign, NOW, VN)
    session.commit()
    entries = session.scalars(select(CampaignEntry).where(CampaignEntry.campaign_id == campaign.id))
    return {e.account_id: e for e in entries}


def _phone(n: int) -> tuple[tuple[str, str], ...]:
    return ((f"+8490{n:07d}", "mobile"),)


# --- the score: SQL against the Python reference ----------------------------------------


# Contact codes of the default catalogue: code -> right party contact.
CONTACTS = {"PTP": True, "CAB": True, "HUP": False}


def _varied_portfolio(session, history) -> dict[int, RankInput]:
    """Accounts that exercise every component and its edges; the facts ranking.score needs,
    worked out here from the calls made, independently of the builder."""
    dpds = [0, 1, 30, 31, 60, 61, 90, 91, 120, 150, 151, 180, 181, 360, 361, 2000]
    amounts = [1, 999_999, 1_000_000, 2_500_000, 9_000_000, 12_345_678, 10**9, 10**12]
    contact_ages = [
        None,
        timedelta(0),
        timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999),
        timedelta(days=1),  # exactly one day: counts 1 (timedelta.days), not 0
        timedelta(days=2, microseconds=1),
        timedelta(days=6),
        timedelta(days=29, hours=23),
        timedelta(days=30),
        timedelta(days=45),
    ]
    facts: dict[int, RankInput] = {}
    for i in range(48):
        acc = factories.account(
            session,
            dpd=dpds[i % len(dpds)],
            overdue=amounts[i % len(amounts)] + i,
            phones=_phone(i),
        )
        calls: list[tuple[datetime, str | None, bool]] = []  # (at, code, placed)

        def call(at, code=None, placed=True, acc=acc, calls=calls):
            calls.append((at, code, placed))
            return _call(session, history, acc, at, code, placed)

        age = contact_ages[i % len(contact_ages)]
        if age is not None:
            call(NOW - age, "PTP" if i % 2 else "HUP")
        if i % 5 == 0:
            call(NOW - timedelta(days=3), "NKP")  # a call, not a contact
        for k in range(i % 4):
            call(DAY_START + timedelta(minutes=k + 1))  # placed today
        call(DAY_START + timedelta(minutes=30), placed=False)  # stopped before the carrier
        if i % 4 == 0:
            call(DAY_START - timedelta(microseconds=1))  # yesterday
        callback_due = False
        if i % 6 == 0:
            d = call(NOW - timedelta(days=2), "CAB")
            due = NOW - timedelta(minutes=5) if i % 12 == 0 else NOW + timedelta(hours=2)
            state = "done" if i % 18 == 0 else "scheduled"
            session.add(Callback(account_id=acc.id, disposition_id=d.id, due_at=due, state=state))
            callback_due = i % 12 == 0 and state == "scheduled"
        broken = False
        if i % 7 == 0:
            d = call(NOW - timedelta(days=10), "PTP")
            due_date = TODAY - timedelta(days=1 if i % 14 == 0 else 8)
            session.add(
                Promise(
                    account_id=acc.id,
                    disposition_id=d.id,
                    amount=1_000_000,
                    due_date=due_date,
                    state="broken",
                )
            )
            broken = i % 14 == 0
        contacts = [(at, code) for at, code, _ in calls if code in CONTACTS]
        last = max((at for at, _ in contacts), default=None)
        facts[acc.id] = RankInput(
            account_id=acc.id,
            dpd=acc.dpd,
            overdue_amount=acc.overdue_amount,
            days_since_contact=None if last is None else (NOW - last).days,
            callback_due=callback_due,
            broken_promise=broken,
            right_party_contacts=sum(CONTACTS[code] for _, code in contacts),
            attempts_today=sum(placed and at >= DAY_START for at, _, placed in calls),
        )
    session.commit()
    return facts


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        # Divisors and weights whose products land on exact halves of a thousandth: the
        # engines must round them as ranking.round3 does.
        {"recency_divisor": 16, "bucket": 0.0625, "amount": 7.3, "attempts": -0.0125},
        {"callback": 0, "broken": 2000, "rpc_history": -3.5, "recency_cap_days": 3},
    ],
)
def test_sql_scores_equal_the_python_reference(session, history, overrides):
    facts = _varied_portfolio(session, history)
    campaign = _campaign(session, ranking=overrides)
    entries = _build(session, campaign)
    weights = weights_from(overrides)
    assert set(entries) == set(facts)
    for account_id, x in facts.items():
        expected_score, expected_parts = score(x, weights)
        entry = entries[account_id]
        assert (entry.score, entry.score_components) == (expected_score, expected_parts), x
    # The build's rank is ranking.rank's order.
    by_rank = sorted(entries.values(), key=lambda e: e.rank)
    assert [e.account_id for e in by_rank] == [
        x.account_id for x, *_ in rank(list(facts.values()), weights)
    ]
    assert [e.rank for e in by_rank] == list(range(1, len(facts) + 1))


def test_components_are_explained_on_the_entry(session, history):
    acc = factories.account(session, dpd=45, overdue=9_000_000)
    _call(session, history, acc, NOW - timedelta(days=6), "PTP")
    _call(session, history, acc, DAY_START + timedelta(hours=1))
    session.commit()
    entry = _build(session, _campaign(session))[acc.id]
    assert entry.score_components == {
        "bucket": 20.0,
        "amount": 10.0,
        "recency": 2.0,
        "rpc": 5.0,
        "attempts": -5.0,
    }
    assert entry.score == 32.0
    assert entry.score_recency == 2.0 and entry.score_callback == 0.0


def test_equal_scores_leave_the_queue_by_dpd_then_account(session, redis_client):
    # Same bucket and amount, never contacted: equal scores.
    a = factories.account(session, dpd=40, overdue=5_000_000, phones=_phone(1))
    b = factories.account(session, dpd=50, overdue=5_000_000, phones=_phone(2))
    c = factories.account(session, dpd=40, overdue=5_000_000, phones=_phone(3))
    top = factories.account(session, dpd=45, overdue=5_100_000, phones=_phone(4))
    session.commit()
    campaign = _campaign(session)
    entries = _build(session, campaign)
    assert entries[a.id].score == entries[b.id].score == entries[c.id].score
    assert builder.load_queue(session, redis_client, campaign.id, NOW) == 4
    popped = queue.pop_for_dialing(redis_client, campaign.id, 4, now=0)
    by_entry = {e.id: account for account, e in entries.items()}
    assert [by_entry[i] for i in popped] == [top.id, b.id, a.id, c.id]


# --- weights ------------------------------------------------------------------------------


def test_weights_from_overrides():
    assert weights_from({}) == RankingWeights()
    w = weights_from({"bucket": 15, "rpc": 2.5, "recency_cap_days": 10.0, "callback": 0})
    assert (w.per_bucket, w.rpc_history, w.recency_cap_days, w.callback) == (15.0, 2.5, 10, 0.0)
    assert isinstance(w.recency_cap_days, int)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": 1}, "unknown ranking weight 'colour'"),
        ({"bucket": "15"}, "must be a number"),
        ({"bucket": True}, "must be a number"),
        ({"amount": float("nan")}, "must be a number"),
        ({"bucket": 1, "per_bucket": 2}, "given twice"),
        ({"recency_divisor": 0}, "above 0"),
        ({"recency_cap_days": 2.5}, "whole number of days"),
        ({"broken_promise_days": 0}, "whole number of days"),
        ({"callback": 1e9}, "between"),
    ],
)
def test_bad_weights_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        weights_from(overrides)


def test_bad_weights_stop_the_build_and_change_nothing(session):
    factories.account(session)
    campaign = Campaign(name="x", filters={}, ranking={"bucket": "lots"})
    session.add(campaign)
    session.commit()
    with pytest.raises(CampaignError, match="must be a number"):
        builder.build_entries(session, campaign, NOW, VN)
    session.rollback()
    assert session.scalars(select(CampaignEntry)).all() == []


# --- filters ------------------------------------------------------------------------------


@pytest.fixture
def spread(session, history):
    """One account per situation the filters tell apart, by name."""
    accounts = {
        "b1_card_hn": factories.account(
            session, dpd=10, overdue=2_000_000, product="card", branch="HN", phones=_phone(1)
        ),
        "b2_loan_hcm": factories.account(
            session, dpd=45, overdue=20_000_000, product="loan", branch="HCM", phones=_phone(2)
        ),
        "b4_loan_hn": factories.account(
            session, dpd=100, overdue=60_000_000, product="loan", branch="HN", phones=_phone(3)
        ),
        "b8_auto_dn": factories.account(
            session, dpd=400, overdue=500_000, product="auto", branch="DN", phones=_phone(4)
        ),
    }
    broken = _call(session, history, accounts["b2_loan_hcm"], NOW - timedelta(days=5), "PTP")
    session.add(
        Promise(
            account_id=accounts["b2_loan_hcm"].id,
            disposition_id=broken.id,
            amount=1,
            due_date=TODAY - timedelta(days=1),
            state="broken",
        )
    )
    cb = _call(session, history, accounts["b8_auto_dn"], NOW - timedelta(days=1), "CAB")
    session.add(Callback(account_id=accounts["b8_auto_dn"].id, disposition_id=cb.id, due_at=NOW))
    later = _call(session, history, accounts["b1_card_hn"], NOW - timedelta(days=1), "CAB")
    session.add(
        Callback(
            account_id=accounts["b1_card_hn"].id,
            disposition_id=later.id,
            due_at=NOW + timedelta(minutes=1),
        )
    )
    save_account_list(
        session,
        "hn-priority",
        [accounts["b1_card_hn"].account_no, accounts["b8_auto_dn"].account_no],
    )
    session.commit()
    return accounts


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"b1_card_hn", "b2_loan_hcm", "b4_loan_hn", "b8_auto_dn"}),
        ({"dpd_min": 45}, {"b2_loan_hcm", "b4_loan_hn", "b8_auto_dn"}),
        ({"dpd_max": 45}, {"b1_card_hn", "b2_loan_hcm"}),
        ({"buckets": ["B2", "B8"]}, {"b2_loan_hcm", "b8_auto_dn"}),
        ({"buckets": ["b1", "B2"], "dpd_min": 20}, {"b2_loan_hcm"}),
        ({"products": ["loan"]}, {"b2_loan_hcm", "b4_loan_hn"}),
        ({"branches": ["HN", "DN"]}, {"b1_card_hn", "b4_loan_hn", "b8_auto_dn"}),
        ({"min_overdue_amount": 20_000_000}, {"b2_loan_hcm", "b4_loan_hn"}),
        ({"broken_promise": True}, {"b2_loan_hcm"}),
        ({"callbacks_due": True}, {"b8_auto_dn"}),
        ({"account_list": "hn-priority"}, {"b1_card_hn", "b8_auto_dn"}),
        ({"account_list": "hn-priority", "products": ["card"]}, {"b1_card_hn"}),
        (
            {"broken_promise": False, "callbacks_due": False},
            {"b1_card_hn", "b2_loan_hcm", "b4_loan_hn", "b8_auto_dn"},
        ),
    ],
)
def test_each_filter_selects_its_accounts(session, spread, filters, expected):
    entries = _build(session, _campaign(session, filters))
    names = {name for name, acc in spread.items() if acc.id in entries}
    assert names == expected


def test_a_broken_promise_counts_for_a_week(session, history):
    recent, old, kept = (factories.account(session, phones=_phone(i)) for i in range(3))
    for acc, days, state in ((recent, 7, "broken"), (old, 8, "broken"), (kept, 1, "kept")):
        d = _call(session, history, acc, NOW - timedelta(days=days + 3), "PTP")
        session.add(
            Promise(
                account_id=acc.id,
                disposition_id=d.id,
                amount=1,
                due_date=TODAY - timedelta(days=days),
                state=state,
            )
        )
    session.commit()
    entries = _build(session, _campaign(session, {"broken_promise": True}))
    assert set(entries) == {recent.id}
    assert entries[recent.id].score_broken == 500.0
    wider = _build(session, _campaign(session, ranking={"broken_promise_days": 8}))
    assert wider[old.id].score_broken == 500.0 and wider[kept.id].score_broken == 0.0


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"colour": "red"}, "unknown filter"),
        ({"dpd_min": 90, "dpd_max": 30}, "dpd_min is above dpd_max"),
        ({"dpd_min": -1}, "whole number >= 0"),
        ({"min_overdue_amount": 1.5}, "whole number >= 0"),
        ({"products": "card"}, "list of names"),
        ({"buckets": ["B9"]}, "unknown bucket"),
        ({"buckets": "B1"}, "list of names"),
        ({"buckets": ["B1"], "dpd_min": 31}, "hold no DPD"),
        ({"broken_promise": "yes"}, "true or false"),
        ({"callbacks_due": 1}, "true or false"),
        ({"account_list": ""}, "name of a saved account list"),
        ({"account_list": ["a"]}, "name of a saved account list"),
    ],
)
def test_bad_filters_are_refused(filters, message):
    with pytest.raises(CampaignError, match=message):
        builder.validate_filters(filters)


def test_filters_are_cleaned():
    assert builder.validate_filters(
        {"buckets": ["b3", "B1", "B1"], "broken_promise": False, "account_list": " x "}
    ) == {"buckets": ["B1", "B3"], "account_list": "x"}


def test_an_unknown_account_list_is_refused_with_a_session(session):
    builder.validate_filters({"account_list": "nope"})  # without a session: shape only
    with pytest.raises(CampaignError, match="no saved account list 'nope'"):
        builder.validate_filters({"account_list": "nope"}, session=session)


# --- exclusions ---------------------------------------------------------------------------


def test_exclusions_are_counted_by_rule(session, history):
    eligible = {factories.account(session, dpd=30, phones=_phone(1)).id}
    factories.account(session, status="closed", phones=_phone(2))
    factories.account(session, overdue=0, phones=_phone(3))
    factories.account(session, suppressed_until=TODAY, phones=_phone(4))
    eligible.add(factories.account(session, suppressed_until=TODAY - timedelta(days=1)).id)
    referred = factories.account(session, phones=_phone(6))
    session.add(Referral(account_id=referred.id, kind="legal", state="open"))
    closed_referral = factories.account(session, phones=_phone(7))
    session.add(Referral(account_id=closed_referral.id, kind="field", state="closed"))
    eligible.add(closed_referral.id)
    factories.account(session, phones=())
    unusable = factories.account(session, phones=_phone(8))
    unusable.phones[0].dialable = False
    factories.account(session, phones=(("+84912000111", "mobile"),))
    session.add(DncNumber(number="+84912000111", reason="opt-out"))
    eligible.add(factories.account(session, phones=(("+84912000111", "home"), *_phone(9))).id)
    factories.account(session, phones=(("+84912000222", "reference"),))
    at_limit = factories.account(session, phones=_phone(10))
    for k in range(5):
        _call(session, history, at_limit, DAY_START + timedelta(minutes=k))
    below_limit = factories.account(session, phones=_phone(11))
    for k in range(4):
        _call(session, history, below_limit, DAY_START + timedelta(minutes=k))
    _call(session, history, below_limit, DAY_START + timedelta(hours=1), placed=False)
    eligible.add(below_limit.id)
    factories.account(session, dpd=400, status="closed", phones=_phone(12))  # not in the filter
    session.commit()
    campaign = _campaign(session, {"dpd_max": 360})
    entries = _build(session, campaign)
    assert set(entries) == eligible
    assert campaign.build_summary == {
        "selected": 5,
        "excluded": {
            "account_closed": 1,
            "nothing_overdue": 1,
            "suppressed": 1,
            "referred": 1,
            "no_callable_phone": 4,
            "daily_attempt_limit": 1,
        },
    }


def test_a_profile_that_allows_references_keeps_reference_only_accounts(session, monkeypatch):
    from dialer.campaigns import compliance

    acc = factories.account(session, phones=(("+84912000222", "reference"),))
    session.commit()
    profile = replace(compliance.get_profile("vn-finance"), name="open", obligors_only=False)
    monkeypatch.setitem(compliance.PROFILES, "open", profile)
    entries = _build(session, _campaign(session, compliance_profile="open"))
    assert set(entries) == {acc.id}


# --- the dial queue -----------------------------------------------------------------------


def _redis_state(r, campaign_id):
    return (
        r.zrange(Keys.dial_queue(campaign_id), 0, -1, withscores=True),
        r.zrange(Keys.retry(campaign_id), 0, -1, withscores=True),
        r.hgetall(Keys.retry_scores(campaign_id)),
    )


def test_load_queue_puts_due_entries_in_the_queue_and_later_ones_in_retry(session, redis_client):
    accounts = [factories.account(session, dpd=10 * (i + 1), phones=_phone(i)) for i in range(6)]
    session.commit()
    campaign = _campaign(session)
    entries = _build(session, campaign)
    e = [entries[a.id] for a in accounts]
    later = NOW + timedelta(minutes=30)
    session.execute(
        update(CampaignEntry).where(CampaignEntry.id == e[0].id).values(not_before=later)
    )
    session.execute(
        update(CampaignEntry)
        .where(CampaignEntry.id == e[1].id)
        .values(not_before=NOW - timedelta(minutes=1))
    )
    session.execute(update(CampaignEntry).where(CampaignEntry.id == e[2].id).values(not_before=NOW))
    session.execute(
        update(CampaignEntry).where(CampaignEntry.id == e[3].id).values(state="dialing")
    )
    session.execute(update(CampaignEntry).where(CampaignEntry.id == e[4].id).values(state="done"))
    session.commit()
    assert builder.load_queue(session, redis_client, campaign.id, NOW) == 4
    in_queue = {
        int(m): s
        for m, s in redis_client.zrange(Keys.dial_queue(campaign.id), 0, -1, withscores=True)
    }
    assert set(in_queue) == {e[1].id, e[2].id, e[5].id}
    for entry in (e[1], e[2], e[5]):
        # The rank's tie-break is below the score's last decimal.
        assert entry.score < in_queue[entry.id] < entry.score + builder.TIE_SPAN
    assert redis_client.zrange(Keys.retry(campaign.id), 0, -1, withscores=True) == [
        (str(e[0].id).encode(), later.timestamp())
    ]
    kept_score = float(redis_client.hget(Keys.retry_scores(campaign.id), e[0].id))
    assert kept_score == builder.queue_score(e[0].score, e[0].rank, 6)
    # Once due, the retry comes back with its rank.
    assert queue.promote_due(redis_client, campaign.id, later.timestamp()) == 1
    assert redis_client.zscore(Keys.dial_queue(campaign.id), e[0].id) == kept_score


def test_load_queue_rebuilds_the_same_state_from_sql(session, redis_client):
    accounts = [
        factories.account(session, dpd=30, overdue=5_000_000, phones=_phone(i)) for i in range(25)
    ]
    session.commit()
    campaign = _campaign(session)
    entries = _build(session, campaign)
    session.execute(
        update(CampaignEntry)
        .where(CampaignEntry.id == entries[accounts[0].id].id)
        .values(not_before=NOW + timedelta(hours=1))
    )
    session.commit()
    builder.LOAD_CHUNK, chunk = 7, builder.LOAD_CHUNK  # several chunks
    try:
        assert builder.load_queue(session, redis_client, campaign.id, NOW) == 25
        first = _redis_state(redis_client, campaign.id)
        queue.clear(redis_client, campaign.id)
        assert builder.load_queue(session, redis_client, campaign.id, NOW) == 25
        assert _redis_state(redis_client, campaign.id) == first
        builder.load_queue(session, redis_client, campaign.id, NOW)  # loading again adds nothing
        assert _redis_state(redis_client, campaign.id) == first
    finally:
        builder.LOAD_CHUNK = chunk
    assert len(first[0]) == 24 and len(first[1]) == 1
    assert len({s for _, s in first[0]}) == 24  # equal scores, distinct queue scores


def test_load_queue_of_an_empty_campaign(session, redis_client):
    campaign = _campaign(session)
    session.commit()
    assert builder.load_queue(session, redis_client, campaign.id, NOW) == 0
    assert queue.sizes(redis_client, campaign.id)["queued"] == 0


# --- saved account lists ------------------------------------------------------------------


def test_save_an_account_list(session):
    a, b = factories.account(session), factories.account(session)
    session.commit()
    saved = save_account_list(session, " vip ", [a.account_no, b.account_no, a.account_no])
    session.commit()
    assert saved.to_dict() == {"name": "vip", "accounts": 2, "unknown": []}
    members = session.scalars(select(AccountListMember.account_id)).all()
    assert sorted(members) == sorted([a.id, b.id])
    with pytest.raises(AccountListError, match="exists already"):
        save_account_list(session, "vip", [a.account_no])
    session.rollback()
    again = save_account_list(session, "vip", [b.account_no], replace=True)
    session.commit()
    assert again.accounts == 1
    assert session.scalars(select(AccountListMember.account_id)).all() == [b.id]


def test_unknown_account_numbers_save_nothing(session):
    a = factories.account(session)
    session.commit()
    saved = save_account_list(session, "typo", [a.account_no, "NOPE-1", "NOPE-2"])
    assert saved.unknown == ["NOPE-1", "NOPE-2"] and saved.accounts == 0
    session.commit()
    assert session.scalars(select(AccountList)).all() == []
    with pytest.raises(AccountListError, match="no accounts"):
        save_account_list(session, "empty", [" ", ""])
    with pytest.raises(AccountListError, match="needs a name"):
        save_account_list(session, "  ", [a.account_no])


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("A1\nA2\n\nA3\n", ["A1", "A2", "A3"]),
        ("account_no,name\nA1,Lan\nA2,Minh\n", ["A1", "A2"]),
        ("name;account_no\nLan;A1\n", ["A1"]),
        ("\ufeffA1\r\nA2\r\n", ["A1", "A2"]),
    ],
)
def test_account_numbers_are_read_from_text_or_csv(text, numbers):
    assert read_account_numbers(text.encode()) == numbers


@pytest.fixture
def cli(settings, db, monkeypatch):
    from dialer.cli import main
    from dialer.runtime import reset_runtime

    monkeypatch.setenv("DIALER_HOME", str(settings.home))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    reset_runtime()
    runner = CliRunner()
    yield lambda *args: runner.invoke(main, list(args))
    reset_runtime()


def test_list_save_from_the_cli(cli, session, tmp_path):
    a, b = factories.account(session), factories.account(session)
    session.commit()
    good = tmp_path / "list.csv"
    good.write_text(f"account_no\n{a.account_no}\n{b.account_no}\n")
    result = cli("accounts", "list-save", "B2-priority", str(good), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"name": "B2-priority", "accounts": 2, "unknown": []}
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{a.account_no}\nX-404\n")
    result = cli("accounts", "list-save", "other", str(bad), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"name": "other", "accounts": 0, "unknown": ["X-404"]}
    result = cli("accounts", "list-save", "other", str(bad))
    assert result.exit_code == 1 and "X-404" in result.output and "not saved" in result.output
    result = cli("accounts", "list-save", "B2-priority", str(good))
    assert result.exit_code == 1 and "exists already" in result.output
    assert (
        "saved with 2 accounts"
        in cli("accounts", "list-save", "B2-priority", str(good), "--replace").output
    )
