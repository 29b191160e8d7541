"""The `dialer` command for campaigns and agents, against the real database and Redis."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dialer.cli import main
from dialer.outcomes.catalogue import seed_default_codes
from dialer.runtime import reset_runtime
from tests import factories


@pytest.fixture
def cli(process_env, db):
    with db.begin() as s:
        seed_default_codes(s)
        for dpd in (10, 45, 100):
            factories.account(s, dpd=dpd, phones=((f"+8490100{dpd:04d}", "mobile"),))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_campaign_lifecycle_from_the_cli(cli):
    created = cli("campaign", "create", "B2 sáng", "--dpd-min", "31", "--json")
    assert created.exit_code == 0, created.output
    cid = json.loads(created.output)["id"]
    launched = cli("campaign", "launch", str(cid))
    assert "running with 2 accounts queued" in launched.output
    status = json.loads(cli("campaign", "status", str(cid), "--json").output)
    assert (status["state"], status["entries"], status["queued"]) == ("running", 2, 2)
    assert "paused" in cli("campaign", "pause", str(cid)).output
    assert "running" in cli("campaign", "resume", str(cid)).output
    assert "stopped" in cli("campaign", "stop", str(cid)).output
    text = cli("campaign", "status", str(cid)).output
    assert "stopped" in text and "entries 2" in text


def test_rebuild_and_blocked_counts_from_the_cli(cli, db, redis_client):
    from dialer.campaigns.models import BlockedDial, CampaignEntry

    cid = json.loads(cli("campaign", "create", "B3", "--json").output)["id"]
    draft = cli("campaign", "rebuild", str(cid))
    assert draft.exit_code == 1 and "launch it instead" in draft.output
    cli("campaign", "launch", str(cid))
    with db.begin() as s:
        entry_id = s.query(CampaignEntry.id).filter_by(campaign_id=cid).first()[0]
        s.add(BlockedDial(campaign_id=cid, entry_id=entry_id, rule="calling_window"))
    redis_client.flushdb()  # Redis lost everything
    assert json.loads(cli("campaign", "status", str(cid), "--json").output)["queued"] == 0
    rebuilt = json.loads(cli("campaign", "rebuild", str(cid), "--json").output)
    assert (rebuilt["loaded"], rebuilt["queued"]) == (3, 3)
    status = json.loads(cli("campaign", "status", str(cid), "--json").output)
    assert (status["state"], status["queued"]) == ("running", 3)
    assert status["blocked"] == {"calling_window": 1}
    assert "rebuilt from SQL: 3 queued" in cli("campaign", "rebuild", str(cid)).output


def test_cli_errors_are_clear(cli):
    missing = cli("campaign", "status", "999")
    assert missing.exit_code == 1 and "no campaign 999" in missing.output
    bad = cli("campaign", "create", "x", "--profile", "mars")
    assert bad.exit_code == 1 and "unknown compliance profile" in bad.output
    twice = cli("agent", "create", "lan", "--name", "Trần Thị Lan")
    assert twice.exit_code == 0
    again = cli("agent", "create", "lan", "--name", "Lan")
    assert again.exit_code == 1 and "exists already" in again.output


def test_worker_refuses_to_start_with_the_mocks_credentials_and_no_base(cli, monkeypatch):
    monkeypatch.delenv("TWILIO_API_BASE", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    reset_runtime()
    result = cli("worker", "--burst")
    assert result.exit_code == 1
    assert "TWILIO_API_BASE is not set" in result.output and "dialer mock-carrier" in result.output


def test_accounts_set_timezone(cli, db):
    with db.begin() as s:
        factories.account(s, account_no="HD777", phones=(("+12025550123", "mobile"),))
    done = cli("accounts", "set-timezone", "HD777", "america/chicago")
    assert done.exit_code == 0, done.output
    assert "Account HD777: timezone America/Chicago (was none)." in done.output
    shown = json.loads(cli("accounts", "show", "HD777", "--json").output)
    assert shown["timezone"] == "America/Chicago"
    cleared = cli("accounts", "set-timezone", "HD777", "--clear")
    assert cleared.exit_code == 0
    assert "timezone override cleared (was America/Chicago)" in cleared.output
    assert json.loads(cli("accounts", "show", "HD777", "--json").output)["timezone"] is None


def test_accounts_set_timezone_errors_change_nothing(cli, db):
    with db.begin() as s:
        factories.account(s, account_no="HD778", timezone="Europe/London")
    zone = cli("accounts", "set-timezone", "HD778", "Asia/Hanoi")
    assert zone.exit_code == 1
    assert 'unknown time zone "Asia/Hanoi" (an IANA name such as Asia/Ho_Chi_Minh' in zone.output
    server = cli("accounts", "set-timezone", "HD778", "localtime")  # the server's, not theirs
    assert server.exit_code == 1 and "unknown time zone" in server.output
    missing = cli("accounts", "set-timezone", "HD404", "Asia/Ho_Chi_Minh")
    assert missing.exit_code == 1 and "no account 'HD404'" in missing.output
    for args in (("HD778",), ("HD778", "Asia/Ho_Chi_Minh", "--clear")):
        usage = cli("accounts", "set-timezone", *args)
        assert usage.exit_code == 2 and "give a ZONE or --clear" in usage.output
    assert json.loads(cli("accounts", "show", "HD778", "--json").output)["timezone"] == (
        "Europe/London"
    )


@pytest.mark.parametrize(
    ("profile", "window_hours", "too_wide"),
    [
        ("vn-finance", 24, "06:30-20:00"),
        ("us-regf", 720, "07:00-20:00"),
        ("uk-ofcom", 24, "08:00-21:30"),
    ],
)
def test_each_compliance_profile_from_the_cli(cli, db, profile, window_hours, too_wide):
    from sqlalchemy import func, select

    from dialer.campaigns.models import Campaign

    listed = {p["name"]: p for p in json.loads(cli("campaign", "profiles", "--json").output)}
    assert set(listed) == {"vn-finance", "us-regf", "uk-ofcom"}
    rules = listed[profile]
    # The US and UK rules want the abandon message to say who calls and where to call back.
    caller = ("--company", "Ngân hàng TMCP Đông Á", "--callback-number", "+842873000001")
    unnamed = cli("campaign", "create", profile, "--profile", profile)
    if rules["abandon_message_identifies"]:
        assert unnamed.exit_code == 1 and "set company_name and callback_number" in unnamed.output
    else:
        assert unnamed.exit_code == 0, unnamed.output
        with db.begin() as s:
            s.delete(s.scalar(select(Campaign)))
    created = cli("campaign", "create", profile, "--profile", profile, *caller, "--json")
    assert created.exit_code == 0, created.output
    cid = json.loads(created.output)["id"]
    assert "running with 3 accounts queued" in cli("campaign", "launch", str(cid)).output
    status = json.loads(cli("campaign", "status", str(cid), "--json").output)
    assert status["compliance_profile"] == profile
    assert status["abandon_rate_window"] == {**status["abandon_rate_window"], "hours": window_hours}
    # A campaign narrows its profile, never widens it: refused, and nothing is created.
    wide = cli("campaign", "create", "wide", "--profile", profile, *caller, "--window", too_wide)
    assert wide.exit_code == 1 and "wider than" in wide.output
    over = cli(
        "campaign", "create", "over", "--profile", profile, *caller, "--abandon-target", "0.05"
    )
    assert over.exit_code == 1 and "cap is 3.0%" in over.output
    with db.session() as s:
        assert s.scalar(select(func.count(Campaign.id))) == 1
    text = cli("campaign", "profiles").output
    assert f"{profile} ({rules['country']}):" in text
