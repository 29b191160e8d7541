"""Promise evaluation: the rule as pure functions, then over the real database (promises
made through the PTP action code, payments through the API and the CSV import), the daily
job on RQ's own scheduler with the real Redis, the builder's rank, the payment schedule."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from dialer.app import create_app
from dialer.campaigns import service
from dialer.campaigns.attempts import claim_entry, start_attempt
from dialer.campaigns.models import CampaignEntry
from dialer.cli import main
from dialer.clock import Clock
from dialer.config import ConfigError, load_settings
from dialer.outcomes import scheduled
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.effects import DispositionInput
from dialer.outcomes.models import Promise
from dialer.outcomes.promises import (
    KeptRule,
    PromiseTerms,
    evaluate,
    evaluate_promises,
    payment_schedule,
    required_amount,
)
from dialer.outcomes.service import record_disposition
from dialer.portfolio.models import Account
from dialer.portfolio.payments import PaymentInput, record_payment
from dialer.runtime import Runtime, reset_runtime
from tests import factories

VN = "Asia/Ho_Chi_Minh"
MADE_AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội
MADE = date(2026, 11, 20)
DUE = date(2026, 11, 25)
RULE = KeptRule(kept_share=1.0, grace_days=2)  # payments count through 27 November
AUTH = {"Authorization": "Bearer test-api-token"}


# --- the rule (pure) ---------------------------------------------------------------------

TERMS = PromiseTerms(amount=3_000_000, made_on=MADE, due_date=DUE)


@pytest.mark.parametrize(
    ("on", "state"),
    [(DUE, "pending"), (date(2026, 11, 27), "pending"), (date(2026, 11, 28), "broken")],
)
def test_unpaid_promise_is_pending_through_the_grace_days_then_broken(on, state):
    assert evaluate(TERMS, [], on, RULE).state == state


def test_two_partial_payments_together_keep_it_and_one_alone_does_not():
    one = [(date(2026, 11, 21), 1_000_000)]
    both = [*one, (date(2026, 11, 27), 2_000_000)]  # the last day of grace still counts
    assert evaluate(TERMS, one, date(2026, 11, 28), RULE).state == "broken"
    kept = evaluate(TERMS, both, date(2026, 11, 28), RULE)
    assert (kept.state, kept.paid, kept.required) == ("kept", 3_000_000, 3_000_000)


def test_kept_early_and_payments_outside_the_window_do_not_count():
    assert evaluate(TERMS, [(date(2026, 11, 21), 3_000_000)], date(2026, 11, 21), RULE).state == (
        "kept"
    )
    outside = [(date(2026, 11, 19), 3_000_000), (date(2026, 11, 28), 3_000_000)]
    assert evaluate(TERMS, outside, date(2026, 11, 29), RULE).state == "broken"
    # A payment dated after the evaluation day is not known "as of" that day.
    later = [(date(2026, 11, 24), 3_000_000)]
    assert evaluate(TERMS, later, date(2026, 11, 23), RULE).state == "pending"


def test_a_share_below_one_rounds_up_to_the_dong():
    assert required_amount(1_000_001, 0.9) == 900_001
    rule = KeptRule(kept_share=0.9, grace_days=0)
    terms = PromiseTerms(1_000_000, MADE, DUE)
    assert evaluate(terms, [(DUE, 900_000)], DUE, rule).state == "kept"
    assert evaluate(terms, [(DUE, 899_999)], DUE + timedelta(1), rule).state == "broken"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIALER_PROMISE_KEPT_SHARE": "0"}, "DIALER_PROMISE_KEPT_SHARE must be above 0"),
        ({"DIALER_PROMISE_KEPT_SHARE": "1.5"}, "at most 1"),
        ({"DIALER_PROMISE_GRACE_DAYS": "-1"}, "DIALER_PROMISE_GRACE_DAYS must be"),
        ({"DIALER_PROMISE_GRACE_DAYS": "1.5"}, "whole number"),
        ({"DIALER_PROMISE_EVALUATE_AT": "6am"}, "HH:MM"),
    ],
)
def test_bad_promise_settings_are_refused(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"DIALER_HOME": "/tmp/x", **env})


def test_promise_settings_defaults():
    s = load_settings({"DIALER_HOME": "/tmp/x"})
    assert (s.promise_kept_share, s.promise_grace_days, s.promise_evaluate_at) == (
        1.0,
        2,
        "06:00",
    )


# --- over SQL ----------------------------------------------------------------------------


@pytest.fixture
def codes(session):
    seed_default_codes(session)
    session.commit()


def _promise(session, amount=3_000_000, due=DUE, made_at=MADE_AT, team="B2", **account):
    """A promise made through the real PTP path (call attempt, disposition, effects)."""
    acc = factories.account(session, **account)
    agent = factories.agent(session)
    agent.team = team
    campaign = service.create_campaign(session, f"c{acc.id}")
    service.launch(session, campaign, made_at, VN)
    entry = session.scalar(
        select(CampaignEntry).where(
            CampaignEntry.account_id == acc.id, CampaignEntry.campaign_id == campaign.id
        )
    )
    claim_entry(session, entry.id, made_at)
    attempt = start_attempt(session, entry, acc.phones[0], made_at)
    attempt.call_sid, attempt.agent_id, attempt.connected_at = f"CA{acc.id:032d}", agent.id, made_at
    attempt.result = "human"
    session.flush()
    given = DispositionInput("PTP", "agent", promise_amount=amount, promise_date=due)
    made_on = made_at.astimezone(ZoneInfo(VN)).date()
    record_disposition(session, attempt, given, agent_id=agent.id, now=made_at, today=made_on)
    session.commit()
    return session.scalar(select(Promise).where(Promise.account_id == acc.id)), acc, agent


def _pay(session, acc, amount, paid_on, reference, today=date(2026, 12, 1)):
    recorded = record_payment(
        session,
        PaymentInput(acc.account_no, amount, paid_on, reference),
        today=today,
        now=datetime(2026, 12, 1, 3, tzinfo=UTC),
    )
    session.commit()
    return recorded


def _evaluate(session, on, rule=RULE):
    result = evaluate_promises(session, on, rule=rule, tz=VN, now=datetime.now(UTC))
    session.commit()
    session.expire_all()
    return result.to_dict()


def test_grace_days_then_broken_lifts_the_suppression(session, codes):
    promise, acc, _ = _promise(session)
    assert acc.suppressed_until == DUE + timedelta(days=2)  # set by the PTP code
    assert _evaluate(session, date(2026, 11, 27)) == {"kept": 0, "broken": 0, "pending": 1}
    assert session.get_one(Promise, promise.id).state == "pending"
    assert session.get_one(Account, acc.id).suppressed_until == DUE + timedelta(days=2)
    # One grace day shorter than the code's hold: broken on the 27th, callable at once.
    assert _evaluate(session, date(2026, 11, 27), KeptRule(1.0, 1)) == {
        "kept": 0,
        "broken": 1,
        "pending": 0,
    }
    settled = session.get_one(Promise, promise.id)
    assert (settled.state, settled.settled_on, settled.paid_amount) == (
        "broken",
        date(2026, 11, 27),
        0,
    )
    assert session.get_one(Account, acc.id).suppressed_until is None
    # Idempotent: the promise is no longer pending, so nothing more happens.
    assert _evaluate(session, date(2026, 11, 28)) == {"kept": 0, "broken": 0, "pending": 0}


def test_a_longer_suppression_set_by_something_else_stays(session, codes):
    _, acc, _ = _promise(session)
    acc.suppressed_until = date(2026, 12, 20)  # e.g. a dispute after the promise
    session.commit()
    assert _evaluate(session, date(2026, 11, 28))["broken"] == 1
    assert session.get_one(Account, acc.id).suppressed_until == date(2026, 12, 20)


def test_partial_payments_reach_the_threshold_together(session, codes):
    keeps, acc1, _ = _promise(session, overdue=9_000_000)
    breaks, acc2, _ = _promise(session, overdue=9_000_000)
    _pay(session, acc1, 1_000_000, date(2026, 11, 21), "FT-A1")
    _pay(session, acc1, 2_000_000, date(2026, 11, 26), "FT-A2")
    _pay(session, acc2, 2_999_999, date(2026, 11, 22), "FT-B1")
    assert _evaluate(session, date(2026, 11, 28)) == {"kept": 1, "broken": 1, "pending": 0}
    kept = session.get_one(Promise, keeps.id)
    assert (kept.state, kept.paid_amount) == ("kept", 3_000_000)
    assert session.get_one(Promise, breaks.id).state == "broken"
    # Kept, but 9 M overdue is not covered by 3 M: the account stays in collection.
    account = session.get_one(Account, acc1.id)
    assert (account.status, account.overdue_amount) == ("active", 9_000_000)


def test_kept_early_and_covering_the_overdue_amount_closes_the_cycle(session, codes):
    _, acc, _ = _promise(session, amount=5_000_000, overdue=5_000_000)
    _pay(session, acc, 5_000_000, date(2026, 11, 21), "FT-EARLY")
    assert _evaluate(session, date(2026, 11, 21)) == {"kept": 1, "broken": 0, "pending": 0}
    account = session.get_one(Account, acc.id)
    assert (account.status, account.overdue_amount) == ("cured", 0)
    # The builder leaves a cured account out of the next campaign.
    campaign = service.create_campaign(session, "next day")
    service.launch(session, campaign, datetime(2026, 12, 1, 2, tzinfo=UTC), VN)
    session.commit()
    assert campaign.build_summary["selected"] == 0
    assert campaign.build_summary["excluded"]["account_closed"] == 1


def test_duplicate_payment_posts_do_not_double_count(session, codes, process_env, monkeypatch):
    promise, acc, _ = _promise(session, amount=4_000_000)
    monkeypatch.setenv("DIALER_API_TOKEN", "test-api-token")
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    for name, value in Clock.started_now(1.0, sim_start=start).env().items():
        monkeypatch.setenv(name, value)
    reset_runtime()
    client = create_app(load_settings()).test_client()
    body = {"account_no": acc.account_no, "amount": 2_000_000, "paid_on": "2026-11-22"}
    assert (
        client.post("/api/payments", json={**body, "reference": "R1"}, headers=AUTH).status_code
        == 201
    )
    replay = client.post("/api/payments", json={**body, "reference": "R1"}, headers=AUTH)
    assert (replay.status_code, replay.json["duplicate"]) == (200, True)
    # The same reference in a CSV, twice, and the file imported twice: still one payment.
    csv_text = (
        "account_no,amount,paid_on,reference\n"
        f"{acc.account_no},2000000,22/11/2026,R1\n{acc.account_no},2000000,22/11/2026,R1\n"
    )
    path = process_env.home / "dup.csv"
    path.write_text(csv_text, encoding="utf-8")
    runner = CliRunner()
    for _ in range(2):
        out = json.loads(runner.invoke(main, ["payments", "import", str(path), "--json"]).output)
        assert (out["imported"], out["duplicates"]) == (0, 2)
    assert _evaluate(session, date(2026, 11, 28)) == {"kept": 0, "broken": 1, "pending": 0}
    assert session.get_one(Promise, promise.id).paid_amount == 2_000_000


def test_a_broken_promise_lifts_the_rank_in_a_newly_built_campaign(session, codes):
    _, acc_broken, _ = _promise(session, overdue=5_000_000, dpd=45)
    _, acc_kept, _ = _promise(session, overdue=5_000_000, dpd=45)
    _pay(session, acc_kept, 3_000_000, date(2026, 11, 24), "FT-K")
    assert _evaluate(session, date(2026, 11, 28)) == {"kept": 1, "broken": 1, "pending": 0}
    campaign = service.create_campaign(session, "after the break")
    service.launch(session, campaign, datetime(2026, 11, 28, 2, tzinfo=UTC), VN)
    session.commit()
    entries = {
        e.account_id: e
        for e in session.scalars(
            select(CampaignEntry).where(CampaignEntry.campaign_id == campaign.id)
        )
    }
    assert entries[acc_broken.id].score_broken == 500.0
    assert entries[acc_kept.id].score_broken == 0.0
    assert entries[acc_broken.id].score > entries[acc_kept.id].score + 400


# --- CLI and the daily job ---------------------------------------------------------------


@pytest.fixture
def rt(process_env, monkeypatch):
    """Processes (CLI, RQ job) on a clock whose local today is Tuesday 1 December 2026."""
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội
    for name, value in Clock.started_now(1.0, sim_start=start).env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DIALER_API_TOKEN", "test-api-token")
    reset_runtime()
    yield Runtime(load_settings())
    reset_runtime()


def test_evaluate_from_the_cli(rt, session, codes):
    _promise(session)
    run = CliRunner().invoke
    pending = run(main, ["promises", "evaluate", "--date", "2026-11-27", "--json"])
    assert pending.exit_code == 0, pending.output
    assert json.loads(pending.output) == {"kept": 0, "broken": 0, "pending": 1}
    text = run(main, ["promises", "evaluate", "--date", "2026-11-28"])
    assert "0 kept, 1 broken, 0 still pending" in text.output
    again = run(main, ["promises", "evaluate", "--date", "2026-11-28", "--json"])
    assert json.loads(again.output) == {"kept": 0, "broken": 0, "pending": 0}
    future = run(main, ["promises", "evaluate", "--date", "2026-12-02"])
    assert future.exit_code == 2 and "after today" in future.output
    bad = run(main, ["promises", "evaluate", "--date", "28/11/2026"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_the_daily_job_runs_on_rqs_scheduler_and_schedules_the_next_day(
    rt, session, codes, redis_client
):
    promise, _, _ = _promise(session)
    today = date(2026, 12, 1)
    # At worker start, 10:00 is past the 06:00 evaluation: today's runs now (catch-up).
    # Twice, as two workers starting would: one job (fixed id).
    scheduled.schedule_evaluation(rt)
    scheduled.schedule_evaluation(rt)
    registry = ScheduledJobRegistry(queue=rt.queue)
    assert registry.get_job_ids() == [f"promises-evaluate-{today}"]
    SimpleWorker([rt.queue], connection=redis_client).work(burst=True, with_scheduler=True)
    session.expire_all()
    assert session.get_one(Promise, promise.id).state == "broken"
    assert registry.get_job_ids() == [f"promises-evaluate-{today + timedelta(days=1)}"]
    # Tomorrow's job is due at 06:00 local tomorrow (RQ's scheduler keeps wall-clock times).
    due = registry.get_scheduled_time(f"promises-evaluate-{today + timedelta(days=1)}")
    expected = scheduled.evaluation_time(rt, today + timedelta(days=1))
    assert expected == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    real = datetime.now(UTC) + (expected - rt.clock.now())
    assert abs((due.replace(tzinfo=UTC) - real).total_seconds()) < 5


def test_a_job_for_a_day_not_yet_come_settles_nothing(rt, session, codes):
    promise, _, _ = _promise(session, due=date(2026, 11, 28))
    out = scheduled.evaluate_day("2026-12-05")
    assert "not evaluated" in out
    session.expire_all()
    assert session.get_one(Promise, promise.id).state == "pending"


# --- the payment schedule ----------------------------------------------------------------


def test_todays_payment_schedule_per_agent_and_team(rt, session, codes):
    made = datetime(2026, 11, 28, 3, tzinfo=UTC)
    today = date(2026, 12, 1)
    p1, acc1, lan = _promise(
        session,
        2_000_000,
        due=today,
        made_at=made,
        team="B2 sáng",
        phones=(("+84901234567", "mobile"),),
    )
    _, acc2, _ = _promise(session, 1_500_000, due=today + timedelta(1), made_at=made)
    _promise(session, 1_000_000, due=today + timedelta(2), made_at=made)  # not in range
    due_today = factories.account(session, account_no="INST1", due_date=today, overdue=700_000)
    factories.account(session, account_no="INST2", due_date=today + timedelta(3))
    closed = factories.account(session, account_no="INST3", due_date=today, status="closed")
    session.commit()
    rows = payment_schedule(session, today, tz=VN)
    kinds = [(r.kind, r.account_no) for r in rows]
    assert ("promise", acc1.account_no) in kinds and ("promise", acc2.account_no) in kinds
    assert ("installment", due_today.account_no) in kinds
    assert closed.account_no not in {r.account_no for r in rows} and "INST2" not in kinds
    assert len(rows) == 3
    first = next(r for r in rows if r.promise_id == p1.id)
    assert (first.team, first.agent, first.amount) == ("B2 sáng", lan.username, 2_000_000)
    assert first.phone == "+84******567"

    client = create_app(load_settings()).test_client()
    body = client.get("/api/promises/schedule?date=2026-12-01", headers=AUTH).json
    assert body["date"] == "2026-12-01" and body["through"] == "2026-12-02"
    assert len(body["rows"]) == 3
    team = next(g for g in body["by_agent"] if g["team"] == "B2 sáng")
    assert (team["promises"], team["promised_amount"]) == (1, 2_000_000)
    assert "+84901234567" not in json.dumps(body)
    csv_response = client.get("/api/promises/schedule.csv?date=2026-12-01", headers=AUTH)
    raw = csv_response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("due_date,kind,team,agent,account_no")
    assert "B2 sáng" in text and "901234567" not in text
    assert client.get("/api/promises/schedule?date=1/12", headers=AUTH).status_code == 400

    path = rt.settings.home / "schedule.csv"
    out = CliRunner().invoke(
        main, ["promises", "schedule", "--date", "2026-12-01", "--csv", str(path)]
    )
    assert "3 payments due written" in out.output
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    listed = json.loads(CliRunner().invoke(main, ["promises", "schedule", "--json"]).output)
    assert listed["date"] == "2026-12-01" and len(listed["rows"]) == 3
