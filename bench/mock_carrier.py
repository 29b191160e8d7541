"""Mock carrier capacity: `python bench/mock_carrier.py --calls 400 --speed 60`.

Places calls through the official twilio client (a pool of client threads, like several
dialer workers) at the in-process mock carrier, callees drawn from the standard population,
each answered call running `<Pause>` for its talk time. A local WebhookRecorder plays the
app: it checks every signature and answers the TwiML. Prints the REST create rate and
latency, peak simultaneous calls, webhooks per second and their latency, how late the
simulated timers fired (simulated seconds), peak threads and memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from dialer.clock import Clock
from dialer.config import MOCK_AUTH_TOKEN, load_settings
from dialer.telephony.carrier import make_twilio_client
from dialer.telephony.mock import MockCarrier, Population
from dialer.telephony.mock.testing import WebhookRecorder

FROM = "+842873000000"
EVENTS = ["initiated", "ringing", "answered", "completed"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(calls: int, speed: float, clients: int, seed: int) -> dict[str, object]:
    hooks = WebhookRecorder(MOCK_AUTH_TOKEN, threads=32)
    hooks.start()
    hooks.on("/voice", '<Response><Say>Xin chao</Say><Pause length="600"/></Response>')
    mock = MockCarrier(clock=Clock.started_now(speed), population=Population(seed=seed))
    base = mock.start_in_thread()
    client = make_twilio_client(
        load_settings({"DIALER_HOME": "/nonexistent", "TWILIO_API_BASE": base})
    )
    peak = {"calls": 0, "threads": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            peak["calls"] = max(peak["calls"], mock.simulator.active_count())
            peak["threads"] = max(peak["threads"], threading.active_count())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    create_latency: list[float] = []

    def create(n: int) -> str:
        started = time.perf_counter()
        sid = client.calls.create(
            to=f"+8490{n:07d}", from_=FROM, url=hooks.url("/voice"),
            status_callback=hooks.url("/status"), status_callback_event=EVENTS,
            machine_detection="Enable", timeout=30,
        ).sid  # fmt: skip
        create_latency.append(time.perf_counter() - started)
        return sid

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        sids = list(pool.map(create, range(calls)))
    create_seconds = time.perf_counter() - started
    idle = mock.wait_until_idle(3600)
    wall = time.perf_counter() - started
    done.set()
    watcher.join()

    webhook_latency, lateness, statuses = [], [], {}
    params = mock.population.params
    for sid in sids:
        log = mock.call_log(sid)
        statuses[log["status"]] = statuses.get(log["status"], 0) + 1
        events = mock.events(sid)
        webhook_latency += [e["latency_ms"] for e in events if e["type"] == "webhook"]
        answered = [
            e["t"] for e in events if e["type"] == "status" and e["status"] == "in-progress"
        ]
        if answered and log["plan"]["kind"] in ("human", "machine"):
            planned = params.initiate_delay + params.ring_delay + log["plan"]["ring_seconds"]
            lateness.append(answered[0] - log["created_ts"] - planned)
    received = len(hooks.received)
    mock.stop()
    hooks.stop()
    return {
        "calls": calls,
        "speed": speed,
        "client_threads": clients,
        "all_ended": idle,
        "statuses": statuses,
        "create_calls_per_second": round(calls / create_seconds, 1),
        "create_latency_ms_p50": round(percentile(create_latency, 0.5) * 1000, 1),
        "create_latency_ms_p95": round(percentile(create_latency, 0.95) * 1000, 1),
        "peak_simultaneous_calls": peak["calls"],
        "webhooks": received,
        "all_signatures_valid": all(r.valid for r in hooks.received),
        "webhooks_per_second": round(received / wall, 1),
        "webhook_latency_ms_p50": round(percentile(webhook_latency, 0.5), 1),
        "webhook_latency_ms_p95": round(percentile(webhook_latency, 0.95), 1),
        "timer_lateness_sim_s_p50": round(statistics.median(lateness), 2) if lateness else None,
        "timer_lateness_sim_s_p95": round(percentile(lateness, 0.95), 2),
        "timer_lateness_sim_s_max": round(max(lateness, default=0.0), 2),
        "wall_seconds": round(wall, 1),
        "peak_threads": peak["threads"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8, help="client threads creating calls")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.calls, args.speed, args.clients, args.seed)
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
