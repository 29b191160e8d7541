"""End to end through the mock carrier: real HTTP, signed webhooks, real RQ, SQL and Redis.

The web app is served by waitress on a free port; the mock carrier runs in-process; the
pacer's tick and an RQ SimpleWorker in burst mode place the calls exactly as the processes
do. The mock carrier's witness log is checked for what really happened on the line.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests
from rq import SimpleWorker
from sqlalchemy import func, select

from dialer.campaigns import pacer, reconcile
from dialer.campaigns.models import CallAttempt, CampaignEntry
from dialer.outcomes.models import Disposition, Promise
from dialer.portfolio.models import Account
from dialer.redis import Keys
from dialer.runtime import Runtime
from dialer.telephony.carrier import FINAL_STATUSES, make_twilio_client
from tests import factories
from tests.mock_support import wait_until
from tests.stack_support import VN, Stack, attempts_of, campaign_with_agents, free_port


def test_live_answer_is_bridged_to_the_agent_and_the_promise_recorded(stack: Stack):
    with stack.rt.db.begin() as s:
        account = factories.account(s, phones=(("+84901234567", "mobile"),))
        account_id = account.id
    stack.override("+84901234567", answer="human", ring_seconds=4, talk_seconds=30)
    cid, (agent_id,) = campaign_with_agents(stack, 1)

    assert stack.dial_round() == {cid: 1}
    state = wait_until(
        lambda: (st := stack.agent_state(agent_id))["state"] == "wrap_up" and st,
        what="the call to end and the agent to wrap up",
    )
    (attempt,) = attempts_of(stack)
    assert attempt.result == "human" and attempt.agent_id == agent_id
    assert attempt.call_sid and attempt.connected_at and attempt.ended_at
    assert state["call"]["account_no"] == account.account_no
    assert state["call"]["phone"].endswith("567") and "901234" not in state["call"]["phone"]

    # The witness: the customer joined the agent's room, and every webhook got a 2xx.
    client = make_twilio_client(stack.rt.settings)
    (room,) = client.conferences.list(friendly_name=f"agent-{agent_id}")
    log = requests.get(f"{stack.mock_url}/_mock/conferences/{room.sid}", timeout=5).json()
    joined = [e["call_sid"] for e in log["events"] if e["type"] == "join"]
    assert attempt.call_sid in joined and len(joined) == 2  # the agent's leg, then the customer
    events = stack.mock.events(attempt.call_sid)
    hooks = [e for e in events if e["type"] == "webhook"]
    assert hooks and all(200 <= (e["status_code"] or 0) < 300 for e in hooks), hooks

    promise_date = (datetime.now(VN).date() + timedelta(days=3)).isoformat()
    refused = stack.api(
        "POST",
        f"/api/attempts/{attempt.id}/disposition",
        422,
        json={
            "agent_id": agent_id,
            "code": "PTP",
            "promise_amount": 10**12,
            "promise_date": promise_date,
        },
    )
    assert "over the outstanding balance" in refused["problems"][0]
    done = stack.api(
        "POST",
        f"/api/attempts/{attempt.id}/disposition",
        201,
        json={
            "agent_id": agent_id,
            "code": "PTP",
            "promise_amount": 2_000_000,
            "promise_date": promise_date,
        },
    )
    assert done["entry_state"] == "done"
    with stack.rt.db.session() as s:
        promise = s.scalar(select(Promise))
        assert (promise.account_id, promise.amount) == (account_id, 2_000_000)
        assert s.scalar(select(func.count(Disposition.id))) == 1
    assert stack.agent_state(agent_id)["state"] == "ready"


def test_system_results_are_recorded_and_retried(stack: Stack):
    numbers = {"+84901000001": "no-answer", "+84901000002": "machine", "+84901000003": "busy"}
    stack.callees({n: {"answer": answer, "ring_seconds": 5} for n, answer in numbers.items()})
    cid, _agents = campaign_with_agents(stack, 3)

    assert stack.dial_round() == {cid: 3}
    wait_until(
        lambda: all(a.ended_at for a in attempts_of(stack)) and len(attempts_of(stack)) == 3,
        what="three calls to end",
    )
    results = sorted(a.result for a in attempts_of(stack))
    assert results == ["busy", "machine", "no_answer"]
    assert {a.action_code for a in attempts_of(stack)} == {"NKP"}
    r = stack.rt.redis
    wait_until(lambda: r.zcard(Keys.retry(cid)) == 3, what="three retries scheduled")
    assert r.zcard(Keys.dialing(cid)) == 0
    with stack.rt.db.session() as s:
        assert set(s.scalars(select(CampaignEntry.state))) == {"queued"}


def test_answer_with_no_free_agent_is_abandoned_with_a_message(stack: Stack):
    with stack.rt.db.begin() as s:
        factories.account(s, phones=(("+84901000009", "mobile"),))
    stack.override("+84901000009", answer="human", ring_seconds=20, talk_seconds=30)
    cid, (agent_id,) = campaign_with_agents(stack, 1)
    # The pacer sends the call out for its ready agent, who logs out before the dial job
    # places it: nobody is free when the borrower answers, however slow the machine. (Logging
    # out after the call was placed raced its 20 simulated seconds of ringing, 0.4 real s.)
    assert pacer.tick(stack.rt) == {cid: 1}
    stack.api("POST", f"/api/agents/{agent_id}/logout")  # gone before the customer answers
    SimpleWorker(stack.rt.queues, connection=stack.rt.redis).work(burst=True)  # the dial job
    wait_until(lambda: (a := attempts_of(stack)) and a[0].ended_at, what="the call to end")
    (attempt,) = attempts_of(stack)
    assert attempt.result == "abandoned" and attempt.agent_id is None
    assert attempt.action_code == "NKP"
    twiml = [e["xml"] for e in stack.mock.events(attempt.call_sid) if e["type"] == "twiml"]
    assert any("<Say" in x and "<Hangup" in x for x in twiml)
    status = stack.api("GET", f"/api/campaigns/{cid}")
    assert status["abandoned"] == 1 and status["abandon_rate"] == 1.0


def test_unsigned_or_forged_callbacks_are_refused(stack: Stack):
    with stack.rt.db.begin() as s:
        acc = factories.account(s)
        stack_attempts_before = s.scalar(select(func.count(CallAttempt.id)))
    del acc
    url = f"{stack.web}/twilio/status?attempt=1"
    form = {"CallSid": "CA" + "0" * 32, "CallStatus": "completed"}
    assert requests.post(url, data=form, timeout=5).status_code == 403
    forged = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    assert requests.post(url, data=form, headers=forged, timeout=5).status_code == 403
    with stack.rt.db.session() as s:
        assert s.scalar(select(func.count(CallAttempt.id))) == stack_attempts_before


def test_api_needs_the_token_and_validates_input(stack: Stack):
    assert requests.get(f"{stack.web}/api/agents/1", timeout=5).status_code == 401
    bad = stack.api("POST", "/api/campaigns", 400, json={"name": "x", "filters": {"dpd": 3}})
    assert "unknown filter" in bad["error"]
    body = stack.api("POST", "/api/attempts/1/disposition", 400, data="not json")
    assert "JSON object" in body["error"]
    body = stack.api("POST", "/api/attempts/999/disposition", 400, json={"code": 5})
    assert any("agent_id" in p for p in body["problems"])


def test_a_bad_number_is_retired_but_a_carrier_fault_is_retried(stack: Stack):
    from dialer.campaigns.jobs import dial_entry
    from dialer.portfolio.models import Phone

    with stack.rt.db.begin() as s:
        factories.account(s, phones=(("849", "mobile"),))  # not E.164: the carrier says 21211
        factories.account(s, phones=(("+84901000031", "mobile"),))
    cid, _ = campaign_with_agents(stack, 2)
    popped = stack.rt.redis.zpopmax(Keys.dial_queue(cid), 2)
    bad_entry, good_entry = sorted(int(m) for m, _ in popped)  # entries in account order
    assert dial_entry(stack.rt, cid, bad_entry).startswith("failed")
    # The same dial with the wrong auth token: the carrier refuses us, not the number.
    wrong = Runtime(stack.rt.settings.with_overrides(twilio_auth_token="wrong-token"))
    assert dial_entry(wrong, cid, good_entry).startswith("failed")
    with stack.rt.db.session() as s:
        phones = {p.number: p for p in s.scalars(select(Phone))}
        assert not phones["849"].dialable and phones["849"].reason == "retired:NAB"
        assert phones["+84901000031"].dialable
        results = {a.phone_id: (a.result, a.action_code) for a in s.scalars(select(CallAttempt))}
        assert results[phones["+84901000031"].id] == ("error", "NKP")
    assert stack.rt.redis.zscore(Keys.retry(cid), good_entry) is not None


def test_carrier_errors_in_a_row_pause_the_campaign(stack: Stack):
    from dialer.campaigns.jobs import PAUSE_AFTER_CARRIER_ERRORS, dial_entry
    from dialer.campaigns.models import Campaign

    with stack.rt.db.begin() as s:
        for i in range(PAUSE_AFTER_CARRIER_ERRORS):
            factories.account(s, phones=((f"+8490100{i:04d}", "mobile"),))
    cid, _ = campaign_with_agents(stack, 1)
    wrong = Runtime(stack.rt.settings.with_overrides(twilio_auth_token="wrong-token"))
    for member, _score in stack.rt.redis.zpopmax(Keys.dial_queue(cid), PAUSE_AFTER_CARRIER_ERRORS):
        dial_entry(wrong, cid, int(member))
    with stack.rt.db.session() as s:
        assert s.get_one(Campaign, cid).state == "paused"
    assert stack.rt.redis.hget(Keys.running_campaigns(), cid) is None


def test_duplicate_voice_deliveries_claim_one_agent(stack: Stack):
    import concurrent.futures

    from dialer.agents import presence
    from dialer.campaigns.attempts import claim_entry, start_attempt
    from dialer.telephony.mock import compute_signature

    with stack.rt.db.begin() as s:
        factories.account(s, phones=(("+84901000041", "mobile"),))
    cid, agents = campaign_with_agents(stack, 2)
    (entry_id,) = [int(m) for m, _ in stack.rt.redis.zpopmax(Keys.dial_queue(cid), 1)]
    with stack.rt.db.begin() as s:
        entry = claim_entry(s, entry_id, stack.rt.clock.now())
        phone = s.get_one(Account, entry.account_id).phones[0]
        attempt_id = start_attempt(s, entry, phone, stack.rt.clock.now()).id
    url = f"{stack.web}/twilio/voice?attempt={attempt_id}"
    form = {"CallSid": "CA" + "7" * 32, "AnsweredBy": "human", "CallStatus": "in-progress"}
    headers = {"X-Twilio-Signature": compute_signature("mock-carrier-auth-token", url, form)}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        bodies = list(
            pool.map(
                lambda _: requests.post(url, data=form, headers=headers, timeout=10).text, range(4)
            )
        )
    assert len(set(bodies)) == 1 and "<Conference" in bodies[0]
    states = [presence.get(stack.rt.redis, a).state for a in agents]
    assert sorted(states) == ["on_call", "ready"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": 123}, "name must be text"),
        ({"name": "x", "max_attempts_per_entry": "5"}, "must be a whole number"),
        ({"name": "x", "max_attempts_per_entry": True}, "must be a whole number"),
        ({"name": "x", "compliance_profile": ["vn"]}, "compliance_profile must be a profile"),
        ({"name": "x", "caller_ids": ["hello"]}, "not a valid number"),
        ({"name": "x", "caller_id": "+842873000001"}, "unknown setting(s) caller_id"),
        ({}, "name is required"),
    ],
)
def test_campaign_api_refuses_bad_types_clearly(stack: Stack, body, message):
    error = stack.api("POST", "/api/campaigns", 400, json=body)["error"]
    assert message in error


def test_agent_login_needs_a_numeric_campaign(stack: Stack):
    agent = stack.api("POST", "/api/agents", 201, json={"username": "lan", "name": "Lan"})
    error = stack.api("POST", f"/api/agents/{agent['id']}/login", 400, json={"campaign_id": True})[
        "error"
    ]
    assert "campaign_id must be a whole number" in error


def test_only_the_campaigns_team_and_named_agents_log_in_to_it(stack: Stack):
    def agent(username: str, team: str) -> int:
        body = {"username": username, "name": username.title(), "team": team}
        return stack.api("POST", "/api/agents", 201, json=body)["id"]

    lan, minh, hoa = agent("lan", "b2-hanoi"), agent("minh", "b1-hcm"), agent("hoa", "b1-hcm")
    body = {"name": "B2 team only", "team": "b2-hanoi", "agent_ids": [hoa]}
    cid = stack.api("POST", "/api/campaigns", 201, json=body)["id"]
    error = stack.api("POST", f"/api/agents/{minh}/login", 409, json={"campaign_id": cid})
    assert "not in campaign" in error["error"]
    assert stack.agent_state(minh)["state"] == "offline"  # nothing changed
    for allowed in (lan, hoa):  # the team's member, and an agent named by id
        stack.api("POST", f"/api/agents/{allowed}/login", json={"campaign_id": cid})
        assert stack.agent_state(allowed)["state"] != "offline"


def test_campaign_pause_resume_stop_through_the_api(stack: Stack):
    cid = stack.api("POST", "/api/campaigns", 201, json={"name": "lifecycle"})["id"]
    assert "not running" in stack.api("POST", f"/api/campaigns/{cid}/pause", 409)["error"]
    stack.api("POST", f"/api/campaigns/{cid}/launch")
    assert stack.api("POST", f"/api/campaigns/{cid}/pause")["state"] == "paused"
    assert stack.rt.redis.hget(Keys.running_campaigns(), cid) is None
    assert stack.api("POST", f"/api/campaigns/{cid}/resume")["state"] == "running"
    assert stack.rt.redis.hget(Keys.running_campaigns(), cid) == b"progressive"
    assert stack.api("POST", f"/api/campaigns/{cid}/stop")["state"] == "stopped"
    assert stack.api("GET", f"/api/campaigns/{cid}")["state"] == "stopped"


# --- reconciliation: final status callbacks that never arrived ------------------------------


def _refused_final_callback(stack: Stack, call_sid: str) -> dict | None:
    """The mock carrier's witness: the final status callback, refused (11205), if it was."""
    for event in stack.mock.events(call_sid):
        if (
            event["type"] == "webhook"
            and event["kind"] == "status-callback"
            and event["params"].get("CallStatus") in FINAL_STATUSES
            and event["error_code"] == 11205
        ):
            return event
    return None


def _entry(stack: Stack, entry_id: int) -> CampaignEntry:
    with stack.rt.db.session() as s:
        return s.get_one(CampaignEntry, entry_id)


def test_a_lost_final_callback_is_reconciled_from_the_carrier(stack: Stack, caplog):
    from dialer.telephony.mock import compute_signature

    with stack.rt.db.begin() as s:
        account_id = factories.account(s, phones=(("+84901000051", "mobile"),)).id
    stack.override("+84901000051", answer="busy", ring_seconds=5)
    cid, _ = campaign_with_agents(stack, 1)

    stack.stop_web()  # the app is down (restarting) while the call happens
    assert stack.dial_round() == {cid: 1}  # the dial job talks to the carrier, not to the app
    (attempt,) = attempts_of(stack)
    refused = wait_until(
        lambda: _refused_final_callback(stack, attempt.call_sid), what="the final callback"
    )
    assert refused["params"]["CallStatus"] == "busy"
    stack.start_web()
    (attempt,) = attempts_of(stack)
    assert attempt.ended_at is None and stack.rt.redis.exists(Keys.account_lock(account_id))

    # Overdue once the ring timeout and its margin have passed (under 2 s at this speed).
    caplog.set_level("INFO")
    wait_until(lambda: reconcile.sweep(stack.rt).ended, what="reconciliation to end the call")
    (attempt,) = attempts_of(stack)
    assert (attempt.status, attempt.result, attempt.action_code) == ("busy", "busy", "NKP")
    assert attempt.ended_at and "callback not received" in attempt.error
    assert stack.rt.carrier.fetch_call(attempt.call_sid).status == "busy"
    entry = _entry(stack, attempt.entry_id)
    assert (entry.state, entry.last_result) == ("queued", "NKP")
    r = stack.rt.redis
    assert not r.exists(Keys.account_lock(account_id))
    assert r.zscore(Keys.retry(cid), entry.id) is not None and r.zcard(Keys.dialing(cid)) == 0
    assert "ended by reconciliation" in caplog.text and "901000051" not in caplog.text

    # The carrier's late retry of the same callback changes nothing.
    url, form = refused["url"], refused["params"]
    signature = compute_signature("mock-carrier-auth-token", url, form)
    late = requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=5)
    assert late.status_code == 204
    with stack.rt.db.session() as s:
        assert s.scalar(select(func.count(Disposition.id))) == 1
    assert r.zscore(Keys.retry(cid), entry.id) is not None


def test_a_bridged_call_whose_final_callback_is_lost_frees_its_agent(stack: Stack):
    with stack.rt.db.begin() as s:
        account_id = factories.account(s, phones=(("+84901000052", "mobile"),)).id
    stack.override("+84901000052", answer="human", ring_seconds=2, talk_seconds=120)
    cid, (agent_id,) = campaign_with_agents(stack, 1)
    assert stack.dial_round() == {cid: 1}
    wait_until(lambda: attempts_of(stack)[0].connected_at, what="the bridge to the agent")
    # The app records the bridge before its answer to the voice webhook is on the wire: wait
    # for the carrier's side, the customer in the agent's room, before taking the app down
    # (else, on a slow machine, the TwiML fetch fails and the carrier hangs up at once).
    sid = attempts_of(stack)[0].call_sid
    wait_until(
        lambda: any(e["type"] == "conference-join" for e in stack.mock.events(sid)),
        what="the customer to join the agent's room",
    )

    stack.stop_web()  # down while the customer talks, and when they hang up
    wait_until(lambda: _refused_final_callback(stack, sid), what="the final callback")
    stack.start_web()
    assert stack.agent_state(agent_id)["state"] == "on_call"  # stuck, until reconciled

    # An answered call is first asked about 5 simulated minutes after the answer (6 s here).
    wait_until(lambda: reconcile.sweep(stack.rt).ended, timeout=30, what="reconciliation")
    (attempt,) = attempts_of(stack)
    assert (attempt.status, attempt.result, attempt.agent_id) == ("completed", "human", agent_id)
    assert attempt.duration_seconds and attempt.duration_seconds >= 100
    assert _entry(stack, attempt.entry_id).last_result == "connected"
    assert stack.agent_state(agent_id)["state"] == "wrap_up"
    assert not stack.rt.redis.exists(Keys.account_lock(account_id))


def _dead_dial(stack: Stack, cid: int, created_ago: timedelta, call_sid: str | None) -> int:
    """What a dial job leaves when it dies after recording the attempt: the entry dialing,
    the account locked, an attempt without an end."""
    from dialer.campaigns.attempts import claim_entry, start_attempt
    from dialer.campaigns.queue import lock_owner

    (entry_id,) = [int(m) for m, _ in stack.rt.redis.zpopmax(Keys.dial_queue(cid), 1)]
    now = stack.rt.clock.now()
    with stack.rt.db.begin() as s:
        entry = claim_entry(s, entry_id, now)
        account = s.get_one(Account, entry.account_id)
        attempt = start_attempt(s, entry, account.phones[0], now - created_ago)
        attempt.call_sid = call_sid
        attempt_id, account_id = attempt.id, account.id
    stack.rt.redis.set(Keys.account_lock(account_id), lock_owner(cid, entry_id))
    return attempt_id


def test_an_old_attempt_without_a_call_sid_is_ended_by_the_pacer(stack: Stack):
    with stack.rt.db.begin() as s:
        factories.account(s, phones=(("+84901000053", "mobile"),))
    cid, _ = campaign_with_agents(stack, 1)
    attempt_id = _dead_dial(stack, cid, timedelta(hours=3), call_sid=None)

    pacer.tick(stack.rt)  # the pacer's tick runs the sweep...
    # ... and the next one waits its interval (30 simulated s: checked at once, since that is
    # only 0.6 real s at this speed).
    assert reconcile.sweep_if_due(stack.rt) is None
    with stack.rt.db.session() as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        entry = s.get_one(CampaignEntry, attempt.entry_id)
        assert (attempt.status, attempt.result, attempt.action_code) == ("failed", "error", "NKP")
        assert attempt.ended_at and attempt.error.startswith("no call SID")
        assert (entry.state, entry.last_result) == ("queued", "NKP")
        lock = Keys.account_lock(attempt.account_id)
    assert not stack.rt.redis.exists(lock)
    assert stack.rt.redis.zscore(Keys.retry(cid), entry.id) is not None


def test_an_unknown_call_is_ended_and_an_unreachable_carrier_is_asked_again(stack: Stack):
    with stack.rt.db.begin() as s:
        factories.account(s, phones=(("+84901000054", "mobile"),))
    cid, _ = campaign_with_agents(stack, 1)
    sid = "CA" + "5" * 32  # the carrier never heard of it (e.g. it lost its records)
    attempt_id = _dead_dial(stack, cid, timedelta(minutes=10), call_sid=sid)

    down = Runtime(
        stack.rt.settings.with_overrides(twilio_api_base=f"http://127.0.0.1:{free_port()}")
    )
    report = reconcile.sweep_if_due(down)  # as the pacer runs it: logs, never raises
    assert report is not None and report.carrier_failed and report.ended == 0
    # One lookup per attempt per interval, even though this one failed.
    assert reconcile.sweep(stack.rt).looked_up == 0
    with stack.rt.db.session() as s:
        assert s.get_one(CallAttempt, attempt_id).ended_at is None

    wait_until(lambda: reconcile.sweep(stack.rt).ended, what="the unknown call to end")
    with stack.rt.db.session() as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        assert (attempt.status, attempt.result, attempt.action_code) == ("failed", "error", "NKP")
        assert "does not know call" in attempt.error
    assert not stack.rt.redis.exists(Keys.account_lock(attempt.account_id))
