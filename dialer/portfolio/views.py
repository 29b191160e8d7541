"""Payments API (the bank posts each payment) and today's payment schedule for the desk."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, request

from dialer.auth import access, reach
from dialer.http import ApiError, current_runtime, json_body
from dialer.outcomes.promises import payment_schedule, schedule_csv, schedule_summary
from dialer.portfolio.payments import (
    PaymentError,
    PaymentInput,
    payment_to_dict,
    record_payment,
)

bp = Blueprint("payments", __name__, url_prefix="/api")
bp.before_request(access.require_api(access.STAFF))

PAYMENT_KEYS = {"account_no", "amount", "paid_on", "reference", "channel", "note"}
STATUS = {"invalid": 400, "unmatched": 422, "conflict": 409}


def _today() -> date:
    rt = current_runtime()
    return rt.clock.now().astimezone(ZoneInfo(rt.settings.timezone)).date()


def _iso_date(value: object) -> date | None:
    """A date written YYYY-MM-DD, or None."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _parse_payment(body: dict[str, Any]) -> PaymentInput:
    """Types and formats only; the rules are payments.validate_payment's."""
    problems = []
    unknown = set(body) - PAYMENT_KEYS
    if unknown:
        problems.append(f"unknown field(s): {', '.join(sorted(unknown))}")
    for name in ("account_no", "reference"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            problems.append(f"{name} (text) is required")
    amount = body.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        problems.append("amount is required: a whole number of đồng (no decimals, no quotes)")
        amount = 0
    paid_on = _iso_date(body.get("paid_on"))
    if paid_on is None:
        problems.append("paid_on is required: a date as YYYY-MM-DD")
    for name in ("channel", "note"):
        if body.get(name) is not None and not isinstance(body[name], str):
            problems.append(f"{name} must be text")
    if problems:
        raise ApiError("the payment was refused", 400, problems)
    assert paid_on is not None
    return PaymentInput(
        account_no=body["account_no"],
        amount=amount,
        paid_on=paid_on,
        reference=body["reference"],
        channel=body.get("channel"),
        note=body.get("note"),
    )


@bp.post("/payments")
@access.scopes(access.Scope.PAYMENTS)
def post_payment():
    # The bank's payment feed (a token) or an administrator: never a team lead.
    if access.principal_or_raise().scope is None:
        access.require_role(access.Role.ADMIN)
    """Record a payment; idempotent by the bank's reference: 201 recorded, 200 with
    "duplicate": true for the same payment again, 409 for another payment with the same
    reference, 422 for an account not in the portfolio (unmatched)."""
    rt = current_runtime()
    given = _parse_payment(json_body())
    try:
        with rt.db.begin() as s:
            recorded = record_payment(s, given, today=_today(), now=rt.clock.now())
            out = payment_to_dict(recorded.payment, recorded.account_no)
    except PaymentError as exc:
        message = {
            "invalid": "the payment was refused",
            "unmatched": "unmatched: the payment's account is not in the portfolio",
            "conflict": "this reference is already recorded for a different payment",
        }[exc.kind]
        raise ApiError(message, STATUS[exc.kind], exc.problems) from None
    return jsonify({"payment": out, "duplicate": recorded.duplicate}), (
        200 if recorded.duplicate else 201
    )


def _team_rows(rows: list) -> list:
    """A team lead's schedule: their team's promises (installments are nobody's team)."""
    team = reach.team_of_principal()
    return rows if team is None else [r for r in rows if r.team == team]


def _schedule_day() -> date:
    unknown = set(request.args) - {"date"}
    if unknown:
        raise ApiError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    raw = request.args.get("date")
    if not raw:
        return _today()
    day = _iso_date(raw)
    if day is None:
        raise ApiError("date must be a date as YYYY-MM-DD")
    return day


@bp.get("/promises/schedule")
def get_schedule():
    """Pending promises and installments due on ?date= (default today) and the next day,
    with totals per team and agent."""
    rt = current_runtime()
    day = _schedule_day()
    with rt.db.session() as s:
        rows = _team_rows(payment_schedule(s, day, tz=rt.settings.timezone))
    return jsonify(schedule_summary(rows, day))


@bp.get("/promises/schedule.csv")
def get_schedule_csv():
    """The same rows as CSV (UTF-8 with BOM, for Excel)."""
    rt = current_runtime()
    day = _schedule_day()
    with rt.db.session() as s:
        rows = _team_rows(payment_schedule(s, day, tz=rt.settings.timezone))

    def stream() -> Iterator[bytes]:
        for chunk in schedule_csv(rows):
            yield chunk.encode("utf-8")

    return Response(
        stream(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="payment-schedule-{day}.csv"'},
    )
