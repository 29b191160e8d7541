"""Pacing: the pure policies, the online estimator, and a short run of the simulator."""

import importlib.util
import math
import random
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.campaigns.pacing import (
    PacingEstimates,
    PacingEstimator,
    PacingSnapshot,
    agentless,
    calls_to_start,
    fixed_ratio,
    predictive,
    progressive,
)

TRUE = PacingEstimates(
    p_human=0.3,
    answer_delay_mean=15.0,
    answer_delay_sd=6.0,
    p_machine=0.21,
    machine_hold_mean=18.0,
    machine_hold_sd=6.0,
    p_no_answer=0.35,
    no_answer_hold_mean=25.0,
    no_answer_hold_sd=0.1,
    busy_hold_mean=4.0,
    busy_hold_sd=0.1,
    talk_mean=180.0,
    talk_sd=180.0,
    wrap_mean=20.0,
    wrap_sd=0.1,
)


def _team(**kw) -> PacingSnapshot:
    """A 10-agent campaign: 3 ready, 7 talking for a minute, 3 calls ringing for 5 s."""
    base = PacingSnapshot(
        agents_ready=3,
        agents_busy=7,
        calls_dialing=3,
        queued_entries=1000,
        talk_elapsed=(60.0,) * 7,
        ringing_ages=(5.0,) * 3,
        estimates=TRUE,
    )
    return replace(base, **kw)


# --- limits every policy keeps ------------------------------------------------------------


snapshots = st.builds(
    lambda ready, talking, wrapping, ages, waiting, queued, lines, answers, abandoned: (
        PacingSnapshot(
            agents_ready=ready,
            agents_busy=len(talking) + len(wrapping),
            calls_dialing=len(ages),
            queued_entries=queued,
            talk_elapsed=tuple(talking),
            wrap_elapsed=tuple(wrapping),
            ringing_ages=tuple(ages),
            callers_waiting=waiting,
            max_lines_per_agent=lines,
            live_answers_today=answers + abandoned,
            abandoned_today=abandoned,
        )
    ),
    st.integers(0, 30),
    st.lists(st.floats(0, 3000), max_size=30),
    st.lists(st.floats(0, 60), max_size=10),
    st.lists(st.floats(0, 90), max_size=60),
    st.integers(0, 5),
    st.integers(0, 500),
    st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    st.integers(0, 2000),
    st.integers(0, 100),
)


@settings(max_examples=300, deadline=None)
@given(snapshots)
def test_predictive_never_exceeds_lines_or_queue(s):
    n = predictive(s)
    logged_in = s.agents_ready + s.agents_busy
    assert 0 <= n <= s.queued_entries
    if n:
        in_flight = s.calls_dialing + s.callers_waiting + n
        assert in_flight <= s.max_lines_per_agent * logged_in


@settings(max_examples=100, deadline=None)
@given(snapshots, st.sampled_from([1.0, 2.0, 3.0]))
def test_fixed_ratio_never_exceeds_lines(s, ratio):
    n = fixed_ratio(s, ratio)
    if n:
        assert s.calls_dialing + s.callers_waiting + n <= s.max_lines_per_agent * (
            s.agents_ready + s.agents_busy
        )
        assert n <= ratio * s.agents_ready


def test_nothing_to_dial_without_agents_or_entries():
    for mode in ("progressive", "predictive"):
        assert calls_to_start(mode, _team(agents_ready=0, agents_busy=0, talk_elapsed=())) == 0
        assert calls_to_start(mode, _team(queued_entries=0)) == 0
    assert predictive(_team(agents_ready=10, agents_busy=0, talk_elapsed=())) > 0


def test_first_round_overdials_within_the_line_cap():
    s = PacingSnapshot(agents_ready=10, queued_entries=1000, estimates=TRUE)
    assert 10 < predictive(s) <= 30
    assert predictive(replace(s, max_lines_per_agent=1.5)) == 15


def test_cps_tokens_limit_every_mode():
    s = PacingSnapshot(agents_ready=10, queued_entries=1000, cps_tokens=3.7, estimates=TRUE)
    assert calls_to_start("predictive", s) == 3
    assert calls_to_start("progressive", s) == 3
    assert calls_to_start("agentless", replace(s, cps_tokens=0.5)) == 0


def test_agentless_respects_cps_and_lines():
    s = PacingSnapshot(agents_ready=0, queued_entries=100, cps_tokens=5.0)
    assert agentless(s) == 5
    assert agentless(replace(s, max_lines=20, calls_dialing=12, calls_in_ivr=6)) == 2
    assert agentless(replace(s, max_lines=20, calls_dialing=15, calls_in_ivr=6)) == 0
    assert agentless(replace(s, queued_entries=3)) == 3
    assert agentless(replace(s, cps_tokens=math.inf, max_lines=40)) == 40


# --- predictive reads the state -----------------------------------------------------------


def test_predictive_dials_more_when_agents_are_about_to_be_free():
    talking = _team()  # 7 agents a minute into their calls
    wrapping = _team(talk_elapsed=(), wrap_elapsed=(15.0,) * 7)  # free in 5 s
    assert predictive(wrapping) >= predictive(talking) + 10


def test_predictive_reads_talk_time_from_elapsed():
    # 100 agents talking, short wrap-ups: who ends soon depends on how long they have talked.
    # With talk times this spread out, a call that has lasted 20 minutes is no likelier to
    # end in the next seconds than one that just started; calls near 2.5 minutes are.
    def n(elapsed: float) -> int:
        s = PacingSnapshot(
            agents_ready=0,
            agents_busy=100,
            queued_entries=1000,
            talk_elapsed=(elapsed,) * 100,
            estimates=replace(TRUE, wrap_mean=2.0),
        )
        return predictive(s)

    assert n(150.0) >= 5
    assert n(5.0) == n(1200.0) == 0


def test_predictive_discounts_calls_that_rang_long():
    fresh = predictive(_team(ringing_ages=(3.0,) * 3))
    stale = predictive(_team(ringing_ages=(24.0,) * 3))  # most would have answered by now
    assert stale >= fresh + 2


def test_predictive_backs_off_over_the_abandon_target():
    wrapping = _team(talk_elapsed=(), wrap_elapsed=(10.0,) * 7, live_answers_today=1000)
    on_track = predictive(replace(wrapping, abandoned_today=20))
    assert predictive(replace(wrapping, abandoned_today=45)) < on_track / 2
    # Far over budget it slows down to progressive dialing, which cannot abandon, not to 0.
    far_over = replace(wrapping, abandoned_today=200, ringing_ages=(), calls_dialing=0)
    assert predictive(far_over) == progressive(far_over) == 3


def test_predictive_holds_back_with_people_waiting():
    assert predictive(_team(agents_ready=0, callers_waiting=2)) == 0


def test_predictive_believes_its_estimates():
    rare = predictive(_team(estimates=replace(TRUE, p_human=0.1)))
    common = predictive(_team(estimates=replace(TRUE, p_human=0.6)))
    assert rare > common


# --- the estimator ------------------------------------------------------------------------


def _lognormal(rng: random.Random, mean: float, sd: float) -> float:
    sigma2 = math.log1p((sd / mean) ** 2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def _dials(rng: random.Random, n: int, p_human: float) -> list[tuple[str, float]]:
    out = []
    for _ in range(n):
        u = rng.random()
        if u < p_human:
            out.append(("human", _lognormal(rng, 15.0, 6.0)))
        elif u < p_human + (1 - p_human) * 0.5:
            out.append(("no_answer", 25.0))
        elif u < p_human + (1 - p_human) * 0.8:
            out.append(("machine", _lognormal(rng, 15.0, 6.0) + 3.0))
        else:
            out.append(("busy", 4.0))
    return out


def test_estimator_starts_from_priors_and_converges():
    est = PacingEstimator.start()
    assert est.estimates() == PacingEstimates()
    rng = random.Random(7)
    est = est.observe_all(
        dials=_dials(rng, 4000, 0.3),
        talks=[_lognormal(rng, 180.0, 180.0) for _ in range(3000)],
        wraps=[20.0] * 500,
    )
    e = est.estimates()
    assert e.p_human == pytest.approx(0.30, abs=0.02)
    assert e.p_machine == pytest.approx(0.21, abs=0.02)
    assert e.p_no_answer == pytest.approx(0.35, abs=0.02)
    assert e.p_busy == pytest.approx(0.14, abs=0.02)
    assert e.answer_delay_mean == pytest.approx(15.0, abs=0.7)
    assert e.answer_delay_sd == pytest.approx(6.0, abs=0.7)
    assert e.no_answer_hold_mean == pytest.approx(25.0, abs=0.1)
    assert e.talk_mean == pytest.approx(180.0, rel=0.1)
    assert e.talk_sd == pytest.approx(180.0, rel=0.25)
    assert e.wrap_mean == pytest.approx(20.0, abs=0.1)
    assert e.wrap_sd < 2.0  # the prior's 10 s spread fades as wrap-ups come in


def test_estimator_follows_a_change_and_is_a_value():
    rng = random.Random(3)
    start = PacingEstimator.start()
    early = start.observe_all(dials=_dials(rng, 3000, 0.4))
    assert early.estimates().p_human == pytest.approx(0.4, abs=0.03)
    late = early.observe_all(dials=_dials(rng, 9000, 0.15))
    assert late.estimates().p_human == pytest.approx(0.15, abs=0.03)
    assert early.estimates().p_human == pytest.approx(0.4, abs=0.03)  # unchanged by later
    assert start.estimates() == PacingEstimates()
    with pytest.raises(ValueError):
        start.observe_dial("fax", 3.0)


# --- the simulator ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "pacing.py"
    spec = importlib.util.spec_from_file_location("bench_pacing", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pacing"] = module
    spec.loader.exec_module(module)
    return module


def test_short_simulation_keeps_its_invariants(bench):
    r = bench.simulate("predictive", 20, 1.0, 0, bench.Scenario())
    assert math.isfinite(r["abandon_rate"]) and 0 <= r["abandon_rate"] < 0.2
    assert 0 < r["occupancy"] <= 0.9
    # Connected calls x mean talk time can not exceed the talk time the agents had.
    assert r["contacts_per_agent_hour"] * 180 / 3600 == pytest.approx(r["occupancy"], rel=0.25)
    p = bench.simulate("progressive", 20, 1.0, 0, bench.Scenario())
    assert p["abandon_rate"] == 0 and p["occupancy"] < r["occupancy"]


def test_predictive_holds_the_profiles_period_budget_too():
    # Today is on track, but the last 24 h (Ofcom) are over the target: that budget rules.
    wrapping = _team(talk_elapsed=(), wrap_elapsed=(10.0,) * 7, live_answers_today=1000)
    today_only = replace(wrapping, abandoned_today=20)
    assert predictive(replace(today_only, live_answers_period=1000, abandoned_period=20)) == (
        predictive(today_only)
    )
    over_24h = replace(today_only, live_answers_period=3000, abandoned_period=130)
    assert predictive(over_24h) < predictive(today_only) / 2


def test_a_person_waiting_for_an_agent_takes_a_ready_agent_in_every_policy():
    s = PacingSnapshot(agents_ready=3, agents_busy=2, calls_dialing=1, queued_entries=50)
    waiting = replace(s, callers_waiting=1)
    assert progressive(s) == 2 and progressive(waiting) == 1
    assert fixed_ratio(s, 2.0) == 5 and fixed_ratio(waiting, 2.0) == 4
    assert predictive(waiting) <= predictive(s)
