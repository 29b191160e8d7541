"""The REST form of a call, checked without a server: callparams.parse_create / parse_update.

The same rules are exercised end to end through the official client in test_mock_carrier.py;
here each one is pinned on its own, with the code and the parameter the message names.
"""

from __future__ import annotations

import pytest

from dialer.telephony.mock.callparams import Form, parse_create, parse_update
from dialer.telephony.mock.errors import TwilioApiError
from dialer.telephony.mock.policy import Limits
from dialer.telephony.mock.twiml import SKIPPED_VERBS
from dialer.telephony.mock.twiml import VERBS as TWIML_VERBS
from dialer.telephony.mock.verbs import VERBS, gather, say

BASE = {"To": "+84901234567", "From": "+842873000000", "Url": "http://127.0.0.1/voice"}


def refused(form: dict, limits: Limits | None = None) -> TwilioApiError:
    with pytest.raises(TwilioApiError) as info:
        parse_create(form, limits or Limits())
    return info.value


def test_defaults_of_a_minimal_request():
    p = parse_create(BASE, Limits())
    assert (p.to, p.from_) == ("+84901234567", "+842873000000")
    assert p.source.url == "http://127.0.0.1/voice" and p.source.method == "POST"
    assert p.source.twiml is None and p.source.fallback_url is None
    assert (p.timeout, p.time_limit, p.machine_detection_timeout) == (60, 14400, 30)
    assert p.status_callback is None and p.status_callback_events == frozenset()
    assert p.machine_detection is None and not p.async_amd and not p.record
    assert p.params == BASE


def test_every_parameter_is_carried_over():
    form = {
        **BASE,
        "Method": "get",
        "FallbackUrl": "https://example.com/fallback",
        "FallbackMethod": "GET",
        "StatusCallback": "http://127.0.0.1/status",
        "StatusCallbackMethod": "GET",
        "StatusCallbackEvent": ["initiated ringing", "answered,completed"],
        "Timeout": "25",
        "TimeLimit": "600",
        "MachineDetection": "DetectMessageEnd",
        "MachineDetectionTimeout": "10",
        "AsyncAmd": "true",
        "AsyncAmdStatusCallback": "http://127.0.0.1/amd",
        "SendDigits": "ww1#",
        "Record": "true",
        "RecordingStatusCallback": "http://127.0.0.1/rec",
    }
    p = parse_create(form, Limits())
    assert p.source.method == "GET" and p.source.fallback_method == "GET"
    assert p.source.fallback_url == "https://example.com/fallback"
    assert p.status_callback_method == "GET"
    assert p.status_callback_events == {"initiated", "ringing", "answered", "completed"}
    assert (p.timeout, p.time_limit, p.machine_detection_timeout) == (25, 600, 10)
    assert p.machine_detection == "DetectMessageEnd" and p.async_amd
    assert p.async_amd_callback == "http://127.0.0.1/amd" and p.send_digits == "ww1#"
    assert p.record and p.recording_callback == "http://127.0.0.1/rec"


def test_inline_twiml_and_softphones():
    p = parse_create(
        {"To": "client:agent-1", "From": "+842873000000", "Twiml": "<Response/>"}, Limits()
    )
    assert p.source.twiml == "<Response/>" and p.source.url is None


def test_timeouts_are_clamped_like_twilio():
    p = parse_create({**BASE, "Timeout": "9000", "MachineDetectionTimeout": "1"}, Limits())
    assert p.timeout == 600 and p.machine_detection_timeout == 3


@pytest.mark.parametrize(
    ("change", "code", "named"),
    [
        ({"To": ""}, 21201, "To"),
        ({"From": ""}, 21213, "From"),
        ({"To": "0901234567"}, 21211, "0901234567"),
        ({"To": "client:"}, 21211, "identity"),
        ({"From": "Bank"}, 21212, "Bank"),
        ({"Url": ""}, 21205, "Url"),
        ({"Twiml": "<Response/>"}, 20001, "mutually exclusive"),
        ({"StatusCallback": "ftp://x/y"}, 21205, "StatusCallback"),
        ({"StatusCallbackEvent": "answered hungup"}, 20001, "hungup"),
        ({"MachineDetection": "yes"}, 20001, "MachineDetection"),
        ({"TimeLimit": "0"}, 20001, "TimeLimit"),
        ({"Timeout": "soon"}, 20001, "Timeout"),
        ({"AsyncAmd": "maybe"}, 20001, "AsyncAmd"),
        ({"SendDigits": "12a"}, 20001, "SendDigits"),
        ({"Method": "PUT"}, 20001, "Method"),
        ({"CallerId": "x" * 256}, 20001, "CallerId"),
    ],
)
def test_bad_values_are_refused_with_twilios_code(change, code, named):
    error = refused({**BASE, **change})
    assert error.code == code and error.status == 400
    assert named in error.message


def test_geo_permissions_apply_to_numbers_only():
    limits = Limits(allowed_countries=("VN",))
    assert refused({**BASE, "To": "+14155550100"}, limits).code == 21215
    assert parse_create({**BASE, "To": "sip:agent@example.com"}, limits).to.startswith("sip:")


def test_repeated_keys_take_the_last_value():
    form = Form(
        {"To": ["+84901234568", "+84901234567"], "From": "+842873000000", "Url": BASE["Url"]}
    )
    assert parse_create(form, Limits()).to == "+84901234567"


def test_update_parsing():
    p = parse_update({"Status": "completed", "TimeLimit": "30", "StatusCallbackMethod": "get"})
    assert (p.status, p.time_limit, p.status_callback_method, p.source) == (
        "completed", 30, "GET", None,
    )  # fmt: skip
    redirect = parse_update({"Url": "http://127.0.0.1/next", "Method": "GET"})
    assert redirect.source is not None and redirect.source.method == "GET"
    assert redirect.status is None and redirect.time_limit is None
    for bad, code in (({"Status": "paused"}, 20001), ({"Url": "nowhere"}, 21205)):
        with pytest.raises(TwilioApiError) as info:
            parse_update(bad)
        assert info.value.code == code


def test_the_verb_table_covers_every_simulated_verb():
    assert set(VERBS) == set(TWIML_VERBS)  # every verb twiml.py accepts has a handler
    assert not set(VERBS) & SKIPPED_VERBS
    assert VERBS["Say"] is VERBS["Play"] is VERBS["Pause"] is say
    assert VERBS["Gather"] is gather
