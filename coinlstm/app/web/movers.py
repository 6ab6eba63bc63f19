"""A market's movers and costs evidence as the dashboard reads it: the hours and costs the
scorer stored (predict/evidence.py), and each pair's naive move size now from its last 24
hours of candles. Three statements whatever the number of pairs; nothing written."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.config import INTERVAL_MS
from predict.costs import RollSpread, ValueAfterCosts
from predict.evidence import LOOKBACK_MS, MOVERS_LEVEL, closes_by_pair
from predict.movers import (
    NAIVE_RETURNS,
    HourCorrelation,
    MoversScore,
    latest_volatility,
    movers_score,
)

__all__ = ["MOVERS_LEVEL", "MarketEvidence", "PairCosts", "market_evidence", "pair_costs"]


@dataclass(frozen=True)
class PairCosts:
    """One series' stored spread and value after it (None: the scorer stored none yet)."""

    spread: RollSpread | None
    value: ValueAfterCosts | None


def _costs(row: sa.Row | None) -> PairCosts:
    if row is None:
        return PairCosts(None, None)
    return PairCosts(RollSpread(row.spread, row.autocovariance, int(row.spread_returns)),
                     ValueAfterCosts(int(row.trades), row.value, row.value_pvalue, row.spread))


@dataclass(frozen=True)
class MarketEvidence:
    """What the market page and the API show beside the ranking: the movers score per
    window (``as_of``: its newest stored hour), per pair (coin id) its naive move size now,
    and per series (coin id, model, target) its costs."""

    as_of: int | None = None
    scores: list[MoversScore] = field(default_factory=list)
    naive_now: dict[int, float] = field(default_factory=dict)
    costs: dict[tuple[int, str, str], PairCosts] = field(default_factory=dict)


def market_evidence(conn: sa.Connection, market: str, interval: str, exchange: str,
                    newest_ms: int | None) -> MarketEvidence:
    """The market's stored movers hours of the 30 days before its newest one, its pairs'
    volatility over the 24 hours before ``newest_ms`` (the market's newest candle; None:
    no candles) and its series' stored costs."""
    newest_hour = db.newest_movers_hour(conn, exchange, market, interval)
    stored = [] if newest_hour is None else db.stored_movers_hours(
        conn, exchange, market, interval, newest_hour - LOOKBACK_MS)
    as_of, scores = movers_score([HourCorrelation(int(h.openTime), int(h.pairs), h.spearman,
                                                  h.naive_spearman) for h in stored])
    naive_now = {}
    if newest_ms is not None:
        step = INTERVAL_MS[interval]
        closes = closes_by_pair(db.market_closes_between(
            conn, interval, exchange, market, newest_ms - NAIVE_RETURNS * step, newest_ms))
        for coin, (times, values) in closes.items():
            size = latest_volatility(times, values, step)
            if size is not None:
                naive_now[coin] = size
    costs = {(int(row.id_coin), row.model, row.target): _costs(row)
             for row in db.stored_pair_costs(conn, interval, market=(exchange, market))}
    return MarketEvidence(as_of, scores, naive_now, costs)


def pair_costs(conn: sa.Connection, coin_id: int, interval: str, model: str, target: str
               ) -> PairCosts:
    """One series' stored costs."""
    rows = [row for row in db.stored_pair_costs(conn, interval, [coin_id])
            if (row.model, row.target) == (model, target)]
    return _costs(rows[0] if rows else None)
