"""Carrier errors with meaning, creates that time out, and recordings, end to end.

The whole stack (tests/stack_support.py): the web app, RQ, SQL and Redis, and the mock
carrier reached through the official twilio client. The mock is told per number how to fail
(`create_error`, `create_stall_seconds`, `fail_error_code`), and its own call log says how
many calls really reached the carrier. What a supervisor cares about is asserted: the phone
kept or set aside and why, no attempt for a call that never existed, the entry queued again
with its retry time, one call at the carrier, the campaign not paused by the carrier's
rate limit.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from dialer.campaigns import pacer, queue
from dialer.campaigns.jobs import PAUSE_AFTER_CARRIER_ERRORS, dial_entry
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry
from dialer.cli import main
from dialer.clock import Clock
from dialer.outcomes.models import Disposition
from dialer.portfolio.models import Phone
from dialer.redis import Keys
from dialer.runtime import Runtime
from dialer.telephony import cps
from dialer.telephony.carrier import CallRequest, TwilioCarrier, make_twilio_client
from tests import factories
from tests.mock_support import wait_until
from tests.stack_support import Stack, attempts_of, campaign_with_agents, free_port

# Real seconds the dialer waits for an answer to a create, in the tests that make it wait.
CREATE_TIMEOUT = 0.5
# Real seconds the mock holds a stalled create: well past the timeout, so it gives up.
STALL = 3.0
BACKOFF_COUNT = f"{Keys.carrier_backoff()}:count"


@pytest.fixture
def quick_creates(monkeypatch) -> None:
    """A short create timeout. Ask for it before `stack`: the runtime reads it once, when
    its carrier is built (the tests check that it took)."""
    monkeypatch.setenv("DIALER_CARRIER_TIMEOUT", str(CREATE_TIMEOUT))


# ----------------------------------------------------------------------------- helpers --
def _account(stack: Stack, *numbers: str) -> int:
    """One account, its numbers in order of priority: a mobile first, then the home line."""
    relations = ("mobile", "home", "work")
    with stack.rt.db.begin() as s:
        phones = tuple(zip(numbers, relations, strict=False))
        return factories.account(s, phones=phones).id


def _calls_to(stack: Stack, number: str) -> list:
    """The carrier's own record of the calls to a number (through the official client)."""
    return make_twilio_client(stack.rt.settings).calls.list(to=number)


def _entry(stack: Stack) -> CampaignEntry:
    with stack.rt.db.session() as s:
        return s.scalars(select(CampaignEntry)).one()


def _phones(stack: Stack) -> dict[str, Phone]:
    with stack.rt.db.session() as s:
        return {p.number: p for p in s.scalars(select(Phone))}


def _campaign_state(stack: Stack, cid: int) -> str:
    with stack.rt.db.session() as s:
        return s.get_one(Campaign, cid).state


def _errors_in_a_row(stack: Stack, cid: int) -> int:
    return int(stack.rt.redis.get(Keys.carrier_errors(cid)) or 0)


def _placed(stack: Stack, n: int = 1) -> CallAttempt:
    """Wait for the n-th attempt to have its call SID (the job or a status callback set
    it), and no more attempts than n; returns it."""
    return wait_until(
        lambda: (a := attempts_of(stack)) and len(a) == n and a[-1].call_sid and a[-1],
        what=f"attempt {n} placed",
    )


def _waits_for_its_retry(stack: Stack, cid: int, entry: CampaignEntry) -> None:
    """The entry is queued again for its retry time: in the retry set at that time, or in
    the dial queue if the time has passed already (a second is 20 real ms here)."""
    r = stack.rt.redis
    assert entry.state == "queued" and entry.not_before is not None
    score = r.zscore(Keys.retry(cid), entry.id)
    if score is None:
        assert entry.not_before <= stack.rt.clock.now()
        assert r.zscore(Keys.dial_queue(cid), entry.id) is not None
    else:
        assert score == pytest.approx(entry.not_before.timestamp())
        assert r.zscore(Keys.dial_queue(cid), entry.id) is None


def _dialer_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the dialer itself logged (the twilio client logs its requests at INFO; a
    process's configure_logging silences it and masks every handler)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("dialer."))


def _dial_until(stack: Stack, cid: int, done, what: str):
    """Pacer rounds until `done()` holds: a retry time passes on the simulated clock."""

    def round_then_check():
        stack.dial_round()
        return done()

    return wait_until(round_then_check, what=what)


# ----------------------------------------------------------------- 20429: slow down --
def test_too_many_requests_backs_off_and_dials_the_same_number_again(stack: Stack, caplog):
    mobile, home = "+84901400001", "+842838400001"
    account_id = _account(stack, mobile, home)
    # One refusal, then the carrier takes the call (the borrower does not answer).
    stack.override(mobile, create_error=20429, create_error_count=1, answer="no-answer")
    cid, _ = campaign_with_agents(stack, 1)
    r = stack.rt.redis
    r.set(Keys.carrier_errors(cid), PAUSE_AFTER_CARRIER_ERRORS - 1)  # one more error pauses
    # Four refusals in a row before this one (calls of other campaigns): this fifth one
    # backs off 16 s, and so does the entry.
    r.set(BACKOFF_COUNT, 4)
    before = stack.rt.clock.now()

    caplog.set_level("INFO")
    assert stack.dial_round() == {cid: 1}
    # No call existed: no attempt, nothing counted against the entry or the number.
    assert attempts_of(stack) == [] and _calls_to(stack, mobile) == []
    entry = _entry(stack)
    assert (entry.state, entry.attempts) == ("queued", 0)
    backoff = timedelta(seconds=16)
    assert before + backoff <= entry.not_before <= stack.rt.clock.now() + backoff
    _waits_for_its_retry(stack, cid, entry)
    assert r.zscore(Keys.dialing(cid), entry.id) is None
    assert not r.exists(Keys.account_lock(account_id))
    phone = _phones(stack)[mobile]
    assert phone.dialable and phone.reason is None
    # Not an error of ours nor the number's: the campaign's count is where it was.
    assert _errors_in_a_row(stack, cid) == PAUSE_AFTER_CARRIER_ERRORS - 1
    assert _campaign_state(stack, cid) == "running"
    assert int(r.get(BACKOFF_COUNT)) == 5
    log = _dialer_log(caplog)
    assert "slow down (20429)" in log and "901400001" not in log

    # Once the backoff and the retry time pass, the same number is dialed, once.
    _dial_until(stack, cid, lambda: attempts_of(stack), what="the dial after the backoff")
    attempt = _placed(stack)
    assert attempt.phone_id == phone.id
    assert [c.sid for c in _calls_to(stack, mobile)] == [attempt.call_sid]
    assert _calls_to(stack, home) == []
    assert not r.exists(BACKOFF_COUNT)  # the carrier takes calls again: the next wait is short
    assert _entry(stack).attempts == 1


def test_the_pacer_hands_out_no_calls_while_the_carrier_backoff_lasts(stack: Stack):
    number = "+84901400002"
    stack.callees({number: {"answer": "no-answer"}})
    cid, _ = campaign_with_agents(stack, 1)
    r = stack.rt.redis
    # A refusal noted on a wall clock (speed 1): the first backoff lasts a real second.
    assert cps.back_off(r, Clock()) == cps.BACKOFF_FIRST_SECONDS
    assert cps.backoff_left(r, stack.rt.clock) > 0

    assert pacer.tick(stack.rt) == {cid: 0}  # an agent ready, an entry queued: held back
    assert r.zcard(Keys.dial_queue(cid)) == 1 and len(stack.rt.queue) == 0

    wait_until(lambda: cps.backoff_left(r, stack.rt.clock) == 0, what="the backoff to end")
    assert stack.dial_round() == {cid: 1}
    _placed(stack)
    assert len(_calls_to(stack, number)) == 1


def test_a_carrier_account_slower_than_ours_is_absorbed_without_errors(stack: Stack, caplog):
    """The carrier account takes one call per 20 s and refuses the rest with 20429, far
    below the dialer's own rate (100 per second in these tests): every entry is still
    dialed, once, and nothing is counted as an error or left behind as an attempt."""
    numbers = [f"+8490140000{i}" for i in range(3, 6)]
    stack.callees({n: {"answer": "no-answer"} for n in numbers})
    cid, _ = campaign_with_agents(stack, len(numbers))  # (their softphone legs count too)
    stack.mock.set_limits({"cps": 0.05, "cps_mode": "reject"})

    caplog.set_level("INFO")
    assert stack.dial_round() == {cid: len(numbers)}  # handed out at once, the carrier balks
    _dial_until(stack, cid, lambda: len(attempts_of(stack)) == 3, what="every entry dialed")
    wait_until(lambda: all(a.call_sid for a in attempts_of(stack)), what="their SIDs")
    assert _dialer_log(caplog).count("slow down (20429)") >= 2  # it did refuse them
    assert sorted(len(_calls_to(stack, n)) for n in numbers) == [1, 1, 1]
    assert {a.call_sid for a in attempts_of(stack)} == {
        c.sid for n in numbers for c in _calls_to(stack, n)
    }
    with stack.rt.db.session() as s:
        assert {e.attempts for e in s.scalars(select(CampaignEntry))} == {1}
    assert all(a.error is None for a in attempts_of(stack))
    assert _errors_in_a_row(stack, cid) == 0 and _campaign_state(stack, cid) == "running"


def test_a_preview_agent_whose_dial_is_refused_with_20429_is_ready_again(stack: Stack):
    number = "+84901400006"
    stack.callees({number: {"create_error": 20429, "create_error_count": 1}})
    cid = stack.api("POST", "/api/campaigns", 201, json={"name": "pv", "dial_mode": "preview"})[
        "id"
    ]
    agent_id = stack.api("POST", "/api/agents", 201, json={"username": "pv", "name": "Pv"})["id"]
    stack.api("POST", f"/api/campaigns/{cid}/launch")
    stack.api("POST", f"/api/agents/{agent_id}/login", json={"campaign_id": cid})
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "ready", what="agent ready")
    shown = stack.api("POST", f"/api/agents/{agent_id}/preview")
    stack.api("POST", f"/api/agents/{agent_id}/preview/dial")

    stack.dial_round()
    assert attempts_of(stack) == [] and _calls_to(stack, number) == []
    # Not held for a call that never existed: free for the next preview.
    assert stack.agent_state(agent_id)["state"] == "ready"
    entry = _entry(stack)
    assert entry.id == shown["entry_id"] and (entry.state, entry.attempts) == ("queued", 0)
    _waits_for_its_retry(stack, cid, entry)


# -------------------------------------------------------------- 21211 / 21214: bad number --
@pytest.mark.parametrize("code", [21211, 21214])
def test_an_invalid_or_unreachable_number_is_retired_and_the_next_one_dialed(
    stack: Stack, caplog, code: int
):
    mobile, home = "+84901400011", "+842838400011"
    _account(stack, mobile, home)
    stack.override(mobile, create_error=code)
    stack.override(home, answer="no-answer")
    cid, _ = campaign_with_agents(stack, 1)

    caplog.set_level("INFO")
    assert stack.dial_round() == {cid: 1}
    (attempt,) = attempts_of(stack)
    phones = _phones(stack)
    assert attempt.phone_id == phones[mobile].id and attempt.call_sid is None
    assert (attempt.status, attempt.result, attempt.action_code) == ("failed", "failed", "NAB")
    assert attempt.error.startswith(f"{code}:") and attempt.ended_at is not None
    assert not phones[mobile].dialable and phones[mobile].reason == "retired:NAB"
    assert phones[home].dialable
    with stack.rt.db.session() as s:
        (disposition,) = s.scalars(select(Disposition))
        assert (disposition.code, disposition.set_by) == ("NAB", "system")
        assert disposition.applied["retired_phone_id"] == phones[mobile].id
    # The account's other number is dialed at once, not after a retry interval.
    entry = _entry(stack)
    assert (entry.state, entry.not_before, entry.last_result) == ("queued", None, "NAB")
    assert stack.rt.redis.zscore(Keys.dial_queue(cid), entry.id) is not None
    assert _errors_in_a_row(stack, cid) == 0  # the number's fault, not the account's
    assert _calls_to(stack, mobile) == []
    log = _dialer_log(caplog)
    assert f"carrier error {code}" in log and "901400011" not in log  # masked

    assert stack.dial_round() == {cid: 1}
    second = _placed(stack, 2)
    assert second.phone_id == phones[home].id
    assert [c.sid for c in _calls_to(stack, home)] == [second.call_sid]


# ---------------------------------------------------------- 21215 / 13227: geography --
def test_a_country_our_account_may_not_call_sets_the_phone_aside_for_that_reason(stack: Stack):
    abroad, home = "+85512345678", "+842838400021"  # a Cambodian mobile, a Saigon home line
    _account(stack, abroad, home)
    stack.override(home, answer="no-answer")
    # The carrier account's voice geo permissions: Vietnam only (the mock refuses 21215).
    stack.mock.set_limits({"allowed_countries": ["VN"]})
    cid, _ = campaign_with_agents(stack, 1)
    r = stack.rt.redis
    r.set(Keys.carrier_errors(cid), PAUSE_AFTER_CARRIER_ERRORS - 1)

    assert stack.dial_round() == {cid: 1}
    (attempt,) = attempts_of(stack)
    phones = _phones(stack)
    assert (attempt.result, attempt.action_code) == ("geo_blocked", "NKP")
    assert attempt.error.startswith("21215:") and attempt.call_sid is None
    # The number is fine: kept on the account, not dialable until the country is allowed.
    assert not phones[abroad].dialable and phones[abroad].reason == "geo_permission:21215"
    assert _errors_in_a_row(stack, cid) == PAUSE_AFTER_CARRIER_ERRORS - 1
    assert _campaign_state(stack, cid) == "running"
    entry = _entry(stack)
    assert (entry.state, entry.not_before) == ("queued", None)  # the home line now
    assert _calls_to(stack, abroad) == []

    assert stack.dial_round() == {cid: 1}
    second = _placed(stack, 2)
    assert second.phone_id == phones[home].id
    assert len(_calls_to(stack, home)) == 1


def test_a_call_the_carrier_fails_for_geography_sets_the_phone_aside(stack: Stack):
    abroad, home = "+85512345679", "+842838400022"
    _account(stack, abroad, home)
    stack.override(abroad, answer="failed", fail_error_code=13227)
    stack.override(home, answer="no-answer")
    cid, _ = campaign_with_agents(stack, 1)

    assert stack.dial_round() == {cid: 1}
    ended = wait_until(
        lambda: (a := attempts_of(stack)) and a[0].ended_at and a[0], what="the failed call"
    )
    ((call,),) = [_calls_to(stack, abroad)]
    assert ended.call_sid == call.sid and call.status == "failed"
    assert (ended.status, ended.result, ended.action_code) == ("failed", "geo_blocked", "NKP")
    assert ended.error == "13227"
    phones = _phones(stack)
    assert not phones[abroad].dialable and phones[abroad].reason == "geo_permission:13227"
    assert _errors_in_a_row(stack, cid) == 0
    wait_until(lambda: _entry(stack).state == "queued", what="the entry back")
    assert _entry(stack).not_before is None

    assert stack.dial_round() == {cid: 1}
    assert _placed(stack, 2).phone_id == phones[home].id


def test_other_carrier_errors_still_count_and_pause_the_campaign(stack: Stack):
    """A 20429 or a geography just before leaves the count alone; an outage (20500) is
    counted as before and the tenth in a row pauses the campaign."""
    mobile = "+84901400031"
    _account(stack, mobile)
    stack.override(mobile, create_error=20500)
    cid, _ = campaign_with_agents(stack, 1)
    stack.rt.redis.set(Keys.carrier_errors(cid), PAUSE_AFTER_CARRIER_ERRORS - 1)

    assert stack.dial_round() == {cid: 1}
    (attempt,) = attempts_of(stack)
    assert (attempt.result, attempt.action_code) == ("error", "NKP")
    assert attempt.error.startswith("20500:")
    assert _phones(stack)[mobile].dialable  # the carrier's fault, not the number's
    assert _errors_in_a_row(stack, cid) == PAUSE_AFTER_CARRIER_ERRORS
    assert _campaign_state(stack, cid) == "paused"
    assert stack.rt.redis.hget(Keys.running_campaigns(), cid) is None


# ------------------------------------------------------------ a create that timed out --
def test_a_create_whose_answer_was_lost_is_found_at_the_carrier(
    quick_creates, stack: Stack, caplog
):
    assert stack.rt.settings.carrier_timeout == CREATE_TIMEOUT
    number = "+84901400041"
    _account(stack, number)
    # The call is created and rings, but the carrier's answer to the create never comes in
    # time; its status callbacks come late too, so only the lookup can know the call.
    stack.override(number, answer="no-answer", create_stall_seconds=STALL)
    stack.mock.set_faults({"delay": 1.0, "delay_seconds": 60, "kinds": ["status-callback"]})
    cid, _ = campaign_with_agents(stack, 1)

    caplog.set_level("INFO")
    started = time.monotonic()
    assert stack.dial_round() == {cid: 1}
    took = time.monotonic() - started
    assert took < STALL  # the job gave up on the create instead of waiting it out
    (call,) = _calls_to(stack, number)
    assert any(e["type"] == "stall" for e in stack.mock.events(call.sid))
    (attempt,) = attempts_of(stack)
    assert attempt.call_sid == call.sid and attempt.ended_at is None
    assert "the carrier has the call" in _dialer_log(caplog)
    entry = _entry(stack)
    assert (entry.state, entry.attempts) == ("dialing", 1)
    assert _errors_in_a_row(stack, cid) == 0

    # The call goes on as any other: its (late) final status ends the attempt, once.
    ended = wait_until(
        lambda: (a := attempts_of(stack)) and a[0].ended_at and a[0], what="the call to end"
    )
    assert (ended.result, ended.action_code) == ("no_answer", "NKP")
    assert len(_calls_to(stack, number)) == 1 and len(attempts_of(stack)) == 1


def test_a_create_answered_late_but_announced_by_its_callback_is_kept(quick_creates, stack: Stack):
    """The answer is lost, but the call's first status callback named it meanwhile."""
    assert stack.rt.settings.carrier_timeout == CREATE_TIMEOUT
    number = "+84901400042"
    _account(stack, number)
    stack.override(number, answer="no-answer", create_stall_seconds=STALL)
    cid, _ = campaign_with_agents(stack, 1)

    assert stack.dial_round() == {cid: 1}
    (call,) = _calls_to(stack, number)
    (attempt,) = attempts_of(stack)
    assert attempt.call_sid == call.sid
    assert _entry(stack).attempts == 1


def test_a_create_that_never_reached_the_carrier_is_dialed_again_later(quick_creates, stack: Stack):
    assert stack.rt.settings.carrier_timeout == CREATE_TIMEOUT
    number = "+84901400043"
    account_id = _account(stack, number)
    stack.override(number, create_stall_seconds=STALL, create_stall_mode="lost_request")
    cid, _ = campaign_with_agents(stack, 1)
    r = stack.rt.redis
    before = stack.rt.clock.now()

    assert stack.dial_round() == {cid: 1}
    # Looked up, and the carrier has no such call: nothing happened, so nothing is kept.
    assert _calls_to(stack, number) == [] and attempts_of(stack) == []
    entry = _entry(stack)
    assert (entry.state, entry.attempts) == ("queued", 0)
    retry = timedelta(minutes=1)  # jobs.LOST_CREATE_RETRY
    assert before + retry <= entry.not_before <= stack.rt.clock.now() + retry
    _waits_for_its_retry(stack, cid, entry)
    assert r.zscore(Keys.dialing(cid), entry.id) is None
    assert not r.exists(Keys.account_lock(account_id))
    assert _errors_in_a_row(stack, cid) == 0
    assert _phones(stack)[number].dialable

    # The carrier is reachable again: the retry dials once.
    stack.override(number, answer="no-answer")
    _dial_until(stack, cid, lambda: attempts_of(stack), what="the retry's dial")
    attempt = _placed(stack)
    assert [c.sid for c in _calls_to(stack, number)] == [attempt.call_sid]


class _SilentCarrier:
    """Accepts connections and never answers: a create sent there times out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)  # the kernel completes the handshake; nobody ever reads
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def silent_carrier() -> Iterator[_SilentCarrier]:
    server = _SilentCarrier()
    yield server
    server.close()


class _Split:
    """Creates go to one carrier, lookups to another (each a real TwilioCarrier)."""

    def __init__(self, creates: TwilioCarrier, lookups: TwilioCarrier) -> None:
        self.creates, self.lookups = creates, lookups

    def place_call(self, request: CallRequest) -> str:
        return self.creates.place_call(request)

    def find_call(self, to, from_, created_after):
        return self.lookups.find_call(to, from_, created_after)

    def hangup(self, call_sid: str) -> None:
        self.lookups.hangup(call_sid)

    def fetch_call(self, call_sid: str):
        return self.lookups.fetch_call(call_sid)


def test_a_create_that_timed_out_with_no_way_to_look_is_left_open_not_redialed(
    stack: Stack, silent_carrier: _SilentCarrier
):
    """The create got no answer and the carrier cannot be asked either: the call may
    exist, so the attempt stays open (reconciliation ends it later) and nothing is dialed
    twice meanwhile."""
    number = "+84901400044"
    account_id = _account(stack, number)
    cid, _ = campaign_with_agents(stack, 1)
    settings = stack.rt.settings
    silent = settings.with_overrides(twilio_api_base=silent_carrier.url, carrier_timeout=0.3)
    down = settings.with_overrides(twilio_api_base=f"http://127.0.0.1:{free_port()}")
    rt = Runtime(settings, carrier=_Split(TwilioCarrier(silent), TwilioCarrier(down)))
    (entry_id,) = queue.pop_for_dialing(
        stack.rt.redis, cid, 1, stack.rt.now_ts()
    )  # the pacer's part

    assert dial_entry(rt, cid, entry_id).startswith("unknown")
    (attempt,) = attempts_of(stack)
    assert attempt.call_sid is None and attempt.ended_at is None and attempt.result is None
    entry = _entry(stack)
    assert (entry.state, entry.attempts) == ("dialing", 1)
    r = stack.rt.redis
    assert r.exists(Keys.account_lock(account_id))  # no other campaign dials it meanwhile
    assert r.zscore(Keys.dialing(cid), entry.id) is not None
    assert _errors_in_a_row(stack, cid) == 0
    assert pacer.tick(stack.rt) == {cid: 0} and len(stack.rt.queue) == 0
    assert _calls_to(stack, number) == []


# ------------------------------------------------------------------------- recordings --
def _recording_hooks(stack: Stack, call_sid: str) -> list[dict]:
    """The recording callbacks the carrier delivered for a call, from its own log."""
    return [
        e
        for e in stack.mock.events(call_sid)
        if e["type"] == "webhook" and e["kind"] == "recording-callback"
    ]


def _recording_campaign(stack: Stack, record: bool) -> tuple[int, int]:
    """A campaign made from the command line (`--record` or not), launched, one agent."""
    args = ["campaign", "create", "ghi âm", "--json", "--record" if record else "--no-record"]
    created = CliRunner().invoke(main, args, catch_exceptions=False)
    assert created.exit_code == 0, created.output
    cid = json.loads(created.output)["id"]
    agent_id = stack.api("POST", "/api/agents", 201, json={"username": "rec", "name": "Rec"})["id"]
    stack.api("POST", f"/api/campaigns/{cid}/launch")
    stack.api("POST", f"/api/agents/{agent_id}/login", json={"campaign_id": cid})
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "ready", what="agent ready")
    return cid, agent_id


def test_a_recorded_campaign_keeps_the_recording_on_the_attempt(stack: Stack):
    number = "+84901400051"
    stack.callees({number: {"answer": "human", "ring_seconds": 3, "talk_seconds": 20}})
    # Twilio may deliver a callback twice: the second changes nothing.
    stack.mock.set_faults({"duplicate": 1.0, "kinds": ["recording-callback"]})
    cid, agent_id = _recording_campaign(stack, record=True)

    assert stack.dial_round() == {cid: 1}
    attempt = wait_until(
        lambda: (a := attempts_of(stack)) and a[0].recording_sid and a[0],
        what="the recording callback",
    )
    assert attempt.agent_id == agent_id  # the customer talked to the agent
    sid = attempt.call_sid
    params = stack.mock.call_log(sid)["params"]
    assert params.get("Record") == "true"  # the customer leg, from its answer
    assert params["RecordingStatusCallback"].endswith(f"/twilio/recording?attempt={attempt.id}")
    (made,) = [e for e in stack.mock.events(sid) if e["type"] == "recording"]
    assert (attempt.recording_sid, attempt.recording_url) == (made["sid"], made["url"])
    assert attempt.recording_duration == made["duration"] and made["duration"] >= 20
    # Both deliveries reached the app and were taken; the attempt holds the one recording.
    delivered = wait_until(
        lambda: len(hooks := _recording_hooks(stack, sid)) == 2 and hooks,
        what="both deliveries of the recording callback",
    )
    assert [e["status_code"] for e in delivered] == [204, 204]
    assert delivered[0]["params"]["RecordingSid"] == delivered[1]["params"]["RecordingSid"]
    assert attempts_of(stack)[0].recording_sid == made["sid"]
    ended = wait_until(lambda: attempts_of(stack)[0].ended_at and attempts_of(stack)[0])
    assert attempt.recording_duration == ended.duration_seconds


def test_a_campaign_without_recording_asks_for_none(stack: Stack):
    number = "+84901400052"
    stack.callees({number: {"answer": "human", "ring_seconds": 3, "talk_seconds": 10}})
    cid, _ = _recording_campaign(stack, record=False)

    assert stack.dial_round() == {cid: 1}
    ended = wait_until(
        lambda: (a := attempts_of(stack)) and a[0].ended_at and a[0], what="the call to end"
    )
    assert "Record" not in stack.mock.call_log(ended.call_sid)["params"]
    assert not [e for e in stack.mock.events(ended.call_sid) if e["type"] == "recording"]
    assert ended.recording_sid is None and ended.recording_url is None


def test_a_recording_callback_for_an_unknown_attempt_changes_nothing(stack: Stack):
    from dialer.telephony.mock import compute_signature

    url = f"{stack.web}/twilio/recording?attempt=987"
    form = {"RecordingSid": "RE" + "1" * 32, "RecordingUrl": "http://x/r", "RecordingDuration": "5"}
    headers = {"X-Twilio-Signature": compute_signature("mock-carrier-auth-token", url, form)}
    assert requests.post(url, data=form, headers=headers, timeout=5).status_code == 204
    assert attempts_of(stack) == []


# ------------------------------------------------- units: the backoff, "never sent" --
def test_the_backoff_doubles_per_refusal_in_a_row_up_to_its_cap(redis_client):
    wall, fast = Clock(), Clock.started_now(50.0)
    waits = [cps.back_off(redis_client, wall) for _ in range(8)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert cps.BACKOFF_MAX_SECONDS - 1 < cps.backoff_left(redis_client, wall) <= 30.0
    # The key lasts the backoff's real time; a fast clock reads it back in simulated time.
    assert 30.0 * 50 - 60 < cps.backoff_left(redis_client, fast) <= 30.0 * 50

    cps.clear_backoff(redis_client)  # a call got through: the next refusal starts short
    assert cps.back_off(redis_client, fast) == cps.BACKOFF_FIRST_SECONDS
    # On the fast clock that is 20 real ms, read back as about one simulated second.
    assert 0 < redis_client.pttl(Keys.carrier_backoff()) <= 20
    assert 0 < cps.backoff_left(redis_client, fast) <= 1.0
    wait_until(lambda: cps.backoff_left(redis_client, fast) == 0, what="the short backoff")


def _request_error(url: str, timeout: float = 2.0) -> requests.RequestException:
    try:
        requests.post(url, data={"To": "+84901400099"}, timeout=timeout)
    except requests.RequestException as exc:
        return exc
    raise AssertionError(f"{url} answered")


def test_never_sent_is_only_a_connection_that_was_never_made(silent_carrier: _SilentCarrier):
    from urllib3.exceptions import MaxRetryError, NameResolutionError, ProtocolError

    from dialer.telephony.carrier import _never_sent

    refused = _request_error(f"http://127.0.0.1:{free_port()}/Calls.json")
    assert _never_sent(refused)
    # A name that does not resolve (urllib3's NameResolutionError, built here rather than
    # asked of the machine's resolver): no connection, so no call.
    dns = NameResolutionError("carrier.invalid", None, OSError(-2, "Name or service not known"))
    wrapped = requests.ConnectionError(MaxRetryError(None, "/Calls.json", dns))
    assert _never_sent(wrapped)
    assert _never_sent(_request_error("127.0.0.1:8901/Calls.json"))  # no scheme: not built
    # Sent, then silence, or the connection dropped after the request: maybe created.
    assert not _never_sent(_request_error(f"{silent_carrier.url}/Calls.json", timeout=0.2))
    dropped = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert not _never_sent(requests.ConnectionError(dropped))


def test_a_create_times_out_after_the_setting_and_says_the_call_may_exist(
    settings, silent_carrier: _SilentCarrier
):
    from dialer.telephony.carrier import CarrierError, CarrierTimeout

    request = CallRequest(to="+84901400098", from_="+842873000000", twiml="<Response/>")
    slow = settings.with_overrides(twilio_api_base=silent_carrier.url, carrier_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(CarrierTimeout, match="no answer to the create: ReadTimeout"):
        TwilioCarrier(slow).place_call(request)
    assert 0.3 <= time.monotonic() - started < 2.0

    nobody = settings.with_overrides(twilio_api_base=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CarrierError, match="carrier unreachable") as refused:
        TwilioCarrier(nobody).place_call(request)
    assert not isinstance(refused.value, CarrierTimeout)  # certainly not placed: no lookup


def test_a_hangup_the_carrier_cannot_take_is_a_carrier_error(settings):
    """An agent's logout hangs up their leg and logs a CarrierError; a network failure must
    be one too, not an error page."""
    from dialer.telephony.carrier import CarrierError

    nobody = settings.with_overrides(twilio_api_base=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CarrierError, match="carrier unreachable"):
        TwilioCarrier(nobody).hangup("CA" + "4" * 32)
