"""The call flow under load: `python bench/call_flow.py --agents 20 --streams 0 30`.

Runs the whole system as `dialer demo` does (mock carrier, web app, two RQ workers, the
pacer, as real processes; simulated agents who follow their desk's event stream and record
action codes), once per value of --streams: that many more event streams held open (half
supervisors' consoles, half desks of agents not logged in) besides the agents' own. The
figures are the mock carrier's own measurements, in real milliseconds:

- voice webhook: how long our /twilio/voice took to answer (median, p99, max);
- bridge: from the customer's live answer (AMD says human) to their joining the agent's
  conference (median, p99, max);
- calls placed, connected, abandoned, and the web process's CPU seconds per call.

Embedded SQLite and Redis by default; --database-url / --redis-url for PostgreSQL and a
Redis server (the database is emptied first: give it one of its own).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from dialer.config import load_settings
from dialer.demo.runner import DemoOptions, run_demo


def _prepare(database_url: str | None, redis_url: str | None) -> None:
    """Empty the given database and Redis database: every run starts from nothing."""
    if database_url:
        from sqlalchemy import text

        import dialer.models  # noqa: F401  (every table on the metadata)
        from dialer.db import Base, make_engine

        url = load_settings({"DATABASE_URL": database_url}).database_url
        engine = make_engine(url)
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()


def run(args: argparse.Namespace, streams: int) -> dict:
    _prepare(args.database_url, args.redis_url)
    home = Path(tempfile.mkdtemp(prefix="bench-call-flow-"))
    options = DemoOptions(
        accounts=args.accounts,
        agents=args.agents,
        seed=args.seed,
        minutes=args.minutes,
        speed=args.speed,
        mode="predictive" if args.predictive else "progressive",
        headless=True,
        as_json=True,
        extra_streams=streams,
        database_url=args.database_url,
        redis_url=args.redis_url,
    )
    summary = run_demo(options, load_settings({"DIALER_HOME": str(home)}))
    calls = summary["calls_placed"] or 1
    return {
        "extra_streams": streams,
        "event_streams": summary["event_streams"],
        "stream_events": summary["stream_events"],
        "calls_placed": summary["calls_placed"],
        "connected": summary["connected_to_agent"],
        "abandoned": summary["abandoned"],
        "voice_webhooks": summary["voice_webhooks"],
        "webhook_ms_p50": summary["webhook_ms_p50"],
        "webhook_ms_p99": summary["webhook_ms_p99"],
        "bridges": summary["bridges"],
        "bridge_ms_p50": summary["bridge_ms_p50"],
        "bridge_ms_p99": summary["bridge_ms_p99"],
        "web_cpu_ms_per_call": round(1000 * summary["web_cpu_seconds"] / calls, 1)
        if summary.get("web_cpu_seconds") is not None
        else None,
        "sim_minutes": summary["sim_minutes"],
        "wall_seconds": summary["wall_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=1500)
    parser.add_argument("--minutes", type=float, default=20, help="simulated minutes per run")
    parser.add_argument("--speed", type=float, default=10, help="simulated seconds per second")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--streams", type=int, nargs="+", default=[0, 30])
    parser.add_argument("--predictive", action="store_true")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url", help="use a database number of its own: it is flushed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [run(args, n) for n in args.streams]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{args.agents} agents, {args.minutes:g} simulated minutes at speed {args.speed:g}, "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}"
    )
    head = (
        "streams",
        "calls",
        "conn",
        "aband",
        "voice p50",
        "p99",
        "bridge p50",
        "p99",
        "cpu/call",
    )
    print("  ".join(f"{h:>10}" for h in head))
    for r in rows:
        cells = (
            r["event_streams"], r["calls_placed"], r["connected"], r["abandoned"],
            r["webhook_ms_p50"], r["webhook_ms_p99"], r["bridge_ms_p50"], r["bridge_ms_p99"],
            r["web_cpu_ms_per_call"],
        )  # fmt: skip
        print("  ".join(f"{c:>10}" if not isinstance(c, float) else f"{c:>10.1f}" for c in cells))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
