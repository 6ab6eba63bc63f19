"""A day of the hourly job: no hour refits more than its share of the market's pairs, and
each refit falls in its pair's own hour of the cycle while the other pairs run warm; under
``--refits after`` (the default) the due pairs forecast warm and are refitted after every
forecast, the refit serving the next hour, with no row of its own.

Through the real job (``coinlstm run --skip-crawl``, each pair a real Keras fit in its own
process), hour after hour, the next candle of every pair inserted before each hour as the
crawl would bring it.

Why not 48 pairs with ``--refit-every 24`` over a day: that is 1,200 pair processes, minutes
of the test budget even with tiny fits. The bound is ceil(N / refit_every) refits an hour
(train/warmstart.py ``refit_due``: a pair's slot is its coin id, and a job's coin ids are
consecutive), so 6 pairs with ``--refit-every 3`` have the same bound, 2 pairs an hour, and
7 hours hold the first hour and two whole cycles after it: 42 pair processes. The 48-pair,
24-hour cycle itself is replayed at the decision's level in tests/unit/test_warmstart.py and
at full size, with real settings, by bench/day.py.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.demo import synthetic_klines
from coinlstm.core.klines import parse_kline
from tests.helpers import import_into, run_cli

PAIRS = 6
REFIT_EVERY = 3
HOURS = 1 + 2 * REFIT_EVERY
CANDLES = 300
HOUR_MS = 3_600_000
END_OPEN_MS = 1_700_000_000_000 // HOUR_MS * HOUR_MS
#: Tiny real fits: what the schedule needs is that every pair runs, not a good model.
TINY = ["--epochs", "1", "--units", "4", "--layers", "1", "--window", "4", "--val-size", "48",
        "--test-size", "12", "--calibration-size", "48", "--warm-samples", "64",
        "--warm-epochs", "1"]


def _klines(number: int) -> list[list[str]]:
    lines = synthetic_klines(CANDLES + HOURS - 1, seed=500 + number,
                             start_price=0.001 * number, end_open_ms=END_OPEN_MS)
    return [line.split(",") for line in lines]


@pytest.mark.slow
def test_a_day_of_the_job_refits_no_more_than_its_share_of_pairs_an_hour(sqlite_url,
                                                                        tmp_path):
    symbols = [f"SYNDAY{number}ETH" for number in range(1, PAIRS + 1)]
    candles = {symbol: _klines(number) for number, symbol in enumerate(symbols, start=1)}
    folder = tmp_path / "data"
    folder.mkdir()
    for symbol in symbols:
        (folder / f"{symbol}.csv").write_text(
            "\n".join(",".join(row) for row in candles[symbol][:CANDLES]) + "\n")
    import_into(sqlite_url, [folder])
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        ids = {symbol: int(db.coin_by_symbol(conn, symbol).id) for symbol in symbols}
    assert sorted(ids.values()) == list(range(min(ids.values()), min(ids.values()) + PAIRS))
    common = ["run", "--market", "ETH", "--skip-crawl", "--db", sqlite_url, "--artifacts",
              str(tmp_path / "art"), "--workers", "2", "--no-progress", "--refit-every",
              str(REFIT_EVERY), *TINY]
    refits: dict[str, list[int]] = {symbol: [] for symbol in symbols}
    per_hour = []
    for hour in range(HOURS):
        if hour:  # the next candle of every pair, in one transaction as the crawl's
            with db.transaction(engine) as conn:
                for symbol in symbols:
                    row = candles[symbol][CANDLES + hour - 1]
                    db.insert_candles(conn, [parse_kline(ids[symbol], row)])
        # The default (--refits after: the due pairs forecast warm, then refit) and inline
        # (the due pairs' forecasts are their refits), hour by hour in turn.
        rule = "inline" if hour % 2 else "after"
        report_path = tmp_path / f"hour{hour}.json"
        done = run_cli(*common, "--refits", rule, "--report", str(report_path))
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(report_path.read_text())
        results = {p["symbol"]: p["result"] for p in report["pairs"]}
        assert sorted(results) == symbols
        full = [symbol for symbol, result in results.items() if result["fit"] == "full"]
        after = [refit["symbol"] for refit in report["refits"]]
        assert all(refit["status"] == "ok" for refit in report["refits"]), report["refits"]
        if not hour:
            assert len(full) == PAIRS and not after  # every pair is new: from scratch
            per_hour.append(len(full))
            continue
        # Every pair not refitted inline fine-tunes its saved model; under --refits after
        # the due ones too, flagged, and only they are refitted after the forecasts.
        assert {results[symbol]["fit"] for symbol in symbols if symbol not in full} == {
            "warm"}, (hour, results)
        deferred = sorted(s for s, result in results.items() if result["refit_deferred"])
        assert sorted(after) == deferred and (not after or rule == "after"), (hour, after)
        assert not full or rule == "inline", (hour, full)
        due = full + after
        per_hour.append(len(due))
        assert len(due) <= -(-PAIRS // REFIT_EVERY), (hour, due)
        for symbol in due:  # each on its own slot hour: (hour index - coin id) % cycle
            newest_hour = results[symbol]["openTime_last"] // HOUR_MS
            assert (newest_hour - ids[symbol]) % REFIT_EVERY == 0, (hour, symbol)
            assert results[symbol]["fit_reason"].startswith("refit due: hour "), results[symbol]
            refits[symbol].append(hour)
        for symbol in refits:  # a refit after the forecasts serves the next hour
            if refits[symbol] and refits[symbol][-1] == hour - 1:
                assert results[symbol]["fit_reason"].startswith(
                    "1 h of data since the last full fit"), (hour, results[symbol])
    with engine.connect() as conn:  # one forecast and one training row per pair and hour
        for table in (db.historical_price_predictions, db.historical_train):
            counts = conn.execute(sa.select(sa.func.count()).select_from(table).group_by(
                table.c.run_id)).scalars().all()
            assert counts == [PAIRS] * HOURS, (table.name, counts)
    engine.dispose()
    # Nothing is due before half a cycle has passed since the first fits; from then on each
    # hour refits the 2 pairs of its slot, never all 6 at once.
    assert per_hour == [PAIRS, 0] + [PAIRS // REFIT_EVERY] * (HOURS - 2)
    # Each pair's first refit within the cycle after that half, then once a cycle.
    half = -(-REFIT_EVERY // 2)
    for symbol, hours in refits.items():
        assert hours and half <= hours[0] < half + REFIT_EVERY, (symbol, hours)
        assert all(b - a == REFIT_EVERY for a, b in zip(hours, hours[1:], strict=False)), (
            symbol, hours)
