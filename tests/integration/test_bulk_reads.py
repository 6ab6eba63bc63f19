"""The scoring pass's bulk reads (coinlstm/db/bulk.py) on real databases (SQLite and
MySQL/MariaDB, the driver's C extension and its pure-Python protocol): the rows equal
SQLAlchemy's own result of the same statement value for value (Booleans as the driver's
0/1); the read sees what its transaction wrote and has not committed; a driver error comes
out wrapped as every other statement's, with the server's number, and a killed connection
counts as transient (what the retry logic reads); on MySQL the rows come by a prepared
statement (the binary protocol)."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.db.retry import error_number
from coinlstm.db.scores import insert_in_batches

METADATA = sa.MetaData()
PROBE = sa.Table(
    "bulk_probe", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("opened", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("name", sa.String(16), nullable=False),
    sa.Column("hit", sa.Boolean, nullable=True),
)
#: Doubles whose decimal text is long or whose magnitude is extreme: a protocol that lost a
#: bit of any of them would show here.
VALUES = [0.1, 1 / 3, math.pi, -2.5e-8, 123456789.12345679, 1e-300, 1.7976931348623157e308,
          0.0010130965661505782, -0.0, None]


@pytest.fixture(params=["sqlite", "mysql", "mysql-pure"])
def url(request, tmp_path):
    """SQLite, and MySQL through the driver's C extension and through its pure-Python
    protocol (what a process runs on where the extension did not load)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coinlstm.sqlite'}"
    url = request.getfixturevalue("mysql_url")
    return url + "?use_pure=True" if request.param == "mysql-pure" else url


@pytest.fixture
def engine(url):
    engine = sa.create_engine(url)
    METADATA.create_all(engine)
    with engine.begin() as conn:
        conn.execute(PROBE.insert(), [
            {"id": n, "opened": 1_700_000_000_000 + n * 3_600_000, "value": value,
             "name": f"pair{n}", "hit": None if n % 3 == 0 else bool(n % 2)}
            for n, value in enumerate(VALUES)])
    yield engine
    engine.dispose()


def _select(*where) -> sa.Select:
    return sa.select(PROBE).where(*where).order_by(PROBE.c.id)


def _driver_values(row) -> tuple:
    """SQLAlchemy's row as the driver gives it: a Boolean as 0/1."""
    return tuple(int(value) if isinstance(value, bool) else value for value in row)


def test_the_rows_equal_sqlalchemys_own_result(engine):
    query = _select(PROBE.c.id.in_([1, 2, 3, 5, 8, 9]), PROBE.c.opened > 0)
    with engine.connect() as conn:
        expected = [_driver_values(row) for row in conn.execute(query)]
        read = db.fetch_tuples(conn, query)
    assert read.names == ("id", "opened", "value", "name", "hit")
    assert list(read.rows) == expected
    for got, want in zip(read.rows, expected, strict=True):
        assert [type(value) for value in got] == [type(value) for value in want]
        assert math.copysign(1, got[2] or 1.0) == math.copysign(1, want[2] or 1.0)
    assert read.key("name", "id")(read.rows[0]) == ("pair1", 1)
    with engine.connect() as conn:
        assert list(db.fetch_tuples(conn, _select(PROBE.c.id > 100)).rows) == []


def test_a_read_in_chunks_gives_the_same_rows_a_few_at_a_time_and_then_reads_on(engine):
    query = _select(PROBE.c.opened > 0)
    with engine.connect() as conn:
        whole = db.fetch_tuples(conn, query)
        chunks = list(db.fetch_in_chunks(conn, query, rows=3))
        assert [len(chunk.rows) for chunk in chunks] == [3, 3, 3, 1]
        assert all(chunk.names == whole.names for chunk in chunks)
        assert [row for chunk in chunks for row in chunk.rows] == list(whole.rows)
        assert list(db.fetch_in_chunks(conn, _select(PROBE.c.id > 100), rows=3)) == []
        # the cursor is closed once read: the connection takes the next statement
        assert len(db.fetch_tuples(conn, query).rows) == len(VALUES)


def test_the_read_sees_its_own_transactions_uncommitted_rows(engine):
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(PROBE.insert(), {"id": 50, "opened": 1, "value": 2.5, "name": "new",
                                      "hit": True})
        assert list(db.fetch_tuples(conn, _select(PROBE.c.id == 50)).rows) == [
            (50, 1, 2.5, "new", 1)]
        raise RuntimeError("roll back")
    with engine.connect() as conn:
        assert list(db.fetch_tuples(conn, _select(PROBE.c.id == 50)).rows) == []


def test_a_driver_error_comes_out_wrapped_with_the_servers_number(engine):
    missing = sa.Table("no_such_table", sa.MetaData(), sa.Column("id", sa.Integer))
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as raised:
        db.fetch_tuples(conn, sa.select(missing.c.id).where(missing.c.id > 0))
    if engine.dialect.name == "mysql":
        assert error_number(raised.value) == 1146  # table doesn't exist
    else:
        assert "no such table" in str(raised.value.orig)
    assert not db.is_transient(raised.value)


def test_on_mysql_the_read_is_a_prepared_statement_and_a_killed_connection_is_transient(
        engine):
    if engine.dialect.name != "mysql":
        pytest.skip("MySQL's protocols only")

    def executed(conn) -> int:
        return int(conn.execute(sa.text("SHOW SESSION STATUS LIKE 'Com_stmt_execute'"))
                   .one()[1])

    with engine.connect() as conn:
        before = executed(conn)
        db.fetch_tuples(conn, _select(PROBE.c.id > 0))
        assert executed(conn) == before + 1
        victim = conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
        with engine.connect() as killer:
            killer.execute(sa.text("KILL :victim"), {"victim": victim})
        with pytest.raises(sa.exc.DBAPIError) as raised:
            db.fetch_tuples(conn, _select(PROBE.c.id > 0))
    assert db.is_transient(raised.value), db.error_reason(raised.value)


def _handler_reads(conn) -> int:
    """The rows this MySQL session's storage engine has stepped through so far (index and
    table scans: Handler_read_next, _prev, _rnd_next, plus the index dives)."""
    rows = conn.execute(sa.text("SHOW SESSION STATUS LIKE 'Handler_read%'")).all()
    return sum(int(value) for name, value in rows
               if name in ("Handler_read_key", "Handler_read_next", "Handler_read_prev",
                           "Handler_read_rnd_next"))


def test_on_mysql_the_passs_reads_step_through_the_hours_they_return_not_the_history(
        mysql_url):
    """400 pairs x 100 hours of scores and candles: a pass's read of the last 24 hours of
    every series, the movers' read of one hour of a market and of 25 hours of its closes
    step through about the rows they return (the engine's row counters). Without the index
    hint MySQL scanned the scores (more series than its index-dive limit), and the closes
    joined to coin_info walked every candle of the market's pairs."""
    hour, pairs, hours = 3_600_000, 400, 100
    start = 1_700_000_000_000 - 1_700_000_000_000 % hour
    engine = db.open_database(mysql_url)
    with engine.begin() as conn:
        coins = [db.ensure_coin(conn, f"SYN{n:03d}ETH", f"SYN{n:03d}", "ETH", "TRADING")
                 for n in range(1, pairs + 1)]
        insert_in_batches(conn, db.forecast_scores, [
            {"id_prediction": n * hours + h, "id_coin": coin, "model": "lstm",
             "target": "return", "interval": "1h", "openTime_next": start + h * hour,
             "openTime_last": start + (h - 1) * hour, "forecast": 1.0, "naive": 1.0,
             "actual": 1.0, "error": 0.0, "naive_error": 0.0, "time_scored": 0}
            for n, coin in enumerate(coins) for h in range(hours)])
        db.insert_candles(conn, [
            {"idCoin": coin, "openTime": start + h * hour, **{
                name: "1.00000000" for name in ("open", "high", "low", "close", "volume",
                                                "quoteAssetVolume", "takerBuyBaseAssetVolume",
                                                "takerBuyQuoteAssetVolume")},
             "closeTime": start + (h + 1) * hour - 1, "numberOfTrader": 1, "ignore": "0"}
            for coin in coins for h in range(hours)])
        conn.execute(sa.text("ANALYZE TABLE forecast_scores, candlestick_data"))
    keys = [db.SeriesKey(coin, "lstm", "return", "1h") for coin in coins]
    newest = start + (hours - 1) * hour
    with engine.connect() as conn:
        before = _handler_reads(conn)
        assert sum(len(chunk.rows) for chunk in db.pairs_scores_after(
            conn, keys, newest - 24 * hour, rows=1000)) == 24 * pairs
        read = _handler_reads(conn) - before
        assert read <= 2 * 24 * pairs, read
        before = _handler_reads(conn)
        assert len(db.market_scores_between(conn, db.series_of_pairs(
            conn, "1h", db.market_pairs(conn, "binance", "ETH")), newest, newest,
            0.8)) == pairs
        read = _handler_reads(conn) - before
        assert read <= 8 * pairs, read
        before = _handler_reads(conn)
        assert sum(len(chunk.rows) for chunk in db.market_closes_between(
            conn, "1h", db.market_pairs(conn, "binance", "ETH"), newest - 24 * hour, newest,
            rows=7)) == 25 * pairs
        read = _handler_reads(conn) - before
        assert read <= 2 * 25 * pairs + 4 * pairs, read
    engine.dispose()
