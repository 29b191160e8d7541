"""Disposition API (the agent desk records and corrects action codes) and the catalogue API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, request
from flask_babel import gettext

from dialer.agents import presence
from dialer.auth import access
from dialer.campaigns import followups
from dialer.campaigns.models import CallAttempt
from dialer.http import ApiError, current_runtime, details_of, json_body
from dialer.outcomes.catalogue import (
    CatalogueError,
    code_as_dict,
    delete_code,
    load_catalogue,
    set_code,
)
from dialer.outcomes.effects import DispositionError, DispositionInput
from dialer.outcomes.models import ActionCode
from dialer.outcomes.service import (
    Recorded,
    after_correction,
    audit_trail,
    correct_disposition,
    record_disposition,
)
from dialer.runtime import Runtime, local_today

bp = Blueprint("outcomes", __name__, url_prefix="/api")
bp.before_request(access.require_api(access.EVERYONE))

DISPOSITION_KEYS = {
    "agent_id",
    "code",
    "promise_amount",
    "promise_date",
    "callback_at",
    "note",
    "new_phone",
}


def parse_disposition(body: dict[str, Any], tz: str, setter: str = "agent") -> DispositionInput:
    """Types and formats only; the business rules live in outcomes.effects.validate.

    Shared by the API and the CLI (`dialer codes correct`): a bad value is a clear message.
    """
    problems = []
    unknown = set(body) - DISPOSITION_KEYS
    if unknown:
        problems.append(f"unknown field(s): {', '.join(sorted(unknown))}")
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
    new_phone = body.get("new_phone")
    if new_phone is not None and not isinstance(new_phone, str):
        problems.append("new_phone must be text (a phone number)")
    if problems:
        raise DispositionError(problems)
    return DispositionInput(
        code=code.strip().upper(),
        setter=setter,
        promise_amount=amount,
        promise_date=promise_date,
        callback_at=callback_at,
        note=(note or "").strip() or None,
        new_phone=(new_phone or "").strip() or None,
    )


def _parse(body: dict[str, Any]) -> tuple[int, DispositionInput]:
    """The acting agent (a signed-in agent's own; an API client names it) and the input."""
    try:
        given = parse_disposition(body, current_runtime().settings.timezone)
    except DispositionError as exc:
        problems = list(exc.problems)
        principal = access.principal_or_raise()
        named = body.get("agent_id")
        if principal.is_system and (not isinstance(named, int) or isinstance(named, bool)):
            problems.append("agent_id (a number) is required")
        raise ApiError(
            "the disposition was refused", 400, problems, details_of(exc.problems)
        ) from None
    return access.acting_agent_id(body.get("agent_id")), given


def _recorded_json(recorded) -> dict[str, Any]:
    return {
        "disposition_id": recorded.disposition_id,
        "code": recorded.code,
        "entry_state": recorded.entry_state,
        "retry_at": recorded.retry_at.isoformat() if recorded.retry_at else None,
    }


def _apply_to_attempt(
    attempt_id: int, agent_id: int, refused: str, apply
) -> tuple[Runtime, Recorded]:
    """Run apply(session, attempt, runtime) in one transaction; a refusal is a 422 that
    names every problem, and nothing is changed. A signed-in agent reaches only their own
    calls, before anything about the account is checked (or told)."""
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            attempt = s.get(CallAttempt, attempt_id)
            if attempt is None:
                raise ApiError(f"no call attempt {attempt_id}", 404)
            if not access.principal_or_raise().is_system and attempt.agent_id != agent_id:
                raise ApiError(gettext("This call is not yours."), 403)
            return rt, apply(s, attempt, rt)
    except DispositionError as exc:
        raise ApiError(refused, 422, exc.problems, details_of(exc.problems)) from None


@bp.post("/attempts/<int:attempt_id>/disposition")
def dispose(attempt_id: int):
    """Record the agent's action code; the agent is ready again once the call is over."""
    agent_id, given = _parse(json_body())
    rt, recorded = _apply_to_attempt(
        attempt_id,
        agent_id,
        "the disposition was refused",
        lambda s, attempt, rt: record_disposition(
            s,
            attempt,
            given,
            agent_id=agent_id,
            now=rt.clock.now(),
            today=local_today(rt),
            correction_minutes=rt.settings.correction_minutes,
        ),
    )
    if recorded.replaced:  # a late code over the wrap-up overrun's NDP
        after_correction(rt.redis, recorded, rt.clock.now())
    else:
        followups.after_disposition(rt, recorded)
    # Ready now if the call is over; otherwise as soon as it ends (decided in Redis, atomically).
    presence.disposed(rt.redis, agent_id, attempt_id, rt.now_ts())
    return jsonify(_recorded_json(recorded)), 201


@bp.put("/attempts/<int:attempt_id>/disposition")
def correct(attempt_id: int):
    """The agent who recorded the code corrects it (code and/or fields) within the window."""
    agent_id, given = _parse(json_body())
    rt, recorded = _apply_to_attempt(
        attempt_id,
        agent_id,
        "the correction was refused",
        lambda s, attempt, rt: correct_disposition(
            s,
            attempt,
            given,
            actor="agent",
            agent_id=agent_id,
            now=rt.clock.now(),
            today=local_today(rt),
            window_minutes=rt.settings.correction_minutes,
        ),
    )
    after_correction(rt.redis, recorded, rt.clock.now())
    return jsonify(_recorded_json(recorded)), 200


@bp.get("/attempts/<int:attempt_id>/audit")
def audit(attempt_id: int):
    """Who set or changed the attempt's action code, when, from what to what."""
    access.require_role(*access.STAFF)
    with current_runtime().db.session() as s:
        if s.get(CallAttempt, attempt_id) is None:
            raise ApiError(f"no call attempt {attempt_id}", 404)
        return jsonify({"attempt_id": attempt_id, "changes": audit_trail(s, attempt_id)})


@bp.get("/action-codes")
def action_codes():
    """The catalogue: codes in use (`?all=1`: the disabled ones too)."""
    everything = request.args.get("all") in ("1", "true", "yes")
    with current_runtime().db.session() as s:
        catalogue = load_catalogue(s)
    return jsonify(
        [
            code_as_dict(c)
            for c in sorted(catalogue.values(), key=lambda c: c.code)
            if c.active or everything
        ]
    )


@bp.get("/action-codes/<code>")
def action_code(code: str):
    with current_runtime().db.session() as s:
        row = s.get(ActionCode, code.strip().upper())
        if row is None:
            raise ApiError(f"unknown action code {code!r}", 404)
        return jsonify(code_as_dict(row))


@bp.put("/action-codes/<code>")
def put_action_code(code: str):
    """Create or edit a code: the keys given replace the current values (effects whole)."""
    access.require_role(access.Role.ADMIN)
    rt = current_runtime()
    body = json_body()
    try:
        with rt.db.begin() as s:
            existed = s.get(ActionCode, code.strip().upper()) is not None
            row = set_code(s, code, body, rt.clock.now())
            out = code_as_dict(row)
    except CatalogueError as exc:
        raise ApiError(f"action code {code.upper()} was not saved", 422, exc.problems) from None
    return jsonify(out), 200 if existed else 201


@bp.delete("/action-codes/<code>")
def delete_action_code(code: str):
    """Delete a code never used; one in use can only be disabled (PUT {"active": false})."""
    access.require_role(access.Role.ADMIN)
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            delete_code(s, code)
    except CatalogueError as exc:
        status = 404 if exc.problems[0].startswith("unknown") else 409
        raise ApiError(
            f"action code {code.upper()} was not deleted", status, exc.problems
        ) from None
    return "", 204
