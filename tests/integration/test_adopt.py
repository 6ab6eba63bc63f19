"""Adopting the original system's MySQL database (``coinlstm db adopt``) and running beside it.

The fixture writes that system's schema from its facts (InnoDB, utf8, AUTO_INCREMENT ids well
above 1, coin ids in the hundreds, candles with an ``id`` and no unique key), and fills it as
its crawler did: a restart's identical duplicates, and candles stored while still open (only
their first minutes). The replay server is the exchange, with every candle's final values.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.db import migrations
from tests.helpers import read_csv_rows, run_cli, run_job, write_market

pytestmark = pytest.mark.mysql

HOUR_MS = 3_600_000
PAIRS = ("SYNTH1ETH", "SYNTH2ETH")
#: Candles served; the original system stored the first STORED of them.
SERVED, STORED = 520, 480
#: Candles closed when the hourly job runs (the rest come later, beside the original crawler).
JOB_UNTIL = 510
FAST = ["--epochs", "2", "--val-size", "96", "--test-size", "48", "--no-progress"]

TUTORIAL_DDL = [
    """CREATE TABLE coin_info (
        id smallint NOT NULL AUTO_INCREMENT, symbol char(20) NOT NULL,
        minQty decimal(15,10), tickSize decimal(15,10), status char(20), baseAsset char(10),
        quoteAsset char(10), openTime_last bigint, max_error float, RMSE float,
        PRIMARY KEY (id), UNIQUE KEY symbol (symbol)
    ) ENGINE=InnoDB AUTO_INCREMENT=301 DEFAULT CHARSET=utf8""",
    """CREATE TABLE candlestick_data (
        id int NOT NULL AUTO_INCREMENT, idCoin smallint, openTime bigint,
        open decimal(20,10), high decimal(20,10), low decimal(20,10), close decimal(20,10),
        volume decimal(20,10), closeTime bigint, quoteAssetVolume decimal(20,10),
        numberOfTrader int, takerBuyBaseAssetVolume decimal(20,10),
        takerBuyQuoteAssetVolume decimal(20,10), `ignore` decimal(20,10),
        PRIMARY KEY (id), KEY openTime (openTime), KEY idCoin (idCoin)
    ) ENGINE=InnoDB AUTO_INCREMENT=5001 DEFAULT CHARSET=utf8""",
    """CREATE TABLE historical_train (
        id int NOT NULL AUTO_INCREMENT, id_coin smallint, time_create int, price_test text,
        price_predict text, RMSE float, max_error float, openTime_last bigint,
        PRIMARY KEY (id)
    ) ENGINE=InnoDB AUTO_INCREMENT=71 DEFAULT CHARSET=utf8""",
    """CREATE TABLE historical_price_predictions (
        id int NOT NULL AUTO_INCREMENT, id_coin smallint, time_create int,
        price_predict text, price_actual text, price_preidct_last float,
        price_predict_previous float, price_actual_last float, price_actual_previous float,
        PRIMARY KEY (id)
    ) ENGINE=InnoDB AUTO_INCREMENT=91 DEFAULT CHARSET=utf8""",
]
COLUMNS = ("openTime", "open", "high", "low", "close", "volume", "closeTime",
           "quoteAssetVolume", "numberOfTrader", "takerBuyBaseAssetVolume",
           "takerBuyQuoteAssetVolume", "ignore")
#: The original system's read queries (verbatim but for the bound coin id).
READ_CANDLES = ("SELECT c.`close`, c.high, c.low, c.`open`, c.volume, c.quoteAssetVolume, "
                "c.numberOfTrader, c.takerBuyBaseAssetVolume, c.takerBuyQuoteAssetVolume, "
                "c.`ignore` FROM candlestick_data AS c WHERE c.idCoin = :coin")
READ_TEST_WINDOW = ("SELECT c.`close`, c.high, c.low, c.`open`, c.volume, c.quoteAssetVolume, "
                    "c.numberOfTrader, c.takerBuyBaseAssetVolume, c.takerBuyQuoteAssetVolume, "
                    "c.`ignore` FROM candlestick_data AS c JOIN (SELECT MAX(h.openTime_last) "
                    "openTime_last, h.id_coin FROM historical_train AS h GROUP BY id_coin) h "
                    "ON c.idCoin = :coin AND h.id_coin = c.idCoin "
                    "AND c.openTime > h.openTime_last")
READ_COINS = ("SELECT c.symbol, c.id FROM coin_info c WHERE c.`status` = 'TRADING' "
              "AND c.quoteAsset = 'ETH'")
READ_NEWEST = "SELECT MAX(openTime) FROM candlestick_data WHERE idCoin = :coin"


def partial(row: list[str], share: float = 0.25) -> list:
    """A candle as the original crawler stored it while open: its first minutes."""
    values = list(row)
    values[5] = f"{Decimal(row[5]) * Decimal(str(share)):.8f}"
    values[8] = str(int(int(row[8]) * share))
    values[4] = values[1]
    values[2] = max(values[1], values[4])
    values[3] = min(values[1], values[4])
    return values


_CANDLES = sa.table("candlestick_data", sa.column("id"), sa.column("idCoin"),
                    *(sa.column(name) for name in COLUMNS))


def _insert(conn, coin: int, row: list) -> None:
    """The original crawler's plain INSERT of one kline."""
    conn.execute(_CANDLES.insert().values(idCoin=coin, **dict(zip(COLUMNS, row, strict=True))))


@pytest.fixture
def tutorial(mysql_url, synthetic_candles, tmp_path):
    """The original system's database: (url, serve folder, {symbol: coin id}, {symbol: the
    served rows}, {symbol: open times it stored partially})."""
    folder = write_market(synthetic_candles, tmp_path / "serve", PAIRS, SERVED, tail=True)
    rows = {symbol: read_csv_rows(folder / f"{symbol}.csv") for symbol in PAIRS}
    engine = sa.create_engine(mysql_url)
    partials = {PAIRS[0]: {int(rows[PAIRS[0]][200][0]), int(rows[PAIRS[0]][STORED - 1][0])},
                PAIRS[1]: {int(rows[PAIRS[1]][STORED - 1][0])}}
    with engine.begin() as conn:
        for statement in TUTORIAL_DDL:
            conn.execute(sa.text(statement))
        coins = {}
        for symbol in PAIRS:
            conn.execute(sa.text(
                "INSERT INTO coin_info (symbol, status, baseAsset, quoteAsset, minQty) "
                "VALUES (:s, 'TRADING', :b, 'ETH', 0.0100000000)"), {"s": symbol, "b": symbol[:-3]})
            coins[symbol] = conn.execute(sa.text("SELECT id FROM coin_info WHERE symbol = :s"),
                                         {"s": symbol}).scalar_one()
        for symbol in PAIRS:
            for index, row in enumerate(rows[symbol][:STORED]):
                stored = partial(row) if int(row[0]) in partials[symbol] else row
                _insert(conn, coins[symbol], stored)
                if symbol == PAIRS[0] and 100 <= index < 105:  # a restart's overlap
                    _insert(conn, coins[symbol], stored)
        newest = int(rows[PAIRS[0]][STORED - 1][0])
        conn.execute(sa.text(
            "INSERT INTO historical_train (id_coin, time_create, price_test, price_predict, "
            "RMSE, max_error, openTime_last) VALUES (:c, 1600000000, '[1.0]', '[1.1]', 0.25, "
            "0.5, :t)"), {"c": coins[PAIRS[0]], "t": newest - 48 * HOUR_MS})
        conn.execute(sa.text(
            "INSERT INTO historical_price_predictions (id_coin, time_create, price_predict, "
            "price_actual, price_preidct_last, price_actual_last) VALUES (:c, 1600000000, "
            "'[1.0]', '[1.0]', 0.000612, 0.000611)"), {"c": coins[PAIRS[0]]})
    engine.dispose()
    return mysql_url, folder, coins, rows, partials


def _snapshot(url: str) -> dict:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        shot = {table: conn.execute(sa.select(sa.literal_column("*")).select_from(
                    sa.table(table)).order_by(sa.column("id"))).all()
                for table in ("coin_info", "candlestick_data", "historical_train",
                              "historical_price_predictions")}
        shot["ddl"] = [conn.execute(sa.text(f"SHOW CREATE TABLE {table}")).one()[1]
                       for table in ("coin_info", "candlestick_data")]
        shot["tables"] = sorted(sa.inspect(conn).get_table_names())
    engine.dispose()
    return shot


def _query(url: str, sql: str, **params) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        result = sorted(tuple(row) for row in conn.execute(sa.text(sql), params))
    engine.dispose()
    return result


def _candles_by_id(url: str) -> dict[int, tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_CANDLES)).all()
    engine.dispose()
    return {row[0]: tuple(row[1:]) for row in rows}


def _as_stored(coin: int, row: list[str]) -> tuple:
    """A served row as the adopted table holds it (DECIMAL(38, 10) keeps every digit)."""
    values = [int(row[0]), *(Decimal(v) for v in row[1:6]), int(row[6]), Decimal(row[7]),
              int(row[8]), Decimal(row[9]), Decimal(row[10]), Decimal(row[11])]
    return (coin, *values)


def _as_read(coin: int, row: list[str]) -> tuple:
    """A served row as the original system's candle query reads it."""
    v = _as_stored(coin, row)[2:]
    return (v[3], v[1], v[2], v[0], v[4], v[6], v[7], v[8], v[9], v[10])


def test_jobs_refuse_the_original_database_until_adopted(tutorial, replay_market):
    url, folder, *_ = tutorial
    before = _snapshot(url)
    server = replay_market(folder)
    done = run_cli("crawl", "--db", url, "--binance-url", server.url, "--no-progress")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(
        "run `coinlstm db adopt` (see `coinlstm db adopt --dry-run` first)")
    dry = run_cli("db", "adopt", "--dry-run", "--db", url)
    assert dry.returncode == 0, dry.stderr
    assert "would: remove 5 identical duplicate candles" in dry.stdout
    assert "would: ALTER TABLE candlestick_data MODIFY `open` DECIMAL(40, 10)" in dry.stdout
    assert _snapshot(url) == before
    current = run_cli("db", "current", "--db", url)
    assert "the original system's database; run `coinlstm db adopt`" in current.stdout


@pytest.mark.slow
def test_adopt_repair_run_the_job_and_keep_the_original_queries(tutorial, replay_market,
                                                                tmp_path):
    url, folder, coins, rows, partials = tutorial
    before = _candles_by_id(url)
    reads_before = {symbol: _query(url, READ_CANDLES, coin=coin) for symbol, coin in
                    coins.items()}
    coins_read = _query(url, READ_COINS)
    stored_until = int(rows[PAIRS[0]][STORED - 1][6]) + 1
    server = replay_market(folder, now=stored_until + 60_000)
    done = run_cli("db", "adopt", "--db", url, "--binance-url", server.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "did: remove 5 identical duplicate candles" in done.stdout
    assert f"{PAIRS[0]}: 2 candles repaired from the exchange" in done.stdout
    assert f"{PAIRS[1]}: 1 candles repaired from the exchange" in done.stdout

    after = _candles_by_id(url)
    duplicates = {i for i, v in before.items() if any(j < i and w == v
                                                      for j, w in before.items())}
    assert len(duplicates) == 5 and set(after) == set(before) - duplicates
    symbol_of = {coin: symbol for symbol, coin in coins.items()}
    for candle_id, values in after.items():
        coin, open_time = values[0], values[1]
        served = next(r for r in rows[symbol_of[coin]] if int(r[0]) == open_time)
        assert values == _as_stored(coin, served)  # partial ones now final, others as were
        if open_time not in partials[symbol_of[coin]]:
            assert values == before[candle_id]
    assert _query(url, READ_COINS) == coins_read
    again = run_cli("db", "adopt", "--db", url, "--binance-url", server.url)
    assert again.returncode == 0 and "adopted already: nothing to change" in again.stdout
    assert "0 candles repaired" in again.stdout and _candles_by_id(url) == after

    # The hourly job on it: crawls the new candles, trains, writes both meanings.
    server = replay_market(folder, now=int(rows[PAIRS[0]][JOB_UNTIL - 1][6]) + 60_001)
    job = run_job("--market", "ETH", "--db", url, "--binance-url", server.url, "--artifacts",
                  str(tmp_path / "art"), "--workers", "1", *FAST, timeout=900)
    assert job.returncode == 0, job.stdout + job.stderr
    for symbol, coin in coins.items():
        final = [_as_read(coin, r) for r in rows[symbol][:JOB_UNTIL]]
        now = _query(url, READ_CANDLES, coin=coin)
        assert now == sorted(final)  # what it read, repaired, plus the new candles
        assert len(now) == (len(reads_before[symbol]) - (5 if symbol == PAIRS[0] else 0)
                            + JOB_UNTIL - STORED)
        assert _query(url, READ_NEWEST, coin=coin) == [(int(rows[symbol][JOB_UNTIL - 1][0]),)]
        # The original predictor's join reads coinlstm's 48 test candles.
        assert _query(url, READ_TEST_WINDOW, coin=coin) == sorted(final[-48:])

    # Side by side: the original crawler's plain INSERT of a stored candle is refused, the
    # next one it stores while still open; coinlstm's next crawl repairs that one and goes on.
    engine = sa.create_engine(url)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        _insert(conn, coins[PAIRS[0]], rows[PAIRS[0]][JOB_UNTIL - 1])
    with engine.begin() as conn:
        _insert(conn, coins[PAIRS[0]], partial(rows[PAIRS[0]][JOB_UNTIL]))
    engine.dispose()
    server = replay_market(folder, now=int(rows[PAIRS[0]][-1][6]) + 60_001)
    crawl = run_cli("crawl", "--db", url, "--binance-url", server.url, "--no-progress")
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr
    for symbol, coin in coins.items():
        assert _query(url, READ_CANDLES, coin=coin) == sorted(
            _as_read(coin, r) for r in rows[symbol])
    assert len(_candles_by_id(url)) == len(after) + 2 * (SERVED - STORED)


def test_differing_duplicates_are_reported_and_nothing_else_changes(tutorial, replay_market):
    url, folder, coins, rows, _ = tutorial
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _insert(conn, coins[PAIRS[1]], partial(rows[PAIRS[1]][300], 0.5))
    engine.dispose()
    before = _snapshot(url)
    done = run_cli("db", "adopt", "--db", url, "--no-repair")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "coinlstm db: error: 1 candles are stored twice with different values; nothing else "
        "changed: fix them, or rerun with --resolve lowest")
    line = next(x for x in done.stdout.splitlines() if x.startswith("differing duplicate"))
    assert f"openTime {rows[PAIRS[1]][300][0]}" in line and line.count("id ") == 2
    # Only the identical duplicates went (a step that is right whatever comes next).
    assert len(before["candlestick_data"]) - 5 == len(_candles_by_id(url))
    assert _snapshot(url)["ddl"] == before["ddl"]
    server = replay_market(folder, now=int(rows[PAIRS[0]][-1][6]) + 60_001)
    done = run_cli("db", "adopt", "--db", url, "--resolve", "lowest", "--binance-url",
                   server.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{PAIRS[1]}: 1 candles repaired" in done.stdout  # the open one; the full one kept
    assert len(_candles_by_id(url)) == len(before["candlestick_data"]) - 5 - 1


def test_another_applications_tables_are_refused_unchanged(mysql_url):
    engine = sa.create_engine(mysql_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE coin_info (id int PRIMARY KEY, ticker char(9))"))
        conn.execute(sa.text("CREATE TABLE candlestick_data (id int PRIMARY KEY, "
                             "idCoin int, openTime bigint, price double)"))
    engine.dispose()
    before = _query(mysql_url, "SHOW TABLES")
    for args in (("db", "adopt"), ("init-db",)):
        done = run_cli(*args, "--db", mysql_url)
        assert done.returncode == 2, done.stdout + done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert "coin_info has ticker and lacks" in last and "candlestick_data has price" in last
    assert _query(mysql_url, "SHOW TABLES") == before


def test_an_adoption_stopped_midway_is_resumed(tutorial, monkeypatch):
    """MySQL commits each ALTER at once: a failure after the candle table's ALTER leaves the
    database as the original system uses it, and adopt again finishes the job."""
    url, *_ = tutorial
    engine = db.create_engine(url)
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("power cut")

    monkeypatch.setattr(migrations.command, "upgrade", fail)
    with pytest.raises(RuntimeError):
        migrations.adopt(engine)
    assert calls
    assert _query(url, READ_NEWEST, coin=301)  # still readable as before
    monkeypatch.undo()
    done = migrations.adopt(engine)
    assert done.identical_removed == 0 and not done.differing
    assert done.steps == [f"add coinlstm's tables, columns and keys; schema revision none -> "
                          f"{migrations.head_revision()}"]
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()
    assert migrations.adopt(engine).steps == []
    engine.dispose()


def test_an_adoption_stopped_inside_the_revisions_is_resumed(tutorial, monkeypatch):
    """The chain's DDL commits as it goes on MySQL (the version row with it): stopped at one
    revision's ALTER, the original system still reads every candle and coin, and adopt
    again goes on from the revision recorded, each revision adding only what is missing."""
    from alembic.operations import Operations

    url, _, coins, *_ = tutorial
    def distinct_reads():  # the adoption's first step removes the identical duplicates
        return {coin: sorted(set(_query(url, READ_CANDLES, coin=coin)))
                for coin in coins.values()}

    reads = distinct_reads()
    coins_read = _query(url, READ_COINS)
    engine = db.create_engine(url)
    real, alters = Operations.execute, []

    def cut_at_the_third_alter(self, sql, *args, **kwargs):
        if "ALTER TABLE" in str(sql):
            alters.append(sql)
            if len(alters) == 3:
                raise RuntimeError("power cut")
        return real(self, sql, *args, **kwargs)

    monkeypatch.setattr(Operations, "execute", cut_at_the_third_alter)
    with pytest.raises(RuntimeError, match="power cut"):
        migrations.adopt(engine)
    monkeypatch.undo()
    with engine.connect() as conn:
        stopped_at = migrations.current_revision(conn)
    assert stopped_at in {"0000a", "0000b"}  # the chain had begun, its rows recorded
    assert distinct_reads() == reads
    assert _query(url, READ_COINS) == coins_read
    done = migrations.adopt(engine)
    assert done.steps == [f"add coinlstm's tables, columns and keys; schema revision "
                          f"{stopped_at} -> {migrations.head_revision()}"]
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()
        assert set(db.metadata.tables) <= set(sa.inspect(conn).get_table_names())
    assert distinct_reads() == reads
    engine.dispose()
