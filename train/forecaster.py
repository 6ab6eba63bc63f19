"""Fit one model on a dataset and forecast its validation, test and next candles, in prices.

With ``--horizon K`` every forecast is K closes: validation and test predictions are
(samples, K) arrays, the next forecast is the K closes after the newest candle.

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
    #: The K closes after the newest candle (one at K = 1).
    next_closes: np.ndarray
    #: The return target's anchor on the last close; None for the level target (reference).
    shrinkage: Shrinkage | None
    #: The one-step forecast of the newest candle, from the candles before it (None when
    #: those span a gap).
    previous_close: float | None = None

    @property
    def factor(self) -> float | None:
        return None if self.shrinkage is None else self.shrinkage.factor

    @property
    def next_close(self) -> float:
        """The first step: the forecast of the next candle."""
        return float(self.next_closes[0])


def fit_and_forecast(dataset: Dataset, options) -> Forecast:
    """Train ``options.model`` on the training slice (early stopping on validation), then
    forecast validation, test and the next candle with one predict call (one compiled shape).

    For the return target the shrinkage factor is fitted on the validation forecasts only (all
    K steps of every sample) and applied to the test and next forecasts.
    """
    split = dataset.split
    train_inputs = dataset.inputs(split.train)
    model = build_model(options.model, tuple(train_inputs.shape[1:]), options)
    outcome = fit_model(model, train_inputs, dataset.scaled_targets(split.train),
                        dataset.inputs(split.val), dataset.scaled_targets(split.val),
                        epochs=options.epochs, batch_size=options.batch_size,
                        patience=options.patience)
    # At K = 1 the newest test sample is the newest candle's one-step forecast already; at
    # K > 1 its input is one more row of the same predict call.
    previous_input = dataset.previous_input() if dataset.horizon > 1 else None
    extra = [] if previous_input is None else [previous_input]
    inputs = np.concatenate([dataset.inputs(split.val), dataset.inputs(split.test), *extra,
                             dataset.next_input()])
    outputs = predict(model, inputs, options.batch_size)
    n_val, n_test = len(split.val), len(split.test)
    val_out, test_out, next_out = outputs[:n_val], outputs[n_val:n_val + n_test], outputs[-1:]
    shrinkage = None
    factor = 1.0
    if dataset.target == "return":
        shrinkage = fit_shrinkage(dataset.actual_returns(split.val).reshape(-1),
                                  dataset.scaler.to_returns(val_out).reshape(-1))
        factor = shrinkage.factor
    to_price = dataset.scaler.to_price
    test_predictions = to_price(test_out, dataset.price_bases(split.test), factor)
    if dataset.horizon == 1:
        newest_is_test_target = int(split.test[-1]) == len(dataset.open_times) - 1
        previous = float(test_predictions[-1]) if newest_is_test_target else None
    elif previous_input is not None:
        previous = float(to_price(outputs[-2:-1], dataset.newest_base(back=1), factor)[0, 0])
    else:
        previous = None
    return Forecast(
        model=model, outcome=outcome,
        val_predictions=to_price(val_out, dataset.price_bases(split.val), factor),
        test_predictions=test_predictions,
        next_closes=np.atleast_1d(to_price(next_out, dataset.newest_base(), factor)[0]),
        shrinkage=shrinkage, previous_close=previous)
