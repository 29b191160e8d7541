"""The wallboard's figures against counts taken straight from SQL and Redis on a seeded
moment: a team lead's board holds their team only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from dialer.agents import presence
from dialer.agents.models import Agent
from dialer.campaigns.models import CallAttempt
from dialer.console.wallboard import snapshot
from dialer.outcomes.models import Alert, Promise
from tests import factories

NOW = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)  # 11:00 in Ho Chi Minh City
TZ = "Asia/Ho_Chi_Minh"


def test_the_wallboard_counts_what_sql_and_redis_hold(session, redis_client):
    b2 = factories.campaign(session, team="B2", state="running", wrap_up_seconds=60)
    b9 = factories.campaign(session, team="B9", state="running")
    ours = [factories.agent(session, team="B2") for _ in range(4)]
    theirs = factories.agent(session, team="B9")
    now = NOW.timestamp()
    for agent in (*ours, theirs):
        presence.set_connecting(
            redis_client, agent.id, b2.id if agent in ours else b9.id, "", now - 300
        )
        presence.connected(redis_client, agent.id, now - 300)
    presence.pause(redis_client, ours[3].id, "lunch", now - 120)
    account = factories.account(session)
    # Calls of B2: one connected and still on, one ringing, one over.
    on = factories.attempt(session, account=account, agent_id=ours[0].id, campaign_id=b2.id)
    on.connected_at = NOW - timedelta(minutes=2)
    ringing = factories.attempt(session, account=factories.account(session), campaign_id=b2.id)
    ringing.status = "ringing"
    done = factories.attempt(session, account=factories.account(session), campaign_id=b2.id)
    done.ended_at = NOW - timedelta(minutes=10)
    factories.attempt(session, account=factories.account(session), campaign_id=b9.id)  # B9's
    # Promises: two of B2 today, one of B2 yesterday, one of B9 today.
    for agent, made, amount in (
        (ours[0], NOW - timedelta(hours=1), 1_000_000),
        (ours[1], NOW - timedelta(hours=3), 2_500_000),
        (ours[1], NOW - timedelta(days=1), 9_000_000),
        (theirs, NOW - timedelta(hours=1), 7_000_000),
    ):
        p = factories.promise(session, account, amount=amount, created_at=made)
        p.agent_id = agent.id
    session.add_all(
        [
            Alert(kind="GSF", label="Nghi ngờ gian lận", account_id=account.id, team="B2"),
            Alert(kind="GSF", label="Nghi ngờ gian lận", account_id=account.id, team="B9"),
        ]
    )
    session.commit()

    board = snapshot(session, redis_client, team="B2", now=NOW, tz=TZ)

    day_start = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)  # 00:00 on 03/12 in Vietnam
    team_ids = select(Agent.id).where(Agent.team == "B2")
    promises, amount = session.execute(
        select(func.count(), func.sum(Promise.amount)).where(
            Promise.created_at >= day_start, Promise.agent_id.in_(team_ids)
        )
    ).one()
    assert (board["promises"], board["promised_amount"]) == (promises, amount) == (2, 3_500_000)
    open_b2 = select(func.count()).where(
        CallAttempt.campaign_id == b2.id, CallAttempt.ended_at.is_(None)
    )
    assert board["connected"] == session.scalar(
        open_b2.where(CallAttempt.connected_at.is_not(None))
    )
    assert board["ringing"] == session.scalar(open_b2.where(CallAttempt.connected_at.is_(None)))
    assert (board["connected"], board["ringing"]) == (1, 1)
    assert {a["id"] for a in board["agents"]} == {a.id for a in ours}  # not B9's agent
    assert board["by_state"]["ready"] == 3 and board["by_state"]["paused"] == 1
    lunch = next(a for a in board["agents"] if a["id"] == ours[3].id)
    assert (lunch["state"], lunch["pause_reason"], lunch["seconds"]) == ("paused", "lunch", 120)
    assert board["dial_level"] == round(2 / 3, 2)  # two lines over three agents working
    assert [c["id"] for c in board["campaigns"]] == [b2.id]
    assert [a["team"] for a in board["alerts"]] == ["B2"]
    everyone = snapshot(session, redis_client, team=None, now=NOW, tz=TZ)
    assert everyone["promises"] == 3 and len(everyone["agents"]) == 5
