"""Column names of a candle: written once, read by the schema, the kline reader and the
formulations alike (the tutorial's names, kept verbatim)."""

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
#: The 10 numeric kline columns the reference model reads (the tutorial's), in kline order: every
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

#: Levels whose prediction bands have columns of their own (``lower_80``, ``coverage_95``
#: ...) in the result tables; also the default --levels. Other levels live in the JSON
#: ``price_bands`` columns only.
STORED_LEVELS: tuple[float, ...] = (0.8, 0.95)
#: A band's scores per level (train/prediction_bands.py): share covered, mean width and mean
#: Winkler score (both in % of the base close).
BAND_SCORES: tuple[str, ...] = ("coverage", "width", "winkler")


def level_label(level: float) -> str:
    """The level in percent as column names use it: 0.8 -> "80", 0.975 -> "97_5"."""
    return f"{level * 100:.4g}".replace(".", "_")


def band_columns(level: float) -> tuple[str, str]:
    """("lower_80", "upper_80") for 0.8: the band's bounds of the next close."""
    label = level_label(level)
    return f"lower_{label}", f"upper_{label}"


def band_score_columns(level: float) -> tuple[str, ...]:
    """("coverage_80", "width_80", "winkler_80") for 0.8."""
    return tuple(f"{score}_{level_label(level)}" for score in BAND_SCORES)


def inside_column(level: float) -> str:
    """"inside_80" for 0.8: whether a scored forecast's close fell inside its band (NULL
    when the forecast had no band of that level)."""
    return f"inside_{level_label(level)}"


#: A band's forward track-record figures per level (predict/track_record.py): share of the
#: banded forecasts whose close fell inside, their count, and their mean width (% of the
#: last close).
RECORD_BAND_FIGURES: tuple[str, ...] = ("coverage", "banded", "width")


def record_band_columns(level: float) -> tuple[str, str, str]:
    """("coverage_80", "banded_80", "width_80") for 0.8: a track-record window's band
    figures."""
    label = level_label(level)
    coverage, banded, width = (f"{figure}_{label}" for figure in RECORD_BAND_FIGURES)
    return coverage, banded, width
