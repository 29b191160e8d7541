"""The carrier interface and its Twilio implementation (also used against the mock carrier).

The rest of the system talks to a Carrier, never to the twilio library directly. With
TWILIO_API_BASE set, the official client is pointed at that base URL (the local mock
carrier); without it, at api.twilio.com with the real credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from dialer.config import MOCK_AUTH_TOKEN, Settings

FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
# Real seconds a call lookup may take. Lookups run in the pacer's loop, which must not hang
# on a carrier that stopped answering. Call creation has its own (Settings.carrier_timeout).
FETCH_TIMEOUT_SECONDS = 5.0
# A call found by a lookup after a create timed out must have been created no earlier than
# this before the attempt (the carrier's clock and ours differ a little; its dates are to
# the second).
LOOKUP_CLOCK_SKEW = timedelta(seconds=5)


class CarrierError(RuntimeError):
    """The carrier refused or failed a request; code is Twilio's error code when known."""

    def __init__(self, message: str, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class CarrierTimeout(CarrierError):
    """The carrier did not answer a create in time: the call may or may not exist."""


@dataclass(frozen=True)
class CallRequest:
    to: str  # E.164 number, client:<identity> or sip:<uri>
    from_: str
    url: str | None = None  # where the carrier fetches TwiML when the call is answered
    twiml: str | None = None
    status_callback: str | None = None
    status_callback_events: tuple[str, ...] = ("initiated", "ringing", "answered", "completed")
    timeout: int | None = None  # seconds of ringing before no-answer
    time_limit: int | None = None
    machine_detection: str | None = None  # "Enable" | "DetectMessageEnd"
    machine_detection_timeout: int | None = None
    async_amd: bool = False
    async_amd_status_callback: str | None = None
    record: bool = False  # record the call from its answer (Record=true)
    recording_status_callback: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class CallInfo:
    """A call as the carrier's call record shows it now (Twilio's Call resource)."""

    status: str  # queued, ringing, in-progress, or one of FINAL_STATUSES
    duration: int | None = None  # seconds from answer to end, once the call has ended
    answered_by: str | None = None  # the AMD result, when machine detection ran

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class Carrier(Protocol):
    def place_call(self, request: CallRequest) -> str:
        """Start an outbound call; return its call SID."""
        ...

    def hangup(self, call_sid: str) -> None:
        """End a call in any state (cancel if not yet answered)."""
        ...

    def fetch_call(self, call_sid: str) -> CallInfo:
        """The call's record now. CarrierError with code 20404 (HTTP 404) when the carrier
        does not know the call; with no code and no status when it cannot be reached."""
        ...

    def find_call(self, to: str, from_: str, created_after: datetime) -> list[str]:
        """SIDs of calls from `from_` to `to` created at or after `created_after`, newest
        first (after a create timed out: did the call come into being?). CarrierError when
        the carrier cannot be asked."""
        ...


def make_twilio_client(settings: Settings, timeout: float | None = None) -> Client:
    """The official client, pointed at TWILIO_API_BASE when that is set; `timeout` (real
    seconds) bounds each request."""
    if not settings.twilio_api_base and settings.twilio_auth_token == MOCK_AUTH_TOKEN:
        # Sending the mock's credentials to api.twilio.com could only fail (20003), call
        # after call; say what is missing instead.
        raise CarrierError(
            "TWILIO_API_BASE is not set, so calls would go to api.twilio.com, but "
            "TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are the mock carrier's: set real "
            "credentials, or point TWILIO_API_BASE at `dialer mock-carrier`"
        )
    http_client = TwilioHttpClient(timeout=timeout) if timeout is not None else None
    client = Client(
        settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client
    )
    if settings.twilio_api_base:
        client.api.base_url = settings.twilio_api_base.rstrip("/")
    return client


# The request could not even be built (a bad TWILIO_API_BASE): nothing left this machine.
_UNSENDABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps: requests keeps urllib3's MaxRetryError in args, and
    that keeps why in `reason`."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None))
        pending.extend(e for e in (*linked, *current.args) if isinstance(e, BaseException))


def _never_sent(exc: requests.RequestException) -> bool:
    """The request cannot have reached the carrier: no connection was ever made (refused,
    no route, a name that does not resolve, a connect timeout) or no request was built.

    A wrong "never sent" would dial the borrower twice, a wrong "maybe sent" only costs a
    lookup, so anything else counts as maybe sent. This holds because the client makes no
    retries (requests' default): with retries, a connection that failed on a retry could
    follow a request that was sent on the first try."""
    if isinstance(exc, (requests.ConnectTimeout, *_UNSENDABLE)):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    # urllib3's NewConnectionError covers its subclass NameResolutionError (DNS), which
    # does not say "NewConnectionError" in its text.
    return any(isinstance(cause, NewConnectionError) for cause in _causes(exc))


class TwilioCarrier:
    """Carrier over Twilio's REST API (or the mock carrier, which speaks the same API)."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.client = client or make_twilio_client(settings, settings.carrier_timeout)
        self._lookup_client = client or make_twilio_client(settings, FETCH_TIMEOUT_SECONDS)

    def place_call(self, request: CallRequest) -> str:
        params: dict[str, object] = {"to": request.to, "from_": request.from_}
        optional = {
            "url": request.url,
            "twiml": request.twiml,
            "status_callback": request.status_callback,
            "timeout": request.timeout,
            "time_limit": request.time_limit,
            "machine_detection": request.machine_detection,
            "machine_detection_timeout": request.machine_detection_timeout,
            "async_amd_status_callback": request.async_amd_status_callback,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        if request.status_callback:
            params["status_callback_event"] = list(request.status_callback_events)
            params["status_callback_method"] = "POST"
        if request.async_amd:
            params["async_amd"] = "true"
        if request.record:
            params["record"] = True
            if request.recording_status_callback:
                params["recording_status_callback"] = request.recording_status_callback
                params["recording_status_callback_method"] = "POST"
        params.update(request.extra)
        try:
            call = self.client.calls.create(**params)
        except TwilioRestException as exc:
            raise CarrierError(exc.msg, code=exc.code, status=exc.status) from exc
        except requests.RequestException as exc:
            if _never_sent(exc):
                raise CarrierError(f"carrier unreachable: {exc.__class__.__name__}") from exc
            # Sent, and then no answer (timeout, reset): the call may exist; the caller
            # looks it up before counting it as not placed.
            raise CarrierTimeout(f"no answer to the create: {exc.__class__.__name__}") from exc
        return call.sid

    def hangup(self, call_sid: str) -> None:
        try:
            call = self.client.calls(call_sid).fetch()
            # A call not yet answered is canceled; an answered one is completed.
            target = "canceled" if call.status in ("queued", "ringing") else "completed"
            if call.status in FINAL_STATUSES:
                return
            self.client.calls(call_sid).update(status=target)
        except TwilioRestException as exc:
            raise CarrierError(exc.msg, code=exc.code, status=exc.status) from exc
        except requests.RequestException as exc:  # callers handle CarrierError (a logout)
            raise CarrierError(f"carrier unreachable: {exc.__class__.__name__}") from exc

    def find_call(self, to: str, from_: str, created_after: datetime) -> list[str]:
        since = created_after - LOOKUP_CLOCK_SKEW
        try:
            calls = self._lookup_client.calls.list(to=to, from_=from_, limit=20)
        except TwilioRestException as exc:
            raise CarrierError(exc.msg, code=exc.code, status=exc.status) from exc
        except requests.RequestException as exc:
            raise CarrierError(f"carrier unreachable: {exc.__class__.__name__}") from exc
        return [c.sid for c in calls if c.date_created is not None and c.date_created >= since]

    def fetch_call(self, call_sid: str) -> CallInfo:
        try:
            call = self._lookup_client.calls(call_sid).fetch()
        except TwilioRestException as exc:
            raise CarrierError(exc.msg, code=exc.code, status=exc.status) from exc
        except requests.RequestException as exc:  # refused, reset, timed out
            raise CarrierError(f"carrier unreachable: {exc.__class__.__name__}") from exc
        duration = str(call.duration) if call.duration is not None else ""
        return CallInfo(
            status=str(call.status or ""),
            duration=int(duration) if duration.isdigit() else None,
            answered_by=call.answered_by or None,
        )
