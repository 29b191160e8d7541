"""`dialer demo`: the whole system on embedded defaults, with simulated borrowers and agents.

It starts the real processes (mock carrier, web app, RQ worker, pacer), imports a sample
portfolio through the real CSV import, launches a campaign through the JSON API, and lets
simulated agents take the connected calls through the agent desk API. The summary is read
from SQL afterwards; the mock carrier's call log is the independent witness.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select

from dialer.clock import Clock
from dialer.config import MOCK_ACCOUNT_SID, MOCK_AUTH_TOKEN, Settings, load_settings
from dialer.demo.agents import AgentBot, StreamWatcher
from dialer.demo.summary import carrier_calls, latencies
from dialer.demo.summary import summary as demo_summary
from dialer.redis import ensure_embedded, stop_embedded

DEMO_START = dtime(9, 0)  # simulated local time the demo's day starts (inside every window)


class DemoError(RuntimeError):
    pass


@dataclass
class DemoOptions:
    accounts: int = 200
    agents: int = 5
    seed: int = 7
    minutes: float = 60.0  # simulated minutes of calling at most
    max_calls: int | None = None
    speed: float = 90.0
    headless: bool = False
    as_json: bool = False
    mode: str = "progressive"  # the campaign's dial mode: progressive, predictive or ivr
    # Event streams held open besides the agents' own desks (bench/call_flow.py): half
    # supervisors' consoles, half desks of agents who are not logged in.
    extra_streams: int = 0
    database_url: str | None = None  # PostgreSQL instead of the embedded SQLite
    redis_url: str | None = None  # a Redis server instead of the embedded one
    # A person takes calls at the desk beside the bots: the demo makes them an agent user
    # (and an administrator for the console) and says how to sign in.
    person: bool = False
    # Calling stops when this is set (the person pressed Enter), else after `minutes`.
    until: threading.Event | None = None
    # Called once everything is up, with the desk's address and the sign-ins.
    on_desk: Callable[[dict[str, str]], None] | None = None


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path


@dataclass
class Demo:
    options: DemoOptions
    processes: list[Process] = field(default_factory=list)

    def say(self, text: str) -> None:
        if not self.options.as_json:
            print(text, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: Process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise DemoError(f"{proc.name} exited early; see {proc.log}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise DemoError(f"{proc.name} did not answer on {url} within {timeout:.0f}s; see {proc.log}")


def _start(demo: Demo, name: str, args: list[str], env: dict[str, str], logs: Path) -> Process:
    log = logs / f"{name}.log"
    fh = open(log, "w")  # noqa: SIM115 (kept open for the child's lifetime)
    popen = subprocess.Popen(
        [sys.executable, "-m", "dialer.cli", *args],
        env=env,
        stdout=fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc = Process(name, popen, log)
    demo.processes.append(proc)
    return proc


def _stop_all(demo: Demo) -> None:
    for proc in reversed(demo.processes):
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
    for proc in demo.processes:
        try:
            proc.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()


def _run_cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dialer.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
    )
    if result.returncode != 0:
        raise DemoError(f"`dialer {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout


PERSON, ADMIN = "demo", "giamsat"


def _password() -> str:
    """12 letters and digits: easy to type from the terminal, 71 bits."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def _person_sign_ins(env: dict[str, str], web: str) -> dict[str, str]:
    """An agent user for the person at the desk and an administrator for the console, made
    with the real CLI; fresh passwords each run (printed, never stored in the clear)."""
    out = {"desk": f"{web}/desk", "username": PERSON, "admin_username": ADMIN}
    out["password"], out["admin_password"] = _password(), _password()
    made = _run_cli(
        ["users", "create", PERSON, "--role", "agent", "--team", "demo",
         "--name", "Điện thoại viên (bạn)", "--password-stdin"],
        env,
        stdin=out["password"] + "\n",
    )  # fmt: skip
    out["agent_id"] = made.rsplit("agent ", 1)[-1].rstrip(".\n")
    _run_cli(
        ["users", "create", ADMIN, "--role", "admin", "--name", "Giám sát", "--password-stdin"],
        env,
        stdin=out["admin_password"] + "\n",
    )
    return out


def _demo_clock(speed: float, tz: str) -> Clock:
    local_today = datetime.now(ZoneInfo(tz)).date()
    start = datetime.combine(local_today, DEMO_START, ZoneInfo(tz))
    return Clock.started_now(speed=speed, sim_start=start)


def run_demo(
    options: DemoOptions,
    base_settings: Settings,
    before_shutdown: Callable[[dict[str, Any], str], None] | None = None,
) -> dict[str, Any]:
    """Run the demo; before_shutdown(summary, console_url) runs while everything is still up."""
    demo = Demo(options)
    home = base_settings.home / "demo"
    # A fresh demo every time: stop a previous run's embedded Redis, then start clean.
    old = load_settings({"DIALER_HOME": str(home)})
    stop_embedded(old)
    shutil.rmtree(home, ignore_errors=True)
    (home / "logs").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIALER_", "TWILIO_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env["DIALER_HOME"] = str(home)
    if options.database_url:  # an empty database the caller prepared (bench/call_flow.py)
        env["DATABASE_URL"] = options.database_url
    settings = load_settings(env)
    redis_url = options.redis_url or ensure_embedded(settings)
    clock = _demo_clock(options.speed, settings.timezone)
    web_port, mock_port = _free_port(), _free_port()
    token = secrets.token_urlsafe(16)
    env.update(
        {
            "REDIS_URL": redis_url,
            "DIALER_WEB_PORT": str(web_port),
            "DIALER_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "TWILIO_API_BASE": f"http://127.0.0.1:{mock_port}",
            "TWILIO_ACCOUNT_SID": MOCK_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": MOCK_AUTH_TOKEN,
            "DIALER_API_TOKEN": token,
            **clock.env(),
        }
    )
    web = f"http://127.0.0.1:{web_port}"
    started = time.monotonic()
    try:
        demo.say(f"Demo data in {home}")
        _run_cli(["db", "upgrade"], env)
        csv_path = home / "portfolio.csv"
        from dialer.portfolio.sample import generate_portfolio_csv

        generate_portfolio_csv(csv_path, options.accounts, options.seed)
        imported = json.loads(_run_cli(["accounts", "import", str(csv_path), "--json"], env))
        demo.say(
            f"Imported {imported['imported']} accounts ({len(imported['warnings'])} warnings, "
            f"{len(imported['rejected'])} rejected)."
        )
        logs = home / "logs"
        mock = _start(
            demo,
            "mock-carrier",
            [
                "mock-carrier",
                "--host",
                "127.0.0.1",
                "--port",
                str(mock_port),
                "--seed",
                str(options.seed),
            ],
            env,
            logs,
        )
        webp = _start(demo, "web", ["web"], env, logs)
        for n in (1, 2):
            _start(demo, f"worker-{n}", ["worker"], env, logs)
        # A pacing round every ~1 simulated second, whatever the speed.
        interval = max(0.01, min(0.1, 1.0 / options.speed))
        _start(demo, "pacer", ["pacer", "--interval", f"{interval:.3f}"], env, logs)
        _wait_http(f"http://127.0.0.1:{mock_port}/_mock/clock", mock)
        _wait_http(f"{web}/healthz", webp)
        demo.say(f"Mock carrier: http://127.0.0.1:{mock_port}/_mock/calls")
        mock_url = f"http://127.0.0.1:{mock_port}"
        if options.person:
            person = _person_sign_ins(env, web)
            demo.say(
                f"Agent desk: {person['desk']}  sign in as {person['username']} / "
                f"{person['password']} (the bots take the other calls)\n"
                f"Console:    {web}/  sign in as {person['admin_username']} / "
                f"{person['admin_password']}"
            )
            if options.on_desk is not None:
                options.on_desk(person)
        if options.mode == "ivr":
            _script_ivr_callers(settings, env, mock_url, options.seed)
        summary = _drive(demo, web, token, clock, settings, env, options)
        if options.person:
            _api(
                requests.Session(),
                "POST",
                f"{web}/api/agents/{person['agent_id']}/logout",
                headers={"Authorization": f"Bearer {token}"},
            )
        summary["carrier_calls"] = carrier_calls(mock_url)
        summary.update(latencies(mock_url))
        summary["cpu_seconds"] = {p.name: _cpu_seconds(p.popen.pid) for p in demo.processes}
        summary["web_cpu_seconds"] = summary["cpu_seconds"].get("web")
        summary["wall_seconds"] = round(time.monotonic() - started, 1)
        if before_shutdown is not None:
            before_shutdown(summary, web)
    finally:
        _stop_all(demo)
        stop_embedded(settings)
    return summary


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a child process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def _api(http: requests.Session, method: str, url: str, **kw: Any) -> dict[str, Any]:
    resp = http.request(method, url, timeout=15, **kw)
    if resp.status_code >= 400:
        raise DemoError(f"{method} {url} -> {resp.status_code}: {resp.text}")
    return resp.json()


def _drive(
    demo: Demo,
    web: str,
    token: str,
    clock: Clock,
    settings: Settings,
    env: dict[str, str],
    options: DemoOptions,
) -> dict[str, Any]:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    name = "Demo: IVR reminders" if options.mode == "ivr" else "Demo: overdue 1-360 DPD"
    body = {"name": name, "dial_mode": options.mode}
    campaign = _api(http, "POST", f"{web}/api/campaigns", json=body)
    cid = campaign["id"]
    agent_ids = []
    for i in range(1, options.agents + 1):
        agent = _api(
            http,
            "POST",
            f"{web}/api/agents",
            json={"username": f"agent{i}", "name": f"Nhân viên {i}"},
        )
        agent_ids.append(agent["id"])
    launched = _api(http, "POST", f"{web}/api/campaigns/{cid}/launch")
    demo.say(f"Campaign {cid} launched with {launched['entries']} accounts.")
    for agent_id in agent_ids:
        _api(http, "POST", f"{web}/api/agents/{agent_id}/login", json={"campaign_id": cid})
    stop = threading.Event()
    bots = [
        AgentBot(web, token, a, clock, settings.timezone, options.seed, stop) for a in agent_ids
    ]
    for bot in bots:
        bot.start()
    watchers = _watch_streams(http, web, token, options.extra_streams, stop)
    _wait_seated(http, web, agent_ids)
    # The measurements start now: the agents' own legs are not customer calls.
    requests.delete(f"{env['TWILIO_API_BASE']}/_mock/stats", timeout=10)
    sim_start = clock.time()
    last_report = 0.0
    status: dict[str, Any] = {}
    while True:
        status = _api(http, "GET", f"{web}/api/campaigns/{cid}")
        sim_minutes = (clock.time() - sim_start) / 60
        if time.monotonic() - last_report > 5:
            last_report = time.monotonic()
            demo.say(
                f"  {sim_minutes:5.1f} sim min: {status['calls_placed']} calls, "
                f"{status['connected_to_agent']} connected, {status['done']}/{status['entries']} "
                "entries done"
            )
        if status["state"] != "running":
            break
        if sim_minutes >= options.minutes:
            break
        if options.max_calls is not None and status["calls_placed"] >= options.max_calls:
            break
        if options.until is not None and options.until.is_set():
            break
        # A supervisor's console reads the status every few seconds; the demo once a
        # second of real time (more would load the web process it measures).
        time.sleep(1.0)
    if status["state"] == "running":
        _api(http, "POST", f"{web}/api/campaigns/{cid}/stop")
    _settle(http, web, cid, clock)
    stop.set()
    for bot in bots:
        bot.join(timeout=5)
    for agent_id in agent_ids:
        _api(http, "POST", f"{web}/api/agents/{agent_id}/logout")
    summary = demo_summary(env, cid)
    summary["sim_minutes"] = round((clock.time() - sim_start) / 60, 1)
    summary["agents"] = options.agents
    summary["speed"] = options.speed
    summary["dispositions_refused"] = [r for bot in bots for r in bot.stats.refused]
    summary["event_streams"] = len(bots) + len(watchers)
    summary["stream_events"] = sum(w.events for w in watchers) + sum(b.events for b in bots)
    return summary


def _wait_seated(http: requests.Session, web: str, agent_ids: list[int]) -> None:
    """Until every agent's softphone answered (they are ready, bounded)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = [_api(http, "GET", f"{web}/api/agents/{a}")["state"] for a in agent_ids]
        if all(state != "connecting" for state in states):
            return
        time.sleep(0.1)


def _watch_streams(
    http: requests.Session, web: str, token: str, n: int, stop: threading.Event
) -> list[StreamWatcher]:
    """Open n event streams as consoles and idle desks would, and keep reading them."""
    urls = []
    for i in range(n):
        if i % 2 == 0:
            urls.append(f"{web}/api/agents/events")
        else:
            idle = _api(
                http,
                "POST",
                f"{web}/api/agents",
                json={"username": f"idle{i}", "name": f"Idle {i}"},
            )
            urls.append(f"{web}/api/agents/{idle['id']}/events")
    watchers = [StreamWatcher(url, token, stop) for url in urls]
    for watcher in watchers:
        watcher.start()
    return watchers


# How the demo's borrowers answer the IVR menu (weights): the keys of each <Gather> in
# order; "" is no key in time, "7" a key the menu has not.
IVR_ANSWERS = (
    (("1", "1"), 25),  # promise to pay today
    (("1", "2"), 10),  # promise within 3 days
    (("2",), 15),  # already paid
    (("3",), 15),  # speak to an agent
    (("9",), 10),  # not the customer
    (("", ""), 15),  # no key, twice
    (("7", "1", "1"), 10),  # a wrong key, then a promise
)


def _script_ivr_callers(settings: Settings, env: dict[str, str], mock_url: str, seed: int) -> None:
    """Give each borrower's numbers the keys they will press (a seeded draw), through the
    mock's control API; who answers at all stays the mock's own model."""
    import random

    from dialer.db import Database
    from dialer.portfolio.models import Phone

    db = Database(load_settings(env))
    with db.session() as s:
        numbers = sorted(set(s.scalars(select(Phone.number).where(Phone.dialable.is_(True)))))
    db.engine.dispose()
    rng = random.Random(f"{seed}:ivr")
    choices, weights = zip(*IVR_ANSWERS, strict=True)
    http = requests.Session()
    for number in numbers:
        keys = rng.choices(choices, weights=weights)[0]
        resp = http.post(
            f"{mock_url}/_mock/numbers/{number}", json={"digits": list(keys)}, timeout=10
        )
        if resp.status_code >= 400:
            raise DemoError(f"the mock carrier refused the keys for a number: {resp.text}")


def _settle(http: requests.Session, web: str, cid: int, clock: Clock) -> None:
    """Let calls in flight finish and agents record their last results (bounded)."""
    # At most two real minutes: at real time (a person at the desk) a long call may go on.
    deadline = time.monotonic() + min(clock.real_seconds(15 * 60) + 10, 120)
    while time.monotonic() < deadline:
        status = _api(http, "GET", f"{web}/api/campaigns/{cid}")
        if status["in_progress"] == 0:
            return
        time.sleep(0.25)
