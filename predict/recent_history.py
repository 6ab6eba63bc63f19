"""What a scoring pass reads of its series' last 30 days, read once for the pass.

The costs (predict/evidence.py: the pair's spread from its candles, the forecasts' value
after it from their scores) and the track record's bounded windows (predict/forward_scores.py:
the 24 hours, 7 and 30 days to the newest score) read the same span of every series the
pass scored. So each table is read once, by one statement for the whole pass, and grouped by
series and pair in memory: on MySQL a statement costs a round trip and a result set of its
own, and these rows are most of what a pass reads.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby, pairwise
from operator import itemgetter

import numpy as np
import sqlalchemy as sa

from coinlstm import db

#: The span the figures cover: the 30 days the longest bounded window holds.
LOOKBACK_MS = 30 * 86_400_000


#: Rows of a read taken from the cursor at a time (:func:`pair_columns`,
#: :func:`score_columns`): about 0.2 MB of candles as tuples, 0.5 MB of scores.
CHUNK_ROWS = 1_000

#: Series per part of a pass (:func:`in_parts`): a month of 25 series' scores and candles,
#: 36,000 rows, is what the pass holds at once; two statements a part. The job's driver holds
#: its peak for the whole job, so a part is kept small: its memory is the same for a market
#: of 30 pairs and one of 1,500, and a part more costs the pass two statements.
PART_SERIES = 25

#: The series' own columns of a score row, dropped from its columns.
SERIES_NAMES = frozenset({"id_coin", "model", "target"})
#: The scores' stored numbers by name, and the numpy type they are held as.
_NUMBER_KINDS = {column.name: (np.int64 if isinstance(column.type, sa.Integer) else float)
                 for column in db.forecast_scores.columns
                 if isinstance(column.type, (sa.Float, sa.Integer))
                 and not isinstance(column.type, sa.Boolean)}

#: A table's rows as columns: column name -> its values, oldest first (a tuple, or a numpy
#: array of numbers made by :func:`pair_columns` or :func:`score_columns`).
Columns = dict[str, Sequence]


def columns_of(rows: Sequence[sa.Row | tuple], names: Sequence[str] | None = None) -> Columns:
    """``rows`` transposed (once, in C, instead of an attribute lookup per row and column):
    a pass reads up to a month of hours of every series. ``names``: the columns' names
    (default: the Rows' own fields)."""
    if not rows:
        return {}
    return dict(zip(names or rows[0]._fields, zip(*rows, strict=True), strict=True))


def _span(columns: Columns, time: str, after: int, until: int | None = None) -> Columns:
    """The part of ``columns`` (ordered by ``time``) with after < time <= until."""
    times = columns.get(time, ())
    start = bisect_right(times, after)
    end = len(times) if until is None else bisect_right(times, until)
    return {name: values[start:end] for name, values in columns.items()}


@dataclass(frozen=True)
class RecentHistory:
    """The series' newest scored candle (``as_of``), their scores of the LOOKBACK_MS up to
    it and their pairs' candles from the earliest series' span on, as columns."""

    as_of: dict[db.SeriesKey, int]
    scores: dict[db.SeriesKey, Columns]
    candles: dict[int, Columns]

    def scores_after(self, key: db.SeriesKey, after: int) -> Columns | None:
        """The series' scores of candles opened after ``after``; None where that reaches
        back beyond what was read (the caller reads it itself)."""
        if key not in self.as_of or after < self.as_of[key] - LOOKBACK_MS:
            return None
        return _span(self.scores.get(key, {}), "openTime_next", after)

    def candles_of(self, key: db.SeriesKey) -> Columns:
        """The candles of the series' span: opened after as_of - LOOKBACK_MS, up to as_of."""
        as_of = self.as_of[key]
        return _span(self.candles.get(key.id_coin, {}), "openTime", as_of - LOOKBACK_MS,
                     as_of)


def read_recent_history(conn: sa.Connection, as_of: dict[db.SeriesKey, int]) -> RecentHistory:
    """The RecentHistory of the series ``as_of`` holds (of one interval), as_of their
    newest scored candle (the running sums hold it): their scores and their pairs' candles
    in one statement each per group of series whose as_of lie within LOOKBACK_MS of each
    other (:func:`within_a_window`: one group but where a pair resumed after a pause)."""
    scores: dict[db.SeriesKey, Columns] = {}
    candles: dict[int, Columns] = {}
    for group in within_a_window(as_of):
        coins = sorted({key.id_coin for key in group})
        floor = min(as_of[key] for key in group) - LOOKBACK_MS
        interval = group[0].interval
        scores.update(_series_scores(db.pairs_scores_after(conn, group, floor, CHUNK_ROWS),
                                     {key: as_of[key] for key in group}))
        read = pair_columns(db.candle_ranges_since(conn, coins, interval, floor + 1,
                                                   CHUNK_ROWS))
        for coin, columns in read.items():  # a pair read by two groups: once each, by time
            earlier = candles.get(coin)
            candles[coin] = (columns if earlier is None
                             else _by_time(_joined([earlier, columns]), "openTime"))
    return RecentHistory(as_of, scores, candles)


def pair_columns(chunks: Iterable[db.Tuples]) -> dict[int, Columns]:
    """Rows of (idCoin, openTime, then numbers), ordered by pair and then time and read in
    chunks, as each pair's columns of numpy arrays (openTime as int64, the numbers as
    float64, a NULL as NaN). As arrays a candle's five numbers take 40 bytes instead of
    about 200 as a tuple of Python numbers, and only one chunk is held as tuples: the job's
    driver keeps its peak memory for the whole job, and this is most of what a scoring pass
    reads. Times and ids pass through float64 exactly (they are far below 2**53)."""
    blocks: dict[int, list[np.ndarray]] = {}
    names: tuple[str, ...] = ()
    for chunk in chunks:
        names = chunk.names
        block = np.array(chunk.rows, dtype=float)
        coins = block[:, 0].astype(np.int64)
        bounds = [0, *(np.flatnonzero(np.diff(coins)) + 1).tolist(), len(block)]
        for start, end in pairwise(bounds):  # a copy: the chunk's block is let go now
            blocks.setdefault(int(coins[start]), []).append(block[start:end, 1:].copy())
    found = {}
    for coin in list(blocks):
        parts = blocks.pop(coin)  # each pair's pieces let go as its columns are made
        joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
        found[coin] = {names[1]: joined[:, 0].astype(np.int64),
                       **{name: joined[:, index]
                          for index, name in enumerate(names[2:], start=1)}}
    return found


def in_parts(as_of: dict[db.SeriesKey, int], size: int | None = None
             ) -> list[dict[db.SeriesKey, int]]:
    """``as_of`` cut into parts of at most ``size`` series, each read, used and let go before
    the next (:func:`read_recent_history` per part): what a pass holds in memory is a
    part's month, not the market's, however many pairs the market has. The series are
    taken in :func:`within_a_window`'s order, so a part spans few windows."""
    size = size or PART_SERIES
    ordered = [key for group in within_a_window(as_of) for key in group]
    return [{key: as_of[key] for key in ordered[start:start + size]}
            for start in range(0, len(ordered), size)]


def within_a_window(as_of: dict[db.SeriesKey, int]) -> list[list[db.SeriesKey]]:
    """The series in groups, oldest as_of first, each spanning at most LOOKBACK_MS of as_of:
    a group's statements read at most two windows of each of its pairs, so a series whose
    newest score is months old (a pair that resumed trading after a pause) does not make
    every pair's read reach back months with it."""
    groups: list[list[db.SeriesKey]] = []
    for key in sorted(as_of, key=lambda k: (as_of[k], k.id_coin, k.model, k.target)):
        if not groups or as_of[key] - as_of[groups[-1][0]] > LOOKBACK_MS:
            groups.append([])
        groups[-1].append(key)
    return groups


def _series_scores(chunks: Iterable[db.Tuples], as_of: dict[db.SeriesKey, int]
                   ) -> dict[db.SeriesKey, Columns]:
    """Each series' scores (``chunks``: rows of (id_coin, model, target, ...) ordered by
    series, then time) within its own span (LOOKBACK_MS to its as_of), as columns: the
    numbers as numpy arrays (:func:`score_columns`), a chunk at a time."""
    pieces: dict[db.SeriesKey, list[Columns]] = {}
    interval = next(iter(as_of)).interval
    for chunk in chunks:
        for (coin, model, target), series in groupby(chunk.rows, key=itemgetter(0, 1, 2)):
            key = db.SeriesKey(int(coin), model, target, interval)
            if key in as_of:
                # Names equal but for case are one group to MySQL's collation: they
                # interleave, so a series may come in several pieces, in any order.
                pieces.setdefault(key, []).append(score_columns(list(series), chunk.names))
    found = {}
    for key in list(pieces):
        columns = _by_time(_joined(pieces.pop(key)), "openTime_next")
        found[key] = _span(columns, "openTime_next", as_of[key] - LOOKBACK_MS)
    return found


def score_columns(rows: Sequence[tuple], names: Sequence[str]) -> Columns:
    """Score rows as columns without the series' own three: the stored numbers (the
    scores' Double and BigInteger columns) as float64 and int64 arrays, a NULL as NaN; the
    flags and the source as tuples, so a NULL flag stays None. A month of a series' scores
    as Python tuples took about half a megabyte; the arrays, a fifth of it."""
    found: Columns = {}
    for name, values in zip(names, zip(*rows, strict=True), strict=True):
        if name in SERIES_NAMES:
            continue
        kind = _NUMBER_KINDS.get(name)
        found[name] = values if kind is None else np.array(values, dtype=kind)
    return found


def _joined(pieces: Sequence[Columns]) -> Columns:
    """Pieces of one series' (or one pair's) columns, one after the other."""
    if len(pieces) == 1:
        return pieces[0]
    return {name: (np.concatenate([piece[name] for piece in pieces])
                   if isinstance(pieces[0][name], np.ndarray)
                   else tuple(value for piece in pieces for value in piece[name]))
            for name in pieces[0]}


def _by_time(columns: Columns, time: str) -> Columns:
    """``columns`` ordered by ``time``, a time that came twice kept once (its first row):
    a no-op where they are in order already, as all but interleaved series and pairs read by
    two groups are."""
    times = columns.get(time)
    if times is None or len(times) < 2 or bool(np.all(np.diff(times) > 0)):
        return columns
    _, first = np.unique(times, return_index=True)
    return {name: (values[first] if isinstance(values, np.ndarray)
                   else tuple(values[index] for index in first))
            for name, values in columns.items()}
