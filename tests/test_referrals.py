"""Referral worklists (state machine, holds, CLI, API, CSV) and team-lead alerts (GSF,
the console, the webhook through a real RQ job to a real local HTTP receiver)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from rq import SimpleWorker
from sqlalchemy import func, select

from dialer.app import create_app
from dialer.campaigns import service
from dialer.campaigns.attempts import account_hold, claim_entry, start_attempt
from dialer.campaigns.models import CampaignEntry
from dialer.cli import main
from dialer.outcomes import alerts, referrals
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.effects import DispositionInput
from dialer.outcomes.models import Alert, Referral
from dialer.outcomes.service import record_disposition
from dialer.runtime import Runtime, reset_runtime
from tests import factories
from tests.mock_support import wait_until
from tests.web_support import sign_in

VN = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)
AUTH = {"Authorization": "Bearer test-api-token"}


# --- the pure transition table ---------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "action", "after"),
    [
        ("open", "accept", "accepted"),
        ("open", "return", "returned"),
        ("open", "close", "closed"),
        ("accepted", "return", "returned"),
        ("accepted", "close", "closed"),
    ],
)
def test_allowed_transitions(state, action, after):
    assert referrals.next_state(state, action) == after


@pytest.mark.parametrize(
    ("state", "action", "says"),
    [
        ("accepted", "accept", "cannot be accepted (it can only be returned or closed)"),
        ("returned", "accept", "cannot be accepted (it is finished)"),
        ("returned", "close", "cannot be closed (it is finished)"),
        ("closed", "return", "cannot be returned (it is finished)"),
        ("withdrawn", "accept", "it is finished"),
    ],
)
def test_refused_transitions_say_what_is_allowed(state, action, says):
    with pytest.raises(referrals.ReferralError, match=r".*".join(map(_re, says.split("(")))):
        referrals.next_state(state, action)


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_an_unknown_action_is_refused():
    with pytest.raises(referrals.ReferralError, match="unknown action 'reopen'"):
        referrals.next_state("open", "reopen")


def test_only_open_and_accepted_hold_the_account():
    assert [s for s in referrals.STATES if referrals.holds_account(s)] == ["open", "accepted"]


# --- SQL: transitions, holds ------------------------------------------------------------


@pytest.fixture
def codes(session):
    seed_default_codes(session)
    session.commit()


def _referral(session, kind="field", state="open", **account_fields) -> Referral:
    acc = factories.account(session, **account_fields)
    ref = Referral(account_id=acc.id, kind=kind, reason="không liên lạc được", state=state)
    session.add(ref)
    session.flush()
    return ref


def test_each_transition_is_recorded_with_its_time_and_handler(session):
    ref = _referral(session)
    changed = referrals.transition(session, ref.id, "accept", now=NOW, by="Đội thực địa")
    assert (changed.before, changed.after) == ("open", "accepted")
    later = NOW + timedelta(days=2)
    referrals.transition(session, ref.id, "return", now=later, note="Khách đã hẹn trả")
    session.commit()
    got = session.get(Referral, ref.id)
    assert (got.state, got.accepted_at, got.returned_at) == ("returned", NOW, later)
    assert (got.handled_by, got.handler_note) == ("Đội thực địa", "Khách đã hẹn trả")


def test_a_refused_transition_changes_nothing(session):
    ref = _referral(session, state="closed")
    session.commit()
    with pytest.raises(referrals.ReferralError, match="cannot be accepted"):
        referrals.transition(session, ref.id, "accept", now=NOW, note="x")
    session.rollback()
    got = session.get(Referral, ref.id)
    assert (got.state, got.accepted_at, got.handler_note) == ("closed", None, None)
    with pytest.raises(LookupError, match="no referral 999"):
        referrals.transition(session, 999, "accept", now=NOW)
    with pytest.raises(referrals.ReferralError, match="longer than 2000"):
        referrals.transition(session, ref.id, "close", now=NOW, note="x" * 2001)


@pytest.mark.parametrize(
    ("state", "held"), [("open", True), ("accepted", True), ("returned", False), ("closed", False)]
)
def test_the_account_is_held_while_open_or_accepted(session, codes, state, held):
    ref = _referral(session, kind="restructuring", state=state)
    account = ref.account_id
    hold = account_hold(session, _acc(session, account), TODAY)
    assert (hold is not None) == held
    if held:
        assert hold.rule == "referred" and "restructuring" in hold.detail
    campaign = service.create_campaign(session, f"build {state}")
    built = service.launch(session, campaign, NOW, VN)
    assert built.entries == (0 if held else 1)
    assert built.excluded == ({"referred": 1} if held else {})


def _acc(session, account_id):
    from dialer.portfolio.models import Account

    return session.get(Account, account_id)


# --- CLI and API ------------------------------------------------------------------------


@pytest.fixture
def cli(process_env, db):
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def _seed_worklist(db) -> tuple[int, int]:
    with db.begin() as s:
        a = _referral(s, kind="field", customer_name="Trần Thị Ánh", account_no="=HD001")
        b = _referral(s, kind="legal", customer_name="Lê Văn Bình")
        return a.id, b.id


def test_referrals_from_the_cli(cli, db, tmp_path):
    field_id, legal_id = _seed_worklist(db)
    listed = json.loads(cli("referrals", "list", "--kind", "field", "--json").output)
    assert [r["id"] for r in listed] == [field_id]
    assert listed[0]["customer_name"] == "Trần Thị Ánh" and listed[0]["state"] == "open"
    assert "2 referral(s)" in cli("referrals", "list").output
    accepted = cli("referrals", "accept", str(field_id), "--note", "Đã nhận", "--by", "Hùng")
    assert accepted.exit_code == 0 and "accepted (was open)" in accepted.output
    again = cli("referrals", "accept", str(field_id))
    assert again.exit_code == 1 and "cannot be accepted" in again.output
    returned = cli("referrals", "return", str(field_id))
    assert "returned (was accepted)" in returned.output and "dialed again" in returned.output
    shown = json.loads(cli("referrals", "show", str(field_id), "--json").output)
    assert (shown["state"], shown["handled_by"], shown["handler_note"]) == (
        "returned",
        "Hùng",
        "Đã nhận",
    )
    assert "closed (was open)" in cli("referrals", "close", str(legal_id)).output
    missing = cli("referrals", "close", "999")
    assert missing.exit_code == 1 and "no referral 999" in missing.output
    bad = cli("referrals", "list", "--kind", "mars")
    assert bad.exit_code == 2 and "mars" in bad.output

    path = tmp_path / "field.csv"
    out = cli("referrals", "export", "--kind", "field", "--csv", str(path))
    assert "Wrote 1 field referral(s)" in out.output
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the Vietnamese right
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("id,kind,state,account_no,customer_name")
    assert "Trần Thị Ánh" in text and "'=HD001" in text  # a formula-looking cell is quoted
    assert "Lê Văn Bình" not in text
    nowhere = cli("referrals", "export", "--kind", "field", "--csv", str(tmp_path / "no/x.csv"))
    assert nowhere.exit_code == 1 and "does not exist" in nowhere.output


def test_referrals_through_the_api(process_env, db):
    _field_id, legal_id = _seed_worklist(db)
    web = create_app(process_env).test_client()
    assert web.get("/api/referrals").status_code == 401
    rows = web.get("/api/referrals?kind=legal&state=open", headers=AUTH).get_json()
    assert [r["id"] for r in rows] == [legal_id]
    refused = web.get("/api/referrals?kind=mars", headers=AUTH)
    assert (
        refused.status_code == 400 and "unknown referral kind" in refused.get_json()["problems"][0]
    )
    done = web.post(
        f"/api/referrals/{legal_id}/accept", headers=AUTH, json={"note": "Pháp chế nhận"}
    )
    assert done.status_code == 200 and done.get_json()["state"] == "accepted"
    conflict = web.post(f"/api/referrals/{legal_id}/accept", headers=AUTH)
    assert conflict.status_code == 409 and "cannot be accepted" in conflict.get_json()["error"]
    assert (
        web.post(f"/api/referrals/{legal_id}/close", headers=AUTH, json={"x": 1}).status_code == 400
    )
    assert web.post("/api/referrals/999/close", headers=AUTH).status_code == 404
    assert web.post(f"/api/referrals/{legal_id}/reopen", headers=AUTH).status_code == 404
    with db.session() as s:
        assert s.get(Referral, legal_id).state == "accepted"  # the refusals changed nothing
    csv_response = web.get("/api/referrals.csv?kind=field", headers=AUTH)
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    assert csv_response.data.startswith(b"\xef\xbb\xbf")
    assert "Trần Thị Ánh" in csv_response.data.decode("utf-8-sig")


# --- fraud suspicion: the alert, the console, the webhook -------------------------------


class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it is sent; answers `statuses` in
    turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None, hold: threading.Event | None = None):
        self.received: list[tuple[dict, dict]] = []
        self.statuses = list(statuses or [])
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((json.loads(body), dict(self.headers)))
                if hold is not None:  # a slow webhook: answers when the test says
                    hold.wait(timeout=30)
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _gsf(db) -> tuple[int, int, str]:
    """A GSF disposition recorded on a connected call, committed; (alert id, agent, acc no)."""
    with db.begin() as s:
        seed_default_codes(s)
        acc = factories.account(
            s, customer_name="Phạm Thị Gian", national_id="079123456789", account_no="HD-7788"
        )
        agent = factories.agent(s)
        agent.team = "B2-Team-3"
        campaign = service.create_campaign(s, "c")
        service.launch(s, campaign, NOW, VN)
        entry = s.scalar(select(CampaignEntry).where(CampaignEntry.account_id == acc.id))
        claim_entry(s, entry.id, NOW)
        attempt = start_attempt(s, entry, acc.phones[0], NOW)
        attempt.call_sid, attempt.agent_id, attempt.result = "CA" + "2" * 32, agent.id, "human"
        s.flush()
        record_disposition(
            s,
            attempt,
            DispositionInput("GSF", "agent", note="CMND giả, số 0901234567 không phải của KH"),
            agent_id=agent.id,
            now=NOW,
            today=TODAY,
        )
        alert_id = s.scalar(select(Alert.id))
        return alert_id, agent.id, acc.account_no


def test_gsf_raises_an_alert_shown_on_the_console_and_the_api(process_env, db):
    alert_id, agent_id, account_no = _gsf(db)
    with db.session() as s:
        alert = s.get(Alert, alert_id)
        assert (alert.kind, alert.agent_id, alert.team, alert.webhook_state) == (
            "GSF",
            agent_id,
            "B2-Team-3",
            "pending",
        )
        # The referral to legal holds the account too.
        assert s.scalar(select(Referral.kind)) == "legal"
    web = create_app(process_env).test_client()
    with db.begin() as s:
        admin = factories.user(s, role="admin").username
    sign_in(web, admin)
    page = web.get("/").get_data(as_text=True)
    assert "Cảnh báo cho trưởng nhóm" in page and account_no in page and "B2-Team-3" in page
    assert "0901234567" not in page  # the note's phone number is masked
    listed = web.get("/api/alerts", headers=AUTH).get_json()
    assert [a["id"] for a in listed] == [alert_id]
    assert web.post(f"/api/alerts/{alert_id}/ack", headers=AUTH, json={}).status_code == 400
    acked = web.post(f"/api/alerts/{alert_id}/ack", headers=AUTH, json={"by": "Trưởng nhóm"})
    assert acked.status_code == 200 and acked.get_json()["acknowledged_by"] == "Trưởng nhóm"
    assert (
        web.post(f"/api/alerts/{alert_id}/ack", headers=AUTH, json={"by": "x"}).status_code == 409
    )
    assert web.get("/api/alerts", headers=AUTH).get_json() == []
    assert len(web.get("/api/alerts?all=1", headers=AUTH).get_json()) == 1
    assert "Không có cảnh báo nào đang mở" in web.get("/").get_data(as_text=True)
    runner = CliRunner()
    out = runner.invoke(main, ["alerts", "list", "--all"], catch_exceptions=False).output
    assert "GSF" in out and account_no in out and "acknowledged by Trưởng nhóm" in out


def _runtime_with_webhook(process_env, monkeypatch, url: str) -> Runtime:
    monkeypatch.setenv("DIALER_ALERT_WEBHOOK_URL", url)
    reset_runtime()
    from dialer.runtime import get_runtime

    return get_runtime()


def _work(rt: Runtime) -> None:
    SimpleWorker([rt.queue], connection=rt.redis).work(burst=True)


def test_the_webhook_gets_the_alert_once_masked_from_an_rq_job(process_env, db, monkeypatch):
    alert_id, _, account_no = _gsf(db)
    with Receiver() as receiver:
        rt = _runtime_with_webhook(process_env, monkeypatch, receiver.url)
        assert alerts.enqueue_pending(rt, rt.clock.now()) == 1
        assert alerts.enqueue_pending(rt, rt.clock.now()) == 0  # queued already
        _work(rt)
        assert len(receiver.received) == 1
        body, headers = receiver.received[0]
        assert body["alert_id"] == alert_id and body["account_no"] == account_no
        assert body["customer"] == "P. T. G." and body["kind"] == "GSF"
        text = json.dumps(body, ensure_ascii=False)
        assert "Phạm Thị Gian" not in text and "0901234567" not in text
        assert "079123456789" not in text
        assert headers["Idempotency-Key"] == f"alert-webhook-{alert_id}"
        # A repeated job (a retry after a lost reply, a second enqueue) sends nothing.
        assert alerts.deliver_alert(rt, alert_id) == f"alert {alert_id} already sent"
        rt.queue.enqueue(alerts.deliver, alert_id)
        _work(rt)
        assert len(receiver.received) == 1
    with db.session() as s:
        alert = s.get(Alert, alert_id)
        assert (alert.webhook_state, alert.webhook_attempts) == ("sent", 1)
        assert alert.webhook_sent_at is not None


def test_a_copy_of_the_job_run_while_the_webhook_is_slow_sends_nothing(
    process_env, db, monkeypatch
):
    """The sweep queues a pending alert again after a while; a copy that runs while the
    first still waits on a slow webhook finds the sending lease held and POSTs nothing."""
    alert_id, _, _ = _gsf(db)
    slow = threading.Event()
    with Receiver(hold=slow) as receiver:
        rt = _runtime_with_webhook(process_env, monkeypatch, receiver.url)
        results: list[str] = []
        first = threading.Thread(target=lambda: results.append(alerts.deliver_alert(rt, alert_id)))
        first.start()
        wait_until(lambda: len(receiver.received) == 1, what="the first POST")
        assert (
            alerts.deliver_alert(rt, alert_id) == f"alert {alert_id} is being sent by another job"
        )
        slow.set()
        first.join(timeout=30)
    assert results == ["sent"] and len(receiver.received) == 1
    assert alerts.deliver_alert(rt, alert_id) == f"alert {alert_id} already sent"


def test_a_failing_webhook_is_retried_and_never_blocks_the_disposition(
    process_env, db, monkeypatch
):
    alert_id, _, _ = _gsf(db)  # committed before any delivery was tried
    with Receiver(statuses=[503]) as receiver:
        rt = _runtime_with_webhook(process_env, monkeypatch, receiver.url)
        with pytest.raises(alerts.WebhookFailed, match="HTTP 503"):
            alerts.deliver_alert(rt, alert_id)
        with db.session() as s:
            alert = s.get(Alert, alert_id)
            assert (alert.webhook_state, alert.webhook_attempts) == ("pending", 1)
            assert alert.webhook_error == "HTTP 503"
        assert alerts.deliver_alert(rt, alert_id) == "sent"  # RQ's retry
        assert alerts.deliver_alert(rt, alert_id) == f"alert {alert_id} already sent"
        assert len(receiver.received) == 2 and receiver.received[1][0]["alert_id"] == alert_id
    # No webhook configured: alerts stay on the console, nothing is queued.
    monkeypatch.delenv("DIALER_ALERT_WEBHOOK_URL")
    reset_runtime()
    from dialer.runtime import get_runtime

    assert alerts.enqueue_pending(get_runtime(), NOW) == 0
    with db.session() as s:
        assert s.scalar(select(func.count(Alert.id))) == 1


def test_a_bad_webhook_url_is_a_config_error(tmp_path):
    from dialer.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="DIALER_ALERT_WEBHOOK_URL must be an http"):
        load_settings({"DIALER_HOME": str(tmp_path), "DIALER_ALERT_WEBHOOK_URL": "ftp://x"})
