"""The JSON API's edges: token check, body parsing, and errors as JSON."""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

import redis
from flask import Flask, current_app, jsonify, request
from flask_babel import force_locale, gettext
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException

from dialer.messages import N_, Message, translated

if TYPE_CHECKING:
    from dialer.runtime import Runtime

log = logging.getLogger(__name__)


def current_runtime() -> Runtime:
    """The app's Runtime (settings, clock, db, redis, carrier), set up by create_app."""
    return current_app.extensions["dialer"]


def said(exc: Exception) -> str:
    """What an exception says, keeping a Message (to be translated) as it was raised."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)


class ApiError(Exception):
    """A refused request: HTTP status, a message, and the individual problems."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        problems: list[str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ):
        super().__init__(message)
        self.message, self.status, self.problems = message, status, problems or []
        # The problems for a person: [{"field": ..., "message": in their language}].
        self.details = details or []


def details_of(problems: list[str]) -> list[dict[str, Any]]:
    """Each problem in the reader's language, with the field it is about (a form shows it
    next to that field); amounts written as the centre writes them."""
    return [
        {"field": getattr(problem, "field", None), "message": translated(problem, gettext)}
        for problem in problems
    ]


def refused(exc: Exception, status: int = 400) -> ApiError:
    """The ApiError for a use case's refusal (a CampaignError...): its Message kept, so the
    answer also says it in the reader's language and names the field it is about."""
    message = said(exc)
    return ApiError(message, status, details=details_of([message]))


# Control characters no text field may hold (tab, newline and carriage return may): NUL is
# refused by PostgreSQL outright, the rest only corrupt what a person later reads.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_character_at(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if _CONTROL.search(value) else None
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            found = _control_character_at(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    return None


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a clear 400 (also for text with control characters)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError("the request body must be a JSON object (Content-Type: application/json)")
    where = _control_character_at(data, "")
    if where:
        raise ApiError(f"{where} holds a control character (such as NUL); remove it")
    return data


def field(
    body: dict[str, Any], name: str, kind: type, default: Any = None, *, required: bool = False
) -> Any:
    """body[name] checked to be of `kind` (bool is not a number here), or a clear 400."""
    value = body.get(name, default)
    if value is None:
        if required:
            raise ApiError(f"{name} is required")
        return None
    wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    if wrong:
        names = {int: "a whole number", str: "text", dict: "an object", list: "a list"}
        raise ApiError(f"{name} must be {names.get(kind, kind.__name__)}")
    return value


RETRY_AFTER_SECONDS = 5  # what a 503 tells a client (and Twilio) to wait before trying again
UNAVAILABLE = N_("The service is unavailable for a moment. Try again in a few seconds.")
_LOG_EVERY_SECONDS = 30.0  # one line per outage and dependency, not one per request
_last_logged: dict[str, float] = {}


def _log_outage(what: str, exc: Exception) -> None:
    now = time.monotonic()
    if now - _last_logged.get(what, -_LOG_EVERY_SECONDS) >= _LOG_EVERY_SECONDS:
        _last_logged[what] = now
        log.warning(
            "%s unavailable (%s: %s); answering 503 with Retry-After %ss until it is back",
            what, type(exc).__name__, str(exc).splitlines()[0][:200], RETRY_AFTER_SECONDS,
        )  # fmt: skip


def unavailable(what: str, exc: Exception):
    """A dependency that is down (Redis, the database): 503 with a retry hint, one log line
    per outage rather than a traceback per request. JSON for the API and the webhooks, the
    error page for a person."""
    _log_outage(what, exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith(("/api/", "/twilio/", "/console/live/events")):
        body = {"error": f"{what} is unavailable for a moment; retry in {RETRY_AFTER_SECONDS} s"}
        return jsonify(body), 503, headers
    # The page reloads itself after the retry time; both languages, as the reader's own
    # may be in the store that is down.
    said = {}
    for locale in ("vi", "en"):
        with force_locale(locale):
            said[locale] = gettext(UNAVAILABLE)
    # Not render_template: its context processors load the signed-in user from the session
    # store, which may be what is down.
    page = current_app.jinja_env.get_template("unavailable.html").render(
        retry=RETRY_AFTER_SECONDS, **said
    )
    return page, 503, headers


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def _redis_down(exc: Exception):
        return unavailable("Redis", exc)

    @app.errorhandler(OperationalError)
    @app.errorhandler(SQLAlchemyTimeoutError)
    def _database_down(exc: Exception):
        # Refused connections, a pool that cannot hand one out, a lock held too long: all
        # pass, so the caller is told to try again rather than that the request was wrong.
        return unavailable("The database", exc)

    @app.errorhandler(IntegrityError)
    def _conflict(exc: IntegrityError):
        # Two requests raced to record the same thing; the first one won.
        return jsonify(
            {"error": "this conflicts with a change made at the same moment; reload and try again"}
        ), 409

    @app.errorhandler(DataError)
    def _bad_value(exc: DataError):
        # A value the database refuses (out of range, a character it cannot store).
        return jsonify({"error": "a value in the request cannot be stored; check it"}), 400

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        body: dict[str, Any] = {"error": exc.message}
        if isinstance(exc.message, Message):  # also in the reader's language, for people
            body["message"] = translated(exc.message, gettext)
        if exc.problems:
            body["problems"] = exc.problems
        if exc.details:
            body["details"] = exc.details
        return jsonify(body), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return jsonify({"error": exc.description}), exc.code
        return exc
