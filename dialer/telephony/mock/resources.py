"""JSON representations of Twilio resources, following Twilio's OpenAPI description.

Every property of the component schema is present (null when Twilio would send null);
dates are RFC 2822 strings in UTC ("Fri, 18 Oct 2019 17:00:00 +0000"), as Twilio sends.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import phonenumbers

from dialer.telephony.mock.state import Call, Conference, Participant

API_VERSION = "2010-04-01"
API_PREFIX = f"/{API_VERSION}/Accounts"


def rfc2822(ts: float | None) -> str | None:
    if ts is None:
        return None
    return format_datetime(datetime.fromtimestamp(ts, UTC))


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def formatted(endpoint: str) -> str:
    """North American numbers as (415) 867-5308, others in E.164, endpoints as given."""
    if not endpoint.startswith("+"):
        return endpoint
    try:
        number = phonenumbers.parse(endpoint, None)
    except phonenumbers.NumberParseException:
        return endpoint
    if number.country_code == 1:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return endpoint


def phone_number_sid(account_sid: str, number: str) -> str | None:
    if not number.startswith("+"):
        return None
    return "PN" + hashlib.md5(f"{account_sid}:{number}".encode()).hexdigest()


def call_uri(account_sid: str, sid: str) -> str:
    return f"{API_PREFIX}/{account_sid}/Calls/{sid}.json"


def call_resource(call: Call, price_per_minute: float = 0.014) -> dict[str, Any]:
    base = f"{API_PREFIX}/{call.account_sid}/Calls/{call.sid}"
    duration = call.duration
    price = call.price(price_per_minute)
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "parent_call_sid": call.parent_call_sid,
        "account_sid": call.account_sid,
        "to": call.to,
        "to_formatted": formatted(call.to),
        "from": call.from_,
        "from_formatted": formatted(call.from_),
        # The account's own number on the call: the caller ID, or the number called.
        "phone_number_sid": phone_number_sid(
            call.account_sid, call.to if call.direction == "inbound" else call.from_
        ),
        "status": call.status,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": None if duration is None else str(duration),
        "price": price,
        "price_unit": "USD",
        "direction": call.direction,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": str(round(call.queue_seconds * 1000)),
        "trunk_sid": None,
        "uri": f"{base}.json",
        "subresource_uris": {
            name: f"{base}/{path}.json"
            for name, path in (
                ("notifications", "Notifications"),
                ("recordings", "Recordings"),
                ("payments", "Payments"),
                ("events", "Events"),
                ("siprec", "Siprec"),
                ("streams", "Streams"),
                ("transcriptions", "Transcriptions"),
                ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
                ("user_defined_messages", "UserDefinedMessages"),
            )
        },
    }


def conference_resource(conference: Conference) -> dict[str, Any]:
    base = f"{API_PREFIX}/{conference.account_sid}/Conferences/{conference.sid}"
    return {
        "account_sid": conference.account_sid,
        "date_created": rfc2822(conference.created_at),
        "date_updated": rfc2822(conference.updated_at),
        "api_version": API_VERSION,
        "friendly_name": conference.friendly_name,
        "region": "us1",
        "sid": conference.sid,
        "status": conference.status,
        "uri": f"{base}.json",
        "subresource_uris": {
            "participants": f"{base}/Participants.json",
            "recordings": f"{base}/Recordings.json",
        },
        "reason_conference_ended": conference.reason_ended,
        "call_sid_ending_conference": conference.call_sid_ending,
    }


def participant_resource(participant: Participant) -> dict[str, Any]:
    conference = participant.conference
    call = participant.call
    return {
        "account_sid": conference.account_sid,
        "call_sid": call.sid,
        "label": None,
        "call_sid_to_coach": None,
        "coaching": False,
        "conference_sid": conference.sid,
        "date_created": rfc2822(participant.joined_at),
        "date_updated": rfc2822(participant.joined_at),
        "end_conference_on_exit": participant.end_conference_on_exit,
        "muted": participant.muted,
        "hold": False,
        "start_conference_on_enter": participant.start_conference_on_enter,
        "status": "connected" if participant.present else "complete",
        "queue_time": None,
        "uri": f"{API_PREFIX}/{conference.account_sid}/Conferences/{conference.sid}"
        f"/Participants/{call.sid}.json",
    }


def page_envelope(
    key: str,
    items: list[dict[str, Any]],
    *,
    path: str,
    filters: dict[str, str],
    page: int,
    page_size: int,
    next_token: str | None,
    previous_token: str | None,
) -> dict[str, Any]:
    """Twilio's list envelope; page URIs are relative to the API base, like Twilio's."""

    def uri(page_no: int, token: str | None = None) -> str:
        query = dict(filters)
        query["PageSize"] = str(page_size)
        query["Page"] = str(page_no)
        if token:
            query["PageToken"] = token
        return f"{path}?{urlencode(query)}"

    start = page * page_size
    return {
        key: items,
        "end": start + len(items) - 1 if items else 0,
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, next_token) if next_token else None,
        "previous_page_uri": uri(page - 1, previous_token) if page > 0 else None,
        "page": page,
        "page_size": page_size,
        "start": start,
        "uri": uri(page, None),
    }
