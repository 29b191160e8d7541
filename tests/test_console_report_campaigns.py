"""The campaign funnel and the hourly report on a seeded day: figures against SQL counted
here, their CSV and XLSX read back, team B2's lead never sees team B9's campaign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import distinct, func, select

from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry
from dialer.console.reports.common import local_hour_of_quarter, quarter_hour
from dialer.console.reports.funnel import campaign_funnel
from dialer.console.reports.hourly import hourly
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import ActionCode, Disposition, Promise
from tests import factories
from tests.test_console_report_range import TZ, WED, at, csv_rows, signed_in, xlsx_rows


@pytest.fixture
def floor(db):
    """Wednesday: B2's morning campaign (five accounts, four dialed), B2's afternoon one,
    and B9's; Tuesday's call of the morning campaign is outside the day."""
    with db.begin() as s:
        seed_default_codes(s)
        lan = factories.agent(s, team="B2")
        binh = factories.agent(s, team="B2")
        hoa = factories.agent(s, team="B9")
        morning = factories.campaign(s, name="B2 sáng thứ Tư", team="B2")
        afternoon = factories.campaign(s, name="B2 chiều", team="B2")
        other = factories.campaign(s, name="B9 Hà Nội", team="B9")
        a1, a2, a3, a4, a5, a6, a7, a8, a9 = (factories.account(s) for _ in range(9))
        factories.entry(s, campaign=morning, account=a5)  # never dialed

        def call(campaign, acc, hh, mm, answered_by=None, agent=None):
            return factories.call(
                s,
                account=acc,
                campaign_id=campaign.id,
                at=at(WED, hh, mm),
                answered_by=answered_by,
                agent_id=agent.id if agent else None,
            )

        factories.dispose(
            s,
            call(morning, a1, 9, 5, "human", lan),
            "PTP",
            promise_amount=2_000_000,
            due_date=WED + timedelta(2),
            state="kept",
        )
        factories.dispose(s, call(morning, a2, 6, 45), "NKP")  # before the working day
        factories.dispose(s, call(morning, a2, 10, 40, "human", lan), "RTP")
        call(morning, a3, 10, 10, "machine")
        call(morning, a4, 14, 30, "human")  # abandoned: a person answered, no agent
        factories.dispose(
            s,
            call(morning, a4, 15, 0, "human", lan),
            "PTP",
            promise_amount=1_000_000,
            due_date=WED,
            state="broken",
        )
        factories.dispose(s, call(afternoon, a6, 11, 0, "human", binh), "NCP")
        factories.dispose(s, call(afternoon, a7, 11, 30, "human", binh), "CAB")
        # A promise the agent took back: the code corrected to RTP, the promise cancelled
        # (outcomes.service keeps the row): no report counts it as promised.
        factories.dispose(
            s, call(afternoon, a9, 13, 20, "human", binh), "RTP", promise_amount=4_000_000,
            state="cancelled",
        )  # fmt: skip
        factories.dispose(s, call(other, a8, 9, 0, "human", hoa), "PTP", promise_amount=5_000_000)
        tuesday = factories.call(
            s,
            account=a1,
            campaign_id=morning.id,
            at=at(WED - timedelta(1), 9),
            answered_by="human",
            agent_id=lan.id,
        )
        factories.dispose(s, tuesday, "RTP")
        return {"morning": morning.id, "afternoon": afternoon.id, "other": other.id}


def _day():
    return at(WED, 0), at(WED + timedelta(days=1), 0)


def test_the_funnel_counts_accounts_at_each_stage_as_sql_does(session, floor):
    rows = {
        r["campaign_id"]: r for r in campaign_funnel(session, first=WED, last=WED, tz=TZ, team="B2")
    }
    assert set(rows) == {floor["morning"], floor["afternoon"]}  # not B9's
    start, end = _day()
    for cid, row in rows.items():
        calls = (
            CallAttempt.campaign_id == cid,
            CallAttempt.created_at >= start,
            CallAttempt.created_at < end,
        )
        accounts = func.count(distinct(CallAttempt.account_id))
        expected = {
            "accounts": session.scalar(
                select(func.count(distinct(CampaignEntry.account_id))).where(
                    CampaignEntry.campaign_id == cid
                )
            ),
            "dialed": session.scalar(select(accounts).where(*calls)),
            "connected": session.scalar(
                select(accounts).where(
                    *calls, CallAttempt.answered_by == "human", CallAttempt.answered_at.is_not(None)
                )
            ),
            "right_party": session.scalar(
                select(accounts)
                .join(Disposition, Disposition.attempt_id == CallAttempt.id)
                .where(*calls, Disposition.code.in_(("PTP", "RTP", "CAB")))
            ),
            "promised": session.scalar(
                select(accounts)
                .join(Disposition, Disposition.attempt_id == CallAttempt.id)
                .join(Promise, Promise.disposition_id == Disposition.id)
                .where(*calls, Promise.state != "cancelled")
            ),
            "kept": session.scalar(
                select(accounts)
                .join(Disposition, Disposition.attempt_id == CallAttempt.id)
                .join(Promise, Promise.disposition_id == Disposition.id)
                .where(*calls, Promise.state == "kept")
            ),
        }
        assert {k: row[k] for k in expected} == expected
    morning = rows[floor["morning"]]
    assert [morning[k] for k in ("accounts", "dialed", "connected", "right_party")] == [5, 4, 3, 3]
    assert (morning["promised"], morning["kept"]) == (2, 1)
    assert (morning["promised_amount"], morning["kept_amount"]) == (3_000_000, 2_000_000)
    assert morning["penetration"] == 0.8 and morning["connect_rate"] == 0.75
    # One campaign asked for; an administrator's (team None) has B9's too.
    (one,) = campaign_funnel(
        session, first=WED, last=WED, tz=TZ, team="B2", campaign_id=floor["afternoon"]
    )
    assert (one["dialed"], one["right_party"], one["promised"]) == (3, 2, 0)  # one cancelled
    everyone = campaign_funnel(session, first=WED, last=WED, tz=TZ, team=None)
    assert {r["campaign_id"] for r in everyone} == set(floor.values())


def test_hourly_counts_each_local_hour_as_sql_does(session, floor):
    rows = {r["hour"]: r for r in hourly(session, first=WED, last=WED, tz=TZ, team="B2")}
    assert list(rows) == list(range(6, 21))  # 07-20 always, widened to the 06:45 call
    b2 = select(Campaign.id).where(Campaign.team == "B2")
    for hour, row in rows.items():
        start, end = at(WED, hour), at(WED, hour) + timedelta(hours=1)
        calls = session.scalar(
            select(func.count()).where(
                CallAttempt.campaign_id.in_(b2),
                CallAttempt.created_at >= start,
                CallAttempt.created_at < end,
            )
        )
        coded = (
            select(func.count())
            .select_from(Disposition)
            .join(CallAttempt, CallAttempt.id == Disposition.attempt_id)
            .join(ActionCode, ActionCode.code == Disposition.code)
            .where(
                CallAttempt.campaign_id.in_(b2),
                Disposition.created_at >= start,
                Disposition.created_at < end,
            )
        )
        contacts = session.scalar(coded.where(ActionCode.is_contact.is_(True)))
        rpc = session.scalar(coded.where(ActionCode.is_right_party.is_(True)))
        promises, amount = session.execute(
            select(func.count(), func.coalesce(func.sum(Promise.amount), 0))
            .join(Disposition, Disposition.id == Promise.disposition_id)
            .join(CallAttempt, CallAttempt.id == Disposition.attempt_id)
            .where(
                CallAttempt.campaign_id.in_(b2),
                Promise.state != "cancelled",
                Promise.created_at >= start,
                Promise.created_at < end,
            )
        ).one()
        assert (row["calls"], row["contacts"], row["right_party"]) == (calls, contacts, rpc)
        assert (row["promises"], row["promised_amount"]) == (promises, amount)
    assert rows[9]["calls"] == 1 and rows[9]["promises"] == 1  # 09:05 (B9's 09:00 left out)
    assert rows[10]["calls"] == 2 and rows[15]["promised_amount"] == 1_000_000
    assert sum(r["calls"] for r in rows.values()) == 9
    assert rows[13]["promises"] == 0 and rows[13]["right_party"] == 1  # the cancelled one


def test_the_pages_and_files_for_a_lead(process_env, db, redis_client, floor):
    with db.begin() as s:
        lead = factories.user(s, role="lead", team="B2", locale="en").username
    client = signed_in(process_env, lead)
    html = client.get(f"/console/reports/funnel?date={WED}").get_data(as_text=True)
    assert "B2 sáng thứ Tư" in html and "B9 Hà Nội" not in html
    assert 'id="funnel-chart"' in html and "<title" in html
    header, *rows = csv_rows(client, f"/console/reports/funnel.csv?date={WED}")
    assert header[:4] == ["Campaign", "Team", "Accounts", "Dialed"]
    assert sorted(r[0] for r in rows) == ["B2 chiều", "B2 sáng thứ Tư"]
    header, *rows = xlsx_rows(
        client, f"/console/reports/funnel.xlsx?date={WED}&campaign={floor['morning']}"
    )
    (morning,) = rows
    assert morning[0] == "B2 sáng thứ Tư" and morning[header.index("Kept")] == 1
    assert morning[header.index("Kept amount (VND)")] == 2_000_000
    assert morning[header.index("Penetration")] == 0.8
    # Another team's campaign asked for by its id: not found for this lead.
    assert client.get(f"/console/reports/funnel?campaign={floor['other']}").status_code == 404

    html = client.get(f"/console/reports/hourly?date={WED}").get_data(as_text=True)
    assert 'id="hourly-contacts"' in html and 'id="hourly-promises"' in html
    header, *rows = csv_rows(client, f"/console/reports/hourly.csv?date={WED}")
    assert header[:2] == ["Hour", "Calls"] and rows[0][0] == "6"
    header, *rows = xlsx_rows(client, f"/console/reports/hourly.xlsx?date={WED}")
    by_hour = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert by_hour[15]["Promised amount (VND)"] == 1_000_000 and by_hour[10]["Calls"] == 2


@pytest.mark.parametrize("zone", ["Asia/Ho_Chi_Minh", "Asia/Kathmandu", "America/St_Johns"])
def test_the_database_quarter_hour_gives_each_moment_its_local_hour(session, zone):
    """The hourly report groups by UTC quarter hour in SQL: each quarter maps to one local
    hour even where the offset is not whole hours (+05:45, -03:30)."""
    acc = factories.account(session)
    moments = [
        datetime(2026, 12, 2, h, m, s, tzinfo=UTC)
        for h, m, s in ((0, 0, 0), (1, 14, 59), (1, 15, 0), (6, 44, 59), (6, 45, 1), (23, 59, 59))
    ]
    calls = [factories.attempt(session, account=acc) for _ in moments]
    for call, moment in zip(calls, moments, strict=True):
        call.created_at = moment
    session.flush()
    quarters = dict(
        session.execute(
            select(CallAttempt.id, quarter_hour(CallAttempt.created_at)).where(
                CallAttempt.id.in_([c.id for c in calls])
            )
        ).all()
    )
    local = ZoneInfo(zone)
    for call, moment in zip(calls, moments, strict=True):
        assert local_hour_of_quarter(quarters[call.id], local) == moment.astimezone(local).hour
