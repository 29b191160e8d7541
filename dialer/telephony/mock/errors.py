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
