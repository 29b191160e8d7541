"""Referral worklists by kind and state against SQL counted here, the files read back; and
for every report: staff only (an agent gets 403, nobody signed in goes to the sign-in
page), the index lists them all."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from dialer.agents.models import Agent
from dialer.app import create_app
from dialer.console.reports.referral_lists import referrals_by_kind
from dialer.console.reports.views import REPORTS
from dialer.outcomes.catalogue import REFERRAL_KINDS
from dialer.outcomes.models import Referral
from dialer.runtime import Runtime
from tests import factories
from tests.test_console_report_range import TZ, at, csv_rows, signed_in, xlsx_rows

FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)


@pytest.fixture
def referred(db):
    with db.begin() as s:
        lan = factories.agent(s, team="B2")
        hoa = factories.agent(s, team="B9")
        acc = factories.account(s, customer_name="Phan Văn Đức")
        for kind, state, who, day in (
            ("field", "open", lan, date(2026, 11, 3)),
            ("field", "open", lan, date(2026, 11, 20)),
            ("field", "accepted", lan, date(2026, 11, 1)),
            ("field", "returned", lan, date(2026, 10, 30)),  # before the range
            ("restructuring", "closed", lan, date(2026, 11, 10)),
            ("restructuring", "withdrawn", lan, date(2026, 11, 11)),
            ("legal", "open", hoa, date(2026, 11, 5)),  # team B9
            ("legal", "returned", lan, date(2026, 11, 28)),
            ("field", "open", None, date(2026, 11, 6)),  # the system's (CFF): no agent
        ):
            factories.referral(
                s,
                acc,
                kind=kind,
                state=state,
                referred_by=who.id if who else None,
                created_at=at(day, 10),
            )
        return {"lan": lan, "hoa": hoa}


def test_referrals_by_kind_and_state_as_sql_counts_them(session, referred):
    today = date(2026, 12, 1)
    rows = referrals_by_kind(session, first=FIRST, last=LAST, tz=TZ, team="B2", today=today)
    assert [r["kind"] for r in rows] == list(REFERRAL_KINDS)
    b2 = select(Agent.id).where(Agent.team == "B2")
    for row in rows:
        counted = dict(
            session.execute(
                select(Referral.state, func.count())
                .where(
                    Referral.kind == row["kind"],
                    Referral.referred_by.in_(b2),
                    Referral.created_at >= at(FIRST, 0),
                    Referral.created_at < at(LAST + timedelta(days=1), 0),
                )
                .group_by(Referral.state)
            ).all()
        )
        for state in ("open", "accepted", "returned", "closed", "withdrawn"):
            assert row[state] == counted.get(state, 0), (row["kind"], state)
        assert row["total"] == sum(counted.values())
    field = rows[0]
    assert (field["open"], field["accepted"], field["total"]) == (2, 1, 3)
    assert field["oldest_held"] == date(2026, 11, 1) and field["oldest_held_days"] == 30
    assert rows[2]["oldest_held"] is None  # B2's legal referral was returned
    everyone = referrals_by_kind(session, first=FIRST, last=LAST, tz=TZ, team=None, today=today)
    assert everyone[0]["open"] == 3 and everyone[2]["open"] == 1


def test_the_page_and_files(process_env, db, redis_client, referred):
    with db.begin() as s:
        lead = factories.user(s, role="lead", team="B2", locale="en").username
    client = signed_in(process_env, lead)
    span = f"from={FIRST}&to={LAST}"
    html = client.get(f"/console/reports/referrals?{span}").get_data(as_text=True)
    assert 'id="referrals-chart"' in html and "Field collection" in html
    header, *rows = csv_rows(client, f"/console/reports/referrals.csv?{span}")
    assert header[:3] == ["Referred to", "Open", "Accepted"]
    assert rows[0][:4] == ["Field collection", "2", "1", "0"] and rows[0][7] == "2026-11-01"
    header, *rows = xlsx_rows(client, f"/console/reports/referrals.xlsx?{span}")
    legal = next(r for r in rows if r[0] == "Legal")
    assert legal[header.index("Open")] == 0 and legal[header.index("Returned")] == 1
    field = rows[0]
    assert field[header.index("Oldest still open or accepted")].date() == date(2026, 11, 1)


def test_every_report_is_for_staff_only(process_env, db, redis_client):
    with db.begin() as s:
        lead = factories.user(s, role="lead", team="B2").username
        admin = factories.user(s, role="admin").username
        agent = factories.user(s, role="agent", team="B2").username
    as_lead, as_admin = signed_in(process_env, lead), signed_in(process_env, admin)
    as_agent = signed_in(process_env, agent)
    index = as_lead.get("/console/reports").get_data(as_text=True)
    for report in REPORTS:
        assert f'href="/console/reports/{report.slug}"' in index
        for path in (f"/{report.slug}", f"/{report.slug}.csv", f"/{report.slug}.xlsx"):
            url = f"/console/reports{path}"
            assert as_lead.get(url).status_code == 200, url
            assert as_admin.get(url).status_code == 200, url
            assert as_agent.get(url).status_code == 403, url
        assert as_lead.get(f"/console/reports/{report.slug}.pdf").status_code == 404
        assert as_lead.get(f"/console/reports/{report.slug}?from=2026-13-01").status_code == 400
    assert as_agent.get("/console/reports").status_code == 403
    nobody = create_app(runtime=Runtime(process_env)).test_client()
    assert nobody.get("/console/reports/funnel").status_code in (302, 401)
