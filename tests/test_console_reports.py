"""The agent KPI report on a seeded day, its figures checked against SQL counted here, not
against themselves; its CSV and XLSX exports read back."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from dialer.agents.models import PresenceChange
from dialer.app import create_app
from dialer.campaigns.models import CallAttempt
from dialer.console.reports.agents import agent_day
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import Disposition, Promise
from dialer.runtime import Runtime
from tests import factories
from tests.web_support import sign_in

DAY = date(2026, 12, 2)
TZ = "Asia/Ho_Chi_Minh"
OPEN = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 08:00 local
_events = count(1)


def _presence(session, agent_id, steps):
    """(minutes after 08:00, from, to, reason) as the presence log holds them."""
    for minutes, before, after, reason in steps:
        session.add(
            PresenceChange(
                event_id=f"{next(_events)}-0", agent_id=agent_id, from_state=before,
                to_state=after, reason=reason, at=OPEN + timedelta(minutes=minutes),
            )
        )  # fmt: skip


def _call(session, agent_id, account, *, start_min, talk_min, code, amount=None):
    call = factories.attempt(session, account=account, agent_id=agent_id)
    call.connected_at = OPEN + timedelta(minutes=start_min)
    call.ended_at = call.connected_at + timedelta(minutes=talk_min)
    d = Disposition(
        attempt_id=call.id, account_id=account.id, agent_id=agent_id, code=code,
        set_by="agent", created_at=call.ended_at,
    )  # fmt: skip
    session.add(d)
    session.flush()
    if amount:
        session.add(
            Promise(account_id=account.id, disposition_id=d.id, agent_id=agent_id, amount=amount,
                    due_date=DAY + timedelta(days=3), created_at=call.ended_at)
        )  # fmt: skip


@pytest.fixture
def seeded(db):
    with db.begin() as s:
        seed_default_codes(s)
        lan = factories.agent(s, team="B2")
        binh = factories.agent(s, team="B2")
        other = factories.agent(s, team="B9")
        acc = factories.account(s)
        # Lan: on line 08:00-10:00, two calls (PTP 2,000,000 and RTP), a 15-minute break.
        _presence(s, lan.id, [
            (0, "offline", "connecting", None), (0, "connecting", "ready", None),
            (10, "ready", "on_call", None), (20, "on_call", "wrap_up", None),
            (22, "wrap_up", "ready", None), (40, "ready", "paused", "break"),
            (55, "paused", "ready", None), (60, "ready", "on_call", None),
            (65, "on_call", "wrap_up", None), (66, "wrap_up", "ready", None),
            (120, "ready", "offline", None),
        ])  # fmt: skip
        _call(s, lan.id, acc, start_min=10, talk_min=10, code="PTP", amount=2_000_000)
        _call(s, lan.id, acc, start_min=60, talk_min=5, code="RTP")
        # Binh: one call that was not the customer (not right party), 08:00-09:00.
        _presence(s, binh.id, [
            (0, "offline", "ready", None), (30, "ready", "on_call", None),
            (33, "on_call", "ready", None), (60, "ready", "offline", None),
        ])  # fmt: skip
        _call(s, binh.id, acc, start_min=30, talk_min=3, code="NCP")
        # Another team's agent and a call of Lan's the day before: neither in B2's day.
        _presence(s, other.id, [(0, "offline", "ready", None), (30, "ready", "offline", None)])
        _call(s, lan.id, acc, start_min=-24 * 60, talk_min=4, code="PTP", amount=9_000_000)
        return lan, binh


def test_agent_kpis_match_what_sql_holds(session, seeded):
    lan, binh = seeded
    rows = {
        r["agent"]: r
        for r in agent_day(session, day=DAY, tz=TZ, team="B2", now=OPEN + timedelta(days=2))
    }
    assert set(rows) == {lan.name, binh.name}  # not B9's agent
    start, end = OPEN - timedelta(hours=1), OPEN + timedelta(hours=23)  # the local day
    for agent, row in ((lan, rows[lan.name]), (binh, rows[binh.name])):
        calls = session.scalar(
            select(func.count()).where(
                CallAttempt.agent_id == agent.id,
                CallAttempt.connected_at >= start,
                CallAttempt.connected_at < end,
            )
        )
        promises, amount = session.execute(
            select(func.count(), func.coalesce(func.sum(Promise.amount), 0)).where(
                Promise.agent_id == agent.id, Promise.created_at >= start, Promise.created_at < end
            )
        ).one()
        rpc = session.scalar(
            select(func.count()).where(
                Disposition.agent_id == agent.id,
                Disposition.code.in_(("PTP", "RTP")),  # the right-party codes used here
                Disposition.created_at >= start,
                Disposition.created_at < end,
            )
        )
        assert (row["calls_handled"], row["promises"], row["promised_amount"]) == (
            calls,
            promises,
            amount,
        )
        assert row["right_party"] == rpc
    lan_row = rows[lan.name]
    assert (lan_row["calls_handled"], lan_row["right_party"], lan_row["promises"]) == (2, 2, 1)
    assert lan_row["talk_seconds"] == 15 * 60
    assert lan_row["wrap_up_seconds"] == 3 * 60 and lan_row["pause_seconds"] == 15 * 60
    # Busy 15 min on calls + 3 in wrap-up over those plus 87 min waiting ready.
    assert lan_row["ready_seconds"] == 87 * 60
    assert lan_row["occupancy"] == round(18 / (18 + 87), 3)
    assert rows[binh.name]["right_party"] == 0  # NCP: not the customer


def test_the_report_page_and_its_exports(process_env, db, redis_client, seeded):
    with db.begin() as s:
        lead = factories.user(s, role="lead", team="B2").username
        agent = factories.user(s, role="agent", team="B2").username
    app = create_app(runtime=Runtime(process_env))
    client = app.test_client()
    sign_in(client, lead)
    page = client.get(f"/console/reports/agents?date={DAY}").get_data(as_text=True)
    assert "Chỉ số điện thoại viên" in page and "2.000.000" in page
    csv = client.get(f"/console/reports/agents.csv?date={DAY}")
    assert csv.status_code == 200 and csv.data.startswith("\ufeff".encode())
    assert "Cuộc gọi đã xử lý" in csv.data.decode("utf-8-sig").splitlines()[0]
    book = load_workbook(io.BytesIO(client.get(f"/console/reports/agents.xlsx?date={DAY}").data))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert header[0] == "Điện thoại viên" and "Thời gian đàm thoại (s)" in header
    assert sheet.freeze_panes == "A2"
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in values}
    assert len(by_name) == 2
    lan = next(v for v in by_name.values() if v["Số tiền hứa trả (đồng)"] == 2_000_000)
    assert isinstance(lan["Cuộc gọi đã xử lý"], int) and lan["Cuộc gọi đã xử lý"] == 2
    other = app.test_client()
    sign_in(other, agent)
    assert other.get("/console/reports/agents").status_code == 403
