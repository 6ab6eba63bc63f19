"""Walk-forward folds (expanding window) over one pair's candles: pure, no I/O.

Why a module of its own: the folds decide what a backtest may see, so they are the one place
where a leak of future candles could hide; they are tested alone (tests/test_backtest.py).

A pair's sample targets are computed once on its whole series (:func:`train.dataset.
sample_targets`, gap-aware, as build_dataset does). Fold k (0 oldest .. F-1 newest) tests the
block of ``fold_size`` samples that ends ``(F-1-k) * fold_size`` samples before the newest.
For that fold the series is cut right after the block's last target candle and handed to
:func:`train.dataset.build_dataset` with ``test_size = fold_size``: the scaler is fitted on
the fold's training rows, early stopping watches the validation slice, the shrinkage and the
prediction bands are calibrated on the calibration slice just before the block, and no candle
after the block is passed in at all, so none can leak into the fold.

With ``horizon`` K > 1 a sample is named by its first target row and its K targets follow
it: the samples are those whose window and K targets span no gap, and a fold's series ends
at its block's last sample's last target (the block's forecasts are scored against those
closes); the dataset purges the K - 1 samples before each slice (train/dataset.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coinlstm.core.errors import BadInput, CoinlstmError
from coinlstm.core.klines import DEFAULT_INTERVAL, INTERVAL_MS
from train.dataset import (
    MIN_TRAIN_SAMPLES,
    MIN_VAL_SAMPLES,
    Dataset,
    build_dataset,
    lead,
    sample_targets,
)

if TYPE_CHECKING:
    from train.config import TrainConfig


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: the test block's target rows (indices into the whole series)."""

    index: int
    test_targets: np.ndarray
    #: Forecast steps per sample: the block's last sample reads this many target rows.
    horizon: int = 1

    @property
    def end_row(self) -> int:
        """The block's last target row (its last sample's last step): the fold sees candles
        ``[0, end_row]`` and no more."""
        return int(self.test_targets[-1]) + self.horizon - 1


def needed_samples(folds: int, fold_size: int) -> int:
    """Samples a series needs for ``folds`` blocks of ``fold_size`` with the smallest
    training and validation slices build_dataset accepts before the oldest block."""
    return folds * fold_size + MIN_TRAIN_SAMPLES + MIN_VAL_SAMPLES


def required_candles(folds: int, fold_size: int, window: int, target: str,
                     horizon: int = 1) -> int:
    """Fewest candles a gap-free series needs for the folds (a driver's check before it
    starts any task: fewer can never be evaluated); a K-step sample needs K - 1 more."""
    return window + lead(target) + needed_samples(folds, fold_size) + horizon - 1


def plan_folds(open_times: Sequence[int] | np.ndarray, folds: int, fold_size: int,
               window: int, target: str,
               interval_ms: int = INTERVAL_MS[DEFAULT_INTERVAL], horizon: int = 1
               ) -> list[Fold]:
    """The F consecutive test blocks of ``fold_size`` samples ending at the newest sample.

    BadInput when the series has too few samples for the oldest fold to keep the smallest
    training and validation slices build_dataset accepts.
    """
    times = np.asarray(open_times, dtype=np.int64)
    targets = sample_targets(times, window + lead(target), interval_ms, horizon)
    needed = needed_samples(folds, fold_size)
    if len(targets) < needed:
        raise BadInput(f"{len(targets)} usable samples, {folds} folds of {fold_size} need at "
                       f"least {needed} (training {MIN_TRAIN_SAMPLES} + validation "
                       f"{MIN_VAL_SAMPLES} before the oldest block)")
    n = len(targets)
    return [Fold(k, targets[n - (folds - k) * fold_size:n - (folds - 1 - k) * fold_size],
                 horizon) for k in range(folds)]


def fold_dataset(open_times: Sequence[int], values: Sequence[Sequence[float | None]],
                 fold: Fold, options: TrainConfig) -> Dataset:
    """build_dataset on the candles up to the block's last target row, and nothing later."""
    end = fold.end_row + 1
    dataset = build_dataset(open_times[:end], values[:end], options.window,
                            len(fold.test_targets), options.val_size, options.interval_ms,
                            options.target, horizon=fold.horizon,
                            calibration_size=options.calibration_size)
    if not np.array_equal(dataset.split.test, fold.test_targets):  # pragma: no cover
        raise CoinlstmError(f"fold {fold.index}: build_dataset's test slice is not the "
                            "planned block (a bug: sample_targets of a prefix changed)")
    return dataset


def fold_datasets(open_times: Sequence[int], values: Sequence[Sequence[float | None]],
                  options: TrainConfig, folds: int, fold_size: int
                  ) -> list[tuple[Fold, Dataset]]:
    """Every fold's dataset, all built before any training: bad data fails a task at once."""
    plan = plan_folds(open_times, folds, fold_size, options.window, options.target,
                      options.interval_ms, options.horizon)
    return [(fold, fold_dataset(open_times, values, fold, options)) for fold in plan]


def step_dataset(open_times: Sequence[int], values: Sequence[Sequence[float | None]],
                 fold: Fold, start: int, stop: int, options: TrainConfig, history: int,
                 **arguments) -> Dataset:
    """One step of a fold's simulated hourly schedule (train/schedule.py): the newest
    ``history`` candles up to the block's sample ``stop - 1``, whose test slice is the
    block's samples ``start .. stop - 1``; ``arguments`` are build_dataset's (a warm run's
    saved formulation and split rule). No candle after the step's last target is passed in.
    """
    end = int(fold.test_targets[stop - 1]) + 1
    first = max(0, end - history)
    dataset = build_dataset(open_times[first:end], values[first:end], options.window,
                            stop - start, options.val_size, options.interval_ms,
                            options.target, calibration_size=options.calibration_size,
                            **arguments)
    if not np.array_equal(dataset.split.test + first, fold.test_targets[start:stop]):
        raise CoinlstmError(f"fold {fold.index}, samples {start}..{stop - 1}: the step's "
                            "test slice is not the planned block's (a bug)")
    return dataset
