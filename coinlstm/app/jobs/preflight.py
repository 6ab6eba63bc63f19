"""Checks a driver (``run``, ``evaluate``) makes before it starts anything: before a fork
server, a task's process, a job_runs row or an output file.

An input that no chosen pair can be used with (a ``--window`` longer than every pair's
history, ``--folds`` that no pair holds) is bad input, exit 2, in one line, whether the
pairs were named with ``--only`` or not; a pair too short among others that are long enough
is that pair's own failure (or, for the hourly job without ``--only``, it is skipped).
"""

from __future__ import annotations

from coinlstm.core.errors import BadInput


def short_pairs(counts: dict[str, int], needed: int, market: str, interval: str,
                settings: str) -> list[str]:
    """The pairs (symbol -> stored candles of ``interval``) holding fewer than ``needed``
    candles; BadInput when that is every one of them (``settings``: what needs them, for
    the message)."""
    short = [symbol for symbol, count in counts.items() if count < needed]
    if counts and len(short) == len(counts):
        most = max(counts.values())
        holder = next(symbol for symbol, count in counts.items() if count == most)
        raise BadInput(f"no pair of market {market} has enough {interval} candles: {settings} "
                       f"need at least {needed}, the most is {most} ({holder}); lower the "
                       "settings, or crawl or import more candles")
    return short
