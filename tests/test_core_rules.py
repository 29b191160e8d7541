"""Pure core: ranking, pacing, compliance and action-code effects, without servers."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.campaigns.pacing import PacingSnapshot, calls_to_start, progressive
from dialer.campaigns.ranking import RankInput, bucket_of, rank, score
from dialer.outcomes.catalogue import CodeSpec, default_codes
from dialer.outcomes.effects import AccountFacts, DispositionInput, plan, validate

VN = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 10:00 in Ho Chi Minh City
TODAY = date(2026, 11, 23)
CODES = {
    c["code"]: CodeSpec(**{**c, "setters": tuple(c["setters"]), "requires": tuple(c["requires"])})
    for c in default_codes()
}
FACTS = AccountFacts(
    overdue_amount=5_000_000, principal_outstanding=40_000_000, now=NOW, today=TODAY
)


# --- ranking -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (0, "B0"),
        (1, "B1"),
        (30, "B1"),
        (31, "B2"),
        (90, "B3"),
        (91, "B4"),
        (360, "B7"),
        (361, "B8"),
    ],
)
def test_buckets(dpd, bucket):
    assert bucket_of(dpd) == bucket


def test_callback_due_outranks_everything():
    big = RankInput(1, dpd=400, overdue_amount=10**10, days_since_contact=None)
    callback = RankInput(2, dpd=5, overdue_amount=100_000, callback_due=True)
    assert [x.account_id for x, *_ in rank([big, callback])] == [2, 1]


def test_broken_promise_then_bucket_then_amount():
    broken = RankInput(1, dpd=10, overdue_amount=1_000_000, broken_promise=True)
    b3 = RankInput(2, dpd=70, overdue_amount=1_000_000)
    b3_bigger = RankInput(3, dpd=70, overdue_amount=50_000_000)
    assert [x.account_id for x, *_ in rank([b3, b3_bigger, broken])] == [1, 3, 2]


def test_score_components_add_up_and_explain():
    total, parts = score(
        RankInput(
            1,
            dpd=45,
            overdue_amount=9_000_000,
            days_since_contact=6,
            right_party_contacts=2,
            attempts_today=1,
        )
    )
    assert parts["bucket"] == 20 and parts["rpc"] == 5 and parts["attempts"] == -5
    assert parts["recency"] == 2 and parts["amount"] == pytest.approx(10.0)
    assert total == pytest.approx(sum(parts.values()))


@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 10**10)), max_size=50))
def test_rank_is_sorted_by_score(rows):
    ranked = rank([RankInput(i, dpd, amount) for i, (dpd, amount) in enumerate(rows)])
    scores = [s for _, s, _ in ranked]
    assert scores == sorted(scores, reverse=True)


# --- pacing --------------------------------------------------------------------------------


def test_progressive_one_call_per_ready_agent():
    assert progressive(PacingSnapshot(agents_ready=5, calls_dialing=2, queued_entries=100)) == 3
    assert progressive(PacingSnapshot(agents_ready=2, calls_dialing=3, queued_entries=100)) == 0
    assert progressive(PacingSnapshot(agents_ready=5, calls_dialing=0, queued_entries=2)) == 2


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="no pacing policy"):
        calls_to_start("turbo", PacingSnapshot(agents_ready=1))


# --- action-code effects -------------------------------------------------------------------


def _given(code, **kw):
    return DispositionInput(code=code, setter=kw.pop("setter", "agent"), **kw)


def test_ptp_requires_amount_and_date():
    problems = validate(CODES["PTP"], _given("PTP"), FACTS)
    assert "PTP requires promise amount" in problems and "PTP requires promise date" in problems


@pytest.mark.parametrize(
    ("amount", "when", "message"),
    [
        (0, TODAY, "above 0"),
        (50_000_000, TODAY, "over the outstanding balance"),
        (1_000_000, TODAY - timedelta(days=1), "in the past"),
        (1_000_000, TODAY + timedelta(days=45), "more than 30 days"),
    ],
)
def test_ptp_bad_values(amount, when, message):
    problems = validate(
        CODES["PTP"], _given("PTP", promise_amount=amount, promise_date=when), FACTS
    )
    assert any(message in p for p in problems)


def test_ptp_effects_suppress_until_date_plus_grace():
    given_ = _given("PTP", promise_amount=2_000_000, promise_date=TODAY + timedelta(days=3))
    assert validate(CODES["PTP"], given_, FACTS) == []
    fx = plan(CODES["PTP"], given_, FACTS)
    assert fx.create_promise and fx.close_entry
    assert fx.suppress_until == TODAY + timedelta(days=5)


def test_setter_rules_and_unknown_code():
    assert "cannot be set by agent" in validate(CODES["NKP"], _given("NKP"), FACTS)[0]
    assert validate(None, _given("XYZ"), FACTS) == ["unknown action code 'XYZ'"]
    assert (
        "is not a promise" in validate(CODES["RTP"], _given("RTP", promise_amount=1000), FACTS)[0]
    )


def test_callback_time_must_be_future():
    past = _given("CAB", callback_at=NOW - timedelta(minutes=1))
    assert "callback time is in the past" in validate(CODES["CAB"], past, FACTS)
    ok = _given("CAB", callback_at=NOW + timedelta(hours=2))
    fx = plan(CODES["CAB"], ok, FACTS)
    assert fx.retry_at == NOW + timedelta(hours=2) and fx.callback_same_agent
    assert not fx.close_entry


def test_wrong_number_retires_and_adds_to_dnc():
    fx = plan(CODES["NCP"], _given("NCP"), FACTS)
    assert fx.retire_phone and fx.dnc and fx.next_phone


def test_referrals_and_fraud_alert():
    assert plan(CODES["DIF"], _given("DIF", note="x"), FACTS).refer == "restructuring"
    fraud = plan(CODES["GSF"], _given("GSF", note="x"), FACTS)
    assert fraud.refer == "legal" and fraud.alert_team_lead
    assert plan(CODES["CFF"], _given("CFF"), FACTS).refer == "field"


def test_third_refusal_escalates_to_legal():
    assert plan(CODES["RTP"], _given("RTP"), FACTS).refer is None
    third = AccountFacts(5_000_000, 40_000_000, NOW, TODAY, refusals_before=2)
    assert plan(CODES["RTP"], _given("RTP"), third).refer == "legal"


def test_no_answer_retries_later():
    fx = plan(CODES["NKP"], _given("NKP", setter="system"), FACTS)
    assert fx.retry_at == NOW + timedelta(minutes=60) and not fx.close_entry
