"""The tables: the tutorial's names and columns verbatim (the dashboards read them), the typo
``price_preidct_last`` included, one candle table per interval. Declarations only."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coinlstm.core.columns import (
    IGNORE_WIDTH,
    STORED_LEVELS,
    band_columns,
    band_score_columns,
    inside_column,
    level_label,
    record_band_columns,
)
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import DEFAULT_EXCHANGE
from coinlstm.core.klines import DEFAULT_INTERVAL, INTERVAL_MS
from coinlstm.db.types import ExactDecimal

metadata = sa.MetaData()
#: A forecast's source: published by the hourly job, or replayed by ``coinlstm backfill``.
SOURCE_LIVE, SOURCE_BACKFILL = "live", "backfill"
SOURCES: tuple[str, ...] = (SOURCE_LIVE, SOURCE_BACKFILL)
_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _columns(type_, *names: str, nullable: bool = True) -> list[sa.Column]:
    """Columns of one type and nullability, in the order named: how a table lists a group of
    alike columns once."""
    return [sa.Column(name, type_, nullable=nullable) for name in names]


def _source_column() -> sa.Column:
    """A forecast's source (SOURCES), live where not said: a forecast's and its score's."""
    return sa.Column("source", sa.String(8), nullable=False, server_default=SOURCE_LIVE)


coin_info = sa.Table(
    "coin_info",
    metadata,
    # SQLite only auto-numbers an INTEGER primary key; AUTOINCREMENT there (like InnoDB's
    # counter) never hands out an id again, so "-id 173" names one coin forever.
    sa.Column("id", sa.SmallInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("symbol", sa.String(20), nullable=False, unique=True),
    sa.Column("baseAsset", sa.String(16), nullable=False),
    sa.Column("quoteAsset", sa.String(16), nullable=False, index=True),
    # The exchange's status (TRADING, BREAK, ...); DELISTED when exchangeInfo no longer
    # lists the pair; NULL for pairs only imported from files and never seen on the exchange.
    sa.Column("status", sa.String(20), nullable=True),
    sa.Column("time_update", sa.Integer, nullable=True),
    # The exchange the pair trades on (crawl/sources). Added after the original schema:
    # the in-place upgrade gives every existing row 'binance' (the column's default), so the
    # ids, symbols and queries of the original dashboards stay as they were. Symbols stay
    # unique across exchanges, as each exchange has its own disjoint symbol form
    # (coinlstm.core.exchanges), so no uniqueness changes on old databases.
    sa.Column("exchange", sa.String(16), nullable=True, server_default=DEFAULT_EXCHANGE),
    sqlite_autoincrement=True,
    **_TABLE_ARGS,
)


def _candle_table(name: str) -> sa.Table:
    """A candle table: the columns and primary key of the tutorial's candlestick_data.

    Every interval has its own table of this shape, so a series is (table, idCoin) and
    5-minute candles can never land among the hourly ones the dashboards read.
    """
    return sa.Table(
        name,
        metadata,
        sa.Column("idCoin", sa.SmallInteger, sa.ForeignKey("coin_info.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("openTime", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("open", ExactDecimal, nullable=False),
        sa.Column("high", ExactDecimal, nullable=False),
        sa.Column("low", ExactDecimal, nullable=False),
        sa.Column("close", ExactDecimal, nullable=False),
        sa.Column("volume", ExactDecimal, nullable=False),
        sa.Column("closeTime", sa.BigInteger, nullable=False),
        sa.Column("quoteAssetVolume", ExactDecimal, nullable=False),
        sa.Column("numberOfTrader", sa.BigInteger, nullable=False),
        sa.Column("takerBuyBaseAssetVolume", ExactDecimal, nullable=False),
        sa.Column("takerBuyQuoteAssetVolume", ExactDecimal, nullable=False),
        # Binance's "unused field"; kept as the text it sent ("0").
        sa.Column("ignore", sa.String(IGNORE_WIDTH), nullable=False),
        **_TABLE_ARGS,
    )


def candle_table_name(interval: str) -> str:
    """``candlestick_data`` for 1h (the name the dashboards read), else ``candlestick_data_5m``
    and so on: one table per interval."""
    return "candlestick_data" if interval == DEFAULT_INTERVAL else f"candlestick_data_{interval}"


#: interval -> its candle table, for every interval of klines.INTERVAL_MS.
CANDLE_TABLES: dict[str, sa.Table] = {
    interval: _candle_table(candle_table_name(interval)) for interval in INTERVAL_MS}
#: The hourly candles: the original system's table, name and columns unchanged.
candlestick_data = CANDLE_TABLES[DEFAULT_INTERVAL]


def candles_table(interval: str = DEFAULT_INTERVAL) -> sa.Table:
    """The table holding ``interval``'s candles; BadInput for an interval without one."""
    try:
        return CANDLE_TABLES[interval]
    except (KeyError, TypeError):
        raise BadInput(f"unknown interval {interval!r}; choose one of "
                       f"{', '.join(CANDLE_TABLES)}") from None


#: Longest job_runs.reason kept (a longer line is cut).
JOB_REASON_LENGTH = 500

job_runs = sa.Table(
    "job_runs",
    metadata,
    # One row per run of the market job: who runs it, and the key that makes a retried
    # pair's writes idempotent (historical_* rows are unique per run_id and coin).
    sa.Column("run_id", sa.String(64), primary_key=True),
    *_columns(sa.String(16), "market", "executor", nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("time_start", sa.Integer, nullable=False, index=True),
    sa.Column("time_end", sa.Integer, nullable=True),
    # running, ok, partial, failed, lock_lost, or abandoned (a later run found its holder
    # gone: SIGKILLed, its host rebooted).
    sa.Column("status", sa.String(16), nullable=False),
    *_columns(sa.Integer, "pairs_ok", "pairs_failed"),
    # Why the run ended as it did when not ok (the one line the job printed).
    sa.Column("reason", sa.String(JOB_REASON_LENGTH), nullable=True),
    # The failed pairs and why, as a JSON object {symbol: one-line reason}: the runs page.
    sa.Column("failures", sa.Text, nullable=True),
    **_TABLE_ARGS,
)

#: Metric columns added to historical_train beyond the tutorial's (model and naive side by side).
METRIC_COLUMNS: tuple[str, ...] = (
    "MAE",
    "MAPE",
    "direction_accuracy",
    "naive_RMSE",
    "naive_max_error",
    "naive_MAE",
    "naive_MAPE",
    "naive_direction_accuracy",
    "skill",
)


def _result_head(*prices: str) -> list[sa.Column]:
    """The columns both result tables (historical_*) begin with: the row's id, its coin, when
    it was written (both indexed), and its price lists (JSON text) named ``prices``."""
    return [sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("id_coin", sa.SmallInteger, nullable=False, index=True),
            sa.Column("time_create", sa.Integer, nullable=False, index=True),
            *_columns(sa.Text, *prices, nullable=False)]


historical_train = sa.Table(
    "historical_train",
    metadata,
    *_result_head("price_test", "price_predict"),
    *_columns(sa.Double, "RMSE", "max_error", nullable=False),
    # The original system's meaning (its predictor and website read it): the open time of the
    # candle before the test window, so the test candles are those opened after it. coinlstm's
    # newest candle is openTime_newest (NULL in the original system's rows). Revision 0002.
    sa.Column("openTime_last", sa.BigInteger, nullable=False),
    sa.Column("openTime_newest", sa.BigInteger, nullable=True),
    *_columns(sa.Double, *METRIC_COLUMNS),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("model", sa.String(32), nullable=True),
    sa.Column("backend", sa.String(16), nullable=True),
    sa.Column("settings", sa.Text, nullable=True),
    *_columns(sa.Integer, "n_train", "n_val", "n_test", "epochs_run"),
    sa.Column("train_seconds", sa.Double, nullable=True),
    # "return" (default) or "close" (the reference); for "return", the factor a that anchors
    # the forecast on the last close (0: no edge), its validation t statistic, and a > 0.
    sa.Column("target", sa.String(16), nullable=True),
    *_columns(sa.Double, "shrinkage", "shrinkage_t"),
    sa.Column("edge", sa.Boolean, nullable=True),
    # --horizon K: closes forecast per sample; with K > 1, price_test and price_predict hold
    # a JSON array of K-arrays (one per test sample) instead of a flat array.
    sa.Column("horizon", sa.Integer, nullable=True),
    # The candle interval the model was trained on ("1h", "5m", ...); NULL in rows written
    # before intervals existed, which were all 1h. (INTERVAL is a reserved word in MySQL:
    # a hand-written query names it `interval`, in backticks.)
    sa.Column("interval", sa.String(8), nullable=True),
    # Samples of the calibration slice (the shrinkage and the bands; train/dataset.py "Split");
    # 0 when the series was too short for one and calibration read the validation slice.
    sa.Column("n_cal", sa.Integer, nullable=True),
    # Prediction bands of the test slice (train/prediction_bands.py): per stored level its coverage,
    # mean width and Winkler score (% of the last close), and every level's bounds per test
    # forecast as JSON {"80": {"lower": [...], "upper": [...]}, ...} (K-arrays for K > 1).
    *_columns(sa.Double, *(name for level in STORED_LEVELS
                           for name in band_score_columns(level))),
    sa.Column("price_bands", sa.Text, nullable=True),
    sa.UniqueConstraint("run_id", "id_coin", name="uq_historical_train_run_coin"),
    **_TABLE_ARGS,
)

historical_price_predictions = sa.Table(
    "historical_price_predictions",
    metadata,
    *_result_head("price_predict", "price_actual"),
    sa.Column("price_preidct_last", sa.Double, nullable=False),
    sa.Column("price_predict_previous", sa.Double, nullable=True),
    sa.Column("price_actual_last", sa.Double, nullable=False),
    sa.Column("price_actual_previous", sa.Double, nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("openTime_next", sa.BigInteger, nullable=True),
    sa.Column("model", sa.String(32), nullable=True),
    sa.Column("skill", sa.Double, nullable=True),
    sa.Column("target", sa.String(16), nullable=True),
    sa.Column("edge", sa.Boolean, nullable=True),
    # --horizon K: the K forecast closes after the newest candle as a JSON array (NULL for
    # K = 1); price_preidct_last stays the first of them, so one-step readers keep working.
    sa.Column("horizon", sa.Integer, nullable=True),
    sa.Column("price_predict_horizon", sa.Text, nullable=True),
    # The interval of the forecast candle (openTime_next is one interval after the newest).
    sa.Column("interval", sa.String(8), nullable=True),
    # The prediction band of the next close per stored level (NULL when that level was not
    # asked for), and every level's K-step bands as JSON {"80": {"lower": [..K], ...}}.
    *_columns(sa.Double, *(name for level in STORED_LEVELS for name in band_columns(level))),
    sa.Column("price_bands", sa.Text, nullable=True),
    # Who made the forecast: "live" (the hourly job) or "backfill" (``coinlstm backfill``:
    # the job's schedule replayed over stored candles). Revision 0004; older rows are live.
    _source_column(),
    sa.UniqueConstraint("run_id", "id_coin", name="uq_historical_pred_run_coin"),
    # The scorer joins each forecast to the candle it was for; the dashboard reads a pair's
    # newest forecasts of one interval.
    sa.Index("ix_historical_pred_coin_interval_next", "id_coin", "interval", "openTime_next"),
    **_TABLE_ARGS,
)

#: The key of a forecast series: one pair's forecasts of one model, target and interval.
#: Its columns are never NULL in the score tables: a forecast row without a model or target
#: (written before they existed) is scored under "" and one without an interval under 1h.
SERIES_COLUMNS: tuple[str, ...] = ("id_coin", "model", "target", "interval")


def _series_columns() -> list[sa.Column]:
    return [sa.Column("id_coin", sa.SmallInteger, nullable=False),
            sa.Column("model", sa.String(32), nullable=False),
            sa.Column("target", sa.String(16), nullable=False),
            sa.Column("interval", sa.String(8), nullable=False)]


def _as_of_column() -> sa.Column:
    """The newest scored candle (its open time) a series' figures run to: the data time of a
    track record's windows and of a pair's costs."""
    return sa.Column("as_of", sa.BigInteger, nullable=False)


def _score_band_columns(level: float) -> list[sa.Column]:
    lower, upper = band_columns(level)
    return [sa.Column(lower, sa.Double, nullable=True),
            sa.Column(upper, sa.Double, nullable=True),
            sa.Column(inside_column(level), sa.Boolean, nullable=True)]


def _record_band_columns(level: float) -> list[sa.Column]:
    coverage, banded, width = record_band_columns(level)
    return [sa.Column(coverage, sa.Double, nullable=True),
            sa.Column(banded, sa.Integer, nullable=True),
            sa.Column(width, sa.Double, nullable=True)]


forecast_scores = sa.Table(
    "forecast_scores",
    metadata,
    # One row per forecast candle of a series: the newest forecast made for it (a rerun's
    # replaces an older one's) against the close that came. Written by predict/forward_scores.py.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id_prediction", sa.Integer, nullable=False, unique=True),
    *_series_columns(),
    # The candle forecast, and the candle the forecast was made from (its data time).
    *_columns(sa.BigInteger, "openTime_next", "openTime_last", nullable=False),
    # The forecast, the naive forecast (the last close when the forecast was made), the close
    # that came, and the errors: forecast - actual and naive - actual.
    *_columns(sa.Double, "forecast", "naive", "actual", "error", "naive_error",
              nullable=False),
    # Direction, on moved candles only (actual != naive; NULL when the close did not move):
    # did the forecast move from the last close the way the close did?
    sa.Column("direction_hit", sa.Boolean, nullable=True),
    sa.Column("time_scored", sa.Integer, nullable=False),
    # The forecast's band per stored level (lower_80, upper_80, ...) and whether the close
    # fell inside it, bounds included (inside_80, ...); all NULL when the forecast had no
    # band of that level. Levels beyond the stored ones (price_bands only) are not scored.
    # Added in place on older databases; their scores get them on the next scoring pass.
    *(column for level in STORED_LEVELS for column in _score_band_columns(level)),
    # The scored forecast's source: a live forecast's score is never replaced by a
    # backfilled one's for the same candle (revision 0004).
    _source_column(),
    sa.UniqueConstraint(*SERIES_COLUMNS, "openTime_next", name="uq_forecast_scores_series_next"),
    **_TABLE_ARGS,
)

#: The track-record windows, newest data first: name -> length in ms (None: all time).
TRACK_RECORD_WINDOWS: dict[str, int | None] = {
    "24h": 24 * 3_600_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000, "all": None}

track_records = sa.Table(
    "track_records",
    metadata,
    # A series' forward track record per window, recomputed by the scorer whenever the
    # series gets new scores; the windows end at the newest scored candle (``as_of``), the
    # data time, never the wall clock. What the market page reads for 400 pairs at once.
    *_series_columns(),
    sa.Column("window", sa.String(8), nullable=False),
    _as_of_column(),
    sa.Column("scored", sa.Integer, nullable=False),
    *_columns(sa.Double, "rmse", "naive_rmse", "skill", "mae", "naive_mae", "direction"),
    sa.Column("moved", sa.Integer, nullable=False),
    *_columns(sa.Double, "dm_stat", "dm_pvalue", "dm_pvalue_worse"),
    sa.Column("verdict", sa.String(16), nullable=False),
    # The two DM p-values Benjamini-Hochberg adjusted across the pairs of the series' market
    # (exchange, quote asset, model, target, interval) in this window: what the verdict
    # compares with the FDR level. Nullable: added in place on older databases, filled by
    # their next scoring pass.
    *_columns(sa.Double, "dm_pvalue_adjusted", "dm_pvalue_worse_adjusted"),
    # Forward band coverage per stored level: the share of the window's banded forecasts
    # whose close fell inside (NULL when none had a band), how many had one, and their mean
    # width in % of the last close. Nullable: added in place on older databases.
    *(column for level in STORED_LEVELS for column in _record_band_columns(level)),
    # What the window's record rests on: its scored forecasts per source (revision 0004;
    # NULL until an upgraded database's next scoring pass).
    *_columns(sa.Integer, "scored_live", "scored_backfill"),
    sa.PrimaryKeyConstraint(*SERIES_COLUMNS, "window"),
    **_TABLE_ARGS,
)


#: Lagged products of the loss differential a series' running sums keep: enough for the
#: Newey-West lags of up to 381,000 scores (``floor(4 (n/100)^(2/9)) <= 24``); a longer
#: series' all-time record is recomputed from its scores.
SUM_LAGS = 24


def sum_band_columns(level: float) -> tuple[str, str, str, str]:
    """("banded_80", "inside_80", "widths_80", "width_sum_80") for 0.8: of a series' scores,
    those with a band of the level, those whose close fell inside, those with a known width,
    and the sum of their widths (% of the last close)."""
    label = level_label(level)
    return f"banded_{label}", f"inside_{label}", f"widths_{label}", f"width_sum_{label}"


def lag_columns(kind: str) -> tuple[str, ...]:
    """("lag_1", ... "lag_24") and likewise "head", "tail": the lagged products, the first
    and the last SUM_LAGS loss differentials (tail_1 the newest)."""
    return tuple(f"{kind}_{k}" for k in range(1, SUM_LAGS + 1))


def _sum_band_columns(level: float) -> list[sa.Column]:
    *counts, width_sum = sum_band_columns(level)
    return [*(sa.Column(name, sa.Integer, nullable=False) for name in counts),
            sa.Column(width_sum, sa.Double, nullable=False)]


#: The running sums' columns that add up (every one but the series key and ``newest``).
SUM_COUNTS: tuple[str, ...] = ("scored", "scored_live", "scored_backfill", "hits", "moved")
SUM_TOTALS: tuple[str, ...] = ("sq_error", "sq_naive", "abs_error", "abs_naive", "d_sum",
                               "d_sq")

track_record_sums = sa.Table(
    "track_record_sums",
    metadata,
    # A series' running sums over all its scores (revision 0005): what its all-time track
    # record is computed from without reading its history. Updated by the scorer in the
    # transaction that writes the scores; d is the loss differential error^2 - naive_error^2
    # in candle order, lag_k the sum of d_t d_(t-k).
    *_series_columns(),
    sa.Column("newest", sa.BigInteger, nullable=False),
    *(sa.Column(name, sa.Integer, nullable=False) for name in SUM_COUNTS),
    *(sa.Column(name, sa.Double, nullable=False) for name in SUM_TOTALS),
    *(column for level in STORED_LEVELS for column in _sum_band_columns(level)),
    *(sa.Column(name, sa.Double, nullable=False) for name in lag_columns("lag")),
    *(sa.Column(name, sa.Double, nullable=True) for kind in ("head", "tail")
      for name in lag_columns(kind)),
    sa.PrimaryKeyConstraint(*SERIES_COLUMNS),
    **_TABLE_ARGS,
)


def _scoring_scope() -> list[sa.Column]:
    """A scoring pass's scope: the interval and the market ('' for every market)."""
    return [sa.Column("interval", sa.String(8), nullable=False),
            sa.Column("market", sa.String(16), nullable=False)]


scoring_marks = sa.Table(
    "scoring_marks",
    metadata,
    # Where the scorer's reading of the forecasts stands, per interval and market ('': a
    # pass over every market; revision 0005): it has settled every forecast of its pairs up
    # to ``forecast_id`` (scored it, or found a better forecast's score for its candle) but
    # those in scoring_pending, whose candle was not in. The next pass reads only the
    # forecasts after the mark and the pending ones.
    *_scoring_scope(),
    sa.Column("forecast_id", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("interval", "market"),
    **_TABLE_ARGS,
)

scoring_pending = sa.Table(
    "scoring_pending",
    metadata,
    # The forecasts at or before a scoring mark whose candle was not in (revision 0005).
    *_scoring_scope(),
    sa.Column("id_prediction", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("interval", "market", "id_prediction"),
    **_TABLE_ARGS,
)


movers_hours = sa.Table(
    "movers_hours",
    metadata,
    # One row per market and scored candle: the cross-sectional Spearman correlations of
    # ranking the market's pairs by the forecast size of their move (the tool's) and by
    # their realised volatility of the 24 hours before (the naive one) against the absolute
    # returns that came, across ``pairs`` pairs. Written by the scorer (predict/evidence.py);
    # the dashboard averages them per window. A new table: made in place on older databases.
    *_columns(sa.String(16), "exchange", "market", nullable=False),
    sa.Column("interval", sa.String(8), nullable=False),
    sa.Column("openTime", sa.BigInteger, nullable=False),
    sa.Column("pairs", sa.Integer, nullable=False),
    *_columns(sa.Double, "spearman", "naive_spearman", nullable=False),
    sa.PrimaryKeyConstraint("exchange", "market", "interval", "openTime"),
    **_TABLE_ARGS,
)

pair_costs = sa.Table(
    "pair_costs",
    metadata,
    # A series' costs over the 30 days before its newest scored candle (``as_of``): its
    # pair's effective spread (Corwin-Schultz's high-low estimator, from ``spread_returns``
    # pairs of consecutive candles; NULL where undefined), Roll's lag-1 autocovariance of
    # the returns beside it (Roll's spread is 2 sqrt(-autocovariance) where negative), and
    # what its forecasts earned after the spread in the hours whose predicted move exceeded
    # it. Written by the scorer before the track record, whose verdict reads it. A new
    # table: made in place on older databases.
    *_series_columns(),
    _as_of_column(),
    *_columns(sa.Double, "spread", "autocovariance"),
    *_columns(sa.Integer, "spread_returns", "trades", nullable=False),
    *_columns(sa.Double, "value", "value_pvalue"),
    # The pair's realised volatility over the 24 hourly returns ending at as_of, in %: the
    # naive size of its next move, beside the band's.
    sa.Column("naive_size", sa.Double, nullable=True),
    sa.PrimaryKeyConstraint(*SERIES_COLUMNS),
    **_TABLE_ARGS,
)


def table_fingerprint(conn: Connection) -> dict[str, int]:
    """Row counts of every table: what a test compares to prove 'the database is unchanged'."""
    return {table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table))
                            .scalar_one()) for table in metadata.sorted_tables}
