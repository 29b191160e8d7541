"""Due callbacks: who takes them (pure routing), reserved for their agent at dial time
(real SQL, Redis, RQ job code and the mock carrier), the fallback to anyone, and the
callback kept only once a call reaches an agent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dialer.agents import presence
from dialer.campaigns import attempts, queue, service
from dialer.campaigns.jobs import dial_entry
from dialer.campaigns.models import CallAttempt, CampaignEntry
from dialer.clock import Clock
from dialer.outcomes import callbacks
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import Callback, Disposition
from dialer.redis import Keys
from dialer.runtime import Runtime
from tests import factories

VN = "Asia/Ho_Chi_Minh"
DUE = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 14:00 local


# --- the pure decision -----------------------------------------------------------------


def test_a_callback_for_anyone_is_anyones():
    assert callbacks.route(None, DUE, DUE, 15, "offline") == callbacks.ANYONE


def test_a_callback_not_yet_due_routes_like_any_call():
    assert callbacks.route(7, DUE, DUE - timedelta(minutes=1), 15, "ready").action == "anyone"


def test_a_due_callback_is_reserved_for_its_ready_agent():
    got = callbacks.route(7, DUE, DUE + timedelta(minutes=3), 15, "ready")
    assert (got.action, got.agent_id) == ("reserve", 7)


@pytest.mark.parametrize("state", ["on_call", "wrap_up", "connecting", "offline"])
def test_a_busy_or_absent_agent_holds_the_callback_a_minute_at_a_time(state):
    now = DUE + timedelta(minutes=3)
    got = callbacks.route(7, DUE, now, 15, state)
    assert (got.action, got.agent_id, got.until) == ("hold", 7, now + timedelta(minutes=1))


def test_the_last_hold_ends_when_the_owner_only_period_does():
    now = DUE + timedelta(minutes=14, seconds=30)
    got = callbacks.route(7, DUE, now, 15, "offline")
    assert got.until == DUE + timedelta(minutes=15)


@pytest.mark.parametrize("minutes", [15, 16, 60])
def test_after_the_owner_only_period_anyone_takes_it(minutes):
    got = callbacks.route(7, DUE, DUE + timedelta(minutes=minutes), 15, "offline")
    assert got.action == "anyone"


def test_no_owner_only_period_means_anyone_at_once():
    assert callbacks.route(7, DUE, DUE, 0, "offline").action == "anyone"


def test_another_campaign_waits_while_the_owner_can_still_dial():
    held = callbacks.owner_route(True, DUE)
    assert (held.action, held.until) == ("hold", DUE + callbacks.OTHER_CAMPAIGN_RETRY)
    assert callbacks.owner_route(False, DUE) == callbacks.ANYONE


# --- at the job level: SQL, Redis, the mock carrier ------------------------------------


@pytest.fixture
def rt(settings, db, redis_client, mock):
    """On a clock at 10:00 of a working day in Vietnam (Tuesday 1 December 2026), inside
    every calling window, so that no test depends on the hour it runs."""
    seed = db.session()
    with seed.begin():
        seed_default_codes(seed)
    seed.close()
    clock = Clock.started_now(1.0, sim_start=datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    return Runtime(
        settings.with_overrides(
            twilio_api_base=mock.base_url,
            clock_real_origin=clock.real_origin,
            clock_sim_origin=clock.sim_origin,
        )
    )


def _login(r, agent_id: int, campaign_id: int, state: str = "ready") -> None:
    presence.set_connecting(r, agent_id, campaign_id, f"CAleg{agent_id}", now=0)
    presence.connected(r, agent_id, now=1)
    if state == "on_call":
        assert presence.reserve(r, campaign_id, agent_id, 999_999, now=2)


def _campaign_with_callback(rt: Runtime, *, due_minutes_ago: float, same_agent: bool = True):
    """A running campaign, its entry for an account, and a callback due on that account,
    scheduled by an earlier call of the same campaign."""
    now = rt.clock.now()
    with rt.db.begin() as s:
        acc = factories.account(s)
        owner = factories.agent(s)
        other = factories.agent(s)
        campaign = service.create_campaign(s, "callbacks")
        service.launch(s, campaign, now, VN)
        entry = s.scalar(select(CampaignEntry).where(CampaignEntry.account_id == acc.id))
        first = CallAttempt(
            campaign_id=campaign.id,
            entry_id=entry.id,
            account_id=acc.id,
            phone_id=acc.phones[0].id,
            status="completed",
            created_at=now - timedelta(hours=2),
            ended_at=now - timedelta(hours=2),
            agent_id=owner.id,
            result="human",
        )
        s.add(first)
        s.flush()
        disposition = Disposition(
            attempt_id=first.id, account_id=acc.id, agent_id=owner.id, code="CAB", set_by="agent"
        )
        s.add(disposition)
        s.flush()
        s.add(
            Callback(
                account_id=acc.id,
                campaign_id=campaign.id,
                disposition_id=disposition.id,
                agent_id=owner.id if same_agent else None,
                due_at=now - timedelta(minutes=due_minutes_ago),
            )
        )
        ids = campaign.id, entry.id, acc.id, owner.id, other.id
    with rt.db.begin() as s:
        service.start_dialing(s, rt.redis, s.get(type(campaign), ids[0]), now)
    return ids


def _pop(rt: Runtime, campaign_id: int, entry_id: int) -> None:
    assert queue.pop_for_dialing(rt.redis, campaign_id, 1, rt.now_ts()) == [entry_id]


def test_a_due_callback_is_dialed_reserved_for_its_agent(rt):
    cid, entry_id, _account_id, owner, other = _campaign_with_callback(rt, due_minutes_ago=2)
    _login(rt.redis, other, cid)
    _login(rt.redis, owner, cid)
    _pop(rt, cid, entry_id)
    assert dial_entry(rt, cid, entry_id).startswith("placed: CA")
    with rt.db.session() as s:
        attempt = s.scalar(
            select(CallAttempt)
            .where(CallAttempt.entry_id == entry_id)
            .order_by(CallAttempt.id.desc())
        )
        assert attempt.call_sid is not None
    # The owner is held for this call before it rings; the other agent is still free.
    seen = presence.get(rt.redis, owner)
    assert (seen.state, seen.attempt_id) == ("reserved", attempt.id)
    assert presence.get(rt.redis, other).state == "ready"
    assert rt.redis.get(Keys.reserved_agent(attempt.id)) == str(owner).encode()
    with rt.db.session() as s:
        # Dialed is not kept: only a call that reaches an agent keeps the callback.
        assert s.scalar(select(Callback.state)) == "scheduled"
        assert attempts.record_bridge(s, attempt.id, owner, rt.clock.now())
        s.commit()
        kept = s.scalar(select(Callback))
        assert (kept.state, kept.done_attempt_id) == ("done", attempt.id)
    rt.carrier.hangup(attempt.call_sid)


@pytest.mark.parametrize("owner_state", ["on_call", "offline"])
def test_a_callback_waits_for_its_busy_or_absent_agent(rt, owner_state):
    cid, entry_id, account_id, owner, other = _campaign_with_callback(rt, due_minutes_ago=2)
    _login(rt.redis, other, cid)
    if owner_state == "on_call":
        _login(rt.redis, owner, cid, "on_call")
    _pop(rt, cid, entry_id)
    before = rt.clock.now()
    assert dial_entry(rt, cid, entry_id).startswith("skipped: held: waiting for agent")
    with rt.db.session() as s:
        entry = s.get(CampaignEntry, entry_id)
        assert entry.state == "queued" and entry.attempts == 0
        assert (
            before + timedelta(seconds=59)
            <= entry.not_before
            <= rt.clock.now() + (callbacks.OWNER_RETRY)
        )
        placed = select(func.count(CallAttempt.id)).where(CallAttempt.entry_id == entry_id)
        assert s.scalar(placed) == 1  # only the call that scheduled the callback
    # Back in the retry set for its time, no longer in flight, the account not locked.
    assert rt.redis.zscore(Keys.retry(cid), entry_id) is not None
    assert rt.redis.zscore(Keys.dialing(cid), entry_id) is None
    assert rt.redis.get(Keys.account_lock(account_id)) is None
    assert presence.get(rt.redis, other).state == "ready"


def test_after_the_owner_only_period_anyone_takes_the_callback(rt):
    minutes = rt.settings.callback_owner_minutes + 1
    cid, entry_id, _, _owner, other = _campaign_with_callback(rt, due_minutes_ago=minutes)
    _login(rt.redis, other, cid)
    _pop(rt, cid, entry_id)
    outcome = dial_entry(rt, cid, entry_id)
    assert outcome.startswith("placed: CA"), outcome
    with rt.db.session() as s:
        attempt = s.scalar(select(CallAttempt).where(CallAttempt.call_sid.is_not(None)))
    # Nobody reserved: the voice webhook claims whoever is ready, as for any call.
    assert rt.redis.get(Keys.reserved_agent(attempt.id)) is None
    assert presence.get(rt.redis, other).state == "ready"
    rt.carrier.hangup(attempt.call_sid)


def test_a_callback_for_anyone_is_dialed_without_reservation(rt):
    cid, entry_id, _, owner, _other = _campaign_with_callback(
        rt, due_minutes_ago=1, same_agent=False
    )
    _login(rt.redis, owner, cid)
    _pop(rt, cid, entry_id)
    assert dial_entry(rt, cid, entry_id).startswith("placed: CA")
    assert presence.get(rt.redis, owner).state == "ready"
    with rt.db.session() as s:
        sid = s.scalar(select(CallAttempt.call_sid).where(CallAttempt.call_sid.is_not(None)))
    rt.carrier.hangup(sid)


def test_another_campaign_leaves_a_due_callback_to_its_campaign(rt):
    _cid, owner_entry, _account_id, _owner, other = _campaign_with_callback(rt, due_minutes_ago=1)
    now = rt.clock.now()
    with rt.db.begin() as s:
        second = service.create_campaign(s, "another")
        service.launch(s, second, now, VN)
        second_id = second.id
        second_entry = s.scalar(
            select(CampaignEntry.id).where(CampaignEntry.campaign_id == second_id)
        )
    with rt.db.begin() as s:
        service.start_dialing(s, rt.redis, s.get(type(second), second_id), now)
    _login(rt.redis, other, second_id)
    _pop(rt, second_id, second_entry)
    outcome = dial_entry(rt, second_id, second_entry)
    assert outcome == "skipped: held: the callback's campaign dials it"
    # Once the owner's entry is closed, the other campaign may take it.
    with rt.db.begin() as s:
        s.get(CampaignEntry, owner_entry).state = "done"
        s.get(CampaignEntry, second_entry).not_before = None
    rt.redis.zrem(Keys.retry(second_id), second_entry)
    queue.push(rt.redis, second_id, {second_entry: 1.0})
    _pop(rt, second_id, second_entry)
    # The callback's agent is not in this campaign: held for them until the fallback.
    assert dial_entry(rt, second_id, second_entry).startswith("skipped: held: waiting for agent")


def test_nobody_calls_before_the_time_the_borrower_asked_for():
    before = DUE - timedelta(hours=3)
    held = callbacks.not_before_callback(DUE, before)
    assert (held.action, held.until) == ("hold", DUE)
    assert callbacks.not_before_callback(None, before) is callbacks.ANYONE
    assert callbacks.not_before_callback(DUE, DUE) is callbacks.ANYONE


def test_a_campaign_holds_an_account_whose_callback_is_later_today(rt):
    cid, entry_id, _account_id, _owner, _other = _campaign_with_callback(
        rt,
        due_minutes_ago=-120,  # asked to be called in two hours
    )
    _pop(rt, cid, entry_id)
    outcome = dial_entry(rt, cid, entry_id)
    assert outcome.startswith("skipped: held: the borrower asked to be called at")
    with rt.db.session() as s:
        entry = s.get(CampaignEntry, entry_id)
        due = s.scalar(select(Callback.due_at))
        assert (entry.state, entry.not_before) == ("queued", due)
        assert (
            s.scalar(select(func.count(CallAttempt.id)).where(CallAttempt.call_sid.is_not(None)))
            == 0
        )
    assert rt.redis.zscore(Keys.retry(cid), entry_id) == due.timestamp()
