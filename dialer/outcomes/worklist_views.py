"""Referral worklists and team-lead alerts over the JSON API (and the worklist as CSV)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context

from dialer.auth import access, reach
from dialer.http import ApiError, current_runtime, json_body
from dialer.outcomes import alerts, referrals

bp = Blueprint("worklists", __name__, url_prefix="/api")
bp.before_request(access.require_api(access.STAFF))

ACTION_KEYS = {"note", "by"}


def _filters() -> tuple[str | None, str | None]:
    unknown = set(request.args) - {"kind", "state"}
    if unknown:
        raise ApiError(f"unknown parameter(s): {', '.join(sorted(unknown))}; known: kind, state")
    kind = request.args.get("kind") or None
    state = request.args.get("state") or None
    problems = referrals.check_filters(kind, state)
    if problems:
        raise ApiError("the worklist filters were refused", 400, problems)
    return kind, state


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(f"{name} must be text")
    return value


def _by(body: dict[str, Any], principal: access.Principal) -> str | None:
    """Who did it, for the audit: the signed-in user; an API client says who."""
    return _text(body, "by") if principal.user_id is None else principal.name


def _optional_body() -> dict[str, Any]:
    """The JSON object sent, or {} for an empty body (note and by are optional)."""
    if not request.get_data():
        return {}
    return json_body()


@bp.get("/referrals")
def list_referrals():
    kind, state = _filters()
    rt = current_runtime()
    with rt.db.session() as s:
        rows = referrals.worklist(
            s, kind=kind, state=state, tz=rt.settings.timezone, team=reach.team_of_principal()
        )
    return jsonify(rows)


@bp.get("/referrals.csv")
def referrals_csv():
    kind, state = _filters()
    rt = current_runtime()
    tz, team = rt.settings.timezone, reach.team_of_principal()

    def rows():
        with rt.db.session() as s:
            yield from referrals.worklist_csv(s, kind=kind, state=state, tz=tz, team=team)

    name = f"referrals-{kind or 'all'}{'-' + state if state else ''}.csv"
    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/referrals/<int:referral_id>")
def show_referral(referral_id: int):
    rt = current_runtime()
    with rt.db.session() as s:
        try:
            referral = referrals.get(s, referral_id, rt.settings.timezone)
        except LookupError as exc:
            raise ApiError(str(exc), 404) from None
        reach.check_account(s, referral["account_id"])
        return jsonify(referral)


@bp.post("/referrals/<int:referral_id>/<action>")
def referral_action(referral_id: int, action: str):
    """accept | return | close, with an optional note and who did it."""
    if action not in referrals.TRANSITIONS:
        raise ApiError(f"unknown action {action!r}; known: {', '.join(referrals.TRANSITIONS)}", 404)
    body = _optional_body()
    unknown = set(body) - ACTION_KEYS
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}; known: note, by")
    # The handling teams' work (or their system's, with a token), not a collections lead's.
    principal = access.require_role(access.Role.ADMIN)
    note, by = _text(body, "note"), _by(body, principal)
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            referrals.transition(s, referral_id, action, now=rt.clock.now(), by=by, note=note)
    except LookupError as exc:
        raise ApiError(str(exc), 404) from None
    except referrals.ReferralError as exc:
        raise ApiError(str(exc), 409) from None
    with rt.db.session() as s:
        return jsonify(referrals.get(s, referral_id, rt.settings.timezone))


@bp.get("/alerts")
def list_alerts():
    unknown = set(request.args) - {"all"}
    if unknown:
        raise ApiError(f"unknown parameter(s): {', '.join(sorted(unknown))}; known: all")
    everything = request.args.get("all", "").lower() in ("1", "true", "yes")
    rt = current_runtime()
    team = reach.team_of_principal()
    with rt.db.session() as s:
        rows = alerts.list_alerts(s, open_only=not everything, tz=rt.settings.timezone)
    return jsonify([a for a in rows if team is None or a["team"] == team])


@bp.post("/alerts/<int:alert_id>/ack")
def ack_alert(alert_id: int):
    body = _optional_body()
    unknown = set(body) - {"by"}
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}; known: by")
    by = _by(body, access.principal_or_raise())
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            reach.check_team(alerts.team_of(s, alert_id))
            alert = alerts.acknowledge(s, alert_id, by=by or "", now=rt.clock.now())
            acked = {
                "id": alert.id,
                "acknowledged_at": alert.acknowledged_at.isoformat(),
                "acknowledged_by": alert.acknowledged_by,
            }
    except LookupError as exc:
        raise ApiError(str(exc), 404) from None
    except alerts.AlertError as exc:
        raise ApiError(str(exc), 409 if "already" in str(exc) else 400) from None
    return jsonify(acked)
