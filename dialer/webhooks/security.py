"""Twilio webhook signatures: every callback must carry a valid X-Twilio-Signature."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import abort, request
from twilio.request_validator import RequestValidator

from dialer.http import current_runtime

log = logging.getLogger(__name__)


def signed_url() -> str:
    """The URL the carrier called, as it saw it (our public URL, not the proxy's)."""
    base = current_runtime().settings.webhook_base
    query = request.query_string.decode()
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def twilio_signed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Reject (403) a callback whose signature does not match our auth token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings = current_runtime().settings
        validator = RequestValidator(settings.twilio_auth_token)
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(signed_url(), request.form, signature):
            log.warning("rejected unsigned or badly signed callback to %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapper
