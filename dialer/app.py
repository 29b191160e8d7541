"""Flask application factory: webhooks, JSON API, sign-in, agent desk and supervisor console."""

from __future__ import annotations

from flask import Flask

from dialer.config import Settings, get_settings
from dialer.runtime import Runtime


class DialerExtension:
    """Puts the Runtime in app.extensions["dialer"], the way Flask extensions do."""

    def init_app(self, app: Flask, runtime: Runtime) -> None:
        app.extensions["dialer"] = runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or Runtime(settings or get_settings())
    app = Flask(__name__, static_folder=None)  # the web blueprint serves dialer/web/static
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # Vietnamese names read as written
    DialerExtension().init_app(app, runtime)

    from dialer.agents.views import bp as agents_bp
    from dialer.auth import views as auth_views
    from dialer.callflow.views import bp as desk_events_bp
    from dialer.campaigns.views import bp as campaigns_bp
    from dialer.console.imports import bp as imports_bp
    from dialer.console.reports.views import bp as reports_bp
    from dialer.console.views import bp as console_bp
    from dialer.desk.views import bp as desk_bp
    from dialer.http import register_error_handlers
    from dialer.outcomes.views import bp as outcomes_bp
    from dialer.portfolio.views import bp as payments_bp
    from dialer.scripts.views import bp as scripts_bp
    from dialer.web import i18n
    from dialer.web.views import bp as web_bp
    from dialer.webhooks.views import bp as webhooks_bp

    i18n.init_app(app)
    auth_views.init_app(app)
    for bp in (
        webhooks_bp,
        desk_bp,
        console_bp,
        reports_bp,
        imports_bp,
        desk_events_bp,
        agents_bp,
        campaigns_bp,
        outcomes_bp,
        payments_bp,
        scripts_bp,
        web_bp,
    ):
        app.register_blueprint(bp)
    from dialer.outcomes.worklist_views import bp as worklists_bp  # referrals, alerts

    app.register_blueprint(worklists_bp)
    register_error_handlers(app)
    return app
