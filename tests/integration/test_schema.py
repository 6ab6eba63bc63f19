"""The schema: the DDL kept in sql/ equals the code's, and values round-trip exactly."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from coinlstm import db
from tests.helpers import REPO


@pytest.mark.mysql
def test_sql_file_creates_same_tables_as_code(mysql_url):
    engine = sa.create_engine(mysql_url)
    text = "\n".join(line for line in (REPO / "sql" / "schema.mysql.sql").read_text()
                     .splitlines() if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in filter(str.strip, text.split(";")):
            conn.execute(sa.text(statement))
    inspector = sa.inspect(engine)
    for table in db.metadata.sorted_tables:
        reflected = {c["name"] for c in inspector.get_columns(table.name)}
        assert reflected == {c.name for c in table.columns}, table.name
    pk = inspector.get_pk_constraint("candlestick_data")["constrained_columns"]
    assert pk == ["idCoin", "openTime"]
    engine.dispose()


#: ``coinlstm score --db URL``, then which mysql-connector protocol the command ran on.
SCORE_AND_SAY_DRIVER = """
import atexit, sys
atexit.register(lambda: print("c extension:", sys.modules["mysql.connector"].HAVE_CEXT))
from coinlstm.app.cli import main
sys.exit(main(["score", "--db", sys.argv[1]]))
"""


@pytest.mark.mysql
def test_mysql_commands_run_on_the_drivers_c_extension(mysql_url):
    """mysql-connector's C extension reads rows several times faster than its pure-Python
    protocol, and the scoring pass reads a month of every pair's scores and candles each
    hour. A release whose extension cannot load here, or a process that loads another
    library's first (tests/integration/test_executors.py: the fork server's children),
    falls back to pure Python without a word."""
    done = subprocess.run([sys.executable, "-c", SCORE_AND_SAY_DRIVER, mysql_url], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "c extension: True", done.stdout


def _as_before_migrations(conn) -> None:
    """What a release before migrations left: no version row, no openTime_newest."""
    conn.execute(sa.text("DROP TABLE alembic_version"))
    conn.execute(sa.text("ALTER TABLE historical_train DROP COLUMN openTime_newest"))


def _candle(coin_id: int, open_time: int, close: str = "0.00061806") -> dict:
    return dict(idCoin=coin_id, openTime=open_time, open="0.00062088", high="0.00062397",
                low="0.00061552", close=close, volume="402934.00000000",
                closeTime=open_time + 3_599_999, quoteAssetVolume="250.19536953",
                numberOfTrader=796, takerBuyBaseAssetVolume="187023.00000000",
                takerBuyQuoteAssetVolume="116.26184771", ignore="0")


def test_candles_round_trip_exactly_and_never_duplicate(db_url):
    engine = db.open_database(db_url)
    with engine.begin() as conn:
        coin = db.ensure_coin(conn, "ADAETH", "ADA", "ETH", "TRADING")
        big = _candle(coin, 1_617_235_200_000, close="123456789012345678901234.12345678")
        assert db.insert_candles(conn, [big, _candle(coin, 1_617_238_800_000)]) == 2
        assert db.insert_candles(conn, [big]) == 0
    with engine.connect() as conn:
        rows = db.candle_text_rows(conn, coin)
    assert rows[0][4] == "123456789012345678901234.12345678"
    assert rows[1] == ("1617238800000", "0.00062088", "0.00062397", "0.00061552", "0.00061806",
                       "402934.00000000", "1617242399999", "250.19536953", "796",
                       "187023.00000000", "116.26184771", "0")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(db.candlestick_data.insert().values(**_candle(coin, 1_617_238_800_000)))
    engine.dispose()


def test_coin_ids_are_stable(db_url):
    engine = db.open_database(db_url)
    with engine.begin() as conn:
        first = db.ensure_coin(conn, "ADAETH", "ADA", "ETH", "TRADING")
        second = db.ensure_coin(conn, "BNBETH", "BNB", "ETH", "TRADING")
        assert db.ensure_coin(conn, "ADAETH", "ADA", "ETH", "BREAK") == first
        assert db.mark_missing_coins(conn, "ETH", ["ADAETH"]) == ["BNBETH"]
        assert db.coin_by_id(conn, second).status == "DELISTED"
        assert db.coin_by_id(conn, first).status == "BREAK"
    engine.dispose()


def test_an_older_database_gains_the_new_columns_and_keeps_its_rows(db_url):
    """A database made before the return target, --horizon and prediction bands (no target,
    shrinkage, edge, horizon, band columns) is upgraded in place by the next open; its
    existing rows stay as they were. (The next test does the same for the interval tables and
    columns.)"""
    engine = db.open_database(db_url)
    new_columns = {"historical_train": ("target", "shrinkage", "shrinkage_t", "edge",
                                        "horizon", "n_cal", "coverage_80", "width_80", "winkler_80",
                                        "coverage_95", "width_95", "winkler_95",
                                        "price_bands"),
                   "historical_price_predictions": ("target", "edge", "horizon",
                                                    "price_predict_horizon", "lower_80",
                                                    "upper_80", "lower_95", "upper_95",
                                                    "price_bands")}
    with engine.begin() as conn:
        conn.execute(db.historical_train.insert().values(
            id_coin=1, time_create=1, price_test="[1.0]", price_predict="[1.0]", RMSE=0.5,
            max_error=0.5, openTime_last=0))
        for table, columns in new_columns.items():
            for column in columns:
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        _as_before_migrations(conn)
    engine.dispose()
    engine = db.open_database(db_url)
    inspector = sa.inspect(engine)
    for table, columns in new_columns.items():
        assert set(columns) <= {c["name"] for c in inspector.get_columns(table)}, table
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.historical_train)).one()
        assert (row.RMSE, row.target, row.edge, row.coverage_80, row.price_bands) \
            == (0.5, None, None, None, None)
        assert db.add_missing_columns(conn) == []  # nothing left to add
    engine.dispose()


def test_processes_opening_a_new_database_together_all_succeed(db_url):
    """The market job's pair processes (or Ray workers) may be the first to open a new
    database, all at once: whoever loses the race to create a table goes on, none fails."""
    import subprocess
    import sys

    probe = "import sys\nfrom coinlstm import db\ndb.open_database(sys.argv[1]).dispose()"
    children = [subprocess.Popen([sys.executable, "-c", probe, db_url], cwd=str(REPO),
                                 stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0] * 6, errors
    engine = db.open_database(db_url)
    assert set(sa.inspect(engine).get_table_names()) >= set(db.metadata.tables)
    engine.dispose()


def _skills(conn, interval: str) -> list[float]:
    """Coin 1's training runs of ``interval``, newest first, as the dashboard and the scorer
    select them (db.interval_filter: a row stored without an interval is 1h)."""
    t = db.historical_train
    return [float(skill) for skill in conn.execute(
        sa.select(t.c.skill).where(t.c.id_coin == 1, db.interval_filter(t.c.interval, interval))
        .order_by(t.c.id.desc())).scalars()]


def test_an_older_database_gains_the_interval_tables_and_columns(db_url):
    """A database from before intervals (no 5m table, no interval columns) is upgraded by the
    next open; its old rows count as 1h in a pair's track record, apart from 5m runs."""
    engine = db.open_database(db_url)
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        db.candles_table("5m").drop(conn)
        # That version had no index on the interval column either (added with the scores).
        for index in db.historical_price_predictions.indexes:
            if "interval" in index.columns:
                index.drop(conn)
        for table in ("historical_train", "historical_price_predictions"):
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {quote('interval')}"))
        # Rows as the older version wrote them: it knew no interval column.
        old_table = sa.table("historical_train", *map(sa.column, (
            "id_coin", "time_create", "price_test", "price_predict", "RMSE", "max_error",
            "openTime_last", "skill")))
        conn.execute(old_table.insert(), [
            {"id_coin": 1, "time_create": 1, "price_test": "[]", "price_predict": "[]",
             "RMSE": 0.5, "max_error": 0.5, "openTime_last": 0, "skill": skill}
            for skill in (0.1, 0.2)])
        _as_before_migrations(conn)
    engine.dispose()

    engine = db.open_database(db_url)
    try:
        assert "candlestick_data_5m" in sa.inspect(engine).get_table_names()
        with engine.begin() as conn:
            assert db.add_missing_columns(conn) == []
            for interval, skill in (("1h", 0.3), ("5m", 0.4)):
                conn.execute(db.historical_train.insert().values(
                    id_coin=1, time_create=2, price_test="[]", price_predict="[]", RMSE=0.5,
                    max_error=0.5, openTime_last=0, skill=skill, interval=interval))
            old = conn.execute(sa.select(db.historical_train.c.interval)
                               .where(db.historical_train.c.time_create == 1)).scalars().all()
            assert old == [None, None]
            assert _skills(conn, "1h") == [0.3, 0.2, 0.1]
            assert _skills(conn, "5m") == [0.4]
            assert db.latest_training(conn, 1, "1h").skill == 0.3
            assert db.latest_training(conn, 1, "5m").skill == 0.4
    finally:
        engine.dispose()


def test_an_older_database_gains_the_exchange_column_and_its_coins_stay_binance(db_url):
    """A database from before exchanges (coin_info without ``exchange``) is upgraded by the
    next open: every existing coin is Binance's, with its id and symbol, and found as such;
    coins of another exchange then live beside them (symbol forms never collide)."""
    engine = db.open_database(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE coin_info DROP COLUMN exchange"))
        old_coins = sa.table("coin_info", *map(sa.column, (
            "symbol", "baseAsset", "quoteAsset", "status", "time_update")))
        conn.execute(old_coins.insert(), [
            {"symbol": "ADAETH", "baseAsset": "ADA", "quoteAsset": "ETH", "status": "TRADING",
             "time_update": 1},
            {"symbol": "BNBETH", "baseAsset": "BNB", "quoteAsset": "ETH", "status": "TRADING",
             "time_update": 1}])
        ids = {row.symbol: row.id for row in conn.execute(sa.select(old_coins.c.symbol,
                                                                    sa.column("id")))}
        _as_before_migrations(conn)
    engine.dispose()

    engine = db.open_database(db_url)
    try:
        with engine.begin() as conn:
            assert db.add_missing_columns(conn) == []
            assert [(row.id, row.symbol, row.exchange) for row in
                    db.coins_of_market(conn, "ETH")] == [
                (ids["ADAETH"], "ADAETH", "binance"), (ids["BNBETH"], "BNBETH", "binance")]
            polo = db.ensure_coin(conn, "ADA_ETH", "ADA", "ETH", "TRADING",
                                  exchange="poloniex")
            assert db.coin_by_symbol(conn, "ADA_ETH").exchange == "poloniex"
            assert [row.id for row in db.coins_of_market(conn, "ETH",
                                                         exchange="poloniex")] == [polo]
            assert len(db.coins_of_market(conn, "ETH")) == 2
            assert db.mark_missing_coins(conn, "ETH", ["ADA_ETH"], exchange="poloniex") == []
    finally:
        engine.dispose()
