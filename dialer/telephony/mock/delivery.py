"""Webhooks: Twilio's request signature, HTTP delivery with error codes, ordered async dispatch.

Signature (what Twilio documents and twilio.request_validator.RequestValidator checks):
take the full URL the request is sent to; for a POST append, for each parameter name in
sorted order, the name followed by its value (repeated names: each distinct value, sorted);
HMAC-SHA1 that string with the auth token; base64 the digest. GET requests carry the
parameters in the URL's query string, so only the URL is signed.

Delivery never raises: every attempt returns a DeliveryResult with the HTTP status, the
latency and, when the app failed, Twilio's error code (11200 HTTP retrieval failure for a
non-2xx answer, 11205 HTTP connection failure for a refused connection or a timeout).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlencode

import requests

from dialer.telephony.mock.errors import HTTP_CONNECTION_FAILURE, HTTP_RETRIEVAL_FAILURE

log = logging.getLogger(__name__)

Params = Mapping[str, str] | Iterable[tuple[str, str]]
USER_AGENT = "TwilioProxy/1.1"
MAX_BODY = 256 * 1024


def param_items(params: Params) -> list[tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for name, value in items:
        if isinstance(value, list | tuple):
            out.extend((name, str(v)) for v in value)
        elif value is not None:
            out.append((name, str(value)))
    return out


def signature_payload(url: str, params: Params | None) -> str:
    payload = url
    if params:
        grouped: dict[str, set[str]] = {}
        for name, value in param_items(params):
            grouped.setdefault(name, set()).add(value)
        for name in sorted(grouped):
            for value in sorted(grouped[name]):
                payload += name + value
    return payload


def compute_signature(auth_token: str, url: str, params: Params | None = None) -> str:
    """X-Twilio-Signature for a request to `url` with form parameters `params`."""
    digest = hmac.new(
        auth_token.encode("utf-8"), signature_payload(url, params).encode("utf-8"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def url_with_query(url: str, params: Params) -> str:
    query = urlencode(param_items(params))
    if not query:
        return url
    return url + ("&" if "?" in url else "?") + query


@dataclass
class DeliveryResult:
    url: str
    method: str
    status_code: int | None
    latency_ms: float
    error_code: int | None = None
    error: str | None = None
    body: str = ""
    content_type: str = ""

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def to_event(self) -> dict[str, object]:
        return {
            "url": self.url,
            "method": self.method,
            "status_code": self.status_code,
            "latency_ms": round(self.latency_ms, 1),
            "error_code": self.error_code,
            "error": self.error,
        }


class WebhookSender:
    """Signs and sends one webhook request; keeps a connection pool per thread."""

    def __init__(self, auth_token: str, timeout: float = 15.0, max_idle_sessions: int = 64):
        self.auth_token = auth_token
        self.timeout = timeout  # real seconds, like Twilio's 15 s limit
        # Call threads come and go, so connections are pooled here rather than per thread:
        # a session is taken for one request and given back (keep-alive to the app).
        self._idle: list[requests.Session] = []
        self._idle_lock = threading.Lock()
        self._max_idle = max_idle_sessions
        self._closed = False

    def _take(self) -> requests.Session:
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        session = requests.Session()
        session.trust_env = False  # never send local webhooks through a proxy
        return session

    def _give_back(self, session: requests.Session) -> None:
        with self._idle_lock:
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(session)
                return
        session.close()

    def send(
        self,
        url: str,
        params: Params,
        method: str = "POST",
        idempotency_token: str | None = None,
    ) -> DeliveryResult:
        method = (method or "POST").upper()
        if method not in ("GET", "POST"):
            method = "POST"
        items = param_items(params)
        if method == "GET":
            target, body = url_with_query(url, items), None
            signature = compute_signature(self.auth_token, target)
        else:
            target, body = url, items
            signature = compute_signature(self.auth_token, url, items)
        headers = {
            "X-Twilio-Signature": signature,
            "User-Agent": USER_AGENT,
            "I-Twilio-Idempotency-Token": idempotency_token or uuid.uuid4().hex,
            "Accept": "*/*",
        }
        started = time.monotonic()
        session = self._take()
        try:
            response = session.request(
                method,
                target,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=True,
            )
        except requests.Timeout as exc:
            session.close()
            return DeliveryResult(
                target, method, None, (time.monotonic() - started) * 1000,
                HTTP_CONNECTION_FAILURE, f"timeout: {exc.__class__.__name__}",
            )  # fmt: skip
        except requests.RequestException as exc:
            session.close()
            return DeliveryResult(
                target, method, None, (time.monotonic() - started) * 1000,
                HTTP_CONNECTION_FAILURE, f"connection failure: {exc.__class__.__name__}",
            )  # fmt: skip
        latency = (time.monotonic() - started) * 1000
        content = response.content[:MAX_BODY]
        self._give_back(session)
        # XML's default encoding is UTF-8; requests would assume ISO-8859-1 for text/*
        # without a charset, garbling Vietnamese <Say> text.
        charset = (
            response.encoding if "charset" in response.headers.get("Content-Type", "") else None
        )
        text = content.decode(charset or "utf-8", errors="replace")
        result = DeliveryResult(
            target,
            method,
            response.status_code,
            latency,
            body=text,
            content_type=response.headers.get("Content-Type", ""),
        )
        if not 200 <= response.status_code < 300:
            result.error_code = HTTP_RETRIEVAL_FAILURE
            result.error = f"HTTP {response.status_code}"
        return result

    def close(self) -> None:
        with self._idle_lock:
            self._closed = True
            sessions, self._idle = self._idle, []
        for session in sessions:
            session.close()


class Dispatcher:
    """Runs jobs on a thread pool; jobs submitted under the same key run in order.

    Status callbacks of one call (or of one conference) are delivered in the order they
    happened while different calls proceed in parallel and the call's own timeline never
    waits for the app. (Fault injection, such as out-of-order or duplicate delivery, would
    hook in here.)
    """

    def __init__(self, workers: int = 16, name: str = "webhook"):
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Callable[[], None]]] = {}
        self._closed = False
        self._idle = threading.Condition(self._lock)
        self._pending = 0

    def submit(self, key: str, job: Callable[[], None]) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._pending += 1
            queue = self._queues.get(key)
            if queue is not None:
                queue.append(job)
                return True
            self._queues[key] = deque([job])
        self._executor.submit(self._drain, key)
        return True

    def _drain(self, key: str) -> None:
        while True:
            with self._lock:
                queue = self._queues.get(key)
                if not queue or self._closed:
                    self._queues.pop(key, None)
                    self._pending -= len(queue or ())
                    self._idle.notify_all()
                    return
                job = queue.popleft()
            try:
                job()
            except Exception:  # a job must never kill the worker
                log.exception("webhook job failed")
            finally:
                with self._lock:
                    self._pending -= 1
                    self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted job has run (tests, orderly shutdown)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def shutdown(self, timeout: float = 2.0) -> None:
        """Drop queued jobs; wait up to timeout for the ones being delivered."""
        with self._lock:
            self._closed = True
            dropped = sum(len(q) for q in self._queues.values())
            self._queues.clear()
            self._pending = max(0, self._pending - dropped)
            self._idle.notify_all()
        self._executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        for thread in list(getattr(self._executor, "_threads", ())):
            thread.join(max(0.0, deadline - time.monotonic()))
