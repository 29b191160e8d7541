"""A team lead creates a campaign in the browser, the count of matching accounts following
the filters as they change, then launches it; on its page sees the entries in dial order
and one explained, the blocked dials, saves it as a daily template and disables that."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

pytest.importorskip(
    "playwright.sync_api", reason="browser tests skipped: playwright is not installed"
)
from playwright.sync_api import Page, expect

from dialer.campaigns.models import Campaign
from tests import factories
from tests.browser.support import screenshot
from tests.browser.test_desk import _sign_in
from tests.stack_support import Stack

pytestmark = pytest.mark.slow


def test_a_lead_creates_a_campaign_with_the_live_count_and_launches_it(stack: Stack, page: Page):
    with stack.rt.db.begin() as s:
        factories.user(s, role="lead", team="B2", username="mai")
        chosen = factories.user(s, role="agent", team="B2", name="Lê Thu Hà").agent_id
        factories.user(s, role="agent", team="B2", name="Vũ Minh Tâm")
        factories.user(s, role="agent", team="B3", name="Ngô Văn Khải")  # another team
        for n, dpd in enumerate((10, 40, 45, 50, 75, 200)):
            factories.account(s, dpd=dpd, phones=((f"+8490555000{n}", "mobile"),))
        factories.account(s, dpd=42, status="closed")
    _sign_in(page, stack, "mai")
    page.goto(f"{stack.web}/console/campaigns")
    matching = page.locator("#matching")
    expect(matching).to_have_text("6")  # every active account with a phone
    expect(page.locator("#excluded")).to_contain_text("hồ sơ đã đóng 1")
    page.get_by_label("B2").check()  # 31-60 days past due
    expect(matching).to_have_text("3")
    page.get_by_label("Số ngày quá hạn đến").fill("44")
    expect(matching).to_have_text("1")
    page.get_by_label("Số ngày quá hạn từ").fill("90")  # above the "to": refused at the field
    expect(page.locator("#form-error")).to_contain_text("lớn hơn")  # in Vietnamese
    expect(page.locator("label.invalid")).to_have_count(2)
    page.get_by_label("Số ngày quá hạn từ").fill("")
    expect(matching).to_have_text("1")
    page.get_by_label("Tên", exact=True).fill("B2 sáng thứ Năm")
    page.get_by_label("Gọi từ").fill("08:00")
    page.get_by_label("Gọi đến").fill("17:30")
    page.get_by_label("Số cuộc gọi tối đa mỗi hồ sơ", exact=True).fill("5")
    page.get_by_label("Gọi lại sau khi không nghe máy (phút)").fill("45")
    agents = page.locator("#agent-choice label")
    expect(agents).to_have_count(2)  # the lead's own team only
    agents.filter(has_text="Lê Thu Hà").locator("input").check()
    screenshot(page, "console-campaign-form")
    page.get_by_role("button", name="Tạo chiến dịch").click()
    row = page.locator("#campaign-list tr", has_text="B2 sáng thứ Năm")
    expect(row.locator(".state")).to_have_text("nháp")
    row.get_by_role("button", name="Khởi chạy").click()
    row = page.locator("#campaign-list tr", has_text="B2 sáng thứ Năm")
    expect(row.locator(".state")).to_have_text("đang chạy")
    made = stack.api("GET", f"/api/campaigns/{row.get_attribute('data-campaign')}")
    assert made["entries"] == 1 and made["state"] == "running"
    with stack.rt.db.session() as s:
        saved = s.get(Campaign, made["id"])
        assert saved.agent_ids == [chosen] and saved.retry_minutes == {"no_answer": 45}
        assert saved.max_attempts_per_entry == 5 and saved.team == "B2"

    # Its page: the entries in dial order, one explained component by component.
    row.get_by_role("link", name="B2 sáng thứ Năm").click()
    entries = page.locator("#entry-list tbody tr")
    expect(entries).to_have_count(1)
    expect(entries.first.locator("td").first).to_have_text("1")
    entries.first.get_by_role("link").click()
    explanation = page.locator("#explanation")
    expect(explanation).to_contain_text("nhóm nợ B2")  # the bucket line, in Vietnamese
    expect(explanation.locator("li")).to_have_count(7)
    expect(page.locator("#blocked")).to_be_visible()
    screenshot(page, "console-campaign", full_page=True)
    with page.expect_download() as info:
        page.locator("#export-entries-xlsx").click()
    sheet = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:3] == ["Vị trí", "Hồ sơ", "Khách hàng"] and len(rows) == 2
    assert rows[1][0] == 1 and rows[1][4] == 5_000_000  # real numbers
    with page.expect_download() as info:
        page.locator("#export-blocked-csv").click()
    raw = Path(info.value.path()).read_bytes()
    assert raw.startswith("\ufeff".encode()) and "Quy tắc" in raw.decode("utf-8-sig")

    # The dial queue rebuilt from SQL: the page comes back with the campaign still running.
    with page.expect_navigation():  # the page reloads once the API has answered
        page.get_by_role("button", name="Dựng lại hàng đợi").click()
    expect(page.locator("#action-error")).to_be_hidden()
    expect(page.locator(".chip.state-running")).to_be_visible()

    # Saved as a daily template, which the list then shows with its next launch.
    form = page.locator("#template-form")
    form.get_by_label("Tên").fill("B2 hằng ngày")
    form.get_by_label("Khởi chạy lúc").fill("7:00")  # not HH:MM: refused
    form.get_by_role("button").click()
    expect(page.locator("#template-error")).to_contain_text("HH:MM")
    form.get_by_label("Khởi chạy lúc").fill("07:30")
    form.get_by_role("button").click()
    expect(page.locator("#template-error")).to_contain_text("Đã lưu")
    page.goto(f"{stack.web}/console/campaigns")
    template = page.locator("#template-list tr", has_text="B2 hằng ngày")
    expect(template.locator(".next-launch")).to_contain_text("07:30")
    # Run today's launch now: a second campaign appears in the list.
    template.get_by_role("button", name="Chạy hôm nay").click()
    expect(page.locator("#campaign-list tbody tr")).to_have_count(2)
    template = page.locator("#template-list tr", has_text="B2 hằng ngày")
    template.get_by_role("button", name="Tắt").click()
    template = page.locator("#template-list tr", has_text="B2 hằng ngày")
    expect(template.locator(".next-launch")).to_have_text("đã tắt")
