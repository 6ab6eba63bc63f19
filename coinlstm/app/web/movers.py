"""A market's movers and costs evidence as the dashboard reads it: the hours and costs the
scorer stored (predict/evidence.py). Three statements whatever the number of pairs; nothing
written."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from coinlstm import db
from predict.costs import RollSpread, ValueAfterCosts
from predict.evidence import LOOKBACK_MS, MOVERS_LEVEL
from predict.movers import HourCorrelation, MoversScore, movers_score

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


def market_evidence(conn: sa.Connection, market: str, interval: str, exchange: str
                    ) -> MarketEvidence:
    """The market's stored movers hours of the 30 days before its newest one and its
    series' stored costs (with their pairs' naive move size: the volatility of the 24 hours
    to their newest scored candle)."""
    newest_hour = db.newest_movers_hour(conn, exchange, market, interval)
    stored = [] if newest_hour is None else db.stored_movers_hours(
        conn, exchange, market, interval, newest_hour - LOOKBACK_MS)
    as_of, scores = movers_score([HourCorrelation(int(h.openTime), int(h.pairs), h.spearman,
                                                  h.naive_spearman) for h in stored])
    rows = db.stored_pair_costs(conn, interval, market=(exchange, market))
    naive_now = {int(row.id_coin): row.naive_size for row in sorted(rows, key=_as_of)
                 if row.naive_size is not None}  # of several series, the newest's
    costs = {(int(row.id_coin), row.model, row.target): _costs(row) for row in rows}
    return MarketEvidence(as_of, scores, naive_now, costs)


def _as_of(row: sa.Row) -> int:
    return int(row.as_of)


def pair_costs(conn: sa.Connection, coin_id: int, interval: str, model: str, target: str
               ) -> PairCosts:
    """One series' stored costs."""
    rows = [row for row in db.stored_pair_costs(conn, interval, [coin_id])
            if (row.model, row.target) == (model, target)]
    return _costs(rows[0] if rows else None)
