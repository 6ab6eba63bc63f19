"""Coarser candles from finer ones, as the exchange builds them: one rule for ``coinlstm
resample`` (into the database) and the replay server (a coarser interval served from finer
files).

A coarse candle of period P (``coarse`` ms, aligned on the UTC epoch, so a day starts at
00:00 UTC and a 4h period at 00, 04, .. UTC) is made of the fine candles opening in P:
open of the first, high the highest, low the lowest, close of the last, the volumes and the
trade counts summed, closeTime of the last, ``ignore`` "0". A period is complete only when
every fine candle of it is present; an incomplete one (a gap, the open period, the start of
a history) is left out rather than guessed.

Candles are in stored form (coinlstm.core.klines: times and trades as int, decimals as their
exact text) and sums are exact (Decimal), so the result is what summing the exchange's own
figures gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from coinlstm.core.errors import BadInput
from coinlstm.core.klines import INTERVAL_MS

_OPEN_TIME, _OPEN, _HIGH, _LOW, _CLOSE, _VOLUME, _CLOSE_TIME = range(7)
_QUOTE_VOLUME, _TRADES, _TAKER_BASE, _TAKER_QUOTE, _IGNORE = range(7, 12)
_SUMMED = (_VOLUME, _QUOTE_VOLUME, _TAKER_BASE, _TAKER_QUOTE)
#: Periods that are whole numbers of every finer interval's and start on the UTC epoch grid
#: as the exchanges' do (3d and 1w do not: Binance's weeks start on Mondays, the epoch on a
#: Thursday).
_EPOCH_ALIGNED = INTERVAL_MS["1d"]


def check_coarser(fine: str, coarse: str) -> tuple[int, int]:
    """(fine ms, coarse ms) when ``coarse`` can be built from ``fine``; BadInput otherwise."""
    if fine not in INTERVAL_MS or coarse not in INTERVAL_MS:
        bad = fine if fine not in INTERVAL_MS else coarse
        raise BadInput(f"unknown interval {bad!r}; choose one of {', '.join(INTERVAL_MS)}")
    fine_ms, coarse_ms = INTERVAL_MS[fine], INTERVAL_MS[coarse]
    if coarse_ms <= fine_ms or coarse_ms % fine_ms:
        raise BadInput(f"{coarse} candles cannot be built from {fine} candles: the coarser "
                       f"interval must be a whole multiple of the finer one")
    if _EPOCH_ALIGNED % coarse_ms:
        raise BadInput(f"{coarse} candles are not built here (their periods do not start on "
                       "the UTC day grid); choose an interval of a day or less")
    return fine_ms, coarse_ms


def aggregate(klines: Iterable[Sequence], fine_ms: int, coarse_ms: int) -> list[list]:
    """The complete coarse candles of ``klines`` (fine candles in stored form, oldest first),
    oldest first."""
    per_period = coarse_ms // fine_ms
    built: list[list] = []
    period: list[Sequence] = []
    start = None
    for kline in klines:
        opens = int(kline[_OPEN_TIME])
        if start is None or opens >= start + coarse_ms:
            if len(period) == per_period:
                built.append(_combine(period, start))
            start, period = opens - opens % coarse_ms, []
        period.append(kline)
    if len(period) == per_period:
        built.append(_combine(period, start))
    return built


def _combine(period: list[Sequence], start: int) -> list:
    first, last = period[0], period[-1]
    kline = [start, first[_OPEN],
             _text(max(Decimal(str(k[_HIGH])) for k in period)),
             _text(min(Decimal(str(k[_LOW])) for k in period)),
             last[_CLOSE], None, int(last[_CLOSE_TIME]), None,
             sum(int(k[_TRADES]) for k in period), None, None, "0"]
    for index in _SUMMED:
        kline[index] = _text(sum((Decimal(str(k[index])) for k in period), Decimal(0)))
    kline[_OPEN] = str(kline[_OPEN])
    kline[_CLOSE] = str(kline[_CLOSE])
    return kline


def _text(value: Decimal) -> str:
    return format(value, "f")
