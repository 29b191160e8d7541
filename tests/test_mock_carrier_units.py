"""The mock carrier's pure parts: signatures, TwiML checking, the callee model, scenarios."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from dialer.telephony.mock.delivery import Dispatcher, compute_signature, url_with_query
from dialer.telephony.mock.errors import TwilioApiError
from dialer.telephony.mock.policy import (
    NO_FAULT,
    CallRateGate,
    Faults,
    Limits,
    geo_permission_error,
    plan_fault,
)
from dialer.telephony.mock.population import (
    NumberOverride,
    Population,
    PopulationParams,
    ScenarioError,
    draw_plan,
    load_scenario_file,
    validate_scenario,
)
from dialer.telephony.mock.twiml import TwimlError, parse, speaking_seconds

TOKEN = "12345"


# ---------------------------------------------------------------- signatures --
def test_signature_matches_the_official_sdk_test_vector():
    # The vector pinned by Twilio's own SDK tests (Twilio.Tests.Security.RequestValidatorTest).
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    assert compute_signature(TOKEN, url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert RequestValidator(TOKEN).validate(url, params, compute_signature(TOKEN, url, params))


names = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=12)
values = st.text(max_size=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(names, values, max_size=8), st.text(max_size=10))
def test_signature_agrees_with_the_official_validator(params, path):
    url = "http://127.0.0.1:8900/twilio/" + "".join(c for c in path if c.isalnum())
    signature = compute_signature(TOKEN, url, params)
    assert RequestValidator(TOKEN).validate(url, params, signature)
    assert not RequestValidator(TOKEN + "x").validate(url, params, signature)


def test_repeated_keys_sign_like_the_validator_expects():
    from werkzeug.datastructures import MultiDict

    items = [("StatusCallbackEvent", "ringing"), ("StatusCallbackEvent", "answered"), ("A", "1")]
    url = "http://example.com/hook"
    signature = compute_signature(TOKEN, url, items)
    assert RequestValidator(TOKEN).validate(url, MultiDict(items), signature)


def test_get_requests_sign_the_url_with_its_query():
    url = url_with_query("http://example.com/voice?x=1", {"CallSid": "CA1", "To": "+84901"})
    assert url == "http://example.com/voice?x=1&CallSid=CA1&To=%2B84901"
    assert RequestValidator(TOKEN).validate(url, {}, compute_signature(TOKEN, url))


# --------------------------------------------------------------------- TwiML --
def test_parse_verbs_and_nouns():
    verbs = parse(
        '<?xml version="1.0"?><Response><Say loop="2">Xin chào quý khách</Say>'
        '<Gather numDigits="1" action="/g"><Play>http://x/a.mp3</Play></Gather>'
        '<Dial timeout="20"><Conference endConferenceOnExit="true">agent-1</Conference></Dial>'
        "<Dial>+84901234567</Dial><Dial><Client><Identity>agent-2</Identity></Client></Dial>"
        "</Response>"
    )
    assert [v.name for v in verbs] == ["Say", "Gather", "Dial", "Dial", "Dial"]
    assert speaking_seconds(verbs[0]) == 2 * max(1.0, 4 / 2.5)
    assert verbs[2].children[0].bool_attr("endConferenceOnExit", False) is True
    assert verbs[4].children[0].text == "agent-2"


@pytest.mark.parametrize(
    ("document", "code", "message"),
    [
        ("", 12100, "empty"),
        ("<Response><Say>x</Response>", 12100, "XML"),
        ("Hello", 12100, "XML"),
        ("<Reply><Say>x</Say></Reply>", 12200, "root element"),
        ("<Response><Dance/></Response>", 12200, "<Dance> is not a valid TwiML verb"),
        ("<Response><say>x</say></Response>", 12200, "<say>"),
        ('<Response><Pause length="long"/></Response>', 12200, "whole number"),
        ("<Response><Gather><Dial>+1</Dial></Gather></Response>", 12200, "not allowed inside"),
        ("<Response><Redirect/></Response>", 12200, "needs a URL"),
        ("<Response><Dial><Conference/></Dial></Response>", 12200, "needs a value"),
        ('<!DOCTYPE r [<!ENTITY a "b">]><Response/>', 12100, "entities"),
    ],
)
def test_bad_documents(document, code, message):
    with pytest.raises(TwimlError) as info:
        parse(document)
    assert info.value.code == code and message in info.value.message


def test_skipped_verbs_are_accepted():
    verbs = parse("<Response><Start><Stream url='wss://x'/></Start><Hangup/></Response>")
    assert [v.name for v in verbs] == ["Start", "Hangup"]


# ---------------------------------------------------------------- population --
def test_standard_model_mix_and_distributions():
    params = PopulationParams()
    plans = [draw_plan(params, 1, f"+849{n:08d}", 1, None) for n in range(20000)]
    kinds = Counter(p.kind for p in plans)
    share = {k: v / len(plans) for k, v in kinds.items()}
    assert share["human"] == pytest.approx(0.30, abs=0.015)
    assert share["no-answer"] == pytest.approx(0.70 * 0.50, abs=0.015)
    assert share["machine"] == pytest.approx(0.70 * 0.30, abs=0.015)
    assert share["busy"] == pytest.approx(0.70 * 0.20 * 0.75, abs=0.01)
    assert share["failed"] == pytest.approx(0.70 * 0.20 * 0.25, abs=0.01)
    delays = [p.ring_seconds for p in plans if p.kind == "human"]
    assert statistics.mean(delays) == pytest.approx(15, rel=0.05)
    assert statistics.stdev(delays) == pytest.approx(6, rel=0.1)
    talks = [p.talk_seconds for p in plans if p.kind == "human"]
    assert statistics.mean(talks) == pytest.approx(180, rel=0.1)
    assert statistics.stdev(talks) / statistics.mean(talks) == pytest.approx(1.0, rel=0.2)
    assert all(p.digits == "1" for p in plans if p.kind == "human")


def test_plans_are_deterministic_per_seed_number_and_attempt():
    a, b = Population(seed=9), Population(seed=9)
    numbers = [f"+8490{n:07d}" for n in range(1000000, 1000050)]
    first = [a.plan(n) for n in numbers] + [a.plan(numbers[0])]
    # b sees the same calls in another order: per-number counts decide, not global order
    second_order = [b.plan(n) for n in reversed(numbers)]
    second = [*reversed(second_order), b.plan(numbers[0])]
    assert first == second
    assert first[0] != first[-1] or first[0].n != first[-1].n  # the 2nd call is drawn anew
    assert first[-1].n == 2
    assert [Population(seed=10).plan(n) for n in numbers] != first[:-1]


def test_callers_are_people_drawn_apart_from_calls_to_their_number():
    a, b = Population(seed=4), Population(seed=4)
    number = "+84901234567"
    outbound = [a.plan(number) for _ in range(3)]
    b.caller_plan(number)  # an inbound call from the number in between
    assert [b.plan(number) for _ in range(3)] == outbound
    callers = [Population(seed=4).caller_plan(f"+8490{n:07d}") for n in range(1000000, 1000200)]
    assert {p.kind for p in callers} == {"human"} and all(p.talk_seconds for p in callers)
    assert Population(seed=4).caller_plan("+84281234567").kind == "human"  # no such number
    given = b.caller_plan(number, digits=("1", "2"), talk_seconds=5, hold_patience=9)
    assert (given.digits, given.talk_seconds, given.hold_patience, given.source) == (
        ("1", "2"), 5, 9, "request",
    )  # fmt: skip


def test_overrides_win_and_do_not_shift_other_draws():
    params = PopulationParams()
    plain = draw_plan(params, 3, "+84901234567", 1, None)
    forced = draw_plan(
        params, 3, "+84901234567", 1, NumberOverride(answer="busy", ring_seconds=2.0)
    )
    assert forced.kind == "busy" and forced.ring_seconds == 2.0 and forced.source == "override"
    assert forced.greeting_seconds == plain.greeting_seconds
    invalid = draw_plan(params, 3, "+84281234567", 1, None)
    assert invalid.kind == "failed" and invalid.sip_code == 404
    rescued = draw_plan(params, 3, "+84281234567", 1, NumberOverride(answer="human"))
    assert rescued.kind == "human"


def test_amd_outcomes():
    params = PopulationParams()
    human = draw_plan(params, 1, "+84901234567", 1, NumberOverride(answer="human"))
    machine = draw_plan(params, 1, "+84901234567", 1, NumberOverride(answer="machine"))
    assert human.amd("Enable", 30)[0] == "human" and 2 <= human.amd("Enable", 30)[1] <= 3
    assert machine.amd("Enable", 30)[0] == "machine_start"
    result, seconds = machine.amd("DetectMessageEnd", 59)
    assert result.startswith("machine_end_") and seconds >= machine.greeting_seconds
    assert machine.amd("DetectMessageEnd", 3) == ("unknown", 3)
    fax = draw_plan(params, 1, "+84901234567", 1, NumberOverride(answer="fax"))
    assert fax.amd("Enable", 30)[0] == "fax"
    forced = draw_plan(params, 1, "+84901234567", 1, NumberOverride(amd_result="machine_start"))
    assert forced.amd("Enable", 30)[0] == "machine_start"


def test_endpoint_plans_never_hang_up():
    population = Population()
    population.configure_endpoint("agent-1", {"answer_seconds": 0.5})
    plan = population.plan("client:agent-1")
    assert plan.kind == "endpoint" and plan.talk_seconds is None and plan.ring_seconds == 0.5
    assert population.plan("sip:agent@pbx.local").ring_seconds == 1.0


# ----------------------------------------------------------------- scenarios --
def test_scenario_validation_messages():
    ok = validate_scenario(
        {
            "seed": 7,
            "population": {"human_rate": 0.5, "talk_mean": 120},
            "numbers": {"+84901234567": {"answer": "machine"}},
            "endpoints": {"agent-1": {"auto_answer": False}},
        }
    )
    assert ok["seed"] == 7 and ok["population"].human_rate == 0.5
    cases = [
        ([], "must be a JSON object"),
        ({"people": {}}, "scenario: unknown key(s) people"),
        ({"seed": "7"}, "seed must be a whole number"),
        ({"population": {"humans": 1}}, "population: unknown parameter(s) humans"),
        ({"population": {"human_rate": -0.1}}, "human_rate must be >= 0"),
        ({"population": {"machine_share": 0.5}}, "must add up to 1"),
        ({"population": {"digits": "x"}}, "population.digits"),
        ({"numbers": {"0901234567": {}}}, "is not an E.164 number"),
        ({"numbers": {"+84901234567": {"answer": "yes"}}}, "numbers[+84901234567]: answer"),
        ({"endpoints": {"a": {"answer_seconds": 601}}}, "answer_seconds must be between"),
    ]
    for scenario, message in cases:
        with pytest.raises(ScenarioError) as info:
            validate_scenario(scenario)
        assert message in str(info.value), (scenario, str(info.value))


def test_scenario_file_errors_name_the_file(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"seed": 1,,}')
    with pytest.raises(ScenarioError, match=r"broken.json is not valid JSON: .*line 1"):
        load_scenario_file(broken)
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario_file(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"population": {"busy_share": 3}}))
    with pytest.raises(ScenarioError, match=r"wrong.json: population.busy_share must be between"):
        load_scenario_file(wrong)


def test_load_scenario_at_runtime_resets_counts():
    population = Population(seed=1)
    population.plan("+84901234567")
    population.load_scenario({"seed": 2, "numbers": {"+84901234567": {"answer": "busy"}}})
    plan = population.plan("+84901234567")
    assert plan.n == 1 and plan.kind == "busy" and population.seed == 2


# ---------------------------------------------------------------- dispatcher --
def test_dispatcher_keeps_per_key_order_and_runs_keys_in_parallel():
    dispatcher = Dispatcher(workers=4)
    seen: dict[str, list[int]] = {"a": [], "b": []}
    lock = threading.Lock()

    def job(key: str, n: int):
        def run():
            time.sleep(0.001 * (n % 3))
            with lock:
                seen[key].append(n)

        return run

    for n in range(30):
        dispatcher.submit("a", job("a", n))
        dispatcher.submit("b", job("b", n))
    assert dispatcher.wait_idle(5)
    assert seen == {"a": list(range(30)), "b": list(range(30))}
    dispatcher.shutdown()
    assert dispatcher.submit("a", job("a", 99)) is False


# ------------------------------------------------------------------ policy --
def test_limits_and_faults_validate_and_merge():
    limits = Limits.from_dict({"cps": 1, "allowed_countries": ["vn", "VN", "la"]})
    assert limits.allowed_countries == ("LA", "VN") and limits.cps == 1.0
    merged = Limits.from_dict({"cps_mode": "reject"}, limits)
    assert merged.cps == 1.0 and merged.cps_mode == "reject"
    assert Limits.from_dict(merged.to_dict()) == merged
    for bad, message in (
        ({"cps": 0}, "limits.cps must be"),
        ({"cps": True}, "limits.cps must be a number"),
        ({"allowed_countries": "VN"}, "list of ISO country codes"),
        ({"max_active_calls": 0}, "limits.max_active_calls"),
        ("cps=1", "limits must be a JSON object"),
    ):
        with pytest.raises(ScenarioError, match=message):
            Limits.from_dict(bad)
    assert Faults.from_dict({"kinds": ["status-callback"]}).kinds == ("status-callback",)
    with pytest.raises(ScenarioError, match=r"faults\.delay"):
        Faults.from_dict({"delay": -0.1})


def test_fault_plans_are_repeatable_and_follow_the_rates():
    faults = Faults(drop=0.1, duplicate=0.2, reorder=0.3, delay=0.4, delay_seconds=9)
    plans = [plan_fault(faults, "status-callback", 7, f"+849012{n:05d}:1", s)
             for n in range(2000) for s in range(4)]  # fmt: skip
    again = [plan_fault(faults, "status-callback", 7, f"+849012{n:05d}:1", s)
             for n in range(2000) for s in range(4)]  # fmt: skip
    assert plans == again
    share = {name: sum(name in p.names for p in plans) / len(plans)
             for name in ("drop", "duplicate", "reorder", "delay")}  # fmt: skip
    assert abs(share["drop"] - 0.1) < 0.02
    kept = 0.9  # a dropped callback has no other fault
    for name, rate in (("duplicate", 0.2), ("reorder", 0.3), ("delay", 0.4)):
        assert abs(share[name] - rate * kept) < 0.03, (name, share)
    assert all(p.delay in (0, 9) for p in plans)
    assert plan_fault(faults, "voice", 7, "x", 0) == NO_FAULT  # not an asynchronous callback
    assert plan_fault(Faults(), "status-callback", 7, "x", 0) == NO_FAULT


def test_call_rate_gate_queues_or_refuses():
    gate, queue = CallRateGate(), Limits(cps=2)
    assert [gate.admit(100.0, queue) for _ in range(4)] == [0.0, 0.5, 1.0, 1.5]
    assert gate.admit(110.0, queue) == 0.0  # the queue drained meanwhile
    short, short_queue = CallRateGate(), Limits(cps=1, max_queue_seconds=1.5)
    assert [short.admit(0.0, short_queue) for _ in range(2)] == [0.0, 1.0]
    with pytest.raises(TwilioApiError) as full:
        short.admit(0.0, short_queue)  # would wait 2 s
    assert full.value.code == 22005 and short.queue_seconds(0.0) == 2.0
    reject, rules = CallRateGate(), Limits(cps=2, cps_mode="reject")
    assert reject.admit(0.0, rules) == reject.admit(0.0, rules) == 0.0  # a second's burst
    with pytest.raises(TwilioApiError) as over:
        reject.admit(0.1, rules)
    assert over.value.code == 20429 and over.value.status == 429
    assert reject.admit(0.6, rules) == 0.0  # half a second later one token is back
    assert CallRateGate().admit(0.0, Limits()) == 0.0  # no CPS configured


def test_geo_permissions():
    vn_only = Limits(allowed_countries=("VN",), blocked_prefixes=("+84190",))
    assert geo_permission_error("+84901234567", vn_only) is None
    assert "US" in geo_permission_error("+14155550100", vn_only)
    assert "high-risk" in geo_permission_error("+841901234567", vn_only)
    assert geo_permission_error("+14155550100", Limits()) is None


def test_stats_percentiles_are_nearest_rank():
    from dialer.telephony.mock.witness import _spread

    assert _spread([]) == {"p50_ms": None, "p99_ms": None, "max_ms": None}
    assert _spread([7.0]) == {"p50_ms": 7.0, "p99_ms": 7.0, "max_ms": 7.0}
    values = [float(v) for v in range(100, 0, -1)]
    assert _spread(values) == {"p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0}
    assert _spread([1.0, 2.0, 1000.0])["p50_ms"] == 2.0
