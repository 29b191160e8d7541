"""Disposition API: the agent desk records the action code of a call."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify

from dialer.agents import presence
from dialer.campaigns import followups
from dialer.campaigns.models import CallAttempt
from dialer.http import ApiError, current_runtime, json_body, require_token
from dialer.outcomes.catalogue import load_catalogue
from dialer.outcomes.effects import DispositionError, DispositionInput
from dialer.outcomes.service import record_disposition

bp = Blueprint("outcomes", __name__, url_prefix="/api")
bp.before_request(require_token)

DISPOSITION_KEYS = {"agent_id", "code", "promise_amount", "promise_date", "callback_at", "note"}


def _parse_disposition(body: dict[str, Any], tz: str) -> tuple[int, DispositionInput]:
    """Types and formats only; the business rules live in outcomes.effects.validate."""
    problems = []
    unknown = set(body) - DISPOSITION_KEYS
    if unknown:
        problems.append(f"unknown field(s): {', '.join(sorted(unknown))}")
    agent_id = body.get("agent_id")
    if not isinstance(agent_id, int) or isinstance(agent_id, bool):
        problems.append("agent_id (a number) is required")
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        problems.append("code is required (an action code such as PTP)")
    amount = body.get("promise_amount")
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
        problems.append("promise_amount must be a whole number of VND")
    promise_date = None
    if body.get("promise_date") is not None:
        try:
            promise_date = date.fromisoformat(str(body["promise_date"]))
        except ValueError:
            problems.append("promise_date must be a date as YYYY-MM-DD")
    callback_at = None
    if body.get("callback_at") is not None:
        try:
            callback_at = datetime.fromisoformat(str(body["callback_at"]))
            if callback_at.tzinfo is None:  # the centre's local time
                callback_at = callback_at.replace(tzinfo=ZoneInfo(tz))
        except ValueError:
            problems.append("callback_at must be a time as YYYY-MM-DDTHH:MM")
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        problems.append("note must be text")
    if problems:
        raise ApiError("the disposition was refused", 400, problems)
    return agent_id, DispositionInput(
        code=code.strip().upper(),
        setter="agent",
        promise_amount=amount,
        promise_date=promise_date,
        callback_at=callback_at,
        note=(note or None),
    )


@bp.post("/attempts/<int:attempt_id>/disposition")
def dispose(attempt_id: int):
    """Record the agent's action code; the agent is ready again once the call is over."""
    rt = current_runtime()
    agent_id, given = _parse_disposition(json_body(), rt.settings.timezone)
    try:
        with rt.db.begin() as s:
            attempt = s.get(CallAttempt, attempt_id)
            if attempt is None:
                raise ApiError(f"no call attempt {attempt_id}", 404)
            recorded = record_disposition(
                s,
                attempt,
                given,
                agent_id=agent_id,
                now=rt.clock.now(),
                today=followups.local_today(rt),
            )
    except DispositionError as exc:
        raise ApiError("the disposition was refused", 422, exc.problems) from None
    followups.after_disposition(rt, recorded)
    # Ready now if the call is over; otherwise as soon as it ends (decided in Redis, atomically).
    presence.disposed(rt.redis, agent_id, attempt_id, rt.now_ts())
    return jsonify(
        {
            "disposition_id": recorded.disposition_id,
            "code": recorded.code,
            "entry_state": recorded.entry_state,
            "retry_at": recorded.retry_at.isoformat() if recorded.retry_at else None,
        }
    ), 201


@bp.get("/action-codes")
def action_codes():
    with current_runtime().db.session() as s:
        catalogue = load_catalogue(s)
    return jsonify(
        [
            {
                "code": c.code,
                "label_vi": c.label_vi,
                "label_en": c.label_en,
                "setters": list(c.setters),
                "requires": list(c.requires),
            }
            for c in sorted(catalogue.values(), key=lambda c: c.code)
            if c.active
        ]
    )
