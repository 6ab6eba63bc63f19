"""Fit one model on a dataset and forecast its validation, test and next candles, in prices.

The single place where a model turns into forecasts: train_one (train/pipeline.py) and the
walk-forward backtest (train/backtest.py) both call :func:`fit_and_forecast`, so the figures a
backtest reports are those of the very code that runs every hour. Keras must already be
loaded on its backend and seeded (train/backend.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from train.dataset import Dataset
from train.fit import FitOutcome, fit_model, predict
from train.models import build_model
from train.shrinkage import Shrinkage, fit_shrinkage


@dataclass
class Forecast:
    """A fitted model and what it says, in price units."""

    model: object
    outcome: FitOutcome
    val_predictions: np.ndarray
    test_predictions: np.ndarray
    next_close: float
    #: The return target's anchor on the last close; None for the level target (reference).
    shrinkage: Shrinkage | None

    @property
    def factor(self) -> float | None:
        return None if self.shrinkage is None else self.shrinkage.factor


def fit_and_forecast(dataset: Dataset, options) -> Forecast:
    """Train ``options.model`` on the training slice (early stopping on validation), then
    forecast validation, test and the next candle with one predict call (one compiled shape).

    For the return target the shrinkage factor is fitted on the validation forecasts only and
    applied to the test and next forecasts.
    """
    split = dataset.split
    train_inputs = dataset.inputs(split.train)
    model = build_model(options.model, tuple(train_inputs.shape[1:]), options)
    outcome = fit_model(model, train_inputs, dataset.scaled_targets(split.train),
                        dataset.inputs(split.val), dataset.scaled_targets(split.val),
                        epochs=options.epochs, batch_size=options.batch_size,
                        patience=options.patience)
    inputs = np.concatenate([dataset.inputs(split.val), dataset.inputs(split.test),
                             dataset.next_input()])
    outputs = predict(model, inputs, options.batch_size)
    n_val, n_test = len(split.val), len(split.test)
    val_out, test_out, next_out = outputs[:n_val], outputs[n_val:n_val + n_test], outputs[-1:]
    shrinkage = None
    factor = 1.0
    if dataset.target == "return":
        shrinkage = fit_shrinkage(dataset.actual_returns(split.val),
                                  dataset.scaler.to_returns(val_out))
        factor = shrinkage.factor
    to_price = dataset.scaler.to_price
    return Forecast(
        model=model, outcome=outcome,
        val_predictions=to_price(val_out, dataset.last_closes(split.val), factor),
        test_predictions=to_price(test_out, dataset.last_closes(split.test), factor),
        next_close=float(to_price(next_out, dataset.closes[-1:], factor)[0]),
        shrinkage=shrinkage)
