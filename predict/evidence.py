"""The movers and costs evidence, computed by the scoring pass from stored rows and stored
for the dashboard (reading 30 days of a 400-pair market's scores and candles at every page
view took seconds).

- Per market and scored candle (``movers_hours``): the cross-sectional Spearman correlations
  of the tool's ranking (the 80 % band's half-width) and of the naive one (realised
  volatility of the 24 hours before) against the absolute returns that came
  (predict/movers.py). A pass recomputes the hours it scored; a market without any stored
  hour gets its last 30 days.
- Per series (``pair_costs``): its pair's effective spread (Corwin-Schultz, with Roll's
  autocovariance beside it) and the value of its forecasts after that spread over the 30
  days before its newest scored candle (predict/costs.py).

Written in the scorer's transaction, with the scores they come from. Definitions:
docs/movers.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.klines import INTERVAL_MS
from predict.costs import effective_spread, roll_spread, value_after_costs
from predict.movers import (
    NAIVE_RETURNS,
    PairHour,
    expected_move_pct,
    hourly_correlations,
    latest_volatility,
    trailing_volatility,
)
from predict.recent_history import CHUNK_ROWS, LOOKBACK_MS, RecentHistory, pair_columns

#: The band whose half-width is the forecast size of the next move.
MOVERS_LEVEL = 0.8
#: The movers' hours are recomputed this much of them at a time (refresh_market_hours).
SLICE_MS = 86_400_000


def closes_by_pair(chunks: Iterable[db.Tuples]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(idCoin, openTime, close) rows, by time within a pair, read in chunks, as coin ->
    (times, closes) arrays (:func:`pair_columns`: a day of a 500-pair market's closes as
    Python rows was most of a pass's peak)."""
    return {coin: (columns["openTime"], columns["close"])
            for coin, columns in pair_columns(chunks).items()}


def pair_hours(scores: Sequence[sa.Row], naive: dict[int, dict[int, float]], step: int
               ) -> list[PairHour]:
    """One PairHour per pair and scored candle, from the newest forecast for it (of several
    series, the last stored); the naive size is the pair's volatility at its last close."""
    newest: dict[tuple[int, int], sa.Row] = {}
    for row in scores:
        key = (int(row.id_coin), int(row.openTime_next))
        if key not in newest or row.id_prediction > newest[key].id_prediction:
            newest[key] = row
    hours = []
    for (coin, open_time), row in newest.items():
        last = float(row.naive)
        if last:
            hours.append(PairHour(
                pair=coin, open_time=open_time,
                forecast_size=expected_move_pct(row.lower, row.upper, last),
                naive_size=naive.get(coin, {}).get(open_time - step),
                realised=abs(float(row.actual) - last) / last * 100.0))
    return hours


def market_hours(conn: sa.Connection, interval: str, coin_ids: Sequence[int],
                 keys: Sequence[db.SeriesKey], since: int, until: int) -> list[dict]:
    """The movers_hours rows of a market's scored candles from ``since`` to ``until``
    (``coin_ids``: its pairs; ``keys``: their series)."""
    step = INTERVAL_MS[interval]
    closes = closes_by_pair(db.market_closes_between(
        conn, interval, coin_ids, since - (NAIVE_RETURNS + 1) * step, until, CHUNK_ROWS))
    naive = {coin: trailing_volatility(times, values, step)
             for coin, (times, values) in closes.items()}
    scores = db.market_scores_between(conn, keys, since, until, MOVERS_LEVEL)
    return [{"openTime": hour.open_time, "pairs": hour.pairs, "spearman": hour.spearman,
             "naive_spearman": hour.naive_spearman}
            for hour in hourly_correlations(pair_hours(scores, naive, step))]


def refresh_market_hours(conn: sa.Connection, interval: str, exchange: str, market: str,
                         scored: Sequence[int]) -> None:
    """Recompute the market's hours that got scores (``scored``: their candles' open
    times), within 30 days of the newest; all of the last 30 days when none is stored."""
    until = max(scored)
    floor = until - LOOKBACK_MS + 1
    if db.newest_movers_hour(conn, exchange, market, interval) is None:
        since = floor
    else:
        since = max(min(scored), floor)
    coin_ids = db.market_pairs(conn, exchange, market)
    keys = db.series_of_pairs(conn, interval, coin_ids)
    # A day of hours at a time: a market's first pass (30 days of every pair's closes and
    # scores) would otherwise hold a month of the whole market in memory at once.
    hours = [row for start in range(since, until + 1, SLICE_MS)
             for row in market_hours(conn, interval, coin_ids, keys, start,
                                     min(until, start + SLICE_MS - 1))]
    db.replace_movers_hours(conn, exchange, market, interval, since, until, hours)


def series_costs(key: db.SeriesKey, recent: RecentHistory) -> dict:
    """The pair_costs row of a series (``recent``: what the pass read of it): over its
    pair's candles opened after as_of - 30 days up to as_of (its newest scored candle), the
    effective spread (``spread``, from ``spread_returns`` pairs of consecutive candles) and
    Roll's autocovariance (Roll's spread is 2 sqrt(-autocovariance) where it is negative),
    the value of its forecasts of those candles after the spread; and the pair's realised
    volatility of the 24 hours to as_of (the naive size of its next move)."""
    as_of = recent.as_of[key]
    candles = recent.candles_of(key)
    step = INTERVAL_MS[key.interval]
    times, closes = candles.get("openTime", ()), candles.get("close", ())
    spread = effective_spread(times, candles.get("high", ()), candles.get("low", ()), closes,
                              step)
    roll = roll_spread(times, closes, step)
    scores = recent.scores_after(key, as_of - LOOKBACK_MS) or {}
    value = value_after_costs(scores.get("forecast", ()), scores.get("naive", ()),
                              scores.get("actual", ()), spread.spread)
    return {"as_of": as_of, "spread": spread.spread, "autocovariance": roll.autocovariance,
            "spread_returns": spread.pairs, "trades": value.trades, "value": value.mean,
            "value_pvalue": value.p_value, "naive_size": latest_volatility(times, closes, step)}


def refresh_costs(conn: sa.Connection, recent: RecentHistory) -> None:
    """The costs row of each series ``recent`` holds (those a pass scored): before the
    track records, whose verdicts read them."""
    db.replace_pair_costs(conn, {key: series_costs(key, recent) for key in sorted(
        recent.as_of, key=lambda k: (k.id_coin, k.model, k.target))})


def refresh_market_evidence(conn: sa.Connection, interval: str,
                            scored: Sequence[tuple[int, int]]) -> None:
    """After a scoring pass wrote scores (``scored``: their (coin id, candle open time)):
    the movers hours of each market they belong to."""
    if not scored:
        return
    markets = db.markets_of_coins(conn, (coin for coin, _ in scored))
    hours: dict[tuple[str, str], set[int]] = defaultdict(set)
    for coin, open_time in scored:
        exchange, market = markets[coin]
        if exchange is not None:  # a pair of no exchange is on no market page
            hours[(exchange, market)].add(open_time)
    for (exchange, market), candles in sorted(hours.items()):
        refresh_market_hours(conn, interval, exchange, market, sorted(candles))
