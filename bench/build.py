"""Campaign build throughput: `python bench/build.py --accounts 1000000`.

Generates a portfolio in SQL (set-based INSERT ... SELECT, not timed): accounts with a mix
of DPD, amounts, products and branches, phones (--phones-per-account on average, some not
dialable, some references, some on the DNC list), and a history that gives the builder's
joins work: past calls and dispositions (contacts, right-party contacts, attempts today),
promises (some broken), callbacks (some due), open referrals, suppressions, closed
accounts. Then launches one campaign over all of it and times `build_entries` + commit
(select, rank, insert the entries) and `load_queue` (stream them into Redis), and prints
accounts ranked and queued per second and the peak memory (RSS high-water mark).

SQLite in a temporary directory and an embedded Redis by default; --database-url and
--redis-url point it elsewhere (an empty database: it refuses one with tables).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    case,
    cast,
    func,
    insert,
    inspect,
    literal,
    null,
    select,
)

from dialer.campaigns import builder, queue, reports
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry, DncNumber
from dialer.campaigns.ranking import COMPONENTS
from dialer.config import load_settings
from dialer.console.reports import funnel, hourly, promise_age, referral_lists
from dialer.db import Database, UTCDateTime, get_database, upgrade
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import Callback, Disposition, Promise, Referral
from dialer.portfolio.models import Account, Phone
from dialer.redis import get_redis, stop_embedded

TZ = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 09:00 in Hanoi
TODAY = date(2026, 11, 24)
PRODUCTS = ("card", "cash_loan", "auto", "consumer", "mortgage")
HISTORY_DAYS = 40  # past calls spread over this many days (day 0: today)


def _pick(n: Any, values: tuple[Any, ...], type_: Any = String) -> Any:
    """values[n % len(values)] in SQL, as a CASE of bound parameters (dialect-neutral)."""
    return case(
        *((n % len(values) == i, literal(v, type_)) for i, v in enumerate(values)),
        else_=literal(values[0], type_),
    )


def _mix(n: Any, k: int, modulo: int) -> Any:
    """A cheap deterministic scramble of n into 0..modulo-1 (same on every engine; 64-bit,
    since n x k passes PostgreSQL's 32-bit integer for a million accounts)."""
    return (cast(n, BigInteger) * k + 12_345) % modulo


def generate(db: Database, accounts: int, phones_per_account: float) -> dict[str, int]:
    """Fill the empty database with the portfolio and its history; row counts by table."""
    with db.begin() as s:
        seed_default_codes(s)
    acc = Account.__table__
    seq = select(literal(1, Integer).label("n")).cte("seq", recursive=True)
    seq = seq.union_all(select(seq.c.n + 1).where(seq.c.n < accounts))
    n = seq.c.n
    skew = _mix(n, 7_919, 400)
    stamp = literal(NOW, UTCDateTime)
    with db.begin() as s:
        s.execute(
            insert(acc).from_select(
                [
                    "account_no",
                    "customer_name",
                    "product",
                    "overdue_amount",
                    "principal_outstanding",
                    "dpd",
                    "branch",
                    "currency",
                    "status",
                    "suppressed_until",
                    "created_at",
                    "updated_at",
                    "keypad_no",
                ],
                select(
                    literal("B", String) + cast(n, String),
                    literal("Khách hàng ", String) + cast(n, String),
                    _pick(n, PRODUCTS),
                    # 300 000 .. ~1 billion đồng, skewed to small amounts
                    300_000 + _mix(n, 104_729, 1_000) * (_mix(n, 31, 97) + 1) * 10_000,
                    (300_000 + _mix(n, 104_729, 1_000) * 20_000) * 8,
                    # 1..400 DPD, most accounts in the early buckets
                    1 + skew * skew // 400,
                    literal("BR", String) + cast(n % 40, String),
                    literal("VND", String),
                    case((n % 50 == 0, "closed"), else_="active"),
                    case(
                        (n % 37 == 0, literal(TODAY + timedelta(days=3), Date)),
                        else_=literal(None, Date),
                    ),
                    stamp,
                    stamp,
                    cast(n, String),  # the digits of B<n> (models.keypad_digits)
                ).select_from(seq),
            )
        )
    _phones(db, phones_per_account)
    _history(db)
    with db.session() as s:
        tables = (Account, Phone, DncNumber, CallAttempt, Disposition, Promise, Callback, Referral)
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) for t in tables}


def _phones(db: Database, per_account: float) -> None:
    """Slot 0 is every account's mobile; slot k > 0 exists for a share of accounts so the
    average is per_account. Slot 1 is a reference for a quarter of them."""
    whole, fraction = int(per_account), per_account - int(per_account)
    relations = ("mobile", "home", "work", "reference")
    ph = Phone.__table__
    a = Account.__table__.c
    stamp = literal(NOW, UTCDateTime)
    slots = whole + (1 if fraction > 0 else 0)
    with db.begin() as s:
        for slot in range(slots):
            relation: Any = literal(relations[min(slot, 3)], String)
            if slot == 1:
                relation = case((a.id % 4 == 0, "reference"), else_="home")
            where = []
            if slot >= whole:  # the partial slot
                where.append(_mix(a.id, 7_877, 1_000) < round(fraction * 1_000))
            number = literal("+849", String) + cast(10_000_000 + a.id * 4 + slot, String)
            s.execute(
                insert(ph).from_select(
                    [
                        "account_id",
                        "number",
                        "raw",
                        "relation",
                        "priority",
                        "dialable",
                        "reason",
                        "created_at",
                        "updated_at",
                    ],
                    select(
                        a.id,
                        number,
                        number,
                        relation,
                        literal(slot, Integer),
                        # a mobile in 29 is invalid; with no other phone, no callable phone
                        a.id % 29 != 0 if slot == 0 else literal(True),
                        case((a.id % 29 == 0, "invalid"), else_=null()) if slot == 0 else null(),
                        stamp,
                        stamp,
                    ).where(*where),
                )
            )
        s.execute(
            insert(DncNumber.__table__).from_select(
                ["number", "reason", "source", "created_at"],
                select(ph.c.number, literal("opt-out"), literal("import"), stamp).where(
                    ph.c.id % 211 == 0
                ),
            )
        )


def _history(db: Database) -> None:
    """Past calls on every fifth account, over the last HISTORY_DAYS days, with their
    dispositions, promises (a third of the recent ones broken), callbacks (half due),
    and open referrals on one account in 97."""
    stamps = tuple(NOW - timedelta(days=d, minutes=d * 7) for d in range(HISTORY_DAYS))
    a = Account.__table__.c
    with db.begin() as s:
        history = Campaign(name="history", state="completed", filters={})
        s.add(history)
        s.flush()
        zeros = {f"score_{c}": literal(0.0) for c in COMPONENTS}
        s.execute(
            insert(CampaignEntry.__table__).from_select(
                [
                    "campaign_id",
                    "account_id",
                    "score",
                    *zeros,
                    "state",
                    "attempts",
                    "created_at",
                    "updated_at",
                ],
                select(
                    literal(history.id),
                    a.id,
                    literal(0.0),
                    *zeros.values(),
                    literal("done"),
                    literal(1),
                    literal(stamps[-1], UTCDateTime),
                    literal(stamps[-1], UTCDateTime),
                ).where(a.id % 5 == 0),
            )
        )
        e, p = CampaignEntry.__table__.c, Phone.__table__.c
        when = _pick(e.account_id, stamps, UTCDateTime)
        s.execute(
            insert(CallAttempt.__table__).from_select(
                [
                    "campaign_id",
                    "entry_id",
                    "account_id",
                    "phone_id",
                    "call_sid",
                    "status",
                    "result",
                    "created_at",
                    "ended_at",
                ],
                select(
                    e.campaign_id,
                    e.id,
                    e.account_id,
                    p.id,
                    literal("CA", String) + cast(e.id, String),
                    literal("completed"),
                    literal("human"),
                    when,
                    when,
                )
                .join_from(CampaignEntry.__table__, Phone.__table__, p.account_id == e.account_id)
                .where(p.priority == 0),
            )
        )
        t = CallAttempt.__table__.c
        codes = ("PTP", "CAB", "NCP", "HUP", "PTP", "NKP")
        s.execute(
            insert(Disposition.__table__).from_select(
                ["attempt_id", "account_id", "code", "set_by", "created_at"],
                select(
                    t.id,
                    t.account_id,
                    _pick(t.account_id // 5, codes),
                    literal("agent"),
                    t.created_at,
                ),
            )
        )
        d = Disposition.__table__.c
        due = tuple(TODAY - timedelta(days=k) for k in range(1, 15))
        s.execute(
            insert(Promise.__table__).from_select(
                ["account_id", "disposition_id", "amount", "due_date", "state", "created_at"],
                select(
                    d.account_id,
                    d.id,
                    literal(1_000_000),
                    _pick(d.id, due, Date),
                    case((d.id % 3 == 0, "broken"), else_="kept"),
                    d.created_at,
                ).where(d.code == "PTP"),
            )
        )
        s.execute(
            insert(Callback.__table__).from_select(
                ["account_id", "disposition_id", "due_at", "state", "created_at"],
                select(
                    d.account_id,
                    d.id,
                    case(
                        (d.id % 2 == 0, literal(NOW - timedelta(hours=1), UTCDateTime)),
                        else_=literal(NOW + timedelta(days=1), UTCDateTime),
                    ),
                    literal("scheduled"),
                    d.created_at,
                ).where(d.code == "CAB"),
            )
        )
        s.execute(
            insert(Referral.__table__).from_select(
                ["account_id", "kind", "state", "created_at"],
                select(a.id, literal("field"), literal("open"), literal(NOW, UTCDateTime)).where(
                    a.id % 97 == 0
                ),
            )
        )


def _mb(kilobytes: int) -> int:
    return round(kilobytes / 1024)


def _ms(read) -> float:
    """The slower of two runs of a report read, in milliseconds (the first warms the cache)."""
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        read()
        times.append((time.perf_counter() - t0) * 1000)
    return round(max(times), 1)


def time_reports(s: Any, campaign_id: int) -> dict[str, float]:
    """The console's entries report on the campaign just built: pages of 50 in dial order
    (first, at offset 500,000, after a cursor in the middle and at the end), a page of one
    state after a cursor, and one account's place with its score explained."""
    tz = TZ
    entries = s.scalar(
        select(func.count())
        .select_from(CampaignEntry)
        .where(CampaignEntry.campaign_id == campaign_id)
    )
    middle = reports.list_entries(s, campaign_id, tz=tz, limit=1, offset=entries // 2)[0]
    last = reports.list_entries(s, campaign_id, tz=tz, limit=1, offset=max(entries - 2, 0))[0]
    account_no = middle["account_no"]
    campaign = s.get(Campaign, campaign_id)
    return {
        "first_page": _ms(lambda: reports.list_entries(s, campaign_id, tz=tz, limit=50)),
        "offset_500k": _ms(
            lambda: reports.list_entries(s, campaign_id, tz=tz, limit=50, offset=500_000)
        ),
        "after_middle": _ms(
            lambda: reports.list_entries(s, campaign_id, tz=tz, limit=50, after=middle["cursor"])
        ),
        "after_last": _ms(
            lambda: reports.list_entries(s, campaign_id, tz=tz, limit=50, after=last["cursor"])
        ),
        "state_after_middle": _ms(
            lambda: reports.list_entries(
                s, campaign_id, tz=tz, state="queued", limit=50, after=middle["cursor"]
            )
        ),
        "explain_middle": _ms(lambda: reports.explain_entry(s, campaign, account_no, tz=tz)),
        # The console's reports over the history's month (every campaign, no team: the
        # administrator's view, the largest), and the million-entry campaign's funnel.
        **{
            name: _ms(lambda read=read: read(s))
            for name, read in console_reports(campaign_id).items()
        },
    }


def console_reports(campaign_id: int) -> dict[str, Any]:
    first, last = TODAY - timedelta(days=30), TODAY
    span = {"first": first, "last": last, "tz": TZ, "team": None}
    return {
        "funnel_all_30_days": lambda s: funnel.campaign_funnel(s, **span),
        "funnel_of_the_campaign": lambda s: funnel.campaign_funnel(
            s, **span, campaign_id=campaign_id
        ),
        "promise_age_30_days": lambda s: promise_age.kept_by_age(s, **span, today=TODAY),
        "hourly_30_days": lambda s: hourly.hourly(s, **span),
        "referrals_30_days": lambda s: referral_lists.referrals_by_kind(s, **span, today=TODAY),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-build-"))
    env = {"DIALER_HOME": str(home)}
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    settings = load_settings(env)
    db = get_database(settings)
    if inspect(db.engine).get_table_names():
        raise SystemExit("--database-url points at a database with tables; give it an empty one")
    upgrade(settings)
    r = get_redis(settings)
    try:
        started = time.perf_counter()
        rows = generate(db, args.accounts, args.phones_per_account)
        generated = time.perf_counter() - started
        if db.engine.dialect.name == "postgresql":
            # A month of history is there long before autovacuum has sampled it; a table
            # loaded in one go here is not, and its plans would be planned blind.
            with db.engine.connect() as c:
                c.exec_driver_sql("ANALYZE")
                c.commit()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        with db.session() as s:
            campaign = Campaign(name="bench", filters={}, ranking={})
            s.add(campaign)
            s.commit()
            t0 = time.perf_counter()
            built = builder.build_entries(s, campaign, NOW, TZ)
            s.commit()
            t1 = time.perf_counter()
            queue.clear(r, campaign.id)
            loaded = builder.load_queue(s, r, campaign.id, NOW)
            s.commit()
            t2 = time.perf_counter()
            sizes = queue.sizes(r, campaign.id)
            queue.clear(r, campaign.id)
            report_ms = time_reports(s, campaign.id) if args.reports else {}
        build_s, load_s = t1 - t0, t2 - t1
        return {
            "accounts": args.accounts,
            "phones": rows["phones"],
            "database": settings.database_url.split(":")[0],
            "generated_seconds": round(generated, 1),
            "history_rows": {k: v for k, v in rows.items() if k not in ("accounts", "phones")},
            "entries": built.entries,
            "excluded": built.excluded,
            "queued_in_redis": sizes["queued"] + sizes["retry"],
            "build_seconds": round(build_s, 2),
            "load_seconds": round(load_s, 2),
            "total_seconds": round(build_s + load_s, 2),
            "accounts_ranked_per_second": round(args.accounts / build_s),
            "entries_queued_per_second": round(loaded / load_s) if load_s else None,
            "accounts_per_second_total": round(args.accounts / (build_s + load_s)),
            "rss_before_build_mb": _mb(rss_before),
            "peak_rss_mb": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
            "report_ms": report_ms,
        }
    finally:
        db.engine.dispose()
        if not args.redis_url:
            stop_embedded(settings)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--phones-per-account", type=float, default=1.6)
    parser.add_argument("--database-url", help="an empty database (default: scratch SQLite)")
    parser.add_argument("--redis-url", help="default: an embedded redis-server")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--reports", action="store_true", help="then time the entries report's pages"
    )
    args = parser.parse_args()
    if (
        args.accounts < 1
        or not 1 <= args.phones_per_account <= 4
        or math.isnan(args.phones_per_account)
    ):
        parser.error("--accounts must be >= 1 and --phones-per-account between 1 and 4")
    figures = run(args)
    if args.json:
        print(json.dumps(figures))
        return
    f = figures
    print(
        f"{f['accounts']:,} accounts, {f['phones']:,} phones on {f['database']} "
        f"(generated in {f['generated_seconds']} s, not counted)"
    )
    print(
        f"  build (select + rank + insert, commit) {f['build_seconds']:>7} s  "
        f"{f['accounts_ranked_per_second']:>9,} accounts/s"
    )
    print(
        f"  load queue (SQL -> Redis)              {f['load_seconds']:>7} s  "
        f"{f['entries_queued_per_second']:>9,} entries/s"
    )
    print(
        f"  total                                  {f['total_seconds']:>7} s  "
        f"{f['accounts_per_second_total']:>9,} accounts/s"
    )
    print(f"  entries {f['entries']:,}; excluded {f['excluded']}")
    print(f"  peak RSS {f['peak_rss_mb']} MB ({f['rss_before_build_mb']} MB before the build)")
    for name, ms in f["report_ms"].items():
        print(f"  report {name:<26} {ms:>8} ms")


if __name__ == "__main__":
    main()
