"""Carrier errors with meaning, creates that time out, and recordings, end to end.

The whole stack (tests/stack_support.py): the web app, RQ, SQL and Redis, and the mock
carrier reached through the official twilio client. The mock is told per number how to fail
(`create_error`, `create_stall_seconds`, `fail_error_code`), and its own call log says how
many calls really reached the carrier. What a supervisor cares about is asserted: the phone
kept or set aside and why, no attempt for a call that never existed, the entry queued again
with its retry time, one call at the carrier, the campaign not paused by the carrier's
rate limit.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests

from dialer.clock import Clock
from dialer.redis import Keys
from dialer.telephony import cps
from dialer.telephony.carrier import CallRequest, TwilioCarrier
from tests.mock_support import wait_until
from tests.stack_support import free_port


class _SilentCarrier:
    """Accepts connections and never answers: a create sent there times out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)  # the kernel completes the handshake; nobody ever reads
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def silent_carrier() -> Iterator[_SilentCarrier]:
    server = _SilentCarrier()
    yield server
    server.close()


# ------------------------------------------------- units: the backoff, "never sent" --
def test_the_backoff_doubles_per_refusal_in_a_row_up_to_its_cap(redis_client):
    wall, fast = Clock(), Clock.started_now(50.0)
    waits = [cps.back_off(redis_client, wall) for _ in range(8)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert cps.BACKOFF_MAX_SECONDS - 1 < cps.backoff_left(redis_client, wall) <= 30.0
    # The key lasts the backoff's real time; a fast clock reads it back in simulated time.
    assert 30.0 * 50 - 60 < cps.backoff_left(redis_client, fast) <= 30.0 * 50

    cps.clear_backoff(redis_client)  # a call got through: the next refusal starts short
    assert cps.back_off(redis_client, fast) == cps.BACKOFF_FIRST_SECONDS
    # On the fast clock that is 20 real ms, read back as about one simulated second.
    assert 0 < redis_client.pttl(Keys.carrier_backoff()) <= 20
    assert 0 < cps.backoff_left(redis_client, fast) <= 1.0
    wait_until(lambda: cps.backoff_left(redis_client, fast) == 0, what="the short backoff")


def _request_error(url: str, timeout: float = 2.0) -> requests.RequestException:
    try:
        requests.post(url, data={"To": "+84901400099"}, timeout=timeout)
    except requests.RequestException as exc:
        return exc
    raise AssertionError(f"{url} answered")


def test_never_sent_is_only_a_connection_that_was_never_made(silent_carrier: _SilentCarrier):
    from urllib3.exceptions import MaxRetryError, NameResolutionError, ProtocolError

    from dialer.telephony.carrier import _never_sent

    refused = _request_error(f"http://127.0.0.1:{free_port()}/Calls.json")
    assert _never_sent(refused)
    # A name that does not resolve (urllib3's NameResolutionError, built here rather than
    # asked of the machine's resolver): no connection, so no call.
    dns = NameResolutionError("carrier.invalid", None, OSError(-2, "Name or service not known"))
    wrapped = requests.ConnectionError(MaxRetryError(None, "/Calls.json", dns))
    assert _never_sent(wrapped)
    assert _never_sent(_request_error("127.0.0.1:8901/Calls.json"))  # no scheme: not built
    # Sent, then silence, or the connection dropped after the request: maybe created.
    assert not _never_sent(_request_error(f"{silent_carrier.url}/Calls.json", timeout=0.2))
    dropped = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert not _never_sent(requests.ConnectionError(dropped))


def test_a_create_times_out_after_the_setting_and_says_the_call_may_exist(
    settings, silent_carrier: _SilentCarrier
):
    from dialer.telephony.carrier import CarrierError, CarrierTimeout

    request = CallRequest(to="+84901400098", from_="+842873000000", twiml="<Response/>")
    slow = settings.with_overrides(twilio_api_base=silent_carrier.url, carrier_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(CarrierTimeout, match="no answer to the create: ReadTimeout"):
        TwilioCarrier(slow).place_call(request)
    assert 0.3 <= time.monotonic() - started < 2.0

    nobody = settings.with_overrides(twilio_api_base=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CarrierError, match="carrier unreachable") as refused:
        TwilioCarrier(nobody).place_call(request)
    assert not isinstance(refused.value, CarrierTimeout)  # certainly not placed: no lookup


def test_a_hangup_the_carrier_cannot_take_is_a_carrier_error(settings):
    """An agent's logout hangs up their leg and logs a CarrierError; a network failure must
    be one too, not an error page."""
    from dialer.telephony.carrier import CarrierError

    nobody = settings.with_overrides(twilio_api_base=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CarrierError, match="carrier unreachable"):
        TwilioCarrier(nobody).hangup("CA" + "4" * 32)
