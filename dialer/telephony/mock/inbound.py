"""Inbound calls: a borrower calls one of the bank's numbers.

On Twilio a number (an IncomingPhoneNumber) has a Voice URL; a call to it arrives
`ringing`, Twilio requests that URL with the call's parameters (CallStatus=ringing,
Direction=inbound) and runs the TwiML it gets, with the same interpreter as outbound calls.
The call is answered by its first verb, unless that verb is <Reject> (then it ends busy or
no-answer, never answered). A number's status callback gets the final status only.

`IncomingNumbers` is the registry (`/_mock/incoming-numbers`); `InboundRequest` is a checked
`/_mock/inbound` body; `start_inbound` creates the call and starts its thread.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import phonenumbers

from dialer.privacy import mask_phone
from dialer.telephony.mock import errors
from dialer.telephony.mock.callparams import is_http_url
from dialer.telephony.mock.errors import ScenarioError, TwilioApiError, check_object
from dialer.telephony.mock.population import DIGITS_RE, is_e164
from dialer.telephony.mock.state import Call, Source, new_sid
from dialer.telephony.mock.verbs import run_twiml

if TYPE_CHECKING:
    from dialer.telephony.mock.simulator import Simulator

log = logging.getLogger("dialer.mock")


class UnknownNumber(ScenarioError):
    """The inbound call's `to` is not one of the registered numbers (the control API's 404)."""


def _url(value: Any, where: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not is_http_url(value):
        raise ScenarioError(f"{where} must be an http(s) URL, got {value!r}")
    return value


def _method(value: Any, where: str) -> str:
    if value is None:
        return "POST"
    if not isinstance(value, str) or value.upper() not in ("GET", "POST"):
        raise ScenarioError(f"{where} must be GET or POST, got {value!r}")
    return value.upper()


def _seconds(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or not 0 <= value <= 86400:
        raise ScenarioError(f"{where} must be between 0 and 86400, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class IncomingNumber:
    """One of "our" numbers and where its calls' TwiML comes from."""

    voice_url: str
    voice_method: str = "POST"
    voice_fallback_url: str | None = None
    voice_fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"

    @classmethod
    def from_dict(cls, data: Any, where: str) -> IncomingNumber:
        check_object(data, (f.name for f in fields(cls)), where)
        return cls(
            voice_url=_url(data.get("voice_url"), f"{where}: voice_url", required=True) or "",
            voice_method=_method(data.get("voice_method"), f"{where}: voice_method"),
            voice_fallback_url=_url(data.get("voice_fallback_url"), f"{where}: voice_fallback_url"),
            voice_fallback_method=_method(
                data.get("voice_fallback_method"), f"{where}: voice_fallback_method"
            ),
            status_callback=_url(data.get("status_callback"), f"{where}: status_callback"),
            status_callback_method=_method(
                data.get("status_callback_method"), f"{where}: status_callback_method"
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class IncomingNumbers:
    """The account's numbers that take calls, keyed by E.164 (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers: dict[str, IncomingNumber] = {}

    def register(self, number: str, data: IncomingNumber | dict[str, Any]) -> IncomingNumber:
        if not is_e164(number):
            raise ScenarioError(f"{number!r} is not an E.164 number (like +842873000000)")
        if not isinstance(data, IncomingNumber):
            data = IncomingNumber.from_dict(data, f"incoming number {number}")
        with self._lock:
            self._numbers[number] = data
        return data

    def get(self, number: str) -> IncomingNumber | None:
        with self._lock:
            return self._numbers.get(number)

    def remove(self, number: str) -> bool:
        with self._lock:
            return self._numbers.pop(number, None) is not None

    def to_dict(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: v.to_dict() for k, v in self._numbers.items()}


@dataclass(frozen=True)
class InboundRequest:
    """A checked `/_mock/inbound` body: who calls which number, and how the caller behaves."""

    from_: str
    to: str
    digits: str | tuple[str, ...] | None = None  # one string per <Gather>, or one for all
    talk_seconds: float | None = None  # stays this long once answered, and once bridged
    hangup_after_seconds: float | None = None  # hangs up this long after calling, whatever
    hold_patience: float | None = None  # alone in a conference or queue

    KEYS = ("from", "to", "digits", "talk_seconds", "hangup_after_seconds", "hold_patience")

    @classmethod
    def from_dict(cls, data: Any) -> InboundRequest:
        check_object(data, cls.KEYS, "inbound call")
        numbers = {}
        for key in ("from", "to"):
            value = data.get(key)
            if not isinstance(value, str) or not is_e164(value):
                raise ScenarioError(
                    f"inbound call: {key} must be an E.164 number (like +84901234567), "
                    f"got {value!r}"
                )
            numbers[key] = value
        digits = data.get("digits")
        if digits is not None:
            items = digits if isinstance(digits, list) else [digits]
            if not all(isinstance(d, str) and DIGITS_RE.match(d) for d in items):
                raise ScenarioError(
                    "inbound call: digits must be a list with one string of 0-9, * and # "
                    f"per <Gather> (or one string for all), got {digits!r}"
                )
            digits = tuple(digits) if isinstance(digits, list) else digits
        return cls(
            from_=numbers["from"],
            to=numbers["to"],
            digits=digits,
            talk_seconds=_seconds(data.get("talk_seconds"), "inbound call: talk_seconds"),
            hangup_after_seconds=_seconds(
                data.get("hangup_after_seconds"), "inbound call: hangup_after_seconds"
            ),
            hold_patience=_seconds(data.get("hold_patience"), "inbound call: hold_patience"),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {"from": self.from_, "to": self.to}
        for key in self.KEYS[2:]:
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


def _country(number: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


def inbound_params(call: Call) -> dict[str, str]:
    """What Twilio adds to every request about an incoming call: the numbers' countries."""
    caller, called = _country(call.from_), _country(call.to)
    return {
        "FromCountry": caller,
        "CallerCountry": caller,
        "ToCountry": called,
        "CalledCountry": called,
    }


def start_inbound(sim: Simulator, request: InboundRequest) -> Call:
    """Create the incoming call (status ringing) and start its thread."""
    number = sim.incoming.get(request.to)
    if number is None:
        raise UnknownNumber(
            f"{request.to} is not one of this account's numbers: register it first with "
            f"POST /_mock/incoming-numbers/{request.to}"
        )
    with sim.lock:
        if sim.stopping:
            raise TwilioApiError(errors.SERVICE_UNAVAILABLE, "The mock carrier is stopping.", 503)
    plan = sim.population.caller_plan(
        request.from_,
        digits=request.digits,
        talk_seconds=request.talk_seconds,
        hold_patience=request.hold_patience,
    )
    now = sim.now()
    call = Call(
        sim.lock,
        sid=new_sid("CA"),
        account_sid=sim.account_sid,
        to=request.to,
        from_=request.from_,
        direction="inbound",
        now=now,
        plan=plan,
        params=request.to_dict(),
    )
    # An incoming call exists when it reaches Twilio, already ringing the number.
    call.status = call.progress = "ringing"
    call.start_time = now
    call.source = Source(
        url=number.voice_url,
        method=number.voice_method,
        fallback_url=number.voice_fallback_url,
        fallback_method=number.voice_fallback_method,
    )
    call.status_callback = number.status_callback
    call.status_callback_method = number.status_callback_method
    if request.hangup_after_seconds is not None:
        call.give_up_at = now + request.hangup_after_seconds
    sim.register_and_start(call, lambda c: sim.run_thread(c, lambda: _run_inbound(sim, c)))
    log.info("inbound call %s from %s", call.sid, mask_phone(call.from_))
    return call


def _run_inbound(sim: Simulator, call: Call) -> None:
    """The call's thread: fetch the number's Voice URL while ringing, run what it says."""
    with sim.lock:
        sim.event(call, "status", status="ringing")
        source = call.source
    run_twiml(sim, call, source)  # verbs.execute answers it at its first verb
