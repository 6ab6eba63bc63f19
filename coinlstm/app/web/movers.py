"""A market's movers evidence at read time, from stored rows only: the forward score of
ranking its pairs by the forecast size of their next move (predict/movers.py), each pair's
naive move size and Roll spread from its candles, and each series' value after that spread
(predict/costs.py). Bounded: the last 30 days of scores and candles of one market, three
statements (two reads and nothing written)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.config import INTERVAL_MS
from predict.costs import RollSpread, ValueAfterCosts, roll_spread, value_after_costs
from predict.movers import (
    NAIVE_RETURNS,
    MoversScore,
    PairHour,
    expected_move_pct,
    hourly_correlations,
    movers_score,
    trailing_volatility,
)

#: The band whose half-width is the forecast size of the next move.
MOVERS_LEVEL = 0.8
#: The window read: scores and candles of the last 30 days before the newest candle.
LOOKBACK_MS = 30 * 86_400_000


@dataclass(frozen=True)
class MarketEvidence:
    """What the market page and the API show beside the ranking: the movers score per
    window (``as_of``: its newest scored hour), per pair (coin id) its naive move size now
    (% realised volatility of its last 24 returns) and its Roll spread, and per series
    (coin id, model, target) its value after that spread."""

    as_of: int | None = None
    scores: list[MoversScore] = field(default_factory=list)
    naive_now: dict[int, float] = field(default_factory=dict)
    spreads: dict[int, RollSpread] = field(default_factory=dict)
    values: dict[tuple[int, str, str], ValueAfterCosts] = field(default_factory=dict)


def market_evidence(conn: sa.Connection, market: str, interval: str, exchange: str,
                    newest_ms: int | None) -> MarketEvidence:
    """The evidence of the window ending at the market's newest candle (``newest_ms``;
    None: no candles, an empty evidence with every window at ``no evidence``)."""
    if newest_ms is None:
        return MarketEvidence(scores=movers_score([])[1])
    step = INTERVAL_MS[interval]
    since = newest_ms - LOOKBACK_MS
    closes: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for row in db.market_closes_since(conn, interval, market, exchange,
                                      since - (NAIVE_RETURNS + 1) * step):
        times, values = closes[int(row.idCoin)]
        times.append(int(row.openTime))
        values.append(float(row.close))
    naive = {coin: trailing_volatility(times, values, step)
             for coin, (times, values) in closes.items()}
    spreads = {coin: roll_spread(*_since(times, values, since), step)
               for coin, (times, values) in closes.items()}
    scores = db.market_scores_since(conn, interval, market, exchange, since, MOVERS_LEVEL)
    as_of, windows = movers_score(hourly_correlations(_pair_hours(scores, naive, step)))
    return MarketEvidence(
        as_of=as_of, scores=windows,
        naive_now={coin: sizes[max(sizes)] for coin, sizes in naive.items() if sizes},
        spreads=spreads, values=_values(scores, spreads))


def _since(times: list[int], values: list[float], since: int
           ) -> tuple[list[int], list[float]]:
    """The candles opened at or after ``since`` (the spread's 30 days, not the naive
    volatility's extra day)."""
    keep = [index for index, time in enumerate(times) if time >= since]
    return [times[i] for i in keep], [values[i] for i in keep]


def _pair_hours(scores: list[sa.Row], naive: dict[int, dict[int, float]], step: int
                ) -> list[PairHour]:
    """One PairHour per pair and scored candle, from the newest forecast for it (of
    several series, the last stored)."""
    newest: dict[tuple[int, int], sa.Row] = {}
    for row in scores:
        key = (int(row.id_coin), int(row.openTime_next))
        if key not in newest or row.id_prediction > newest[key].id_prediction:
            newest[key] = row
    hours = []
    for (coin, open_time), row in newest.items():
        last = float(row.naive)
        if not last:
            continue
        hours.append(PairHour(
            pair=coin, open_time=open_time,
            forecast_size=expected_move_pct(row.lower, row.upper, last),
            naive_size=naive.get(coin, {}).get(open_time - step),
            realised=abs(float(row.actual) - last) / last * 100.0))
    return hours


def _values(scores: list[sa.Row], spreads: dict[int, RollSpread]
            ) -> dict[tuple[int, str, str], ValueAfterCosts]:
    """Each series' value after its pair's spread, over its scored candles of the window."""
    series: dict[tuple[int, str, str], list[sa.Row]] = defaultdict(list)
    for row in scores:
        series[(int(row.id_coin), row.model, row.target)].append(row)
    values = {}
    for key, rows in series.items():
        spread = spreads.get(key[0])
        values[key] = value_after_costs(
            [float(r.forecast) for r in rows], [float(r.naive) for r in rows],
            [float(r.actual) for r in rows], None if spread is None else spread.spread)
    return values


@dataclass(frozen=True)
class PairCosts:
    """One series' spread and value after it, over the 30 days before its pair's newest
    candle (what the pair page shows beside the track record)."""

    spread: RollSpread
    value: ValueAfterCosts


def pair_costs(conn: sa.Connection, coin_id: int, interval: str, model: str, target: str,
               newest_ms: int | None) -> PairCosts:
    """The pair's Roll spread from its candles and the series' value after it."""
    if newest_ms is None:
        return PairCosts(RollSpread(None, None, 0), value_after_costs([], [], [], None))
    since = newest_ms - LOOKBACK_MS
    candles = db.closes_since(conn, coin_id, interval, since)
    spread = roll_spread([int(c.openTime) for c in candles], [float(c.close) for c in candles],
                         INTERVAL_MS[interval])
    scores = db.scores_since(conn, coin_id, model, target, interval, since)
    value = value_after_costs([float(s.forecast) for s in scores],
                              [float(s.naive) for s in scores],
                              [float(s.actual) for s in scores], spread.spread)
    return PairCosts(spread, value)
