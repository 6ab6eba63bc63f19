"""Forward scoring: every stored forecast against the close that came, and the track record
of each series brought up to date: its bounded windows from their scores, its all-time window
from its running sums (predict/running_record.py), updated with the scores.

Run by the hourly job right after its crawl and by ``coinlstm score``. Idempotent: a second
run finds nothing to score and writes nothing. Scores, the costs of the series they belong
to (spread and value after it, predict/evidence.py), the track records they change, the
verdicts of those series' markets (judged together, :func:`judge_family`, each edge held
against its series' costs) and the movers evidence are written in one transaction.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.columns import STORED_LEVELS, band_columns, inside_column
from coinlstm.core.klines import DEFAULT_INTERVAL, INTERVAL_MS
from predict.costs import ValueAfterCosts, tradability
from predict.evidence import refresh_costs, refresh_market_evidence
from predict.recent_history import (
    PART_SERIES,
    Columns,
    RecentHistory,
    columns_of,
    in_parts,
    read_recent_history,
)
from predict.running_record import all_time_record, update_record_sums
from predict.track_record import (
    BACKFILL,
    NO_EVIDENCE,
    BandSeries,
    Evidence,
    Tradability,
    WindowRecord,
    band_width_pct,
    direction_hit,
    inside_band,
    market_verdicts,
    track_record,
)

#: The window whose verdict is a pair's verdict (the edge rule counts its last 30 days).
VERDICT_WINDOW = "30d"


#: Forecasts per part of a pass (:func:`pair_parts`): about 40 MB of rows and scores held at
#: once; an hour of 20,000 pairs is one part.
PART_FORECASTS = 20_000


@dataclass(frozen=True)
class ScoreSummary:
    """What one scoring pass did."""

    scored: int
    series: int

    def line(self, interval: str) -> str:
        return (f"scored {self.scored} new {interval} forecasts against their closes; "
                f"{self.series} track records updated")


def score_row(forecast: sa.Row, interval: str, now: int) -> dict:
    """The forecast_scores row of one forecast and the close of its candle."""
    predicted = float(forecast.price_preidct_last)
    naive = float(forecast.price_actual_last)
    actual = float(forecast.actual)
    return {"id_prediction": int(forecast.id), "id_coin": int(forecast.id_coin),
            "model": forecast.model, "target": forecast.target, "interval": interval,
            "openTime_next": int(forecast.openTime_next),
            "openTime_last": int(forecast.openTime_next) - INTERVAL_MS[interval],
            "forecast": predicted, "naive": naive, "actual": actual,
            "error": predicted - actual, "naive_error": naive - actual,
            "direction_hit": direction_hit(predicted, naive, actual), "time_scored": now,
            "source": forecast.source, **band_scores(forecast, actual)}


def band_scores(forecast: sa.Row, actual: float) -> dict:
    """The forecast's band per stored level and whether ``actual`` fell inside it: lower_80,
    upper_80, inside_80, ... (all None for a level the forecast has no band of). Levels only
    in ``price_bands`` are not scored: the dashboards read the stored levels, and parsing a
    JSON per forecast would cost the scorer more than everything else it does."""
    columns: dict = {}
    for level in STORED_LEVELS:
        lower_name, upper_name = band_columns(level)
        lower, upper = forecast._mapping[lower_name], forecast._mapping[upper_name]
        if lower is None or upper is None:
            lower = upper = None
        columns[lower_name] = None if lower is None else float(lower)
        columns[upper_name] = None if upper is None else float(upper)
        columns[inside_column(level)] = inside_band(lower, upper, actual)
    return columns


def precedence(forecast: sa.Row) -> tuple[bool, int]:
    """Which of two forecasts of one candle counts: a live one over a backfilled one, then
    the newest (a rerun's)."""
    return forecast.source != BACKFILL, int(forecast.id)


def newest_per_candle(forecasts: Sequence[sa.Row]) -> list[sa.Row]:
    """Of several forecasts of one series for the same candle (a rerun, a live forecast and
    a backfilled one), the one that counts (:func:`precedence`)."""
    newest: dict[tuple, sa.Row] = {}
    for forecast in forecasts:
        key = (forecast.id_coin, forecast.model, forecast.target, forecast.openTime_next)
        if key not in newest or precedence(forecast) > precedence(newest[key]):
            newest[key] = forecast
    return sorted(newest.values(), key=lambda row: row.id)


def score(engine: sa.Engine, interval: str = DEFAULT_INTERVAL,
          market: str | None = None) -> ScoreSummary:
    """Score every scorable forecast of ``interval`` (of ``market``'s pairs when given) and
    recompute the track record of each series that got a score. Reads only the forecasts
    after the scope's scoring mark and those still waiting for their candle (all of them
    on a scope's first pass), and moves the mark on. The pairs are scored in parts of about
    PART_FORECASTS forecasts (:func:`pair_parts`), so that a pass after a backfill (a
    month or a year of every pair's forecasts) holds one part in memory, not all."""
    db.candles_table(interval)  # BadInput for an unknown interval
    with db.transaction(engine) as conn:
        coin_ids = db.market_coin_ids(conn, market)
        mark = db.scoring_mark(conn, interval, market)
        after = db.next_scoring_mark(conn, interval, coin_ids, mark)
        now = int(time.time())
        keys: set[db.SeriesKey] = set()
        scored: list[tuple[int, int]] = []  # (coin id, candle) of every score written
        for coins in pair_parts(db.unsettled_counts(conn, interval, coin_ids, mark)):
            part_keys, part_scored = score_pairs(conn, interval, coins, mark, now)
            keys |= part_keys
            scored += part_scored
        for family in db.record_families(conn, keys):
            judge_family(conn, family)
        refresh_market_evidence(conn, interval, scored)
        if after != mark:  # a pass with nothing new writes nothing
            db.set_scoring_mark(conn, interval, market, after)
    return ScoreSummary(scored=len(scored), series=len(keys))


def pair_parts(counts: dict[int, int], most: int | None = None) -> list[list[int]]:
    """The pairs (coin id -> forecasts to read) in parts of consecutive coin ids, each of at
    most ``most`` forecasts (PART_FORECASTS) or of one pair: an hour of a whole market is
    one part."""
    most = most or PART_FORECASTS
    parts: list[list[int]] = []
    total = 0
    for coin in sorted(counts):
        if not parts or total + counts[coin] > most:
            parts.append([])
            total = 0
        parts[-1].append(coin)
        total += counts[coin]
    return parts


def score_pairs(conn: sa.Connection, interval: str, coins: Sequence[int],
                mark: db.ScoringMark | None, now: int
                ) -> tuple[set[db.SeriesKey], list[tuple[int, int]]]:
    """Score the scorable forecasts of the pairs ``coins`` from ``mark`` on, bring their
    series' running sums, costs and track records up to date; returns the series that got
    scores and (coin id, candle) of each score."""
    forecasts = newest_per_candle(db.scorable_forecasts(conn, interval, coins, mark))
    rows = [score_row(forecast, interval, now) for forecast in forecasts]
    db.replace_scores(conn, rows, [f.replaces for f in forecasts if f.replaces is not None])
    replaced = {(int(f.id_coin), f.model, f.target) for f in forecasts
                if f.replaces is not None}
    del forecasts
    keys: set[db.SeriesKey] = set()
    for part_rows in series_parts(rows):
        part_keys = {db.SeriesKey(row["id_coin"], row["model"], row["target"], interval)
                     for row in part_rows}
        sums = update_record_sums(conn, interval, part_rows, replaced)
        as_of = {key: int(sums[(key.id_coin, key.model, key.target)]["newest"])
                 for key in part_keys}  # each series' newest scored candle
        for part in in_parts(as_of):
            refresh_recent_figures(conn, interval, read_recent_history(conn, part), sums)
        keys |= part_keys
    return keys, [(int(row["id_coin"]), int(row["openTime_next"])) for row in rows]


def series_parts(rows: Sequence[dict]) -> list[list[dict]]:
    """The new scores ``rows`` in parts of whole pairs of about PART_SERIES series each: a
    part's running sums (about a hundred columns per series) are read, brought up to date
    and used before the next part's, so a pass over a whole exchange holds a part's, not
    every series'."""
    series_per_coin = Counter(int(coin) for coin, _, _ in
                              {(row["id_coin"], row["model"], row["target"]) for row in rows})
    by_coin: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_coin[int(row["id_coin"])].append(row)
    return [[row for coin in coins for row in by_coin[coin]]
            for coins in pair_parts(series_per_coin, PART_SERIES)]


def refresh_recent_figures(conn: sa.Connection, interval: str, recent: RecentHistory,
                           sums: dict[tuple[int, str, str], dict]) -> None:
    """The costs, then the track records (whose verdicts read the costs) of the series
    ``recent`` holds, from what the pass read of them."""
    refresh_costs(conn, recent)
    costs = series_tradabilities(conn, interval,
                                 sorted({key.id_coin for key in recent.as_of}))
    refresh_track_records(conn, recent.as_of, costs, sums, recent)


def series_tradabilities(conn: sa.Connection, interval: str, coin_ids: Sequence[int]
                         ) -> dict[tuple[int, str, str], Tradability]:
    """Per series (coin id, model, target) of ``coin_ids``: what its stored costs say of
    its predicted moves (a series without a costs row has no spread: unknown)."""
    return {(int(row.id_coin), row.model, row.target): tradability(series_value(row))
            for row in db.stored_pair_costs(conn, interval, coin_ids)}


def series_value(row: sa.Row) -> ValueAfterCosts:
    """The value after costs a stored pair_costs row holds."""
    return ValueAfterCosts(int(row.trades), row.value, row.value_pvalue, row.spread)


def series_record(conn: sa.Connection, key: db.SeriesKey,
                  costs: Tradability = Tradability.SPREAD_UNKNOWN, sums: dict | None = None,
                  recent: RecentHistory | None = None) -> tuple[int, list[WindowRecord]]:
    """(as_of, one record per window) of a series; an edge is held against ``costs`` (the
    series' :func:`series_tradabilities`). With the series' running ``sums``
    (predict/running_record.py) the all-time window comes from them and only the scores of
    the longest bounded window are used, taken from ``recent`` (what the pass read of the
    series) where it holds them; without, every score is read."""
    whole = None if sums is None else all_time_record(sums, costs)
    if whole is None:
        return records_of(db.series_scores(conn, key), db.TRACK_RECORD_WINDOWS, costs)
    bounded = {name: length for name, length in db.TRACK_RECORD_WINDOWS.items()
               if length is not None}
    after = int(sums["newest"]) - max(bounded.values())
    scores = None if recent is None else recent.scores_after(key, after)
    if scores is None:
        scores = columns_of(db.series_scores(conn, key, after))
    as_of, records = records_from_columns(scores, bounded, costs)
    by_name = {record.window: record for record in (*records, whole)}
    return as_of, [by_name[name] for name in db.TRACK_RECORD_WINDOWS]


def records_of(scores: Sequence[sa.Row], windows: dict[str, int | None],
               costs: Tradability) -> tuple[int, list[WindowRecord]]:
    """(as_of, one record per window) from a series' scores, oldest first."""
    return records_from_columns(columns_of(scores), windows, costs)


def records_from_columns(columns: Columns, windows: dict[str, int | None],
                         costs: Tradability) -> tuple[int, list[WindowRecord]]:
    """:func:`records_of` from the scores as columns (predict/recent_history.py)."""

    def column(name: str) -> Sequence:
        return columns.get(name, ())

    return track_record(column("openTime_next"), column("error"), column("naive_error"),
                        [None if hit is None else bool(hit)
                         for hit in column("direction_hit")], windows,
                        [band_series(column, level) for level in STORED_LEVELS],
                        sources=column("source"), tradability=costs)


def band_series(column: Callable[[str], Sequence], level: float) -> BandSeries:
    """One level's band outcomes of a series' stored scores (``column(name)``: a score
    column's values, oldest first)."""
    lower_name, upper_name = band_columns(level)
    inside = column(inside_column(level))
    widths = [None if hit is None else band_width_pct(lower, upper, naive)
              for hit, lower, upper, naive in zip(inside, column(lower_name),
                                                  column(upper_name), column("naive"),
                                                  strict=True)]
    return BandSeries(level, [None if hit is None else bool(hit) for hit in inside], widths)


def refresh_track_records(conn: sa.Connection, keys: Iterable[db.SeriesKey],
                          costs: dict[tuple[int, str, str], Tradability],
                          sums: dict[tuple[int, str, str], dict], recent: RecentHistory
                          ) -> None:
    """Recompute and store the track record of each series of ``keys`` (from its running
    ``sums`` and what the pass read of it, ``recent``), held against its ``costs``."""
    records = {}
    for key in sorted(keys, key=lambda k: (k.id_coin, k.model, k.target)):
        series = (key.id_coin, key.model, key.target)
        as_of, windows = series_record(conn, key, costs.get(series, Tradability.SPREAD_UNKNOWN),
                                       sums.get(series), recent)
        records[key] = (as_of, [window.to_dict() for window in windows])
    db.replace_track_records(conn, records)


def judge_family(conn: sa.Connection, family: db.RecordFamily) -> None:
    """Judge every window of every pair of one market together (predict/track_record.py
    :func:`market_verdicts`, Benjamini-Hochberg across the pairs) and store the verdicts
    and adjusted p-values that changed. A pair's new scores move its neighbours' adjusted
    p-values, so the whole family is judged whenever one of its series got a score. Each
    edge is held against its series' stored costs (:func:`series_tradabilities`)."""
    rows = db.family_track_records(conn, family)
    costs = series_tradabilities(conn, family.interval, sorted({int(r.id_coin) for r in rows}))
    updates = []
    for window in {row.window for row in rows}:
        mine = [row for row in rows if row.window == window]
        judged = market_verdicts([Evidence(
            int(row.scored), row.skill, row.dm_pvalue, row.dm_pvalue_worse,
            costs.get((int(row.id_coin), row.model, row.target), Tradability.SPREAD_UNKNOWN))
            for row in mine])
        for row, new in zip(mine, judged, strict=True):
            if (row.verdict, row.dm_pvalue_adjusted, row.dm_pvalue_worse_adjusted) != (
                    new.verdict, new.p_better_adjusted, new.p_worse_adjusted):
                updates.append({**{name: getattr(row, name) for name in db.RECORD_KEY},
                                "verdict": new.verdict,
                                "dm_pvalue_adjusted": new.p_better_adjusted,
                                "dm_pvalue_worse_adjusted": new.p_worse_adjusted})
    db.set_track_record_verdicts(conn, updates)


def pair_verdict(conn: sa.Connection, coin_id: int, model: str | None, target: str | None,
                 interval: str) -> tuple[str, sa.Row | None]:
    """The pair's verdict for one forecaster and its 30-day record row (None: not scored)."""
    key = db.SeriesKey(coin_id, model or "", target or "", interval)
    rows = [row for row in db.stored_track_records(conn, interval, [coin_id], [VERDICT_WINDOW])
            if (row.model, row.target) == (key.model, key.target)]
    if not rows:
        return NO_EVIDENCE, None
    return rows[0].verdict, rows[0]
