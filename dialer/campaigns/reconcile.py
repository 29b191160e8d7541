"""Reconciliation: end the attempts whose final status callback never reached us.

The carrier's final status callback ends an attempt (`webhooks/views.py` `status`). When it
is lost (the app was down or restarting, the network dropped it, the carrier gave up),
the attempt stays open: the entry gets no result, the account stays locked, the agent
stays on the call, the campaign never completes. As Twilio advises, we then fetch the call
resource and apply what it says. The pacer sweeps every SWEEP_EVERY simulated seconds.

`decide` and the `ending_*` functions are pure. Every end goes through
`followups.end_call`, the status webhook's own path, whose SQL update is conditional: a
late real callback racing the sweep changes nothing the second time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.campaigns import followups
from dialer.campaigns.jobs import PLACE_CALL_TIMEOUT
from dialer.campaigns.models import CallAttempt
from dialer.portfolio.models import Phone
from dialer.privacy import mask_phone
from dialer.redis import Keys
from dialer.runtime import Runtime
from dialer.telephony.carrier import CallInfo, CarrierError

log = logging.getLogger(__name__)

# Simulated seconds, unless named otherwise. The carrier's answer is what ends a call, so
# these only decide how often we ask; only NO_SID_AFTER ends an attempt without asking.
SWEEP_EVERY = 30.0  # between sweeps, across every pacer
# After the ring timeout, before a call not bridged to an agent is overdue: a wait in the
# carrier's CPS queue, answering machine detection (before our voice webhook runs), our
# hang-up of a machine or abandon message, callback delivery.
RING_MARGIN = 60.0
UNANSWERED_RECHECK = 60.0
# Calls bridged to an agent legitimately last many minutes: ask about them seldom.
ANSWERED_FIRST_CHECK = 300.0
ANSWERED_RECHECK = 300.0
# With no call SID nobody can be asked. A dial job is killed after PLACE_CALL_TIMEOUT real
# seconds (see Policy.make), so this is only the floor.
NO_SID_AFTER = 900.0
MAX_LOOKUPS = 20  # carrier lookups per sweep
SCAN_LIMIT = 500  # open attempts read per sweep, oldest first (the stuck ones)
SWEEP_BUDGET_SECONDS = 2.0  # real seconds of lookups per sweep: the pacer must keep pacing
UNKNOWN_CALL = 20404  # Twilio: the requested resource was not found


@dataclass(frozen=True)
class Policy:
    """When an open attempt is overdue for its final status, and how often to ask again."""

    ring_timeout: float
    ring_margin: float = RING_MARGIN
    unanswered_recheck: float = UNANSWERED_RECHECK
    answered_first_check: float = ANSWERED_FIRST_CHECK
    answered_recheck: float = ANSWERED_RECHECK
    no_sid_after: float = NO_SID_AFTER

    @classmethod
    def make(cls, ring_timeout: float, clock_speed: float) -> Policy:
        """The policy for a ring timeout and a clock running clock_speed times real time."""
        # RQ kills place_call after PLACE_CALL_TIMEOUT real seconds, which on a fast clock
        # is many simulated ones; twice that, and no job can still be about to set the SID.
        no_sid = max(NO_SID_AFTER, 2 * PLACE_CALL_TIMEOUT * clock_speed)
        return cls(ring_timeout=ring_timeout, no_sid_after=no_sid)

    @property
    def min_age(self) -> float:
        """No attempt created less than this long ago is ever overdue."""
        return min(
            self.ring_timeout + self.ring_margin, self.answered_first_check, self.no_sid_after
        )


@dataclass(frozen=True)
class OpenAttempt:
    """An attempt without a final status, as the sweep reads it."""

    id: int
    created_at: datetime
    answered_at: datetime | None
    agent_id: int | None  # set once the call is bridged to an agent
    call_sid: str | None
    number: str  # for masked logs only


@dataclass(frozen=True)
class Due:
    """An open attempt overdue for its final status."""

    lookup: bool  # True: ask the carrier; False: no call was ever placed, end it
    recheck_after: float = 0.0  # seconds before the same call may be looked up again


@dataclass(frozen=True)
class Ending:
    """How to end an attempt (the arguments of followups.end_call)."""

    status: str
    duration: int | None
    result: str | None  # None: the status decides, as for a callback
    error: str  # why the attempt was ended this way, kept on the attempt


def decide(attempt: OpenAttempt, now: datetime, policy: Policy) -> Due | None:
    """Whether an open attempt is overdue now (None: not yet), and what to do about it."""
    age = (now - attempt.created_at).total_seconds()
    if attempt.call_sid is None:
        # Neither the dial job nor any callback gave a SID: there is nothing to ask about.
        return Due(lookup=False) if age >= policy.no_sid_after else None
    if attempt.agent_id is not None:
        # Talking to an agent: the time since the answer matters, not the attempt's age.
        talking = (now - (attempt.answered_at or attempt.created_at)).total_seconds()
        if talking >= policy.answered_first_check:
            return Due(lookup=True, recheck_after=policy.answered_recheck)
        return None
    # Unanswered, or answered but not bridged (a machine, an abandon): a short call.
    if age >= policy.ring_timeout + policy.ring_margin:
        return Due(lookup=True, recheck_after=policy.unanswered_recheck)
    return None


def ending_from_call(info: CallInfo) -> Ending | None:
    """The carrier's call record says the call is over: end the attempt with its status."""
    if not info.is_final:
        return None  # still queued, ringing or talking: ask again later
    note = f"final status callback not received; the carrier's call record says {info.status}"
    if info.answered_by:
        note += f" (answered by {info.answered_by})"
    return Ending(info.status, info.duration, None, note)


def ending_from_error(exc: CarrierError, call_sid: str) -> Ending | None:
    """Only "no such call" ends the attempt. Any other failure (network, auth, rate limit,
    outage) says nothing about the call: None, ask again next sweep."""
    if exc.code == UNKNOWN_CALL or exc.status == 404:
        return Ending("failed", None, "error", f"the carrier does not know call {call_sid}")
    return None


def ending_without_call(age_seconds: float) -> Ending:
    """The dial job stopped between recording the attempt and the carrier's answer."""
    return Ending(
        "failed",
        None,
        "error",
        f"no call SID {age_seconds:.0f} s after the dial started: the dial job stopped "
        "before the carrier took the call",
    )


def open_attempts(session: Session, created_before: datetime, limit: int) -> list[OpenAttempt]:
    """Attempts without a final status created before `created_before`, oldest first."""
    rows = session.execute(
        select(
            CallAttempt.id,
            CallAttempt.created_at,
            CallAttempt.answered_at,
            CallAttempt.agent_id,
            CallAttempt.call_sid,
            Phone.number,
        )
        .join(Phone, Phone.id == CallAttempt.phone_id)
        .where(CallAttempt.ended_at.is_(None), CallAttempt.created_at <= created_before)
        .order_by(CallAttempt.created_at, CallAttempt.id)
        .limit(limit)
    ).all()
    return [OpenAttempt(*row) for row in rows]


@dataclass
class SweepReport:
    looked_up: int = 0
    ended: int = 0
    carrier_failed: bool = False  # lookups stopped early: the carrier failed (see the log)


def sweep(rt: Runtime, policy: Policy | None = None) -> SweepReport:
    """Ask the carrier about overdue open attempts and end those whose call is over."""
    policy = policy or Policy.make(rt.settings.ring_timeout, rt.clock.speed)
    now = rt.clock.now()
    with rt.db.session() as s:
        candidates = open_attempts(s, now - timedelta(seconds=policy.min_age), SCAN_LIMIT)
    report = SweepReport()
    deadline = time.monotonic() + SWEEP_BUDGET_SECONDS
    for attempt in candidates:
        due = decide(attempt, now, policy)
        if due is None:
            continue
        if not due.lookup:
            age = (now - attempt.created_at).total_seconds()
            _end(rt, attempt, ending_without_call(age), report)
            continue
        assert attempt.call_sid is not None  # decide() looks up only calls with a SID
        if (
            report.carrier_failed
            or report.looked_up >= MAX_LOOKUPS
            or time.monotonic() > deadline
            or not _claim_lookup(rt, attempt.id, due.recheck_after)
        ):
            continue  # later attempts without a SID still end; the rest wait a sweep
        report.looked_up += 1
        try:
            ending = ending_from_call(rt.carrier.fetch_call(attempt.call_sid))
        except CarrierError as exc:
            ending = ending_from_error(exc, attempt.call_sid)
            if ending is None:
                # One failure says the next lookups would fail too: do not hammer.
                report.carrier_failed = True
                log.warning(
                    "reconciliation: carrier lookup of %s failed (%s, HTTP %s): %s; "
                    "asking again next sweep",
                    attempt.call_sid,
                    exc.code,
                    exc.status,
                    exc,
                )
                continue
        if ending is not None:
            _end(rt, attempt, ending, report)
    return report


def _claim_lookup(rt: Runtime, attempt_id: int, recheck_after: float) -> bool:
    """At most one lookup per attempt per recheck interval, however many pacers sweep."""
    ms = max(1, int(rt.clock.real_seconds(recheck_after) * 1000))
    return bool(rt.redis.set(Keys.reconcile_checked(attempt_id), "1", nx=True, px=ms))


def _end(rt: Runtime, attempt: OpenAttempt, ending: Ending, report: SweepReport) -> None:
    ended = followups.end_call(
        rt,
        attempt.id,
        ending.status,
        ending.duration,
        result=ending.result,
        error=ending.error,
    )
    if ended is None:
        return  # a late callback ended it first: nothing to do
    rt.redis.delete(Keys.reconcile_checked(attempt.id))
    report.ended += 1
    log.warning(
        "attempt %s to %s (%s) ended by reconciliation as %s: %s",
        attempt.id,
        mask_phone(attempt.number),
        attempt.call_sid or "no call SID",
        ending.status,
        ending.error,
    )


def sweep_if_due(rt: Runtime) -> SweepReport | None:
    """Sweep unless one ran in the last SWEEP_EVERY simulated seconds (in any pacer).

    Never raises: reconciliation trouble must not stop the pacer from pacing.
    """
    try:
        ms = max(1, int(rt.clock.real_seconds(SWEEP_EVERY) * 1000))
        if not rt.redis.set(Keys.reconcile_sweep(), "1", nx=True, px=ms):
            return None
        return sweep(rt)
    except Exception:
        log.exception("reconciliation sweep failed; trying again next interval")
        return None
