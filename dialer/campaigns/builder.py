"""The builder: select a campaign's accounts, rank them and write its entries (SQL), then
load the dial queue (Redis).

Both halves are set-based, so a portfolio of a million accounts builds in seconds:
`build_entries` writes the filtered accounts' facts to a temporary table (one INSERT ...
SELECT joining the portfolio's tables once), counts the exclusions by rule from it, and
writes the entries with one INSERT ... SELECT that computes every score component and the
rank in SQL; `load_queue` streams the entries back and sends them to Redis in pipelined
chunks. docs/ranking.md explains the score, the filters and the exclusions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Float,
    FromClause,
    Insert,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session

from dialer.campaigns.compliance import Profile, may_call_relation
from dialer.campaigns.errors import CampaignError
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry, DncNumber
from dialer.campaigns.ranking import AMOUNT_UNIT, BUCKETS, COMPONENTS, RankingWeights, weights_from
from dialer.clock import local_day_start
from dialer.db import UTCDateTime, on_commit
from dialer.messages import N_, Message
from dialer.outcomes import referrals
from dialer.outcomes.models import ActionCode, Callback, Disposition, Promise, Referral
from dialer.portfolio.models import PHONE_RELATIONS, Account, AccountList, AccountListMember, Phone
from dialer.redis import Keys

ANALYZE_AFTER = 50_000  # entries of one build past which PostgreSQL's statistics are refreshed
FILTER_KEYS = (
    "dpd_min",
    "dpd_max",
    "buckets",
    "products",
    "branches",
    "min_overdue_amount",
    "broken_promise",
    "callbacks_due",
    "account_list",
)
BUCKET_NAMES = tuple(name for name, _, _ in BUCKETS)
# Why an account the filters chose gets no entry, in the order the rules are checked: an
# account is counted under the first rule it fails. The names are the dial-time rules'.
EXCLUSION_RULES = (
    "account_closed",
    "nothing_overdue",
    "suppressed",
    "referred",
    "no_callable_phone",
    "daily_attempt_limit",
)
LOAD_CHUNK = 10_000  # entries per SQL fetch and per Redis round trip
BUILD_STEPS = 3  # what build_entries' progress counts: facts selected, counted, ranked
# Entries of equal score leave the queue in build rank order (higher DPD, then lower
# account id): load_queue adds less than this to each Redis score, more for a better rank.
# Scores are multiples of 0.001, so this can never lift an entry past a higher score.
TIE_SPAN = 0.0005


def validate_filters(filters: dict[str, Any], session: Session | None = None) -> dict[str, Any]:
    """Check campaign filters; returns them cleaned or raises CampaignError.

    With a session, a saved account list must also exist."""
    if not isinstance(filters, dict):
        raise CampaignError("filters must be an object")
    unknown = set(filters) - set(FILTER_KEYS)
    if unknown:
        raise CampaignError(
            f"unknown filter(s) {', '.join(sorted(unknown))}; known: {', '.join(FILTER_KEYS)}"
        )
    clean: dict[str, Any] = {}
    for key in ("dpd_min", "dpd_max", "min_overdue_amount"):
        if filters.get(key) is not None:
            value = filters[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise CampaignError(
                    Message(
                        N_("{key} must be a whole number >= 0, got {value}"),
                        about=key,
                        key=key,
                        value=repr(value),
                    )
                )
            clean[key] = value
    if "dpd_min" in clean and "dpd_max" in clean and clean["dpd_min"] > clean["dpd_max"]:
        raise CampaignError(Message(N_("dpd_min is above dpd_max"), about="dpd_min,dpd_max"))
    for key in ("products", "branches", "buckets"):
        if filters.get(key):
            values = filters[key]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise CampaignError(
                    Message(N_("{key} must be a list of names"), about=key, key=key)
                )
            clean[key] = list(dict.fromkeys(values))
    if "buckets" in clean:
        clean["buckets"] = _clean_buckets(clean["buckets"], clean)
    for key in ("broken_promise", "callbacks_due"):
        value = filters.get(key)
        if value is not None and not isinstance(value, bool):
            raise CampaignError(f"{key} must be true or false, got {value!r}")
        if value:
            clean[key] = True
    if filters.get("account_list") is not None:
        name = filters["account_list"]
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
            raise CampaignError(
                Message(
                    N_("account_list must be the name of a saved account list"),
                    about="account_list",
                )
            )
        clean["account_list"] = name.strip()
        if session is not None:
            _account_list_id(session, clean["account_list"])
    return clean


def _clean_buckets(names: list[str], clean: dict[str, Any]) -> list[str]:
    """Known bucket names in bucket order; refused when no DPD of them is in dpd_min/max."""
    strangers = [n for n in names if n.upper() not in BUCKET_NAMES]
    if strangers:
        raise CampaignError(
            f"unknown bucket(s) {', '.join(strangers)}; known: {', '.join(BUCKET_NAMES)}"
        )
    wanted = {n.upper() for n in names}
    buckets = [b for b in BUCKETS if b[0] in wanted]
    low, high = clean.get("dpd_min", -(10**9)), clean.get("dpd_max", 10**9)
    if not any(b_low <= high and low <= b_high for _, b_low, b_high in buckets):
        raise CampaignError(
            Message(
                N_("buckets {buckets} hold no DPD between dpd_min and dpd_max"),
                about="buckets",
                buckets=", ".join(b[0] for b in buckets),
            )
        )
    return [b[0] for b in buckets]


def _account_list_id(session: Session, name: str) -> int:
    list_id = session.scalar(select(AccountList.id).where(AccountList.name == name))
    if list_id is None:
        raise CampaignError(
            Message(
                N_("no saved account list {name} (save one with `dialer accounts list-save`)"),
                about="account_list",
                name=repr(name),
            )
        )
    return list_id


def _dpd_ranges(buckets: list[str]) -> list[tuple[int, int]]:
    """The buckets' DPD ranges, adjacent ones merged (B1 + B2 = 1..60)."""
    ranges: list[tuple[int, int]] = []
    for name, low, high in BUCKETS:
        if name not in buckets:
            continue
        if ranges and ranges[-1][1] + 1 == low:
            ranges[-1] = (ranges[-1][0], high)
        else:
            ranges.append((low, high))
    return ranges


@dataclass(frozen=True)
class BuildResult:
    entries: int
    excluded: dict[str, int] = field(default_factory=dict)  # rule -> accounts left out


def _round3(value: ColumnElement[Any]) -> ColumnElement[float]:
    """ranking.round3 in SQL: the same IEEE operations, so the same double."""
    return func.floor(value * _f(1000.0) + _f(0.5)) / _f(1000.0)


def _f(value: float) -> ColumnElement[float]:
    """A float parameter (never an integer or NUMERIC one: the arithmetic must be double)."""
    return literal(float(value), Float)


def _bucket_index(dpd: ColumnElement[int]) -> ColumnElement[int]:
    """The DPD bucket's number (B3 -> 3), from ranking.BUCKETS."""
    whens = [(dpd <= high, int(name[1:])) for name, _, high in BUCKETS[:-1]]
    return case(*whens, else_=int(BUCKETS[-1][0][1:]))


def _days_since(last: ColumnElement[datetime], now: datetime, cap: int) -> ColumnElement[int]:
    """Whole days from `last` to now, as timedelta.days counts them, at most `cap`.

    Compared with exact cut-offs computed here rather than subtracting timestamps in SQL:
    the engines differ in how they subtract, and julianday() is not exact to the
    microsecond, so an account contacted exactly N days ago could count N-1."""
    whens = [(last > _at(now - timedelta(days=k + 1)), k) for k in range(cap)]
    return case((last.is_(None), cap), *whens, else_=cap)


def _at(moment: datetime) -> ColumnElement[datetime]:
    return literal(moment, UTCDateTime)


# One row per account the filters choose: the facts the rules and the score need. Written
# once per build, so the exclusion counts and the ranked INSERT read it instead of joining
# the portfolio's tables twice. A temporary table: private to the connection, and gone
# with it (dropped at the end of the build anyway).
_facts = Table(
    "campaign_build_facts",
    MetaData(),
    Column("account_id", Integer, nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("overdue_amount", BigInteger, nullable=False),
    Column("rule", String(32)),  # the first exclusion rule the account fails; NULL: eligible
    Column("callback_due", Integer, nullable=False),
    Column("broken_promise", Integer, nullable=False),
    Column("recency_days", Integer, nullable=False),  # whole days, capped
    Column("rpc", Integer, nullable=False),
    Column("attempts_today", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


def _select_facts(
    session: Session,
    filters: dict[str, Any],
    weights: RankingWeights,
    profile: Profile,
    now: datetime,
    today: date,
    day_start: datetime,
) -> Select[Any]:
    """The SELECT of _facts' rows: the filtered accounts joined to what is known of them."""
    # Facts per account as aggregates joined once (hash joins on PostgreSQL, one transient
    # index each on SQLite): correlated subqueries would run once per account.
    relations = [r for r in PHONE_RELATIONS if may_call_relation(profile, r)]
    callable_phones = (
        select(Phone.account_id.label("account_id"))
        .where(
            Phone.dialable.is_(True),
            Phone.relation.in_(relations),
            not_(exists().where(DncNumber.number == Phone.number)),
        )
        .group_by(Phone.account_id)
        .subquery("callable_phones")
    )
    referred = (
        select(Referral.account_id.label("account_id"))
        .where(Referral.state.in_(referrals.HOLD_STATES))  # open or accepted: held
        .group_by(Referral.account_id)
        .subquery("referred")
    )
    contacts = (
        select(
            Disposition.account_id.label("account_id"),
            func.max(Disposition.created_at).label("last_contact"),
            func.max(case((ActionCode.is_right_party.is_(True), 1), else_=0)).label("rpc"),
        )
        .join(ActionCode, ActionCode.code == Disposition.code)
        .where(ActionCode.is_contact.is_(True))
        .group_by(Disposition.account_id)
        .subquery("contacts")
    )
    attempts = (
        select(CallAttempt.account_id.label("account_id"), func.count().label("n"))
        .where(CallAttempt.created_at >= _at(day_start), CallAttempt.call_sid.is_not(None))
        .group_by(CallAttempt.account_id)
        .subquery("attempts_today")
    )
    callbacks = (
        select(Callback.account_id.label("account_id"))
        .where(Callback.state == "scheduled", Callback.due_at <= _at(now))
        .group_by(Callback.account_id)
        .subquery("callbacks_due")
    )
    # "Broken yesterday", widened to a few days: the promise evaluation marks a promise
    # broken once its due date has passed unpaid, so a recent due date is a recent break,
    # and a weekend or a missed evaluation run does not lose it.
    broken = (
        select(Promise.account_id.label("account_id"))
        .where(
            Promise.state == "broken",
            Promise.due_date >= today - timedelta(days=weights.broken_promise_days),
        )
        .group_by(Promise.account_id)
        .subquery("broken_promises")
    )
    source: FromClause = Account.__table__
    for sub in (callable_phones, referred, contacts, attempts, callbacks, broken):
        source = source.outerjoin(sub, sub.c.account_id == Account.id)

    where: list[ColumnElement[bool]] = []
    if filters.get("account_list"):
        list_id = _account_list_id(session, filters["account_list"])
        members = AccountListMember.__table__
        source = source.join(
            members, and_(members.c.account_id == Account.id, members.c.list_id == list_id)
        )
    if "dpd_min" in filters:
        where.append(Account.dpd >= filters["dpd_min"])
    if "dpd_max" in filters:
        where.append(Account.dpd <= filters["dpd_max"])
    if filters.get("buckets"):
        where.append(
            or_(*(Account.dpd.between(low, high) for low, high in _dpd_ranges(filters["buckets"])))
        )
    if "min_overdue_amount" in filters:
        where.append(Account.overdue_amount >= filters["min_overdue_amount"])
    if filters.get("products"):
        where.append(Account.product.in_(filters["products"]))
    if filters.get("branches"):
        where.append(Account.branch.in_(filters["branches"]))
    if filters.get("broken_promise"):
        where.append(broken.c.account_id.is_not(None))
    if filters.get("callbacks_due"):
        where.append(callbacks.c.account_id.is_not(None))

    attempts_today = func.coalesce(attempts.c.n, 0)
    daily = profile.max_attempts_per_account_per_day  # None: the profile has no daily cap
    exclusions = {
        "account_closed": Account.status != "active",
        "nothing_overdue": Account.overdue_amount <= 0,
        "suppressed": Account.suppressed_until >= today,
        "referred": referred.c.account_id.is_not(None),
        "no_callable_phone": callable_phones.c.account_id.is_(None),
        "daily_attempt_limit": attempts_today >= daily if daily is not None else false(),
    }
    assert tuple(exclusions) == EXCLUSION_RULES
    rule = case(*((cond, literal(name, String)) for name, cond in exclusions.items())).label("rule")
    return (
        select(
            Account.id,
            Account.dpd,
            Account.overdue_amount,
            rule,
            case((callbacks.c.account_id.is_not(None), 1), else_=0),
            case((broken.c.account_id.is_not(None), 1), else_=0),
            _days_since(contacts.c.last_contact, now, weights.recency_cap_days),
            func.coalesce(contacts.c.rpc, 0),
            attempts_today,
        )
        .select_from(source)
        .where(*where)
    )


def _components(w: RankingWeights) -> dict[str, ColumnElement[float]]:
    """The score's components over _facts, rounded. Each line is ranking.score's, term for
    term, operand for operand (a test holds the two equal on SQLite and PostgreSQL)."""
    f = _facts.c
    overdue = cast(f.overdue_amount, Float)
    raw = {
        "callback": case((f.callback_due == 1, _f(w.callback)), else_=_f(0.0)),
        "broken": case((f.broken_promise == 1, _f(w.broken_promise)), else_=_f(0.0)),
        "bucket": _f(w.per_bucket) * _bucket_index(f.dpd),
        "amount": _f(w.amount) * func.log10(_f(1.0) + overdue / _f(AMOUNT_UNIT)),
        "recency": f.recency_days / _f(w.recency_divisor),
        "rpc": case((f.rpc > 0, _f(w.rpc_history)), else_=_f(0.0)),
        "attempts": _f(w.per_attempt_today) * f.attempts_today,
    }
    assert tuple(raw) == COMPONENTS
    return {name: _round3(value) for name, value in raw.items()}


def build_entries(
    session: Session,
    campaign: Campaign,
    now: datetime,
    tz: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> BuildResult:
    """Select and rank the eligible accounts and write the campaign's entries (SQL only);
    campaign.build_summary says how many were selected and why others were left out.
    `progress`, when given, hears each of the BUILD_STEPS done (1, 2, 3): each is one
    set-based statement, so that is as fine as it can follow them."""
    step = progress or (lambda done: None)
    from dialer.campaigns.service import effective_profile  # service imports this module

    filters = validate_filters(campaign.filters or {}, session=session)
    try:
        weights = weights_from(campaign.ranking)
    except ValueError as exc:
        raise CampaignError(str(exc)) from None
    today = now.astimezone(ZoneInfo(tz)).date()
    facts = _select_facts(
        session,
        filters,
        weights,
        effective_profile(campaign),
        now,
        today,
        local_day_start(now, tz),
    )
    session.flush()
    conn = session.connection()
    # A build that failed left the table behind only where DDL escaped its rollback (SQLite
    # runs a CREATE before the first write outside the transaction): dropped here, not in
    # a `finally`, which on PostgreSQL would fail in the aborted transaction and hide why.
    _facts.drop(conn, checkfirst=True)
    _facts.create(conn)
    with _sqlite_cache(conn):
        conn.execute(insert(_facts).from_select([c.name for c in _facts.c], facts))
        step(1)
        counts = dict(
            conn.execute(select(_facts.c.rule, func.count()).group_by(_facts.c.rule)).all()
        )
        step(2)
        conn.execute(_insert_entries(campaign.id, weights, now))
        step(3)
    _facts.drop(conn)
    # The eligible accounts (no rule) are the entries written; a driver's rowcount for an
    # INSERT ... SELECT is not reliable (-1 on PostgreSQL with psycopg).
    entries = counts.get(None, 0)
    excluded = {name: counts[name] for name in EXCLUSION_RULES if counts.get(name)}
    campaign.build_summary = {"selected": entries, "excluded": excluded}
    session.flush()
    if entries >= ANALYZE_AFTER and conn.dialect.name == "postgresql":
        # A large build changes the table's shape at once; the planner's statistics would
        # wait for autovacuum (a minute or more), and until then the console's entries
        # pages are planned as if the campaign were empty (a sort of all of it, not an
        # index walk). ANALYZE samples the table once the entries are committed.
        engine = conn.engine
        on_commit(session, lambda: _analyze_entries(engine))
    return BuildResult(entries=entries, excluded=excluded)


def _analyze_entries(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        c.exec_driver_sql("ANALYZE campaign_entries")
        c.commit()


def count_matching(
    session: Session,
    *,
    filters: dict[str, Any],
    ranking: dict[str, Any] | None,
    profile: Profile,
    now: datetime,
    tz: str,
) -> BuildResult:
    """What a launch with these settings would select now, without writing anything: the
    accounts it would dial and those each rule would leave out (the campaign form's live
    count). The same SELECT as build_entries."""
    filters = validate_filters(filters, session=session)
    try:
        weights = weights_from(ranking)
    except ValueError as exc:
        raise CampaignError(str(exc)) from None
    today = now.astimezone(ZoneInfo(tz)).date()
    facts = _select_facts(
        session, filters, weights, profile, now, today, local_day_start(now, tz)
    ).subquery("facts")
    counts = dict(session.execute(select(facts.c.rule, func.count()).group_by(facts.c.rule)).all())
    excluded = {name: counts[name] for name in EXCLUSION_RULES if counts.get(name)}
    return BuildResult(entries=counts.get(None, 0), excluded=excluded)


def _insert_entries(campaign_id: int, weights: RankingWeights, now: datetime) -> Insert:
    """INSERT ... SELECT of the eligible accounts' entries, scored and ranked."""
    components = _components(weights)
    scored = (
        select(
            _facts.c.account_id,
            _facts.c.dpd,
            *(value.label(f"score_{name}") for name, value in components.items()),
        )
        .where(_facts.c.rule.is_(None))
        .subquery("scored")
    )
    total = scored.c[f"score_{COMPONENTS[0]}"]
    for name in COMPONENTS[1:]:
        total = total + scored.c[f"score_{name}"]  # left to right, as ranking.score sums
    summed = select(scored, _round3(total).label("score")).subquery("summed")
    ranked = select(
        literal(campaign_id, Integer),
        summed.c.account_id,
        summed.c.score,
        *(summed.c[f"score_{name}"] for name in COMPONENTS),
        func.row_number().over(
            order_by=(summed.c.score.desc(), summed.c.dpd.desc(), summed.c.account_id)
        ),
        literal("queued", String),
        literal(0, Integer),
        _at(now),
        _at(now),
    ).order_by(summed.c.account_id)  # the entries' indexes then grow in order: faster
    columns = [
        "campaign_id",
        "account_id",
        "score",
        *(f"score_{name}" for name in COMPONENTS),
        "rank",
        "state",
        "attempts",
        "created_at",
        "updated_at",
    ]
    return insert(CampaignEntry.__table__).from_select(columns, ranked)


SQLITE_BUILD_CACHE_KIB = 256 * 1024


@contextmanager
def _sqlite_cache(conn: Connection) -> Iterator[None]:
    """On SQLite, a larger page cache for the build's sorts and index writes (the default
    2 MB makes a million-entry build spill and re-read pages); restored afterwards."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BUILD_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def queue_score(score: float, rank: int | None, ranked: int) -> float:
    """The entry's score in the Redis dial queue: its score plus its rank's tie-break."""
    if rank is None or ranked <= 0:
        return score
    return score + TIE_SPAN * (ranked - rank + 1) / (ranked + 1)


def load_queue(
    session: Session,
    r: redis.Redis,
    campaign_id: int,
    now: datetime,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Load the campaign's queued entries from SQL into Redis: due ones (no not_before, or
    passed) into the dial queue, the others into the retry set at their time. Streams the
    rows and pipelines the writes in chunks, so memory stays flat at any size; adds to
    what Redis holds (the caller clears the keys first for a rebuild). Returns how many.
    `progress`, when given, hears how many are loaded after each chunk."""
    e = CampaignEntry.__table__.c
    conn = session.connection()
    ranked = conn.scalar(select(func.max(e.rank)).where(e.campaign_id == campaign_id)) or 0
    queued = and_(e.campaign_id == campaign_id, e.state == "queued")
    due = or_(e.not_before.is_(None), e.not_before <= _at(now))
    loaded = 0

    def commands() -> Iterator[bytes]:
        nonlocal loaded
        # Core rows, not ORM objects, and the (few) retries apart: seconds less a million.
        rows = conn.execute(
            select(e.id, e.score, e.rank).where(queued, due).execution_options(yield_per=LOAD_CHUNK)
        )
        for chunk in rows.partitions():
            yield _command(
                b"ZADD",
                Keys.dial_queue(campaign_id),
                [(queue_score(score, rank, ranked), i) for i, score, rank in chunk],
            )
            loaded += len(chunk)
            if progress is not None:
                progress(loaded)
        rows = conn.execute(
            select(e.id, e.score, e.rank, e.not_before)
            .where(queued, not_(due))
            .execution_options(yield_per=LOAD_CHUNK)
        )
        for chunk in rows.partitions():
            yield _command(
                b"ZADD",
                Keys.retry(campaign_id),
                [(row.not_before.timestamp(), row.id) for row in chunk],
            )
            yield _command(
                b"HSET",
                Keys.retry_scores(campaign_id),
                [(row.id, queue_score(row.score, row.rank, ranked)) for row in chunk],
            )
            loaded += len(chunk)
            if progress is not None:
                progress(loaded)

    _send_pipelined(r, commands())
    return loaded


def _command(name: bytes, key: str, pairs: Iterable[tuple[float | int, float | int]]) -> bytes:
    """`name key a1 b1 a2 b2 ...` (ZADD, HSET) in the Redis protocol (RESP).

    Packed here, one formatting per pair, rather than by redis-py, which encodes each
    argument through several Python calls: for a million entries that was most of the
    load's time. repr() of a float is its shortest exact form, which Redis parses back."""
    body = [f"${len(a := repr(x))}\r\n{a}\r\n${len(b := repr(y))}\r\n{b}\r\n" for x, y in pairs]
    head = f"*{2 + 2 * len(body)}\r\n${len(name)}\r\n{name.decode()}\r\n${len(key)}\r\n{key}\r\n"
    return (head + "".join(body)).encode()


def _send_pipelined(r: redis.Redis, commands: Iterable[bytes], unread: int = 2) -> None:
    """Send packed commands on one connection, reading each reply only once the next
    command is sent, so Redis stores one chunk while Python prepares the next. An error
    reply raises (redis.ResponseError) after the connection is dropped: replies may be
    left unread on it."""
    pool = r.connection_pool
    connection = pool.get_connection()
    waiting = 0
    try:
        for command in commands:
            connection.send_packed_command([command], check_health=False)
            waiting += 1
            if waiting >= unread:
                connection.read_response()
                waiting -= 1
        while waiting:
            connection.read_response()
            waiting -= 1
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)
