"""The hourly schedule inside a walk-forward fold: ``coinlstm evaluate --schedule``.

Why: the hourly job fine-tunes a pair's saved model between full refits (train/warmstart.py).
Whether those warm-start forecasts are as good as forecasts of models fitted from scratch is
a question for the backtest, on the same folds:

- ``full`` (the default, what evaluate always did): one fit from scratch at the fold's start,
  on the candles before its test block; that model forecasts every sample of the block.
- ``warm`` (``warm:N``): the same full fit at the fold's start forecasts the block's first N
  samples; then every N samples a warm run, as the hourly job's, continues the model of the
  step before (train/finetune.py: at most ``--warm-epochs`` epochs on the newest
  ``--warm-samples`` training samples, early stopping on the validation slice of the fold's
  full fit, whose scaler it keeps) on the candles up to the step and recalibrates the
  shrinkage and the bands on the calibration slice before it; that model forecasts the step's
  N samples. N = 1 is the hourly job's schedule: every forecast comes from the model of its
  hour. ``--refit-every`` plays no part: a fold's warm chain runs the whole block without a
  full refit, a harder test than the hourly job's (a full refit every 24 hours by default).

Each step's dataset is the candles up to its last target and nothing later
(:func:`train.walkforward.step_dataset`), so no step sees the future either. A forecaster
that keeps no state (naive, static, ewma) has nothing to warm: it runs only on ``full``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coinlstm.core.errors import BadInput
from train.dataset import Dataset
from train.forecasters.forecast import Forecast
from train.forecasters.registry import Preset
from train.prediction_bands import Band, ForecastBands
from train.walkforward import Fold, step_dataset
from train.warmstart import FULL, WARM, warm_history, warm_splitter

if TYPE_CHECKING:
    from train.config import TrainConfig

#: The schedules' names are the fits': full, warm.
DEFAULT_SCHEDULE = FULL
#: Between a model's name and its schedule in a case's label: ``default@warm``.
LABEL_MARK = "@"


def base_model(label: str) -> str:
    """The model a case label names: ``default`` for ``default@warm:4`` and ``default``."""
    return label.split(LABEL_MARK, 1)[0]


@dataclass(frozen=True)
class Schedule:
    """``every`` None: full; N: a warm run every N samples of the block."""

    every: int | None = None

    @property
    def name(self) -> str:
        if self.every is None:
            return FULL
        return WARM if self.every == 1 else f"{WARM}:{self.every}"

    @property
    def warm(self) -> bool:
        return self.every is not None

    def label(self, model: str) -> str:
        """The cases' "model": ``default`` on full, ``default@warm`` (``@warm:4``) warm."""
        return model if not self.warm else f"{model}{LABEL_MARK}{self.name}"


def parse_schedule(text: str) -> Schedule:
    """``full``, ``warm`` or ``warm:N`` (N >= 1); BadInput otherwise."""
    name, _, every = text.strip().partition(":")
    if name == FULL and not every:
        return Schedule()
    if name == WARM:
        if not every:
            return Schedule(1)
        if every.isdigit() and int(every) >= 1:
            return Schedule(int(every))
    raise BadInput(f"--schedule: {text.strip()!r} is not full, warm or warm:N (N >= 1 hours "
                   "between warm runs)")


def parse_schedules(text: str) -> list[Schedule]:
    """The --schedule list (``full,warm:4``), in order, without repeats."""
    schedules = list(dict.fromkeys(parse_schedule(part) for part in text.split(",")
                                   if part.strip()))
    if not schedules:
        raise BadInput("--schedule is empty; give full, warm or warm:N")
    return schedules


def steps(samples: int, every: int) -> list[tuple[int, int]]:
    """The [start, stop) sample ranges of a block's warm runs: every ``every`` samples."""
    return [(start, min(start + every, samples)) for start in range(0, samples, every)]


@dataclass
class FoldForecast:
    """A fold's forecasts under a schedule: the block's predictions and bands, and what the
    fits cost (``epochs_run``, ``train_seconds``: summed over the fold's fits)."""

    predictions: np.ndarray
    bands: ForecastBands | None
    epochs_run: int | None
    train_seconds: float | None
    #: The calibration factor (the median over the warm runs); None without one.
    factor: float | None


def fold_forecast(forecaster: Preset, schedule: Schedule, fold: Fold, dataset: Dataset,
                  open_times: Sequence[int], values: Sequence[Sequence[float | None]],
                  options: TrainConfig) -> FoldForecast:
    """The fold's forecasts under ``schedule`` (module doc); ``dataset`` is the fold's own
    (train/walkforward.py: its test slice is the whole block), the full fit's data."""
    first = forecaster.forecast(dataset, options)
    if not schedule.warm:
        return _summed(first.test_predictions, first.bands, [first])
    samples = len(fold.test_targets)
    split = dataset.split
    val, calibration = len(split.val), len(split.calibration) if split.separate_calibration \
        else 0
    ranges = steps(samples, schedule.every)
    forecasts = [first]
    parts = [(first.test_predictions[:ranges[0][1]], _cut(first.bands, 0, ranges[0][1]))]
    model = first.model
    for start, stop in ranges[1:]:
        step = step_dataset(open_times, values, fold, start, stop, options,
                            warm_history(options, val, calibration, stop - start),
                            fitted=dataset.formulation,
                            splitter=warm_splitter(options, val, calibration, stop - start))
        forecast = forecaster.forecast(step, options, start=model)
        model = forecast.model
        forecasts.append(forecast)
        parts.append((forecast.test_predictions, forecast.bands))
    predictions = np.concatenate([p for p, _ in parts])
    return _summed(predictions, _joined([b for _, b in parts]), forecasts)


def _cut(bands: ForecastBands | None, start: int, stop: int) -> ForecastBands | None:
    """The bands of the test samples ``start .. stop - 1``."""
    if bands is None:
        return None
    return ForecastBands(bands.method, tuple(Band(b.level, b.lower[start:stop],
                                                  b.upper[start:stop]) for b in bands.test),
                         bands.next, bands.calibration)


def _joined(parts: list[ForecastBands | None]) -> ForecastBands | None:
    """The steps' test bands end to end (one calibration each: none is kept)."""
    if any(part is None for part in parts):
        return None
    levels = parts[0].test
    test = tuple(Band(level.level,
                      np.concatenate([part.test[index].lower for part in parts]),
                      np.concatenate([part.test[index].upper for part in parts]))
                 for index, level in enumerate(levels))
    return ForecastBands(parts[0].method, test, parts[-1].next)


def _summed(predictions: np.ndarray, bands: ForecastBands | None,
            forecasts: list[Forecast]) -> FoldForecast:
    outcomes = [f.outcome for f in forecasts if f.outcome is not None]
    factors = [f.factor for f in forecasts if f.factor is not None]
    return FoldForecast(
        predictions=predictions, bands=bands,
        epochs_run=sum(o.epochs_run for o in outcomes) if outcomes else None,
        train_seconds=sum(o.train_seconds for o in outcomes) if outcomes else None,
        factor=float(np.median(factors)) if factors else None)
