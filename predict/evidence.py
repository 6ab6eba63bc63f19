"""The movers and costs evidence, computed by the scoring pass from stored rows and stored
for the dashboard (reading 30 days of a 400-pair market's scores and candles at every page
view took seconds).

- Per market and scored candle (``movers_hours``): the cross-sectional Spearman correlations
  of the tool's ranking (the 80 % band's half-width) and of the naive one (realised
  volatility of the 24 hours before) against the absolute returns that came
  (predict/movers.py). A pass recomputes the hours it scored; a market without any stored
  hour gets its last 30 days.
- Per series (``pair_costs``): its pair's Roll spread and the value of its forecasts after
  it over the 30 days before its newest scored candle (predict/costs.py).

Written in the scorer's transaction, with the scores they come from. Definitions:
docs/movers.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.klines import INTERVAL_MS
from predict.costs import roll_spread, value_after_costs
from predict.movers import (
    NAIVE_RETURNS,
    PairHour,
    expected_move_pct,
    hourly_correlations,
    latest_volatility,
    trailing_volatility,
)

#: The band whose half-width is the forecast size of the next move.
MOVERS_LEVEL = 0.8
#: The span the figures cover: the 30 days the longest window holds.
LOOKBACK_MS = 30 * 86_400_000


def closes_by_pair(rows: Sequence[sa.Row]) -> dict[int, tuple[list[int], list[float]]]:
    """(idCoin, openTime, close) rows, by time within a pair, as coin -> (times, closes)."""
    found: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for row in rows:
        times, closes = found[int(row.idCoin)]
        times.append(int(row.openTime))
        closes.append(float(row.close))
    return dict(found)


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


def market_hours(conn: sa.Connection, interval: str, exchange: str, market: str,
                 since: int, until: int) -> list[dict]:
    """The movers_hours rows of the market's scored candles from ``since`` to ``until``."""
    step = INTERVAL_MS[interval]
    closes = closes_by_pair(db.market_closes_between(
        conn, interval, exchange, market, since - (NAIVE_RETURNS + 1) * step, until))
    naive = {coin: trailing_volatility(times, values, step)
             for coin, (times, values) in closes.items()}
    scores = db.market_scores_between(conn, interval, exchange, market, since, until,
                                      MOVERS_LEVEL)
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
    db.replace_movers_hours(conn, exchange, market, interval, since, until,
                            market_hours(conn, interval, exchange, market, since, until))


def series_costs(conn: sa.Connection, key: db.SeriesKey, as_of: int) -> dict:
    """The pair_costs row of a series whose newest scored candle is ``as_of``: over the
    candles opened after as_of - 30 days up to as_of, its pair's Roll spread and the value
    of its forecasts after it; and the pair's realised volatility of the 24 hours to as_of
    (the naive size of its next move)."""
    since = as_of - LOOKBACK_MS + 1
    candles = [c for c in db.closes_since(conn, key.id_coin, key.interval, since)
               if c.openTime <= as_of]
    spread = roll_spread([int(c.openTime) for c in candles], [float(c.close) for c in candles],
                         INTERVAL_MS[key.interval])
    scores = [s for s in db.scores_since(conn, key.id_coin, key.model, key.target,
                                         key.interval, since) if s.openTime_next <= as_of]
    value = value_after_costs([float(s.forecast) for s in scores],
                              [float(s.naive) for s in scores],
                              [float(s.actual) for s in scores], spread.spread)
    naive = latest_volatility([int(c.openTime) for c in candles],
                              [float(c.close) for c in candles], INTERVAL_MS[key.interval])
    return {"as_of": as_of, "spread": spread.spread, "autocovariance": spread.autocovariance,
            "spread_returns": spread.pairs, "trades": value.trades, "value": value.mean,
            "value_pvalue": value.p_value, "naive_size": naive}


def refresh_evidence(conn: sa.Connection, interval: str, scores: Sequence[dict]) -> None:
    """After a scoring pass wrote ``scores`` (forecast_scores rows): the movers hours of
    each market they belong to and the costs of each series they belong to."""
    if not scores:
        return
    markets = db.markets_of_coins(conn, (row["id_coin"] for row in scores))
    hours: dict[tuple[str, str], set[int]] = defaultdict(set)
    newest: dict[db.SeriesKey, int] = {}
    for row in scores:
        exchange, market = markets[int(row["id_coin"])]
        if exchange is not None:  # a pair of no exchange is on no market page
            hours[(exchange, market)].add(int(row["openTime_next"]))
        key = db.SeriesKey(int(row["id_coin"]), row["model"], row["target"], interval)
        newest[key] = max(newest.get(key, 0), int(row["openTime_next"]))
    for (exchange, market), scored in sorted(hours.items()):
        refresh_market_hours(conn, interval, exchange, market, sorted(scored))
    for key in sorted(newest, key=lambda k: (k.id_coin, k.model, k.target)):
        as_of = db.series_as_of(conn, key)
        db.replace_pair_costs(conn, key, series_costs(conn, key, as_of or newest[key]))
