"""The REST form of a call, checked: `parse_create` (POST Calls.json) and `parse_update`.

Pure functions over the form the twilio client sends (no state, no threads), so every
rule is tested on its own. They raise TwilioApiError with Twilio's code and a message that
names the parameter, exactly what the REST API answers; nothing is created before they pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from dialer.telephony.mock import errors
from dialer.telephony.mock.errors import TwilioApiError
from dialer.telephony.mock.policy import Limits, check_geo_permission
from dialer.telephony.mock.population import endpoint_identity, is_e164
from dialer.telephony.mock.state import Source

CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
SEND_DIGITS_RE = re.compile(r"^[0-9#*wW]{1,32}$")
# Every URL parameter of a create request: each must be http(s) with a host.
CREATE_URLS = (
    "Url", "FallbackUrl", "StatusCallback", "AsyncAmdStatusCallback", "RecordingStatusCallback",
)  # fmt: skip


class Form:
    """Request parameters as the twilio client sends them (repeated keys allowed)."""

    def __init__(self, data: Mapping[str, Any] | None = None):
        self._data: dict[str, list[str]] = {}
        for key, value in (data or {}).items():
            values = value if isinstance(value, list | tuple) else [value]
            self._data[key] = [str(v) for v in values if v is not None]

    def one(self, name: str) -> str | None:
        values = self._data.get(name)
        return values[-1] if values else None

    def many(self, name: str) -> list[str]:
        return list(self._data.get(name, []))

    def __contains__(self, name: str) -> bool:
        return name in self._data

    def as_dict(self) -> dict[str, Any]:
        return {k: v[0] if len(v) == 1 else list(v) for k, v in self._data.items()}


def is_http_url(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def http_method(value: str | None, name: str) -> str:
    """GET or POST (POST when absent), else 20001 naming the parameter."""
    if value is None or value == "":
        return "POST"
    upper = value.upper()
    if upper not in ("GET", "POST"):
        raise TwilioApiError(errors.INVALID_PARAMETER, f"{name} must be GET or POST, got {value!r}")
    return upper


def int_param(form: Form, name: str, default: int, low: int, high: int, clamp: bool = False) -> int:
    """A whole-number parameter; out of range is 20001, or clamped where Twilio clamps."""
    raw = form.one(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TwilioApiError(
            errors.INVALID_PARAMETER, f"{name} must be a whole number, got {raw!r}"
        ) from None
    if clamp:
        return max(low, min(high, value))
    if not low <= value <= high:
        raise TwilioApiError(
            errors.INVALID_PARAMETER, f"{name} must be between {low} and {high}, got {value}"
        )
    return value


def bool_param(form: Form, name: str) -> bool:
    raw = form.one(name)
    if raw is None or raw == "":
        return False
    if raw.lower() not in ("true", "false"):
        raise TwilioApiError(errors.INVALID_PARAMETER, f"{name} must be true or false")
    return raw.lower() == "true"


def check_urls(form: Form, names: tuple[str, ...]) -> None:
    for name in names:
        value = form.one(name)
        if value and not is_http_url(value):
            raise TwilioApiError(errors.URL_INVALID, f"{name} is not a valid URL: {value}")


@dataclass(frozen=True)
class CreateParams:
    """A valid POST Calls.json request, in the simulator's terms."""

    to: str
    from_: str
    source: Source  # the Url (+ FallbackUrl) or the inline Twiml
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset()
    timeout: int = 60
    time_limit: int = 14400
    machine_detection: str | None = None  # as given: Enable | DetectMessageEnd
    machine_detection_timeout: int = 30
    async_amd: bool = False
    async_amd_callback: str | None = None
    async_amd_callback_method: str = "POST"
    send_digits: str | None = None
    record: bool = False
    recording_callback: str | None = None
    recording_callback_method: str = "POST"
    params: dict[str, Any] = field(default_factory=dict)  # the form as received, for the log


def parse_create(form: Form | Mapping[str, Any], limits: Limits) -> CreateParams:
    """Check a create request as Twilio does, in Twilio's order; raise TwilioApiError."""
    if not isinstance(form, Form):
        form = Form(form)
    to, from_ = (form.one("To") or "").strip(), (form.one("From") or "").strip()
    if not to:
        raise TwilioApiError(errors.TO_MISSING, "A 'To' phone number is required.")
    if not from_:
        raise TwilioApiError(errors.FROM_MISSING, "A 'From' phone number is required.")
    identity = endpoint_identity(to)
    if identity is None and not is_e164(to):
        raise TwilioApiError(
            errors.TO_INVALID, f"The 'To' number {to} is not a valid phone number."
        )
    if identity == "":
        raise TwilioApiError(errors.TO_INVALID, f"The 'To' endpoint {to} has no identity.")
    if identity is None:
        check_geo_permission(to, limits)
    if endpoint_identity(from_) is None and not is_e164(from_):
        raise TwilioApiError(
            errors.FROM_INVALID,
            f"The 'From' number {from_} is not a valid phone number, shortcode, "
            "or alphanumeric sender ID.",
        )
    url, twiml = form.one("Url"), form.one("Twiml")
    if not url and not twiml:
        raise TwilioApiError(errors.URL_INVALID, "A 'Url' or 'Twiml' parameter is required.")
    if url and twiml:
        raise TwilioApiError(
            errors.INVALID_PARAMETER, "Url and Twiml are mutually exclusive: give one."
        )
    check_urls(form, CREATE_URLS)
    events: set[str] = set()
    for raw in form.many("StatusCallbackEvent"):
        for event in raw.replace(",", " ").split():
            if event not in CALL_EVENTS:
                raise TwilioApiError(
                    errors.INVALID_PARAMETER,
                    f"StatusCallbackEvent {event!r} is not one of {', '.join(CALL_EVENTS)}",
                )
            events.add(event)
    amd = form.one("MachineDetection")
    if amd and amd.lower() not in ("enable", "detectmessageend"):
        raise TwilioApiError(
            errors.INVALID_PARAMETER,
            f"MachineDetection must be Enable or DetectMessageEnd, got {amd!r}",
        )
    timeout = int_param(form, "Timeout", 60, 1, 600, clamp=True)
    time_limit = int_param(form, "TimeLimit", 14400, 1, 86400)
    amd_timeout = int_param(form, "MachineDetectionTimeout", 30, 3, 59, clamp=True)
    async_amd = bool_param(form, "AsyncAmd")
    record = bool_param(form, "Record")
    send_digits = form.one("SendDigits") or None
    if send_digits is not None and not SEND_DIGITS_RE.match(send_digits):
        raise TwilioApiError(
            errors.INVALID_PARAMETER,
            f"SendDigits may hold only 0-9, #, * and w (a half-second pause), got {send_digits!r}",
        )
    caller_id = form.one("CallerId")
    if caller_id is not None and not 0 < len(caller_id) <= 255:
        raise TwilioApiError(errors.INVALID_PARAMETER, "CallerId must be 1-255 characters")
    source = Source(
        url=url or None,
        method=http_method(form.one("Method"), "Method"),
        twiml=twiml or None,
        fallback_url=form.one("FallbackUrl") or None,
        fallback_method=http_method(form.one("FallbackMethod"), "FallbackMethod"),
    )
    return CreateParams(
        to=to,
        from_=from_,
        source=source,
        status_callback=form.one("StatusCallback") or None,
        status_callback_method=http_method(
            form.one("StatusCallbackMethod"), "StatusCallbackMethod"
        ),
        status_callback_events=frozenset(events),
        timeout=timeout,
        time_limit=time_limit,
        machine_detection=amd or None,
        machine_detection_timeout=amd_timeout,
        async_amd=async_amd,
        async_amd_callback=form.one("AsyncAmdStatusCallback") or None,
        async_amd_callback_method=http_method(
            form.one("AsyncAmdStatusCallbackMethod"), "AsyncAmdStatusCallbackMethod"
        ),
        send_digits=send_digits,
        record=record,
        recording_callback=form.one("RecordingStatusCallback") or None,
        recording_callback_method=http_method(
            form.one("RecordingStatusCallbackMethod"), "RecordingStatusCallbackMethod"
        ),
        params=form.as_dict(),
    )


@dataclass(frozen=True)
class UpdateParams:
    """A valid POST Calls/{CA}.json request. None: the parameter was not given."""

    status: str | None = None  # canceled | completed
    source: Source | None = None  # new TwiML (Url or Twiml)
    status_callback: str | None = None
    status_callback_method: str | None = None
    time_limit: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


def parse_update(form: Form | Mapping[str, Any]) -> UpdateParams:
    """Check an update request; raise TwilioApiError. Nothing about the call is looked at."""
    if not isinstance(form, Form):
        form = Form(form)
    status = form.one("Status") or None
    url, twiml = form.one("Url"), form.one("Twiml")
    if status and status not in ("canceled", "completed"):
        raise TwilioApiError(
            errors.INVALID_PARAMETER, f"Status must be canceled or completed, got {status!r}"
        )
    check_urls(form, ("Url", "FallbackUrl", "StatusCallback"))
    method = http_method(form.one("Method"), "Method")
    fallback_method = http_method(form.one("FallbackMethod"), "FallbackMethod")
    status_method = (
        http_method(form.one("StatusCallbackMethod"), "StatusCallbackMethod")
        if "StatusCallbackMethod" in form
        else None
    )
    time_limit = int_param(form, "TimeLimit", 14400, 1, 86400) if "TimeLimit" in form else None
    source = None
    if url or twiml:
        source = Source(
            url=url or None,
            method=method,
            twiml=twiml or None,
            fallback_url=form.one("FallbackUrl") or None,
            fallback_method=fallback_method,
            kind="voice",
        )
    return UpdateParams(
        status=status,
        source=source,
        status_callback=form.one("StatusCallback") or None,
        status_callback_method=status_method,
        time_limit=time_limit,
        params=form.as_dict(),
    )
