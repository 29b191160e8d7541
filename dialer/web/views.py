"""Supervisor console (read-only first page) and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from dialer.auth import reach
from dialer.auth.access import STAFF
from dialer.campaigns import service
from dialer.http import current_runtime
from dialer.outcomes import alerts
from dialer.web.i18n import N_

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@bp.get("/healthz")
def healthz():
    rt = current_runtime()
    rt.redis.ping()
    with rt.db.session() as s:
        s.execute(select(1))
    return jsonify({"ok": True})


@bp.get("/")
@login_required
def console():
    """The supervisor console: personal data, so team leads and administrators only (an
    agent signed in goes to their desk)."""
    if current_user.role not in STAFF:
        return redirect(url_for("desk.desk"))
    rt = current_runtime()
    team = reach.team_of_principal()  # a team lead sees their team's campaigns and alerts
    with rt.db.session() as s:
        rows = service.statuses(s, rt.redis, team=team, now=rt.clock.now(), limit=20)
        open_alerts = [
            a
            for a in alerts.list_alerts(s, open_only=True, tz=rt.settings.timezone)
            if team is None or a["team"] == team
        ]
    return render_template("console.html", campaigns=rows, alerts=open_alerts)


_ERRORS = {
    400: N_("The request was not understood. Go back and try again."),
    403: N_("You may not open this page: it belongs to another team or role."),
    404: N_("There is nothing at this address."),
    405: N_("This address does not take that kind of request."),
    422: N_(
        "This report has more rows than an Excel sheet holds (1,048,575): download its CSV instead."
    ),
    500: N_("Something went wrong on our side. Try again; if it happens again, tell IT."),
}


def _error_page(exc: HTTPException):
    if request.path.startswith(("/api/", "/twilio/")):
        return jsonify({"error": exc.description}), exc.code
    code = getattr(exc, "code", None) or 500
    message = gettext(_ERRORS.get(code, _ERRORS[500]))
    return render_template("error.html", code=code, message=message), code


for _code in _ERRORS:
    bp.app_errorhandler(_code)(_error_page)
