""" "Already paid" (PAID from the IVR's key 2 or an agent, WFP): a paid claim for the overdue
amount, held while the code suppresses calls, then verified against the payments by the
promise evaluation (kept = verified), or not (broken: callable again, ranked up)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from dialer.campaigns import service
from dialer.campaigns.attempts import claim_entry, start_attempt
from dialer.campaigns.models import CampaignEntry
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.effects import DispositionInput
from dialer.outcomes.models import Promise
from dialer.outcomes.promises import KeptRule, evaluate_promises, payment_schedule
from dialer.outcomes.service import record_disposition
from dialer.portfolio.models import Account
from dialer.portfolio.payments import PaymentInput, record_payment
from tests import factories

VN = "Asia/Ho_Chi_Minh"
CLAIMED_AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội
CLAIMED = date(2026, 11, 20)
RULE = KeptRule(kept_share=1.0, grace_days=2)


@pytest.fixture
def codes(session):
    seed_default_codes(session)
    session.commit()


def _claim(session, code="PAID", setter="ivr") -> tuple[Promise, Account]:
    acc = factories.account(session, overdue=4_000_000)
    campaign = service.create_campaign(session, f"c{acc.id}")
    service.launch(session, campaign, CLAIMED_AT, VN)
    entry = session.scalar(select(CampaignEntry).where(CampaignEntry.account_id == acc.id))
    claim_entry(session, entry.id, CLAIMED_AT)
    attempt = start_attempt(session, entry, acc.phones[0], CLAIMED_AT)
    attempt.call_sid, attempt.result = f"CA{acc.id:032d}", "human"
    agent_id = None
    if setter == "agent":
        agent_id = factories.agent(session).id
        attempt.agent_id, attempt.connected_at = agent_id, CLAIMED_AT
    session.flush()
    record_disposition(
        session,
        attempt,
        DispositionInput(code, setter),
        agent_id=agent_id,
        now=CLAIMED_AT,
        today=CLAIMED,
    )
    session.commit()
    return session.scalar(select(Promise).where(Promise.account_id == acc.id)), acc


def _pay(session, acc, amount, paid_on, reference):
    record_payment(
        session,
        PaymentInput(acc.account_no, amount, paid_on, reference),
        today=date(2026, 12, 1),
        now=datetime(2026, 12, 1, 3, tzinfo=UTC),
    )
    session.commit()


def _evaluate(session, on):
    result = evaluate_promises(session, on, rule=RULE, tz=VN, now=datetime.now(UTC))
    session.commit()
    session.expire_all()
    return result.to_dict()


def test_a_payment_made_before_the_call_verifies_the_claim(session, codes):
    claim, acc = _claim(session)
    assert (claim.kind, claim.amount, claim.due_date) == ("paid_claim", 4_000_000, CLAIMED)
    # They paid at the branch three days before the call; the bank's file came later.
    _pay(session, acc, 4_000_000, CLAIMED - timedelta(days=3), "FT-PAID-1")
    assert _evaluate(session, CLAIMED + timedelta(days=1)) == {"kept": 1, "broken": 0, "pending": 0}
    account = session.get_one(Account, acc.id)
    assert session.get_one(Promise, claim.id).state == "kept"
    assert (account.status, account.overdue_amount) == ("cured", 0)  # nothing overdue remains


def test_an_unverified_claim_is_broken_after_the_hold_and_the_account_callable(session, codes):
    claim, acc = _claim(session, code="WFP", setter="agent")
    hold = CLAIMED + timedelta(days=3)  # WFP holds calls 3 days
    assert session.get_one(Account, acc.id).suppressed_until == hold
    assert _evaluate(session, hold) == {"kept": 0, "broken": 0, "pending": 1}
    _pay(session, acc, 1_000_000, CLAIMED + timedelta(days=1), "FT-PART")  # not all of it
    assert _evaluate(session, hold + timedelta(days=1)) == {"kept": 0, "broken": 1, "pending": 0}
    settled = session.get_one(Promise, claim.id)
    assert (settled.state, settled.paid_amount) == ("broken", 1_000_000)
    assert session.get_one(Account, acc.id).suppressed_until is None


def test_a_payment_too_long_before_does_not_count(session, codes):
    _, acc = _claim(session)
    _pay(session, acc, 4_000_000, CLAIMED - timedelta(days=30), "FT-OLD")
    assert _evaluate(session, CLAIMED + timedelta(days=4))["broken"] == 1


def test_paid_claims_are_not_payments_due(session, codes):
    _claim(session)
    rows = payment_schedule(session, CLAIMED, tz=VN)
    assert [r.kind for r in rows] == []
