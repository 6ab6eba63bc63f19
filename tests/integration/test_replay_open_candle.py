"""The replay server serves a still-open candle as Binance does: its values so far."""

from __future__ import annotations

from decimal import Decimal

import requests

from coinlstm import db
from tests.helpers import read_csv_rows, write_market

MINUTE_MS = 60_000


def test_the_open_candle_has_its_values_so_far_and_a_later_verify_repairs_it(
        synthetic_candles, tmp_path, replay_market, sqlite_url):
    folder = write_market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH",), 200)
    final = read_csv_rows(folder / "SYNTH1ETH.csv")
    now = int(final[150][0]) + 15 * MINUTE_MS  # a quarter into candle 150
    server = replay_market(folder, now=now)
    reply = requests.get(f"{server.url}/api/v3/klines", params={
        "symbol": "SYNTH1ETH", "interval": "1h", "startTime": final[148][0], "limit": 10},
        timeout=10).json()
    assert [k[0] for k in reply] == [int(row[0]) for row in final[148:151]]
    assert reply[0][1:6] == final[148][1:6]  # closed candles: their final values
    current, row = reply[-1], final[150]
    assert (current[1], current[6]) == (row[1], int(row[6]))  # open and close time final
    # A quarter of the volume and trades (and what the clock ran while the request was made).
    assert Decimal(row[5]) / 4 <= Decimal(current[5]) <= Decimal(row[5]) * Decimal("0.26")
    assert int(row[8]) // 4 <= current[8] <= int(row[8]) * 0.26
    low, high = Decimal(row[3]), Decimal(row[2])
    assert low <= Decimal(current[3]) <= Decimal(current[4]) <= Decimal(current[2]) <= high \
        or low <= Decimal(current[3]) <= Decimal(current[1]) <= Decimal(current[2]) <= high
    assert current[2:6] != row[2:6]

    # A client that stores what it was sent keeps the partial candle; coinlstm's verify,
    # once the candle has closed, gives it the final values.
    engine = db.open_database(sqlite_url)
    with db.transaction(engine) as conn:
        coin = db.ensure_coin(conn, "SYNTH1ETH", "SYNTH1", "ETH", "TRADING")
        db.insert_klines(conn, coin, [[int(k[0]), *k[1:6], int(k[6]), k[7], int(k[8]),
                                       *k[9:]] for k in reply])
    from crawl.sources import open_source
    from crawl.verify import verify_market

    later = replay_market(folder, now=int(final[-1][6]) + MINUTE_MS)
    assert verify_market(engine, open_source("binance", later.url)) == {"SYNTH1ETH": 1}
    with engine.connect() as conn:
        assert db.candle_text_rows(conn, coin) == [tuple(r) for r in final[148:151]]
    engine.dispose()
