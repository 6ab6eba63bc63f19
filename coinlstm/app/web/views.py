"""What the dashboard shows, as plain JSON-ready dicts: the pages render them and the API
returns them, so a page never shows a figure the API does not give.

Ages and windows are data time: a pair is behind when its newest candle is older than the
market's newest, a forecast is behind when it is not for the pair's next candle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.web.movers import (
    MOVERS_LEVEL,
    MarketEvidence,
    PairCosts,
    market_evidence,
    pair_costs,
)
from coinlstm.core.columns import STORED_LEVELS, band_columns, level_label, record_band_columns
from coinlstm.core.exchanges import DEFAULT_EXCHANGE, job_name, split_job_name
from coinlstm.core.klines import EVERY_MARKET, INTERVAL_MS
from predict.costs import after_costs
from predict.movers import expected_move_pct
from predict.track_record import (
    EDGE,
    NO_EVIDENCE,
    band_width_pct,
    cumulative_loss_differential,
    verdict_basis,
)
from predict.track_record import (
    FDR as EDGE_FDR,
)

#: A pair or forecast more than this many candles behind is flagged stale.
STALE_AFTER_CANDLES = 1
DAY_MS = 86_400_000


class NotFound(LookupError):
    """An unknown symbol or market: the API's 404."""


@lru_cache(maxsize=4096)
def iso(ms: int | None) -> str | None:
    """UTC time of a ms timestamp as the pages and the API show it (cached: a market's pairs
    share their candle times).

    A stored time no calendar can show (years beyond 9999, a value that is no number) is
    None, shown as '-': one bad row never takes a page down."""
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, TypeError, ValueError):
        return None


def _round(value: float | None, digits: int = 6) -> float | None:
    """A figure to ``digits`` significant digits (prices in ETH are tiny: 0.0005)."""
    return None if value is None else float(f"{float(value):.{digits}g}")


@dataclass(frozen=True)
class _LevelNames:
    """One stored level's names, worked out once (the market page reads them 400 times)."""

    level: float
    label: str
    lower: str
    upper: str
    coverage: str
    banded: str
    width: str


_LEVELS = tuple(_LevelNames(level, level_label(level), *band_columns(level),
                            *record_band_columns(level)) for level in STORED_LEVELS)


def _bounds(row: sa.Row, names: _LevelNames) -> tuple[float | None, float | None]:
    """A forecast row's band of one level (None, None without one)."""
    lower, upper = getattr(row, names.lower), getattr(row, names.upper)
    if lower is None or upper is None:
        return None, None
    return float(lower), float(upper)


_MOVERS_NAMES = next(names for names in _LEVELS if names.level == MOVERS_LEVEL)


def levels() -> list[dict]:
    """The band levels the pages show: {"level": 0.8, "label": "80"}, ..."""
    return [{"level": names.level, "label": names.label} for names in _LEVELS]


#: What the ranking shows of a pair's stored 7d and 30d track records.
RANKING_RECORD_COLUMNS = ("scored", "skill", "verdict", "dm_pvalue", "scored_live",
                          "scored_backfill",
                          *(name for names in _LEVELS for name in (names.coverage,
                                                                   names.banded)))


def ranking(conn: sa.Connection, market: str, interval: str,
            exchange: str = DEFAULT_EXCHANGE) -> dict:
    """Every pair of the market on ``exchange``: close, newest forecast, change, its band's
    width and the expected move (its half-width), verdict (after the spread), 7d/30d
    forward skill and 30d band coverage, the Roll spread and the value after it, staleness;
    pairs with an edge first, then by forecast change (largest rise); and the movers score
    of the market (``movers``). Three statements for the pairs and three for the stored
    evidence (coinlstm.app.web.movers), whatever their number."""
    newest = db.newest_of_pairs(conn, interval, market=market, exchange=exchange)
    if not newest:
        raise NotFound(f"no pairs of market {market} on {exchange}")
    coins = [pair.coin for pair in newest]
    candles = {int(pair.coin.id): pair.candle for pair in newest if pair.candle is not None}
    forecasts = {int(pair.coin.id): pair.forecast for pair in newest
                 if pair.forecast is not None}
    records = {}
    for row in db.market_track_records(conn, interval, market, exchange, ["7d", "30d"],
                                       RANKING_RECORD_COLUMNS):
        records[(int(row.id_coin), row.model, row.target, row.window)] = row
    step = INTERVAL_MS[interval]
    market_newest = max((row.openTime for row in candles.values()), default=None)
    evidence = market_evidence(conn, market, interval, exchange)
    pairs = []
    for coin in coins:
        candle, forecast = candles.get(int(coin.id)), forecasts.get(int(coin.id))
        entry = _ranking_entry(coin, candle, forecast, records, market_newest, step)
        entry.update(_evidence_entry(coin, entry, evidence))
        pairs.append(entry)
    pairs.sort(key=lambda p: (p["verdict"] != EDGE, p["change_pct"] is None,
                              -(p["change_pct"] or 0.0), p["symbol"]))
    run = db.last_run(conn, [job_name(exchange, market), job_name(exchange, EVERY_MARKET)])
    return {"market": market, "exchange": exchange, "interval": interval,
            "newest_candle": iso(market_newest), "newest_candle_ms": market_newest,
            "pairs": pairs, "edges": _edge_count(pairs),
            "last_run": None if run is None else run_entry(run),
            "movers": movers_record(evidence)}


def _edge_count(pairs: list[dict]) -> dict:
    """How many of the market's pairs show an edge (their verdict, Benjamini-Hochberg
    adjusted across the market's pairs and then held against the spread), of how many."""
    return {"edge": sum(p["verdict"] == EDGE for p in pairs), "pairs": len(pairs),
            "fdr": EDGE_FDR}


def movers_record(evidence: MarketEvidence) -> dict:
    """The movers score per window as the API gives it (rounded), with its end hour."""
    return {"as_of": iso(evidence.as_of), "level": MOVERS_LEVEL,
            "windows": [{key: _round(value) if isinstance(value, float) else value
                         for key, value in score.to_dict().items()}
                        for score in evidence.scores]}


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else _round(fraction * 100.0, 4)


def _costs_figures(costs: PairCosts) -> dict:
    """The spread (% of the price; None where Roll's estimator is undefined or none is
    stored yet) and the value after it (% per traded hour, the traded hours, its one-sided
    p-value)."""
    spread, value = costs.spread, costs.value
    return {"spread_pct": _percent(None if spread is None else spread.spread),
            "spread_autocovariance": None if spread is None
            else _round(spread.autocovariance),
            "value_after_costs_pct": _percent(None if value is None else value.mean),
            "traded_hours": 0 if value is None else value.trades,
            "value_pvalue": None if value is None else _round(value.p_value),
            "worth_trading": False if value is None else value.worth_trading}


def _evidence_entry(coin: sa.Row, entry: dict, evidence: MarketEvidence) -> dict:
    """A ranking entry's movers and costs figures; its verdict after the spread
    (``record_verdict``: the track record's own)."""
    coin_id = int(coin.id)
    costs = evidence.costs.get((coin_id, entry["model"] or "", entry["target"] or ""),
                               PairCosts(None, None))
    naive = evidence.naive_now.get(coin_id)
    return {"naive_move_pct": None if naive is None else _round(naive, 4),
            **_costs_figures(costs), "record_verdict": entry["verdict"],
            "verdict": after_costs(entry["verdict"], costs.value)}


def movers(conn: sa.Connection, market: str, interval: str,
           exchange: str = DEFAULT_EXCHANGE) -> dict:
    """The market's pairs by the forecast size of their next move (largest first; pairs
    without one last), beside the naive size, and the ranking's forward score."""
    data = ranking(conn, market, interval, exchange)
    keys = ("symbol", "expected_move_pct", "naive_move_pct", "last_close", "forecast_for",
            "band_80_pct", "spread_pct", "verdict", "stale")
    pairs = [{key: pair[key] for key in keys} for pair in data["pairs"]]
    pairs.sort(key=lambda p: (p["expected_move_pct"] is None, -(p["expected_move_pct"] or 0),
                              p["symbol"]))
    return {"market": market, "exchange": exchange, "interval": interval,
            "newest_candle": data["newest_candle"], "score": data["movers"], "pairs": pairs}


def _ranking_entry(coin, candle, forecast, records, market_newest, step) -> dict:
    entry = {"symbol": coin.symbol, "status": coin.status,
             "last_close": None if candle is None else float(candle.close),
             "last_candle": None if candle is None else iso(candle.openTime),
             "candles_behind": None if candle is None else (market_newest - candle.openTime)
             // step,
             "forecast": None, "forecast_for": None, "forecast_behind": None,
             "change_pct": None, "expected_move_pct": None, "model": None, "target": None,
             "verdict": NO_EVIDENCE,
             "skill_7d": None, "scored_7d": 0, "skill_30d": None, "scored_30d": 0,
             "dm_pvalue_30d": None, "dm_pvalue_adjusted_30d": None,
             "scored_live_30d": None, "scored_backfill_30d": None, "rests_on_30d": ""}
    for names in _LEVELS:
        entry.update({f"band_{names.label}_pct": None, f"{names.coverage}_30d": None,
                      f"{names.banded}_30d": 0})
    if forecast is not None:
        for names in _LEVELS:
            width = band_width_pct(*_bounds(forecast, names), forecast.price_actual_last)
            entry[f"band_{names.label}_pct"] = None if width is None else _round(width, 4)
        base = float(forecast.price_actual_last)
        move = expected_move_pct(*_bounds(forecast, _MOVERS_NAMES), base)
        entry["expected_move_pct"] = None if move is None else _round(move, 4)
        model, target = forecast.model or "", forecast.target or ""
        entry.update(
            forecast=float(forecast.price_preidct_last), forecast_for=iso(forecast.openTime_next),
            change_pct=_round((forecast.price_preidct_last - base) / base * 100.0, 4)
            if base else None, model=model, target=target,
            forecast_behind=None if candle is None or forecast.openTime_next is None
            else max(0, (candle.openTime + step - forecast.openTime_next) // step))
        for window in ("7d", "30d"):
            record = records.get((int(coin.id), model, target, window))
            if record is not None:
                entry[f"skill_{window}"] = _round(record.skill)
                entry[f"scored_{window}"] = int(record.scored)
                if window == "30d":
                    entry["verdict"] = record.verdict
                    entry.update({f"{key}_30d": value
                                  for key, value in _sources(record).items()})
                    entry["dm_pvalue_30d"] = _round(record.dm_pvalue)
                    entry["dm_pvalue_adjusted_30d"] = _round(record.dm_pvalue_adjusted)
                    for names in _LEVELS:
                        entry[f"{names.coverage}_30d"] = _round(getattr(record,
                                                                        names.coverage))
                        entry[f"{names.banded}_30d"] = int(getattr(record, names.banded) or 0)
    entry["stale"] = any(value is not None and value > STALE_AFTER_CANDLES
                         for value in (entry["candles_behind"], entry["forecast_behind"]))
    return entry


def pair(conn: sa.Connection, symbol: str, exchange: str = DEFAULT_EXCHANGE) -> sa.Row:
    """The pair's coin_info row on ``exchange``; NotFound (the API's 404) for a symbol the
    database does not have there."""
    coin = db.coin_by_symbol(conn, symbol, exchange)
    if coin is None:
        raise NotFound(f"unknown symbol {symbol} on {exchange}")
    return coin


def _newest(conn: sa.Connection, coin: sa.Row, interval: str) -> db.PairNewest:
    return db.newest_of_pairs(conn, interval, coin_ids=[int(coin.id)])[0]


def _series(newest: db.PairNewest, model: str | None, target: str | None) -> tuple[str, str]:
    """The series shown: the one asked for, else the newest forecast's."""
    forecast = newest.forecast
    if model is None:
        model = "" if forecast is None else forecast.model or ""
    if target is None:
        target = "" if forecast is None else forecast.target or ""
    return model, target


def track_record(conn: sa.Connection, coin: sa.Row, interval: str, model: str | None = None,
                 target: str | None = None) -> dict:
    """The pair's (:func:`pair`) forward track record per window for one forecaster
    (default: the one that made its newest forecast)."""
    if model is None or target is None:
        model, target = _series(_newest(conn, coin, interval), model, target)
    rows = {row.window: row for row in db.stored_track_records(conn, interval, [int(coin.id)])
            if (row.model, row.target) == (model, target)}
    windows = []
    for name in db.TRACK_RECORD_WINDOWS:
        row = rows.get(name)
        windows.append({
            "window": name, "scored": 0 if row is None else int(row.scored),
            **{key: None if row is None else _round(getattr(row, key))
               for key in ("rmse", "naive_rmse", "skill", "mae", "naive_mae", "direction",
                           "dm_stat", "dm_pvalue", "dm_pvalue_worse", "dm_pvalue_adjusted",
                           "dm_pvalue_worse_adjusted")},
            "moved": 0 if row is None else int(row.moved),
            "verdict": NO_EVIDENCE if row is None else row.verdict,
            **_sources(row),
            "as_of": None if row is None else iso(row.as_of),
            **_band_figures(row)})
    return {"symbol": coin.symbol, "exchange": coin.exchange, "interval": interval,
            "model": model, "target": target, "levels": levels(), "windows": windows}


def _sources(row: sa.Row | None) -> dict:
    """What a window's record rests on: its scored forecasts published live and backfilled,
    and the two in words (``live 12 h + backfill 720 h``)."""
    live = None if row is None else row.scored_live
    backfill = None if row is None else row.scored_backfill
    return {"scored_live": live, "scored_backfill": backfill,
            "rests_on": verdict_basis(live, backfill)}


def costs(conn: sa.Connection, coin: sa.Row, interval: str, model: str | None = None,
          target: str | None = None) -> dict:
    """The pair's (:func:`pair`) Roll spread and the value of one forecaster's forecasts
    after it (default: the newest forecast's), as the scorer stored them for the 30 days to
    the series' newest scored candle, and the pair's verdict: its 30-day record's, ``edge
    within the spread`` where an edge is not worth trading after the spread."""
    newest = _newest(conn, coin, interval)
    model, target = _series(newest, model, target)
    rows = [row for row in db.stored_track_records(conn, interval, [int(coin.id)], ["30d"])
            if (row.model, row.target) == (model, target)]
    record_verdict = rows[0].verdict if rows else NO_EVIDENCE
    found = pair_costs(conn, int(coin.id), interval, model, target)
    return {"symbol": coin.symbol, "exchange": coin.exchange, "interval": interval,
            "model": model, "target": target,
            "spread_returns": 0 if found.spread is None else found.spread.pairs,
            **_costs_figures(found), "record_verdict": record_verdict,
            "verdict": after_costs(record_verdict, found.value)}


def _band_figures(row: sa.Row | None) -> dict:
    """A window's forward band figures per stored level beside the level itself:
    ``nominal_80`` (0.8), ``coverage_80`` (None when no scored forecast had a band),
    ``banded_80`` and ``width_80`` (mean width, % of the last close)."""
    figures = {}
    for names in _LEVELS:
        figures.update({
            f"nominal_{names.label}": names.level,
            names.coverage: None if row is None else _round(getattr(row, names.coverage)),
            names.banded: 0 if row is None else int(getattr(row, names.banded) or 0),
            names.width: None if row is None else _round(getattr(row, names.width))})
    return figures


def history(conn: sa.Connection, coin: sa.Row, interval: str, days: int,
            model: str | None = None, target: str | None = None) -> dict:
    """The pair's (:func:`pair`) last ``days`` of closes, every forecast at the candle it
    was for (the newest per candle) with its bands per stored level, the naive forecast,
    the next forecast and its bands, and the cumulative squared-error difference model -
    naive of the scored ones."""
    symbol, exchange = coin.symbol, coin.exchange
    pair_newest = _newest(conn, coin, interval)
    model, target = _series(pair_newest, model, target)
    newest = pair_newest.candle
    if newest is None:
        return {"symbol": symbol, "exchange": exchange, "interval": interval, "model": model,
                "target": target, "days": days, "closes": [], "forecasts": [],
                "backfilled": [], "naive": [],
                "next": None, "bands": {names.label: [] for names in _LEVELS},
                "cumulative": []}
    since = newest.openTime - days * DAY_MS
    closes = db.closes_since(conn, int(coin.id), interval, since)
    by_candle: dict[int, sa.Row] = {}
    for row in db.forecasts_since(conn, int(coin.id), interval, since):
        held = by_candle.get(row.openTime_next)
        if (row.model or "", row.target or "") == (model, target) and (
                held is None or row.source == db.SOURCE_LIVE or held.source != db.SOURCE_LIVE):
            by_candle[row.openTime_next] = row  # ordered by id: a live one, then the newest
    shown = [by_candle[t] for t in sorted(by_candle)]
    upcoming = [row for row in shown if row.openTime_next > newest.openTime]
    scores = db.scores_since(conn, int(coin.id), model, target, interval, since)
    cumulative = cumulative_loss_differential([s.error for s in scores],
                                              [s.naive_error for s in scores])
    following = None
    if upcoming:
        row = upcoming[-1]
        bounds = {names.label: _bounds(row, names) for names in _LEVELS}
        following = {"time": iso(row.openTime_next), "forecast": float(row.price_preidct_last),
                     "last_close": float(row.price_actual_last),
                     "bands": {label: list(band) for label, band in bounds.items()
                               if band[0] is not None}}
    return {
        "symbol": symbol, "exchange": exchange, "interval": interval, "model": model,
        "target": target, "days": days,
        "closes": [[iso(r.openTime), float(r.close)] for r in closes],
        "forecasts": [[iso(r.openTime_next), float(r.price_preidct_last)] for r in shown
                      if r.openTime_next <= newest.openTime and r.source != db.SOURCE_BACKFILL],
        # Backfilled forecasts (``coinlstm backfill``), drawn apart from the published ones.
        "backfilled": [[iso(r.openTime_next), float(r.price_preidct_last)] for r in shown
                       if r.openTime_next <= newest.openTime
                       and r.source == db.SOURCE_BACKFILL],
        "naive": [[iso(r.openTime_next), float(r.price_actual_last)] for r in shown],
        "next": following,
        "bands": {names.label: _band_points(shown, names) for names in _LEVELS},
        "cumulative": [[iso(s.openTime_next), _round(v, 12)]
                       for s, v in zip(scores, cumulative, strict=True)],
    }


def _band_points(shown: list[sa.Row], names: _LevelNames) -> list[list]:
    """``[time, lower, upper]`` of every forecast shown (the next one's too) at the candle it
    was for; ``None`` bounds where a forecast had no band (the chart leaves a gap), and an
    empty list when none had one."""
    points = [[iso(row.openTime_next), *_bounds(row, names)] for row in shown]
    return points if any(point[1] is not None for point in points) else []


def model_info(conn: sa.Connection, coin: sa.Row, interval: str) -> dict:
    """The pair's (:func:`pair`) newest training run: its settings and test-slice metrics."""
    symbol, exchange = coin.symbol, coin.exchange
    row = db.latest_training(conn, int(coin.id), interval)
    if row is None:
        return {"symbol": symbol, "exchange": exchange, "interval": interval,
                "trained": None}
    settings = _json_object(row.settings)
    metrics = {key: _round(getattr(row, key)) for key in (
        "RMSE", "naive_RMSE", "MAE", "naive_MAE", "skill", "direction_accuracy", "shrinkage",
        "shrinkage_t", "train_seconds")}
    return {"symbol": symbol, "exchange": exchange, "interval": interval,
            "trained": iso(_ms(row.time_create)),
            "run_id": row.run_id, "model": row.model, "target": row.target,
            "backend": row.backend, "settings": settings, "test_slice": metrics,
            "samples": {"train": row.n_train, "validation": row.n_val, "test": row.n_test},
            "epochs_run": row.epochs_run, "last_candle": iso(row.openTime_last)}


def _json_object(text: str | None) -> dict:
    """A stored JSON object (settings, failures); {} for none, for bad JSON, or for JSON
    that is no object (a list), so the pages can always list its items."""
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _ms(seconds) -> int | float | None:
    """A stored time in seconds as ms (for :func:`iso`), or None."""
    return None if seconds is None else seconds * 1000


def run_entry(run: sa.Row) -> dict:
    failures = _json_object(run.failures)
    exchange, market = split_job_name(run.market)
    return {"run_id": run.run_id, "market": market, "exchange": exchange,
            "executor": run.executor,
            "host": run.host, "started": iso(_ms(run.time_start)),
            "duration_s": None if run.time_end is None else run.time_end - run.time_start,
            "status": run.status, "pairs_ok": run.pairs_ok, "pairs_failed": run.pairs_failed,
            "failures": failures}


def runs(conn: sa.Connection, limit: int, market: str | None = None) -> dict:
    return {"runs": [run_entry(run) for run in db.recent_runs(conn, limit, market)]}
