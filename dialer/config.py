"""One Settings object, read from the environment, with the embedded defaults.

Nothing else in the code reads os.environ for configuration: pass a Settings around
(or call get_settings()) so tests can build their own.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from limits import parse

# A syntactically valid account SID/token pair used only with the local mock carrier.
MOCK_ACCOUNT_SID = "AC" + "0" * 26 + "d1a1e5"  # AC + 32 hex digits, like a real SID
MOCK_AUTH_TOKEN = "mock-carrier-auth-token"


class ConfigError(ValueError):
    """A setting is missing or malformed."""


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _int(env: dict[str, str], name: str, default: int) -> int:
    value = _float(env, name, default)
    if value != int(value):
        raise ConfigError(f"{name} must be a whole number, got {env.get(name)!r}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    redis_url: str | None  # None: the embedded Redis server under home/redis
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_api_base: str | None  # the mock carrier's URL; None: api.twilio.com
    public_url: str  # where the carrier reaches our webhooks
    web_host: str = "127.0.0.1"
    web_port: int = 8900
    timezone: str = "Asia/Ho_Chi_Minh"
    default_region: str = "VN"
    caller_id: str = "+842873000000"
    # Simulated-time speed shared by every process of a demo (1.0 = real time).
    speed: float = 1.0
    # Real unix time and simulated unix time that coincide; None: the clock is the wall clock.
    clock_real_origin: float | None = None
    clock_sim_origin: float | None = None
    # How long (simulated seconds) an answered call waits for a free agent before abandoning.
    agent_claim_timeout: float = 1.0
    ring_timeout: int = 25  # seconds a call rings before no-answer; rules require >= 15
    # Calls per second the carrier account allows (Twilio's default is 1), for all workers.
    cps: float = 1.0
    # Calls an agentless (IVR) campaign may have in flight at once.
    ivr_lines: int = 20
    # Minutes after recording an action code during which its agent may correct it.
    correction_minutes: int = 30
    # The shared API token (DIALER_API_TOKEN): an all-reaching API client for the demo and
    # development; the bank's systems get their own (`dialer tokens create`).
    api_token: str | None = None
    secret_key: str | None = None
    # A signed-in session ends after this many minutes without a request.
    session_idle_minutes: int = 30
    # Failed sign-ins allowed per user name and per address (Flask-Limiter's notation).
    login_limit_user: str = "5 per 15 minutes"
    login_limit_address: str = "30 per 15 minutes"
    rq_queue: str = "dialer"
    # Team-lead alerts (fraud suspected) are POSTed here as JSON; None: console only.
    alert_webhook_url: str | None = None
    # Minutes after a same-agent callback falls due during which only its agent takes it.
    callback_owner_minutes: int = 15
    # Promises to pay: kept when the payments reach this share of the promised amount by
    # the promise date plus the grace days; evaluated daily at this local time (HH:MM).
    promise_kept_share: float = 1.0
    promise_grace_days: int = 2
    promise_evaluate_at: str = "06:00"
    # Who is calling, said in the abandon and voicemail messages when the campaign names
    # no company or callback number of its own (DIALER_CALLBACK_NUMBER, else the caller ID).
    company_name: str = "Ngân hàng"
    callback_number: str | None = None
    # Real seconds a calls.create may take before we stop waiting and look the call up.
    carrier_timeout: float = 10.0
    # Twilio API key and secret (and the TwiML app for outgoing calls from the browser):
    # what a Voice access token for the browser softphone is signed with.
    twilio_api_key: str | None = None
    twilio_api_secret: str | None = None
    twilio_twiml_app_sid: str | None = None
    # Wrap-up time of an inbound call (a campaign's calls use the campaign's own limit).
    inbound_wrap_up_seconds: int = 120
    # Minutes after now (inside the calling window) of the callback an IVR caller gets
    # when they asked for an agent and none was free.
    ivr_callback_minutes: int = 30
    # Server-sent event streams (agent desks, supervisor consoles) one web process serves
    # at once; each holds a server thread, so `dialer web` runs this many threads more.
    event_streams: int = 64
    # Real seconds between keepalive comments on a quiet event stream (proxies close idle
    # connections; a closed desk is noticed at the next write).
    event_keepalive_seconds: float = 15.0

    @property
    def abandon_callback_number(self) -> str:
        return self.callback_number or self.caller_id

    @property
    def webhook_base(self) -> str:
        return self.public_url.rstrip("/")

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)

    def resolved_secret_key(self) -> str:
        """What signs the session cookies: DIALER_SECRET_KEY, else one generated once and
        kept under home (every process of one home agrees on it)."""
        if self.secret_key:
            return self.secret_key
        path = self.home / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        # O_EXCL: two processes starting together must agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build Settings from an environment mapping (os.environ by default)."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("DIALER_HOME") or "./var").expanduser().resolve()
    database_url = env.get("DATABASE_URL") or f"sqlite:///{home / 'dialer.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    web_port = _int(env, "DIALER_WEB_PORT", 8900)
    web_host = env.get("DIALER_WEB_HOST") or "127.0.0.1"
    speed = _float(env, "DIALER_SPEED", 1.0)
    if speed <= 0:
        raise ConfigError("DIALER_SPEED must be above 0")
    cps = _float(env, "DIALER_CPS", 1.0)
    if cps <= 0:
        raise ConfigError("DIALER_CPS must be above 0")
    real_origin = env.get("DIALER_CLOCK_REAL_ORIGIN")
    sim_origin = env.get("DIALER_CLOCK_SIM_ORIGIN")
    return Settings(
        home=home,
        database_url=database_url,
        redis_url=env.get("REDIS_URL") or None,
        twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or MOCK_ACCOUNT_SID,
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or MOCK_AUTH_TOKEN,
        twilio_api_base=(env.get("TWILIO_API_BASE") or None),
        public_url=env.get("DIALER_PUBLIC_URL") or f"http://{web_host}:{web_port}",
        web_host=web_host,
        web_port=web_port,
        timezone=env.get("DIALER_TIMEZONE") or "Asia/Ho_Chi_Minh",
        default_region=(env.get("DIALER_DEFAULT_REGION") or "VN").upper(),
        caller_id=env.get("DIALER_CALLER_ID") or "+842873000000",
        speed=speed,
        clock_real_origin=float(real_origin) if real_origin else None,
        clock_sim_origin=float(sim_origin) if sim_origin else None,
        agent_claim_timeout=_float(env, "DIALER_AGENT_CLAIM_TIMEOUT", 1.0),
        ring_timeout=_int(env, "DIALER_RING_TIMEOUT", 25),
        cps=cps,
        ivr_lines=_int(env, "DIALER_IVR_LINES", 20),
        correction_minutes=_int(env, "DIALER_CORRECTION_MINUTES", 30),
        api_token=env.get("DIALER_API_TOKEN") or None,
        secret_key=env.get("DIALER_SECRET_KEY") or None,
        session_idle_minutes=_whole_at_least(env, "DIALER_SESSION_IDLE_MINUTES", 30, 1),
        login_limit_user=_limit(env, "DIALER_LOGIN_LIMIT_USER", "5 per 15 minutes"),
        login_limit_address=_limit(env, "DIALER_LOGIN_LIMIT_ADDRESS", "30 per 15 minutes"),
        rq_queue=env.get("DIALER_RQ_QUEUE") or "dialer",
        alert_webhook_url=_webhook_url(env, "DIALER_ALERT_WEBHOOK_URL"),
        callback_owner_minutes=_int(env, "DIALER_CALLBACK_OWNER_MINUTES", 15),
        promise_kept_share=_promise_kept_share(env),
        promise_grace_days=_promise_grace_days(env),
        promise_evaluate_at=_promise_evaluate_at(env),
        company_name=(env.get("DIALER_COMPANY_NAME") or "Ngân hàng").strip(),
        callback_number=env.get("DIALER_CALLBACK_NUMBER") or None,
        carrier_timeout=_positive(env, "DIALER_CARRIER_TIMEOUT", 10.0),
        twilio_api_key=env.get("TWILIO_API_KEY") or None,
        twilio_api_secret=env.get("TWILIO_API_SECRET") or None,
        twilio_twiml_app_sid=env.get("TWILIO_TWIML_APP_SID") or None,
        inbound_wrap_up_seconds=_whole_at_least(env, "DIALER_INBOUND_WRAP_UP_SECONDS", 120, 10),
        ivr_callback_minutes=_whole_at_least(env, "DIALER_IVR_CALLBACK_MINUTES", 30, 1),
        event_streams=_whole_at_least(env, "DIALER_EVENT_STREAMS", 64, 1),
        event_keepalive_seconds=_keepalive(env),
    )


def _limit(env: dict[str, str], name: str, default: str) -> str:
    """A rate limit such as "5 per 15 minutes" (checked by the limits library's parser)."""
    raw = (env.get(name) or default).strip()
    try:
        parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must read like '5 per 15 minutes', got {raw!r}") from None
    return raw


def _keepalive(env: dict[str, str]) -> float:
    # A stream's read blocks this long; its Redis socket waits 300 s (dialer/redis.py).
    value = _positive(env, "DIALER_EVENT_KEEPALIVE_SECONDS", 15.0)
    if value > 240:
        raise ConfigError(f"DIALER_EVENT_KEEPALIVE_SECONDS must be at most 240, got {value:g}")
    return value


def _positive(env: dict[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be above 0, got {env.get(name)!r}")
    return value


def _whole_at_least(env: dict[str, str], name: str, default: int, low: int) -> int:
    value = _int(env, name, default)
    if value < low:
        raise ConfigError(f"{name} must be a whole number of at least {low}, got {value}")
    return value


MAX_PROMISE_GRACE_DAYS = 30


def _promise_kept_share(env: dict[str, str]) -> float:
    share = _float(env, "DIALER_PROMISE_KEPT_SHARE", 1.0)
    if not 0 < share <= 1:
        raise ConfigError(
            f"DIALER_PROMISE_KEPT_SHARE must be above 0 and at most 1 (0.9 = 90% of the "
            f"promised amount), got {env.get('DIALER_PROMISE_KEPT_SHARE')!r}"
        )
    return share


def _promise_grace_days(env: dict[str, str]) -> int:
    days = _int(env, "DIALER_PROMISE_GRACE_DAYS", 2)
    if not 0 <= days <= MAX_PROMISE_GRACE_DAYS:
        raise ConfigError(
            f"DIALER_PROMISE_GRACE_DAYS must be a whole number from 0 to "
            f"{MAX_PROMISE_GRACE_DAYS}, got {env.get('DIALER_PROMISE_GRACE_DAYS')!r}"
        )
    return days


def _promise_evaluate_at(env: dict[str, str]) -> str:
    raw = (env.get("DIALER_PROMISE_EVALUATE_AT") or "06:00").strip()
    parts = raw.split(":")
    ok = len(parts) == 2 and all(p.isdigit() and len(p) == 2 for p in parts)
    if not ok or int(parts[0]) > 23 or int(parts[1]) > 59:
        raise ConfigError(f"DIALER_PROMISE_EVALUATE_AT must be a local time as HH:MM, got {raw!r}")
    return raw


def _webhook_url(env: dict[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not raw.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return raw


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from os.environ."""
    return load_settings()
