"""A market's movers and costs evidence as the dashboard reads it: the hours and costs the
scorer stored (predict/evidence.py). Three statements whatever the number of pairs; nothing
written."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import sqlalchemy as sa

from coinlstm import db
from predict.costs import SPREAD_ESTIMATOR, ValueAfterCosts
from predict.evidence import LOOKBACK_MS, MOVERS_LEVEL
from predict.forward_scores import series_value
from predict.movers import HourCorrelation, MoversScore, movers_score

__all__ = ["MOVERS_LEVEL", "SPREAD_ESTIMATOR", "MarketEvidence", "PairCosts", "market_evidence",
           "pair_costs"]


@dataclass(frozen=True)
class PairCosts:
    """One series' stored costs (``stored`` False: the scorer stored none yet): the
    effective spread (SPREAD_ESTIMATOR's; None where undefined) from ``candle_pairs`` pairs
    of consecutive candles, Roll's autocovariance and spread beside it (None where the
    autocovariance is not negative) and the value after the spread."""

    stored: bool
    spread: float | None = None
    candle_pairs: int = 0
    roll_autocovariance: float | None = None
    value: ValueAfterCosts | None = None

    @property
    def roll_spread(self) -> float | None:
        covariance = self.roll_autocovariance
        return 2.0 * math.sqrt(-covariance) if covariance is not None and covariance < 0 else None


def _costs(row: sa.Row | None) -> PairCosts:
    if row is None:
        return PairCosts(False)
    return PairCosts(True, row.spread, int(row.spread_returns), row.autocovariance,
                     series_value(row))


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
