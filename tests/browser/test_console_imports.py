"""A team lead imports a portfolio file in Chromium: the run waits with its progress bar
until a real RQ worker runs it, then the page shows the row report, and the rejected rows
download as a CSV to fix; then the data-quality report, its XLSX downloaded and read."""

from __future__ import annotations

import csv
import io

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="browser tests skipped: playwright is not installed"
)
from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from rq import SimpleWorker

from tests import factories
from tests.browser.support import screenshot
from tests.browser.test_desk import _sign_in
from tests.stack_support import Stack
from tests.test_console_imports import HEADER, ROWS, as_csv
from tests.test_data_quality import _disposition, _phone

pytestmark = pytest.mark.slow


def test_a_lead_imports_a_portfolio_and_reads_the_data_quality_report(stack: Stack, page: Page):
    with stack.rt.db.begin() as s:
        factories.user(s, role="lead", team="B2", username="mai")
        factories.account(s, account_no="HD001", customer_name="Nguyễn Thị Hoa cũ")
        factories.account(s, account_no="KHONGSO", phones=(), overdue=7_500_000)
        lan = factories.agent(s, team="B2")
        lan.name = "Trần Thị Lan"
        wrong = factories.account(s, account_no="HD010", customer_name="Võ Thị Mai")
        retired = _phone(s, wrong, "+84283822123", dialable=False, reason="retired:NCP")
        _disposition(s, wrong, lan, "NCP", {"retired_phone_id": retired.id})
        added = _phone(s, wrong, "+84987654321", relation="mobile")
        _disposition(s, wrong, lan, "NCP", {"added_phone_id": added.id})
    _sign_in(page, stack, "mai")
    page.goto(f"{stack.web}/console/imports")
    expect(page.locator("#import-runs")).to_have_count(0)
    page.locator("input[name=kind][value=portfolio]").check()
    page.locator("#import-file").set_input_files(
        files=[{"name": "danh-muc.csv", "mimeType": "text/csv", "buffer": as_csv([HEADER, *ROWS])}]
    )
    page.locator("#import-submit").click()

    # Queued: the bar waits at 0 of the file's 5 lines until a worker takes the job.
    bar = page.locator("#progress-bar")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("max", "5")
    expect(page.locator("#import-run")).to_have_attribute("data-state", "queued")
    SimpleWorker(stack.rt.queues, connection=stack.rt.redis).work(burst=True)

    # The page follows the run's status and then shows its row report.
    expect(page.locator("#import-report")).to_be_visible()
    expect(bar).to_have_count(0)
    expect(page.locator("#count-imported")).to_have_text("2")
    expect(page.locator("#count-updated")).to_have_text("1")
    expect(page.locator("#count-rejected")).to_have_text("2")
    rejected = page.locator("#rejected-lines tbody tr")
    expect(rejected).to_have_count(2)
    expect(rejected.nth(0)).to_contain_text("HD003")
    expect(rejected.nth(0)).to_contain_text("has a fractional part")
    expect(rejected.nth(1)).to_contain_text("customer_name is empty")
    expect(page.locator("#warning-lines tbody tr")).to_have_count(1)
    screenshot(page, "console-import")

    with page.expect_download() as got:
        page.locator("#rejected-download").click()
    download = got.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), "rb") as fh:
        data = fh.read()
    assert data.startswith(b"\xef\xbb\xbf")
    back = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert back[0] == [*HEADER, "rejected_line", "rejected_reason"]
    assert [row[0] for row in back[1:]] == ["HD003", "HD004"]
    assert [row[-2] for row in back[1:]] == ["4", "5"]
    assert back[2][: len(HEADER)] == ROWS[3]

    page.goto(f"{stack.web}/console/reports/quality")
    expect(page.locator("#count-no_phone .kpi-value")).to_have_text("1")
    expect(page.locator("#count-rejected .kpi-value")).to_have_text("2")
    expect(page.locator("#count-retired .kpi-value")).to_have_text("1")
    expect(page.locator("#agent_numbers-rows")).to_contain_text("+84987654321")
    expect(page.locator("#no_phone-rows tbody tr")).to_have_count(1)
    expect(page.locator("#rejected-rows tbody tr")).to_have_count(2)
    screenshot(page, "console-data-quality")
    with page.expect_download() as got:
        page.locator("#no_phone-xlsx").click()
    with open(got.value.path(), "rb") as fh:
        sheet = load_workbook(io.BytesIO(fh.read())).active
    rows = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    assert [(r[0], r[4]) for r in rows] == [("KHONGSO", 7_500_000)]
