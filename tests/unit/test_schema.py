"""The schema without a server: the DDL kept in sql/ equals the code's, the exact-decimal
rule, one table per interval, and unusable URLs are one clear error."""

from __future__ import annotations

import pytest

from coinlstm import db
from coinlstm.core.errors import BadInput, DatabaseUnavailable
from coinlstm.db import migrations
from tests.helpers import REPO


def test_sql_file_equals_code_schema():
    assert (REPO / "sql" / "schema.mysql.sql").read_text() == migrations.mysql_ddl()


def test_more_than_eight_decimals_is_refused():
    with pytest.raises(ValueError):
        db.to_exact_decimal("0.123456789")
    with pytest.raises(ValueError):
        db.to_exact_decimal("NaN")
    assert format(db.to_exact_decimal("0.1"), "f") == "0.10000000"


def test_bad_urls_are_one_clear_error(tmp_path):
    with pytest.raises(BadInput):
        db.open_database("nosuchdialect://x/y")
    with pytest.raises(DatabaseUnavailable, match="127.0.0.1:1"):
        db.open_database("mysql+mysqlconnector://root@127.0.0.1:1/test")


def test_each_interval_has_its_own_table():
    assert db.candles_table("1h") is db.candlestick_data
    assert db.candles_table("1h").name == "candlestick_data"
    for interval in ("5m", "15m", "4h", "1d"):
        table = db.candles_table(interval)
        assert table.name == f"candlestick_data_{interval}"
        assert [c.name for c in table.columns] == list(db.CANDLE_COLUMNS)
        assert [c.name for c in table.primary_key] == ["idCoin", "openTime"]
    with pytest.raises(BadInput, match="unknown interval '7m'"):
        db.candles_table("7m")
    assert "CREATE TABLE candlestick_data_5m (" in migrations.mysql_ddl()


def test_an_undurable_sqlite_engine_syncs_at_checkpoints_only(tmp_path):
    """The backfill's engine (durable=False) commits without a sync; every other engine
    keeps SQLite's full sync in WAL mode."""
    import sqlalchemy as sa

    def pragmas(durable: bool) -> tuple:
        engine = db.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}", durable=durable)
        try:
            with engine.connect() as conn:
                return (conn.execute(sa.text("PRAGMA journal_mode")).scalar(),
                        conn.execute(sa.text("PRAGMA synchronous")).scalar())
        finally:
            engine.dispose()

    assert pragmas(durable=True) == ("wal", 2)  # FULL
    assert pragmas(durable=False) == ("wal", 1)  # NORMAL
