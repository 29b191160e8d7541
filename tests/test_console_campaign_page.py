"""One campaign's console page and its files: the entries in dial order a key-set page at a
time (the order and places checked against SQL sorted here), one account explained in the
reader's language, the blocked dials by rule, both as CSV and XLSX; other teams and agents
refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dialer.campaigns import reports
from dialer.campaigns.models import CampaignEntry
from dialer.outcomes.catalogue import seed_default_codes
from tests import factories
from tests.test_console_report_range import csv_rows, signed_in, xlsx_rows

VN = "Asia/Ho_Chi_Minh"
ENTRIES = 57  # more than a page (50)


@pytest.fixture
def campaign(process_env, db, redis_client):
    with db.begin() as s:
        seed_default_codes(s)
        factories.user(s, role="lead", team="B2", username="mai")
        factories.user(s, role="lead", team="B3", username="tuan")
        factories.user(s, role="agent", team="B2", username="lan")
        c = factories.campaign(s, name="B2 sáng", team="B2")
        for n in range(ENTRIES):
            acc = factories.account(s, account_no=f"CP-{n:03}", overdue=1_000_000 * (n + 1))
            entry = factories.entry(
                s, campaign=c, account=acc, score=float(n % 7), rank=None if n % 9 == 0 else n,
                state="done" if n % 4 == 0 else "queued",
            )  # fmt: skip
            if n % 10 == 0:
                factories.blocked_dial(
                    s, entry=entry, rule="dnc" if n % 20 == 0 else "calling_window",
                    at=datetime(2026, 12, 2, 3, tzinfo=UTC) + timedelta(minutes=n),
                )  # fmt: skip
        return c.id


def _dial_order(db, campaign_id):
    with db.session() as s:
        rows = s.execute(
            select(
                CampaignEntry.id, CampaignEntry.account_id, CampaignEntry.score,
                CampaignEntry.rank, CampaignEntry.state,
            ).where(CampaignEntry.campaign_id == campaign_id)
        ).all()  # fmt: skip
    return sorted(rows, key=lambda r: (-r.score, r.rank is None, r.rank or 0, r.id))


def test_the_page_walks_the_entries_and_explains_one(settings, db, campaign):
    order = _dial_order(db, campaign)
    client = signed_in(settings, "mai")
    first = client.get(f"/console/campaigns/{campaign}")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert html.count('data-entry="') == 50
    assert f'data-entry="{order[0].id}"' in html and f'data-entry="{order[50].id}"' not in html
    # The next page starts after the last entry of this one, at place 51.
    second = client.get(f"/console/campaigns/{campaign}?after={order[49].id}:50")
    html = second.get_data(as_text=True)
    assert html.count('data-entry="') == ENTRIES - 50
    assert f'<tr data-entry="{order[50].id}">\n          <td>51</td>' in html
    # One account's place and each component in Vietnamese.
    with db.session() as s:
        account_no = s.scalar(
            select(factories.Account.account_no)
            .join(CampaignEntry, CampaignEntry.account_id == factories.Account.id)
            .where(CampaignEntry.id == order[2].id)
        )
    explained = client.get(f"/console/campaigns/{campaign}?account={account_no}")
    html = explained.get_data(as_text=True)
    assert "ở vị trí 3" in html and "hôm nay chưa gọi: 0" in html
    assert "không có hồ sơ" not in html
    missing = client.get(f"/console/campaigns/{campaign}?account=NOPE").get_data(as_text=True)
    assert "no account NOPE" in missing
    # Blocked dials by rule, counted as SQL holds them.
    assert 'data-rule="dnc"><td>không được gọi (DNC)</td><td class="amount">3</td>' in html
    assert client.get(f"/console/campaigns/{campaign}?after=bad").status_code == 400
    assert client.get(f"/console/campaigns/{campaign}?state=ringing").status_code == 400


def test_every_entry_in_dial_order_as_csv_and_xlsx(settings, db, campaign):
    order = _dial_order(db, campaign)
    client = signed_in(settings, "mai")
    rows = csv_rows(client, f"/console/campaigns/{campaign}/entries.csv")
    assert rows[0][:3] == ["Vị trí", "Hồ sơ", "Khách hàng"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, ENTRIES + 1))
    with db.session() as s:
        by_id = {e.id: s.get(factories.Account, e.account_id).account_no for e in order}
    assert [r[1] for r in rows[1:]] == [by_id[e.id] for e in order]
    sheet = xlsx_rows(client, f"/console/campaigns/{campaign}/entries.xlsx?state=done")
    done = [e for e in order if e.state == "done"]
    places = {e.id: n for n, e in enumerate(order, start=1)}
    assert [r[0] for r in sheet[1:]] == [places[e.id] for e in done]  # places in the whole
    assert all(isinstance(r[4], int) for r in sheet[1:])  # overdue as a number
    assert {r[5] for r in sheet[1:]} == {"xong"}
    blocked = xlsx_rows(client, f"/console/campaigns/{campaign}/blocked.xlsx")
    assert len(blocked) == 1 + 6
    assert (
        sorted(r[4] for r in blocked[1:])
        == ["không được gọi (DNC)"] * 3 + ["ngoài khung giờ gọi"] * 3
    )
    assert all("*" in r[3] for r in blocked[1:])  # phones masked
    csv_blocked = csv_rows(client, f"/console/campaigns/{campaign}/blocked.csv")
    assert len(csv_blocked) == 7


def test_iter_entries_reads_key_set_chunks(db, campaign):
    order = _dial_order(db, campaign)
    with db.session() as s:
        walked = list(reports.iter_entries(s, campaign, tz=VN, chunk=8))
        queued = list(reports.iter_entries(s, campaign, tz=VN, state="queued", chunk=5))
    assert [e["entry_id"] for e in walked] == [e.id for e in order]
    assert [e["position"] for e in walked] == list(range(1, ENTRIES + 1))
    places = {e.id: n for n, e in enumerate(order, start=1)}
    assert [e["position"] for e in queued] == [places[e.id] for e in order if e.state == "queued"]


def test_other_teams_and_agents_are_refused(settings, db, campaign):
    other = signed_in(settings, "tuan")
    for url in ("", "/entries.csv", "/blocked.xlsx"):
        assert other.get(f"/console/campaigns/{campaign}{url}").status_code == 403
    agent = signed_in(settings, "lan")
    assert agent.get(f"/console/campaigns/{campaign}").status_code == 403
    assert agent.get(f"/console/campaigns/{campaign}/entries.xlsx").status_code == 403
    assert signed_in(settings, "mai").get("/console/campaigns/999999").status_code == 404
    assert (
        signed_in(settings, "mai").get(f"/console/campaigns/{campaign}/entries.pdf").status_code
        == 404
    )
