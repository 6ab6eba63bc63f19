"""A coarser interval served from finer files: asked for 1d candles of a symbol whose file
holds 1h candles, the replay server answers with the file's candles aggregated as the
exchange builds them (coinlstm/core/resample.py: complete periods only), in whichever
exchange's replies it speaks.

One rule for every format: :func:`series_at` gives the series of a requested interval (the
file's own, or an aggregate built once and kept on the series), None when the interval can
neither be served as it is nor built from the file's (a finer one, or one off the UTC day
grid), which each format answers with its own "invalid interval" reply.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from coinlstm.core.errors import BadInput
from coinlstm.core.resample import aggregate, check_coarser
from crawl.replayformats.base import Series

_BUILDING = threading.Lock()
_KEPT = "_coarser_series"


def coarser_klines(klines: Sequence[Sequence], fine: str, coarse: str) -> list[list] | None:
    """``klines`` (stored form, oldest first, of interval ``fine``) aggregated to
    ``coarse``; None when ``coarse`` cannot be built from ``fine``."""
    try:
        fine_ms, coarse_ms = check_coarser(fine, coarse)
    except BadInput:
        return None
    return aggregate(klines, fine_ms, coarse_ms)


def series_at(series: Series, interval: str | None) -> Series | None:
    """``series`` at ``interval``: itself, its aggregate (built on the first request and
    kept), or None when that interval cannot be served from it."""
    if interval is None:
        return None
    if interval == series.interval:
        return series
    with _BUILDING:  # a server answers requests on several threads
        kept = vars(series).setdefault(_KEPT, {})
        if interval not in kept:
            klines = coarser_klines(series.klines, series.interval, interval)
            kept[interval] = None if klines is None else replace(
                series, interval=interval, open_times=[int(k[0]) for k in klines],
                klines=klines)
        return kept[interval]
