"""Promises kept by age, and collected amounts matched to promises, on a seeded month:
figures against SQL counted here, the CSV and XLSX read back, team B2's lead never sees
team B9's promises or payments."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from dialer.agents.models import Agent
from dialer.console.reports.collected import collected
from dialer.console.reports.promise_age import BANDS, kept_by_age
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import Promise
from dialer.outcomes.promises import KeptRule
from dialer.portfolio.models import Payment
from tests import factories
from tests.test_console_report_range import TZ, at, csv_rows, signed_in, xlsx_rows

FIRST, LAST = date(2026, 12, 1), date(2026, 12, 20)
TODAY = date(2026, 12, 20)
RULE = KeptRule(kept_share=1.0, grace_days=2)
GRACE = 2  # PTP's own grace days, the same as the rule's


@pytest.fixture
def month(db):
    with db.begin() as s:
        seed_default_codes(s)
        lan = factories.agent(s, team="B2")
        binh = factories.agent(s, team="B2")
        hoa = factories.agent(s, team="B9")
        cid = factories.campaign(s, name="B2", team="B2").id
        accounts = [factories.account(s, customer_name=f"Võ Thị {n}") for n in range(10)]

        def promise(n, agent, made, due, state, amount=1_000_000, kind="promise"):
            call = factories.call(
                s,
                account=accounts[n],
                campaign_id=cid,
                at=at(made, 9, n),
                answered_by="human",
                agent_id=agent.id,
            )
            code = "PTP" if kind == "promise" else "PAID"
            factories.dispose(
                s, call, code, promise_amount=amount, due_date=due, state=state, kind=kind
            )

        promise(1, lan, date(2026, 12, 1), date(2026, 12, 3), "kept", 2_000_000)
        promise(2, lan, date(2026, 12, 1), date(2026, 12, 5), "broken")
        promise(3, lan, date(2026, 12, 10), date(2026, 12, 12), "broken")
        promise(4, binh, date(2026, 12, 14), date(2026, 12, 16), "broken")
        promise(4, lan, date(2026, 12, 15), date(2026, 12, 17), "kept")  # the later of two
        promise(5, lan, date(2026, 12, 18), date(2026, 12, 19), "pending")
        promise(6, binh, date(2026, 12, 19), date(2026, 12, 24), "pending", 3_000_000)
        promise(7, hoa, date(2026, 12, 19), date(2026, 12, 22), "pending")  # team B9
        promise(8, lan, date(2026, 11, 20), date(2026, 11, 25), "kept")  # made before the range
        promise(2, lan, date(2026, 12, 2), date(2026, 12, 2), "kept", kind="paid_claim")
        promise(3, lan, date(2026, 12, 11), date(2026, 12, 30), "cancelled")

        def paid(n, day, amount):
            factories.payment(s, accounts[n], amount=amount, paid_on=day)

        paid(1, date(2026, 12, 3), 2_000_000)  # promise 1's window: matched, Lan
        paid(2, date(2026, 12, 9), 500_000)  # after promise 2's window: Lan's last call
        paid(3, date(2026, 12, 11), 300_000)  # in a window of a promise later broken
        paid(4, date(2026, 12, 16), 1_000_000)  # two windows: the later promise (Lan's)
        paid(9, date(2026, 12, 5), 700_000)  # nobody ever called: nobody credited
        paid(7, date(2026, 12, 19), 400_000)  # B9's promise
        paid(1, date(2026, 12, 21), 900_000)  # after the range
        return {"lan": lan, "binh": binh, "hoa": hoa}


def _in_band(band, basis):
    """The SQL condition of an age band: on the due date, or on the day made (UTC bounds
    of local days)."""
    newest = TODAY - timedelta(days=band.low) if band.low is not None else None
    oldest = TODAY - timedelta(days=band.high) if band.high is not None else None
    if basis == "due":
        conds = []
        if band.low is None:
            return [Promise.due_date > TODAY]
        conds.append(Promise.due_date <= newest)
        if oldest is not None:
            conds.append(Promise.due_date >= oldest)
        return conds
    conds = [Promise.created_at < at(newest + timedelta(days=1), 0)]
    if oldest is not None:
        conds.append(Promise.created_at >= at(oldest, 0))
    return conds


@pytest.mark.parametrize("basis", ["due", "made"])
def test_kept_by_age_counts_each_band_as_sql_does(session, month, basis):
    rows = kept_by_age(session, first=FIRST, last=LAST, tz=TZ, team="B2", today=TODAY, basis=basis)
    bands = [b for b in BANDS if basis == "due" or b.low is not None]
    assert [r["band"] for r in rows] == [b.label for b in bands]
    b2 = select(Agent.id).where(Agent.team == "B2")
    for band, row in zip(bands, rows, strict=True):
        counted = dict(
            session.execute(
                select(Promise.state, func.count())
                .where(
                    Promise.kind == "promise",
                    Promise.agent_id.in_(b2),
                    Promise.created_at >= at(FIRST, 0),
                    Promise.created_at < at(LAST + timedelta(days=1), 0),
                    *_in_band(band, basis),
                )
                .group_by(Promise.state)
            ).all()
        )
        assert (row["kept"], row["broken"], row["pending"]) == (
            counted.get("kept", 0),
            counted.get("broken", 0),
            counted.get("pending", 0),
        ), band.label
    by_band = {r["band"]: r for r in rows}
    if basis == "due":
        assert by_band["<0"]["pending"] == 1 and by_band["<0"]["promised_amount"] == 3_000_000
        assert (by_band["3-7"]["kept"], by_band["3-7"]["broken"]) == (1, 1)
        assert by_band["3-7"]["kept_rate"] == 0.5
        assert by_band["15-30"]["kept_amount"] == 2_000_000
    assert sum(r["promises"] for r in rows) == 7  # not B9's, November's, claims, cancelled


def _matched_ids(session) -> set[int]:
    """Payment ids in some promise's window (made day .. due + grace), found with SQL per
    promise (kind promise, not cancelled)."""
    ids: set[int] = set()
    for account_id, created_at, due in session.execute(
        select(Promise.account_id, Promise.created_at, Promise.due_date).where(
            Promise.kind == "promise", Promise.state != "cancelled"
        )
    ):
        made = (created_at + timedelta(hours=7)).date()
        ids |= set(
            session.scalars(
                select(Payment.id).where(
                    Payment.account_id == account_id,
                    Payment.paid_on >= made,
                    Payment.paid_on <= due + timedelta(days=GRACE),
                )
            )
        )
    return ids


def test_collected_matches_payments_to_promise_windows_as_sql_does(session, month):
    everyone = collected(session, first=FIRST, last=LAST, tz=TZ, team=None, rule=RULE)
    assert [r["day"] for r in everyone] == [FIRST + timedelta(days=n) for n in range(20)]
    matched = _matched_ids(session)
    for row in everyone:
        n, amount = session.execute(
            select(func.count(), func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.paid_on == row["day"]
            )
        ).one()
        m, matched_amount = session.execute(
            select(func.count(), func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.paid_on == row["day"], Payment.id.in_(matched)
            )
        ).one()
        assert (row["payments"], row["collected_amount"]) == (n, amount)
        assert (row["matched_payments"], row["matched_amount"]) == (m, matched_amount)
        assert row["unmatched_amount"] == amount - matched_amount
    assert sum(r["matched_amount"] for r in everyone) == 2_000_000 + 300_000 + 1_000_000 + 400_000

    by_agent = {
        r["agent"]: r
        for r in collected(
            session, first=FIRST, last=LAST, tz=TZ, team="B2", rule=RULE, group="agent"
        )
    }
    lan = month["lan"].name
    assert set(by_agent) == {lan}  # Binh's older promise lost the payment to Lan's later one
    assert by_agent[lan]["matched_amount"] == 3_300_000
    assert by_agent[lan]["unmatched_amount"] == 500_000  # after the window: Lan called last
    admin = {
        r["agent"]: r
        for r in collected(
            session, first=FIRST, last=LAST, tz=TZ, team=None, rule=RULE, group="agent"
        )
    }
    assert admin[None]["unmatched_amount"] == 700_000
    assert admin[month["hoa"].name]["matched_amount"] == 400_000
    b2_days = collected(session, first=FIRST, last=LAST, tz=TZ, team="B2", rule=RULE)
    assert sum(r["collected_amount"] for r in b2_days) == 3_800_000  # no B9, nobody's


def test_the_pages_and_files_for_a_lead(process_env, db, redis_client, month):
    with db.begin() as s:
        lead = factories.user(s, role="lead", team="B2", locale="en").username
    client = signed_in(process_env, lead)
    span = f"from={FIRST}&to={LAST}"
    html = client.get(f"/console/reports/promise-age?{span}").get_data(as_text=True)
    assert 'id="age-chart"' in html and "Not yet due" in html
    # Ages are counted to the real today here: every promise is in some band by due date.
    header, *rows = csv_rows(client, f"/console/reports/promise-age.csv?{span}")
    assert header[0] == "Days past the due date" and header[2] == "Kept"
    assert sum(int(r[1]) for r in rows) == 7
    header, *_ = csv_rows(client, f"/console/reports/promise-age.csv?{span}&basis=made")
    assert header[0] == "Days since the promise was made"
    header, *rows = xlsx_rows(client, f"/console/reports/promise-age.xlsx?{span}")
    assert sum(r[header.index("Promised amount (VND)")] for r in rows) == 10_000_000
    assert client.get(f"/console/reports/promise-age?{span}&basis=what").status_code == 400

    html = client.get(f"/console/reports/collected?{span}").get_data(as_text=True)
    assert 'id="collected-chart"' in html and "3.800.000" in html  # the total row
    header, *rows = csv_rows(client, f"/console/reports/collected.csv?{span}")
    assert header[0] == "Day paid" and rows[0][0] == "2026-12-01" and len(rows) == 20
    header, *rows = xlsx_rows(client, f"/console/reports/collected.xlsx?{span}&group=agent")
    (lan,) = rows
    assert lan[0] == month["lan"].name and lan[1] == "B2"
    assert lan[header.index("Matched amount (VND)")] == 3_300_000
    header, *days = xlsx_rows(client, f"/console/reports/collected.xlsx?{span}")
    assert days[2][0].date() == date(2026, 12, 3)  # a date cell
    assert days[2][header.index("Collected (VND)")] == 2_000_000
