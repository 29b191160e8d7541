"""The facts the rules read, gathered from the real SQL database right before a dial."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.campaigns import service
from dialer.campaigns.attempts import compliance_verdict, dial_facts
from dialer.campaigns.compliance import get_profile
from dialer.campaigns.models import CallAttempt, CampaignEntry, DncNumber
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import Disposition
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
    campaign = service.create_campaign(session, "us", compliance_profile="us-regf")
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


def test_the_campaigns_narrowed_profile_is_what_is_checked(session, codes):
    account = factories.account(session, phones=(("+84901234567", "mobile"),))
    campaign = service.create_campaign(session, "vn", window_start="08:00", window_end="11:00")
    session.commit()
    (phone,) = account.phones
    noon_vn = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    verdict = compliance_verdict(session, campaign, account, phone, noon_vn, "UTC", ring_timeout=25)
    assert verdict.rule == "calling_window"
    assert verdict.retry_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 08:00 tomorrow
