"""Pacing benchmark: a discrete-event simulation of BENCHMARKS.md's standard outbound scenario.

It drives the very pacing functions and online estimator of dialer/campaigns/pacing.py, with a
snapshot built only from what a live system could see (agent states and elapsed times, ages
of ringing calls, the day's counters, estimates learned from calls that already ended).

The pacer is consulted after every event (events at the same instant are applied first) and
on a tick every simulated second; the estimates it sees are refreshed every 5 minutes, as a live
pacer would re-read them. Random draws come from one stream per dial and one per bridged
call, so every policy meets the same population (common random numbers).

    /work/venv/bin/python bench/pacing.py [--agents 5,20,100] [--policies ...] [--hours 8]
        [--seeds 5] [--first-seed 0] [--scenario standard,answer-0.2,...] [--json]
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import multiprocessing
import random
import sys
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.campaigns.pacing import (
    PacingEstimator,
    PacingSnapshot,
    PredictiveTuning,
    fixed_ratio,
    predictive,
    progressive,
)


@dataclass(frozen=True)
class Scenario:
    """BENCHMARKS.md's call model; the variants change one parameter each."""

    p_human: float = 0.30
    answer_delay_mean: float = 15.0
    answer_delay_sd: float = 6.0
    no_answer_share: float = 0.5  # of the dials no person answers
    machine_share: float = 0.3  # of the same; the rest (0.2) are busy / special tone
    no_answer_hold: float = 25.0
    machine_detect: float = 3.0
    busy_hold: float = 4.0
    talk_mean: float = 180.0
    talk_cv: float = 1.0
    wrap: float = 20.0
    abandon_after: float = 2.0


SCENARIOS = {
    "standard": Scenario(),
    "answer-0.2": Scenario(p_human=0.2),
    "answer-0.4": Scenario(p_human=0.4),
    "talk-120": Scenario(talk_mean=120.0),
    "talk-300": Scenario(talk_mean=300.0),
}
POLICY_NAMES = ("progressive", "ratio-2.0", "adaptive-ratio", "predictive")


@dataclass
class AdaptiveRatio:
    """The adaptive-ratio baseline of BENCHMARKS.md (the common open-source kind): place
    level x ready agents minus calls ringing; every 15 s move the level by the time-averaged
    (ready agents - callers waiting) / agents; clip to [1, 3]; halve it when the day's abandon
    rate passes the target or more than half of the last minute's answers were abandoned."""

    gain: float = 0.25  # tuned: the best of 0.25-8 at 5 and 20 agents, ending the day near 3%
    target: float = 0.03
    period: float = 15.0
    level: float = 1.0
    _area: float = 0.0  # integral of (ready - waiting) dt since the last adjustment
    _last: float = 0.0
    _next: float = 15.0

    def decide(self, now: float, s: PacingSnapshot, minute: tuple[int, int]) -> int:
        """`minute`: (live answers, abandoned) over the last 60 s."""
        self._area += (s.agents_ready - s.callers_waiting) * (now - self._last)
        self._last = now
        if now >= self._next:
            agents = max(1, s.agents_ready + s.agents_busy)
            self.level += self.gain * self._area / self.period / agents
            self.level = min(3.0, max(1.0, self.level))
            day_over = s.abandoned_today > self.target * s.live_answers_today
            minute_over = minute[1] * 2 > minute[0] > 0
            if day_over or minute_over:
                self.level = max(1.0, self.level / 2)
            self._area, self._next = 0.0, now + self.period
        return fixed_ratio(s, self.level)


def _lognormal(mean: float, sd: float) -> tuple[float, float]:
    sigma2 = math.log1p((sd / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


# Event kinds, in the heap as (time, seq, kind, payload).
TICK, ANSWER, RELEASE, TALK_END, WRAP_END, ABANDON = range(6)
REFRESH_ESTIMATES = 300.0


def simulate(
    policy: str,
    agents: int,
    hours: float,
    seed: int,
    sc: Scenario,
    adaptive: AdaptiveRatio | None = None,
    tuning: PredictiveTuning | None = None,
) -> dict[str, float]:
    """One shift; returns occupancy, abandon rate and contacts per agent hour."""
    end = hours * 3600.0
    dial_rng = random.Random(f"dial-{seed}")
    talk_rng = random.Random(f"talk-{seed}")
    delay_mu, delay_sigma = _lognormal(sc.answer_delay_mean, sc.answer_delay_sd)
    talk_mu, talk_sigma = _lognormal(sc.talk_mean, sc.talk_cv * sc.talk_mean)
    heap: list[tuple[float, int, int, object]] = [(0.0, 0, TICK, None)]
    seq = 1
    ready = agents
    talking: dict[int, float] = {}  # agent -> bridge time
    wrapping: dict[int, float] = {}  # agent -> hang-up time
    free_ids = list(range(agents))
    ringing: dict[int, float] = {}  # call -> placed at
    waiting: OrderedDict[int, float] = OrderedDict()  # person answered, no agent yet
    minute: deque[tuple[float, bool]] = deque()  # (answered at, abandoned) over 60 s
    live = abandoned = connected = 0
    talk_total = 0.0
    estimator = PacingEstimator.start()
    estimates = estimator.estimates()
    next_refresh = REFRESH_ESTIMATES
    adaptive = adaptive or AdaptiveRatio()
    ratio = float(policy.removeprefix("ratio-")) if policy.startswith("ratio-") else 0.0
    next_call = 0

    def push(t: float, kind: int, payload: object) -> None:
        nonlocal seq
        heapq.heappush(heap, (t, seq, kind, payload))
        seq += 1

    def bridge(agent: int, now: float) -> None:
        nonlocal talk_total, connected
        talk = talk_rng.lognormvariate(talk_mu, talk_sigma)
        talking[agent] = now
        push(now + talk, TALK_END, agent)
        talk_total += min(now + talk, end) - now
        connected += 1

    def place(now: float) -> None:
        nonlocal next_call
        call = next_call
        next_call += 1
        ringing[call] = now
        # Always three draws per dial, so each dial's fate does not depend on the policy.
        u, v = dial_rng.random(), dial_rng.random()
        delay = dial_rng.lognormvariate(delay_mu, delay_sigma)
        if u < sc.p_human:
            push(now + delay, ANSWER, call)
        elif v < sc.no_answer_share:
            push(now + sc.no_answer_hold, RELEASE, (call, "no_answer"))
        elif v < sc.no_answer_share + sc.machine_share:
            push(now + delay + sc.machine_detect, RELEASE, (call, "machine"))
        else:
            push(now + sc.busy_hold, RELEASE, (call, "busy"))

    def snapshot(now: float) -> PacingSnapshot:
        base = PacingSnapshot(
            agents_ready=ready,
            agents_busy=agents - ready,
            calls_dialing=len(ringing),
            queued_entries=1_000_000,
            callers_waiting=len(waiting),
            live_answers_today=live,
            abandoned_today=abandoned,
            abandon_after=sc.abandon_after,
        )
        if policy != "predictive":
            return base
        return replace(
            base,
            talk_elapsed=tuple(now - t for t in talking.values()),
            wrap_elapsed=tuple(now - t for t in wrapping.values()),
            ringing_ages=tuple(now - t for t in ringing.values()),
            estimates=estimates,
        )

    while heap:
        now, _, kind, payload = heapq.heappop(heap)
        if now > end + sc.abandon_after + 1:
            break
        if kind == TICK:
            if now + 1.0 <= end:
                push(now + 1.0, TICK, None)
            if now >= next_refresh:
                estimates, next_refresh = estimator.estimates(), now + REFRESH_ESTIMATES
        elif kind == ANSWER:
            call = payload
            placed = ringing.pop(call)
            estimator = estimator.observe_dial("human", now - placed)
            if now > end:
                continue
            live += 1
            if ready:
                ready -= 1
                bridge(free_ids.pop(), now)
                minute.append((now, False))
            else:
                waiting[call] = now
                push(now + sc.abandon_after, ABANDON, call)
        elif kind == RELEASE:
            call, outcome = payload
            estimator = estimator.observe_dial(outcome, now - ringing.pop(call))
        elif kind == TALK_END:
            agent = payload
            estimator = estimator.observe_talk(now - talking.pop(agent))
            wrapping[agent] = now
            push(now + sc.wrap, WRAP_END, agent)
        elif kind == WRAP_END:
            agent = payload
            estimator = estimator.observe_wrap(now - wrapping.pop(agent))
            if waiting:
                waiting.popitem(last=False)
                bridge(agent, now)
                minute.append((now, False))
            else:
                ready += 1
                free_ids.append(agent)
        elif kind == ABANDON and waiting.pop(payload, None) is not None:
            abandoned += 1  # nobody took this person within abandon_after
            minute.append((now, True))
        if now > end or (heap and heap[0][0] == now):
            continue  # apply every event of this instant before pacing
        while minute and minute[0][0] < now - 60.0:
            minute.popleft()
        s = snapshot(now)
        if policy == "progressive":
            n = progressive(s)
        elif ratio:
            n = fixed_ratio(s, ratio)
        elif policy == "adaptive-ratio":
            n = adaptive.decide(now, s, (len(minute), sum(a for _, a in minute)))
        else:
            n = predictive(s, tuning)
        for _ in range(n):
            place(now)

    return {
        "occupancy": talk_total / (agents * end),
        "abandon_rate": abandoned / live if live else 0.0,
        "contacts_per_agent_hour": connected / (agents * hours),
    }


def _run(job: tuple[str, str, int, float, int]) -> tuple[str, str, int, dict[str, float]]:
    scenario, policy, agents, hours, seed = job
    return scenario, policy, agents, simulate(policy, agents, hours, seed, SCENARIOS[scenario])


def run_all(
    scenarios: list[str],
    policies: list[str],
    sizes: list[int],
    hours: float,
    seeds: int,
    processes: int,
    first_seed: int = 0,
) -> list[dict[str, object]]:
    """Every (scenario, policy, size) over `seeds` seeds; one row each, mean and worst seed."""
    jobs = [
        (sc, p, n, hours, seed)
        for sc in scenarios
        for p in policies
        for n in sizes
        for seed in range(first_seed, first_seed + seeds)
    ]
    # Biggest first, so the two workers finish together.
    jobs.sort(key=lambda j: -(j[2] * (4 if j[1] == "predictive" else 1)))
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    if processes > 1:
        with multiprocessing.Pool(processes) as pool:
            done = list(pool.imap_unordered(_run, jobs))
    else:
        done = [_run(j) for j in jobs]
    for sc, p, n, r in done:
        results.setdefault((sc, p, n), []).append(r)
    rows: list[dict[str, object]] = []
    for sc in scenarios:
        for p in policies:
            for n in sizes:
                rs = results[(sc, p, n)]
                row: dict[str, object] = {
                    "policy": p,
                    "agents": n,
                    "occupancy": _mean(r["occupancy"] for r in rs),
                    "abandon_rate_mean": _mean(r["abandon_rate"] for r in rs),
                    "abandon_rate_worst": round(max(r["abandon_rate"] for r in rs), 4),
                    "contacts_per_agent_hour": round(
                        _mean(r["contacts_per_agent_hour"] for r in rs), 2
                    ),
                    "occupancy_worst": round(min(r["occupancy"] for r in rs), 4),
                    "seeds": len(rs),
                }
                if scenarios != ["standard"]:
                    row["scenario"] = sc
                rows.append(row)
    return rows


def _mean(xs) -> float:
    xs = list(xs)
    return round(sum(xs) / len(xs), 4)


def _table(rows: list[dict[str, object]]) -> str:
    head = (
        f"{'scenario':<11} {'policy':<15} {'agents':>6} {'occupancy':>9} {'(worst)':>8} "
        f"{'abandon':>8} {'(worst)':>8} {'contacts/agent-h':>16}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.get('scenario', 'standard'):<11} {r['policy']:<15} {r['agents']:>6} "
            f"{r['occupancy']:>9.1%} {r['occupancy_worst']:>8.1%} "
            f"{r['abandon_rate_mean']:>8.2%} {r['abandon_rate_worst']:>8.2%} "
            f"{r['contacts_per_agent_hour']:>16.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", default="5,20,100", help="team sizes, comma separated")
    ap.add_argument("--policies", default=",".join(POLICY_NAMES))
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0, help="e.g. 5: other shifts than 0-4")
    ap.add_argument(
        "--scenario",
        default="standard",
        help=f"comma separated, among {', '.join(SCENARIOS)}; 'all' for every one",
    )
    ap.add_argument("--processes", type=int, default=min(2, multiprocessing.cpu_count()))
    ap.add_argument("--json", action="store_true", help="print only a JSON list of rows")
    args = ap.parse_args(argv)
    scenarios = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    policies = args.policies.split(",")
    for name in scenarios:
        if name not in SCENARIOS:
            ap.error(f"unknown scenario {name!r}")
    for name in policies:
        if name not in POLICY_NAMES and not name.startswith("ratio-"):  # any fixed ratio
            ap.error(f"unknown policy {name!r}")
    sizes = [int(x) for x in args.agents.split(",")]
    started = time.monotonic()
    rows = run_all(
        scenarios, policies, sizes, args.hours, args.seeds, args.processes, args.first_seed
    )
    if args.json:
        print(json.dumps(rows))
        return
    print(_table(rows))
    print(f"\n{args.seeds} seeds x {args.hours:g} h; {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
