"""How the web app is served: waitress, threaded, configured for the desk's event streams.

Each server-sent event stream holds one of waitress's threads for as long as it is open,
so the server runs `threads` (the webhooks and the API) plus DIALER_EVENT_STREAMS more, and
the streams endpoint refuses (503) past that: a webhook always finds a free thread. Events
are small and must leave at once: waitress 3 sends every write of a running response as it
comes (its deprecated send_bytes setting, which older versions used to buffer with, is 1 by
default and left alone).
"""

from __future__ import annotations

from typing import Any

from dialer.config import Settings

CHANNEL_TIMEOUT = 120  # idle keep-alive connections are closed after this (real seconds)


def server_options(settings: Settings, threads: int = 16) -> dict[str, Any]:
    """waitress's options for the web app (also used by the tests' in-process server)."""
    return {
        "threads": threads + settings.event_streams,
        "channel_timeout": CHANNEL_TIMEOUT,
        "connection_limit": max(1000, 4 * (threads + settings.event_streams)),
        "ident": "dialer",
    }


def serve(
    app: Any, settings: Settings, *, host: str | None, port: int | None, threads: int = 16
) -> None:
    """Serve in the foreground (what `dialer web` does)."""
    from waitress import serve as waitress_serve

    waitress_serve(
        app,
        host=host or settings.web_host,
        port=port or settings.web_port,
        **server_options(settings, threads),
    )
