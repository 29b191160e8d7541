"""Ranking: which account is dialed first. Pure functions over plain data.

score = sum of components, each kept so a supervisor can see why an entry ranks where it
does (stored on the entry as score_components):

- callback      1000 when the borrower asked to be called back and the time has come
- broken        500 when a promise to pay broke since the last campaign
- bucket        10 per DPD bucket (B1 = 10 ... B8 = 80): later buckets roll into bad debt
- amount        10 x log10(1 + overdue / 1,000,000 VND): 10 M ~ 10, 100 M ~ 20
- recency       days since the last contact, capped at 30, divided by 3 (up to 10)
- rpc           5 when we have reached the borrower before (the numbers work)
- attempts      -5 per attempt already made today
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def bucket_of(dpd: int) -> str:
    for name, low, high in BUCKETS:
        if low <= dpd <= high:
            return name
    raise ValueError(f"dpd {dpd} outside every bucket")


@dataclass(frozen=True)
class RankingWeights:
    callback: float = 1000.0
    broken_promise: float = 500.0
    per_bucket: float = 10.0
    amount: float = 10.0
    recency_cap_days: int = 30
    recency_divisor: float = 3.0
    rpc_history: float = 5.0
    per_attempt_today: float = -5.0


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
    """The entry's score and its components (rounded for display)."""
    bucket_index = int(bucket_of(x.dpd)[1:])
    recency_days = w.recency_cap_days if x.days_since_contact is None else x.days_since_contact
    components = {
        "callback": w.callback if x.callback_due else 0.0,
        "broken": w.broken_promise if x.broken_promise else 0.0,
        "bucket": w.per_bucket * bucket_index,
        "amount": w.amount * math.log10(1 + max(0, x.overdue_amount) / 1_000_000),
        "recency": min(recency_days, w.recency_cap_days) / w.recency_divisor,
        "rpc": w.rpc_history if x.right_party_contacts > 0 else 0.0,
        "attempts": w.per_attempt_today * x.attempts_today,
    }
    components = {k: round(v, 3) for k, v in components.items() if v}
    return round(sum(components.values()), 3), components


def rank(
    inputs: list[RankInput], w: RankingWeights = RankingWeights()
) -> list[tuple[RankInput, float, dict[str, float]]]:
    """Inputs scored and sorted best first (ties: higher DPD, then lower account id)."""
    scored = [(x, *score(x, w)) for x in inputs]
    scored.sort(key=lambda t: (-t[1], -t[0].dpd, t[0].account_id))
    return scored
