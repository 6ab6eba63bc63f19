"""A series' all-time track record from the running sums of its scores, and those sums
brought up to date by a scoring pass: the pass's work grows with its new scores, not with the
series' history (a year of hourly scores is 8,760 rows per pair).

The sums (``track_record_sums``, one row per series) hold what the all-time window's figures
are made of: counts, sums of squared and absolute errors (model and naive), direction hits,
per band level the banded, inside and width counts and the width sum; and for the
Diebold-Mariano test the loss differential d = error^2 - naive_error^2 summed, squared, and
multiplied with each of the SUM_LAGS before it (sum of d_t d_(t-k)), with the first and the
last SUM_LAGS values of d. The Newey-West variance of mean(d) is then exact algebra on these:
sum over t >= k of (d_t - m)(d_(t-k) - m) = lag_k - m (S - head_k) - m (S - tail_k)
+ (n - k) m^2, where head_k and tail_k sum the first and the last k values. The records equal
the ones recomputed from every score (predict/track_record.py :func:`track_record`) up to
floating-point round-off; tests/integration/test_record_sums.py compares them.

A pass adds new scores to the sums in Python when they all come after the series' newest
scored candle (the hourly case); anything else (a late score in the middle, a rerun or a live
forecast replacing a score, a series without sums) is recomputed from the series' scores by
one set-based statement (coinlstm/db/record_sums.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.columns import STORED_LEVELS, band_columns, inside_column
from predict.track_record import (
    BACKFILL,
    LIVE,
    MIN_SCORED_FOR_TEST,
    BandRecord,
    Tradability,
    WindowFigures,
    WindowRecord,
    band_width_pct,
    dm_test,
    judged_record,
    newey_west_lags,
)

#: The window the running sums make.
ALL_TIME = "all"
#: A long-run variance below this share of mean(d^2) is round-off of the sums' algebra (a
#: differential that never varies), taken as 0: no test, as the recomputation finds.
ROUND_OFF = 1e-12
LAGS, HEADS, TAILS = (db.lag_columns(kind) for kind in ("lag", "head", "tail"))

SeriesId = tuple[int, str, str]


def _differential(row: dict) -> float:
    return row["error"] * row["error"] - row["naive_error"] * row["naive_error"]


def _add_bands(sums: dict, row: dict) -> None:
    for level in STORED_LEVELS:
        banded, inside, widths, width_sum = db.sum_band_columns(level)
        hit = row[inside_column(level)]
        if hit is None:
            continue
        sums[banded] += 1
        sums[inside] += bool(hit)
        lower, upper = band_columns(level)
        width = band_width_pct(row[lower], row[upper], row["naive"])
        if width is not None:
            sums[widths] += 1
            sums[width_sum] += width


def _add_lags(sums: dict, new: Sequence[float]) -> None:
    """The lagged products, head and tail after ``new`` differentials (oldest first)."""
    earlier = [value for value in reversed([sums[name] for name in TAILS]) if value is not None]
    series = earlier + list(new)
    for index in range(len(earlier), len(series)):
        for k in range(1, min(index, len(LAGS)) + 1):
            sums[LAGS[k - 1]] += series[index] * series[index - k]
    for position, value in enumerate(new, start=sums["scored"]):
        if position < len(HEADS):
            sums[HEADS[position]] = value
    newest = series[::-1][:len(TAILS)]
    sums.update(zip(TAILS, newest + [None] * (len(TAILS) - len(newest)), strict=True))


def appended(sums: dict, rows: Sequence[dict]) -> dict:
    """The sums after ``rows`` (forecast_scores rows, oldest candle first, all newer than
    the sums' ``newest``)."""
    after = dict(sums)
    differentials = [_differential(row) for row in rows]
    _add_lags(after, differentials)
    for row, d in zip(rows, differentials, strict=True):
        after["scored_live"] += row["source"] == LIVE
        after["scored_backfill"] += row["source"] == BACKFILL
        if row["direction_hit"] is not None:
            after["moved"] += 1
            after["hits"] += bool(row["direction_hit"])
        after["sq_error"] += row["error"] * row["error"]
        after["sq_naive"] += row["naive_error"] * row["naive_error"]
        after["abs_error"] += abs(row["error"])
        after["abs_naive"] += abs(row["naive_error"])
        after["d_sum"] += d
        after["d_sq"] += d * d
        _add_bands(after, row)
    after["scored"] += len(rows)
    after["newest"] = max(after["newest"], *(int(row["openTime_next"]) for row in rows))
    return after


def hac_variance(sums: dict, lags: int) -> float:
    """The Newey-West (Bartlett) variance of mean(d) from the sums: what
    predict/track_record.py :func:`hac_variance_of_mean` computes from the values."""
    n, total = sums["scored"], sums["d_sum"]
    mean = total / n
    long_run = (sums["d_sq"] - mean * total) / n
    heads = [value or 0.0 for value in (sums[name] for name in HEADS)]
    tails = [value or 0.0 for value in (sums[name] for name in TAILS)]
    for k in range(1, min(lags, n - 1) + 1):
        gamma = (sums[LAGS[k - 1]] - mean * (total - sum(heads[:k]))
                 - mean * (total - sum(tails[:k])) + (n - k) * mean * mean) / n
        long_run += 2.0 * (1.0 - k / (lags + 1.0)) * gamma
    if long_run <= ROUND_OFF * sums["d_sq"] / n:
        return 0.0
    return long_run / n


def _band_records(sums: dict) -> tuple[BandRecord, ...]:
    records = []
    for level in STORED_LEVELS:
        banded, inside, widths, width_sum = (sums[name] for name in db.sum_band_columns(level))
        records.append(BandRecord(level, banded, inside / banded,
                                  width_sum / widths if widths else None) if banded
                       else BandRecord(level, 0, None, None))
    return tuple(records)


def all_time_record(sums: dict, tradability: Tradability | None = None
                    ) -> WindowRecord | None:
    """The all-time window's record from a series' sums; None when its Newey-West lags
    exceed the lagged products kept (then recompute it from the scores)."""
    n = sums["scored"]
    lags = newey_west_lags(n)
    if lags > len(LAGS):
        return None
    figures = WindowFigures.empty(ALL_TIME)
    test = None
    if n:
        figures = WindowFigures(ALL_TIME, n, sums["sq_error"] / n, sums["sq_naive"] / n,
                                sums["abs_error"] / n, sums["abs_naive"] / n, sums["hits"],
                                sums["moved"])
        if n >= MIN_SCORED_FOR_TEST:
            test = dm_test(sums["d_sum"] / n, hac_variance(sums, lags), lags)
    record = judged_record(figures, _band_records(sums), test, tradability)
    return replace(record, scored_live=sums["scored_live"],
                   scored_backfill=sums["scored_backfill"])


def update_record_sums(conn: sa.Connection, interval: str, rows: Sequence[dict],
                       replaced: Iterable[SeriesId] = ()) -> dict[SeriesId, dict]:
    """Bring the sums of the series ``rows`` (forecast_scores rows just written) belong to up
    to date, in the caller's transaction, and return them: the appended sums as computed
    here, the recomputed ones as the recomputation stored them. ``replaced``: the series
    whose pass replaced a stored score (recomputed from their scores, as are series without
    sums and series whose new scores do not all come after their newest)."""
    new: dict[SeriesId, list[dict]] = defaultdict(list)
    for row in rows:
        new[(int(row["id_coin"]), row["model"], row["target"])].append(row)
    if not new:
        return {}
    coins = sorted({series[0] for series in new})
    stored = db.stored_record_sums(conn, interval, coins)
    replaced = set(replaced)
    ready, recompute = [], set()
    for series, scores in new.items():
        scores.sort(key=lambda row: row["openTime_next"])
        old = stored.get(series)
        if (old is None or series in replaced
                or int(scores[0]["openTime_next"]) <= int(old["newest"])):
            recompute.add(series[0])
        else:
            ready.append(appended(old, scores))
    appended_sums = [sums for sums in ready if sums["id_coin"] not in recompute]
    db.write_record_sums(conn, appended_sums)
    current = {(sums["id_coin"], sums["model"], sums["target"]): sums for sums in appended_sums}
    if recompute:
        db.fill_record_sums(conn, interval, sorted(recompute))
        current.update(db.stored_record_sums(conn, interval, recompute))
    return current
