"""Twilio error codes the mock produces, and the JSON error body Twilio returns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# REST API errors
AUTHENTICATE = 20003
NOT_FOUND = 20404
METHOD_NOT_ALLOWED = 20004
INVALID_PARAMETER = 20001
TOO_MANY_REQUESTS = 20429
TO_MISSING = 21201
URL_INVALID = 21205
TO_INVALID = 21211
FROM_INVALID = 21212
FROM_MISSING = 21213
CALL_NOT_IN_PROGRESS = 21220
GEO_PERMISSION = 21215  # the account's voice geo permissions refuse the number
CALL_QUEUE_FULL = 22005  # over 24 hours of calls waiting for their CPS slot
INTERNAL_ERROR = 20500
SERVICE_UNAVAILABLE = 20503  # the request never reached Twilio's API (lost_request stalls)

# Webhook and TwiML errors (recorded in a call's event log, like Twilio's debugger)
HTTP_RETRIEVAL_FAILURE = 11200
HTTP_CONNECTION_FAILURE = 11205
DOCUMENT_PARSE_FAILURE = 12100
SCHEMA_VALIDATION = 12200
DIAL_INVALID_NUMBER = 13223
DIAL_NO_INTERNATIONAL = 13227  # <Dial><Number> refused by geo permissions

MESSAGES = {
    HTTP_RETRIEVAL_FAILURE: "HTTP retrieval failure",
    HTTP_CONNECTION_FAILURE: "HTTP connection failure",
    DOCUMENT_PARSE_FAILURE: "Document parse failure",
    SCHEMA_VALIDATION: "Schema validation warning",
    DIAL_INVALID_NUMBER: "Dial: Invalid phone number format",
    DIAL_NO_INTERNATIONAL: "Dial: No International Authorization",
}


# Errors a number override may script for POST Calls.json (`create_error`): HTTP status and
# message, as Twilio answers them. {to} is the called number.
CREATE_ERRORS: dict[int, tuple[int, str]] = {
    AUTHENTICATE: (401, "Authenticate"),
    TOO_MANY_REQUESTS: (429, "Too Many Requests"),
    INTERNAL_ERROR: (500, "Internal Server Error"),
    SERVICE_UNAVAILABLE: (503, "Service Unavailable"),
    TO_INVALID: (400, "The 'To' number {to} is not a valid phone number."),
    21214: (400, "'To' phone number cannot be reached"),
    GEO_PERMISSION: (
        400,
        "Account not authorized to call {to}. Perhaps you need to enable some international "
        "permissions: https://www.twilio.com/console/voice/calls/geo-permissions/low-risk",
    ),
    21216: (400, "Number is blocked: calls to {to} are blocked by Twilio"),
    21217: (400, "Phone number does not appear to be valid"),
    13224: (400, "Twilio does not support calling this number or the number is invalid"),
}

# Why a call accepted by the REST API fails at the carrier (`fail_error_code`): the message
# the final status callback carries as ErrorMessage, and the SIP response of the failure.
CALL_FAILURES: dict[int, tuple[str, int]] = {
    DIAL_INVALID_NUMBER: ("Dial: Invalid phone number format", 404),
    13224: ("Dial: Twilio does not support calling this number or the number is invalid", 404),
    13225: ("Dial: Forbidden phone number", 403),
    DIAL_NO_INTERNATIONAL: ("Dial: No International Authorization", 403),
    TO_INVALID: ("Invalid 'To' Phone Number", 404),
    21214: ("'To' phone number cannot be reached", 404),
    GEO_PERMISSION: ("Account not authorized to call this number (geo permissions)", 403),
    21217: ("Phone number does not appear to be valid", 404),
}


def more_info(code: int) -> str:
    return f"https://www.twilio.com/docs/errors/{code}"


class ScenarioError(ValueError):
    """A scenario file, a population parameter, an override, a limit or a fault is invalid."""


def check_object(data: Any, known: Iterable[str], where: str, what: str = "key") -> dict:
    """`data` if it is a JSON object holding only `known` keys; else a ScenarioError."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where} must be a JSON object")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ScenarioError(
            f"{where}: unknown {what}(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return data


class TwilioApiError(Exception):
    """An error answered to a REST request, in Twilio's shape."""

    def __init__(self, code: int, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": more_info(self.code),
            "status": self.status,
        }
