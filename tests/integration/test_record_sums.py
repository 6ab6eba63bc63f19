"""The running sums of the track records on a real database (SQLite and MySQL): after every
scoring pass of a growing history (hourly passes, a backfilled forecast and a live one for
the same candle, a forecast for a candle that came late, a rerun), the stored sums equal the
ones recomputed from every score, and every stored window of the track record equals the
one recomputed from every score, up to floating-point round-off. An hourly pass adds to the
sums without recomputing them; the other passes recompute the series they touched."""

from __future__ import annotations

import math
import random

import pytest

from coinlstm import db
from predict import forward_scores, recent_history
from predict.evidence import series_costs
from predict.forward_scores import score, series_record

HOUR = 3_600_000
START = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
KEY = ("lstm", "return", "1h")
#: The recomputation itself, whatever a test counts of it.
FILL = db.fill_record_sums
PAIRS_SCORES_AFTER = db.pairs_scores_after
SCORABLE = db.scorable_forecasts
UPDATE_SUMS = forward_scores.update_record_sums


def _candle(coin: int, hour: int, close: float) -> dict:
    text = f"{close:.8f}"
    return dict(idCoin=coin, openTime=START + hour * HOUR, open=text, high=text, low=text,
                close=text, volume="1.00000000", closeTime=START + (hour + 1) * HOUR - 1,
                quoteAssetVolume="1.00000000", numberOfTrader=1,
                takerBuyBaseAssetVolume="0.50000000", takerBuyQuoteAssetVolume="0.50000000",
                ignore="0")


class History:
    """One pair's closes (a random walk, one candle that does not move) and forecasts of
    them, written to the database hour by hour."""

    def __init__(self, engine, hours: int = 90, symbol: str = "ADAETH"):
        rng = random.Random(3)
        self.engine = engine
        self.closes = [1.0]
        for _ in range(hours):
            self.closes.append(round(self.closes[-1] * math.exp(rng.gauss(0, 0.01)), 8))
        self.closes[40] = self.closes[39]
        self.guesses = [round(c * math.exp(rng.gauss(0, 0.006)), 8) for c in self.closes]
        with db.transaction(engine) as conn:
            self.coin = db.ensure_coin(conn, symbol, symbol[:-3], "ETH", "TRADING")

    def forecast(self, hour: int, source: str = "live", shift: float = 1.0) -> dict:
        """The forecast of candle ``hour`` made from the one before; every third has no
        band."""
        predicted = self.guesses[hour] * shift
        bands = dict.fromkeys(("lower_80", "upper_80", "lower_95", "upper_95")) \
            if hour % 3 == 0 else {
            "lower_80": predicted * 0.99, "upper_80": predicted * 1.01,
            "lower_95": predicted * 0.98, "upper_95": predicted * 1.02}
        return dict(id_coin=self.coin, time_create=1, price_predict="[]", price_actual="[]",
                    price_preidct_last=predicted, price_actual_last=self.closes[hour - 1],
                    run_id=f"{source}-{hour}-{shift}", openTime_next=START + hour * HOUR,
                    model=KEY[0], target=KEY[1], interval=KEY[2], source=source, **bands)

    def write(self, candles: list[int] = (), forecasts: list[dict] = ()) -> None:
        with db.transaction(self.engine) as conn:
            if candles:
                db.insert_candles(conn, [_candle(self.coin, h, self.closes[h]) for h in candles])
            if forecasts:
                conn.execute(db.historical_price_predictions.insert(), list(forecasts))


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
    return a == b


def _assert_same(stored: dict, recomputed: dict) -> None:
    differing = {name: (stored[name], recomputed[name]) for name in recomputed
                 if not _close(stored[name], recomputed[name])}
    assert not differing


def _check(engine, coin: int) -> dict:
    """The stored sums and track record equal the ones recomputed from every score;
    returns the stored sums."""
    key = db.SeriesKey(coin, *KEY)
    with engine.connect() as conn:
        stored = db.stored_record_sums(conn, "1h", [coin])[(coin, KEY[0], KEY[1])]
        records = {row.window: row._asdict()
                   for row in db.stored_track_records(conn, "1h", [coin])}
        as_of, windows = series_record(conn, key)  # every score, no sums
        FILL(conn)
        recomputed = db.stored_record_sums(conn, "1h", [coin])[(coin, KEY[0], KEY[1])]
        conn.rollback()
    _assert_same(stored, recomputed)
    assert {name: records[name]["as_of"] for name in records} == dict.fromkeys(records, as_of)
    for window in windows:
        row = records[window.window]
        _assert_same(row, {name: value for name, value in window.to_dict().items()
                           if name not in ("verdict", "dm_pvalue_adjusted",
                                           "dm_pvalue_worse_adjusted")})
    return stored


@pytest.fixture
def recomputations(monkeypatch):
    """How many times a pass recomputed sums from the scores."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[1:])
        return FILL(*args, **kwargs)

    monkeypatch.setattr(db, "fill_record_sums", counted)
    return calls


def test_running_sums_equal_the_full_recomputation_pass_after_pass(db_url, recomputations):
    engine = db.open_database(db_url)
    history = History(engine)
    # 60 hours; candle 20 forecast only by the backfill, candle 30 by nobody yet, candle 45
    # not in yet (its forecast waits), the forecast of candle 61 waits for its candle.
    history.write(candles=[h for h in range(61) if h != 45],
                  forecasts=[history.forecast(h) for h in range(1, 62) if h not in (20, 30)]
                  + [history.forecast(20, "backfill")])
    assert score(engine).scored == 58
    assert len(recomputations) == 1  # a series without sums: recomputed
    sums = _check(engine, history.coin)
    assert (sums["scored"], sums["scored_live"], sums["scored_backfill"]) == (58, 57, 1)

    for hour in range(61, 75):  # the hourly job: a candle, the next forecast
        history.write(candles=[hour], forecasts=[history.forecast(hour + 1)])
        assert score(engine).scored == 1
        _check(engine, history.coin)
    assert len(recomputations) == 1  # added to, never recomputed

    history.write(forecasts=[history.forecast(20), history.forecast(30, "backfill")])
    assert score(engine).scored == 2  # live over backfill for 20, a late one for 30
    assert len(recomputations) == 2
    sums = _check(engine, history.coin)
    assert (sums["scored_live"], sums["scored_backfill"]) == (72, 1)

    history.write(candles=[45, 75], forecasts=[history.forecast(76),
                                               history.forecast(75, shift=1.01)])
    assert score(engine).scored == 2  # candle 45 came late; 75 rerun before its candle
    assert len(recomputations) == 3
    _check(engine, history.coin)

    history.write(candles=[76], forecasts=[history.forecast(77)])
    assert score(engine).scored == 1
    assert len(recomputations) == 3
    sums = _check(engine, history.coin)
    assert sums["scored"] == 76 and sums["newest"] == START + 76 * HOUR
    assert score(engine).scored == 0
    engine.dispose()


def test_a_pair_resuming_after_a_pause_is_read_apart_from_the_others(db_url, monkeypatch):
    """A pass scoring a pair whose newest candle is more than 30 days behind the others'
    (it resumed trading after a pause) reads the scores of each group of pairs from its own
    window on, not every pair's from the oldest: at a year of 400 pairs that would be
    millions of rows. Every record still equals the one recomputed from all scores."""
    engine = db.open_database(db_url)
    active = History(engine, hours=801)
    paused = History(engine, hours=800, symbol="XRPETH")
    active.write(candles=list(range(800)), forecasts=[active.forecast(h) for h in range(1, 801)])
    paused.write(candles=list(range(40)), forecasts=[paused.forecast(h) for h in range(1, 41)])
    assert score(engine).scored == 799 + 39
    reads = []

    def recorded(conn, keys, after, rows):
        reads.append((sorted(key.id_coin for key in keys), after))
        return PAIRS_SCORES_AFTER(conn, keys, after, rows)

    monkeypatch.setattr(db, "pairs_scores_after", recorded)
    active.write(candles=[800], forecasts=[active.forecast(801)])
    paused.write(candles=[40])  # its pending forecast, of candle 40, is scored now
    assert score(engine).scored == 2
    month = 30 * 24 * HOUR
    assert reads == [([paused.coin], START + 40 * HOUR - month),
                     ([active.coin], START + 800 * HOUR - month)]
    for history in (active, paused):
        _check(engine, history.coin)


@pytest.mark.parametrize("parts", ["forecasts", "series"])
def test_a_pass_scores_and_reads_in_parts_with_the_records_and_costs_of_one_read(
        db_url, monkeypatch, parts):
    """A pass holds one part at a time: of the forecasts it scores (forward_scores
    pair_parts: at most PART_FORECASTS, here fewer than a pair has, so a pair a part), of
    its series' running sums (series_parts: PART_SERIES series, here one) and of its
    series' month (recent_history in_parts: here one series a part). Three pairs are
    scored, summed and read one by one, and every stored track record and costs row equals
    what one read of all three gives."""
    engine = db.open_database(db_url)
    pairs = [History(engine, hours=200, symbol=symbol)
             for symbol in ("ADAETH", "XRPETH", "LTCETH")]
    for history in pairs:
        history.write(candles=list(range(200)),
                      forecasts=[history.forecast(h) for h in range(1, 201)])
    reads = []

    def recorded(conn, keys, after, rows):
        reads.append(sorted(key.id_coin for key in keys))
        return PAIRS_SCORES_AFTER(conn, keys, after, rows)

    scorable = []

    def scorable_recorded(conn, interval, coin_ids=None, mark=None):
        scorable.append(sorted(coin_ids))
        return SCORABLE(conn, interval, coin_ids, mark)

    summed = []

    def sums_recorded(conn, interval, rows, replaced=()):
        summed.append(sorted({int(row["id_coin"]) for row in rows}))
        return UPDATE_SUMS(conn, interval, rows, replaced)

    monkeypatch.setattr(db, "pairs_scores_after", recorded)
    monkeypatch.setattr(db, "scorable_forecasts", scorable_recorded)
    monkeypatch.setattr(forward_scores, "update_record_sums", sums_recorded)
    monkeypatch.setattr(recent_history, "PART_SERIES", 1)
    monkeypatch.setattr(forward_scores, "PART_SERIES", 1)
    if parts == "forecasts":
        monkeypatch.setattr(forward_scores, "PART_FORECASTS", 150)
    assert score(engine).scored == 3 * 199
    one_by_one = [[history.coin] for history in pairs]
    assert sorted(reads) == sorted(summed) == one_by_one
    assert sorted(scorable) == (one_by_one if parts == "forecasts"
                                else [sorted(history.coin for history in pairs)])
    keys = [db.SeriesKey(history.coin, *KEY) for history in pairs]
    with engine.connect() as conn:
        costs = {(int(row.id_coin), row.model, row.target): row._asdict()
                 for row in db.stored_pair_costs(conn, "1h")}
        as_of = {key: costs[(key.id_coin, key.model, key.target)]["as_of"] for key in keys}
        whole = recent_history.read_recent_history(conn, as_of)
    for key in keys:
        _assert_same(costs[(key.id_coin, key.model, key.target)],
                     {"id_coin": key.id_coin, **series_costs(key, whole)})
    for history in pairs:
        _check(engine, history.coin)
