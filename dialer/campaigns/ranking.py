"""Ranking: which account is dialed first. Pure functions over plain data.

score = sum of components, each kept so a supervisor can see why an entry ranks where it
does (stored on the entry, one column per component; docs/ranking.md explains them):

- callback      1000 when the borrower asked to be called back and the time has come
- broken        500 when a promise to pay broke in the last 7 days (due within the window,
                evaluated as broken)
- bucket        10 per DPD bucket (B1 = 10 ... B8 = 80): later buckets roll into bad debt
- amount        10 x log10(1 + overdue / 1,000,000 VND): 10 M ~ 10, 100 M ~ 20
- recency       whole days since the last contact, capped at 30, divided by 3 (up to 10)
- rpc           5 when we have reached the borrower before (the numbers work)
- attempts      -5 per attempt already made today

This module is the reference: the builder computes the same numbers in SQL
(campaigns/builder.py) and a test holds the two equal. Every component is rounded half up
to 3 decimals with `round3`, and the score is the rounded sum of the rounded components
added in the order above, because that is what both SQL engines compute identically in
IEEE doubles (Python's round() rounds half to even, SQL's round() does not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

# (bucket name, first DPD, last DPD); B0 = not yet due / due today.
BUCKETS = (
    ("B0", -(10**6), 0),
    ("B1", 1, 30),
    ("B2", 31, 60),
    ("B3", 61, 90),
    ("B4", 91, 120),
    ("B5", 121, 150),
    ("B6", 151, 180),
    ("B7", 181, 360),
    ("B8", 361, 10**9),
)

# The components of a score, in the order they are added.
COMPONENTS = ("callback", "broken", "bucket", "amount", "recency", "rpc", "attempts")
AMOUNT_UNIT = 1_000_000  # VND: the amount component is log10(1 + overdue / AMOUNT_UNIT)
# Weights beyond this would make scores too large for 3 decimals plus the queue's tie-break
# in one double (see builder.load_queue).
MAX_WEIGHT = 100_000.0
MAX_RECENCY_CAP_DAYS = 365
MAX_BROKEN_PROMISE_DAYS = 90


def bucket_of(dpd: int) -> str:
    for name, low, high in BUCKETS:
        if low <= dpd <= high:
            return name
    raise ValueError(f"dpd {dpd} outside every bucket")


def round3(value: float) -> float:
    """Round half up to 3 decimals, exactly as the builder's SQL does (floor(x*1000+0.5)/1000)."""
    return math.floor(value * 1000 + 0.5) / 1000


@dataclass(frozen=True)
class RankingWeights:
    callback: float = 1000.0
    broken_promise: float = 500.0
    # A broken promise counts while its due date is at most this many days ago.
    broken_promise_days: int = 7
    per_bucket: float = 10.0
    amount: float = 10.0
    recency_cap_days: int = 30
    recency_divisor: float = 3.0
    rpc_history: float = 5.0
    per_attempt_today: float = -5.0


# Override keys a campaign may also spell as the component they weigh.
ALIASES = {
    "broken": "broken_promise",
    "bucket": "per_bucket",
    "rpc": "rpc_history",
    "attempts": "per_attempt_today",
}
_WHOLE_DAYS = {
    "recency_cap_days": (0, MAX_RECENCY_CAP_DAYS),
    "broken_promise_days": (1, MAX_BROKEN_PROMISE_DAYS),
}


def weights_from(overrides: dict[str, Any] | None) -> RankingWeights:
    """The default weights with a campaign's `ranking` overrides applied; ValueError names
    an unknown key or a value that is not an acceptable number."""
    known = [f.name for f in fields(RankingWeights)]
    values: dict[str, float | int] = {}
    for key, value in (overrides or {}).items():
        name = ALIASES.get(key, key)
        if name not in known:
            raise ValueError(
                f"unknown ranking weight {key!r}; known: {', '.join(known + sorted(ALIASES))}"
            )
        if name in values:
            raise ValueError(f"ranking weight {name!r} given twice")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"ranking weight {key!r} must be a number, got {value!r}")
        if name in _WHOLE_DAYS:
            low, high = _WHOLE_DAYS[name]
            if value != int(value) or not low <= value <= high:
                raise ValueError(
                    f"ranking weight {key!r} must be a whole number of days from {low} to "
                    f"{high}, got {value!r}"
                )
            values[name] = int(value)
        elif name == "recency_divisor":
            if not 0 < value <= MAX_WEIGHT:
                raise ValueError(f"recency_divisor must be above 0, got {value!r}")
            values[name] = float(value)
        else:
            if abs(value) > MAX_WEIGHT:
                raise ValueError(
                    f"ranking weight {key!r} must be between {-MAX_WEIGHT:g} and "
                    f"{MAX_WEIGHT:g}, got {value!r}"
                )
            values[name] = float(value)
    return RankingWeights(**values)


@dataclass(frozen=True)
class RankInput:
    account_id: int
    dpd: int
    overdue_amount: int
    days_since_contact: int | None = None  # None: never contacted
    callback_due: bool = False
    broken_promise: bool = False
    right_party_contacts: int = 0
    attempts_today: int = 0


def score(x: RankInput, w: RankingWeights = RankingWeights()) -> tuple[float, dict[str, float]]:
    """The entry's score and its non-zero components (rounded as the score is)."""
    bucket_index = int(bucket_of(x.dpd)[1:])
    recency_days = w.recency_cap_days if x.days_since_contact is None else x.days_since_contact
    components = {
        "callback": w.callback if x.callback_due else 0.0,
        "broken": w.broken_promise if x.broken_promise else 0.0,
        "bucket": w.per_bucket * bucket_index,
        "amount": w.amount * math.log10(1 + max(0, x.overdue_amount) / AMOUNT_UNIT),
        "recency": min(max(0, recency_days), w.recency_cap_days) / w.recency_divisor,
        "rpc": w.rpc_history if x.right_party_contacts > 0 else 0.0,
        "attempts": w.per_attempt_today * x.attempts_today,
    }
    components = {k: round3(v) for k, v in components.items()}
    components = {k: v for k, v in components.items() if v}
    return round3(sum(components.values())), components


def rank(
    inputs: list[RankInput], w: RankingWeights = RankingWeights()
) -> list[tuple[RankInput, float, dict[str, float]]]:
    """Inputs scored and sorted best first (ties: higher DPD, then lower account id)."""
    scored = [(x, *score(x, w)) for x in inputs]
    scored.sort(key=lambda t: (-t[1], -t[0].dpd, t[0].account_id))
    return scored
