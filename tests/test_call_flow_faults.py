"""The dialer against a misbehaving carrier: every callback duplicated and reordered.

Same stack as test_call_flow (waitress web app, in-process mock carrier, real RQ, SQL and
Redis). The mock's fault log proves the faults really happened; the dialer must still end
each attempt once, with the right result, and leave the agent and the queue consistent.
"""

from __future__ import annotations

from sqlalchemy import func, select

from dialer.campaigns import pacer
from dialer.campaigns.models import CallAttempt
from dialer.outcomes.models import Disposition
from dialer.portfolio.models import Phone
from dialer.redis import Keys
from tests.mock_support import wait_until
from tests.stack_support import Stack, attempts_of, campaign_with_agents


def _faults(stack: Stack, sid: str) -> list[dict]:
    return [e for e in stack.mock.events(sid) if e["type"] == "fault"]


def test_duplicated_and_reordered_callbacks_give_one_consistent_result(stack: Stack):
    stack.callees(
        {
            "+84901000011": {"answer": "human", "ring_seconds": 4, "talk_seconds": 20},
            "+84901000012": {"answer": "busy", "ring_seconds": 3},
            "+84901000013": {"answer": "no-answer"},
        }
    )
    cid, agents = campaign_with_agents(stack, 3)
    stack.mock.set_faults({"duplicate": 1.0, "reorder": 1.0})

    assert stack.dial_round() == {cid: 3}
    wait_until(
        lambda: len(a := attempts_of(stack)) == 3 and all(x.ended_at for x in a),
        timeout=30,
        what="three calls to end",
    )
    assert stack.mock.simulator.dispatcher.wait_idle(15)  # every callback delivered
    by_number = {}
    with stack.rt.db.session() as s:
        rows = s.execute(
            select(CallAttempt, Phone.number).join(Phone, CallAttempt.phone_id == Phone.id)
        )
        for attempt, number in rows:
            by_number[number] = attempt
            faults = _faults(stack, attempt.call_sid)
            # The witness: every status callback was sent twice, and reordered.
            assert {"duplicate", "reorder"} <= {f for e in faults for f in e["faults"]}, faults
    live = by_number["+84901000011"]
    assert (live.result, live.status) == ("human", "completed")  # a late in-progress lost
    assert live.agent_id in agents and live.connected_at is not None
    assert by_number["+84901000012"].result == "busy"
    assert by_number["+84901000013"].result == "no_answer"
    assert all(a.status != "in-progress" for a in by_number.values())

    # Nothing was applied twice: one system disposition per unanswered call, and the
    # agent who took the live call is in wrap-up, the others ready again.
    with stack.rt.db.session() as s:
        assert s.scalar(select(func.count(Disposition.id))) == 2
    states = {a: stack.agent_state(a)["state"] for a in agents}
    assert sorted(states.values()) == ["ready", "ready", "wrap_up"], states
    assert states[live.agent_id] == "wrap_up"
    r = stack.rt.redis
    assert r.zcard(Keys.dialing(cid)) == 0
    wait_until(lambda: r.zcard(Keys.retry(cid)) == 2, what="two retries scheduled")


def test_dropped_status_callbacks_are_reconciled_by_the_pacer(stack: Stack):
    stack.callees(
        {"+84901000021": {"answer": "busy", "ring_seconds": 3},
         "+84901000022": {"answer": "failed", "ring_seconds": 3}}
    )  # fmt: skip
    cid, _agents = campaign_with_agents(stack, 2)
    stack.mock.set_faults({"drop": 1.0, "kinds": ["status-callback"]})

    assert stack.dial_round() == {cid: 2}
    sids = [a.call_sid for a in attempts_of(stack)]
    wait_until(lambda: all(stack.mock.call_log(sid)["end_ts"] for sid in sids), what="calls to end")
    assert all(a.ended_at is None for a in attempts_of(stack))  # nothing told the dialer
    for sid in sids:  # the witness: every status callback of both calls was dropped
        assert all(e["faults"] == ["drop"] for e in _faults(stack, sid))
        assert not [e for e in stack.mock.events(sid) if e.get("kind") == "status-callback"
                    and e["type"] == "webhook"]  # fmt: skip

    # The pacer's own loop finds them overdue and asks the carrier.
    wait_until(
        lambda: pacer.tick(stack.rt) is not None and all(a.ended_at for a in attempts_of(stack)),
        timeout=30,
        what="the pacer to reconcile both calls",
    )
    results = sorted((a.status, a.result) for a in attempts_of(stack))
    assert results == [("busy", "busy"), ("failed", "failed")]
    assert all("callback not received" in a.error for a in attempts_of(stack))
