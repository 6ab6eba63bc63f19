"""Column names of a candle: written once, read by the schema, the kline reader and the
formulations alike (SPEC.md's names, kept verbatim)."""

from __future__ import annotations

#: Candle columns in Binance kline order (the order of the REST API and of the dumps),
#: led by the coin's id: the columns of every candle table.
CANDLE_COLUMNS: tuple[str, ...] = (
    "idCoin",
    "openTime",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "closeTime",
    "quoteAssetVolume",
    "numberOfTrader",
    "takerBuyBaseAssetVolume",
    "takerBuyQuoteAssetVolume",
    "ignore",
)
#: The 10 numeric kline columns the reference model reads (SPEC.md), in kline order: every
#: candle column but the coin and the two times.
FEATURE_COLUMNS: tuple[str, ...] = tuple(
    name for name in CANDLE_COLUMNS if name not in ("idCoin", "openTime", "closeTime"))
#: The candle columns stored as exact decimals (prices and volumes): the features but the
#: trade count (an integer) and ``ignore`` (Binance's text).
DECIMAL_COLUMNS: tuple[str, ...] = tuple(
    name for name in FEATURE_COLUMNS if name not in ("numberOfTrader", "ignore"))
#: Index of the close among the features: the target column of every formulation.
CLOSE_INDEX = FEATURE_COLUMNS.index("close")
#: Characters the kline's last field ("ignore", Binance's unused field) may have: its
#: column's width.
IGNORE_WIDTH = 40
