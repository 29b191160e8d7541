"""Supervisor console (read-only first page) and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import select

from dialer.campaigns import service
from dialer.campaigns.models import Campaign
from dialer.http import current_runtime
from dialer.outcomes import alerts

bp = Blueprint("web", __name__, template_folder="templates")


@bp.get("/healthz")
def healthz():
    rt = current_runtime()
    rt.redis.ping()
    with rt.db.session() as s:
        s.execute(select(1))
    return jsonify({"ok": True})


@bp.get("/")
def console():
    rt = current_runtime()
    with rt.db.session() as s:
        campaigns = s.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(20)).all()
        rows = [service.status(s, rt.redis, c, rt.clock.now()) for c in campaigns]
        open_alerts = alerts.list_alerts(s, open_only=True, tz=rt.settings.timezone)
    return render_template("console.html", campaigns=rows, alerts=open_alerts)
