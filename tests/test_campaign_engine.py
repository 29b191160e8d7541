"""Builder, dial queue, presence and dispositions against the real SQL database and Redis."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dialer.agents import presence
from dialer.campaigns import queue, service
from dialer.campaigns.attempts import claim_entry, end_attempt, start_attempt
from dialer.campaigns.models import CallAttempt, CampaignEntry, DncNumber
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.effects import DispositionError, DispositionInput
from dialer.outcomes.models import Callback, Disposition, Promise, Referral
from dialer.outcomes.service import record_disposition
from dialer.portfolio.models import Phone
from dialer.redis import Keys
from tests import factories

VN = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 10:00 local
TODAY = date(2026, 11, 23)


@pytest.fixture
def codes(session):
    seed_default_codes(session)
    session.commit()


def test_builder_selects_ranks_and_queues(session, redis_client, codes):
    late = factories.account(session, dpd=200, overdue=90_000_000)
    early = factories.account(session, dpd=5, overdue=1_000_000)
    mid = factories.account(session, dpd=70, overdue=10_000_000)
    factories.account(session, dpd=50, status="closed")
    factories.account(session, dpd=50, suppressed_until=TODAY + timedelta(days=2))
    factories.account(session, dpd=50, phones=())
    no_dial = factories.account(session, dpd=50)
    for phone in no_dial.phones:
        phone.dialable = False
    referred = factories.account(session, dpd=300)
    session.add(Referral(account_id=referred.id, kind="legal", state="open"))
    dnc_only = factories.account(session, dpd=60, phones=(("+84912000111", "mobile"),))
    session.add(DncNumber(number="+84912000111", reason="opt-out"))
    narrow = factories.account(session, dpd=400, product="card")
    campaign = service.create_campaign(session, "B1-B7", filters={"dpd_max": 360})
    built = service.launch(session, campaign, NOW, VN)
    session.commit()
    assert built.entries == 3
    assert campaign.build_summary == {
        "selected": 3,
        "excluded": {"account_closed": 1, "suppressed": 1, "referred": 1, "no_callable_phone": 3},
    }
    assert service.start_dialing(session, redis_client, campaign, NOW) == 3
    order = [int(m) for m in redis_client.zrange(Keys.dial_queue(campaign.id), 0, -1, desc=True)]
    entries = {e.id: e for e in session.scalars(select(CampaignEntry))}
    assert [entries[i].account_id for i in order] == [late.id, mid.id, early.id]
    top = entries[order[0]]
    assert top.score_components["bucket"] == 70 and "amount" in top.score_components
    assert narrow.id not in {e.account_id for e in entries.values()}
    assert dnc_only.id not in {e.account_id for e in entries.values()}
    assert redis_client.hget(Keys.running_campaigns(), campaign.id) == b"progressive"


def test_campaign_filters_are_validated(session):
    with pytest.raises(service.CampaignError, match="unknown filter"):
        service.create_campaign(session, "x", filters={"colour": "red"})
    with pytest.raises(service.CampaignError, match="dpd_min is above dpd_max"):
        service.create_campaign(session, "x", filters={"dpd_min": 90, "dpd_max": 30})
    with pytest.raises(service.CampaignError, match="needs a name"):
        service.create_campaign(session, "  ")
    with pytest.raises(service.CampaignError, match="unknown compliance profile"):
        service.create_campaign(session, "x", compliance_profile="mars")


def test_launch_twice_is_refused(session, codes):
    campaign = service.create_campaign(session, "once")
    service.launch(session, campaign, NOW, VN)
    with pytest.raises(service.CampaignError, match="only a draft launches"):
        service.launch(session, campaign, NOW, VN)


def test_queue_pop_retry_and_stale(redis_client):
    queue.push(redis_client, 1, {10: 5.0, 11: 9.0, 12: 1.0})
    assert queue.pop_for_dialing(redis_client, 1, 2, now=100.0) == [11, 10]
    assert queue.sizes(redis_client, 1) == {"queued": 1, "retry": 0, "dialing": 2}
    queue.done_dialing(redis_client, 1, 11)
    queue.schedule_retry(redis_client, 1, 11, 9.0, not_before=200.0)
    assert queue.promote_due(redis_client, 1, now=150.0) == 0
    assert queue.promote_due(redis_client, 1, now=200.0) == 1
    assert queue.pop_for_dialing(redis_client, 1, 1, now=201.0) == [11]  # kept its rank
    assert queue.stale_in_flight(redis_client, 1, older_than=150.0) == [10]
    queue.settle_stale(redis_client, 1, back={10: 5.0}, keep=[], drop=[], now=300.0)
    assert queue.stale_in_flight(redis_client, 1, older_than=150.0) == []
    assert queue.sizes(redis_client, 1) == {"queued": 2, "retry": 0, "dialing": 1}


def test_claim_gives_each_ready_agent_once(redis_client):
    for agent_id in range(1, 6):
        presence.set_connecting(redis_client, agent_id, 7, f"CA{agent_id}", now=0)
        assert presence.connected(redis_client, agent_id, now=agent_id)
    winners: list[int | None] = []
    lock = threading.Lock()

    def claim(attempt_id: int) -> None:
        got = presence.claim(redis_client, 7, attempt_id, now=10, wait_seconds=0.05)
        with lock:
            winners.append(got)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [w for w in winners if w is not None]
    assert sorted(claimed) == [1, 2, 3, 4, 5]
    assert presence.counts(redis_client, 7)["on_call"] == 5


def test_claim_takes_longest_idle_and_skips_logged_out(redis_client):
    for agent_id, since in ((1, 50.0), (2, 10.0), (3, 30.0)):
        presence.set_connecting(redis_client, agent_id, 8, "", now=0)
        presence.connected(redis_client, agent_id, now=since)
    presence.set_offline(redis_client, 2, now=60)
    assert presence.claim(redis_client, 8, 99, now=61, wait_seconds=0) == 3
    assert presence.get(redis_client, 3).attempt_id == 99


def test_claim_waits_for_an_agent_then_gives_up(redis_client):
    presence.set_connecting(redis_client, 1, 9, "", now=0)
    timer = threading.Timer(0.05, presence.connected, args=(redis_client, 1, 1.0))
    timer.start()
    assert presence.claim(redis_client, 9, 1, now=1, wait_seconds=1.0) == 1
    assert presence.claim(redis_client, 9, 2, now=2, wait_seconds=0.05) is None


def _connected_attempt(session, **account_fields):
    acc = factories.account(session, **account_fields)
    agent = factories.agent(session)
    campaign = service.create_campaign(session, "c")
    service.launch(session, campaign, NOW, VN)
    entry = session.scalar(select(CampaignEntry).where(CampaignEntry.account_id == acc.id))
    claim_entry(session, entry.id, NOW)
    attempt = start_attempt(session, entry, acc.phones[0], NOW)
    attempt.call_sid, attempt.agent_id, attempt.connected_at = "CA" + "1" * 32, agent.id, NOW
    attempt.result = "human"
    session.flush()
    return attempt, agent, entry


def test_ptp_disposition_creates_promise_and_closes_entry(session, codes):
    attempt, agent, entry = _connected_attempt(session)
    given = DispositionInput(
        "PTP", "agent", promise_amount=3_000_000, promise_date=TODAY + timedelta(days=2)
    )
    recorded = record_disposition(session, attempt, given, agent_id=agent.id, now=NOW, today=TODAY)
    session.commit()
    promise = session.scalar(select(Promise))
    assert (promise.amount, promise.due_date, promise.state) == (
        3_000_000,
        given.promise_date,
        "pending",
    )
    assert recorded.entry_state == "done" and entry.last_result == "PTP"
    assert attempt.action_code == "PTP"
    assert session.get(type(entry), entry.id).state == "done"


def test_refused_disposition_changes_nothing(session, codes):
    attempt, agent, _ = _connected_attempt(session)
    session.commit()
    bad = DispositionInput(
        "PTP", "agent", promise_amount=999_000_000, promise_date=TODAY - timedelta(days=1)
    )
    with pytest.raises(DispositionError) as err:
        record_disposition(session, attempt, bad, agent_id=agent.id, now=NOW, today=TODAY)
    session.rollback()
    assert len(err.value.problems) == 2
    assert session.scalar(select(func.count(Disposition.id))) == 0
    other = DispositionInput("RTP", "agent")
    with pytest.raises(DispositionError, match="belongs to another agent"):
        record_disposition(session, attempt, other, agent_id=agent.id + 1, now=NOW, today=TODAY)
    session.rollback()
    assert session.get(CallAttempt, attempt.id).action_code is None


def test_wrong_number_retires_phone_and_tries_next(session, codes):
    attempt, agent, _ = _connected_attempt(
        session, phones=(("+84901111111", "mobile"), ("+84902222222", "work"))
    )
    recorded = record_disposition(
        session, attempt, DispositionInput("NCP", "agent"), agent_id=agent.id, now=NOW, today=TODAY
    )
    session.commit()
    phone = session.get(Phone, attempt.phone_id)
    assert not phone.dialable and phone.reason == "retired:NCP"
    assert session.get(DncNumber, "+84901111111") is not None
    assert recorded.entry_state == "queued"


def test_callback_is_scheduled_for_the_same_agent(session, codes):
    attempt, agent, _ = _connected_attempt(session)
    at = NOW + timedelta(hours=3)
    recorded = record_disposition(
        session,
        attempt,
        DispositionInput("CAB", "agent", callback_at=at),
        agent_id=agent.id,
        now=NOW,
        today=TODAY,
    )
    session.commit()
    callback = session.scalar(select(Callback))
    assert callback.due_at == at and callback.agent_id == agent.id
    assert recorded.retry_at == at and recorded.entry_state == "queued"


def test_no_answer_end_records_system_code_and_retry(session, codes):
    acc = factories.account(session)
    campaign = service.create_campaign(session, "c")
    service.launch(session, campaign, NOW, VN)
    entry = session.scalar(select(CampaignEntry))
    claim_entry(session, entry.id, NOW)
    attempt = start_attempt(session, entry, acc.phones[0], NOW)
    ended = end_attempt(session, attempt, "no-answer", 0, NOW, TODAY)
    session.commit()
    assert attempt.result == "no_answer" and attempt.action_code == "NKP"
    assert ended.recorded.retry_at == NOW + timedelta(minutes=60)
    # A repeated final callback changes nothing.
    assert end_attempt(session, attempt, "completed", 5, NOW, TODAY) is None
    assert session.scalar(select(func.count(Disposition.id))) == 1


def test_no_answer_moves_to_the_next_number_now_then_waits(session, codes):
    acc = factories.account(
        session,
        phones=(
            ("+84901000021", "mobile"),
            ("+84902000022", "work"),
            ("+84903000023", "reference"),
        ),
    )
    campaign = service.create_campaign(session, "c")
    service.launch(session, campaign, NOW, VN)
    entry = session.scalar(select(CampaignEntry))
    mobile, work, _reference = acc.phones

    claim_entry(session, entry.id, NOW)
    first = end_attempt(
        session, start_attempt(session, entry, mobile, NOW), "no-answer", 0, NOW, TODAY
    )
    assert first.recorded.entry_state == "queued" and first.recorded.retry_at is None

    claim_entry(session, entry.id, NOW)
    second = end_attempt(
        session, start_attempt(session, entry, work, NOW), "no-answer", 0, NOW, TODAY
    )
    # Both callable numbers tried once (references are off limits under vn-finance): wait.
    assert second.recorded.retry_at == NOW + timedelta(minutes=60)


# --- review fixes: agent states, dial-time holds, callbacks ------------------------------


def _on_call(r, agent_id=1, campaign_id=5, attempt_id=70):
    presence.set_connecting(r, agent_id, campaign_id, "CAleg", now=0)
    presence.connected(r, agent_id, now=1)
    assert presence.claim(r, campaign_id, attempt_id, now=2, wait_seconds=0) == agent_id


def test_repeated_agent_leg_callback_never_frees_an_agent_on_a_call(redis_client):
    _on_call(redis_client)
    assert presence.connected(redis_client, 1, now=3) is False  # a late duplicate
    assert presence.get(redis_client, 1).state == "on_call"
    assert redis_client.zcard(Keys.ready_agents(5)) == 0


@pytest.mark.parametrize("order", ["end-then-code", "code-then-end"])
def test_agent_is_ready_after_call_end_and_code_in_either_order(redis_client, order):
    _on_call(redis_client)
    if order == "end-then-code":
        assert presence.call_ended(redis_client, 1, 70, now=3) == "wrap_up"
        assert presence.disposed(redis_client, 1, 70, now=4) == "ready"
    else:
        assert presence.disposed(redis_client, 1, 70, now=3) == "on_call"
        assert presence.call_ended(redis_client, 1, 70, now=4) == "ready"
    assert presence.get(redis_client, 1).state == "ready"
    assert redis_client.zscore(Keys.ready_agents(5), 1) == 4


def test_events_for_another_attempt_do_not_move_the_agent(redis_client):
    _on_call(redis_client)
    assert presence.call_ended(redis_client, 1, 69, now=3) is None
    assert presence.disposed(redis_client, 1, 69, now=3) is None
    assert presence.release(redis_client, 1, 69, ready_since=3) is False
    assert presence.get(redis_client, 1).state == "on_call"
    assert presence.release(redis_client, 1, 70, ready_since=1) is True
    assert presence.get(redis_client, 1).state == "ready"


def _runtime(settings):
    from dialer.runtime import Runtime

    return Runtime(settings)


@pytest.mark.parametrize(
    ("hold", "rule"),
    [("promise", "suppressed"), ("referral", "referred"), ("closed", "account_closed")],
)
def test_holds_set_after_the_build_are_checked_right_before_the_dial(
    settings, session, redis_client, codes, hold, rule
):
    from dialer.campaigns.jobs import dial_entry
    from dialer.campaigns.models import BlockedDial

    rt = _runtime(settings)
    acc = factories.account(session)
    campaign = service.create_campaign(session, "c")
    service.launch(session, campaign, rt.clock.now(), VN)
    session.commit()
    service.start_dialing(session, redis_client, campaign, rt.clock.now())
    # Meanwhile another campaign's call changed the account.
    if hold == "promise":
        acc.suppressed_until = rt.clock.now().date() + timedelta(days=5)
    elif hold == "referral":
        session.add(Referral(account_id=acc.id, kind="dispute", state="open"))
    else:
        acc.status = "closed"
    session.commit()
    (entry_id,) = queue.pop_for_dialing(redis_client, campaign.id, 1, now=0)
    assert dial_entry(rt, campaign.id, entry_id) == f"skipped: blocked by {rule}"
    session.expire_all()
    assert session.scalar(select(BlockedDial.rule)) == rule
    assert session.get(CampaignEntry, entry_id).state == "done"
    assert session.scalar(select(func.count(CallAttempt.id))) == 0
    assert redis_client.get(Keys.account_lock(acc.id)) is None
    assert redis_client.zcard(Keys.dialing(campaign.id)) == 0


def test_a_repeated_job_leaves_the_calls_in_flight_marker_alone(
    settings, session, redis_client, codes
):
    from dialer.campaigns.jobs import dial_entry

    rt = _runtime(settings)
    acc = factories.account(session)
    campaign = service.create_campaign(session, "c")
    session.commit()
    campaign.state = "running"
    session.add(CampaignEntry(campaign_id=campaign.id, account_id=acc.id, score=1, state="dialing"))
    session.commit()
    entry_id = session.scalar(select(CampaignEntry.id))
    redis_client.zadd(Keys.dialing(campaign.id), {entry_id: 1.0})
    assert dial_entry(rt, campaign.id, entry_id).startswith("skipped: entry is not queued")
    assert redis_client.zcard(Keys.dialing(campaign.id)) == 1


def test_a_call_that_reaches_an_agent_fulfils_a_due_callback(session, codes):
    from dialer.campaigns.attempts import record_bridge

    attempt, agent, entry = _connected_attempt(session)
    at = NOW + timedelta(hours=1)
    record_disposition(
        session,
        attempt,
        DispositionInput("CAB", "agent", callback_at=at),
        agent_id=agent.id,
        now=NOW,
        today=TODAY,
    )
    entry.state = "queued"
    phone = session.get(Phone, attempt.phone_id)
    start_attempt(session, entry, phone, NOW + timedelta(minutes=30))
    assert session.scalar(select(Callback.state)) == "scheduled"  # not yet due
    dialed = start_attempt(session, entry, phone, at)
    assert session.scalar(select(Callback.state)) == "scheduled"  # dialed is not kept
    assert record_bridge(session, dialed.id, agent.id, at)
    assert session.scalar(select(Callback.state)) == "done"


def test_entries_whose_job_died_come_back_once_it_is_surely_gone(
    settings, session, redis_client, codes
):
    """Markers that lapsed: an entry never dialed (still queued) returns; one claimed by a
    job that died before creating the call returns once the job's lifetime is past; one
    claimed just now stays marked (its job may be at work), and so does one with a call
    open; one waiting for its retry time, or for its agent's disposition, is no longer in
    flight and is not queued again."""
    from dialer.campaigns import pacer
    from dialer.campaigns.jobs import job_lifetime

    rt = _runtime(settings)
    campaign = service.create_campaign(session, "c")
    accounts = [factories.account(session) for _ in range(6)]
    session.commit()
    now = rt.clock.now()
    long_ago = now - job_lifetime(rt.clock) - timedelta(seconds=1)
    cases = {  # name: (state, claimed_at, not_before, call)
        "never": ("queued", None, None, None),
        "lost": ("dialing", long_ago, None, None),
        "working": ("dialing", now - timedelta(seconds=10), None, None),
        "calling": ("dialing", long_ago, None, "open"),
        "retrying": ("queued", long_ago, now + timedelta(hours=1), None),
        "wrapping_up": ("dialing", long_ago, None, "ended"),
    }
    ids = {}
    for account, (name, (state, claimed, not_before, call)) in zip(
        accounts, cases.items(), strict=True
    ):
        entry = CampaignEntry(
            campaign_id=campaign.id,
            account_id=account.id,
            score=10,
            state=state,
            claimed_at=claimed,
            not_before=not_before,
        )
        session.add(entry)
        session.flush()
        ids[name] = entry.id
        if call:
            session.add(
                CallAttempt(
                    campaign_id=campaign.id,
                    entry_id=entry.id,
                    account_id=account.id,
                    phone_id=account.phones[0].id,
                    status="ringing" if call == "open" else "completed",
                    created_at=long_ago + timedelta(seconds=5),
                    ended_at=None if call == "open" else long_ago + timedelta(seconds=90),
                )
            )
    session.commit()
    ts = rt.now_ts()
    old = ts - queue.IN_FLIGHT_SECONDS - 1
    redis_client.zadd(Keys.dialing(campaign.id), dict.fromkeys(ids.values(), old))

    pacer._return_stale(rt, campaign.id, ts)

    queued = {int(i) for i in redis_client.zrange(Keys.dial_queue(campaign.id), 0, -1)}
    assert queued == {ids["never"], ids["lost"]}
    # The retry (its job died before its Redis follow-up) waits in the retry set.
    retry_at = redis_client.zscore(Keys.retry(campaign.id), ids["retrying"])
    assert retry_at == (now + timedelta(hours=1)).timestamp()
    marked = dict(redis_client.zrange(Keys.dialing(campaign.id), 0, -1, withscores=True))
    assert {int(i) for i in marked} == {ids["working"], ids["calling"]}
    assert all(score == ts for score in marked.values())  # looked at again later
    session.expire_all()
    states = {name: session.get(CampaignEntry, i).state for name, i in ids.items()}
    assert states == {
        "never": "queued",
        "lost": "queued",
        "working": "dialing",
        "calling": "dialing",
        "retrying": "queued",
        "wrapping_up": "dialing",
    }


def test_a_stale_copy_of_an_entry_does_not_jump_its_retry_time(session, codes):
    acc = factories.account(session)
    campaign = service.create_campaign(session, "c")
    session.commit()
    entry = CampaignEntry(
        campaign_id=campaign.id, account_id=acc.id, score=1, not_before=NOW + timedelta(hours=1)
    )
    session.add(entry)
    session.commit()
    assert claim_entry(session, entry.id, NOW) is None  # a second job popped a stale copy
    claimed = claim_entry(session, entry.id, NOW + timedelta(hours=1))
    assert claimed is not None and claimed.claimed_at == NOW + timedelta(hours=1)


def test_a_preview_lease_is_not_given_back_while_it_lasts(redis_client):
    queue.push(redis_client, 1, {7: 1.0})
    assert queue.pop_for_dialing(redis_client, 1, 1, now=1000.0, hold_seconds=600) == [7]
    assert queue.stale_in_flight(redis_client, 1, older_than=1000.0 + 250) == []
    assert queue.stale_in_flight(redis_client, 1, older_than=1000.0 + 301) == [7]


@pytest.mark.parametrize(
    ("numbers", "rule"),
    [
        ("dnc", "dnc"),  # the mobile opted out since the build
        ("reference", "obligors_only"),  # only a reference's number is left
        ("retired", None),  # retired: no rule, the account has no number to call
    ],
)
def test_an_entry_without_a_number_to_call_says_which_rule_stopped_it(
    settings, session, redis_client, codes, numbers, rule
):
    from dialer.campaigns.jobs import dial_entry
    from dialer.campaigns.models import BlockedDial

    rt = _runtime(settings)
    acc = factories.account(session, phones=(("+84901234567", "mobile"), ("+84912345678", "home")))
    campaign = service.create_campaign(session, "c")
    service.launch(session, campaign, rt.clock.now(), VN)
    session.commit()
    service.start_dialing(session, redis_client, campaign, rt.clock.now())
    mobile, home = sorted(acc.phones, key=lambda p: p.priority)
    home.dialable, home.reason = False, "retired:NAB"
    if numbers == "dnc":
        session.add(DncNumber(number=mobile.number, reason="opt-out"))
    elif numbers == "reference":
        mobile.relation = "reference"
    else:
        mobile.dialable, mobile.reason = False, "retired:NCP"
    session.commit()
    (entry_id,) = queue.pop_for_dialing(redis_client, campaign.id, 1, now=0)
    result = dial_entry(rt, campaign.id, entry_id)
    session.expire_all()
    entry = session.get(CampaignEntry, entry_id)
    assert entry.state == "done"
    assert session.scalar(select(func.count(CallAttempt.id))) == 0
    if rule is None:
        assert result == "skipped: no dialable phone"
        assert entry.last_result == "no_dialable_phone"
        assert session.scalar(select(func.count(BlockedDial.id))) == 0
    else:
        assert result == f"skipped: blocked by {rule}"
        assert session.scalars(select(BlockedDial.rule)).all() == [rule]
        assert entry.last_result == f"blocked:{rule}"
    assert redis_client.zcard(Keys.dialing(campaign.id)) == 0
