"""Preview, predictive and agentless (IVR) dialing end to end: the web app, RQ, SQL, Redis
and the mock carrier, reached through the official twilio client."""

from __future__ import annotations

from sqlalchemy import select

from dialer.campaigns.models import CampaignEntry
from dialer.redis import Keys
from dialer.telephony.carrier import make_twilio_client
from tests import factories
from tests.mock_support import wait_until
from tests.stack_support import VN, Stack, attempts_of, campaign_with_agents


def _campaign(stack: Stack, mode: str, n_agents: int, **settings) -> tuple[int, list[int]]:
    return campaign_with_agents(stack, n_agents, prefix="p", name=mode, dial_mode=mode, **settings)


def test_preview_shows_the_account_then_dials_it_for_that_agent(stack: Stack):
    stack.callees(
        {
            "+84901100001": {"answer": "human", "ring_seconds": 3, "talk_seconds": 20},
            "+84901100002": {"answer": "no-answer", "ring_seconds": 5},
        }
    )
    cid, (agent_id,) = _campaign(stack, "preview", 1)
    assert stack.dial_round() == {cid: 0}  # the pacer never dials a preview campaign

    shown = stack.api("POST", f"/api/agents/{agent_id}/preview")
    assert shown["campaign_id"] == cid and shown["score_components"]
    assert all("0110000" not in p["phone"] for p in shown["phones"])  # masked
    again = stack.api("POST", f"/api/agents/{agent_id}/preview")
    assert again["entry_id"] == shown["entry_id"]  # the same one until dialed or skipped
    r = stack.rt.redis
    assert r.zscore(Keys.dialing(cid), shown["entry_id"]) is not None  # nobody else takes it

    skipped = stack.api("POST", f"/api/agents/{agent_id}/preview/skip")
    assert skipped["skipped"] and r.zscore(Keys.dial_queue(cid), shown["entry_id"]) is not None
    stack.api("POST", f"/api/agents/{agent_id}/preview/skip", 409)  # nothing on screen

    # Dial the no-answer one first: the agent is reserved, then ready again.
    with stack.rt.db.session() as s:
        n_entries = len(s.scalars(select(CampaignEntry)).all())
    for _ in range(n_entries):
        shown = stack.api("POST", f"/api/agents/{agent_id}/preview")
        if shown["phones"][0]["phone"].endswith("002"):
            break
        stack.api("POST", f"/api/agents/{agent_id}/preview/skip")
    stack.api("POST", f"/api/agents/{agent_id}/preview/dial")
    stack.dial_round()
    wait_until(lambda: (a := attempts_of(stack)) and a[0].ended_at, what="the unanswered call")
    (attempt,) = attempts_of(stack)
    assert attempt.result == "no_answer" and attempt.agent_id is None
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "ready", what="agent freed")

    shown = stack.api("POST", f"/api/agents/{agent_id}/preview")
    assert shown["phones"][0]["phone"].endswith("001")
    stack.api("POST", f"/api/agents/{agent_id}/preview/dial")
    stack.dial_round()
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "wrap_up", what="the talk to end")
    answered = attempts_of(stack)[-1]
    assert answered.result == "human" and answered.agent_id == agent_id
    assert stack.api("POST", f"/api/agents/{agent_id}/preview/dial", 409)["error"]


def test_preview_refuses_agents_of_other_modes(stack: Stack):
    with stack.rt.db.begin() as s:
        factories.account(s)
    _, (agent_id,) = _campaign(stack, "progressive", 1)
    refused = stack.api("POST", f"/api/agents/{agent_id}/preview", 409)
    assert "not a running preview campaign" in refused["error"]


def test_predictive_starts_more_calls_than_ready_agents_within_the_line_cap(stack: Stack):
    stack.callees(
        {f"+849012000{i:02d}": {"answer": "no-answer", "ring_seconds": 20} for i in range(12)}
    )
    cid, agents = _campaign(stack, "predictive", 2, max_lines_per_agent=2)
    started = stack.dial_round()[cid]
    wait_until(lambda: stack.rt.redis.zcard(Keys.dialing(cid)) == 0 or True, timeout=1)
    for _ in range(5):
        started += stack.dial_round()[cid]
    assert started > len(agents)  # predictive: more lines than agents ready
    assert stack.rt.redis.zcard(Keys.dialing(cid)) <= 2 * len(agents)  # the line cap holds


def test_agentless_campaign_is_paced_by_calls_per_second(stack: Stack):
    stack.callees(
        {f"+849012500{i:02d}": {"answer": "no-answer", "ring_seconds": 20} for i in range(30)}
    )
    cid, _ = _campaign(stack, "ivr", 0)
    r = stack.rt.redis
    r.hset(Keys.cps_bucket(), mapping={"tokens": "3", "ts": str(stack.rt.now_ts() + 3600)})
    assert stack.dial_round() == {cid: 3}  # only the tokens in the bucket
    assert stack.dial_round() == {cid: 0}


def test_agentless_campaign_greets_without_agents_and_a_hang_up_is_retried(stack: Stack):
    """The borrower hangs up during the greeting: no agent was ever needed, the call is
    HUP (hung up mid-call) and the entry is dialed again later."""
    stack.callees({"+84901300001": {"answer": "human", "ring_seconds": 3, "talk_seconds": 4}})
    cid, _ = _campaign(stack, "ivr", 0, script="nhac-no-mac-dinh")
    assert stack.dial_round() == {cid: 1}
    wait_until(lambda: (a := attempts_of(stack)) and a[0].action_code, what="the reminder call")
    (attempt,) = attempts_of(stack)
    assert (attempt.result, attempt.action_code, attempt.agent_id) == ("hung_up", "HUP", None)
    said = [e["xml"] for e in stack.mock.events(attempt.call_sid) if e["type"] == "twiml"]
    with stack.rt.db.session() as s:
        name = s.get(factories.Account, attempt.account_id).customer_name
    assert any(name in x for x in said)  # greeted by name
    status = stack.api("GET", f"/api/campaigns/{cid}")
    assert status["queued"] == 1 and status["abandoned"] == 0


def test_two_running_campaigns_never_dial_one_account_at_once(stack: Stack):
    """Both IVR campaigns hold the same account; one call reaches it, the other campaign's
    entry waits for a retry time instead of dialing it too."""
    number = "+84901100077"
    stack.callees({number: {"answer": "no-answer", "ring_seconds": 20}})
    first, _ = _campaign(stack, "ivr", 0)
    second, _ = _campaign(stack, "ivr", 0)
    started = stack.dial_round()
    assert started == {first: 1, second: 1}  # both pacers handed the account to a worker
    wait_until(lambda: attempts_of(stack), what="the first call")
    attempts = attempts_of(stack)
    assert len(attempts) == 1 and attempts[0].call_sid
    with stack.rt.db.session() as s:
        waiting = s.scalars(
            select(CampaignEntry).where(CampaignEntry.campaign_id != attempts[0].campaign_id)
        ).one()
    assert waiting.state == "queued" and waiting.not_before is not None
    assert stack.rt.redis.zscore(Keys.retry(waiting.campaign_id), waiting.id) is not None
    # The carrier's own record (through the official client): one call to the number.
    assert len(make_twilio_client(stack.rt.settings).calls.list(to=number)) == 1


def test_uk_ofcom_does_not_redial_a_machine_the_same_day(stack: Stack):
    """An answering machine today: the retry comes round, and the last check before the
    dial stops it (machine_same_day) until the next day's window, with no second call."""
    from dialer.campaigns.models import BlockedDial

    number = "+84901100088"
    stack.callees({number: {"answer": "machine", "ring_seconds": 3}})
    body = {"compliance_profile": "uk-ofcom", "retry_minutes": {"machine": 1}, **factories.CALLER}
    cid, _ = _campaign(stack, "ivr", 0, **body)
    stack.dial_round()
    wait_until(lambda: (a := attempts_of(stack)) and a[0].result, what="the machine's call")
    assert attempts_of(stack)[0].result == "machine"

    def blocked() -> BlockedDial | None:
        stack.dial_round()  # promotes the retry when due, then the job checks the rules
        with stack.rt.db.session() as s:
            return s.scalars(select(BlockedDial)).first()

    block = wait_until(blocked, what="the redial to be stopped")
    assert block.rule == "machine_same_day"
    assert len(attempts_of(stack)) == 1  # no second call
    with stack.rt.db.session() as s:
        entry = s.get(CampaignEntry, block.entry_id)
        local = entry.not_before.astimezone(VN)
    assert entry.state == "queued" and (local.hour, local.minute) == (8, 0)
    assert local.date() > stack.rt.clock.now().astimezone(VN).date()
    status = stack.api("GET", f"/api/campaigns/{cid}")
    assert status["blocked"] == {"machine_same_day": 1}
