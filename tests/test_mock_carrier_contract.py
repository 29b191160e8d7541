"""Contract: the mock carrier's JSON matches Twilio's OpenAPI description (api v2010).

Responses come from the real server over HTTP. The OpenAPI 3.0 schemas are converted to
JSON Schema (nullable -> "null" in the type, $refs inlined, x- keys dropped) and made
strict: every documented property must be present and no undocumented one may appear.
"""

from __future__ import annotations

import copy
import json
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from dialer.clock import Clock
from dialer.telephony.mock import MockCarrier, Population
from dialer.telephony.mock.policy import Limits
from dialer.telephony.mock.testing import WebhookRecorder

OAI_PATH = Path(__file__).resolve().parents[2] / "shared" / "twilio-oai" / "twilio_api_v2010.json"
# A well-formed SID ("AC" + 32 hex): dialer.config.MOCK_ACCOUNT_SID is two characters short
# of Twilio's pattern, which would fail the schema for reasons that are not the mock's.
ACCOUNT_SID = "AC" + "0" * 26 + "d1a1e5"
AUTH_TOKEN = "contract-test-token"
ACCOUNT = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
AUTH = (ACCOUNT_SID, AUTH_TOKEN)

# Twilio's error body (not part of the OpenAPI file).
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
        "status": {"type": "integer"},
    },
    "required": ["code", "message", "more_info", "status"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def oai() -> dict[str, Any]:
    if not OAI_PATH.exists():
        pytest.skip(f"Twilio OpenAPI description not found at {OAI_PATH} (shared/ not checked out)")
    return json.loads(OAI_PATH.read_text())


# Enum properties the schema does not mark nullable although Twilio's own examples in the
# same file return null for them (checked by test_null_exceptions_are_backed_by_examples).
NULL_IN_TWILIO_EXAMPLES = {"reason_conference_ended"}


def to_json_schema(node: Any, components: dict[str, Any], strict: bool = True) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: inline $refs, nullable, drop x- keys."""
    if isinstance(node, list):
        return [to_json_schema(item, components, strict) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        resolved = to_json_schema(copy.deepcopy(components[name]), components, strict)
        if node.get("nullable"):
            return {"anyOf": [resolved, {"type": "null"}]}
        return resolved
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in ("nullable", "description", "example", "examples"):
            continue
        if key == "properties":
            out[key] = {k: to_json_schema(v, components, strict) for k, v in value.items()}
            for name in NULL_IN_TWILIO_EXAMPLES & set(out[key]):
                out[key][name] = {"anyOf": [out[key][name], {"type": "null"}]}
        else:
            out[key] = to_json_schema(value, components, strict)
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    if strict and out.get("type") in ("object", ["object", "null"]) and "properties" in out:
        out["required"] = sorted(out["properties"])
        out["additionalProperties"] = False
    return out


FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time-rfc-2822", raises=(TypeError, ValueError))
def _rfc2822(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = parsedate_to_datetime(value)
    # Twilio sends UTC with a numeric zone: "Fri, 18 Oct 2019 17:00:00 +0000"
    return parsed.utcoffset() is not None and value.endswith("+0000")


@FORMATS.checks("uri", raises=ValueError)
def _relative_uri(value: object) -> bool:
    # Twilio's page URIs are relative to https://api.twilio.com
    return not isinstance(value, str) or value.startswith("/2010-04-01/")


def component(oai: dict[str, Any], name: str) -> dict[str, Any]:
    schemas = oai["components"]["schemas"]
    return to_json_schema(copy.deepcopy(schemas[name]), schemas)


def list_schema(oai: dict[str, Any], path: str) -> dict[str, Any]:
    operation = oai["paths"][path]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return to_json_schema(copy.deepcopy(schema), oai["components"]["schemas"])


def check(instance: Any, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(instance)


@pytest.fixture(scope="module")
def running():
    hooks = WebhookRecorder(AUTH_TOKEN)
    hooks.start()
    carrier = MockCarrier(
        ACCOUNT_SID, AUTH_TOKEN, Clock.started_now(200), population=Population(seed=11)
    )
    base = carrier.start_in_thread()
    yield base, carrier, hooks
    carrier.stop()
    hooks.stop()


def api(base: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, base + ACCOUNT + path, auth=AUTH, timeout=10, **kwargs)


def test_converter_handles_nullable_refs_and_x_keys(oai):
    schema = component(oai, "api.v2010.account.call")
    assert schema["properties"]["sid"]["type"] == ["string", "null"]
    assert "x-twilio" not in json.dumps(schema)
    assert "sid" in schema["required"] and schema["additionalProperties"] is False
    with pytest.raises(jsonschema.ValidationError):
        check({"sid": "CA1"}, schema)  # missing properties, bad pattern


def test_null_exceptions_are_backed_by_examples(oai):
    text = json.dumps(oai["paths"]["/2010-04-01/Accounts/{AccountSid}/Conferences.json"])
    for name in NULL_IN_TWILIO_EXAMPLES:
        assert f'"{name}": null' in text


def test_call_create_fetch_and_list_match_the_schema(oai, running):
    base, carrier, hooks = running
    call_schema = component(oai, "api.v2010.account.call")
    carrier.population.set_number("+84901234501", {"answer": "human", "ring_seconds": 2})
    created = api(
        base, "POST", "/Calls.json",
        data={"To": "+84901234501", "From": "+842873000000", "Url": hooks.url("/voice"),
              "MachineDetection": "Enable"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    check(created.json(), call_schema)
    assert created.json()["status"] == "queued"
    assert created.json()["direction"] == "outbound-api"
    sid = created.json()["sid"]
    assert carrier.wait_until_idle(10)

    fetched = api(base, "GET", f"/Calls/{sid}.json")
    assert fetched.status_code == 200
    body = fetched.json()
    check(body, call_schema)
    assert body["status"] == "completed" and body["answered_by"] == "human"
    assert body["duration"].isdigit() and body["price"].startswith("-")

    page = api(base, "GET", "/Calls.json", params={"PageSize": 1})
    assert page.status_code == 200
    check(page.json(), list_schema(oai, "/2010-04-01/Accounts/{AccountSid}/Calls.json"))


def test_conference_and_participants_match_the_schema(oai, running):
    base, carrier, _ = running
    room = "contract-room"
    agent = api(
        base, "POST", "/Calls.json",
        data={"To": "client:contract-agent", "From": "+842873000000",
              "Twiml": f"<Response><Dial><Conference>{room}</Conference></Dial></Response>"},
    )  # fmt: skip
    assert agent.status_code == 201
    deadline = time.monotonic() + 5
    conferences: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not conferences:
        listing = api(base, "GET", "/Conferences.json", params={"FriendlyName": room})
        conferences = listing.json()["conferences"]
        time.sleep(0.01)
    assert conferences, "the agent never joined its conference"
    check(listing.json(), list_schema(oai, "/2010-04-01/Accounts/{AccountSid}/Conferences.json"))
    sid = conferences[0]["sid"]
    conference = api(base, "GET", f"/Conferences/{sid}.json").json()
    check(conference, component(oai, "api.v2010.account.conference"))
    participants = api(base, "GET", f"/Conferences/{sid}/Participants.json")
    participants_path = (
        "/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/Participants.json"
    )
    check(participants.json(), list_schema(oai, participants_path))
    [participant] = participants.json()["participants"]
    one = api(base, "GET", f"/Conferences/{sid}/Participants/{participant['call_sid']}.json")
    check(one.json(), component(oai, "api.v2010.account.conference.participant"))

    ended = api(base, "POST", f"/Calls/{agent.json()['sid']}.json", data={"Status": "completed"})
    check(ended.json(), component(oai, "api.v2010.account.call"))
    assert carrier.wait_until_idle(10)
    done = api(base, "GET", f"/Conferences/{sid}.json").json()
    check(done, component(oai, "api.v2010.account.conference"))
    assert done["status"] == "completed"
    assert done["reason_conference_ended"] == "last-participant-left"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/Calls/CA00000000000000000000000000000000.json", {}, 404, 20404),
        ("POST", "/Calls.json", {"data": {"To": "12345", "From": "+842873000000",
                                          "Url": "http://127.0.0.1/x"}}, 400, 21211),
        ("GET", "/Nothing.json", {}, 404, 20404),
    ],
)  # fmt: skip
def test_errors_match_twilio_error_shape(running, method, path, kwargs, status, code):
    base, _, _ = running
    response = api(base, method, path, **kwargs)
    assert response.status_code == status
    check(response.json(), ERROR_SCHEMA)
    assert response.json()["code"] == code and response.json()["status"] == status


def test_auth_error_matches_twilio_error_shape(running):
    base, _, _ = running
    response = requests.get(base + ACCOUNT + "/Calls.json", auth=(ACCOUNT_SID, "x"), timeout=5)
    assert response.status_code == 401
    check(response.json(), ERROR_SCHEMA)
    assert response.json()["code"] == 20003


def test_limit_errors_and_queued_calls_match_the_contract(oai, running):
    base, carrier, _ = running
    call = {"From": "+842873000000", "Twiml": "<Response><Hangup/></Response>"}
    carrier.set_limits({"allowed_countries": ["VN"]})
    try:
        refused = api(base, "POST", "/Calls.json", data={**call, "To": "+14155550100"})
        assert refused.status_code == 400 and refused.json()["code"] == 21215
        check(refused.json(), ERROR_SCHEMA)
        carrier.set_limits({"cps": 0.01, "max_queue_seconds": 150})
        first = api(base, "POST", "/Calls.json", data={**call, "To": "+84901234001"})
        queued = api(base, "POST", "/Calls.json", data={**call, "To": "+84901234002"})
        assert first.status_code == queued.status_code == 201
        check(queued.json(), component(oai, "api.v2010.account.call"))
        assert queued.json()["status"] == "queued" and int(queued.json()["queue_time"]) > 90_000
        full = api(base, "POST", "/Calls.json", data={**call, "To": "+84901234003"})
        assert full.status_code == 429 and full.json()["code"] == 22005
        check(full.json(), ERROR_SCHEMA)
        # One call per 100 s: the second is refused however slowly this machine runs.
        carrier.set_limits({"cps": 0.01, "cps_mode": "reject"})
        allowed = api(base, "POST", "/Calls.json", data={**call, "To": "+84901234004"})
        assert allowed.status_code == 201
        busy = api(base, "POST", "/Calls.json", data={**call, "To": "+84901234005"})
        assert busy.status_code == 429 and busy.json()["code"] == 20429
        check(busy.json(), ERROR_SCHEMA)
        api(base, "POST", f"/Calls/{queued.json()['sid']}.json", data={"Status": "canceled"})
    finally:
        carrier.set_limits(Limits().to_dict())


def test_an_inbound_call_matches_the_schema(oai, running):
    base, carrier, hooks = running
    call_schema = component(oai, "api.v2010.account.call")
    hooks.on("/contract-incoming", "<Response><Say>Xin chào</Say></Response>")
    carrier.add_incoming_number("+842873005555", hooks.url("/contract-incoming"))
    sid = carrier.inbound_call("+84901234599", "+842873005555", talk_seconds=30)
    assert carrier.wait_until_idle(10)
    fetched = api(base, "GET", f"/Calls/{sid}.json")
    assert fetched.status_code == 200
    body = fetched.json()
    check(body, call_schema)
    assert body["direction"] == "inbound" and body["status"] == "completed"
    assert body["from"] == "+84901234599" and body["to"] == "+842873005555"
    listing = api(base, "GET", "/Calls.json", params={"To": "+842873005555"})
    check(listing.json(), list_schema(oai, "/2010-04-01/Accounts/{AccountSid}/Calls.json"))
    assert [c["sid"] for c in listing.json()["calls"]] == [sid]


@pytest.mark.parametrize("code", [20003, 20429, 20500, 21211, 21214, 21215, 21217, 13224])
def test_scripted_create_errors_match_twilio_error_shape(running, code):
    base, carrier, _ = running
    number = "+84901234577"
    carrier.population.set_number(number, {"create_error": code})
    try:
        response = api(
            base, "POST", "/Calls.json",
            data={"To": number, "From": "+842873000000", "Twiml": "<Response/>"},
        )  # fmt: skip
    finally:
        carrier.population.clear_number(number)
    check(response.json(), ERROR_SCHEMA)
    assert response.json()["code"] == code and response.json()["status"] == response.status_code
