"""The dashboard's market queries (coinlstm/db/dashboard.py) on both databases, against what
the test wrote: each pair's newest candle and newest forecast (the one for its latest
candle; of several for one candle the last stored; 1h rows without an interval, from before
intervals, counted as 1h), only the market and exchange asked, and each market's track
records."""

from __future__ import annotations

import random

from coinlstm import db
from tests import synthetic_history
from tests.synthetic_history import HOUR_MS

START = 1_700_000_000_000 // HOUR_MS * HOUR_MS


def _forecast(coin_id: int, open_next: int, price: float, run: str, interval: str | None,
              model: str = "lstm") -> dict:
    return {"id_coin": coin_id, "time_create": 0, "price_predict": "[]",
            "price_actual": "[]", "price_preidct_last": price, "price_actual_last": 1.0,
            "run_id": run, "openTime_next": open_next, "model": model, "target": "return",
            "interval": interval, "horizon": 1}


def test_newest_candle_and_forecast_of_every_pair(db_url):
    rng = random.Random(5)
    engine = db.open_database(db_url)
    p = db.historical_price_predictions
    with db.transaction(engine) as conn:
        ids = {symbol: db.ensure_coin(conn, symbol, symbol[:-3], "ETH")
               for symbol in ("AAAETH", "BBBETH", "CCCETH", "DDDETH", "EEEETH")}
        other_market = db.ensure_coin(conn, "AAABTC", "AAA", "BTC")
        other_exchange = db.ensure_coin(conn, "AAA_ETH", "AAA", "ETH", exchange="poloniex")
        hours = {"AAAETH": 30, "BBBETH": 20, "CCCETH": 25, "EEEETH": 10}
        for symbol, count in hours.items():
            db.insert_candles(conn, [
                synthetic_history.candle(ids[symbol], START + h * HOUR_MS, 1.0,
                                         1.0 + rng.random(), rng) for h in range(count)])
        for coin in (other_market, other_exchange):
            db.insert_candles(conn, [
                synthetic_history.candle(coin, START + h * HOUR_MS, 1.0, 2.0, rng)
                for h in range(40)])
        rows = []
        # AAA: 1h forecasts for each candle, then a rerun (and another model) for the newest.
        rows += [_forecast(ids["AAAETH"], START + h * HOUR_MS, 1.0 + h, f"a{h}", "1h")
                 for h in range(1, 31)]
        rows += [_forecast(ids["AAAETH"], START + 30 * HOUR_MS, 99.0, "a-rerun", "1h"),
                 _forecast(ids["AAAETH"], START + 30 * HOUR_MS, 77.0, "a-gru", "1h", "gru")]
        # BBB: only rows from before intervals (NULL), which count as 1h.
        rows += [_forecast(ids["BBBETH"], START + h * HOUR_MS, 2.0 + h, f"b{h}", None)
                 for h in range(1, 21)]
        # CCC: 1h rows, then a newer NULL one (a rerun by an old version), and a newer 4h one.
        rows += [_forecast(ids["CCCETH"], START + h * HOUR_MS, 3.0 + h, f"c{h}", "1h")
                 for h in range(1, 25)]
        rows += [_forecast(ids["CCCETH"], START + 25 * HOUR_MS, 55.0, "c-old", None),
                 _forecast(ids["CCCETH"], START + 28 * HOUR_MS, 66.0, "c-4h", "4h")]
        # DDD: no candles, one forecast; EEE: candles, no forecast.
        rows += [_forecast(ids["DDDETH"], START + HOUR_MS, 4.0, "d1", "1h")]
        rows += [_forecast(coin, START + 40 * HOUR_MS, 8.0, f"o{coin}", "1h")
                 for coin in (other_market, other_exchange)]
        conn.execute(p.insert(), rows)
    with engine.connect() as conn:
        newest = db.newest_of_pairs(conn, "1h", market="ETH", exchange="binance")
        single = db.newest_of_pairs(conn, "1h", coin_ids=[ids["CCCETH"]])
        four = db.newest_of_pairs(conn, "4h", coin_ids=[ids["CCCETH"]])
        polo = db.newest_of_pairs(conn, "1h", market="ETH", exchange="poloniex")
    engine.dispose()

    assert [pair.coin.symbol for pair in newest] == list(ids)
    by_symbol = {pair.coin.symbol: pair for pair in newest}
    for symbol, count in hours.items():
        candle = by_symbol[symbol].candle
        assert candle.openTime == START + (count - 1) * HOUR_MS, symbol
    assert by_symbol["DDDETH"].candle is None
    expected = {"AAAETH": (START + 30 * HOUR_MS, 77.0, "gru"),  # the last stored for it
                "BBBETH": (START + 20 * HOUR_MS, 22.0, "lstm"),
                "CCCETH": (START + 25 * HOUR_MS, 55.0, "lstm"),
                "DDDETH": (START + HOUR_MS, 4.0, "lstm")}
    for symbol, (open_next, price, model) in expected.items():
        forecast = by_symbol[symbol].forecast
        assert (forecast.openTime_next, forecast.price_preidct_last, forecast.model) == (
            open_next, price, model), symbol
    assert by_symbol["EEEETH"].forecast is None
    assert [pair.coin.symbol for pair in single] == ["CCCETH"]
    assert single[0].forecast.price_preidct_last == 55.0
    assert four[0].forecast.price_preidct_last == 66.0 and four[0].candle is None
    assert [(pair.coin.symbol, pair.forecast.price_preidct_last) for pair in polo] == [
        ("AAA_ETH", 8.0)]
    assert polo[0].candle.openTime == START + 39 * HOUR_MS


def test_a_markets_track_records_are_its_own(db_url):
    engine = db.open_database(db_url)
    eth = synthetic_history.build(engine, pairs=2, hours=40, seed=1)
    synthetic_history.build(engine, pairs=1, hours=40, seed=2, market="BTC")
    synthetic_history.build(engine, pairs=1, hours=40, seed=3, exchange="poloniex")
    with engine.connect() as conn:
        rows = db.market_track_records(conn, "1h", "ETH", "binance", ["7d", "all"],
                                       ["scored", "skill"])
        eth_ids = {db.coin_by_symbol(conn, symbol).id for symbol in eth}
        stored = {(row.id_coin, row.window): row for row in db.stored_track_records(
            conn, "1h", sorted(eth_ids), ["7d", "all"])}
    engine.dispose()
    assert {(row.id_coin, row.window) for row in rows} == set(stored)
    assert {row.id_coin for row in rows} == eth_ids
    for row in rows:
        assert (row.scored, row.skill) == (stored[row.id_coin, row.window].scored,
                                           stored[row.id_coin, row.window].skill)
        assert set(row._mapping) == {"id_coin", "model", "target", "interval", "window",
                                     "scored", "skill"}
