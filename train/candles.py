"""The candles one pair's model reads, from the database: the pair's own and its --with pairs'.

Kept apart from the pipeline so that what is read (and refused) before any training starts is
in one short place: an unknown id, an id and symbol that disagree, a --with pair that is not
in the database or has no candles over the pair's span are BadInput, and nothing is written.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np

from coinlstm import db
from coinlstm.core.columns import FEATURE_COLUMNS
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import DEFAULT_INTERVAL, ms_to_utc
from train.dataset import WithSeries


def load_candles(engine, coin_id: int, symbol: str, newest: int | None,
                 with_pairs: tuple[str, ...] | None, interval: str = DEFAULT_INTERVAL,
                 until: int | None = None
                 ) -> tuple[list[int], list[tuple[float, ...]], list[WithSeries]]:
    """(open times, feature rows) of the pair's ``interval`` candles, newest ``newest`` only,
    and each --with pair's candles of the same interval from the pair's first open time on
    (older ones could never join); with ``until`` only candles opened at or before it."""
    with engine.connect() as conn:
        coin = db.coin_by_id(conn, coin_id)
        if coin is None:
            raise BadInput(f"no coin with id {coin_id} in the database (coin_info)")
        if coin.symbol != symbol:
            raise BadInput(f"-id {coin_id} is {coin.symbol}, not {symbol}: pass the id and "
                           "symbol of the same coin")
        open_times, values = db.load_training_rows(conn, coin_id, newest=newest,
                                                   interval=interval, until=until)
        since = open_times[0] if open_times else None
        others: list[WithSeries] = []
        for other in with_pairs or ():
            row = db.coin_by_symbol(conn, other)
            if row is None:
                raise BadInput(f"--with {other}: no such pair in the database (coin_info); "
                               "crawl or import it first")
            other_times, other_values = db.load_training_rows(conn, int(row.id), since=since,
                                                              interval=interval, until=until)
            others.append(_with_series(other, other_times, other_values, since))
    return open_times, values, others


def _with_series(other: str, times, values, since: int | None) -> WithSeries:
    """A --with pair's candles; BadInput when it holds none over the pair's span."""
    if not times:
        span = f" since {ms_to_utc(since)} UTC" if since is not None else ""
        raise BadInput(f"--with {other}: no candles in the database{span}; crawl or "
                       "import them first")
    return other, times, values


@dataclass(frozen=True)
class HeldCandles:
    """A pair's candles (and its --with pairs') read from the database once, answering for
    any ``until`` what :func:`load_candles` and ``db.newest_open_time`` would answer then.

    Why: the backfill replays hundreds of hours of one pair, each of which read the same
    candles again (a warm hour: ~2,300 rows, most of its time outside training). The answers
    are the same rows, cut from memory: the same values, the same order, the same BadInput."""

    open_times: list[int]
    #: The feature rows as one float64 array (rows, features): an hour's rows are a view of
    #: it, which the dataset copies instead of converting thousands of tuples every hour.
    values: np.ndarray
    others: list[WithSeries]

    @classmethod
    def read(cls, engine, coin_id: int, symbol: str, with_pairs: tuple[str, ...] | None,
             interval: str = DEFAULT_INTERVAL, until: int | None = None) -> HeldCandles:
        """Every candle up to ``until`` (None: all), checked as :func:`load_candles` checks."""
        open_times, values, others = load_candles(engine, coin_id, symbol, None, with_pairs,
                                                  interval, until=until)
        rows = np.array(values, dtype=np.float64).reshape(len(open_times),
                                                          len(FEATURE_COLUMNS))
        return cls(open_times, rows, others)

    def newest_open_time(self, until: int | None) -> int | None:
        end = self._end(self.open_times, until)
        return self.open_times[end - 1] if end else None

    def load(self, newest: int | None, until: int | None
             ) -> tuple[list[int], np.ndarray, list[WithSeries]]:
        """:func:`load_candles`'s answer for ``newest`` and ``until``."""
        end = self._end(self.open_times, until)
        start = 0 if newest is None else max(0, end - newest)
        open_times, values = self.open_times[start:end], self.values[start:end]
        since = open_times[0] if open_times else None
        others = []
        for other, times, rows in self.others:
            first = 0 if since is None else bisect_left(times, since)
            last = self._end(times, until)
            others.append(_with_series(other, times[first:last], rows[first:last], since))
        return open_times, values, others

    @staticmethod
    def _end(times: list[int], until: int | None) -> int:
        return len(times) if until is None else bisect_right(times, until)


@dataclass(frozen=True)
class StoredCandles:
    """A pair's candles read from the database at each ask (the live job's run), with the
    same two answers as :class:`HeldCandles`, which gives them from memory; a database
    restart is waited out for ``retry_seconds``."""

    engine: object
    coin_id: int
    symbol: str
    with_pairs: tuple[str, ...] | None
    interval: str = DEFAULT_INTERVAL
    retry_seconds: float = 0.0

    def newest_open_time(self, until: int | None) -> int | None:
        def read() -> int | None:
            with self.engine.connect() as conn:
                return db.newest_open_time(conn, self.coin_id, interval=self.interval,
                                           until=until)

        return db.retry(read, self.retry_seconds, f"{self.symbol}: reading the newest candle")

    def load(self, newest: int | None, until: int | None
             ) -> tuple[list[int], list[tuple[float, ...]], list[WithSeries]]:
        """:func:`load_candles`'s answer for ``newest`` and ``until``."""
        return db.retry(lambda: load_candles(self.engine, self.coin_id, self.symbol, newest,
                                             self.with_pairs, self.interval, until=until),
                        self.retry_seconds, f"{self.symbol}: reading candles")
