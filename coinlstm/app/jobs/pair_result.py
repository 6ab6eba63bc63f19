"""What one pair's run produced: the result JSON the market job reads, and the report text.

The report is what ``coinlstm train`` prints: the run's set-up, the model's errors beside the
naive ones, the calibration (the return target's shrinkage, when there is one), the next
close(s) and their prediction bands with the bands' test-slice scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coinlstm.core.columns import (
    BAND_SCORES,
    STORED_LEVELS,
    band_columns,
    band_score_columns,
    level_label,
)
from coinlstm.core.klines import ms_to_utc
from train.dataset import Dataset
from train.forecasters import Forecast
from train.metrics import SliceMetrics
from train.warmstart import FitPlan


@dataclass
class TrainResult:
    """What one pair's run produced; ``to_dict`` is the market job's result JSON."""

    symbol: str
    id_coin: int
    backend: str
    model: str
    target: str
    last_close: float
    predicted_close: float
    change_pct: float
    rmse: float
    naive_rmse: float
    skill: float | None
    mae: float
    naive_mae: float
    direction_accuracy: float
    openTime_last: int  # noqa: N815 - the database's column name
    openTime_next: int  # noqa: N815
    epochs_run: int
    train_seconds: float
    seconds: float
    #: The return target's factor a (0: no edge); None for the level target.
    shrinkage: float | None = None
    #: Whether the forecast carries the model's view: a > 0 (return target), None (level).
    edge: bool | None = None
    #: Warm start (train/warmstart.py): "warm" (the saved model fine-tuned) or "full" (from
    #: scratch), and why; ``fit_note``: the reason is a fault to show (an unreadable saved
    #: model).
    fit: str = "full"
    fit_reason: str = ""
    fit_note: bool = False
    #: The pair's refit was due and runs after the market's forecasts (this run fine-tuned).
    refit_deferred: bool = False
    status: str = "ok"
    exit_code: int = 0
    error: str | None = None
    rows_written: bool = True
    report: str = field(default="", repr=False)
    #: The K closes forecast for each test sample (a list each; the rows flatten K = 1).
    test_predictions: list = field(default_factory=list, repr=False)
    #: The K closes after the newest candle (``predicted_close`` is the first).
    forecasts: list[float] = field(default_factory=list, repr=False)
    #: Per level in percent ("80"): the next close's band and the band's test-slice scores,
    #: {"lower", "upper", "coverage", "width", "winkler"}.
    bands: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        keys = ("symbol", "id_coin", "status", "exit_code", "error", "last_close",
                "predicted_close", "change_pct", "rmse", "naive_rmse", "skill", "mae",
                "naive_mae", "direction_accuracy", "openTime_last", "openTime_next",
                "epochs_run", "train_seconds", "seconds", "backend", "model", "target",
                "shrinkage", "edge", "bands", "fit", "fit_reason", "fit_note", "refit_deferred")
        return {key: getattr(self, key) for key in keys} | _stored_band_keys(self.bands)


def _stored_band_keys(bands: dict[str, dict[str, float]]) -> dict:
    """lower_80, upper_80, coverage_80, ... of the stored levels: the rows' column names."""
    keys: dict = {}
    for level in STORED_LEVELS:
        band = bands.get(level_label(level), {})
        for name, column in zip(("lower", "upper"), band_columns(level), strict=True):
            keys[column] = band.get(name)
        for name, column in zip(BAND_SCORES, band_score_columns(level), strict=True):
            keys[column] = band.get(name)
    return keys


def failure_dict(symbol: str, coin_id: int, exit_code: int, error: str, seconds: float,
                 backend: str | None, model: str | None) -> dict:
    """The result JSON of a run that failed: same keys, figures null."""
    keys = ("last_close", "predicted_close", "change_pct", "rmse", "naive_rmse", "skill",
            "mae", "naive_mae", "direction_accuracy", "openTime_last", "openTime_next",
            "epochs_run", "train_seconds", "target", "shrinkage", "edge", "fit", "fit_reason",
            "fit_note", "refit_deferred")
    return {"symbol": symbol, "id_coin": coin_id, "status": "failed", "exit_code": exit_code,
            "error": error, **dict.fromkeys(keys), "seconds": seconds, "backend": backend,
            "model": model, "bands": {}, **_stored_band_keys({})}


def report_text(symbol: str, coin_id: int, options, backend_name: str, dataset: Dataset,
                forecast: Forecast, metrics: SliceMetrics, plan: FitPlan) -> str:
    """The run's report: set-up and fit (warm or full, and why), errors beside naive,
    calibration, next close(s)."""
    split, outcome = dataset.split, forecast.outcome
    last_close = float(dataset.closes[-1])
    predicted_next = forecast.next_close
    open_time_next = int(dataset.open_times[-1]) + dataset.interval_ms
    inputs = "".join([f", horizon {dataset.horizon}" if dataset.horizon > 1 else "",
                      f", with {', '.join(dataset.with_pairs)}" if dataset.with_pairs else ""])
    summary = (f"{symbol} (id {coin_id}), {options.model} on {backend_name}, target "
               f"{dataset.target}{inputs}: "
               f"{len(split.train)} train / {len(split.val)} validation / "
               f"{_calibration_count(split)}{len(split.test)} test samples, "
               f"{outcome.epochs_run} epochs (best {outcome.best_epoch}), "
               f"{outcome.train_seconds:.1f} s")
    change_pct = change_percent(predicted_next, last_close)
    next_line = (f"next close ({ms_to_utc(open_time_next)} UTC): {predicted_next:.8g} "
                 f"(last close {last_close:.8g}, {change_pct:+.3f} %)")
    if dataset.horizon > 1:
        next_line = (f"next {dataset.horizon} closes (from {ms_to_utc(open_time_next)} UTC): "
                     + ", ".join(f"{v:.8g}" for v in forecast.next_closes)
                     + f" (last close {last_close:.8g}; step 1 {change_pct:+.3f} %)")
    calibration = forecast.calibration.describe()
    return "\n".join([summary, _fit_line(plan, outcome), metrics.table(),
                      *([] if calibration is None else [calibration]), next_line,
                      *band_lines(dataset, forecast, last_close)])


def _fit_line(plan: FitPlan, outcome) -> str:
    """``fit: full (no saved model)``, or a warm run's fine-tune beside the saved weights'
    validation loss (best epoch 0: they were kept)."""
    if outcome is None or outcome.start_val_loss is None:
        return plan.describe()
    best = min([outcome.start_val_loss, *outcome.val_loss])
    kept = ("the saved weights kept" if outcome.best_epoch == 0
            else f"best epoch {outcome.best_epoch}")
    return (f"{plan.describe()}; fine-tuned {outcome.epochs_run} epochs, validation loss "
            f"{outcome.start_val_loss:.4g} -> {best:.4g} ({kept})")


def band_summary(dataset: Dataset, forecast: Forecast) -> dict[str, dict[str, float]]:
    """Per level: the next close's band and the band's scores on the test slice."""
    test = dataset.split.test
    scores = forecast.bands.scores(dataset.actual_closes(test), dataset.last_closes(test))
    return {level_label(band.level): {"lower": float(band.lower[0, 0]),
                                      "upper": float(band.upper[0, 0]),
                                      "coverage": score.coverage, "width": score.width,
                                      "winkler": score.winkler}
            for band, score in zip(forecast.bands.next, scores, strict=True)}


def band_lines(dataset: Dataset, forecast: Forecast, last_close: float) -> list[str]:
    """How the bands were made, then per level the next close's band (as % of the last
    close) beside the band's coverage, width and Winkler score on the test slice."""
    bands = forecast.bands
    if bands.calibration is not None:
        split = dataset.split
        where = ("the calibration slice" if split.separate_calibration
                 else "the validation slice (too short for a calibration slice)")
        how = (f"bands: split conformal on {bands.calibration.samples} forecasts of {where}, "
               "scaled by a volatility forecast")
    else:
        how = f"bands: {bands.method} (naive, from the returns before each hour)"
    lines = [how]
    for label, band in band_summary(dataset, forecast).items():
        lines.append(
            f"  {label.replace('_', '.')} % band of the next close: {band['lower']:.8g} .. "
            f"{band['upper']:.8g} ({change_percent(band['lower'], last_close):+.3f} % .. "
            f"{change_percent(band['upper'], last_close):+.3f} %); test slice: coverage "
            f"{band['coverage']:.3f}, width {band['width']:.3f} %, Winkler "
            f"{band['winkler']:.3f} %")
    return lines


def _calibration_count(split) -> str:
    """"240 calibration / " when calibration has a slice of its own, else nothing."""
    return f"{len(split.calibration)} calibration / " if split.separate_calibration else ""


def change_percent(predicted: float, last_close: float) -> float:
    """The forecast's move from the last close, in percent (0 for a last close of 0)."""
    return (predicted - last_close) / last_close * 100.0 if last_close else 0.0


def train_result(symbol: str, coin_id: int, options, backend_name: str, dataset: Dataset,
                 forecast: Forecast, metrics: SliceMetrics, seconds: float,
                 rows_written: bool, plan: FitPlan) -> TrainResult:
    """The result of a stored run."""
    outcome = forecast.outcome
    last_close = float(dataset.closes[-1])
    open_time_last = int(dataset.open_times[-1])
    return TrainResult(
        symbol=symbol, id_coin=coin_id, backend=backend_name, model=options.model,
        target=dataset.target, shrinkage=forecast.factor, edge=forecast.calibration.edge,
        last_close=last_close, predicted_close=forecast.next_close,
        change_pct=change_percent(forecast.next_close, last_close),
        rmse=metrics.model.rmse, naive_rmse=metrics.naive.rmse, skill=metrics.skill,
        mae=metrics.model.mae, naive_mae=metrics.naive.mae,
        direction_accuracy=metrics.model.direction_accuracy, openTime_last=open_time_last,
        openTime_next=open_time_last + dataset.interval_ms, epochs_run=outcome.epochs_run,
        train_seconds=round(outcome.train_seconds, 3), seconds=round(seconds, 3),
        rows_written=rows_written, fit=plan.fit, fit_reason=plan.reason, fit_note=plan.note,
        refit_deferred=plan.refit_deferred,
        report=report_text(symbol, coin_id, options, backend_name, dataset, forecast, metrics,
                           plan),
        test_predictions=forecast.test_predictions.tolist(),
        forecasts=[float(v) for v in forecast.next_closes],
        bands=band_summary(dataset, forecast))
