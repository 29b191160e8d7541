"""Agent KPIs over a range of days: the figures against SQL counted here over the same
local days, the CSV and XLSX read back, a lead sees only their team, an agent gets 403.
The helpers at the end read any report's files back (the other report tests use them)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from dialer.agents.models import PresenceChange
from dialer.app import create_app
from dialer.campaigns.models import CallAttempt
from dialer.console.reports.agents import agent_range
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import ActionCode, Disposition, Promise
from dialer.runtime import Runtime
from tests import factories
from tests.web_support import sign_in

TZ = "Asia/Ho_Chi_Minh"
MON, TUE, WED = date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)
_events = count(1)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    """A local time of the day (UTC+7) as the aware UTC moment SQL holds."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=UTC) - timedelta(hours=7)


def presence(session, agent_id, day, steps):
    """(HH:MM local, to state): the agent's presence log that day."""
    state = "offline"
    for hhmm, after in steps:
        hh, mm = map(int, hhmm.split(":"))
        session.add(
            PresenceChange(
                event_id=f"{next(_events)}-0",
                agent_id=agent_id,
                from_state=state,
                to_state=after,
                at=at(day, hh, mm),
            )
        )
        state = after


@pytest.fixture
def two_days(db):
    """Lan (B2) works Tuesday and Wednesday, Binh (B2) Wednesday only, Hoa (B9) both; a
    call of Lan's on Monday is outside the range."""
    with db.begin() as s:
        seed_default_codes(s)
        lan = factories.user(s, role="agent", team="B2")
        binh = factories.user(s, role="agent", team="B2")
        hoa = factories.user(s, role="agent", team="B9")
        cid = factories.campaign(s, name="B2 tháng 12", team="B2").id
        acc = factories.account(s, customer_name="Lê Thị Thu")
        for day in (TUE, WED):
            # 08:00 ready, 09:00 a 10-minute call, 2 minutes' wrap-up, 10:00 off line.
            presence(
                s,
                lan.agent_id,
                day,
                [
                    ("08:00", "ready"),
                    ("09:00", "on_call"),
                    ("09:10", "wrap_up"),
                    ("09:12", "ready"),
                    ("10:00", "offline"),
                ],
            )
            call = factories.call(
                s,
                account=acc,
                campaign_id=cid,
                at=at(
                    day,
                    8,
                    59,
                ),
                answered_by="human",
                agent_id=lan.agent_id,
                talk_seconds=600,
            )
            factories.dispose(s, call, "PTP", promise_amount=1_500_000, due_date=day + timedelta(3))
        presence(
            s, binh.agent_id, WED, [("13:00", "ready"), ("13:30", "paused"), ("14:00", "offline")]
        )
        rtp = factories.call(
            s,
            account=acc,
            campaign_id=cid,
            at=at(WED, 13, 10),
            answered_by="human",
            agent_id=binh.agent_id,
        )
        factories.dispose(s, rtp, "RTP")
        for day in (TUE, WED):
            presence(s, hoa.agent_id, day, [("08:00", "ready"), ("12:00", "offline")])
        old = factories.call(
            s,
            account=acc,
            campaign_id=cid,
            at=at(MON, 9),
            answered_by="human",
            agent_id=lan.agent_id,
        )
        factories.dispose(s, old, "PTP", promise_amount=9_000_000)
        return {"lan": lan, "binh": binh, "hoa": hoa}


def test_a_range_adds_up_the_days_as_sql_counts_them(session, two_days):
    lan, binh = two_days["lan"], two_days["binh"]
    rows = agent_range(session, first=TUE, last=WED, tz=TZ, team="B2", now=at(WED, 23))
    by_name = {r["agent"]: r for r in rows}
    assert set(by_name) == {lan.name, binh.name}  # not B9's Hoa
    start, end = at(TUE, 0), at(WED + timedelta(days=1), 0)
    for user in (lan, binh):
        row = by_name[user.name]
        calls = session.scalar(
            select(func.count()).where(
                CallAttempt.agent_id == user.agent_id,
                CallAttempt.connected_at >= start,
                CallAttempt.connected_at < end,
            )
        )
        rpc = session.scalar(
            select(func.count())
            .select_from(Disposition)
            .join(ActionCode, ActionCode.code == Disposition.code)
            .where(
                Disposition.agent_id == user.agent_id,
                ActionCode.is_right_party.is_(True),
                Disposition.created_at >= start,
                Disposition.created_at < end,
            )
        )
        promises, amount = session.execute(
            select(func.count(), func.coalesce(func.sum(Promise.amount), 0)).where(
                Promise.agent_id == user.agent_id,
                Promise.created_at >= start,
                Promise.created_at < end,
            )
        ).one()
        assert (row["calls_handled"], row["right_party"]) == (calls, rpc)
        assert (row["promises"], row["promised_amount"]) == (promises, amount)
    lan_row = by_name[lan.name]
    assert (lan_row["calls_handled"], lan_row["promises"]) == (2, 2)  # Monday's left out
    assert lan_row["talk_seconds"] == 2 * 600
    # Each day: 60 + 48 minutes ready, 10 on the call, 2 in wrap-up.
    assert lan_row["ready_seconds"] == 2 * 108 * 60
    assert lan_row["wrap_up_seconds"] == 2 * 2 * 60
    assert lan_row["occupancy"] == round(24 / (24 + 216), 3)
    assert by_name[binh.name]["pause_seconds"] == 30 * 60


def test_the_range_page_and_files(process_env, db, redis_client, two_days):
    with db.begin() as s:
        lead = factories.user(s, role="lead", team="B2", locale="en").username
    client = signed_in(process_env, lead)
    page = client.get(f"/console/reports/agents?from={TUE}&to={WED}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert two_days["lan"].name in html and "3.000.000" in html  # two promises of 1.5 M
    assert two_days["hoa"].name not in html
    header, *rows = csv_rows(client, f"/console/reports/agents.csv?from={TUE}&to={WED}")
    assert header[:3] == ["Agent", "Team", "Calls handled"] and "Talk time (s)" in header
    lan = next(r for r in rows if r[0] == two_days["lan"].name)  # Vietnamese name intact
    assert lan[2] == "2" and lan[header.index("Talk time (s)")] == "1200"
    header, *values = xlsx_rows(client, f"/console/reports/agents.xlsx?from={TUE}&to={WED}")
    lan = next(r for r in values if r[0] == two_days["lan"].name)
    assert lan[header.index("Promised amount (VND)")] == 3_000_000
    assert {r[1] for r in values} == {"B2"}
    # One day through ?date=, and a range the wrong way round is refused.
    one = csv_rows(client, f"/console/reports/agents.csv?date={WED}")
    assert {r[0] for r in one[1:]} == {two_days["lan"].name, two_days["binh"].name}
    assert client.get(f"/console/reports/agents?from={WED}&to={TUE}").status_code == 400


# --- reading any report's files back ------------------------------------------------------


def signed_in(settings, username: str):
    client = create_app(runtime=Runtime(settings)).test_client()
    sign_in(client, username)
    return client


def csv_rows(client, url: str) -> list[list[str]]:
    """The CSV's rows (header first), checked to be UTF-8 with a byte order mark."""
    resp = client.get(url)
    assert resp.status_code == 200, resp.status_code
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert resp.data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))


def xlsx_rows(client, url: str) -> list[list[object]]:
    """The XLSX sheet's rows as values (header first), checked to have the header frozen."""
    resp = client.get(url)
    assert resp.status_code == 200, resp.status_code
    sheet = load_workbook(io.BytesIO(resp.data)).active
    assert sheet.freeze_panes == "A2"
    return [[c.value for c in row] for row in sheet.iter_rows()]
