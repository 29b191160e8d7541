from datetime import UTC, datetime, timedelta, timezone

import pytest

from dialer.clock import Clock
from dialer.config import ConfigError, load_settings
from dialer.portfolio.models import Account
from dialer.privacy import mask_national_id, mask_phone, mask_text


def test_settings_embedded_defaults(tmp_path):
    s = load_settings({"DIALER_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'dialer.db'}"
    assert s.redis_url is None
    assert s.public_url == "http://127.0.0.1:8900"


def test_settings_postgres_url_gets_driver(tmp_path):
    s = load_settings({"DIALER_HOME": str(tmp_path), "DATABASE_URL": "postgres://u@h/db"})
    assert s.database_url == "postgresql+psycopg://u@h/db"


def test_settings_reject_bad_numbers(tmp_path):
    with pytest.raises(ConfigError, match="DIALER_SPEED"):
        load_settings({"DIALER_HOME": str(tmp_path), "DIALER_SPEED": "fast"})
    with pytest.raises(ConfigError, match="above 0"):
        load_settings({"DIALER_HOME": str(tmp_path), "DIALER_SPEED": "0"})


def test_secret_key_generated_once_and_no_shared_token_unless_set(tmp_path):
    s = load_settings({"DIALER_HOME": str(tmp_path)})
    assert (
        s.resolved_secret_key()
        == load_settings({"DIALER_HOME": str(tmp_path)}).resolved_secret_key()
    )
    assert len(s.resolved_secret_key()) > 30
    assert s.api_token is None  # the bank's systems get their own tokens


def test_bad_login_limit_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="DIALER_LOGIN_LIMIT_USER"):
        load_settings({"DIALER_HOME": str(tmp_path), "DIALER_LOGIN_LIMIT_USER": "often"})


def test_clock_runs_faster_from_its_origin():
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    clock = Clock.started_now(speed=60, sim_start=start)
    assert start <= clock.now() < start + timedelta(seconds=60)
    assert clock.real_seconds(120) == 2
    assert Clock(**{"speed": 60.0}).real_seconds(-5) == 0


def test_masking_phone_and_national_id():
    assert mask_phone("+84901234567") == "+84******567"
    assert mask_national_id("079123456789") == "*********789"
    text = "dial +84901234567 for CCCD 079123456789 (0912345678), amount 1500000"
    masked = mask_text(text)
    assert "901234567" not in masked and "079123456789" not in masked
    assert "0912345678" not in masked and "1500000" in masked


@pytest.mark.parametrize(
    "written",
    ["0901 234 567", "090.123.4567", "0901-234-567", "84 90 123 4567", "+84 901 234 567"],
)
def test_phone_numbers_written_in_groups_are_masked(written):
    masked = mask_text(f"khách cho số {written} của vợ")
    assert masked.endswith("567 của vợ") and "234" not in masked and "123" not in masked


def test_grouped_cccd_is_masked_and_amounts_are_not():
    assert mask_text("CCCD 001 234 567 890") == "CCCD *********890"
    kept = "hứa trả 100.000.000 đồng, 1 000 000 hôm nay, ngày 01-12-2026, 1.000.000.000.000 ₫"
    assert mask_text(kept) == kept


def test_utc_datetimes_round_trip(session):
    created = datetime(2026, 11, 23, 9, 30, tzinfo=timezone(timedelta(hours=7)))
    session.add(
        Account(
            account_no="A1",
            customer_name="Nguyễn Văn An",
            overdue_amount=1,
            dpd=1,
            created_at=created,
        )
    )
    session.commit()
    got = session.query(Account).one()
    assert got.created_at == created and got.created_at.tzinfo is not None


def test_naive_datetime_is_refused(session):
    session.add(
        Account(
            account_no="A2",
            customer_name="x",
            overdue_amount=1,
            dpd=1,
            created_at=datetime(2026, 1, 1),
        )
    )
    with pytest.raises(Exception, match="naive"):
        session.commit()


def test_redis_is_real(redis_client):
    redis_client.zadd("k", {"a": 1, "b": 2})
    assert redis_client.zpopmax("k") == [(b"b", 2.0)]


def test_log_masking_covers_tracebacks():
    import io
    import logging

    from dialer.privacy import MaskingFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("test.masking")
    log.addHandler(handler)
    try:
        raise ValueError("duplicate key (number)=(+84901234567) national id 079123456789")
    except ValueError:
        log.exception("insert failed for 0901234567")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "ValueError" in text and "+84******567" in text
    assert "+84901234567" not in text and "0901234567" not in text
    assert "079123456789" not in text


def test_migrations_match_the_models(database):
    """An Alembic autogenerate diff after upgrade must be empty: models and schema agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import dialer.models  # noqa: F401
    from dialer.db import Base

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_an_attempt_taken_back_never_gives_its_id_to_the_next(session):
    """A dial the carrier never made is deleted; a late callback naming its id must not
    land on the next attempt (SQLite reuses the highest rowid without AUTOINCREMENT)."""
    from dialer.campaigns import service
    from dialer.campaigns.attempts import start_attempt
    from dialer.campaigns.models import CallAttempt, CampaignEntry
    from dialer.db import utcnow
    from dialer.outcomes.catalogue import seed_default_codes
    from tests import factories

    seed_default_codes(session)
    account = factories.account(session)
    campaign = service.create_campaign(session, "ids")
    service.launch(session, campaign, utcnow(), "Asia/Ho_Chi_Minh")
    entry = session.query(CampaignEntry).one()
    first = start_attempt(session, entry, account.phones[0], utcnow())
    session.commit()
    taken_back = first.id
    session.delete(first)
    session.commit()
    second = start_attempt(session, entry, account.phones[0], utcnow())
    session.commit()
    assert second.id != taken_back
    assert session.get(CallAttempt, taken_back) is None
