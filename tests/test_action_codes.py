"""Action codes end to end against the real SQL database and Redis: every default code's
effects, refused input that changes nothing, corrections and their audit trail, and the
catalogue edited through the CLI and the API."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from dialer.agents import presence
from dialer.app import create_app
from dialer.campaigns import followups, queue, service
from dialer.campaigns.attempts import claim_entry, start_attempt
from dialer.campaigns.models import CallAttempt, CampaignEntry, DncNumber
from dialer.cli import main
from dialer.outcomes.catalogue import (
    CatalogueError,
    code_as_dict,
    default_codes,
    seed_default_codes,
    set_code,
)
from dialer.outcomes.effects import DispositionError, DispositionInput
from dialer.outcomes.models import (
    ActionCode,
    Callback,
    Disposition,
    DispositionAudit,
    Promise,
    Referral,
)
from dialer.outcomes.service import correct_disposition, record_disposition
from dialer.portfolio.models import Account, Phone
from dialer.redis import Keys
from dialer.runtime import Runtime
from tests import factories

VN = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 10:00 local
TODAY = date(2026, 11, 23)
AUTH = {"Authorization": "Bearer test-api-token"}
PHONES = (("+84901111111", "mobile"), ("+84902222222", "work"))


@pytest.fixture
def codes(session):
    seed_default_codes(session)
    session.commit()


def _attempt(session, *, agent: bool = True, phones=PHONES, **account_fields):
    acc = factories.account(session, phones=phones, **account_fields)
    who = factories.agent(session)
    campaign = service.create_campaign(session, "c")
    service.launch(session, campaign, NOW, VN)
    entry = session.scalar(select(CampaignEntry).where(CampaignEntry.account_id == acc.id))
    claim_entry(session, entry.id, NOW)
    attempt = start_attempt(session, entry, acc.phones[0], NOW)
    attempt.call_sid = f"CA{attempt.id:032d}"
    if agent:
        attempt.agent_id, attempt.connected_at, attempt.result = who.id, NOW, "human"
    else:
        attempt.result = "no_answer"
    session.commit()
    return attempt, who, entry


def _fields(code: str) -> dict:
    return {
        "PTP": {"promise_amount": 3_000_000, "promise_date": TODAY + timedelta(days=3)},
        "CAB": {"callback_at": NOW + timedelta(hours=3)},
        "IAR": {"callback_at": NOW + timedelta(hours=3)},
        "DIF": {"note": "mất việc"},
        "IGN": {"note": "đã trả đủ"},
        "GSF": {"note": "không biết khoản vay"},
        "DIE": {"note": "giấy chứng tử"},
    }.get(code, {})


# What each default code does: entry state, retry (minutes from NOW; 0: at once), rows made.
EXPECTED = {
    "PTP": dict(state="done", promise=True, suppressed=TODAY + timedelta(days=5)),
    "PAID": dict(state="done", suppressed=TODAY + timedelta(days=3), paid_claim=True),
    "WFP": dict(state="done", suppressed=TODAY + timedelta(days=3), paid_claim=True),
    "RTP": dict(state="done"),
    "CAB": dict(state="queued", retry=180, callback="same_agent"),
    "NKP": dict(state="queued", retry=0),  # the work number is untried: dial it now
    "RMD": dict(state="done"),
    "HUP": dict(state="queued", retry=120),
    "NAB": dict(state="queued", retry=None, retired=True),
    "NCP": dict(state="queued", retry=None, retired=True, dnc=True),
    "LEM": dict(state="queued", retry=240),
    "DIF": dict(state="done", refer="restructuring"),
    "IGN": dict(state="done", refer="dispute"),
    "GSF": dict(state="done", refer="legal", alert=True),
    "DIE": dict(state="done", refer="legal", closed=True),
    "CFF": dict(state="done", refer="field"),
    "NRS": dict(state="queued", retry=240),
    "NCI": dict(state="queued", retry=None, retired=True),  # no DNC: unverified key press
    "NDP": dict(state="queued", retry=120),
    "INF": dict(state="done"),
    "IAR": dict(state="done", callback="any"),  # the IVR lets an agent campaign call back
}


def _runtime_at_now(settings) -> Runtime:
    """A runtime whose clock stands at NOW, like the rows the tests make."""
    at_now = settings.with_overrides(
        clock_real_origin=time.time(), clock_sim_origin=NOW.timestamp()
    )
    return Runtime(at_now)


def test_every_default_code_has_an_expectation():
    assert {c["code"] for c in default_codes()} == set(EXPECTED)


@pytest.mark.parametrize("code", [c["code"] for c in default_codes()])
def test_each_default_code_applies_its_effects(session, redis_client, settings, codes, code):
    spec = next(c for c in default_codes() if c["code"] == code)
    setter = "agent" if "agent" in spec["setters"] else spec["setters"][0]
    attempt, agent, entry = _attempt(session, agent=setter == "agent")
    agent_id = agent.id if setter == "agent" else None
    given = DispositionInput(code, setter, **_fields(code))
    recorded = record_disposition(session, attempt, given, agent_id=agent_id, now=NOW, today=TODAY)
    session.commit()
    followups.after_disposition(_runtime_at_now(settings), recorded)
    want = EXPECTED[code]
    session.expire_all()
    entry = session.get(CampaignEntry, entry.id)
    account = session.get(Account, attempt.account_id)
    assert (entry.state, entry.last_result) == (want["state"], code)
    assert session.get(CallAttempt, attempt.id).action_code == code
    retry = want.get("retry")
    expected_at = NOW + timedelta(minutes=retry) if retry else None
    assert entry.not_before == expected_at
    in_retry = redis_client.zscore(Keys.retry(entry.campaign_id), entry.id)
    in_queue = redis_client.zscore(Keys.dial_queue(entry.campaign_id), entry.id)
    if want["state"] == "queued" and retry:
        assert in_retry == expected_at.timestamp() and in_queue is None
    elif want["state"] == "queued":
        assert in_queue is not None and in_retry is None
    else:
        assert in_queue is None and in_retry is None
    promises = session.scalars(select(Promise)).all()
    assert len(promises) == (1 if want.get("promise") or want.get("paid_claim") else 0)
    if want.get("promise"):
        assert (promises[0].kind, promises[0].amount) == ("promise", 3_000_000)
    if want.get("paid_claim"):  # "already paid": the overdue amount, verified by payments
        assert (promises[0].kind, promises[0].amount) == ("paid_claim", account.overdue_amount)
        assert promises[0].due_date == TODAY
    assert all(p.state == "pending" for p in promises)
    callbacks = session.scalars(select(Callback)).all()
    assert len(callbacks) == (1 if want.get("callback") else 0)
    if callbacks:
        owner = agent.id if want["callback"] == "same_agent" else None
        assert callbacks[0].agent_id == owner and callbacks[0].due_at == NOW + timedelta(hours=3)
    phone = session.get(Phone, attempt.phone_id)
    assert phone.dialable is not want.get("retired", False)
    assert (session.get(DncNumber, phone.number) is not None) is want.get("dnc", False)
    assert [r.kind for r in session.scalars(select(Referral))] == (
        [want["refer"]] if "refer" in want else []
    )
    assert recorded.effects.alert_team_lead is want.get("alert", False)
    assert account.suppressed_until == want.get("suppressed")
    assert account.status == ("closed" if want.get("closed") else "active")
    audit = session.scalars(select(DispositionAudit)).all()
    assert [(a.before, a.after["code"], a.actor) for a in audit] == [(None, code, setter)]


def test_ivr_path_records_a_promise_without_an_agent(session, codes):
    attempt, _, _ = _attempt(session, agent=False)
    given = DispositionInput(
        "PTP", "ivr", promise_amount=1_000_000, promise_date=TODAY + timedelta(days=1)
    )
    record_disposition(session, attempt, given, agent_id=None, now=NOW, today=TODAY)
    session.commit()
    promise = session.scalar(select(Promise))
    assert promise.agent_id is None and promise.amount == 1_000_000


def test_a_refusal_after_two_escalates_to_legal(session, codes):
    attempt, agent, _ = _attempt(session)
    # Two earlier refusals on the account, from earlier calls.
    for _ in range(2):
        earlier, _a, _e = _attempt_on(session, attempt)
        record_disposition(
            session, earlier, DispositionInput("RTP", "agent"), agent_id=agent.id, now=NOW,
            today=TODAY,
        )  # fmt: skip
    record_disposition(
        session, attempt, DispositionInput("RTP", "agent"), agent_id=agent.id, now=NOW, today=TODAY
    )
    session.commit()
    assert [r.kind for r in session.scalars(select(Referral))] == ["legal"]


def _attempt_on(session, attempt):
    """Another connected attempt on the same entry (an earlier call of the account)."""
    entry = session.get(CampaignEntry, attempt.entry_id)
    other = CallAttempt(
        campaign_id=attempt.campaign_id,
        entry_id=entry.id,
        account_id=attempt.account_id,
        phone_id=attempt.phone_id,
        agent_id=attempt.agent_id,
        result="human",
        created_at=NOW - timedelta(days=1),
    )
    session.add(other)
    session.flush()
    return other, None, entry


def _state(session, attempt, entry):
    """Everything a refused disposition must leave as it was."""
    session.expire_all()
    e = session.get(CampaignEntry, entry.id)
    acc = session.get(Account, attempt.account_id)
    return {
        "rows": [
            session.scalar(select(func.count()).select_from(model))
            for model in (Disposition, Promise, Callback, Referral, DncNumber, DispositionAudit)
        ],
        "entry": (e.state, e.not_before, e.last_result),
        "attempt": session.get(CallAttempt, attempt.id).action_code,
        "account": (acc.suppressed_until, acc.status),
        "phones": [(p.dialable, p.reason) for p in acc.phones],
    }


REFUSED = [
    ("PTP", {"promise_date": TODAY + timedelta(days=2)}, "agent", "requires promise amount"),
    (
        "PTP",
        {"promise_amount": 1_000_000, "promise_date": TODAY - timedelta(days=1)},
        "agent",
        "is in the past",
    ),
    (
        "PTP",
        {"promise_amount": 1_000_000, "promise_date": TODAY + timedelta(days=31)},
        "agent",
        "more than 30 days ahead",
    ),
    (
        "PTP",
        {"promise_amount": 40_000_001, "promise_date": TODAY + timedelta(days=2)},
        "agent",
        "over the outstanding balance 40,000,000",
    ),
    ("XYZ", {}, "agent", "unknown action code 'XYZ'"),
    ("NKP", {}, "agent", "cannot be set by agent"),
    ("WFP", {}, "ivr", "cannot be set by ivr"),
    ("CAB", {"callback_at": NOW - timedelta(minutes=5)}, "agent", "callback time is in the past"),
    ("LEM", {"callback_at": NOW + timedelta(hours=1)}, "agent", "schedules no callback"),
    ("DIF", {}, "agent", "DIF requires note"),
    ("LEM", {"new_phone": "12"}, "agent", "new phone number is not a number we can dial"),
    ("RTP", {"promise_amount": 5}, "agent", "is not a promise"),
]


@pytest.mark.parametrize(("code", "fields", "setter", "message"), REFUSED)
def test_refused_input_changes_nothing(session, codes, code, fields, setter, message):
    attempt, agent, entry = _attempt(session)
    before = _state(session, attempt, entry)
    with pytest.raises(DispositionError) as err:
        record_disposition(
            session,
            attempt,
            DispositionInput(code, setter, **fields),
            agent_id=agent.id,
            now=NOW,
            today=TODAY,
        )
    assert any(message in p for p in err.value.problems), err.value.problems
    # Refused before any write: nothing pending, and nothing flushed in this transaction
    # either (read back before the caller's rollback).
    assert not (session.new or session.dirty or session.deleted)
    assert _state(session, attempt, entry) == before
    session.rollback()


def test_a_disabled_code_cannot_be_set(session, codes):
    attempt, agent, entry = _attempt(session)
    set_code(session, "LEM", {"active": False}, NOW)
    session.commit()
    before = _state(session, attempt, entry)
    with pytest.raises(DispositionError, match="no longer in use"):
        record_disposition(
            session, attempt, DispositionInput("LEM", "agent"), agent_id=agent.id, now=NOW,
            today=TODAY,
        )  # fmt: skip
    session.rollback()
    assert _state(session, attempt, entry) == before


def test_a_new_phone_is_added_and_tried_first(session, codes):
    attempt, agent, _ = _attempt(session)
    record_disposition(
        session,
        attempt,
        DispositionInput("LEM", "agent", new_phone="0903 333 333"),
        agent_id=agent.id,
        now=NOW,
        today=TODAY,
    )
    session.commit()
    added = session.scalar(select(Phone).where(Phone.number == "+84903333333"))
    assert added.dialable and added.account_id == attempt.account_id and added.priority == -1


# --- corrections -----------------------------------------------------------------------


def _ptp(agent_id, days=3, amount=3_000_000):
    return DispositionInput(
        "PTP", "agent", promise_amount=amount, promise_date=TODAY + timedelta(days=days)
    )


def _correct(session, attempt, given, agent_id, *, minutes=10, actor="agent", supervisor=None):
    return correct_disposition(
        session,
        attempt,
        given,
        actor=actor,
        agent_id=agent_id,
        now=NOW + timedelta(minutes=minutes),
        today=TODAY,
        window_minutes=30,
        supervisor=supervisor,
    )


def test_undoing_an_ncp_keeps_the_dnc_row_another_accounts_ncp_relies_on(session, codes):
    """The same number on two accounts (one's mobile, the other's reference): each call's
    NCP relies on one DNC row. Correcting the first leaves it; correcting the second, the
    last that relies on it, takes it away."""
    first, agent, _ = _attempt(session)
    number = session.get(Phone, first.phone_id).number
    second, other_agent, _ = _attempt(
        session, phones=(("+84907770001", "mobile"), (number, "reference"))
    )
    # That call went to the reference, whose number is the first account's mobile.
    shared = session.scalar(
        select(Phone).where(Phone.account_id == second.account_id, Phone.number == number)
    )
    second.phone_id = shared.id
    session.commit()
    for attempt, who in ((first, agent), (second, other_agent)):
        record_disposition(
            session, attempt, DispositionInput("NCP", "agent"), agent_id=who.id, now=NOW,
            today=TODAY,
        )  # fmt: skip
    session.commit()
    assert session.get(DncNumber, number) is not None
    _correct(session, first, DispositionInput("RTP", "agent"), agent.id)
    session.commit()
    assert session.get(DncNumber, number) is not None  # the second account's NCP stands
    _correct(session, second, DispositionInput("RTP", "agent"), other_agent.id)
    session.commit()
    assert session.get(DncNumber, number) is None


def test_correction_undoes_the_old_code_and_applies_the_new(session, codes):
    attempt, agent, entry = _attempt(session)
    session.get(Account, attempt.account_id).suppressed_until = TODAY + timedelta(days=1)
    record_disposition(session, attempt, _ptp(agent.id), agent_id=agent.id, now=NOW, today=TODAY)
    session.commit()
    assert session.get(Account, attempt.account_id).suppressed_until == TODAY + timedelta(days=5)
    at = NOW + timedelta(hours=2)
    recorded = _correct(
        session, attempt, DispositionInput("CAB", "agent", callback_at=at), agent.id
    )
    session.commit()
    session.expire_all()
    assert session.scalar(select(Promise.state)) == "cancelled"
    callback = session.scalar(select(Callback))
    assert (callback.state, callback.agent_id, callback.due_at) == ("scheduled", agent.id, at)
    # The suppression the promise set is lifted back to what held before it.
    assert session.get(Account, attempt.account_id).suppressed_until == TODAY + timedelta(days=1)
    e = session.get(CampaignEntry, entry.id)
    assert (e.state, e.not_before, e.last_result) == ("queued", at, "CAB")
    assert recorded.entry_state == "queued"
    # Corrected again (to a referral): the callback is cancelled, the referral opened.
    _correct(session, attempt, DispositionInput("DIF", "agent", note="ốm"), agent.id, minutes=20)
    session.commit()
    assert session.scalar(select(Callback.state)) == "cancelled"
    assert session.scalar(select(Referral.kind)) == "restructuring"
    # ...and back to a promise with another amount: one promise row, pending again.
    _correct(session, attempt, _ptp(agent.id, days=4, amount=2_000_000), agent.id, minutes=25)
    session.commit()
    session.expire_all()
    assert session.scalar(select(Referral.state)) == "withdrawn"
    assert [(p.amount, p.state) for p in session.scalars(select(Promise))] == [
        (2_000_000, "pending")
    ]
    assert session.get(CampaignEntry, entry.id).state == "done"
    trail = session.scalars(select(DispositionAudit).order_by(DispositionAudit.id)).all()
    assert [(a.before and a.before["code"], a.after["code"]) for a in trail] == [
        (None, "PTP"),
        ("PTP", "CAB"),
        ("CAB", "DIF"),
        ("DIF", "PTP"),
    ]
    assert trail[1].before == {
        "code": "PTP",
        "promise_amount": 3_000_000,
        "promise_date": (TODAY + timedelta(days=3)).isoformat(),
    }
    assert trail[3].after["promise_amount"] == 2_000_000
    assert {a.actor for a in trail} == {"agent"} and {a.agent_id for a in trail} == {agent.id}


def test_correcting_a_wrong_number_gives_the_phone_back(session, codes):
    attempt, agent, _ = _attempt(session)
    record_disposition(
        session, attempt, DispositionInput("NCP", "agent"), agent_id=agent.id, now=NOW, today=TODAY
    )
    session.commit()
    _correct(session, attempt, DispositionInput("LEM", "agent"), agent.id)
    session.commit()
    phone = session.get(Phone, attempt.phone_id)
    assert phone.dialable and phone.reason is None
    assert session.get(DncNumber, phone.number) is None


def test_correction_refusals_change_nothing(session, codes):
    attempt, agent, entry = _attempt(session)
    record_disposition(session, attempt, _ptp(agent.id), agent_id=agent.id, now=NOW, today=TODAY)
    session.commit()
    before = _state(session, attempt, entry)
    cases = [
        (agent.id, 31, DispositionInput("RTP", "agent"), "correction window of 30 minutes closed"),
        (agent.id + 99, 5, DispositionInput("RTP", "agent"), "only the agent who recorded"),
        (agent.id, 5, _ptp(agent.id, days=-1), "is in the past"),
        (agent.id, 5, DispositionInput("NKP", "agent"), "cannot be set by agent"),
    ]
    for agent_id, minutes, given, message in cases:
        with pytest.raises(DispositionError, match=message):
            _correct(session, attempt, given, agent_id, minutes=minutes)
        # Refused before anything is undone: nothing pending or flushed in this transaction.
        assert not (session.new or session.dirty or session.deleted)
        assert _state(session, attempt, entry) == before
        session.rollback()
    # A promise that is no longer pending cannot be taken back.
    session.scalar(select(Promise)).state = "kept"
    session.commit()
    with pytest.raises(DispositionError, match="already kept"):
        _correct(session, attempt, DispositionInput("RTP", "agent"), agent.id)
    session.rollback()


def test_a_supervisor_corrects_a_system_code(session, codes):
    attempt, _, _entry = _attempt(session, agent=False)
    record_disposition(
        session, attempt, DispositionInput("NKP", "system"), agent_id=None, now=NOW, today=TODAY
    )
    session.commit()
    with pytest.raises(DispositionError, match="only the agent"):
        _correct(session, attempt, DispositionInput("NAB", "agent"), None)
    session.rollback()
    with pytest.raises(DispositionError, match="needs the supervisor's name"):
        _correct(session, attempt, DispositionInput("NAB", "agent"), None, actor="supervisor")
    session.rollback()
    _correct(
        session,
        attempt,
        DispositionInput("NAB", "agent"),
        None,
        actor="supervisor",
        supervisor="Trần Thị Mai",
    )
    session.commit()
    assert not session.get(Phone, attempt.phone_id).dialable
    rows = session.scalars(select(DispositionAudit).order_by("id")).all()
    assert [(a.actor, a.actor_name) for a in rows] == [
        ("system", None),
        ("supervisor", "Trần Thị Mai"),
    ]


# --- the API and the CLI -----------------------------------------------------------------


@pytest.fixture
def env(process_env, db):
    with db.begin() as s:
        seed_default_codes(s)


@pytest.fixture
def api(env, settings):
    return create_app(runtime=_runtime_at_now(settings)).test_client()


@pytest.fixture
def cli(env):
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_disposition_correction_and_audit_through_the_api(api, db, redis_client):
    with db.session() as s:
        attempt, agent, entry = _attempt(s)
        attempt_id, agent_id, entry_id = attempt.id, agent.id, entry.id
    redis_client.hset(Keys.agent(agent_id), mapping={"state": "wrapup", "attempt_id": attempt_id})
    url = f"/api/attempts/{attempt_id}/disposition"
    refused = api.post(url, json={"agent_id": agent_id, "code": "PTP"}, headers=AUTH)
    assert refused.status_code == 422 and "PTP requires promise amount" in refused.json["problems"]
    assert presence.get(redis_client, agent_id).state == "wrapup"
    with db.session() as s:
        assert s.scalar(select(func.count(Disposition.id))) == 0
    body = {"agent_id": agent_id, "code": "LEM"}
    assert api.post(url, json=body, headers=AUTH).status_code == 201
    early = api.put(url, json={"agent_id": agent_id, "code": "DIF"}, headers=AUTH)
    assert early.status_code == 422 and "DIF requires note" in early.json["problems"]
    fixed = api.put(url, json={"agent_id": agent_id, "code": "DIF", "note": "ốm"}, headers=AUTH)
    assert fixed.status_code == 200 and fixed.json["entry_state"] == "done"
    assert redis_client.zscore(Keys.retry(entry.campaign_id), entry_id) is None
    audit = api.get(f"/api/attempts/{attempt_id}/audit", headers=AUTH).json["changes"]
    assert [(c["who"], c["before"], c["after"]) for c in audit] == [
        (f"agent:{agent_id}", None, {"code": "LEM"}),
        (f"agent:{agent_id}", {"code": "LEM"}, {"code": "DIF", "note": "ốm"}),
    ]
    with db.begin() as s:  # the window closes 30 minutes after the first code
        d = s.scalar(select(Disposition))
        d.created_at = NOW - timedelta(minutes=31)
    late = api.put(url, json={"agent_id": agent_id, "code": "LEM"}, headers=AUTH)
    assert late.status_code == 422 and "closed" in late.json["problems"][0]
    assert api.get("/api/attempts/999/audit", headers=AUTH).status_code == 404


def test_catalogue_through_the_api(api, db):
    assert api.get("/api/action-codes").status_code == 401
    listed = api.get("/api/action-codes", headers=AUTH).json
    assert {c["code"] for c in listed} == set(EXPECTED)
    ptp = api.get("/api/action-codes/ptp", headers=AUTH).json
    assert ptp["label_vi"] == "Hứa thanh toán" and ptp["is_promise"] is True
    bad = api.put(
        "/api/action-codes/PTP",
        json={"requires": ["promise_date"], "effects": {"refer": "moon", "colour": 1}},
        headers=AUTH,
    )
    assert bad.status_code == 422
    problems = bad.json["problems"]
    assert any("effects.refer must be one of" in p for p in problems)
    assert any("effects.colour is not an effect" in p for p in problems)
    with db.session() as s:
        assert code_as_dict(s.get(ActionCode, "PTP")) == ptp  # nothing changed
    contradiction = api.put(
        "/api/action-codes/PTP", json={"requires": ["promise_date"]}, headers=AUTH
    )
    assert "is_promise: a promise code must require" in contradiction.json["problems"][0]
    ok = api.put(
        "/api/action-codes/LEM", json={"effects": {"retry_after_minutes": 90}}, headers=AUTH
    )
    assert ok.status_code == 200 and ok.json["effects"] == {"retry_after_minutes": 90}
    new = api.put(
        "/api/action-codes/NPH",
        json={"label_vi": "Số mới", "label_en": "New number", "setters": ["agent"],
              "requires": ["new_phone"], "is_contact": True},
        headers=AUTH,
    )  # fmt: skip
    assert new.status_code == 201, new.json
    assert api.delete("/api/action-codes/NPH", headers=AUTH).status_code == 204
    in_use = api.delete("/api/action-codes/LEM", headers=AUTH)
    assert in_use.status_code == 409 and "disable it instead" in in_use.json["problems"][0]
    disabled = api.put("/api/action-codes/LEM", json={"active": False}, headers=AUTH)
    assert disabled.json["active"] is False
    assert "LEM" not in {c["code"] for c in api.get("/api/action-codes", headers=AUTH).json}
    everything = api.get("/api/action-codes?all=1", headers=AUTH).json
    assert "LEM" in {c["code"] for c in everything}
    system = api.put("/api/action-codes/NKP", json={"active": False}, headers=AUTH)
    assert system.status_code == 422 and "must stay active" in system.json["problems"][0]


def test_seeding_keeps_an_administrators_edits(session, codes):
    set_code(session, "LEM", {"label_en": "Left a message", "active": False}, NOW)
    session.commit()
    assert seed_default_codes(session) == 0
    row = session.get(ActionCode, "LEM")
    assert (row.label_en, row.active, row.updated_at) == ("Left a message", False, NOW)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"setters": "agent"}, "setters must be a non-empty list"),
        ({"is_contact": "yes"}, "is_contact must be true or false"),
        ({"effects": {"retry_after_minutes": "soon"}}, "effects.retry_after_minutes must be"),
        ({"setters": ["system"], "requires": ["note"]}, "a system code cannot require note"),
        ({"setters": ["ivr"], "requires": ["note"]}, "an IVR cannot give a note"),
        ({"effects": {"callback": "any"}}, "effects.callback and requires callback_at"),
        ({"effects": {"refer": "police"}}, "effects.refer must be one of"),
        ({"is_right_party": True, "is_contact": False}, "a right-party contact is a contact"),
        ({"effects": {"escalate_after_refusals": 2}}, "needs is_refusal"),
    ],
)
def test_catalogue_edits_are_validated_whole(session, codes, changes, message):
    before = code_as_dict(session.get(ActionCode, "LEM"))
    with pytest.raises(CatalogueError) as err:
        set_code(session, "LEM", changes, NOW)
    session.rollback()
    assert any(message in p for p in err.value.problems), err.value.problems
    assert code_as_dict(session.get(ActionCode, "LEM")) == before


def test_catalogue_from_the_cli(cli, db, tmp_path):
    listed = json.loads(cli("codes", "list", "--json").output)
    assert len(listed) == len(EXPECTED)
    assert "Hứa thanh toán" in cli("codes", "show", "PTP").output
    edit = tmp_path / "lem.json"
    edit.write_text(json.dumps({"effects": {"retry_after_minutes": 30}, "label_en": "Msg"}))
    saved = cli("codes", "set", "LEM", "--file", edit)
    assert saved.exit_code == 0 and "Saved." in saved.output
    shown = json.loads(cli("codes", "show", "LEM", "--json").output)
    assert shown["effects"] == {"retry_after_minutes": 30} and shown["label_en"] == "Msg"
    bad = cli("codes", "set", "LEM", "--setters", "agent,robot", "--effects", '{"refer": "x"}')
    assert bad.exit_code == 1 and "setters must be a non-empty list" in bad.output
    assert "effects.refer must be one of" in bad.output
    assert json.loads(cli("codes", "show", "LEM", "--json").output) == shown
    flag = cli("codes", "set", "LEM", "--flag", "is_promise=true")
    assert flag.exit_code == 1 and "must require promise_amount" in flag.output
    assert "disabled" in cli("codes", "disable", "LEM").output
    assert json.loads(cli("codes", "show", "LEM", "--json").output)["active"] is False
    assert cli("codes", "set", "LEM", "--enable").exit_code == 0
    default = cli("codes", "delete", "LEM")
    assert default.exit_code == 1 and "disable it instead" in default.output
    assert cli("codes", "show", "ZZZ").exit_code == 1


def test_supervisor_correction_and_audit_from_the_cli(cli, db, process_env, monkeypatch):
    with db.session() as s:
        attempt, agent, _ = _attempt(s)
        attempt_id, agent_id = attempt.id, agent.id
    with db.begin() as s:
        # Recorded a moment ago on the CLI's wall clock, so the window is open.
        a = s.get(CallAttempt, attempt_id)
        record_disposition(
            s, a, DispositionInput("LEM", "agent"), agent_id=agent_id,
            now=datetime.now(UTC), today=TODAY,
        )  # fmt: skip
    nobody = cli("codes", "correct", attempt_id, "--code", "CFF")
    assert nobody.exit_code == 2 and "--by" in nobody.output
    refused = cli(
        "codes", "correct", attempt_id, "--code", "PTP", "--promise-amount", "5", "--by", "Mai"
    )
    assert refused.exit_code == 1 and "PTP requires promise date" in refused.output
    ok = cli("codes", "correct", attempt_id, "--code", "CFF", "--by", "Mai", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == {"code": "CFF", "entry_state": "done"}
    trail = json.loads(cli("codes", "audit", attempt_id, "--json").output)
    assert [(c["who"], c["after"]["code"]) for c in trail] == [
        (f"agent:{agent_id}", "LEM"),
        ("supervisor:Mai", "CFF"),
    ]
    assert "supervisor:Mai" in cli("codes", "audit", attempt_id).output


def test_a_callback_asked_for_mid_campaign_is_dialed_first_when_it_falls_due(
    session, redis_client, settings, codes
):
    attempt, agent, entry = _attempt(session)
    # A far more urgent account, queued in the same campaign.
    urgent = factories.account(session, dpd=300, overdue=500_000_000)
    other = CampaignEntry(campaign_id=entry.campaign_id, account_id=urgent.id, score=95.0)
    session.add(other)
    session.commit()
    base = session.get(CampaignEntry, entry.id).score
    at = NOW + timedelta(hours=2)
    recorded = record_disposition(
        session,
        attempt,
        DispositionInput("CAB", "agent", callback_at=at),
        agent_id=agent.id,
        now=NOW,
        today=TODAY,
    )
    session.commit()
    followups.after_disposition(_runtime_at_now(settings), recorded)
    session.expire_all()
    e = session.get(CampaignEntry, entry.id)
    assert (e.score_callback, e.score) == (1000.0, base + 1000.0)
    assert e.score_components["callback"] == 1000.0
    redis_client.zadd(Keys.dial_queue(entry.campaign_id), {other.id: other.score})
    assert queue.promote_due(redis_client, entry.campaign_id, at.timestamp()) == 1
    assert queue.pop_for_dialing(redis_client, entry.campaign_id, 1, at.timestamp()) == [entry.id]

    # The callback call: no answer this time, so NKP; the callback is no longer what
    # the entry waits for, and its rank is its own again.
    second = CallAttempt(
        campaign_id=attempt.campaign_id,
        entry_id=entry.id,
        account_id=attempt.account_id,
        phone_id=attempt.phone_id,
        call_sid="CA" + "2" * 32,
        result="no_answer",
        created_at=at,
    )
    session.add(second)
    session.commit()
    record_disposition(
        session, second, DispositionInput("NKP", "system"), agent_id=None, now=at, today=TODAY
    )
    session.commit()
    session.expire_all()
    e = session.get(CampaignEntry, entry.id)
    assert (e.score_callback, e.score) == (0.0, base)
