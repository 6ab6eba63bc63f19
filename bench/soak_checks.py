"""The soak's checks (bench/soak.py): what the database must hold after hours of faults,
read from the raw rows and recomputed here, independently of the product's scoring code.

Each check returns a :class:`Check` (a name, PASS or FAIL, and one line of detail per
problem). The recomputation of the forward scores and track records is written from the
definitions (docs/track-record.md: error = forecast - close, the naive forecast is the last
close, RMSE/MAE per window ending at the newest scored candle, a Diebold-Mariano test with
Newey-West variance), on plain Python floats, so a defect in predict/forward_scores.py or
predict/track_record.py shows up as a difference instead of being copied.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

HOUR_MS = 3_600_000
#: Windows of the track record: name -> length in ms (None: all time).
WINDOWS = {"24h": 24 * HOUR_MS, "7d": 7 * 24 * HOUR_MS, "30d": 30 * 24 * HOUR_MS, "all": None}
MIN_FOR_TEST, MIN_FOR_EDGE, ALPHA = 10, 168, 0.05
#: Relative tolerance of a recomputed figure against the stored one.
TOLERANCE = 1e-9
#: Problems listed per check (the count is always given).
SHOWN = 8


@dataclass
class Check:
    name: str
    problems: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def passed(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        head = f"{'PASS' if self.passed else 'FAIL'}  {self.name}"
        if self.detail:
            head += f": {self.detail}"
        shown = [f"        {problem}" for problem in self.problems[:SHOWN]]
        if len(self.problems) > SHOWN:
            shown.append(f"        ... and {len(self.problems) - SHOWN} more")
        return [head, *shown]


@dataclass(frozen=True)
class Hour:
    """One replayed hour: the candle its forecasts are for and the job runs it started."""

    number: int
    target_open_ms: int
    run_ids: tuple[str, ...]


def _tables(conn: sa.Connection) -> dict[str, sa.Table]:
    """The database's tables as it has them (reflected: not the product's schema module)."""
    metadata = sa.MetaData()
    sa.event.listen(metadata, "column_reflect", _plain_floats)
    metadata.reflect(conn)
    return metadata.tables


def _plain_floats(inspector, table, column: dict) -> None:
    """Read a reflected DOUBLE as a float: MySQL's reflected type would make it a Decimal
    rounded to 10 decimal places (0.0000009247), too coarse for prices of 1e-6 ETH."""
    if isinstance(column["type"], sa.Float):
        column["type"] = sa.Double(asdecimal=False)


def _rows(conn: sa.Connection, query: sa.Executable) -> list[sa.Row]:
    return list(conn.execute(query))


# --------------------------------------------------------------------------- coverage


def check_coverage(conn: sa.Connection, hours: Sequence[Hour], symbols: Sequence[str]) -> Check:
    """Every hour, every pair: exactly one forecast for the hour's candle, or a failure the
    hour's run recorded with a reason (its ``failures`` JSON, or the whole run ended with
    a reason: failed, abandoned, lock_lost)."""
    check = Check("every hour x pair has one forecast or a recorded failure")
    tables = _tables(conn)
    coin, forecast, job = (tables["coin_info"], tables["historical_price_predictions"],
                           tables["job_runs"])
    coins = {row.symbol: row.id for row in _rows(conn, sa.select(coin.c.id, coin.c.symbol))}
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for row in _rows(conn, sa.select(forecast.c.id_coin, forecast.c.openTime_next)):
        counts[(row.id_coin, row.openTime_next)] += 1
    runs = {row.run_id: row for row in _rows(conn, sa.select(
        job.c.run_id, job.c.status, job.c.reason, job.c.failures))}
    forecasts = failures = 0
    for hour in hours:
        hour_runs = [runs[run_id] for run_id in hour.run_ids if run_id in runs]
        if not hour_runs:
            check.problems.append(f"hour {hour.number}: no job_runs row")
            continue
        for symbol in symbols:
            found = counts.get((coins.get(symbol), hour.target_open_ms), 0)
            if found == 1:
                forecasts += 1
            elif found > 1:
                check.problems.append(f"hour {hour.number} {symbol}: {found} forecasts")
            elif _recorded_failure(hour_runs, symbol):
                failures += 1
            else:
                check.problems.append(f"hour {hour.number} {symbol}: no forecast and no "
                                      f"recorded failure (runs {_statuses(hour_runs)})")
    check.detail = (f"{len(hours)} hours x {len(symbols)} pairs: {forecasts} forecasts, "
                    f"{failures} recorded failures")
    return check


def _recorded_failure(runs: Iterable[sa.Row], symbol: str) -> str | None:
    for run in runs:
        failed = json.loads(run.failures) if run.failures else {}
        if failed.get(symbol):
            return failed[symbol]
        if run.status in ("failed", "abandoned", "lock_lost") and run.reason:
            return run.reason
    return None


def _statuses(runs: Iterable[sa.Row]) -> str:
    return ", ".join(f"{run.run_id}={run.status}" for run in runs)


# --------------------------------------------------------------------------- duplicates


def _groups(table: sa.Table, *names: str) -> list[sa.ColumnElement]:
    """The columns ``names`` of ``table``, a NULL model, target or interval read as the
    product reads it ('' and '' and 1h)."""
    defaults = {"model": "", "target": "", "interval": "1h"}
    return [sa.func.coalesce(table.c[name], defaults[name]).label(name) if name in defaults
            else table.c[name] for name in names]


def duplicate_queries(tables: dict[str, sa.Table]) -> dict[str, sa.Select]:
    """what -> the groups of rows that must be single."""
    keys = {"candles": ("candlestick_data", ("idCoin", "openTime")),
            "forecasts": ("historical_price_predictions",
                          ("id_coin", "model", "target", "interval", "openTime_next")),
            "trainings per run": ("historical_train", ("run_id", "id_coin")),
            "scores per candle": ("forecast_scores",
                                  ("id_coin", "model", "target", "interval", "openTime_next")),
            "scores per forecast": ("forecast_scores", ("id_prediction",))}
    queries = {}
    for what, (name, columns) in keys.items():
        group = _groups(tables[name], *columns)
        queries[what] = (sa.select(*group, sa.func.count().label("n")).group_by(*group)
                         .having(sa.func.count() > 1))
    return queries


def check_duplicates(conn: sa.Connection) -> Check:
    check = Check("no duplicated candle, forecast, training or score")
    for what, query in duplicate_queries(_tables(conn)).items():
        for row in _rows(conn, query):
            if what != "trainings per run" or row.run_id is not None:
                check.problems.append(f"{what}: {tuple(row)}")
    return check


# --------------------------------------------------------------------------- scores


def expected_scores(conn: sa.Connection) -> dict[tuple, dict]:
    """(id_coin, model, target, interval, openTime_next) -> the score the newest forecast
    for that candle must have, from the raw forecasts and candles."""
    tables = _tables(conn)
    candles, forecasts = tables["candlestick_data"], tables["historical_price_predictions"]
    closes = {(row.idCoin, row.openTime): float(row.close) for row in _rows(
        conn, sa.select(candles.c.idCoin, candles.c.openTime, candles.c.close))}
    newest: dict[tuple, sa.Row] = {}
    for row in _rows(conn, sa.select(forecasts).where(forecasts.c.openTime_next.is_not(None))):
        key = (row.id_coin, row.model or "", row.target or "", row.interval or "1h",
               row.openTime_next)
        if key not in newest or row.id > newest[key].id:
            newest[key] = row
    scores = {}
    for key, row in newest.items():
        actual = closes.get((row.id_coin, row.openTime_next))
        if actual is None or key[3] != "1h":
            continue
        forecast, naive = float(row.price_preidct_last), float(row.price_actual_last)
        hit = None if actual == naive else (forecast - naive) * (actual - naive) > 0
        scores[key] = {"id_prediction": row.id, "forecast": forecast, "naive": naive,
                       "actual": actual, "error": forecast - actual,
                       "naive_error": naive - actual, "direction_hit": hit,
                       "openTime_last": row.openTime_next - HOUR_MS}
    return scores


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    return math.isclose(float(a), float(b), rel_tol=TOLERANCE, abs_tol=1e-15)


def check_scores(conn: sa.Connection, expected: dict[tuple, dict]) -> Check:
    check = Check("scores equal a recomputation from the stored candles and forecasts")
    table = _tables(conn)["forecast_scores"]
    stored = {(row.id_coin, row.model, row.target, row.interval, row.openTime_next): row
              for row in _rows(conn, sa.select(table))}
    for key in sorted(set(expected) - set(stored)):
        check.problems.append(f"missing score {key}")
    for key in sorted(set(stored) - set(expected)):
        check.problems.append(f"score without a scorable forecast {key}")
    for key in sorted(set(expected) & set(stored)):
        row = stored[key]._mapping
        for name, value in expected[key].items():
            if not _close(row[name], value):
                check.problems.append(f"{key} {name}: stored {row[name]!r}, expected {value!r}")
    check.detail = f"{len(expected)} scores recomputed, {len(stored)} stored"
    return check


# --------------------------------------------------------------------------- track records


def newey_west_variance_of_mean(values: Sequence[float]) -> float:
    """Var(mean) with Bartlett weights and floor(4 (n/100)^(2/9)) lags."""
    n = len(values)
    lags = int(math.floor(4 * (n / 100.0) ** (2.0 / 9.0)))
    mean = sum(values) / n
    centred = [v - mean for v in values]
    total = sum(c * c for c in centred) / n
    for k in range(1, min(lags, n - 1) + 1):
        gamma = sum(centred[i] * centred[i - k] for i in range(k, n)) / n
        total += 2.0 * (1.0 - k / (lags + 1.0)) * gamma
    return total / n


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def window_figures(scores: Sequence[dict]) -> dict:
    """The figures of one window of scores (oldest first)."""
    n = len(scores)
    if n == 0:
        return {"scored": 0, "moved": 0, "verdict": "no evidence"}
    errors = [s["error"] for s in scores]
    naive = [s["naive_error"] for s in scores]
    rmse = math.sqrt(sum(e * e for e in errors) / n)
    naive_rmse = math.sqrt(sum(e * e for e in naive) / n)
    skill = 1.0 - rmse / naive_rmse if naive_rmse > 0 else None
    hits = [s["direction_hit"] for s in scores if s["direction_hit"] is not None]
    figures = {"scored": n, "rmse": rmse, "naive_rmse": naive_rmse, "skill": skill,
               "mae": sum(abs(e) for e in errors) / n, "naive_mae": sum(abs(e) for e in naive) / n,
               "moved": len(hits), "direction": sum(hits) / len(hits) if hits else None,
               "dm_stat": None, "dm_pvalue": None, "dm_pvalue_worse": None,
               "verdict": "no evidence"}
    if n >= MIN_FOR_TEST:
        differential = [e * e - v * v for e, v in zip(errors, naive, strict=True)]
        variance = newey_west_variance_of_mean(differential)
        if variance > 0:
            stat = (sum(differential) / n) / math.sqrt(variance)
            better, worse = _normal_cdf(stat), 1.0 - _normal_cdf(stat)
            figures.update(dm_stat=stat, dm_pvalue=better, dm_pvalue_worse=worse)
            if n >= MIN_FOR_EDGE and skill is not None and skill > 0 and better < ALPHA:
                figures["verdict"] = "edge"
            elif worse < ALPHA:
                figures["verdict"] = "worse"
    return figures


def expected_track_records(expected: dict[tuple, dict]) -> dict[tuple, dict]:
    """(id_coin, model, target, interval, window) -> its figures and as_of."""
    series: dict[tuple, list[tuple[int, dict]]] = defaultdict(list)
    for key, score in expected.items():
        series[key[:4]].append((key[4], score))
    records = {}
    for key, scored in series.items():
        scored.sort(key=lambda item: item[0])
        as_of = scored[-1][0]
        for window, length in WINDOWS.items():
            kept = [s for t, s in scored if length is None or t > as_of - length]
            records[(*key, window)] = {"as_of": as_of, **window_figures(kept)}
    return records


def check_track_records(conn: sa.Connection, expected: dict[tuple, dict]) -> Check:
    check = Check("track records equal a recomputation from the stored candles and forecasts")
    table = _tables(conn)["track_records"]
    stored = {(row.id_coin, row.model, row.target, row.interval, row.window): row._mapping
              for row in _rows(conn, sa.select(table))}
    records = expected_track_records(expected)
    for key in sorted(set(records) ^ set(stored)):
        check.problems.append(f"{key}: {'missing' if key in records else 'unexpected'}")
    for key in sorted(set(records) & set(stored)):
        for name, value in records[key].items():
            if not (stored[key][name] == value if isinstance(value, str)
                    else _close(stored[key][name], value)):
                check.problems.append(f"{key} {name}: stored {stored[key][name]!r}, "
                                      f"expected {value!r}")
    tested = sum(1 for record in records.values() if record.get("dm_stat") is not None)
    check.detail = (f"{len(records)} series x window rows recomputed ({tested} with a "
                    f"Diebold-Mariano test), {len(stored)} stored")
    return check


# --------------------------------------------------------------------------- runs


def check_runs_closed(conn: sa.Connection) -> Check:
    check = Check("every job_runs row is closed")
    job = _tables(conn)["job_runs"]
    rows = _rows(conn, sa.select(job.c.run_id, job.c.status, job.c.time_end, job.c.reason))
    by_status: dict[str, int] = defaultdict(int)
    for row in rows:
        by_status[row.status] += 1
        if row.status == "running" or row.time_end is None:
            check.problems.append(f"{row.run_id}: {row.status}, time_end {row.time_end}")
        elif row.status != "ok" and not row.reason:
            check.problems.append(f"{row.run_id}: {row.status} without a reason")
    check.detail = f"{len(rows)} runs: " + ", ".join(
        f"{status} {count}" for status, count in sorted(by_status.items()))
    return check


def check_dashboard(statuses: dict[str, int], bad: Sequence[str]) -> Check:
    """``statuses``: status (or 'no answer') -> polls; ``bad``: the first bad answers."""
    check = Check("the dashboard answered every poll with 200 or 503")
    check.problems.extend(bad)
    total = sum(statuses.values())
    if total == 0:
        check.problems.append("no poll was made")
    check.detail = f"{total} polls: " + ", ".join(
        f"{status} x{count}" for status, count in sorted(statuses.items()))
    return check


def database_checks(engine: sa.Engine, hours: Sequence[Hour],
                    symbols: Sequence[str]) -> list[Check]:
    with engine.connect() as conn:
        expected = expected_scores(conn)
        return [check_coverage(conn, hours, symbols), check_duplicates(conn),
                check_scores(conn, expected), check_track_records(conn, expected),
                check_runs_closed(conn)]
