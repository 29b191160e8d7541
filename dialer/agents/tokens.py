"""Voice access tokens for the browser softphone (the Twilio Voice JavaScript SDK).

Signed with a Twilio API key and secret (TWILIO_API_KEY, TWILIO_API_SECRET), never the
account's auth token; the grant lets the agent's client identity receive calls (the
dialer calls it into their room) and, with TWILIO_TWIML_APP_SID, place calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from dialer.config import Settings

TOKEN_TTL_SECONDS = 3600  # an agent's shift is longer: the desk fetches a new one in time


class TokenUnavailable(RuntimeError):
    """Tokens cannot be issued; the message names the missing settings."""


@dataclass(frozen=True)
class VoiceToken:
    token: str
    identity: str
    ttl: int


def client_identity(endpoint: str) -> str | None:
    """The browser softphone's identity of a client:<identity> endpoint (else None)."""
    return endpoint[len("client:") :] if endpoint.startswith("client:") else None


def voice_token(settings: Settings, endpoint: str) -> VoiceToken:
    """A signed Voice access token for the agent's browser softphone."""
    missing = [
        name
        for name, value in (
            ("TWILIO_API_KEY", settings.twilio_api_key),
            ("TWILIO_API_SECRET", settings.twilio_api_secret),
        )
        if not value
    ]
    if missing:
        raise TokenUnavailable(
            f"softphone tokens need {' and '.join(missing)} (a Twilio API key and its secret)"
        )
    identity = client_identity(endpoint)
    if identity is None:
        raise TokenUnavailable(
            f"the agent's endpoint is {endpoint.split(':', 1)[0]}, not a browser softphone "
            "(client:<identity>); a SIP phone or a phone number needs no token"
        )
    token = AccessToken(
        settings.twilio_account_sid,
        settings.twilio_api_key,
        settings.twilio_api_secret,
        identity=identity,
        ttl=TOKEN_TTL_SECONDS,
    )
    token.add_grant(
        VoiceGrant(incoming_allow=True, outgoing_application_sid=settings.twilio_twiml_app_sid)
    )
    jwt = token.to_jwt()
    return VoiceToken(jwt if isinstance(jwt, str) else jwt.decode(), identity, TOKEN_TTL_SECONDS)
