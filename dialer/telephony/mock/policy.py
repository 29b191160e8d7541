"""The carrier account's rules and the test faults: limits, geo permissions, fault injection.

Plain data and plain functions (no threads, no HTTP), so each rule is tested on its own:

- `Limits`: what a Twilio account enforces before a call exists. Calls per second (CPS)
  for calls created through the REST API, either queued like Twilio does (the call stays
  `queued` and `queue_time` says for how long) or refused with 20429; concurrent REST
  requests (20429); active calls (20429); voice geo permissions (21215 on the REST API,
  13227 for a `<Dial><Number>`).
- `Faults`: what can go wrong on the way to the app, for tests: asynchronous callbacks
  dropped, delivered twice, overtaken by the next one, or delivered late; slow REST answers.
- `CallRateGate`: the CPS clock, in simulated seconds.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import phonenumbers

from dialer.telephony.mock import errors
from dialer.telephony.mock.errors import ScenarioError, TwilioApiError, check_object

CPS_MODES = ("queue", "reject")
STALL_MODES = ("lost_response", "lost_request")
MAX_STALL_SECONDS = 300.0
# Webhooks that Twilio sends on the side, without waiting for TwiML: the ones faults hit.
ASYNC_KINDS = ("status-callback", "amd-callback", "conference-callback", "recording-callback")
MAX_QUEUE_SECONDS = 24 * 3600  # Twilio refuses calls that would wait longer (22005)


def _check_fields(cls: type, data: Any, section: str, convert: dict[str, Any]) -> dict[str, Any]:
    """Validate a JSON object against a dataclass's fields; return converted values."""
    check_object(data, (f.name for f in fields(cls)), section, "setting")
    return {name: convert[name](value, f"{section}.{name}") for name, value in data.items()}


def _number(low: float, high: float | None = None, *, nullable: bool = False, whole=False):
    def convert(value: Any, where: str) -> Any:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{where} must be a number, got {value!r}")
        if whole and value != int(value):
            raise ScenarioError(f"{where} must be a whole number, got {value!r}")
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
            raise ScenarioError(f"{where} must be {bounds}, got {value!r}")
        return int(value) if whole else float(value)

    return convert


def _choice(options: tuple[str, ...]):
    def convert(value: Any, where: str) -> str:
        if value not in options:
            raise ScenarioError(f"{where} must be one of {', '.join(options)}, got {value!r}")
        return value

    return convert


def _countries(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f'{where} must be a list of ISO country codes like ["VN"], or null')
    codes = tuple(sorted({v.strip().upper() for v in value}))
    known = phonenumbers.SUPPORTED_REGIONS
    bad = [c for c in codes if c not in known]
    if bad:
        raise ScenarioError(f"{where}: unknown country code(s) {', '.join(bad)}")
    return codes


def _prefixes(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v.startswith("+") and v[1:].isdigit() for v in value
    ):
        raise ScenarioError(f'{where} must be a list of E.164 prefixes like ["+84190"]')
    return tuple(sorted(set(value)))


def _kinds(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(v in ASYNC_KINDS for v in value):
        raise ScenarioError(f"{where} must be a list drawn from {', '.join(ASYNC_KINDS)}")
    return tuple(sorted(set(value)))


LIMIT_RULES = {
    "cps": _number(0.001, nullable=True),
    "cps_mode": _choice(CPS_MODES),
    "max_queue_seconds": _number(0),
    "max_concurrent_requests": _number(1, nullable=True, whole=True),
    "max_active_calls": _number(1, nullable=True, whole=True),
    "allowed_countries": _countries,
    "blocked_prefixes": _prefixes,
}

FAULT_RULES = {
    "drop": _number(0, 1),
    "duplicate": _number(0, 1),
    "reorder": _number(0, 1),
    "delay": _number(0, 1),
    "delay_seconds": _number(0, 3600),
    "rest_delay_ms": _number(0, 60_000),
    "kinds": _kinds,
}


@dataclass(frozen=True)
class Limits:
    """The carrier account's limits. None means unlimited / every country allowed."""

    cps: float | None = None  # calls per second through the REST API (Twilio's default is 1)
    cps_mode: str = "queue"  # queue: like Twilio, the call waits; reject: 20429
    max_queue_seconds: float = MAX_QUEUE_SECONDS  # longer waits are refused (22005)
    max_concurrent_requests: int | None = None  # REST requests in flight at once
    max_active_calls: int | None = None  # calls not yet ended
    allowed_countries: tuple[str, ...] | None = None  # geo permissions, ISO 3166 codes
    blocked_prefixes: tuple[str, ...] = ()  # high-risk ranges, refused even in an allowed country

    @classmethod
    def from_dict(cls, data: Any, base: Limits | None = None) -> Limits:
        return replace(base or cls(), **_check_fields(cls, data, "limits", LIMIT_RULES))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("allowed_countries", "blocked_prefixes"):
            out[name] = None if out[name] is None else list(out[name])
        return out


@dataclass(frozen=True)
class Faults:
    """Injected delivery faults (probabilities 0..1), drawn per callback from the seed."""

    drop: float = 0.0  # the callback is never sent
    duplicate: float = 0.0  # sent twice, with the same I-Twilio-Idempotency-Token
    reorder: float = 0.0  # held back until the call's next callback has been sent
    delay: float = 0.0  # sent delay_seconds (simulated) late, outside the call's order
    delay_seconds: float = 5.0
    rest_delay_ms: float = 0.0  # every REST answer takes this much longer (real time)
    kinds: tuple[str, ...] = ASYNC_KINDS  # which webhooks the faults apply to

    @classmethod
    def from_dict(cls, data: Any, base: Faults | None = None) -> Faults:
        return replace(base or cls(), **_check_fields(cls, data, "faults", FAULT_RULES))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kinds"] = list(self.kinds)
        return out

    @property
    def active(self) -> bool:
        return any((self.drop, self.duplicate, self.reorder, self.delay))


@dataclass(frozen=True)
class FaultPlan:
    """What happens to one callback."""

    drop: bool = False
    duplicate: bool = False
    reorder: bool = False
    delay: float = 0.0

    @property
    def names(self) -> list[str]:
        flags = (("drop", self.drop), ("duplicate", self.duplicate), ("reorder", self.reorder))
        return [name for name, on in flags if on] + (["delay"] if self.delay else [])


NO_FAULT = FaultPlan()


def plan_fault(faults: Faults, kind: str, seed: int, key: str, sequence: int) -> FaultPlan:
    """Decide, repeatably for (seed, key, sequence), what goes wrong with one callback.

    A dropped callback has no other fault; the others can combine.
    """
    if kind not in faults.kinds or not faults.active:
        return NO_FAULT
    rng = random.Random(f"{seed}:fault:{key}:{sequence}")
    u_drop, u_dup, u_reorder, u_delay = (rng.random() for _ in range(4))
    if u_drop < faults.drop:
        return FaultPlan(drop=True)
    return FaultPlan(
        duplicate=u_dup < faults.duplicate,
        reorder=u_reorder < faults.reorder,
        delay=faults.delay_seconds if u_delay < faults.delay else 0.0,
    )


@dataclass(frozen=True)
class ScriptedCreate:
    """What a number override does to one POST Calls.json for that number."""

    error: int | None = None  # refuse it with this Twilio code (nothing is created)
    stall_seconds: float = 0.0  # real seconds the request or its answer is held
    stall_mode: str = "lost_response"  # lost_response: created, answer late; lost_request: 503

    def refusal(self, to: str) -> TwilioApiError:
        """The error answered for `error` (or 20503 for a lost request)."""
        code = errors.SERVICE_UNAVAILABLE if self.error is None else self.error
        status, message = errors.CREATE_ERRORS[code]
        return TwilioApiError(code, message.format(to=to), status)


def check_rest_failures(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Check the scripted REST failure keys of a number override; return their values.

    `create_error` (+ `create_error_count`), `create_stall_seconds` (+ `create_stall_mode`)
    and `fail_error_code`; the first two act on the REST request, so they exclude each other.
    """
    out: dict[str, Any] = {}
    error = data.get("create_error")
    if error is not None:
        if isinstance(error, bool) or error not in errors.CREATE_ERRORS:
            known = ", ".join(str(c) for c in sorted(errors.CREATE_ERRORS))
            raise ScenarioError(f"{where}: create_error must be one of {known}, got {error!r}")
        out["create_error"] = error
    count = data.get("create_error_count")
    if count is not None:
        out["create_error_count"] = _number(1, 10**6, whole=True)(
            count, f"{where}: create_error_count"
        )
        if error is None:
            raise ScenarioError(f"{where}: create_error_count needs a create_error")
    stall = data.get("create_stall_seconds")
    mode = data.get("create_stall_mode")
    if stall is not None:
        seconds = _number(0, MAX_STALL_SECONDS)(stall, f"{where}: create_stall_seconds")
        if seconds <= 0:
            raise ScenarioError(f"{where}: create_stall_seconds must be above 0, got {stall!r}")
        out["create_stall_seconds"] = seconds
        out["create_stall_mode"] = "lost_response"
    if mode is not None:
        if stall is None:
            raise ScenarioError(f"{where}: create_stall_mode needs create_stall_seconds")
        out["create_stall_mode"] = _choice(STALL_MODES)(mode, f"{where}: create_stall_mode")
    if error is not None and stall is not None:
        raise ScenarioError(
            f"{where}: give either create_error or create_stall_seconds, not both "
            "(a refused request is answered at once)"
        )
    code = data.get("fail_error_code")
    if code is not None:
        if isinstance(code, bool) or code not in errors.CALL_FAILURES:
            known = ", ".join(str(c) for c in sorted(errors.CALL_FAILURES))
            raise ScenarioError(f"{where}: fail_error_code must be one of {known}, got {code!r}")
        if data.get("answer") not in (None, "failed"):
            raise ScenarioError(
                f"{where}: fail_error_code makes the call fail; answer {data['answer']!r} "
                "contradicts it"
            )
        out["fail_error_code"] = code
    return out


def geo_permission_error(number: str, limits: Limits) -> str | None:
    """Why calling this E.164 number is not permitted, or None when it is."""
    if any(number.startswith(prefix) for prefix in limits.blocked_prefixes):
        return f"{number} is in a high-risk range this account may not call"
    if limits.allowed_countries is None:
        return None
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        region = None
    if region not in limits.allowed_countries:
        return f"calls to {region or 'this destination'} are not enabled"
    return None


def check_geo_permission(number: str, limits: Limits) -> None:
    """Raise Twilio's 21215 when the account's geo permissions refuse this number."""
    reason = geo_permission_error(number, limits)
    if reason is not None:
        raise TwilioApiError(
            errors.GEO_PERMISSION,
            f"Account not authorized to call {number}: {reason}. Perhaps you need to enable "
            "some international permissions: "
            "https://www.twilio.com/console/voice/calls/geo-permissions/low-risk",
        )


class CallRateGate:
    """Calls per second for REST-created calls, in simulated time (thread-safe).

    Queue mode spaces call starts 1/cps apart, as Twilio's call queue does, and returns
    how long the new call waits. Reject mode is a token bucket holding at most one
    second's worth of calls; an empty bucket refuses the call with 20429.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._tokens = 0.0
        self._refilled_at: float | None = None

    def admit(self, now: float, limits: Limits) -> float:
        """Seconds the new call waits in the queue (0 when it starts at once); may raise."""
        if limits.cps is None:
            return 0.0
        with self._lock:
            if limits.cps_mode == "reject":
                return self._take_token(now, limits.cps)
            slot = max(now, self._next_slot)
            wait = slot - now
            if wait > limits.max_queue_seconds:
                raise TwilioApiError(
                    errors.CALL_QUEUE_FULL,
                    f"Call queue full: calls already queued would take {wait:.0f} s to "
                    f"place at {limits.cps:g} calls per second",
                    429,
                )
            self._next_slot = slot + 1.0 / limits.cps
            return wait

    def _take_token(self, now: float, cps: float) -> float:
        capacity = max(1.0, cps)
        if self._refilled_at is None:
            self._tokens = capacity
        else:
            self._tokens = min(capacity, self._tokens + (now - self._refilled_at) * cps)
        self._refilled_at = now
        if self._tokens < 1.0:
            raise TwilioApiError(
                errors.TOO_MANY_REQUESTS,
                f"Too Many Requests: over {cps:g} calls per second for this account",
                429,
            )
        self._tokens -= 1.0
        return 0.0

    def queue_seconds(self, now: float) -> float:
        """How long a call created now would wait (queue mode)."""
        with self._lock:
            return max(0.0, self._next_slot - now)


class RequestGauge:
    """Counts REST requests in flight; refuses (20429) past the account's concurrency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.refused = 0

    def enter(self, limit: int | None) -> None:
        with self._lock:
            if limit is not None and self.in_flight >= limit:
                self.refused += 1
                raise TwilioApiError(
                    errors.TOO_MANY_REQUESTS,
                    f"Too Many Requests: more than {limit} concurrent requests",
                    429,
                )
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def to_dict(self) -> dict[str, int]:
        with self._lock:
            return {"in_flight": self.in_flight, "peak": self.peak, "refused": self.refused}
