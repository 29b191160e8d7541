"""Sign-in, roles, CSRF, rate limits, API tokens: through the real app, SQL and Redis."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dialer.app import create_app
from dialer.auth import clients, service
from dialer.auth.models import User
from dialer.cli import main
from dialer.outcomes.catalogue import seed_default_codes
from dialer.redis import Keys
from dialer.runtime import Runtime
from tests import factories
from tests.factories import PASSWORD
from tests.web_support import csrf_of, sign_in


@pytest.fixture
def app(process_env, db, redis_client):
    with db.begin() as s:
        seed_default_codes(s)
    return create_app(runtime=Runtime(process_env))


def make_user(db, **kw) -> User:
    with db.begin() as s:
        user = factories.user(s, **kw)
        s.expunge(user)
        return user


def test_sign_in_refuses_a_wrong_password_and_opens_the_desk_with_the_right_one(app, db):
    agent = make_user(db, role="agent")
    client = app.test_client()
    wrong = sign_in(client, agent.username, "not-the-password")
    assert wrong.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.get_data(as_text=True)
    assert client.get("/desk").status_code == 302  # still signed out
    ok = sign_in(client, agent.username)
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/desk")
    page = client.get("/desk")
    assert page.status_code == 200
    assert "Vào ca" in page.get_data(as_text=True)  # Vietnamese first


def test_failed_sign_ins_are_limited_per_user_even_with_the_right_password_after(app, db):
    agent = make_user(db, role="agent")
    client = app.test_client()
    for _ in range(5):  # DIALER_LOGIN_LIMIT_USER: 5 per 15 minutes
        assert sign_in(client, agent.username, "wrong-password!").status_code == 401
    limited = sign_in(client, agent.username)
    assert limited.status_code == 429
    assert "Đăng nhập sai quá nhiều lần" in limited.get_data(as_text=True)
    # Another user from the same address is not locked out by someone else's failures.
    other = make_user(db, role="agent")
    assert sign_in(client, other.username).status_code == 302


def test_a_successful_sign_in_does_not_count_against_the_limit(app, db):
    agent = make_user(db, role="agent")
    for _ in range(7):
        client = app.test_client()
        assert sign_in(client, agent.username).status_code == 302


def test_state_changing_requests_without_the_csrf_token_are_refused(app, db):
    agent = make_user(db, role="agent")
    client = app.test_client()
    sign_in(client, agent.username)
    refused = client.post(f"/api/agents/{agent.agent_id}/pause", json={"code": "break"})
    assert refused.status_code == 400
    assert "CSRF" in refused.get_json()["error"]
    no_form_token = client.post("/login", data={"username": agent.username, "password": PASSWORD})
    assert no_form_token.status_code == 400
    token = csrf_of(client.get("/desk").get_data(as_text=True))
    with_token = client.post(
        f"/api/agents/{agent.agent_id}/pause",
        json={"code": "break"},
        headers={"X-CSRFToken": token},
    )
    assert (
        with_token.status_code == 409
    )  # through CSRF; refused because not logged in to a campaign


def test_sign_out_ends_the_session_for_good_and_idle_time_ends_it_too(app, db, redis_client):
    agent = make_user(db, role="agent")
    client = app.test_client()
    sign_in(client, agent.username)
    cookie = client.get_cookie("dialer_session").value
    session_ids = redis_client.smembers(Keys.user_sign_ins(agent.id))
    assert len(session_ids) == 1
    key = Keys.sign_in(next(iter(session_ids)).decode())
    assert 0 < redis_client.ttl(key) <= 30 * 60  # DIALER_SESSION_IDLE_MINUTES
    token = csrf_of(client.get("/desk").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/desk").status_code == 302
    replay = app.test_client()
    replay.set_cookie("dialer_session", cookie)  # the cookie copied before sign-out
    assert replay.get("/desk").status_code == 302

    sign_in(client, agent.username)
    assert client.get("/desk").status_code == 200
    for sid in redis_client.smembers(Keys.user_sign_ins(agent.id)):
        redis_client.delete(Keys.sign_in(sid.decode()))  # what the idle TTL does
    assert client.get("/desk").status_code == 302


def test_disabling_a_user_ends_their_open_sessions(app, db, process_env):
    agent = make_user(db, role="agent")
    client = app.test_client()
    sign_in(client, agent.username)
    result = CliRunner().invoke(main, ["users", "disable", agent.username])
    assert result.exit_code == 0, result.output
    assert "1 open session" in result.output
    assert client.get("/desk").status_code == 302
    assert sign_in(app.test_client(), agent.username).status_code == 401


def test_console_is_for_leads_and_administrators(app, db):
    anonymous = app.test_client().get("/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    agent = make_user(db, role="agent")
    client = app.test_client()
    sign_in(client, agent.username)
    assert client.get("/").headers["Location"].endswith("/desk")
    lead = make_user(db, role="lead", team="B2")
    client = app.test_client()
    sign_in(client, lead.username)
    page = client.get("/")
    assert page.status_code == 200 and "Chiến dịch" in page.get_data(as_text=True)


def test_an_agent_acts_only_for_themselves(app, db):
    me = make_user(db, role="agent", team="B2")
    other = make_user(db, role="agent", team="B2")
    client = app.test_client()
    sign_in(client, me.username)
    token = csrf_of(client.get("/desk").get_data(as_text=True))
    headers = {"X-CSRFToken": token}
    assert client.get(f"/api/agents/{other.agent_id}").status_code == 403
    assert client.post(f"/api/agents/{other.agent_id}/logout", headers=headers).status_code == 403
    assert client.get(f"/api/agents/{me.agent_id}").status_code == 200
    # The JSON API's staff parts are not an agent's.
    assert client.get("/api/campaigns/profiles").status_code == 403
    assert client.put("/api/action-codes/XYZ", json={}, headers=headers).status_code == 403


def test_a_team_lead_sees_their_team_and_may_sign_an_agent_off(app, db):
    lead = make_user(db, role="lead", team="B2")
    mine = make_user(db, role="agent", team="B2")
    theirs = make_user(db, role="agent", team="B3")
    client = app.test_client()
    sign_in(client, lead.username)
    token = csrf_of(client.get("/").get_data(as_text=True))
    assert client.get(f"/api/agents/{mine.agent_id}").status_code == 200
    assert client.get(f"/api/agents/{theirs.agent_id}").status_code == 403
    signed_off = client.post(f"/api/agents/{mine.agent_id}/logout", headers={"X-CSRFToken": token})
    assert signed_off.status_code == 200
    assert (
        client.post(
            f"/api/agents/{mine.agent_id}/pause",
            json={"code": "break"},
            headers={"X-CSRFToken": token},
        ).status_code
        == 403
    )  # pausing is the agent's own act


def test_an_agent_cannot_open_another_teams_account(app, db):
    me = make_user(db, role="agent", team="B2")
    with db.begin() as s:
        mine = factories.account(s)
        theirs = factories.account(s)
        ours = factories.campaign(s, team="B2", state="running")
        other = factories.campaign(s, team="B3", state="running")
        factories.entry(s, campaign=ours, account=mine)
        factories.entry(s, campaign=other, account=theirs)
        mine_no, theirs_no = mine.account_no, theirs.account_no
    client = app.test_client()
    sign_in(client, me.username)
    assert client.get(f"/desk/accounts/{mine_no}").status_code == 200
    refused = client.get(f"/desk/accounts/{theirs_no}")
    assert refused.status_code == 403
    assert "thuộc nhóm hoặc vai trò khác" in refused.get_data(as_text=True)


def test_api_tokens_have_scopes_and_can_be_revoked(app, db, process_env):
    runner = CliRunner()
    created = runner.invoke(main, ["tokens", "create", "core-banking", "--scope", "payments"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith(clients.TOKEN_PREFIX)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    with db.begin() as s:
        account_no = factories.account(s).account_no
    paid = client.post(
        "/api/payments",
        json={
            "account_no": account_no,
            "amount": 500_000,
            "paid_on": "2026-12-01",
            "reference": "FT1",
        },
        headers=auth,  # no CSRF token: a bearer token is not a browser's cookie
    )
    assert paid.status_code == 201, paid.get_json()
    assert client.get("/api/campaigns/profiles", headers=auth).status_code == 403
    listed = runner.invoke(main, ["tokens", "list", "--json"])
    assert token not in listed.output and "core-banking" in listed.output
    assert runner.invoke(main, ["tokens", "revoke", "core-banking"]).exit_code == 0
    assert client.post("/api/payments", json={}, headers=auth).status_code == 401
    assert (
        client.get("/api/campaigns/profiles", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )


def test_users_cli_creates_lists_and_resets(app, db, process_env):
    runner = CliRunner()
    made = runner.invoke(
        main,
        [
            "users",
            "create",
            "lan",
            "--role",
            "agent",
            "--team",
            "B2",
            "--name",
            "Trần Thị Lan",
            "--password-stdin",
        ],
        input="mot-mat-khau-dai\n",
    )
    assert made.exit_code == 0, made.output
    assert "agent" in made.output
    short = runner.invoke(
        main,
        ["users", "create", "binh", "--role", "lead", "--team", "B2", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code != 0 and "at least 10" in short.output
    no_team = runner.invoke(
        main,
        ["users", "create", "binh", "--role", "lead", "--password-stdin"],
        input="mot-mat-khau-dai\n",
    )
    assert no_team.exit_code != 0 and "--team" in no_team.output
    listed = runner.invoke(main, ["users", "list", "--json"])
    assert '"username": "lan"' in listed.output and "password" not in listed.output
    client = app.test_client()
    assert sign_in(client, "lan", "mot-mat-khau-dai").status_code == 302
    reset = runner.invoke(
        main, ["users", "reset-password", "lan", "--password-stdin"], input="mat-khau-moi-dai\n"
    )
    assert reset.exit_code == 0 and "1 open session" in reset.output
    assert client.get("/desk").status_code == 302
    assert sign_in(app.test_client(), "lan", "mat-khau-moi-dai").status_code == 302
    with db.session() as s:
        stored = service.get_by_username(s, username="lan").password_hash
    assert stored.startswith("scrypt:") and "mot-mat-khau" not in stored


def test_the_next_address_after_sign_in_stays_on_this_site(app, db):
    agent = make_user(db, role="agent")
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login?next=//evil.example/steal",
        data={"username": agent.username, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"].endswith("/desk")


def test_a_team_lead_reaches_only_their_teams_campaigns_accounts_and_alerts(app, db):
    lead = make_user(db, role="lead", team="B2")
    with db.begin() as s:
        theirs = factories.campaign(s, team="B9", state="running")
        ours = factories.campaign(s, team="B2", state="running")
        stranger = factories.account(s, customer_name="Khách Của B9")
        factories.entry(s, campaign=theirs, account=stranger)
        ids = theirs.id, ours.id, stranger.account_no
    client = app.test_client()
    sign_in(client, lead.username)
    headers = {"X-CSRFToken": csrf_of(client.get("/").get_data(as_text=True))}
    assert client.get(f"/api/campaigns/{ids[0]}").status_code == 403
    assert client.post(f"/api/campaigns/{ids[0]}/stop", headers=headers).status_code == 403
    assert client.get(f"/api/campaigns/{ids[1]}").status_code == 200
    made = client.post("/api/campaigns", json={"name": "B2 chiều"}, headers=headers)
    assert made.status_code == 201 and made.get_json()["team"] == "B2"  # their team's
    other = client.post("/api/campaigns", json={"name": "X", "team": "B9"}, headers=headers)
    assert other.status_code == 403
    rendered = client.get(f"/api/scripts/thu-hoi-no-mac-dinh/render?account={ids[2]}")
    assert rendered.status_code == 403 and "Khách Của B9" not in rendered.get_data(as_text=True)
    assert client.put("/api/scripts/x", json={"source": "x"}, headers=headers).status_code == 403
    paid = client.post(
        "/api/payments",
        json={"account_no": ids[2], "amount": 1, "paid_on": "2026-12-01", "reference": "R"},
        headers=headers,
    )
    assert paid.status_code == 403  # the bank's payment feed, not a lead


def test_another_agents_call_is_refused_before_anything_about_the_account_is_said(app, db):
    me = make_user(db, role="agent", team="B2")
    with db.begin() as s:
        account = factories.account(s, overdue=7_777_777, principal=77_777_777)
        theirs = factories.attempt(s, account=account, agent_id=factories.agent(s).id).id
    client = app.test_client()
    sign_in(client, me.username)
    headers = {"X-CSRFToken": csrf_of(client.get("/desk").get_data(as_text=True))}
    for method in ("post", "put"):
        refused = getattr(client, method)(
            f"/api/attempts/{theirs}/disposition",
            json={"code": "PTP", "promise_amount": 10**12, "promise_date": "2020-01-01"},
            headers=headers,
        )
        assert refused.status_code == 403
        assert "77" not in refused.get_data(as_text=True)


def test_another_authorization_scheme_does_not_skip_the_csrf_check(app, db):
    agent = make_user(db, role="agent")
    client = app.test_client()
    sign_in(client, agent.username)
    basic = client.post("/locale", data={"locale": "en"}, headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 400  # a proxy's Basic header is not our bearer token
    junk = client.post("/locale", data={"locale": "en"}, headers={"Authorization": "Bearer x"})
    assert junk.status_code == 401
