"""Reconciliation's pure decisions: when an open attempt is overdue, and how it ends.

The sweep itself, against the mock carrier with the app's web server down, is tested end to
end in test_call_flow.py.
"""

from datetime import UTC, datetime, timedelta

import pytest

from dialer.campaigns.jobs import PLACE_CALL_TIMEOUT
from dialer.campaigns.reconcile import (
    ANSWERED_FIRST_CHECK,
    ANSWERED_RECHECK,
    NO_SID_AFTER,
    RING_MARGIN,
    UNANSWERED_RECHECK,
    Due,
    OpenAttempt,
    Policy,
    decide,
    ending_from_call,
    ending_from_error,
    ending_without_call,
)
from dialer.telephony.carrier import FINAL_STATUSES, CallInfo, CarrierError

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
POLICY = Policy.make(ring_timeout=25, clock_speed=1.0)
SID = "CA" + "1" * 32


def _open(
    age: float,
    answered_for: float | None = None,
    agent_id: int | None = None,
    call_sid: str | None = SID,
) -> OpenAttempt:
    answered_at = None if answered_for is None else NOW - timedelta(seconds=answered_for)
    created_at = NOW - timedelta(seconds=age)
    return OpenAttempt(1, created_at, answered_at, agent_id, call_sid, "+84901234567")


def test_an_unanswered_call_is_overdue_after_the_ring_timeout_and_a_margin():
    overdue_at = 25 + RING_MARGIN
    assert decide(_open(age=overdue_at - 1), NOW, POLICY) is None
    assert decide(_open(age=overdue_at), NOW, POLICY) == Due(True, UNANSWERED_RECHECK)


def test_a_call_bridged_to_an_agent_is_asked_about_only_after_minutes_and_then_seldom():
    # A long call is normal: the age of the attempt does not matter, the time since answer does.
    talking = ANSWERED_FIRST_CHECK - 1
    assert decide(_open(age=3600, answered_for=talking, agent_id=7), NOW, POLICY) is None
    due = decide(_open(age=3600, answered_for=ANSWERED_FIRST_CHECK, agent_id=7), NOW, POLICY)
    assert due == Due(True, ANSWERED_RECHECK)
    assert ANSWERED_RECHECK > UNANSWERED_RECHECK


def test_an_answered_call_no_agent_took_is_short_like_an_unanswered_one():
    # A machine is hung up at once; an abandoned call hears a short message.
    due = decide(_open(age=25 + RING_MARGIN, answered_for=40), NOW, POLICY)
    assert due == Due(True, UNANSWERED_RECHECK)


def test_an_attempt_without_a_call_sid_ends_only_once_its_dial_job_is_surely_dead():
    assert decide(_open(age=NO_SID_AFTER - 1, call_sid=None), NOW, POLICY) is None
    assert decide(_open(age=NO_SID_AFTER, call_sid=None), NOW, POLICY) == Due(False)
    # A fast demo clock: RQ's real-time job timeout is many simulated seconds.
    fast = Policy.make(ring_timeout=25, clock_speed=90)
    assert fast.no_sid_after == 2 * PLACE_CALL_TIMEOUT * 90 > NO_SID_AFTER
    assert decide(_open(age=NO_SID_AFTER, call_sid=None), NOW, fast) is None


def test_the_sweep_reads_nothing_younger_than_the_first_threshold():
    assert POLICY.min_age == 25 + RING_MARGIN
    assert Policy(ring_timeout=600).min_age == ANSWERED_FIRST_CHECK


@pytest.mark.parametrize("status", FINAL_STATUSES)
def test_a_final_call_record_ends_the_attempt_with_its_status(status):
    ending = ending_from_call(CallInfo(status, 42, "human"))
    assert ending is not None
    assert (ending.status, ending.duration, ending.result) == (status, 42, None)
    assert "callback not received" in ending.error and "human" in ending.error


@pytest.mark.parametrize("status", ["queued", "ringing", "in-progress", ""])
def test_a_live_call_record_changes_nothing(status):
    assert ending_from_call(CallInfo(status)) is None


@pytest.mark.parametrize(
    ("error", "ends"),
    [
        (CarrierError("not found", code=20404, status=404), True),
        (CarrierError("not found", status=404), True),
        (CarrierError("carrier unreachable: ConnectionError"), False),
        (CarrierError("authenticate", code=20003, status=401), False),
        (CarrierError("too many requests", code=20429, status=429), False),
        (CarrierError("internal error", code=20500, status=500), False),
    ],
)
def test_only_an_unknown_call_ends_the_attempt(error, ends):
    ending = ending_from_error(error, SID)
    assert (ending is not None) == ends
    if ending is not None:
        assert (ending.status, ending.result) == ("failed", "error")
        assert SID in ending.error


def test_an_attempt_without_a_call_is_an_error_that_says_why():
    ending = ending_without_call(7200.4)
    assert (ending.status, ending.duration, ending.result) == ("failed", None, "error")
    assert "no call SID 7200 s" in ending.error and len(ending.error) <= 500
