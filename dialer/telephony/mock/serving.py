"""Run a WSGI app with waitress in a background thread, and stop it cleanly.

Used by the mock carrier (`MockCarrier.start_in_thread`) and by the webhook recorder in
`testing.py`. Binding to port 0 picks a free port; `base_url` tells you which.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from waitress import wasyncore
from waitress.server import create_server

log = logging.getLogger(__name__)


class ServerThread:
    """A waitress server on its own thread: start() returns the base URL, stop() joins it."""

    def __init__(
        self,
        app,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 16,
        name: str = "wsgi",
        **options,
    ):
        self.app = app
        self.host = host
        self.port = port
        self.threads = threads
        self.name = name
        self.options = options  # waitress settings that win over the ones below
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._server.effective_port}"

    def start(self) -> str:
        if self._server is not None:
            return self.base_url
        options = {
            "threads": self.threads,
            # Clients (the dialer, test receivers) keep connections alive; don't let
            # idle ones pile up.
            "channel_timeout": 30,
            "connection_limit": 1000,
            "ident": "mock-carrier",
            "clear_untrusted_proxy_headers": True,
            **self.options,
        }
        self._server = create_server(self.app, host=self.host, port=self.port, **options)
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-server", daemon=True)
        self._thread.start()
        return self.base_url

    def _run(self) -> None:
        server = self._server
        try:
            server.run()
        except Exception:  # pragma: no cover - the loop only ends by close
            log.exception("%s server loop failed", self.name)

    def serve_forever(self) -> None:
        """Run in the calling thread until stop() is called from elsewhere (or Ctrl-C)."""
        if self._server is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = None

        def close_everything() -> None:
            # Runs inside the asyncore loop thread: closing every channel empties the map,
            # which ends the loop.
            wasyncore.close_all(server._map)

        with contextlib.suppress(OSError):  # the trigger is already closed
            server.trigger.pull_trigger(close_everything)
        if thread is not None:
            thread.join(timeout)
        server.task_dispatcher.shutdown(timeout=timeout)
        if thread is not None and thread.is_alive():  # pragma: no cover
            log.warning("%s server thread did not stop within %ss", self.name, timeout)
