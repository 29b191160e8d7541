"""Pacing: how many calls to start now. Pure functions from a snapshot to a number.

The same code runs in the live pacer (dialer/campaigns/pacer.py) and in the discrete-event
simulator (bench/pacing.py). Nothing here reads a clock, Redis or the database: every fact,
time included (as elapsed seconds and ages), comes in the snapshot, and the online estimator
is a value that observations turn into a new value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from statistics import NormalDist

# --- what the pacer knows ---------------------------------------------------------------------


@dataclass(frozen=True)
class PacingEstimates:
    """Live estimates of the campaign's call model (seconds throughout).

    The defaults are generic priors for outbound collection calls, deliberately not any one
    scenario's values: the estimator moves away from them as calls end.
    """

    p_human: float = 0.25  # share of dials answered by a person
    answer_delay_mean: float = 12.0  # placed -> answered, person answered
    answer_delay_sd: float = 6.0
    p_machine: float = 0.25
    machine_hold_mean: float = 18.0  # placed -> released (answer plus machine detection)
    machine_hold_sd: float = 7.0
    p_no_answer: float = 0.35  # the rest of the dials are busy / special tone / failed
    no_answer_hold_mean: float = 25.0  # the ring timeout the carrier is given
    no_answer_hold_sd: float = 2.0
    busy_hold_mean: float = 5.0
    busy_hold_sd: float = 3.0
    talk_mean: float = 150.0
    talk_sd: float = 150.0
    wrap_mean: float = 20.0
    wrap_sd: float = 10.0

    @property
    def p_busy(self) -> float:
        return max(0.0, 1.0 - self.p_human - self.p_machine - self.p_no_answer)


@dataclass(frozen=True)
class PacingSnapshot:
    """One campaign at one instant. Only the first four fields are needed by `progressive`;
    `predictive` also uses the per-agent and per-call detail, the estimates and the day's
    abandon counters; `agentless` uses the line and calls-per-second budgets."""

    agents_ready: int  # logged in, waiting for a call
    agents_busy: int = 0  # talking or wrapping up
    calls_dialing: int = 0  # placed, not yet answered by a person or ended
    queued_entries: int = 0  # entries waiting in the dial queue
    # Detail of the busy agents and ringing calls (seconds). Busy agents or dialing calls
    # beyond these lists are taken as just started (the cautious reading).
    talk_elapsed: tuple[float, ...] = ()  # per agent talking: seconds since the bridge
    wrap_elapsed: tuple[float, ...] = ()  # per agent wrapping up: seconds since hang-up
    ringing_ages: tuple[float, ...] = ()  # per call dialing: seconds since it was placed
    callers_waiting: int = 0  # answered by a person, not yet bridged to an agent
    estimates: PacingEstimates = field(default_factory=PacingEstimates)
    # The campaign day's counters: the abandon target is a whole-day rate.
    live_answers_today: int = 0  # answered by a person (abandoned ones included)
    abandoned_today: int = 0
    # The same over the compliance profile's period (Ofcom: any 24 h; Regulation F: 30
    # days), which the target must hold over too; it contains the day (0, 0: not known).
    live_answers_period: int = 0
    abandoned_period: int = 0
    abandon_target: float = 0.03
    abandon_after: float = 2.0  # seconds a person waits for an agent before we abandon
    max_lines_per_agent: float = 3.0  # calls in flight <= this x logged-in agents
    # Carrier budgets: calls we may start this instant, and (agentless) lines in all.
    cps_tokens: float = math.inf
    max_lines: int | None = None
    calls_in_ivr: int = 0  # agentless: answered calls still playing the IVR


# --- the online estimator ---------------------------------------------------------------------

OUTCOMES = ("human", "machine", "no_answer", "busy")


@dataclass(frozen=True)
class _Moments:
    """Weighted count, sum and sum of squares, with old observations fading out."""

    w: float
    s: float
    q: float

    @classmethod
    def prior(cls, mean: float, sd: float, weight: float) -> _Moments:
        return cls(weight, weight * mean, weight * (sd * sd + mean * mean))

    def add(self, x: float, memory: float) -> _Moments:
        # Past `memory` observations, older ones are scaled down so the estimate follows the
        # campaign through the day (lists change, people answer differently after lunch).
        k = min(1.0, (memory - 1.0) / self.w) if self.w >= memory else 1.0
        return _Moments(self.w * k + 1.0, self.s * k + x, self.q * k + x * x)

    @property
    def mean(self) -> float:
        return self.s / self.w

    @property
    def sd(self) -> float:
        m = self.mean
        return math.sqrt(max(0.0, self.q / self.w - m * m))


@dataclass(frozen=True)
class PacingEstimator:
    """Online estimates from ended dials, talks and wrap-ups; every observe_* returns a new
    estimator. Start from `PacingEstimator.start()` (priors), feed plain numbers."""

    outcomes: tuple[float, ...]  # weighted counts, in OUTCOMES order
    holds: tuple[_Moments, ...]  # seconds from placing to the answer / release, same order
    talk: _Moments
    wrap: _Moments
    dial_memory: float = 3000.0
    time_memory: float = 1000.0

    @classmethod
    def start(
        cls,
        prior: PacingEstimates | None = None,
        dial_weight: float = 40.0,
        time_weight: float = 10.0,
    ) -> PacingEstimator:
        """Priors worth `dial_weight` dials and `time_weight` talks / wraps / holds."""
        p = prior or PacingEstimates()
        shares = (p.p_human, p.p_machine, p.p_no_answer, p.p_busy)
        holds = (
            (p.answer_delay_mean, p.answer_delay_sd),
            (p.machine_hold_mean, p.machine_hold_sd),
            (p.no_answer_hold_mean, p.no_answer_hold_sd),
            (p.busy_hold_mean, p.busy_hold_sd),
        )
        return cls(
            outcomes=tuple(dial_weight * x for x in shares),
            holds=tuple(_Moments.prior(m, sd, time_weight) for m, sd in holds),
            talk=_Moments.prior(p.talk_mean, p.talk_sd, time_weight),
            wrap=_Moments.prior(p.wrap_mean, p.wrap_sd, time_weight),
        )

    def observe_dial(self, outcome: str, seconds: float) -> PacingEstimator:
        """A dial ended: `outcome` in OUTCOMES; `seconds` from placing it to the person's
        answer (human) or to the line's release (machine, no_answer, busy)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown dial outcome {outcome!r}, expected one of {OUTCOMES}")
        i = OUTCOMES.index(outcome)
        total = sum(self.outcomes)
        k = min(1.0, (self.dial_memory - 1.0) / total) if total >= self.dial_memory else 1.0
        counts = tuple(c * k + (1.0 if j == i else 0.0) for j, c in enumerate(self.outcomes))
        holds = list(self.holds)
        holds[i] = holds[i].add(seconds, self.time_memory)
        return replace(self, outcomes=counts, holds=tuple(holds))

    def observe_talk(self, seconds: float) -> PacingEstimator:
        """A bridged call ended after `seconds` of talk."""
        return replace(self, talk=self.talk.add(seconds, self.time_memory))

    def observe_wrap(self, seconds: float) -> PacingEstimator:
        """An agent went from hang-up to ready (action code entered) in `seconds`."""
        return replace(self, wrap=self.wrap.add(seconds, self.time_memory))

    def observe_all(
        self,
        dials: Iterable[tuple[str, float]] = (),
        talks: Iterable[float] = (),
        wraps: Iterable[float] = (),
    ) -> PacingEstimator:
        """Fold lists of recent observations in, oldest first."""
        est = self
        for outcome, seconds in dials:
            est = est.observe_dial(outcome, seconds)
        for seconds in talks:
            est = est.observe_talk(seconds)
        for seconds in wraps:
            est = est.observe_wrap(seconds)
        return est

    def estimates(self) -> PacingEstimates:
        total = sum(self.outcomes)
        h, m, n, b = self.holds
        return PacingEstimates(
            p_human=self.outcomes[0] / total,
            answer_delay_mean=h.mean,
            answer_delay_sd=h.sd,
            p_machine=self.outcomes[1] / total,
            machine_hold_mean=m.mean,
            machine_hold_sd=m.sd,
            p_no_answer=self.outcomes[2] / total,
            no_answer_hold_mean=n.mean,
            no_answer_hold_sd=n.sd,
            busy_hold_mean=b.mean,
            busy_hold_sd=b.sd,
            talk_mean=self.talk.mean,
            talk_sd=self.talk.sd,
            wrap_mean=self.wrap.mean,
            wrap_sd=self.wrap.sd,
        )


# --- simple policies --------------------------------------------------------------------------


def progressive(s: PacingSnapshot) -> int:
    """One call per ready agent: never more calls ringing (or people waiting for an agent)
    than agents waiting."""
    return max(0, min(s.agents_ready - s.calls_dialing - s.callers_waiting, s.queued_entries))


def fixed_ratio(s: PacingSnapshot, ratio: float) -> int:
    """`ratio` calls per ready agent, minus those already ringing and the people waiting
    for an agent (the classic power dialer)."""
    n = int(ratio * s.agents_ready) - s.calls_dialing - s.callers_waiting
    return max(0, min(n, s.queued_entries, _line_room(s)))


def agentless(s: PacingSnapshot) -> int:
    """IVR campaigns: no agents to wait for, so only the carrier's budgets limit dialing."""
    n = s.queued_entries
    if s.max_lines is not None:
        n = min(n, s.max_lines - s.calls_dialing - s.calls_in_ivr)
    return max(0, min(n, _cps_room(s)))


def _line_room(s: PacingSnapshot) -> int:
    """Calls that may still start under max_lines_per_agent x logged-in agents."""
    logged_in = s.agents_ready + s.agents_busy
    in_flight = s.calls_dialing + s.callers_waiting
    return math.floor(s.max_lines_per_agent * logged_in + 1e-9) - in_flight


def _cps_room(s: PacingSnapshot) -> int:
    return s.queued_entries if math.isinf(s.cps_tokens) else math.floor(s.cps_tokens)


# --- predictive -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictiveTuning:
    """Knobs of `predictive`; the defaults are tuned on bench/pacing.py."""

    # A new call is placed while the chance that its person finds no agent stays under a
    # threshold: base_risk + team_risk / agents logged in (the same threshold spends less of
    # a big team's budget: more calls sit near it), moved by the day's budget (_threshold).
    base_risk: float = 0.012
    team_risk: float = 0.1
    budget_gain: float = 0.2  # threshold x exp(gain x unspent abandons) under budget...
    tighten_gain: float = 0.6  # ... and over budget: back off faster than we speed up
    max_loosen: float = 1.5  # at most this x the base threshold when well under budget
    reserve: float = 0.5  # abandons kept in hand, x sqrt(target x live answers)
    horizon_points: int = 8  # quantiles of the answer delay a new call is weighed at


def _lognormal(mean: float, sd: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with this mean and sd (sd floored: numbers stay finite)."""
    mean = max(mean, 0.1)
    sd = max(sd, 0.01 * mean, 0.05)
    sigma2 = math.log1p((sd / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def _cdf(x: float, mu_sigma: tuple[float, float]) -> float:
    if x <= 0.0:
        return 0.0
    mu, sigma = mu_sigma
    return 0.5 * math.erfc((mu - math.log(x)) / (sigma * math.sqrt(2.0)))


Row = tuple[float, ...]  # K probabilities, then their K Bernoulli variances


def _row(ps: Iterable[float]) -> Row:
    ps = [min(1.0, max(0.0, p)) for p in ps]
    return (*ps, *(p * (1.0 - p) for p in ps))


class _Model:
    """What one set of estimates implies, per agent or call, at each horizon point; memoised
    by elapsed time rounded (1 s for talk, 0.25 s for wrap-up and ringing)."""

    MEMO_LIMIT = 20_000  # bounded: a live pacer runs for months

    def __init__(self, est: PacingEstimates, grace: float, points: int) -> None:
        self.est = est
        self.delay = _lognormal(est.answer_delay_mean, est.answer_delay_sd)
        self.talk = _lognormal(est.talk_mean, est.talk_sd)
        self.wrap = _lognormal(est.wrap_mean, est.wrap_sd)
        self.others = (
            (est.p_machine, _lognormal(est.machine_hold_mean, est.machine_hold_sd)),
            (est.p_no_answer, _lognormal(est.no_answer_hold_mean, est.no_answer_hold_sd)),
            (est.p_busy, _lognormal(est.busy_hold_mean, est.busy_hold_sd)),
        )
        mu, sigma = self.delay
        inv = NormalDist().inv_cdf
        # When a new call's person might answer: equally likely quantiles of the delay...
        self.taus = tuple(math.exp(mu + sigma * inv((k + 0.5) / points)) for k in range(points))
        # ... and when an agent must be free by for that person not to be abandoned.
        self.xs = tuple(t + grace for t in self.taus)
        # P(another call placed now has its person answer before each tau).
        self.new_answer = tuple(est.p_human * _cdf(t, self.delay) for t in self.taus)
        self._talk: dict[int, Row] = {}
        self._wrap: dict[int, Row] = {}
        self._ring: dict[int, Row] = {}

    @staticmethod
    def _memo(table: dict[int, Row], key: int, make) -> Row:
        row = table.get(key)
        if row is None:
            if len(table) > _Model.MEMO_LIMIT:
                table.clear()
            row = table[key] = make(key)
        return row

    def talk_row(self, elapsed: float) -> Row:
        return self._memo(self._talk, int(elapsed), self._talk_free)

    def wrap_row(self, elapsed: float) -> Row:
        return self._memo(self._wrap, int(elapsed * 4), lambda k: self._wrap_free(k / 4))

    def ring_row(self, age: float) -> Row:
        return self._memo(self._ring, int(age * 4), lambda k: self._ring_answer(k / 4))

    def _talk_free(self, elapsed: float) -> Row:
        """P(an agent talking for `elapsed` s is free by each x): the talk ends, then a mean
        wrap-up. Conditioning on elapsed matters: with a long-tailed talk time, a call that
        has already lasted long is likely to last longer still."""
        wrap = self.est.wrap_mean
        before = _cdf(elapsed, self.talk)
        alive = 1.0 - before
        if alive < 1e-12:
            return _row(1.0 if x > wrap else 0.0 for x in self.xs)
        return _row(
            (_cdf(elapsed + x - wrap, self.talk) - before) / alive if x > wrap else 0.0
            for x in self.xs
        )

    def _wrap_free(self, elapsed: float) -> Row:
        """P(an agent wrapping up for `elapsed` s is free by each x)."""
        before = _cdf(elapsed, self.wrap)
        alive = 1.0 - before
        if alive < 1e-12:
            return _row(1.0 for _ in self.xs)  # overdue: any moment now
        return _row((_cdf(elapsed + x, self.wrap) - before) / alive for x in self.xs)

    def _ring_answer(self, age: float) -> Row:
        """P(a call still ringing at `age` s has its person answer before each tau). A call
        that has rung long without news is less and less likely to be a person: Bayes on
        the hold times of each outcome."""
        p = self.est.p_human
        before = _cdf(age, self.delay)
        pending = p * (1.0 - before) + sum(q * (1.0 - _cdf(age, ln)) for q, ln in self.others)
        if pending < 1e-12:
            return _row(0.0 for _ in self.taus)
        return _row(p * (_cdf(age + t, self.delay) - before) / pending for t in self.taus)


@lru_cache(maxsize=16)
def _model(est: PacingEstimates, grace: float, points: int) -> _Model:
    return _Model(est, grace, points)


def _threshold(s: PacingSnapshot, t: PredictiveTuning) -> float:
    """The per-call abandon risk we accept now. The day's budget is target x live answers;
    what is left of it, minus a reserve that grows like the noise of the abandon count,
    moves the threshold exponentially: an integral controller on the whole-day rate. When
    the profile's own period (24 h, 30 days) has less left, that budget rules."""

    def unspent(live: int, abandoned: int) -> float:
        allowed = s.abandon_target * live
        return allowed - abandoned - t.reserve * math.sqrt(allowed)

    left = unspent(s.live_answers_today, s.abandoned_today)
    if s.live_answers_period:  # the tighter of the two budgets
        left = min(left, unspent(s.live_answers_period, s.abandoned_period))
    base = t.base_risk + t.team_risk / max(1, s.agents_ready + s.agents_busy)
    gain = t.budget_gain if left >= 0 else t.tighten_gain
    return base * min(t.max_loosen, math.exp(gain * left))


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _sums(rows: list[Row], width: int) -> list[float]:
    return [sum(col) for col in zip(*rows, strict=True)] if rows else [0.0] * width


def predictive(s: PacingSnapshot, tuning: PredictiveTuning | None = None) -> int:
    """Start calls while the chance that the newest one's person finds no agent free in time
    stays under the day's threshold.

    For a new call answered at each quantile tau of the answer delay, agents free by
    tau + abandon_after (ready now, or finishing wrap-up or talk: a Bernoulli each, given
    its elapsed time) are weighed against people answering first (waiting now, ringing calls
    given their age, the other new calls), with a normal approximation of the difference.
    """
    t = tuning or DEFAULT_TUNING
    room = min(s.queued_entries, _line_room(s), _cps_room(s))
    if room <= 0 or s.agents_ready + s.agents_busy <= 0:
        return 0
    m = _model(s.estimates, s.abandon_after, t.horizon_points)
    k = len(m.taus)
    # Memo hits inline (most rows): this runs on every event of a 100-agent campaign.
    talk, wrap, ring = m._talk, m._wrap, m._ring
    supply_rows = [talk.get(int(e)) or m.talk_row(e) for e in s.talk_elapsed]
    supply_rows += [wrap.get(int(e * 4)) or m.wrap_row(e) for e in s.wrap_elapsed]
    # Busy agents and dialing calls without detail: as if just started (the cautious side).
    supply_rows += [m.talk_row(0.0)] * (s.agents_busy - len(supply_rows))
    demand_rows = [ring.get(int(a * 4)) or m.ring_row(a) for a in s.ringing_ages]
    demand_rows += [m.ring_row(0.0)] * (s.calls_dialing - len(demand_rows))
    supply = _sums(supply_rows, 2 * k)
    demand = _sums(demand_rows, 2 * k)
    # Mean and variance of (agents free by tau + grace) - (people answered before tau).
    gap = [s.agents_ready + supply[i] - s.callers_waiting - demand[i] for i in range(k)]
    var = [supply[k + i] + demand[k + i] + 0.05 for i in range(k)]

    def risk(others: int) -> float:
        """P(no agent for the person of a new call placed along with `others` more)."""
        total = 0.0
        for i, u in enumerate(m.new_answer):
            z = (0.5 - gap[i] + others * u) / math.sqrt(var[i] + others * u * (1.0 - u))
            total += _phi(z)
        return total / k

    limit = _threshold(s, t)

    def fine(n: int) -> bool:
        return risk(n - 1) <= limit

    # Never below progressive (one ringing call per ready agent cannot abandon anyone): far
    # over budget, the dialer slows down to that rather than stopping.
    lo = max(0, min(room, s.agents_ready - s.calls_dialing - s.callers_waiting))
    if lo >= room or not fine(lo + 1):
        return lo
    # The risk grows with every extra new call: gallop, then bisect, for the largest n.
    lo, step = lo + 1, 1
    while lo < room:
        nxt = min(room, lo + step)
        if not fine(nxt):
            hi = nxt - 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if fine(mid) else (lo, mid - 1)
            return lo
        lo, step = nxt, step * 2
    return lo


DEFAULT_TUNING = PredictiveTuning()

POLICIES = {"progressive": progressive, "predictive": predictive, "agentless": agentless}


def calls_to_start(mode: str, s: PacingSnapshot) -> int:
    """Dispatch on the campaign's dial mode."""
    try:
        policy = POLICIES[mode]
    except KeyError:
        raise ValueError(f"no pacing policy for dial mode {mode!r}") from None
    return max(0, min(policy(s), _cps_room(s)))
