"""Engine, sessions and the declarative Base. Migrations live in dialer/migrations (Alembic)."""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from dialer.config import Settings

# Stable constraint names so Alembic migrations read the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite keeps no zone), always returned timezone-aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _null_safe(function: Callable[[float], float]) -> Callable[[float | None], float | None]:
    """An SQL function as SQLite's own behave: NULL in, or a value out of range, gives NULL."""

    def call(value: float | None) -> float | None:
        try:
            return None if value is None else function(value)
        except (ValueError, OverflowError):
            return None

    return call


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL + busy timeout: web, worker and pacer processes share one file.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    try:
        cursor.execute("SELECT log10(1.0), floor(1.5)")
    except sqlite3.OperationalError:
        # SQLite built without its math functions: the campaign builder ranks with these.
        # Python's are the C library's, as SQLite's own would be, so scores do not change.
        for name, function in (("log10", math.log10), ("floor", math.floor)):
            dbapi_connection.create_function(  # type: ignore[attr-defined]
                name, 1, _null_safe(function), deterministic=True
            )
    cursor.close()


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        path = database_url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: error messages must not quote phone numbers or national IDs.
        engine = create_engine(database_url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        database_url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True
    )


# Work that must follow a commit (Redis follow-ups, events), registered on the session by
# on_commit() and run by the hooks below, as Zulip's transaction.on_commit does: a
# rollback forgets it, so Redis never hears of a change SQL did not keep.
_ON_COMMIT = "dialer_on_commit"


def on_commit(session: Session, work: Callable[[], object]) -> None:
    """Run `work` once the session's current transaction has committed (never on rollback)."""
    session.info.setdefault(_ON_COMMIT, []).append(work)


def _run_after_commit(session: Session) -> None:
    pending = session.info.pop(_ON_COMMIT, [])
    for work in pending:
        work()


def _forget_after_rollback(session: Session, previous_transaction: object) -> None:
    if getattr(previous_transaction, "parent", None) is None:  # the outermost transaction
        session.info.pop(_ON_COMMIT, None)


event.listen(Session, "after_commit", _run_after_commit)
event.listen(Session, "after_soft_rollback", _forget_after_rollback)


class Database:
    """One engine and session factory per process (re-created after fork, e.g. in RQ)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pid = os.getpid()
        self.engine = make_engine(settings.database_url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            # A forked child must not reuse the parent's pooled connections.
            self.engine.dispose(close=False)
            self._pid = os.getpid()

    def session(self) -> Session:
        self._check_fork()
        return self.sessionmaker()

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        self._check_fork()
        with self.sessionmaker.begin() as session:
            yield session


_databases: dict[str, Database] = {}


def get_database(settings: Settings) -> Database:
    """The process's Database for these settings (cached by URL)."""
    db = _databases.get(settings.database_url)
    if db is None:
        db = _databases[settings.database_url] = Database(settings)
    return db


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply Alembic migrations up to revision."""
    from alembic import command

    with get_database(settings).engine.begin() as connection:
        cfg = alembic_config(settings)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def alembic_config(settings: Settings):  # -> alembic.config.Config
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return cfg
