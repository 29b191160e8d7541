"""Who answers: the simulated callees, per-number overrides, softphone endpoints, scenarios.

Every call's behaviour is drawn up front, when the call is created, from
random.Random(f"{seed}:{number}:{n}") where n counts the calls made to that number. The
same seed and the same sequence of calls per number therefore give the same outcomes,
whatever the threads do. All draws are made whether or not an override applies, so an
override never shifts the draws of other calls.

Standard model (parameters in PopulationParams):
  human answers              human_rate (0.30), after lognormal(answer_delay_mean, _sd)
  of the rest: no answer     no_answer_share (0.50), rings until Timeout
               machine       machine_share (0.30), answers after the same delay as humans
               busy/failed   busy_failed_share (0.20), after ~busy_delay s; busy_share 0.75
  talk time (humans)         lognormal(talk_mean 180 s, coefficient of variation talk_cv 1)
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import phonenumbers

from dialer.telephony.mock.errors import CALL_FAILURES, ScenarioError, check_object
from dialer.telephony.mock.policy import Faults, Limits, ScriptedCreate, check_rest_failures

ANSWER_KINDS = ("human", "machine", "fax", "busy", "no-answer", "failed")
ANSWERED_BY_VALUES = (
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
)
E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
DIGITS_RE = re.compile(r"^[0-9*#w]*$")


@dataclass(frozen=True)
class PopulationParams:
    """Parameters of the callee model. Times are simulated seconds."""

    human_rate: float = 0.30
    no_answer_share: float = 0.50
    machine_share: float = 0.30
    busy_failed_share: float = 0.20
    busy_share: float = 0.75  # of busy-or-failed, the part that is busy
    fax_share: float = 0.0  # of machine answers, the part that is a fax
    answer_delay_mean: float = 15.0
    answer_delay_sd: float = 6.0
    busy_delay: float = 4.0  # seconds from dialing to busy / failed (+-1 s)
    talk_mean: float = 180.0
    talk_cv: float = 1.0
    machine_greeting_mean: float = 10.0  # voicemail greeting before the beep
    machine_talk_seconds: float = 120.0  # an answering machine hangs up after recording this long
    hold_patience: float = 60.0  # a callee alone in a conference or queue hangs up after this
    amd_error_rate: float = 0.0  # chance that AMD classifies a human as a machine or back
    digits: str = "1"  # what a human presses at a <Gather>
    key_delay: float = 1.5  # think time before pressing keys after the prompt
    record_seconds: float = 8.0  # how long a human speaks into a <Record>
    endpoint_answer_seconds: float = 1.0  # softphones auto-answer after this
    initiate_delay: float = 0.5  # queued -> initiated
    ring_delay: float = 1.0  # initiated -> ringing
    price_per_minute: float = 0.014  # USD, for the price field of completed calls

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "digits":
                if not isinstance(value, str) or not DIGITS_RE.match(value):
                    raise ScenarioError(
                        f"population.digits must be a string of 0-9, * and #, got {value!r}"
                    )
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioError(f"population.{f.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ScenarioError(f"population.{f.name} must be >= 0, got {value!r}")
        for name in (
            "human_rate",
            "no_answer_share",
            "machine_share",
            "busy_failed_share",
            "busy_share",
            "fax_share",
            "amd_error_rate",
        ):
            if getattr(self, name) > 1:
                raise ScenarioError(f"population.{name} must be between 0 and 1")
        total = self.no_answer_share + self.machine_share + self.busy_failed_share
        if abs(total - 1.0) > 1e-6:
            raise ScenarioError(
                "population.no_answer_share + machine_share + busy_failed_share must add up "
                f"to 1 (they split the calls no human answers), got {total:g}"
            )
        if self.answer_delay_mean <= 0 or self.talk_mean <= 0:
            raise ScenarioError("population.answer_delay_mean and talk_mean must be above 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: PopulationParams | None = None):
        check_object(data, (f.name for f in fields(cls)), "population", "parameter")
        params = replace(base or cls(), **data)
        params.validate()
        return params


@dataclass(frozen=True)
class NumberOverride:
    """A scripted callee for one number (applies to every call to it until cleared)."""

    answer: str | None = None  # human | machine | fax | busy | no-answer | failed
    ring_seconds: float | None = None  # answer delay, or delay before busy / failed
    talk_seconds: float | None = None
    digits: str | tuple[str, ...] | None = None  # one string for every Gather, or a list
    amd_result: str | None = None  # force the AnsweredBy value AMD reports
    hold_patience: float | None = None  # alone in a conference or queue (None: the model's)
    # Scripted REST failures (policy.check_rest_failures): the carrier refuses or loses
    # the create request, or fails the call after accepting it.
    create_error: int | None = None  # POST Calls.json answers this Twilio error code
    create_error_count: int | None = None  # ... for this many creates (None: every one)
    create_stall_seconds: float | None = None  # real seconds the request is held
    create_stall_mode: str | None = None  # lost_response | lost_request
    fail_error_code: int | None = None  # the call fails at the carrier with this code

    @classmethod
    def from_dict(cls, data: Any, where: str = "override") -> NumberOverride:
        check_object(data, (f.name for f in fields(cls)), where)
        answer = data.get("answer")
        if answer is not None and answer not in ANSWER_KINDS:
            raise ScenarioError(
                f"{where}: answer must be one of {', '.join(ANSWER_KINDS)}, got {answer!r}"
            )
        values: dict[str, Any] = {"answer": answer, **check_rest_failures(data, where)}
        for key in ("ring_seconds", "talk_seconds", "hold_patience"):
            value = data.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioError(f"{where}: {key} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0 or value > 86400:
                raise ScenarioError(f"{where}: {key} must be between 0 and 86400, got {value!r}")
            values[key] = float(value)
        digits = data.get("digits")
        if digits is not None:
            items = digits if isinstance(digits, list) else [digits]
            for item in items:
                if not isinstance(item, str) or not DIGITS_RE.match(item):
                    raise ScenarioError(
                        f"{where}: digits must be a string of 0-9, * and # "
                        f"(or a list of them), got {digits!r}"
                    )
            values["digits"] = tuple(digits) if isinstance(digits, list) else digits
        amd = data.get("amd_result")
        if amd is not None and amd not in ANSWERED_BY_VALUES:
            raise ScenarioError(
                f"{where}: amd_result must be one of {', '.join(ANSWERED_BY_VALUES)}, got {amd!r}"
            )
        values["amd_result"] = amd
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if isinstance(out.get("digits"), tuple):
            out["digits"] = list(out["digits"])
        return out


@dataclass(frozen=True)
class EndpointConfig:
    """A simulated softphone (client:<identity> or sip:<uri>)."""

    auto_answer: bool = True
    answer_seconds: float | None = None  # None: the population's endpoint_answer_seconds
    digits: str = ""

    @classmethod
    def from_dict(cls, data: Any, base: EndpointConfig | None = None, where: str = "endpoint"):
        check_object(data, (f.name for f in fields(cls)), where)
        if "auto_answer" in data and not isinstance(data["auto_answer"], bool):
            raise ScenarioError(f"{where}: auto_answer must be true or false")
        seconds = data.get("answer_seconds")
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 <= seconds <= 600
        ):
            raise ScenarioError(f"{where}: answer_seconds must be between 0 and 600")
        digits = data.get("digits")
        if digits is not None and (not isinstance(digits, str) or not DIGITS_RE.match(digits)):
            raise ScenarioError(f"{where}: digits must be a string of 0-9, * and #")
        return replace(base or cls(), **data)


@dataclass(frozen=True)
class CalleePlan:
    """What the far end of one call will do, drawn when the call is created."""

    kind: str  # human | machine | fax | busy | no-answer | failed | endpoint
    ring_seconds: float  # answer delay (answering kinds) or delay before busy / failed
    talk_seconds: float | None  # None: never hangs up by itself (softphones)
    digits: tuple[str, ...] | str
    source: str  # model | override | invalid-number | endpoint | request (inbound callers)
    n: int = 0  # this is the n-th call to (or, for a caller, from) the number (1-based)
    sip_code: int | None = None  # for busy / failed
    amd_delay: float = 2.5  # seconds AMD needs to classify the answer
    greeting_seconds: float = 10.0  # machines: greeting length before the beep
    machine_end: str = "machine_end_beep"  # how DetectMessageEnd ends for a machine
    amd_misclassified: bool = False
    amd_result: str | None = None  # forced AnsweredBy
    record_seconds: float = 0.0
    hold_patience: float | None = None  # None: the population's hold_patience
    error_code: int | None = None  # a scripted carrier failure (kind "failed")

    def answers(self) -> bool:
        return self.kind in ("human", "machine", "fax", "endpoint")

    def digits_for(self, gather_index: int) -> str:
        if isinstance(self.digits, str):
            return self.digits
        if gather_index < len(self.digits):
            return self.digits[gather_index]
        return ""

    def amd(self, mode: str, timeout: float) -> tuple[str, float]:
        """(AnsweredBy, seconds after answer) for MachineDetection=mode."""
        detect_message_end = mode.lower() == "detectmessageend"
        if self.amd_result:
            return self.amd_result, min(self.amd_delay, timeout)
        kind = self.kind
        if self.amd_misclassified and kind in ("human", "machine"):
            kind = "machine" if kind == "human" else "human"
        if kind in ("human", "endpoint"):
            result, seconds = "human", self.amd_delay
        elif kind == "fax":
            result, seconds = "fax", self.amd_delay
        elif not detect_message_end:
            result, seconds = "machine_start", self.amd_delay
        else:
            end = max(self.greeting_seconds, self.amd_delay) + 0.5
            if self.amd_delay <= timeout < end:
                return "machine_end_other", timeout
            result, seconds = self.machine_end, end
        if seconds > timeout:
            return "unknown", timeout
        return result, seconds

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(out["digits"], tuple):
            out["digits"] = list(out["digits"])
        return out


def lognormal(rng: random.Random, mean: float, sd: float) -> float:
    """A lognormal draw with the given mean and standard deviation (not of the log)."""
    if sd <= 0:
        return mean
    sigma2 = math.log(1 + (sd * sd) / (mean * mean))
    mu = math.log(mean) - sigma2 / 2
    return rng.lognormvariate(mu, math.sqrt(sigma2))


def is_e164(number: str) -> bool:
    return bool(E164_RE.match(number))


def is_valid_number(number: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def endpoint_identity(to: str) -> str | None:
    """'agent-1' for client:agent-1, 'agent@host' for sip:agent@host, None for numbers."""
    lowered = to.lower()
    if lowered.startswith("client:"):
        return to[len("client:") :]
    if lowered.startswith("sip:"):
        return to[len("sip:") :]
    return None


class Population:
    """The callee model plus per-number overrides and endpoint settings (thread-safe)."""

    def __init__(
        self,
        params: PopulationParams | None = None,
        seed: int = 1,
        numbers: dict[str, NumberOverride] | None = None,
        endpoints: dict[str, EndpointConfig] | None = None,
    ):
        self.params = params or PopulationParams()
        self.params.validate()
        self.seed = seed
        self._lock = threading.Lock()
        self._numbers: dict[str, NumberOverride] = dict(numbers or {})
        self._endpoints: dict[str, EndpointConfig] = dict(endpoints or {})
        self._counts: dict[str, int] = {}
        self._refused: dict[str, int] = {}  # creates refused by each number's create_error

    # -- scenario -----------------------------------------------------------------
    @classmethod
    def from_scenario(cls, scenario: dict[str, Any], seed: int | None = None) -> Population:
        data = validate_scenario(scenario)
        return cls(
            params=data["population"],
            seed=data["seed"] if seed is None else seed,
            numbers=data["numbers"],
            endpoints=data["endpoints"],
        )

    def load_scenario(self, scenario: dict[str, Any]) -> None:
        """Replace the model, seed, overrides and endpoints (counters restart)."""
        data = validate_scenario(scenario)
        with self._lock:
            self.params = data["population"]
            self.seed = data["seed"]
            self._numbers = dict(data["numbers"])
            self._endpoints = dict(data["endpoints"])
            self._counts.clear()
            self._refused.clear()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "population": asdict(self.params),
                "numbers": {k: v.to_dict() for k, v in self._numbers.items()},
                "endpoints": {k: asdict(v) for k, v in self._endpoints.items()},
            }

    # -- overrides ----------------------------------------------------------------
    def set_number(self, number: str, override: NumberOverride | dict[str, Any]) -> NumberOverride:
        if not is_e164(number):
            raise ScenarioError(f"{number!r} is not an E.164 number (like +84901234567)")
        if not isinstance(override, NumberOverride):
            override = NumberOverride.from_dict(override, where=number)
        with self._lock:
            self._numbers[number] = override
            self._refused.pop(number, None)  # a new script counts its refusals afresh
        return override

    def clear_number(self, number: str) -> bool:
        with self._lock:
            self._refused.pop(number, None)
            return self._numbers.pop(number, None) is not None

    def scripted_create(self, number: str) -> ScriptedCreate | None:
        """What the number's override does to this create request, if anything.

        A create_error refusal is counted here (not a call: no plan is drawn), until
        create_error_count refusals were made; after that creates succeed.
        """
        with self._lock:
            override = self._numbers.get(number)
            if override is None:
                return None
            if override.create_error is not None:
                refused = self._refused.get(number, 0)
                limit = override.create_error_count
                if limit is not None and refused >= limit:
                    return None
                self._refused[number] = refused + 1
                return ScriptedCreate(error=override.create_error)
            if override.create_stall_seconds:
                return ScriptedCreate(
                    stall_seconds=override.create_stall_seconds,
                    stall_mode=override.create_stall_mode or "lost_response",
                )
            return None

    def numbers(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: v.to_dict() for k, v in self._numbers.items()}

    def endpoint(self, identity: str) -> EndpointConfig:
        with self._lock:
            return self._endpoints.get(identity) or EndpointConfig()

    def configure_endpoint(self, identity: str, data: dict[str, Any]) -> EndpointConfig:
        with self._lock:
            config = EndpointConfig.from_dict(
                data, self._endpoints.get(identity), where=f"endpoint {identity}"
            )
            self._endpoints[identity] = config
        return config

    def clear_endpoint(self, identity: str) -> bool:
        with self._lock:
            return self._endpoints.pop(identity, None) is not None

    def endpoints(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: asdict(v) for k, v in self._endpoints.items()}

    # -- drawing ------------------------------------------------------------------
    def plan(self, to: str) -> CalleePlan:
        """Draw the behaviour of the next call to `to` (a number or an endpoint)."""
        identity = endpoint_identity(to)
        with self._lock:
            n = self._counts.get(to, 0) + 1
            self._counts[to] = n
            params, seed = self.params, self.seed
            override = self._numbers.get(to)
            endpoint = self._endpoints.get(identity) if identity is not None else None
        if identity is not None:
            config = endpoint or EndpointConfig()
            seconds = config.answer_seconds
            return CalleePlan(
                kind="endpoint",
                ring_seconds=params.endpoint_answer_seconds if seconds is None else seconds,
                talk_seconds=None,
                digits=config.digits,
                source="endpoint",
                n=n,
                amd_delay=2.0,
            )
        return draw_plan(params, seed, to, n, override)

    def caller_plan(
        self,
        number: str,
        *,
        digits: str | tuple[str, ...] | None = None,
        talk_seconds: float | None = None,
        hold_patience: float | None = None,
    ) -> CalleePlan:
        """Draw a person calling in from `number`: what the request says, else the number's
        override, else the model (inbound calls are counted apart from calls to it)."""
        key = f"from:{number}"
        with self._lock:
            n = self._counts.get(key, 0) + 1
            self._counts[key] = n
            params, seed = self.params, self.seed
            override = self._numbers.get(number)
        plan = draw_plan(params, seed, number, n, override, caller=True)
        given = {
            k: v
            for k, v in (
                ("digits", digits),
                ("talk_seconds", talk_seconds),
                ("hold_patience", hold_patience),
            )
            if v is not None
        }
        return replace(plan, **given, source="request") if given else plan


def draw_plan(
    params: PopulationParams,
    seed: int,
    number: str,
    n: int,
    override: NumberOverride | None,
    caller: bool = False,
) -> CalleePlan:
    """The behaviour of the n-th call to `number`, or with caller=True of the n-th call a
    person makes from `number` (inbound: always a human, whatever the answer model says)."""
    # Callers draw from their own stream, so inbound calls never shift outbound outcomes.
    rng = random.Random(f"{seed}:from:{number}:{n}" if caller else f"{seed}:{number}:{n}")
    # Fixed order of draws: never make a draw conditional.
    u_human = rng.random()
    u_rest = rng.random()
    u_busy = rng.random()
    u_fax = rng.random()
    answer_delay = lognormal(rng, params.answer_delay_mean, params.answer_delay_sd)
    busy_delay = params.busy_delay + rng.uniform(-1.0, 1.0)
    talk = lognormal(rng, params.talk_mean, params.talk_mean * params.talk_cv)
    amd_human = rng.uniform(2.0, 3.0)
    amd_machine = rng.uniform(3.0, 5.0)
    greeting = lognormal(rng, params.machine_greeting_mean, params.machine_greeting_mean * 0.3)
    u_end = rng.random()
    u_misclass = rng.random()
    record = params.record_seconds * rng.uniform(0.5, 1.5)

    if u_human < params.human_rate:
        kind = "human"
    elif u_rest < params.no_answer_share:
        kind = "no-answer"
    elif u_rest < params.no_answer_share + params.machine_share:
        kind = "fax" if u_fax < params.fax_share else "machine"
    else:
        kind = "busy" if u_busy < params.busy_share else "failed"
    source = "model"
    if not caller and not is_valid_number(number):
        kind, source = "failed", "invalid-number"
    digits: tuple[str, ...] | str = params.digits
    amd_result = None
    error_code = None
    if override is not None:
        source = "override"
        kind = override.answer or kind
        if override.digits is not None:
            digits = override.digits
        amd_result = override.amd_result
        if override.fail_error_code is not None and not caller:
            kind, error_code = "failed", override.fail_error_code
            busy_delay = 1.0  # the carrier refuses at once
    if caller:
        kind = "human"
    if kind in ("busy", "failed"):
        ring = busy_delay if source != "invalid-number" else 1.0
    else:
        ring = answer_delay
    if override is not None and override.ring_seconds is not None:
        ring = override.ring_seconds
    if kind == "human":
        talk_seconds: float | None = talk
    elif kind in ("machine", "fax"):
        talk_seconds = params.machine_talk_seconds
    else:
        talk_seconds = None
    if override is not None and override.talk_seconds is not None:
        talk_seconds = override.talk_seconds
    sip_code = {"busy": 486, "failed": 404 if source == "invalid-number" else 503}.get(kind)
    if error_code is not None:
        sip_code = CALL_FAILURES[error_code][1]
    machine_end = (
        "machine_end_beep"
        if u_end < 0.7
        else "machine_end_silence"
        if u_end < 0.9
        else "machine_end_other"
    )
    return CalleePlan(
        kind=kind,
        ring_seconds=round(ring, 3),
        talk_seconds=None if talk_seconds is None else round(talk_seconds, 3),
        digits=digits if kind == "human" else "",
        source=source,
        n=n,
        sip_code=sip_code,
        amd_delay=round(amd_human if kind == "human" else amd_machine, 3),
        greeting_seconds=round(greeting, 3),
        machine_end=machine_end,
        amd_misclassified=u_misclass < params.amd_error_rate,
        amd_result=amd_result,
        record_seconds=round(record, 3) if kind == "human" else 0.0,
        hold_patience=override.hold_patience if override is not None else None,
        error_code=error_code,
    )


SCENARIO_KEYS = {"seed", "population", "numbers", "endpoints", "limits", "faults", "description"}


def validate_scenario(scenario: Any) -> dict[str, Any]:
    """Check a scenario document; return {seed, population, numbers, endpoints, limits, faults}."""
    check_object(scenario, SCENARIO_KEYS, "scenario")
    seed = scenario.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError(f"seed must be a whole number, got {seed!r}")
    params = PopulationParams.from_dict(scenario.get("population") or {})
    numbers_raw = scenario.get("numbers") or {}
    if not isinstance(numbers_raw, dict):
        raise ScenarioError("numbers must be a JSON object keyed by E.164 number")
    numbers: dict[str, NumberOverride] = {}
    for number, data in numbers_raw.items():
        if not is_e164(number):
            raise ScenarioError(f"numbers: {number!r} is not an E.164 number (like +84901234567)")
        numbers[number] = NumberOverride.from_dict(data, where=f"numbers[{number}]")
    endpoints_raw = scenario.get("endpoints") or {}
    if not isinstance(endpoints_raw, dict):
        raise ScenarioError("endpoints must be a JSON object keyed by identity")
    endpoints = {
        identity: EndpointConfig.from_dict(data, where=f"endpoints[{identity}]")
        for identity, data in endpoints_raw.items()
    }
    return {
        "seed": seed,
        "population": params,
        "numbers": numbers,
        "endpoints": endpoints,
        "limits": Limits.from_dict(scenario.get("limits") or {}),
        "faults": Faults.from_dict(scenario.get("faults") or {}),
    }


def load_scenario_file(path: str | Path) -> dict[str, Any]:
    """Read and validate a scenario JSON file; errors name the file and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            f"scenario file {path} is not valid JSON: {exc.msg} (line {exc.lineno}, "
            f"column {exc.colno})"
        ) from None
    try:
        validate_scenario(data)
    except ScenarioError as exc:
        raise ScenarioError(f"scenario file {path}: {exc}") from None
    return data


__all__ = [
    "ANSWERED_BY_VALUES",
    "ANSWER_KINDS",
    "CalleePlan",
    "EndpointConfig",
    "NumberOverride",
    "Population",
    "PopulationParams",
    "ScenarioError",
    "draw_plan",
    "endpoint_identity",
    "is_e164",
    "is_valid_number",
    "load_scenario_file",
    "validate_scenario",
]
