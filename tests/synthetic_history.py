"""A SYNTHETIC forecast history without training: made-up pairs, hourly candles and one
forecast per pair and hour from a forecaster of known quality, then scored.

Why: the dashboard's benchmark (bench/serve.py: 400 pairs x 30 days, about 290,000
forecasts) and its browser and API tests need a database the size and shape of months of
hourly runs, which real training cannot make in minutes. Everything here is labelled
synthetic (symbols SYNnnnETH); the demo (coinlstm/app/demo.py) makes a real one. The
benchmarks (bench/serve.py, bench/score.py) import it from here.

Forecasters: ``signal`` sees part of the next log return (a real edge), ``noise`` moves a
little at random around the last close (no evidence either way), ``bad`` moves a lot at
random (worse than naive). Each forecast has 80 % and 95 % bands: normal quantiles of its
kind's own miss (the spread of log(actual / forecast), known here from how the series and
the forecast are drawn), so forward coverage comes out near nominal.
"""

from __future__ import annotations

import json
import math
import random
import time
from statistics import NormalDist
from types import SimpleNamespace

import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.demo import END_OPEN_MS, HOUR_MS
from coinlstm.core.columns import STORED_LEVELS, band_columns
from coinlstm.core.exchanges import DEFAULT_EXCHANGE, EXCHANGES, job_name

KINDS = ("signal", "noise", "bad")


def forecast_price(kind: str, last: float, next_return: float, volatility: float,
                   rng: random.Random) -> float:
    """The forecast of one candle's close by a forecaster of the given kind."""
    if kind == "signal":
        return last * math.exp(0.5 * next_return + rng.gauss(0.0, 0.2 * volatility))
    if kind == "noise":
        return last * math.exp(rng.gauss(0.0, 0.05 * volatility))
    if kind == "bad":
        return last * math.exp(rng.gauss(0.0, 2.0 * volatility))
    raise ValueError(f"unknown forecaster {kind!r}")


#: Standard deviation of log(actual / forecast) per kind, in units of the series'
#: volatility: signal 0.5 r - e (e ~ 0.2), noise r - e (e ~ 0.05), bad r - e (e ~ 2).
MISS_SPREAD = {"signal": math.sqrt(0.5**2 + 0.2**2), "noise": math.sqrt(1 + 0.05**2),
               "bad": math.sqrt(1 + 2.0**2)}


def forecast_bands(kind: str, predicted: float, volatility: float) -> dict:
    """lower_80, upper_80, lower_95, upper_95 of one forecast: the forecast times
    exp(-/+ z sigma), sigma the kind's miss spread; draws no random number (so the series
    and forecasts are the same with or without bands)."""
    spread = MISS_SPREAD[kind] * volatility
    columns = {}
    for level in STORED_LEVELS:
        z = NormalDist().inv_cdf(0.5 + level / 2)
        lower, upper = band_columns(level)
        columns[lower] = predicted * math.exp(-z * spread)
        columns[upper] = predicted * math.exp(z * spread)
    return columns


def candle(coin_id: int, open_ms: int, open_price: float, close: float,
           rng: random.Random) -> dict:
    """One hourly candle row, as ``db.insert_candles`` takes it."""
    volume = rng.uniform(1e5, 5e5)
    return {"idCoin": coin_id, "openTime": open_ms, "open": f"{open_price:.8f}",
            "high": f"{max(open_price, close) * 1.001:.8f}",
            "low": f"{min(open_price, close) * 0.999:.8f}", "close": f"{close:.8f}",
            "volume": f"{volume:.8f}", "closeTime": open_ms + HOUR_MS - 1,
            "quoteAssetVolume": f"{volume * close:.8f}", "numberOfTrader": rng.randint(100, 900),
            "takerBuyBaseAssetVolume": f"{volume / 2:.8f}",
            "takerBuyQuoteAssetVolume": f"{volume * close / 2:.8f}", "ignore": "0"}


class _Forecast(SimpleNamespace):
    """A stored forecast and its candle's close, as the scorer reads them (attributes, and
    ``_mapping`` for the band columns)."""

    @property
    def _mapping(self) -> dict:
        return vars(self)


def _bulk_insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts of ``table``'s columns, every row the same keys, values as the
    database stores them) through the driver's executemany: no per-value type processing,
    which costs more than the database's own work at a year of 400 pairs. The statement
    is SQLAlchemy's, compiled for the connection's dialect."""
    if not rows:
        return
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(rows[0]))
    order = compiled.positiontup
    for start in range(0, len(rows), BULK_ROWS):
        batch = rows[start:start + BULK_ROWS]
        conn.exec_driver_sql(str(compiled), [tuple(row[name] for name in order)
                                             for row in batch] if order else batch)


#: Rows per executemany (a multi-row INSERT on MySQL: within its max_allowed_packet).
BULK_ROWS = 5000


def pair_rows(coin_id: int, kind: str, hours: int, first_open: int, volatility: float,
              bands: bool, job: str, now: int, index: int, rng: random.Random
              ) -> tuple[list[dict], list[dict]]:
    """(candles, forecasts) of one pair: ``hours`` candles from ``first_open`` and a
    forecast of each candle after the first and of the next one."""
    closes, candles = [], []
    price = 0.001 * (1 + index % 50)
    for hour in range(hours):
        step = rng.gauss(0.0, volatility)
        candles.append(candle(coin_id, first_open + hour * HOUR_MS, price,
                              price * math.exp(step), rng))
        price *= math.exp(step)
        closes.append(price)
    rows = []
    for hour in range(hours):
        last = closes[hour]
        following = math.log(closes[hour + 1] / last) if hour + 1 < hours else 0.0
        predicted = forecast_price(kind, last, following, volatility, rng)
        rows.append({
            "id_coin": coin_id, "time_create": now - (hours - hour) * 3600,
            "price_predict": "[]", "price_actual": "[]",
            "price_preidct_last": predicted, "price_actual_last": last,
            "price_actual_previous": closes[hour - 1] if hour else None,
            "run_id": f"{job}-synthetic-h{hour:05d}",
            "openTime_next": first_open + (hour + 1) * HOUR_MS, "model": "lstm",
            "target": "return", "interval": "1h", "edge": None, "skill": None, "horizon": 1,
            "source": "live",
            **(forecast_bands(kind, predicted, volatility) if bands
               else dict.fromkeys(("lower_80", "upper_80", "lower_95", "upper_95")))})
    return candles, rows


def presscored(forecasts: list[dict], candles: list[dict], now: int) -> list[dict]:
    """The scores of ``forecasts`` (with their ids) whose candle is in, but the newest
    candle's: the scorer's own rows (predict/forward_scores.py :func:`score_row`), so that
    the build's closing pass scores one hour and writes every track record and the movers
    and costs evidence as the hourly job would. The actual close is Python's float of the
    candle's text, which SQLite's CAST (what the scorer reads) misses by the last bit for
    about 1 close in 6,000."""
    from predict.forward_scores import score_row

    closes = {row["openTime"]: float(row["close"]) for row in candles}
    newest = max(closes)
    return [score_row(_Forecast(**forecast, actual=closes[forecast["openTime_next"]]), "1h",
                      now)
            for forecast in forecasts
            if forecast["openTime_next"] in closes and forecast["openTime_next"] < newest]


def build(engine: sa.Engine, pairs: int, hours: int, market: str = "ETH", seed: int = 1,
          end_open_ms: int = END_OPEN_MS, kinds: tuple[str, ...] = KINDS,
          volatility: float = 0.006, runs: int = 24, bands: bool = True,
          exchange: str = DEFAULT_EXCHANGE) -> list[str]:
    """Write ``pairs`` synthetic pairs of ``exchange`` with ``hours`` hourly candles each
    and a forecast for every candle after the first (plus the next, not yet closed one),
    with its 80 % and 95 % bands unless ``bands`` is False, then score them (all but the
    newest candle's are written scored, the scorer's own rows; the scorer then scores that
    hour and writes the track records and evidence). Pair i's forecaster is
    ``kinds[i % len(kinds)]``. Returns the symbols (SYNnnn and the market in the exchange's
    form: SYN001ETH, SYN001_ETH, ...)."""
    from predict.forward_scores import score

    rng = random.Random(seed)
    facts = EXCHANGES[exchange]
    bases = [f"SYN{number:03d}" for number in range(1, pairs + 1)]
    symbols = [facts.symbol_of(base, market) for base in bases]
    first_open = end_open_ms - (hours - 1) * HOUR_MS
    job = job_name(exchange, market)
    run_ids = [f"{job}-synthetic-{index:04d}" for index in range(runs)]
    now = int(time.time())
    with db.transaction(engine) as conn:
        next_id = int(conn.execute(sa.select(sa.func.max(
            db.historical_price_predictions.c.id))).scalar() or 0) + 1
        for index, symbol in enumerate(symbols):
            coin_id = db.ensure_coin(conn, symbol, bases[index], market, "TRADING",
                                     exchange=exchange)
            kind = kinds[index % len(kinds)]
            candles, rows = pair_rows(coin_id, kind, hours, first_open, volatility, bands, job,
                                      now, index, rng)
            for offset, row in enumerate(rows):
                row["id"] = next_id + offset
            next_id += len(rows)
            _bulk_insert(conn, db.candles_table("1h"), candles)
            _bulk_insert(conn, db.historical_price_predictions, rows)
            _bulk_insert(conn, db.forecast_scores, presscored(rows, candles, now))
            price = float(candles[-1]["close"])
            conn.execute(db.historical_train.insert().values(
                id_coin=coin_id, time_create=now, price_test="[]", price_predict="[]",
                RMSE=volatility * price, max_error=3 * volatility * price,
                openTime_last=end_open_ms - 48 * HOUR_MS, openTime_newest=end_open_ms,
                naive_RMSE=volatility * price, skill=0.0,
                run_id=run_ids[-1], model="lstm", target="return", backend="synthetic",
                settings=json.dumps({"forecaster": f"synthetic {kind}", "epochs": 0}),
                n_train=0, n_val=0, n_test=48, epochs_run=0, train_seconds=0.0,
                interval="1h", horizon=1))
        _job_runs(conn, run_ids, symbols, job, now)
    score(engine, "1h", market)
    return symbols


def _job_runs(conn: sa.Connection, run_ids: list[str], symbols: list[str], job: str,
              now: int) -> None:
    for number, run_id in enumerate(run_ids):
        start = now - (len(run_ids) - number) * 3600
        failed = {symbols[number % len(symbols)]: "synthetic failure (example)"} \
            if number % 7 == 3 else {}
        conn.execute(db.job_runs.insert().values(
            run_id=run_id, market=job, executor="synthetic", host="localhost",
            pid=0, time_start=start, time_end=start + 60, status="partial" if failed
            else "ok", pairs_ok=len(symbols) - len(failed), pairs_failed=len(failed),
            failures=json.dumps(failed)))
