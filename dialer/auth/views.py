"""Sign-in and sign-out pages, and the request-wide guards: Flask-Login sessions backed by
Redis (auth/sessions.py), CSRF on every state-changing request made with the cookie, and
failed sign-ins rate-limited per user name and per address (Flask-Limiter on our Redis)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from flask_wtf.csrf import CSRFError, CSRFProtect

from dialer.auth import access, service, sessions
from dialer.auth.models import Role, User
from dialer.http import current_runtime
from dialer.redis import Keys, redis_url

LOCALE_COOKIE = "dialer_lang"  # the sign-in page's language, before anyone is signed in

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()
# Twilio's webhooks are signed instead (webhooks/signature.py); API clients send a bearer
# token, which a browser never adds by itself, so neither needs a CSRF token.
_NO_CSRF_BLUEPRINTS = {"webhooks"}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
LOGIN_BURST = "10 per minute"


@dataclass
class SignedIn(UserMixin):
    """The signed-in user as Flask-Login holds it for one request (not an ORM object)."""

    id: int
    username: str
    name: str
    role: str
    team: str | None
    agent_id: int | None
    locale: str

    @classmethod
    def of(cls, user: User) -> SignedIn:
        return cls(
            user.id, user.username, user.name, user.role, user.team, user.agent_id, user.locale
        )

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.LEAD, Role.ADMIN)


def _idle_seconds() -> int:
    return current_runtime().settings.session_idle_minutes * 60


@login_manager.user_loader
def _load(user_id: str) -> SignedIn | None:
    rt = current_runtime()
    session_id = session.get("sid")
    if not session_id:
        return None
    owner = sessions.renew(rt.redis, session_id=session_id, idle_seconds=_idle_seconds())
    if owner is None or str(owner) != user_id:
        session.clear()  # ended by sign-out elsewhere, a disabled user, or idle time
        return None
    with rt.db.session() as s:
        user = s.get(User, owner)
        return SignedIn.of(user) if user is not None and user.active else None


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return jsonify({"error": "sign in first"}), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _failed(response) -> bool:
    return response.status_code == 401


def _username_key() -> str:
    return "user:" + (request.form.get("username") or "").strip().lower()


def _safe_next(target: str | None, fallback: str) -> str:
    """Only a path on this site (never //host or a scheme: no open redirect)."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return fallback
    return target


def home_for(user: SignedIn) -> str:
    return url_for("web.console") if user.is_staff else url_for("desk.desk")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(home_for(current_user))
        return render_template("auth/login.html", username="")
    rt = current_runtime()
    username = (request.form.get("username") or "").strip()
    with rt.db.begin() as s:
        user = service.authenticate(
            s, username=username, password=request.form.get("password") or "", now=rt.clock.now()
        )
        signed_in = SignedIn.of(user) if user is not None else None
    if signed_in is None:
        flash(_("Wrong user name or password."), "error")
        return render_template("auth/login.html", username=username), 401
    session.clear()  # a fresh session: nothing carried over from before the sign-in
    session["sid"] = sessions.start(rt.redis, user_id=signed_in.id, idle_seconds=_idle_seconds())
    login_user(signed_in)
    return redirect(_safe_next(request.args.get("next"), home_for(signed_in)))


@bp.post("/logout")
def logout():
    rt = current_runtime()
    session_id = session.get("sid")
    if current_user.is_authenticated and current_user.agent_id is not None:
        service.sign_off_agent(rt, agent_id=current_user.agent_id)
    if session_id:
        sessions.end(rt.redis, session_id=session_id)
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/locale")
@login_required
def set_locale():
    """The user's language (vi or en), kept on the user."""
    locale = request.form.get("locale") or (request.get_json(silent=True) or {}).get("locale")
    if locale not in service.LOCALES:
        abort(400)
    rt = current_runtime()
    with rt.db.begin() as s:
        service.set_locale(s, user=s.get_one(User, current_user.id), locale=locale)
    back = request.referrer or ""
    response = redirect(back if back.startswith(request.host_url) else home_for(current_user))
    response.set_cookie(LOCALE_COOKIE, locale, max_age=365 * 86400, samesite="Lax")
    return response


def _csrf_guard() -> None:
    """A state-changing request made with the session cookie carries the page's token. A
    request with neither cookie session nor bearer token is refused by the API's own check
    (401), so only a sign-in form is checked for someone not signed in yet."""
    if request.method not in _UNSAFE or request.blueprint in _NO_CSRF_BLUEPRINTS:
        return
    # A browser never adds a bearer token by itself (a cross-site page cannot either: the
    # header makes it a CORS request we do not allow); the token must be good.
    if access.has_bearer() and access.principal_or_raise().scope is not None:
        return
    if current_user.is_authenticated or request.endpoint in ("auth.login", "auth.logout"):
        csrf.protect()


def _csrf_refused(exc: CSRFError):
    message = _("The form has expired or was not sent by this site (CSRF). Reload the page.")
    if request.path.startswith("/api/") or request.is_json:
        return jsonify({"error": message, "reason": exc.description}), 400
    return render_template("auth/refused.html", message=message), 400


def _rate_limited(exc: RateLimitExceeded):
    message = _("Too many failed sign-ins. Wait a few minutes, then try again.")
    if request.endpoint == "auth.login":
        flash(message, "error")
        return render_template("auth/login.html", username=request.form.get("username", "")), 429
    return jsonify({"error": message}), 429


def init_app(app: Flask) -> None:
    rt = app.extensions["dialer"]
    settings = rt.settings
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        SESSION_COOKIE_NAME="dialer_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        # Checked by _csrf_guard (not on bearer-token or webhook requests).
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        RATELIMIT_STORAGE_URI=_limits_uri(settings),
        RATELIMIT_KEY_PREFIX=Keys.rate_limits(),
        RATELIMIT_HEADERS_ENABLED=False,
    )
    rt.redis  # noqa: B018 (starts the embedded Redis before the limiter connects to it)
    login_manager.session_protection = "basic"
    login_manager.init_app(app)
    csrf.init_app(app)
    app.register_blueprint(bp)
    # One limiter per app (its storage is the app's Redis); only failed sign-ins count.
    limiter = Limiter(get_remote_address, app=app, default_limits=[])
    view = app.view_functions["auth.login"]
    view = limiter.limit(
        settings.login_limit_address, methods=["POST"], deduct_when=_failed, scope="login-ip"
    )(view)
    view = limiter.limit(
        settings.login_limit_user,
        key_func=_username_key,
        methods=["POST"],
        deduct_when=_failed,
        scope="login-user",
    )(view)
    # Failed sign-ins are counted once answered, so guesses sent together would all pass
    # the check before any counted: every attempt counts here, a few a minute per name.
    view = limiter.limit(
        LOGIN_BURST, key_func=_username_key, methods=["POST"], scope="login-burst"
    )(view)
    app.view_functions["auth.login"] = view
    app.before_request(_csrf_guard)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.register_error_handler(RateLimitExceeded, _rate_limited)


def _limits_uri(settings) -> str:
    url = redis_url(settings)
    return "redis+unix://" + url[len("unix://") :] if url.startswith("unix://") else url
