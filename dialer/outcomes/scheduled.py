"""The daily promise evaluation, run by RQ's scheduler (`dialer worker` starts workers with
it) at DIALER_PROMISE_EVALUATE_AT local time, before the morning's campaigns are built.

The job of a day has a fixed id (`promises-evaluate-<date>`), so scheduling it twice leaves
one job, and the evaluation itself is idempotent (only pending promises are looked at), so
a job that runs twice, or a worker that catches up a missed run, changes nothing more.
Evaluating today also settles whatever a missed day would have: no day needs replaying.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dialer.outcomes.promises import Evaluation, KeptRule, evaluate_promises
from dialer.runtime import Runtime, get_runtime, local_today

log = logging.getLogger(__name__)


def job_id(day: date) -> str:
    return f"promises-evaluate-{day.isoformat()}"


def kept_rule(rt: Runtime) -> KeptRule:
    return KeptRule(rt.settings.promise_kept_share, rt.settings.promise_grace_days)


def run_evaluation(rt: Runtime, day: date) -> Evaluation:
    """Evaluate the promises as of `day` in one transaction (the CLI and the job)."""
    with rt.db.begin() as s:
        result = evaluate_promises(
            s, day, rule=kept_rule(rt), tz=rt.settings.timezone, now=rt.clock.now()
        )
    log.info(
        "promises evaluated for %s: %s kept, %s broken, %s pending; %s accounts cured, "
        "%s made callable again",
        day,
        result.kept,
        result.broken,
        result.pending,
        result.cured_accounts,
        result.unsuppressed_accounts,
    )
    return result


def evaluate_day(day: str) -> str:
    """RQ job: evaluate the promises as of `day` (YYYY-MM-DD), then schedule the next day."""
    rt = get_runtime()
    when = date.fromisoformat(day)
    today = local_today(rt)
    if when > today:  # RQ's scheduler runs on the wall clock: never settle a day early
        schedule_day(rt, when)
        return f"not evaluated: {day} is after today ({today})"
    # A late job (a worker down overnight) evaluates as of today: that covers its own day,
    # and today's evaluation is not skipped (a promise breaks only once its last day is over).
    when = max(when, today)
    result = run_evaluation(rt, when)
    schedule_day(rt, when + timedelta(days=1))
    return f"{result.kept} kept, {result.broken} broken, {result.pending} pending"


def evaluation_time(rt: Runtime, day: date) -> datetime:
    """When the evaluation of `day` is due (aware UTC, on the system's clock)."""
    hours, minutes = (int(part) for part in rt.settings.promise_evaluate_at.split(":"))
    local = datetime.combine(day, time(hours, minutes), ZoneInfo(rt.settings.timezone))
    return local.astimezone(UTC)


def schedule_day(rt: Runtime, day: date, at: datetime | None = None) -> datetime:
    """Put the evaluation of `day` in RQ's scheduler (at its time, or `at`); idempotent."""
    at = at or evaluation_time(rt, day)
    rt.queue.enqueue_at(
        rt.clock.wall_datetime(at),
        evaluate_day,
        day.isoformat(),
        job_id=job_id(day),
        description=job_id(day),
        result_ttl=86400,
    )
    return at


def schedule_evaluation(rt: Runtime) -> datetime:
    """At worker start: today's evaluation at its time, or now when that time has passed
    (a catch-up; harmless when today's already ran). Returns when it will run."""
    now = rt.clock.now()
    today = local_today(rt)
    due = evaluation_time(rt, today)
    return schedule_day(rt, today, now if due <= now else due)
