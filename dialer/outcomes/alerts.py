"""Team-lead alerts: an action code with the `alert_team_lead` effect (GSF, fraud suspected)
raises one, in the disposition's own transaction (so none is lost and none is made for a
refused code). The supervisor console and `GET /api/alerts` show the open ones; a team lead
acknowledges them.

When DIALER_ALERT_WEBHOOK_URL is set, each alert is also POSTed there as JSON by an RQ job
(`deliver`), never inside the disposition: the pacer's sweep (`enqueue_pending`, every few
seconds) queues the alerts not yet delivered after their SQL commit. The job is retried by
RQ with backoff, has a timeout, and is idempotent by alert id: a sent alert is never sent
again, and the alert id travels in the body and in an `Idempotency-Key` header for the
receiver. The payload masks personal data except the account number.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import requests
from rq import Retry
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.clock import local_iso
from dialer.outcomes.models import Alert, Disposition
from dialer.portfolio.models import Account
from dialer.privacy import mask_text
from dialer.redis import Keys
from dialer.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 5.0  # one POST; the job's own timeout is a little longer
SENDING_LEASE_SECONDS = 3 * WEBHOOK_TIMEOUT_SECONDS  # one job's POST, connect and read
JOB_TIMEOUT_SECONDS = 30
RETRY_INTERVALS = [10, 60, 300, 900]  # real seconds between RQ's retries of one job
MAX_DELIVERIES = 8  # POSTs tried for one alert (over jobs) before it is marked failed
# A pending alert queued this long ago whose job is gone (lost Redis, dead worker) is queued
# again by the sweep.
REQUEUE_AFTER = timedelta(minutes=30)
SWEEP_EVERY_SECONDS = 2.0  # real seconds between sweeps, across all pacers
SWEEP_KEY = "alerts:webhook-sweep"


class AlertError(ValueError):
    """An alert action was refused; the message says why."""


class WebhookFailed(RuntimeError):
    """The receiver did not take the alert (RQ retries the job)."""


def raise_alert(session: Session, disposition: Disposition, *, label: str, now: datetime) -> Alert:
    """The alert of a disposition whose code alerts the team lead (once per disposition)."""
    existing = session.scalar(select(Alert).where(Alert.disposition_id == disposition.id))
    if existing is not None:
        return existing
    alert = raise_event_alert(
        session,
        kind=disposition.code,
        label=label,
        account_id=disposition.account_id,
        attempt_id=disposition.attempt_id,
        agent_id=disposition.agent_id,
        now=now,
        note=disposition.note,
    )
    alert.disposition_id = disposition.id
    session.flush()
    return alert


def raise_event_alert(
    session: Session,
    *,
    kind: str,
    label: str,
    account_id: int,
    attempt_id: int | None,
    agent_id: int | None,
    now: datetime,
    note: str | None = None,
) -> Alert:
    """An alert raised by something that happened on a call rather than by an action code
    (an agent's line dropping mid-call): shown and delivered like the others."""
    team = None
    if agent_id is not None:
        team = session.scalar(select(Agent.team).where(Agent.id == agent_id))
    alert = Alert(
        kind=kind[:8],
        label=label[:200],
        account_id=account_id,
        attempt_id=attempt_id,
        agent_id=agent_id,
        team=team,
        note=note,
        created_at=now,
        webhook_state="pending",
        webhook_attempts=0,
    )
    session.add(alert)
    session.flush()
    return alert


def _rows(open_only: bool):
    query = (
        select(Alert, Account.account_no, Account.customer_name, Agent.username, Agent.name)
        .join(Account, Account.id == Alert.account_id)
        .outerjoin(Agent, Agent.id == Alert.agent_id)
        .order_by(Alert.created_at.desc(), Alert.id.desc())
    )
    if open_only:
        query = query.where(Alert.acknowledged_at.is_(None))
    return query


def _as_dict(row: Any, tz: str) -> dict[str, Any]:
    alert, account_no, customer_name, username, agent_name = row
    return {
        "id": alert.id,
        "kind": alert.kind,
        "label": alert.label,
        "account_id": alert.account_id,
        "account_no": account_no,
        "customer_name": customer_name,
        "attempt_id": alert.attempt_id,
        "agent_id": alert.agent_id,
        "agent": username,
        "agent_name": agent_name,
        "team": alert.team,
        "note": mask_text(alert.note) if alert.note else None,
        "created_at": local_iso(alert.created_at, tz),
        "acknowledged_at": local_iso(alert.acknowledged_at, tz),
        "acknowledged_by": alert.acknowledged_by,
        "webhook": alert.webhook_state,
    }


def list_alerts(session: Session, *, open_only: bool = True, tz: str) -> list[dict[str, Any]]:
    """Alerts newest first (only those not acknowledged yet, by default)."""
    return [_as_dict(row, tz) for row in session.execute(_rows(open_only))]


def team_of(session: Session, alert_id: int) -> str | None:
    """The team of the agent whose call raised the alert (LookupError: no such alert)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    return alert.team


def acknowledge(session: Session, alert_id: int, *, by: str, now: datetime) -> Alert:
    """A team lead has seen the alert; refused when it was acknowledged already."""
    by = (by or "").strip()
    if not by:
        raise AlertError("say who acknowledges the alert (by)")
    if len(by) > 100:
        raise AlertError("by is longer than 100 characters")
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    if alert.acknowledged_at is not None:
        raise AlertError(f"alert {alert_id} was acknowledged already by {alert.acknowledged_by}")
    alert.acknowledged_at, alert.acknowledged_by = now, by
    session.flush()
    return alert


def mask_name(name: str | None) -> str | None:
    """A person's name reduced to initials (Nguyễn Văn An -> N. V. A.)."""
    if not name:
        return None
    return " ".join(f"{part[0]}." for part in name.split())


def payload(alert: Alert, account_no: str, customer_name: str | None, tz: str) -> dict[str, Any]:
    """The webhook body: only the account number is given in clear."""
    return {
        "alert_id": alert.id,
        "kind": alert.kind,
        "label": alert.label,
        "account_no": account_no,
        "customer": mask_name(customer_name),
        "attempt_id": alert.attempt_id,
        "agent_id": alert.agent_id,
        "team": alert.team,
        "note": mask_text(alert.note) if alert.note else None,
        "created_at": local_iso(alert.created_at, tz),
    }


# --- webhook delivery ------------------------------------------------------------------


def job_id(alert_id: int) -> str:
    return f"alert-webhook-{alert_id}"


def enqueue_pending(rt: Runtime, now: datetime, limit: int = 100) -> int:
    """Queue a delivery job for each pending alert not queued lately; returns how many."""
    if not rt.settings.alert_webhook_url:
        return 0
    with rt.db.begin() as s:
        ids = list(
            s.scalars(
                select(Alert.id)
                .where(
                    Alert.webhook_state == "pending",
                    or_(
                        Alert.webhook_queued_at.is_(None),
                        Alert.webhook_queued_at < now - REQUEUE_AFTER,
                    ),
                )
                .order_by(Alert.id)
                .limit(limit)
            )
        )
        if ids:
            s.execute(
                update(Alert)
                .where(Alert.id.in_(ids))
                .values(webhook_queued_at=now)
                .execution_options(synchronize_session=False)
            )
    # After the commit: a job never looks for an alert that is not there yet.
    for alert_id in ids:
        rt.queue.enqueue(
            deliver,
            alert_id,
            job_id=job_id(alert_id),
            job_timeout=JOB_TIMEOUT_SECONDS,
            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
            result_ttl=3600,
            description=f"alert webhook {alert_id}",
        )
    return len(ids)


def sweep_if_due(rt: Runtime) -> int:
    """enqueue_pending at most every SWEEP_EVERY_SECONDS across pacers; never raises."""
    try:
        if not rt.settings.alert_webhook_url:
            return 0
        if not rt.redis.set(SWEEP_KEY, "1", nx=True, px=int(SWEEP_EVERY_SECONDS * 1000)):
            return 0
        return enqueue_pending(rt, rt.clock.now())
    except Exception:
        log.exception("alert webhook sweep failed; trying again next time")
        return 0


def deliver(alert_id: int) -> str:
    """RQ job: POST one alert to the webhook (see deliver_alert)."""
    return deliver_alert(get_runtime(), alert_id)


def deliver_alert(rt: Runtime, alert_id: int) -> str:
    """POST the alert once; a sent (or given up) alert is left alone, so a retried or
    repeated job never sends it twice. Raises WebhookFailed for RQ to retry."""
    url = rt.settings.alert_webhook_url
    with rt.db.begin() as s:
        row = s.execute(
            select(Alert, Account.account_no, Account.customer_name)
            .join(Account, Account.id == Alert.account_id)
            .where(Alert.id == alert_id)
        ).first()
        if row is None:
            return f"no alert {alert_id}"
        alert, account_no, customer_name = row
        if alert.webhook_state != "pending":
            return f"alert {alert_id} already {alert.webhook_state}"
        if not url:
            return "no webhook configured"
        # A lease in Redis first, in wall time (the POST's timeout is real seconds, whatever
        # the simulated clock says): a copy queued again by the sweep while this one still
        # waits on a slow webhook finds it held and sends nothing.
        lease = Keys.alert_sending(alert_id)
        if not rt.redis.set(lease, "1", nx=True, px=int(SENDING_LEASE_SECONDS * 1000)):
            return f"alert {alert_id} is being sent by another job"
        # Then counted before the POST, conditionally: of two copies of the job running at
        # once, only one sends, even past the lease.
        tries = alert.webhook_attempts
        claimed = s.execute(
            update(Alert)
            .where(
                Alert.id == alert_id,
                Alert.webhook_state == "pending",
                Alert.webhook_attempts == tries,
            )
            .values(webhook_attempts=tries + 1)
        )
        if claimed.rowcount != 1:
            rt.redis.delete(lease)
            return f"alert {alert_id} is being sent by another job"
        body = payload(alert, account_no, customer_name, rt.settings.timezone)
    try:
        return _post(rt, alert_id, url, body, tries)
    finally:
        rt.redis.delete(lease)


def _post(rt: Runtime, alert_id: int, url: str, body: dict[str, Any], tries: int) -> str:
    error = None
    try:
        response = requests.post(
            url,
            json=body,
            timeout=WEBHOOK_TIMEOUT_SECONDS,
            headers={"Idempotency-Key": job_id(alert_id)},
        )
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    with rt.db.begin() as s:
        alert = s.get_one(Alert, alert_id)
        if error is None:
            alert.webhook_state, alert.webhook_sent_at = "sent", rt.clock.now()
            alert.webhook_error = None
            return "sent"
        alert.webhook_error = mask_text(error)[:500]
        if alert.webhook_attempts >= MAX_DELIVERIES:
            alert.webhook_state = "failed"
    log.warning("alert %s webhook failed (try %s): %s", alert_id, tries + 1, mask_text(error))
    if alert.webhook_state == "failed":
        return f"gave up after {MAX_DELIVERIES} tries: {error}"
    raise WebhookFailed(f"alert {alert_id}: {error}")
