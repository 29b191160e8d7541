"""A webhook receiver for tests and experiments: records every request the carrier sends,
checks its X-Twilio-Signature with the official RequestValidator, and answers the TwiML
you choose per path.

    with WebhookRecorder(auth_token) as hooks:
        hooks.on("/voice", "<Response><Say>Hi</Say></Response>")
        hooks.on("/gather", lambda req: "<Response><Hangup/></Response>")
        hooks.on("/broken", 500)
        ... place calls with Url=hooks.url("/voice"), StatusCallback=hooks.url("/status")
        hooks.wait_for(lambda rs: any(r.params.get("CallStatus") == "completed" for r in rs))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from dialer.telephony.mock.serving import ServerThread

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@dataclass
class Received:
    path: str
    method: str
    url: str
    params: dict[str, str]
    signature: str
    valid: bool
    headers: dict[str, str] = field(default_factory=dict)
    at: float = 0.0  # time.monotonic() when received

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)


def _label(r: Received) -> str:
    return r.params.get("CallStatus") or r.params.get("StatusCallbackEvent") or ""


Handler = str | int | tuple[int, str] | Response | Callable[["Received"], Any]


class WebhookRecorder:
    def __init__(self, auth_token: str, host: str = "127.0.0.1", threads: int = 16):
        self.validator = RequestValidator(auth_token)
        self.received: list[Received] = []
        self._routes: dict[str, Handler] = {}
        self._cond = threading.Condition()
        self._server = ServerThread(self._app(), host, 0, threads=threads, name="webhooks")
        self.base_url = ""

    def start(self) -> str:
        self.base_url = self._server.start()
        return self.base_url

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> WebhookRecorder:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return self.base_url + path

    def on(self, path: str, handler: Handler) -> None:
        """Answer requests to path with TwiML text, an HTTP status, (status, body), a Flask
        Response, or a callable taking the Received request and returning any of those."""
        self._routes[path] = handler

    def requests(self, path: str | None = None, **params: str) -> list[Received]:
        with self._cond:
            items = list(self.received)
        return [
            r
            for r in items
            if (path is None or r.path == path)
            and all(r.params.get(k) == v for k, v in params.items())
        ]

    def wait_for(
        self, predicate: Callable[[list[Received]], Any], timeout: float = 10.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate(list(self.received)):
                    return list(self.received)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"condition not met in {timeout}s; received {len(self.received)} requests: "
                        + ", ".join(f"{r.path}:{_label(r)}" for r in self.received[-20:])
                    )
                self._cond.wait(min(remaining, 0.2))

    def wait_for_request(self, path: str, timeout: float = 10.0, **params: str) -> Received:
        self.wait_for(lambda _: self.requests(path, **params), timeout)
        return self.requests(path, **params)[0]

    def _app(self) -> Flask:
        app = Flask("dialer.telephony.mock.testing")

        @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
        @app.route("/<path:path>", methods=["GET", "POST"])
        def receive(path: str):
            url = request.url
            params = request.form if request.method == "POST" else {}
            signature = request.headers.get("X-Twilio-Signature", "")
            valid = bool(signature) and self.validator.validate(url, params, signature)
            flat = {k: request.values.get(k, "") for k in request.values}
            item = Received(
                path="/" + path,
                method=request.method,
                url=url,
                params=flat,
                signature=signature,
                valid=valid,
                headers=dict(request.headers),
                at=time.monotonic(),
            )
            with self._cond:
                self.received.append(item)
                self._cond.notify_all()
            handler = self._routes.get(item.path, EMPTY_TWIML)
            if callable(handler) and not isinstance(handler, Response):  # Response is WSGI
                handler = handler(item)
            if isinstance(handler, Response):
                return handler
            if isinstance(handler, int):
                return Response(f"status {handler}", status=handler, mimetype="text/plain")
            if isinstance(handler, tuple):
                status, text = handler
                return Response(text, status=status, mimetype="text/xml")
            return Response(handler or EMPTY_TWIML, mimetype="text/xml")

        return app
