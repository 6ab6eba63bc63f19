"""``--with ETHBTC,BTCUSDT``: other pairs' candles as extra inputs of one pair's model. Pure.

Why: an altcoin's hourly move against ETH often follows the market it trades in (ETHBTC,
BTCUSDT); those pairs' candles are already in the database, so a model may read them beside
the pair's own.

Alignment. Rows are joined by open time: only the hours present in the pair AND in every
--with pair are kept (an inner join), nothing is forward-filled. The gap rule of
train/dataset.py then runs on the joined open times, so an hour missing in any pair is a gap
like a missing hour of the pair itself, and no sample spans it. The pair's newest candle must
be in every --with pair: otherwise the forecast would start from an older hour than the one
the rows announce (a --with pair the hourly crawl does not refresh), so that is refused.

Columns. Each --with pair adds two raw columns after the pair's 10 features, its close and
its volume (:data:`WITH_COLUMNS`). What a model reads of them is its formulation's business
(train/formulations/): the level target MinMax-scales them with the rest, the return target
turns them into that pair's close log return and change of log(1 + volume).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coinlstm.core.columns import FEATURE_COLUMNS
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import SYMBOL_PATTERN, ms_to_utc

#: What each --with pair adds to the raw feature matrix, in this order.
WITH_COLUMNS: tuple[str, ...] = ("close", "volume")
_SOURCE = [FEATURE_COLUMNS.index(name) for name in WITH_COLUMNS]


def parse_with(text: str) -> tuple[str, ...]:
    """``"ETHBTC,BTCUSDT"`` -> ``("ETHBTC", "BTCUSDT")`` (checked by :func:`check_with`)."""
    return tuple(part.strip() for part in text.split(","))


def format_with(pairs: Sequence[str]) -> str:
    """The flag value that :func:`parse_with` reads back to ``pairs``."""
    return ",".join(pairs)


def check_with(pairs: Sequence[str] | None, symbol: str | None = None) -> None:
    """BadInput unless every --with symbol is a plain symbol, listed once, not ``symbol``."""
    if pairs is None:
        return
    if not pairs:
        raise BadInput("--with needs at least one symbol, e.g. --with ETHBTC,BTCUSDT")
    for pair in pairs:
        if not isinstance(pair, str) or not SYMBOL_PATTERN.fullmatch(pair):
            raise BadInput(f"--with: invalid symbol {pair!r}: expected 2-20 characters A-Z "
                           "or 0-9, comma-separated")
        if pair == symbol:
            raise BadInput(f"--with {pair} is the pair itself; name other pairs")
    if len(set(pairs)) != len(pairs):
        raise BadInput(f"--with lists a symbol twice: {format_with(pairs)}")


def raw_names(pairs: Sequence[str]) -> tuple[str, ...]:
    """Names of the raw columns the pairs add (``ETHBTC.close``, ``ETHBTC.volume``, ...)."""
    return tuple(f"{pair}.{column}" for pair in pairs for column in WITH_COLUMNS)


def join(open_times: np.ndarray, features: np.ndarray,
         others: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The pair's rows at the open times every pair has, with each other pair's columns.

    ``others`` holds (symbol, open times, 10 features) per --with pair, each strictly
    increasing in time (train.dataset.feature_matrix checks that).
    """
    if not others:
        return open_times, features
    newest = int(open_times[-1])
    common = open_times
    for symbol, times, _ in others:
        if not np.isin(newest, times):
            raise BadInput(f"--with {symbol} has no candle of {ms_to_utc(newest)} UTC, the "
                           "pair's newest; crawl it first (the forecast would start from an "
                           "older hour)")
        common = np.intersect1d(common, times, assume_unique=True)
    columns = [features[np.searchsorted(open_times, common)]]
    for _, times, values in others:
        columns.append(values[np.searchsorted(times, common)][:, _SOURCE])
    return common, np.hstack(columns)


def with_closes(features: np.ndarray) -> np.ndarray:
    """The --with pairs' closes of a joined matrix (no column when there is no --with)."""
    return features[:, len(FEATURE_COLUMNS)::len(WITH_COLUMNS)]


def input_rows(newest_features: np.ndarray, pairs: Sequence[str],
               with_features: dict[str, np.ndarray] | None) -> np.ndarray:
    """A forecast's raw input: the pair's newest rows plus each --with pair's columns.

    ``with_features[symbol]`` are that pair's newest feature rows at the same open times as
    ``newest_features`` (the caller aligns them, as training did).
    """
    rows = np.asarray(newest_features, dtype=np.float64)
    if not pairs:
        if with_features:
            raise BadInput("this model reads no --with pair; pass no with_features")
        return rows
    missing = [pair for pair in pairs if pair not in (with_features or {})]
    if missing:
        raise BadInput(f"this model also reads --with {format_with(pairs)}: pass the newest "
                       f"candles of {', '.join(missing)} (with_features), aligned by open time")
    columns = [rows]
    for pair in pairs:
        other = np.asarray(with_features[pair], dtype=np.float64)  # type: ignore[index]
        if other.shape != rows.shape:
            raise BadInput(f"--with {pair}: {other.shape[0]} rows of {other.shape[-1]} "
                           f"features, the pair has {rows.shape[0]} of {rows.shape[-1]}; "
                           "pass rows of the same open times")
        columns.append(other[:, _SOURCE])
    return np.hstack(columns)
