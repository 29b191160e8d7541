"""The desk's server-rendered parts and its own actions, through the real app (the browser
tests in tests/browser/ drive the same pages in Chromium)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dialer.app import create_app
from dialer.auth.models import User
from dialer.desk.service import callback_times, days_from
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import Promise
from dialer.runtime import Runtime
from tests import factories
from tests.web_support import csrf_of, sign_in


@pytest.fixture
def app(process_env, db, redis_client):
    with db.begin() as s:
        seed_default_codes(s)
    return create_app(runtime=Runtime(process_env))


def _agent_client(app, db, team="B2"):
    with db.begin() as s:
        user = factories.user(s, role="agent", team=team)
        ids = user.id, user.agent_id, user.username
    client = app.test_client()
    assert sign_in(client, ids[2]).status_code == 302
    return client, ids[0], ids[1]


def test_my_callbacks_and_payments_show_only_the_agents_own(app, db):
    client, _, agent_id = _agent_client(app, db)
    now = datetime.now(UTC)
    with db.begin() as s:
        other_agent = factories.agent(s, team="B2").id
        due = factories.account(s, customer_name="Phạm Thị Đến Hạn")
        later = factories.account(s, customer_name="Võ Văn Sắp Tới")
        theirs = factories.account(s, customer_name="Người Của Đồng Nghiệp")
        factories.callback(s, account=due, agent_id=agent_id, due_at=now - timedelta(minutes=5))
        factories.callback(s, account=later, agent_id=agent_id, due_at=now + timedelta(days=1))
        factories.callback(s, account=theirs, agent_id=other_agent, due_at=now)
        promised = factories.promise(s, due, amount=1_250_000, due_date=now.date())
        promised.agent_id = agent_id
    page = client.get("/desk/lists").get_data(as_text=True)
    due_part, _, upcoming_part = page.partition("Sắp tới")
    assert "Phạm Thị Đến Hạn" in due_part and "Võ Văn Sắp Tới" in upcoming_part
    assert "Người Của Đồng Nghiệp" not in page
    assert "1.250.000" in page and "₫" in page  # the agent's promise due today


def test_the_screen_pop_is_the_agents_own_call_with_personal_data_masked(app, db):
    client, _, agent_id = _agent_client(app, db)
    with db.begin() as s:
        account = factories.account(
            s, customer_name="Đỗ Thị Hương", national_id="079188001234", overdue=2_500_000
        )
        mine = factories.attempt(s, account=account, agent_id=agent_id).id
        stranger = factories.account(s, customer_name="Người Lạ")
        b9 = factories.campaign(s, team="B9")  # a campaign of another team
        theirs = factories.attempt(
            s, account=stranger, agent_id=factories.agent(s, team="B9").id, campaign_id=b9.id
        ).id
    page = client.get(f"/desk/calls/{mine}").get_data(as_text=True).replace("\xa0", " ")
    assert "Đỗ Thị Hương" in page and "2.500.000 ₫" in page
    assert "079188001234" not in page and "*********234" in page
    assert "+84901234567" not in page and "+84******567" in page
    assert 'value="PTP"' in page and 'data-key="1"' in page  # PTP first, shortcut 1
    assert "Kịch bản cuộc gọi" in page
    assert client.get(f"/desk/calls/{theirs}").status_code == 403


def test_an_agent_switches_to_english_for_themselves_only(app, db):
    client, user_id, _ = _agent_client(app, db)
    token = csrf_of(client.get("/desk").get_data(as_text=True))
    assert client.post("/locale", data={"locale": "en", "csrf_token": token}).status_code == 302
    page = client.get("/desk").get_data(as_text=True)
    assert "Go on line" in page and "Vào ca" not in page
    with db.session() as s:
        assert s.get(User, user_id).locale == "en"
    other, _, _ = _agent_client(app, db)
    assert "Vào ca" in other.get("/desk").get_data(as_text=True)
    assert client.post("/locale", data={"locale": "fr", "csrf_token": token}).status_code == 400


def test_a_refused_disposition_names_the_field_in_the_agents_language(app, db):
    client, _, agent_id = _agent_client(app, db)
    with db.begin() as s:
        account = factories.account(s, overdue=1_000_000, principal=3_000_000)
        call = factories.attempt(s, account=account, agent_id=agent_id).id
    token = csrf_of(client.get("/desk").get_data(as_text=True))
    refused = client.post(
        f"/api/attempts/{call}/disposition",
        json={"code": "PTP", "promise_amount": 9_000_000, "promise_date": "2020-01-01"},
        headers={"X-CSRFToken": token},
    )
    assert refused.status_code == 422
    body = refused.get_json()
    fields = {d["field"]: d["message"].replace("\xa0", " ") for d in body["details"]}
    assert fields["promise_amount"] == "Số tiền hứa trả 9.000.000 ₫ vượt quá dư nợ 3.000.000 ₫"
    assert "đã qua" in fields["promise_date"]
    # The API's own sentences stay English for the bank's systems and the CLI.
    assert any("over the outstanding balance 3,000,000" in p for p in body["problems"])
    with db.session() as s:
        assert s.scalar(select(Promise)) is None  # nothing changed


def test_another_agent_named_in_the_body_is_refused(app, db):
    client, _, agent_id = _agent_client(app, db)
    with db.begin() as s:
        account = factories.account(s)
        call = factories.attempt(s, account=account, agent_id=agent_id).id
        other = factories.agent(s, team="B2").id
    token = csrf_of(client.get("/desk").get_data(as_text=True))
    refused = client.post(
        f"/api/attempts/{call}/disposition",
        json={"code": "RTP", "agent_id": other},
        headers={"X-CSRFToken": token},
    )
    assert refused.status_code == 403


def test_the_desks_own_actions_check_whose_call_it_is(app, db):
    client, _, _ = _agent_client(app, db)
    with db.begin() as s:
        account = factories.account(s)
        theirs = factories.attempt(s, account=account, agent_id=factories.agent(s).id).id
    token = csrf_of(client.get("/desk").get_data(as_text=True))
    headers = {"X-CSRFToken": token}
    assert client.post(f"/desk/calls/{theirs}/hangup", headers=headers).status_code == 403
    assert client.post("/desk/calls/999999/hangup", headers=headers).status_code == 404
    bad = client.post("/desk/softphone", json={"action": "explode"}, headers=headers)
    assert bad.status_code == 400
    # No mock carrier configured here (TWILIO_API_BASE unset): the built-in phone says so.
    real = client.post("/desk/softphone", json={"action": "answer"}, headers=headers)
    assert real.status_code == 502 and "mock carrier" in real.get_json()["error"]
    skip = client.post("/desk/preview/skip", json={"reason": "bored"}, headers=headers)
    assert skip.status_code == 400 and "lý do" in skip.get_json()["error"]


def test_leads_and_admins_have_no_desk_of_their_own(app, db):
    with db.begin() as s:
        lead = factories.user(s, role="lead", team="B2").username
    client = app.test_client()
    sign_in(client, lead)
    assert client.get("/desk").headers["Location"].endswith("/")


def test_promise_and_callback_choices_stay_inside_the_rules():
    start = datetime(2026, 12, 3).date()
    days = days_from(start, 30)
    assert days[0] == start and len(days) == 31
    slots = callback_times(datetime(2026, 1, 1, 8).time(), datetime(2026, 1, 1, 9, 30).time())
    assert slots == ["08:00", "08:15", "08:30", "08:45", "09:00", "09:15"]  # never at the end


def test_a_refused_shift_action_is_said_in_the_agents_language_too(app, db):
    client, _, agent_id = _agent_client(app, db)
    token = csrf_of(client.get("/desk").get_data(as_text=True))
    refused = client.post(
        f"/api/agents/{agent_id}/resume", json={}, headers={"X-CSRFToken": token}
    ).get_json()
    assert refused["error"] == f"agent {agent_id} is offline, not paused"  # the API's English
    assert (
        refused["message"]
        == f"Điện thoại viên {agent_id} đang ở trạng thái offline, không phải tạm nghỉ"
    )
