"""Inbound calls end to end: a borrower calls the bank's number (its Voice URL is
/twilio/inbound) through the mock carrier, which plays our TwiML, presses the caller's keys
and reports what the caller heard. Checked: what was heard, the SQL rows, Redis presence,
and the agent's own event stream (the screen pop).
"""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import datetime, time, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from sqlalchemy import func, select

from dialer.agents import presence
from dialer.agents.pauses import seed_default_pause_codes
from dialer.callflow import common
from dialer.callflow.inbound import MAX_REPEATS
from dialer.campaigns.models import CallAttempt
from dialer.config import MOCK_AUTH_TOKEN
from dialer.outcomes.catalogue import load_catalogue
from dialer.outcomes.models import Callback, Disposition, Promise
from dialer.portfolio.models import Account, Phone
from dialer.privacy import mask_phone
from dialer.scripts import service as scripts
from dialer.telephony.carrier import FINAL_STATUSES
from dialer.telephony.mock import compute_signature
from tests import factories
from tests.mock_support import wait_until
from tests.stack_support import VN, Stack

BANK = "+842873001000"  # the bank's number: its Voice URL is our /twilio/inbound
CALLER = "+84901110001"
STRANGER = "+84909990001"  # a number no account has
NATIONAL_ID = "079123456789"  # CCCD: the caller keys the last 4 digits, 6789
NBSP = "\xa0"  # Babel puts a no-break space between the amount and its ₫
# Long enough for every menu of the flow: the caller leaves only when we hang up.
PATIENT = 600


# ------------------------------------------------------------------- helpers --
def register(stack: Stack) -> None:
    stack.mock.add_incoming_number(
        BANK, f"{stack.web}/twilio/inbound", status_callback=f"{stack.web}/twilio/inbound-status"
    )


def call_in(stack: Stack, caller: str, digits: list[str], talk_seconds: int = PATIENT) -> str:
    """A person at `caller` rings the bank and presses `digits`, one string per menu."""
    return stack.mock.inbound_call(caller, BANK, digits=digits, talk_seconds=talk_seconds)


def line(stack: Stack, sid: str) -> dict[str, Any]:
    """The mock's summary of the call: heard, pressed, status, ended_by."""
    resp = requests.get(f"{stack.mock_url}/_mock/calls/{sid}", timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


def twiml_of(stack: Stack, sid: str) -> list[str]:
    """The TwiML documents we answered the call's webhooks with, in order."""
    return [e["xml"] for e in stack.mock.events(sid) if e["type"] == "twiml"]


def attempt_of(stack: Stack, sid: str) -> CallAttempt | None:
    with stack.rt.db.session() as s:
        return s.scalar(select(CallAttempt).where(CallAttempt.call_sid == sid))


def finished(stack: Stack, sid: str) -> tuple[dict[str, Any], CallAttempt]:
    """Wait until the call is over on the line and its attempt has ended in SQL."""

    def done():
        summary = line(stack, sid)
        attempt = attempt_of(stack, sid)
        over = summary["status"] in FINAL_STATUSES and attempt is not None and attempt.ended_at
        return over and (summary, attempt)

    return wait_until(done, timeout=30, what="the inbound call to end")


def said(summary: dict[str, Any]) -> list[str]:
    return [h["say"] for h in summary["heard"] if "say" in h]


def prompt(stack: Stack, name: str, account_id: int | None = None) -> str:
    """A prompt of the default script as the caller should hear it (general, or with the
    account's values)."""
    settings = stack.rt.settings
    caller = common.caller_of(None, settings)
    with stack.rt.db.session() as s:
        script = scripts.load_or_raise(s, name=scripts.DEFAULT_IVR_SCRIPT)
        if account_id is None:
            context = common.caller_context(caller)
        else:
            account = s.get_one(Account, account_id)
            context = common.account_context(s, account, caller, settings)
        text = scripts.render_prompt(script, name=name, context=context, language="vi").text
    assert text
    # The mock reports a <Say> with its whitespace collapsed (the ₫'s no-break space too).
    return " ".join(text.split())


def dispositions(stack: Stack) -> list[Disposition]:
    with stack.rt.db.session() as s:
        return list(s.scalars(select(Disposition).order_by(Disposition.id)))


def attempt_count(stack: Stack) -> int:
    with stack.rt.db.session() as s:
        return s.scalar(select(func.count(CallAttempt.id))) or 0


def borrower(stack: Stack, **fields: Any) -> Account:
    """One borrower (5.000.000 ₫ overdue by default) with the given phones and fields."""
    fields.setdefault("phones", ((CALLER, "mobile"),))
    with stack.rt.db.begin() as s:
        account = factories.account(s, **fields)
        assert account.phones  # loaded now: the tests read them after the session
        s.expunge_all()
    return account


def signed_post(stack: Stack, url: str, form: dict[str, str]) -> requests.Response:
    """A webhook as the carrier sends it (signed with our auth token) to one of our URLs
    (or a path of the web app)."""
    url = url if url.startswith("http") else f"{stack.web}{url}"
    signature = compute_signature(MOCK_AUTH_TOKEN, url, form)
    return requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)


def gather_action(twiml: str) -> str:
    """The URL of the one <Gather>'s action in a TwiML document."""
    (gather,) = ElementTree.fromstring(twiml).iter("Gather")
    return gather.attrib["action"]


def spoken(twiml: str) -> list[str]:
    """What a TwiML document says, in order (whitespace collapsed, as the mock hears it)."""
    return [
        " ".join("".join(say.itertext()).split())
        for say in ElementTree.fromstring(twiml).iter("Say")
    ]


class AgentEvents:
    """The agent's server-sent event stream, read in a thread as the desk's EventSource
    reads it: `id:`, `event:` and `data:` lines, a blank line ending each event."""

    def __init__(self, stack: Stack, agent_id: int) -> None:
        self.events: list[dict[str, Any]] = []
        self.error: Exception | None = None  # a line that is not server-sent events
        self._resp = requests.get(
            f"{stack.web}/api/agents/{agent_id}/events",
            headers={"Authorization": "Bearer test-api-token"},
            stream=True,
            timeout=(5, 60),
        )
        assert self._resp.status_code == 200, self._resp.text
        assert self._resp.headers["Content-Type"].startswith("text/event-stream")
        self._thread = threading.Thread(target=self._read, name="sse-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        current: dict[str, Any] = {}
        try:
            # chunk_size=None: each chunk as it arrives (a fixed size would wait to fill it).
            for raw in self._resp.iter_lines(chunk_size=None):
                text = raw.decode("utf-8")  # SSE is UTF-8, whatever requests would guess
                if not text:
                    if "event" in current:
                        self.events.append(current)
                    current = {}
                    continue
                if text.startswith(":"):
                    continue  # a keepalive comment
                field, _, value = text.partition(":")
                value = value.removeprefix(" ")
                if field == "data":
                    current["data"] = json.loads(value)
                elif field in ("id", "event"):
                    current[field] = value
        except ValueError as exc:
            self.error = exc
        except (requests.RequestException, AttributeError, OSError):
            pass  # the test closed the stream

    def first(self, event: str) -> dict[str, Any] | None:
        if self.error is not None:
            raise AssertionError(f"the event stream is not valid: {self.error}")
        return next((e for e in list(self.events) if e["event"] == event), None)

    def close(self) -> None:
        # Shut the socket down first: a plain close would wait on the reader thread's
        # blocked read (urllib3's shutdown exists for this).
        with contextlib.suppress(ValueError, RuntimeError, OSError):
            self._resp.raw.shutdown()
        self._resp.close()
        self._thread.join(5)
        assert not self._thread.is_alive()


def login(stack: Stack, campaign_id: int, username: str) -> int:
    body = {"username": username, "name": username.title()}
    agent_id = stack.api("POST", "/api/agents", 201, json=body)["id"]
    stack.api("POST", f"/api/agents/{agent_id}/login", json={"campaign_id": campaign_id})
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "ready", what="agent ready")
    return agent_id


def campaign(stack: Stack, name: str, filters: dict[str, Any]) -> int:
    cid = stack.api("POST", "/api/campaigns", 201, json={"name": name, "filters": filters})["id"]
    stack.api("POST", f"/api/campaigns/{cid}/launch")
    return cid


# --------------------------------------------------------------------- tests --
def test_a_known_caller_hears_the_amount_and_is_bridged_to_their_campaigns_agent(stack: Stack):
    due = datetime.now(VN).date() - timedelta(days=45)
    account = borrower(stack, dpd=45, due_date=due, account_no="LD012345678")
    borrower(stack, dpd=10, phones=(("+84901110002", "mobile"),))  # the other campaign's
    register(stack)
    theirs = campaign(stack, "qua-han-30", {"dpd_min": 30})  # holds the caller's account
    other = campaign(stack, "qua-han-som", {"dpd_max": 29})
    # The other campaign's agent has been ready longest: the team still comes first.
    stranger_agent = login(stack, other, "khac")
    agent_id = login(stack, theirs, "lan")
    desk = AgentEvents(stack, agent_id)
    wait_until(lambda: desk.first("state"), what="the stream's first state")

    sid = call_in(stack, CALLER, ["1"], talk_seconds=120)
    event = wait_until(lambda: desk.first("screen-pop"), what="the screen pop")
    pop = event["data"]
    assert event["id"] == pop["event_id"]  # a desk that reconnects resumes after it
    now = presence.get(stack.rt.redis, agent_id)
    attempt = attempt_of(stack, sid)
    assert (now.state, now.attempt_id) == ("on_call", attempt.id)
    assert presence.get(stack.rt.redis, stranger_agent).state == "ready"
    assert (attempt.direction, attempt.account_id, attempt.agent_id) == (
        "inbound", account.id, agent_id,
    )  # fmt: skip
    assert attempt.phone_id == account.phones[0].id and attempt.connected_at

    # The desk's screen pop: the same as an outbound call's.
    assert (pop["state"], pop["attempt_id"], pop["direction"]) == ("on_call", attempt.id, "inbound")
    assert pop["account"]["account_no"] == "LD012345678"
    assert pop["account"]["overdue_amount"] == 5_000_000
    assert pop["account"]["overdue_amount_text"] == f"5.000.000{NBSP}₫"
    assert pop["phone"]["number"] == mask_phone(CALLER) and pop["phone"]["relation"] == "mobile"
    assert CALLER.lstrip("+") not in json.dumps(pop)  # the number itself never reaches the desk
    sections = pop["script"]["sections"]
    assert [s["section"] for s in sections] == [
        "opening", "identity_check", "purpose", "negotiation", "closing",
    ]  # fmt: skip
    assert all(s["title"] and s["text"] for s in sections)
    codes = {c["code"]: c for c in pop["action_codes"]}
    with stack.rt.db.session() as s:
        catalogue = load_catalogue(s)
    agents_may = {c.code for c in catalogue.values() if c.active and "agent" in c.setters}
    assert set(codes) == agents_may and {"PTP", "CAB", "RTP"} <= agents_may
    assert not {"NKP", "INF", "RMD"} & set(codes)  # the system's own results
    assert [r["field"] for r in codes["PTP"]["requires"]] == ["promise_amount", "promise_date"]
    assert codes["PTP"]["requires"][0]["label"]["vi"]
    assert [r["field"] for r in codes["CAB"]["requires"]] == ["callback_at"]
    # Closed while the call goes on. The server learns of it only when its writes fail
    # (waitress reads nothing during a response): the call's end, the code and the logout
    # below are three more events, so the stream's thread is free before the server stops.
    desk.close()

    # What the borrower heard before the bridge: the amount due and how to pay.
    summary, attempt = finished(stack, sid)
    heard = said(summary)
    assert heard[:3] == [
        prompt(stack, "inbound_welcome"),
        prompt(stack, "inbound_account", account.id),
        prompt(stack, "inbound_menu"),
    ]
    details = heard[1]
    assert "5.000.000 ₫" in details and "LD012345678" in details
    assert due.strftime("%d/%m/%Y") in details and "chuyển khoản" in details
    # Our TwiML itself keeps the no-break space, so the amount is never read apart.
    assert any(f"5.000.000{NBSP}₫" in x for x in twiml_of(stack, sid))
    assert summary["pressed"] == ["1"] and summary["ended_by"] == "caller-hangup"
    assert attempt.result == "human" and attempt.action_code is None  # the agent's code comes
    wait_until(lambda: presence.get(stack.rt.redis, agent_id).state == "wrap_up", what="wrap-up")

    promise_date = (datetime.now(VN).date() + timedelta(days=3)).isoformat()
    body = {
        "agent_id": agent_id,
        "code": "PTP",
        "promise_amount": 2_000_000,
        "promise_date": promise_date,
    }
    stack.api("POST", f"/api/attempts/{attempt.id}/disposition", 201, json=body)
    with stack.rt.db.session() as s:
        (disposition,) = s.scalars(select(Disposition)).all()
        assert (disposition.attempt_id, disposition.code) == (attempt.id, "PTP")
        assert (disposition.agent_id, disposition.set_by) == (agent_id, "agent")
        promise = s.scalar(select(Promise))
        assert (promise.account_id, promise.amount) == (account.id, 2_000_000)
        assert s.get_one(CallAttempt, attempt.id).action_code == "PTP"
    assert presence.get(stack.rt.redis, agent_id).state == "ready"
    stack.api("POST", f"/api/agents/{agent_id}/logout")


def test_an_unknown_caller_keys_the_account_number_and_the_id_digits(stack: Stack, caplog):
    caplog.set_level("DEBUG")
    account = borrower(stack, account_no="LD012345678", national_id=NATIONAL_ID)
    register(stack)
    # The account number's digits, ended with #; then the last 4 digits of the ID.
    sid = call_in(stack, STRANGER, ["012345678#", "6789"])
    summary, attempt = finished(stack, sid)
    assert said(summary)[:5] == [
        prompt(stack, "inbound_welcome"),
        prompt(stack, "inbound_ask_account"),
        prompt(stack, "inbound_ask_id"),
        prompt(stack, "inbound_account", account.id),
        prompt(stack, "inbound_menu"),
    ]
    assert summary["pressed"][:2] == ["012345678#", "6789"]
    assert (attempt.direction, attempt.account_id) == ("inbound", account.id)
    assert attempt.phone_id is None and attempt.caller_number == STRANGER  # not their number
    # Heard the details, chose nothing at the menu: informed.
    assert (attempt.result, attempt.action_code) == ("informed", "INF")
    # Personal data never reaches the logs (the web app logs in this process).
    assert "inbound call" in caplog.text
    assert STRANGER[3:] not in caplog.text and NATIONAL_ID not in caplog.text


def test_a_number_two_accounts_share_asks_for_the_account_number(stack: Stack):
    shared = ((CALLER, "mobile"),)
    borrower(stack, account_no="LD000000001", phones=shared)
    second = borrower(stack, account_no="LD000000002", phones=shared, overdue=7_250_000)
    register(stack)
    # This account has no national ID on file: its details follow the account number.
    sid = call_in(stack, CALLER, ["000000002#"])
    summary, attempt = finished(stack, sid)
    heard = said(summary)
    assert heard[:4] == [
        prompt(stack, "inbound_welcome"),
        prompt(stack, "inbound_ask_account"),
        prompt(stack, "inbound_account", second.id),
        prompt(stack, "inbound_menu"),
    ]
    assert "7.250.000 ₫" in heard[2] and "LD000000001" not in " ".join(heard)
    # The caller's number is one of this account's phones: the attempt says which.
    assert (attempt.account_id, attempt.phone_id) == (second.id, second.phones[0].id)
    assert attempt.action_code == "INF"


@pytest.mark.parametrize(
    ("relation", "reason"),
    [("reference", None), ("mobile", "retired:NCP"), ("mobile", "retired:NCI")],
)
def test_a_number_that_is_not_the_borrowers_own_identifies_nobody(stack: Stack, relation, reason):
    """A reference (a relative), or a number known to be someone else's, hears nothing
    about the debt: asked for the account number like a stranger."""
    account = borrower(stack, phones=((CALLER, relation),))
    if reason:
        with stack.rt.db.begin() as s:
            phone = s.get_one(Phone, account.phones[0].id)
            phone.dialable, phone.reason = False, reason
    register(stack)
    sid = call_in(stack, CALLER, ["", ""])
    summary, attempt = finished(stack, sid)
    assert said(summary)[:2] == [
        prompt(stack, "inbound_welcome"),
        prompt(stack, "inbound_ask_account"),
    ]
    assert "5.000.000" not in " ".join(said(summary))
    assert (attempt.account_id, attempt.result) == (None, "unidentified")


def test_an_unknown_caller_who_keys_a_wrong_number_twice_hears_goodbye(stack: Stack):
    borrower(stack, account_no="LD012345678")
    register(stack)
    sid = call_in(stack, STRANGER, ["999999#", "012345670#"])
    summary, attempt = finished(stack, sid)
    assert said(summary) == [
        prompt(stack, "inbound_welcome"),
        prompt(stack, "inbound_ask_account"),
        prompt(stack, "inbound_not_found"),
        prompt(stack, "inbound_ask_account"),
        prompt(stack, "goodbye"),
    ]
    assert summary["ended_by"] == "twiml-hangup"
    assert (attempt.direction, attempt.account_id, attempt.phone_id) == ("inbound", None, None)
    assert (attempt.result, attempt.action_code) == ("unidentified", None)
    assert dispositions(stack) == []


def test_wrong_id_digits_twice_reveal_nothing_about_the_account(stack: Stack):
    account = borrower(
        stack, account_no="LD012345678", national_id=NATIONAL_ID, customer_name="Trần Thị Bích"
    )
    register(stack)
    sid = call_in(stack, STRANGER, ["012345678#", "1234", "6788"])
    summary, attempt = finished(stack, sid)
    heard = said(summary)
    assert heard == [
        prompt(stack, "inbound_welcome"),
        prompt(stack, "inbound_ask_account"),
        prompt(stack, "inbound_ask_id"),
        prompt(stack, "inbound_not_found"),
        prompt(stack, "inbound_ask_id"),
        prompt(stack, "goodbye"),
    ]
    everything = " ".join(heard)
    for secret in ("LD012345678", "Bích", "5.000.000", "₫", "chuyển khoản"):
        assert secret not in everything
    assert "LD012345678" not in " ".join(twiml_of(stack, sid))  # not even in our TwiML
    assert (attempt.account_id, attempt.result, attempt.action_code) == (
        None, "unidentified", None,
    )  # fmt: skip
    assert dispositions(stack) == [] and account.id


def test_with_no_ready_agent_in_its_campaign_any_ready_agent_takes_the_call(stack: Stack):
    account = borrower(stack, dpd=45)
    borrower(stack, dpd=10, phones=(("+84901110002", "mobile"),))
    register(stack)
    theirs = campaign(stack, "qua-han-30", {"dpd_min": 30})
    other = campaign(stack, "qua-han-som", {"dpd_max": 29})
    away = login(stack, theirs, "lan")
    with stack.rt.db.begin() as s:
        seed_default_pause_codes(s)
    stack.api("POST", f"/api/agents/{away}/pause", json={"code": "lunch"})
    anyone = login(stack, other, "khac")
    # talk_seconds counts from the answer (the menus) and again from the bridge.
    sid = call_in(stack, CALLER, ["1"], talk_seconds=120)
    summary, attempt = finished(stack, sid)
    assert (attempt.account_id, attempt.agent_id, attempt.result) == (account.id, anyone, "human")
    assert summary["ended_by"] == "caller-hangup"  # talked with the agent, then hung up
    assert presence.get(stack.rt.redis, away).state == "paused"
    wait_until(lambda: presence.get(stack.rt.redis, anyone).state == "wrap_up", what="wrap-up")
    assert dispositions(stack) == []  # the agent's code is still to come


def test_no_ready_agent_books_a_callback_for_anyone_inside_the_calling_window(stack: Stack):
    account = borrower(stack)
    register(stack)
    cid = campaign(stack, "qua-han", {})
    busy = login(stack, cid, "lan")
    with stack.rt.db.begin() as s:
        seed_default_pause_codes(s)
    stack.api("POST", f"/api/agents/{busy}/pause", json={"code": "break"})
    assert presence.get(stack.rt.redis, busy).state == "paused"  # logged in, not ready
    sid = call_in(stack, CALLER, ["1"])
    summary, attempt = finished(stack, sid)
    heard = said(summary)
    assert heard[-2:] == [prompt(stack, "inbound_callback"), prompt(stack, "goodbye")]
    assert (attempt.agent_id, attempt.result, attempt.action_code) == (None, "human", "IAR")
    (disposition,) = dispositions(stack)
    assert (disposition.code, disposition.set_by, disposition.agent_id) == ("IAR", "ivr", None)
    with stack.rt.db.session() as s:
        (callback,) = s.scalars(select(Callback)).all()
    assert (callback.account_id, callback.agent_id, callback.state) == (
        account.id, None, "scheduled",
    )  # fmt: skip
    # In the configured minutes (30), moved into vn-finance's window (07:00-21:00 local).
    asked_at = attempt.answered_at
    assert callback.due_at >= asked_at + timedelta(minutes=stack.rt.settings.ivr_callback_minutes)
    local = callback.due_at.astimezone(VN)
    assert time(7, 0) <= local.time() <= time(21, 0)
    assert presence.get(stack.rt.redis, busy).state == "paused"  # nobody was taken


def test_key_2_reads_the_details_again(stack: Stack):
    account = borrower(stack)
    register(stack)
    sid = call_in(stack, CALLER, ["2", "2"])
    summary, attempt = finished(stack, sid)
    details, menu = prompt(stack, "inbound_account", account.id), prompt(stack, "inbound_menu")
    assert said(summary) == [
        prompt(stack, "inbound_welcome"),
        *(details, menu) * 3,
        prompt(stack, "no_input"),
        menu,
        prompt(stack, "goodbye"),
    ]
    assert summary["pressed"] == ["2", "2", "", ""]
    assert attempt.action_code == "INF"


@pytest.mark.parametrize(
    ("keys", "why"), [([], "no_input"), (["5", "9"], "invalid_choice")], ids=["no-key", "wrong-key"]
)
def test_no_choice_at_the_menu_twice_is_informed(stack: Stack, keys: list[str], why: str):
    account = borrower(stack)
    register(stack)
    sid = call_in(stack, CALLER, keys)
    summary, attempt = finished(stack, sid)
    assert said(summary) == [
        prompt(stack, "inbound_welcome"),
        prompt(stack, "inbound_account", account.id),
        prompt(stack, "inbound_menu"),
        prompt(stack, why),
        prompt(stack, "inbound_menu"),
        prompt(stack, "goodbye"),
    ]
    assert summary["pressed"] == (keys or ["", ""]) and summary["ended_by"] == "twiml-hangup"
    # Heard the details, chose nothing: informed, recorded when the call ended.
    assert (attempt.result, attempt.action_code, attempt.agent_id) == ("informed", "INF", None)
    (disposition,) = dispositions(stack)
    assert (disposition.code, disposition.set_by, disposition.account_id) == (
        "INF", "system", account.id,
    )  # fmt: skip
    assert disposition.created_at >= attempt.ended_at - timedelta(seconds=1)


def test_a_repeated_first_webhook_makes_one_attempt(stack: Stack):
    account = borrower(stack)
    form = {
        "CallSid": "CA" + "8" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": CALLER,
        "To": BANK,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    first = signed_post(stack, "/twilio/inbound", form)
    again = signed_post(stack, "/twilio/inbound", form)
    assert first.status_code == again.status_code == 200
    assert first.text == again.text and "<Gather" in first.text
    with stack.rt.db.session() as s:
        (attempt,) = s.scalars(select(CallAttempt)).all()
    assert (attempt.call_sid, attempt.account_id) == (form["CallSid"], account.id)

    # The repeat was not another reading of the details: the caller still has all three
    # "2: hear it again" (then goodbye), as the menu's own signed action URL says.
    details = prompt(stack, "inbound_account", account.id)
    reply = first.text
    for _ in range(MAX_REPEATS):
        reply = signed_post(stack, gather_action(reply), {**form, "Digits": "2"}).text
        assert details in " ".join(spoken(reply))
    last = spoken(signed_post(stack, gather_action(reply), {**form, "Digits": "2"}).text)
    assert last == [prompt(stack, "goodbye")]


def test_a_caller_who_hangs_up_at_the_id_question_is_not_identified(stack: Stack):
    borrower(stack, account_no="LD012345678", national_id=NATIONAL_ID)
    register(stack)
    # Hang up a few seconds into the ID question's wait for keys: simulated seconds of
    # speech (the mock says 2.5 words a second), the keys, then half the 8 s timeout.
    words = sum(
        len(prompt(stack, name).split())
        for name in ("inbound_welcome", "inbound_ask_account", "inbound_ask_id")
    )
    keys = "012345678#"
    leave_at = words / 2.5 + 1.5 + 0.3 * len(keys) + 4
    sid = stack.mock.inbound_call(
        STRANGER, BANK, digits=[keys], talk_seconds=PATIENT, hangup_after_seconds=leave_at
    )
    summary, attempt = finished(stack, sid)
    assert summary["ended_by"] == "caller-hangup"
    assert said(summary)[2] == prompt(stack, "inbound_ask_id")  # asked, never answered
    # Keying someone's account number proves nothing: no account, no code on it.
    assert (attempt.account_id, attempt.result, attempt.action_code) == (
        None, "unidentified", None,
    )  # fmt: skip
    assert dispositions(stack) == []


def test_concurrent_deliveries_of_the_first_webhook_make_one_attempt(stack: Stack):
    import concurrent.futures

    borrower(stack)
    for n in range(5):  # races are not certain: a few calls, four deliveries each
        form = {"CallSid": f"CA{n:032d}", "From": CALLER, "To": BANK, "CallStatus": "ringing"}
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            replies = list(
                pool.map(lambda _, f=form: signed_post(stack, "/twilio/inbound", f), range(4))
            )
        assert [r.status_code for r in replies] == [200] * 4, [r.text for r in replies]
        assert len({r.text for r in replies}) == 1
    assert attempt_count(stack) == 5
