"""The mock carrier's HTTP face: Twilio's REST API (2010-04-01) and the /_mock control API.

REST requests are form-encoded and answered in JSON, with HTTP Basic auth (account SID +
auth token), exactly as the official `twilio` client expects. The control API (/_mock/...)
is JSON in and out, unauthenticated, meant for scripts, tests and the demo on localhost.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from dialer.telephony.mock import errors
from dialer.telephony.mock.errors import ScenarioError, TwilioApiError
from dialer.telephony.mock.inbound import UnknownNumber
from dialer.telephony.mock.policy import Faults
from dialer.telephony.mock.resources import (
    API_PREFIX,
    call_resource,
    conference_resource,
    page_envelope,
    participant_resource,
)

if TYPE_CHECKING:
    from dialer.telephony.mock.carrier import MockCarrier

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50


def _form() -> dict[str, list[str]]:
    return {key: request.form.getlist(key) for key in request.form}


def _twilio_error(exc: TwilioApiError) -> Response:
    response = jsonify(exc.body())
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


def _control_error(message: str, status: int = 400) -> Response:
    response = jsonify({"error": message, "status": status})
    response.status_code = status
    return response


def _paginate(items: list[Any], sid_of) -> tuple[list[Any], int, int, str | None, str | None]:
    def number(name: str, default: int, low: int, high: int) -> int:
        raw = request.args.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise TwilioApiError(
                errors.INVALID_PARAMETER, f"{name} must be a whole number"
            ) from None
        if not low <= value <= high:
            raise TwilioApiError(
                errors.INVALID_PARAMETER, f"{name} must be between {low} and {high}"
            )
        return value

    page_size = number("PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = number("Page", 0, 0, 10**9)
    token = request.args.get("PageToken") or ""
    start = page * page_size
    sids = None
    if token[:2] in ("PA", "PB") and len(token) > 2:
        sids = sids or [sid_of(item) for item in items]
        if token[2:] in sids:
            index = sids.index(token[2:])
            start = index + 1 if token.startswith("PA") else max(0, index - page_size)
    chunk = items[start : start + page_size]
    next_token = "PA" + sid_of(chunk[-1]) if chunk and start + page_size < len(items) else None
    previous_token = "PB" + sid_of(chunk[0]) if chunk and start > 0 else None
    return chunk, page, page_size, next_token, previous_token


def create_app(carrier: MockCarrier) -> Flask:
    """The WSGI app for one MockCarrier (its simulator, population and clock)."""
    app = Flask("dialer.telephony.mock")
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    sim = carrier.simulator
    account = carrier.account_sid
    prefix = f"{API_PREFIX}/<account_sid>"

    def price_per_minute() -> float:
        return carrier.population.params.price_per_minute

    # ------------------------------------------------------------- plumbing --
    @app.before_request
    def count_request():
        """Twilio's API concurrency limit; injected slowness holds the slot like real latency."""
        if not request.path.startswith("/2010-04-01/"):
            return None
        carrier.requests.enter(carrier.limits.max_concurrent_requests)
        g.counted = True
        delay = carrier.faults.rest_delay_ms
        if delay:
            time.sleep(delay / 1000)
        return None

    @app.teardown_request
    def uncount_request(exc: BaseException | None) -> None:
        if g.pop("counted", False):
            carrier.requests.leave()

    @app.before_request
    def authenticate():
        if not request.path.startswith("/2010-04-01/"):
            return None
        auth = request.authorization
        valid = (
            auth is not None
            and auth.type == "basic"
            and secrets.compare_digest(auth.username or "", account)
            and secrets.compare_digest(auth.password or "", carrier.auth_token)
        )
        if not valid:
            raise TwilioApiError(errors.AUTHENTICATE, "Authenticate", 401)
        view_args = request.view_args or {}
        if view_args.get("account_sid", account) != account:
            raise TwilioApiError(errors.AUTHENTICATE, "Authenticate", 401)
        return None

    @app.after_request
    def twilio_headers(response: Response) -> Response:
        if request.path.startswith("/2010-04-01/"):
            response.headers["Twilio-Request-Id"] = "RQ" + secrets.token_hex(16)
        elif request.path.startswith("/_mock/"):
            # A browser page on another port (the agent desk in development) may drive
            # the simulated softphones.
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        return response

    @app.errorhandler(TwilioApiError)
    def on_twilio_error(exc: TwilioApiError):
        return _twilio_error(exc)

    @app.errorhandler(ScenarioError)
    def on_scenario_error(exc: ScenarioError):
        return _control_error(str(exc), 400)

    @app.errorhandler(UnknownNumber)
    def on_unknown_number(exc: UnknownNumber):
        return _control_error(str(exc), 404)

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException):
        status = exc.code or 500
        if request.path.startswith("/2010-04-01/"):
            code = {404: errors.NOT_FOUND, 405: errors.METHOD_NOT_ALLOWED}.get(status, status)
            message = "The requested resource was not found" if status == 404 else exc.description
            return _twilio_error(TwilioApiError(code, message or exc.name, status))
        return _control_error(exc.description or exc.name, status)

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception):
        app.logger.exception("mock carrier request failed")
        if request.path.startswith("/2010-04-01/"):
            return _twilio_error(TwilioApiError(20500, "Internal Server Error", 500))
        return _control_error(f"internal error: {exc!r}", 500)

    # ----------------------------------------------------------------- calls --
    @app.post(f"{prefix}/Calls.json")
    def create_call(account_sid: str):
        call = sim.create_call(_form())
        response = jsonify(call_resource(call, price_per_minute()))
        response.status_code = 201
        return response

    @app.get(f"{prefix}/Calls.json")
    def list_calls(account_sid: str):
        filters = {
            k: request.args[k]
            for k in ("To", "From", "Status", "ParentCallSid")
            if request.args.get(k)
        }
        calls = sim.list_calls(filters)
        chunk, page, size, next_token, previous_token = _paginate(calls, lambda c: c.sid)
        with sim.lock:
            items = [call_resource(c, price_per_minute()) for c in chunk]
        return jsonify(
            page_envelope(
                "calls", items, path=f"{API_PREFIX}/{account}/Calls.json", filters=filters,
                page=page, page_size=size, next_token=next_token, previous_token=previous_token,
            )
        )  # fmt: skip

    @app.get(f"{prefix}/Calls/<sid>.json")
    def fetch_call(account_sid: str, sid: str):
        call = sim.get_call(sid)
        with sim.lock:
            return jsonify(call_resource(call, price_per_minute()))

    @app.post(f"{prefix}/Calls/<sid>.json")
    def update_call(account_sid: str, sid: str):
        call = sim.update_call(sid, _form())
        with sim.lock:
            return jsonify(call_resource(call, price_per_minute()))

    # ----------------------------------------------------------- conferences --
    @app.get(f"{prefix}/Conferences.json")
    def list_conferences(account_sid: str):
        filters = {k: request.args[k] for k in ("FriendlyName", "Status") if request.args.get(k)}
        conferences = sim.list_conferences(filters)
        chunk, page, size, next_token, previous_token = _paginate(conferences, lambda c: c.sid)
        with sim.lock:
            items = [conference_resource(c) for c in chunk]
        return jsonify(
            page_envelope(
                "conferences", items, path=f"{API_PREFIX}/{account}/Conferences.json",
                filters=filters, page=page, page_size=size, next_token=next_token,
                previous_token=previous_token,
            )
        )  # fmt: skip

    @app.get(f"{prefix}/Conferences/<sid>.json")
    def fetch_conference(account_sid: str, sid: str):
        conference = sim.get_conference(sid)
        with sim.lock:
            return jsonify(conference_resource(conference))

    @app.post(f"{prefix}/Conferences/<sid>.json")
    def update_conference(account_sid: str, sid: str):
        status = request.form.get("Status")
        if status not in (None, "", "completed"):
            raise TwilioApiError(errors.INVALID_PARAMETER, "Status must be completed")
        conference = sim.end_conference(sid) if status else sim.get_conference(sid)
        with sim.lock:
            return jsonify(conference_resource(conference))

    @app.get(f"{prefix}/Conferences/<sid>/Participants.json")
    def list_participants(account_sid: str, sid: str):
        participants = sim.participants(sid)
        chunk, page, size, next_token, previous_token = _paginate(
            participants, lambda p: p.call.sid
        )
        with sim.lock:
            items = [participant_resource(p) for p in chunk]
        return jsonify(
            page_envelope(
                "participants", items,
                path=f"{API_PREFIX}/{account}/Conferences/{sid}/Participants.json",
                filters={}, page=page, page_size=size, next_token=next_token,
                previous_token=previous_token,
            )
        )  # fmt: skip

    @app.get(f"{prefix}/Conferences/<sid>/Participants/<call_sid>.json")
    def fetch_participant(account_sid: str, sid: str, call_sid: str):
        participant = sim.get_participant(sid, call_sid)
        with sim.lock:
            return jsonify(participant_resource(participant))

    @app.delete(f"{prefix}/Conferences/<sid>/Participants/<call_sid>.json")
    def kick_participant(account_sid: str, sid: str, call_sid: str):
        sim.kick_participant(sid, call_sid)
        return Response(status=204)

    # ------------------------------------------------------------ control API --
    def body() -> Any:
        data = request.get_json(silent=True)
        if data is None:
            raise ScenarioError("the request body must be JSON (Content-Type: application/json)")
        return data

    @app.get("/_mock/health")
    def health():
        return jsonify(
            {
                "ok": True,
                "active_calls": sim.active_count(),
                "cps_queue_seconds": round(sim.rate_gate.queue_seconds(sim.now()), 3),
                "rest_requests": carrier.requests.to_dict(),
            }
        )

    @app.get("/_mock/clock")
    def clock():
        now = carrier.clock.now()
        return jsonify(
            {"speed": carrier.clock.speed, "now": now.isoformat(), "time": now.timestamp()}
        )

    @app.get("/_mock/calls")
    def witness_calls():
        try:
            limit = int(request.args.get("limit", "1000"))
        except ValueError:
            raise ScenarioError("limit must be a whole number") from None
        filters = {k: request.args[k] for k in ("status", "to") if request.args.get(k)}
        calls = sim.witness(filters, max(1, limit))
        return jsonify({"calls": calls, "count": len(calls), "stored": len(sim.calls)})

    @app.get("/_mock/calls/<sid>")
    def witness_call(sid: str):
        try:
            return jsonify(sim.call_summary(sim.get_call(sid)))
        except TwilioApiError as exc:
            return _control_error(exc.message, 404)

    @app.get("/_mock/calls/<sid>/events")
    def witness_events(sid: str):
        try:
            return jsonify({"sid": sid, "events": sim.call_events(sid)})
        except TwilioApiError as exc:
            return _control_error(exc.message, 404)

    @app.get("/_mock/conferences/<sid>")
    def witness_conference(sid: str):
        try:
            return jsonify(sim.conference_log(sid))
        except TwilioApiError as exc:
            return _control_error(exc.message, 404)

    @app.get("/_mock/stats")
    def stats():
        raw = request.args.get("since")
        since = None
        if raw not in (None, ""):
            try:
                since = float(raw)
            except ValueError:
                since = math.nan
            if not math.isfinite(since):
                raise ScenarioError(f"since must be unix seconds (wall time), got {raw!r}")
        return jsonify(sim.stats(since))

    @app.delete("/_mock/stats")
    def reset_stats():
        return jsonify({"since": sim.reset_stats()})

    @app.get("/_mock/numbers")
    def numbers():
        return jsonify({"numbers": carrier.population.numbers()})

    @app.post("/_mock/numbers/<path:number>")
    def set_number(number: str):
        override = carrier.population.set_number(number, body())
        return jsonify({"number": number, "override": override.to_dict()})

    @app.delete("/_mock/numbers/<path:number>")
    def clear_number(number: str):
        if not carrier.population.clear_number(number):
            return _control_error(f"no override for {number}", 404)
        return Response(status=204)

    @app.get("/_mock/incoming-numbers")
    def incoming_numbers():
        return jsonify({"incoming_numbers": sim.incoming.to_dict()})

    @app.get("/_mock/incoming-numbers/<path:number>")
    def incoming_number(number: str):
        registered = sim.incoming.get(number)
        if registered is None:
            return _control_error(f"{number} is not a registered incoming number", 404)
        return jsonify({"number": number, **registered.to_dict()})

    @app.post("/_mock/incoming-numbers/<path:number>")
    def register_incoming_number(number: str):
        registered = sim.incoming.register(number, body())
        return jsonify({"number": number, **registered.to_dict()})

    @app.delete("/_mock/incoming-numbers/<path:number>")
    def remove_incoming_number(number: str):
        if not sim.incoming.remove(number):
            return _control_error(f"{number} is not a registered incoming number", 404)
        return Response(status=204)

    @app.post("/_mock/inbound")
    def inbound_call():
        call = sim.inbound_call(body())
        response = jsonify(sim.call_summary(call))
        response.status_code = 201
        return response

    @app.get("/_mock/endpoints")
    def endpoints():
        return jsonify({"endpoints": sim.endpoints()})

    @app.post("/_mock/endpoints/<path:identity>")
    def endpoint_command(identity: str):
        return jsonify(sim.endpoint_command(identity, body()))

    @app.delete("/_mock/endpoints/<path:identity>")
    def clear_endpoint(identity: str):
        if not carrier.population.clear_endpoint(identity):
            return _control_error(f"no settings for endpoint {identity}", 404)
        return Response(status=204)

    @app.get("/_mock/scenario")
    def scenario():
        return jsonify(carrier.describe())

    @app.post("/_mock/scenario")
    def load_scenario():
        carrier.load_scenario(body())
        return jsonify(carrier.describe())

    @app.get("/_mock/limits")
    def limits():
        return jsonify(carrier.limits.to_dict())

    @app.post("/_mock/limits")
    def set_limits():
        return jsonify(carrier.set_limits(body()).to_dict())

    @app.get("/_mock/faults")
    def faults():
        return jsonify(carrier.faults.to_dict())

    @app.post("/_mock/faults")
    def set_faults():
        return jsonify(carrier.set_faults(body()).to_dict())

    @app.delete("/_mock/faults")
    def clear_faults():
        return jsonify(carrier.set_faults(Faults().to_dict()).to_dict())

    return app
