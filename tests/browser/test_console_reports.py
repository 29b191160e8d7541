"""A team lead opens every report in Chromium from the reports' index, sees its chart or
table, and downloads its CSV and XLSX, which are read back here; another team's rows never
show. Screenshots: console-funnel.png and console-hourly.png (1920x1080)."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="browser tests skipped: playwright is not installed"
)
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests import factories
from tests.browser.support import screenshot
from tests.browser.test_desk import _sign_in
from tests.stack_support import VN, Stack

pytestmark = pytest.mark.slow


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), VN).astimezone(UTC)


def _seed(stack: Stack) -> str:
    """Today (the stack's local day): B2's campaign called 60 accounts from 08:00 to 17:00,
    with promises, payments and referrals over the month; B9's campaign a few. Returns the
    name of B9's agent (who must show nowhere)."""
    today = stack.rt.clock.now().astimezone(VN).date()
    rnd = random.Random(13)
    with stack.rt.db.begin() as s:
        factories.user(s, role="lead", team="B2", username="mai")
        agents = [factories.user(s, role="agent", team="B2").agent_id for _ in range(4)]
        b9_user = factories.user(s, role="agent", team="B9")
        b9_agent = b9_user.agent_id
        b2 = factories.campaign(s, name="B2 sáng thứ Năm", team="B2", state="running")
        b9 = factories.campaign(s, name="B9 Hà Nội", team="B9", state="running")
        for n in range(60):
            acc = factories.account(s, customer_name=f"Nguyễn Thị {n}")
            hour = 8 + n % 10
            answered = rnd.random() < 0.7
            agent = agents[n % 4] if answered and rnd.random() < 0.85 else None
            call = factories.call(
                s,
                account=acc,
                campaign_id=b2.id,
                at=_at(today, hour, n % 50),
                answered_by="human" if answered else None,
                agent_id=agent,
                talk_seconds=120,
            )
            if agent is None:
                continue
            code = rnd.choice(["PTP", "PTP", "RTP", "CAB", "NCP", "LEM"])
            if code == "PTP":
                amount = rnd.choice([1_000_000, 2_500_000, 4_000_000])
                factories.dispose(
                    s, call, "PTP", promise_amount=amount, due_date=today + timedelta(days=2)
                )
            else:
                factories.dispose(s, call, code)
        for n, (kind, state) in enumerate(
            [
                ("field", "open"),
                ("field", "accepted"),
                ("restructuring", "open"),
                ("legal", "closed"),
            ]
        ):
            acc = factories.account(s, customer_name=f"Trần Văn {n}")
            factories.referral(
                s, acc, kind=kind, state=state, referred_by=agents[n], created_at=_at(today, 9)
            )
        # A promise of last week kept by a payment, another broken, one payment unmatched.
        week_ago = today - timedelta(days=7)
        for n, state in enumerate(("kept", "broken")):
            acc = factories.account(s, customer_name=f"Lê Văn {n}")
            call = factories.call(
                s,
                account=acc,
                campaign_id=b2.id,
                at=_at(week_ago, 9),
                answered_by="human",
                agent_id=agents[0],
            )
            factories.dispose(
                s,
                call,
                "PTP",
                promise_amount=3_000_000,
                due_date=week_ago + timedelta(days=2),
                state=state,
            )
            if state == "kept":
                factories.payment(s, acc, amount=3_000_000, paid_on=week_ago + timedelta(days=1))
            else:
                factories.payment(s, acc, amount=800_000, paid_on=today)
        other = factories.account(s, customer_name="Đỗ Thị B9")
        call = factories.call(
            s, account=other, campaign_id=b9.id, at=_at(today, 9), answered_by="human",
            agent_id=b9_agent,
        )  # fmt: skip
        factories.dispose(s, call, "PTP", promise_amount=7_000_000, due_date=today)
        return b9_user.name


def _download(page: Page, which: str) -> Path:
    with page.expect_download() as info:
        page.locator(f"#export-{which}").click()
    download = info.value
    assert download.failure() is None
    return Path(download.path())


def _files(page: Page) -> tuple[list[list[str]], list[list[object]]]:
    """The page's CSV and XLSX downloaded and read back (header first)."""
    raw = _download(page, "csv").read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(_download(page, "xlsx").read_bytes())).active
    assert sheet.freeze_panes == "A2"
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert len(rows) == len(values) and len(rows[0]) == len(values[0])
    return rows, values


def test_a_lead_opens_each_report_and_downloads_its_files(stack: Stack, page: Page):
    b9_agent = _seed(stack)
    page.set_viewport_size({"width": 1920, "height": 1080})
    _sign_in(page, stack, "mai")
    page.goto(f"{stack.web}/console/reports")
    links = page.locator("#report-list a[id^=open-]")
    expect(links).to_have_count(6)

    # The campaign funnel: the chart (an accessible SVG), B2's campaign only.
    page.locator("#open-funnel").click()
    chart = page.locator("#funnel-chart svg[role=img]")
    expect(chart).to_be_visible()
    expect(page.locator("#funnel-chart-title")).to_have_count(1)
    expect(page.locator("#report-rows tbody tr")).to_have_count(1)
    expect(page.locator("#report-rows")).to_contain_text("B2 sáng thứ Năm")
    expect(page.locator("#report-rows")).not_to_contain_text("B9")
    screenshot(page, "console-funnel")
    rows, values = _files(page)
    (campaign,) = values[1:]
    assert campaign[0] == "B2 sáng thứ Năm" and campaign[2] == 62  # 60 today + last week's 2
    assert rows[1][0] == "B2 sáng thứ Năm" and int(rows[1][3]) == 60  # dialed today

    # Contacts and promises by hour: two bar charts, 07:00 to 20:00.
    page.goto(f"{stack.web}/console/reports")
    page.locator("#open-hourly").click()
    expect(page.locator("#hourly-contacts svg")).to_be_visible()
    expect(page.locator("#hourly-promises svg")).to_be_visible()
    expect(page.locator("#report-rows tbody tr")).to_have_count(14)
    screenshot(page, "console-hourly")
    rows, values = _files(page)
    assert sum(int(r[1]) for r in rows[1:]) == 60  # B9's call left out
    assert [r[0] for r in values[1:]] == list(range(7, 21))

    # The others: each page, then its files.
    for slug, check in (
        ("agents", lambda v: len(v) > 1 and all(r[1] == "B2" for r in v[1:])),
        ("promise-age", lambda v: sum(r[1] for r in v[1:]) >= 2),
        ("collected", lambda v: sum(r[2] for r in v[1:]) == 3_800_000),
        ("referrals", lambda v: v[1][1] == 1 and v[1][2] == 1 and v[2][1] == 1),
    ):
        page.goto(f"{stack.web}/console/reports")
        page.locator(f"#open-{slug}").click()
        expect(page.locator(f"#report-{slug}")).to_be_visible()
        rows, values = _files(page)
        assert check(values), (slug, values)
        assert b9_agent not in str(values) and b9_agent not in page.content()

    # A range chosen in the lists: the whole of the last week (the promise age chart).
    page.goto(f"{stack.web}/console/reports/promise-age")
    week_ago = stack.rt.clock.now().astimezone(VN).date() - timedelta(days=7)
    page.locator("#range-from").select_option(week_ago.isoformat())
    page.get_by_role("button", name="Xem").click()
    expect(page.locator("#age-chart svg")).to_be_visible()
    expect(page.locator("#range-from")).to_have_value(week_ago.isoformat())
    expect(page.locator("#report-rows tbody tr")).to_have_count(7)  # every age band
    rows, values = _files(page)
    assert sum(r[1] for r in values[1:]) == sum(int(r[1]) for r in rows[1:]) >= 2
