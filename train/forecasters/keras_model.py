"""A Keras network of the zoo (train/models.py) fitted on a dataset's formulation.

The single place where a network turns into forecasts: train_one (coinlstm/app/jobs/pair_job.py)
and the walk-forward backtest (coinlstm evaluate) both fit through :meth:`Network.fit`,
so the figures a backtest reports are those of the very code that runs every hour. Keras must
already be loaded on its backend and seeded (train/backend.py; :meth:`Network.prepare_process`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coinlstm.core.errors import CoinlstmError
from train import backend
from train.dataset import Dataset
from train.fit import FitOutcome, fit_model, predict
from train.forecasters.base import Forecaster
from train.forecasters.forecast import Forecast
from train.models import build_model

if TYPE_CHECKING:
    from train.config import TrainConfig


class Network(Forecaster):
    """The network ``config.model`` on the formulation ``config.target``; after :meth:`fit`,
    ``model`` is the fitted network and ``outcome`` how its fit went."""

    needs_keras = True
    seeded = True
    warmable = True

    def __init__(self, config: TrainConfig, name: str) -> None:
        super().__init__(config, name)
        self.model = None
        self.outcome: FitOutcome | None = None

    @classmethod
    def network(cls, config: TrainConfig) -> str:
        return config.model

    @classmethod
    def reported_options(cls, config: TrainConfig) -> dict:
        return config.to_dict()

    @classmethod
    def prepare_process(cls, seed: int, backend_name: str) -> None:
        """clear_session drops Keras' global seed too: seed after it, so a fold's weights start
        the same whatever ran before it in this process."""
        keras = backend.load_keras(backend_name)
        keras.backend.clear_session()
        backend.seed(seed, backend_name)

    def fit(self, dataset: Dataset, start=None) -> Network:
        """Train ``config.model`` on the training slice (early stopping on validation; on
        compiled steps where they apply, train/steps, else Keras' fit). With ``start`` (a
        weights file or a fitted model; train/finetune.py), fine-tune that network on the
        training slice instead."""
        if start is not None:
            return self._fine_tune(dataset, start)
        options, split = self.config, dataset.split
        train_inputs = dataset.inputs(split.train)
        # The compiled steps import h5py: only where a network is fitted.
        from train.steps import compiled

        model = build_model(options.model, tuple(train_inputs.shape[1:]), options)
        fit_data = (train_inputs, dataset.scaled_targets(split.train),
                    dataset.inputs(split.val), dataset.scaled_targets(split.val))
        outcome = compiled.fit(model, *fit_data, options, backend.step_cache_dir())
        if outcome is None:
            outcome = fit_model(model, *fit_data, epochs=options.epochs,
                                batch_size=options.batch_size, patience=options.patience)
        self.model, self.outcome = model, outcome
        return self

    def _fine_tune(self, dataset: Dataset, start) -> Network:
        from train import finetune  # see fit

        input_shape = tuple(dataset.inputs(dataset.split.val[:1]).shape[1:])
        self.model = finetune.start_model(start, input_shape, self.config,
                                          train_rows=len(dataset.split.train))
        self.outcome = finetune.fine_tune(self.model, dataset, self.config)
        return self

    def point_forecast(self, dataset: Dataset) -> Forecast:
        """Forecast validation, test and the next candle with one predict call (one compiled
        shape). The formulation's calibration (the return target's shrinkage) is fitted on
        the calibration slice's outputs only (all K steps of every sample; train/dataset.py,
        "Split") and applied to all of them."""
        if self.model is None:
            raise CoinlstmError(f"the {self.name} network is not fitted")
        return self._forecast_with(self.model, self.outcome, dataset, self.config)

    def save(self, path: Path) -> None:
        """The fitted network's weights (and its optimizer's state) as a Keras weights file:
        written to a temp name in the same folder, then renamed."""
        if self.model is None:
            raise CoinlstmError(f"the {self.name} network is not fitted")
        path = Path(path)
        # Keras insists that a weights file ends in ".weights.h5": so does the temp name.
        temp = path.with_name(f".{path.name.removesuffix('.weights.h5')}.tmp.weights.h5")
        self.model.save_weights(str(temp))
        os.replace(temp, path)

    @classmethod
    def load(cls, config: TrainConfig, name: str, path: Path,
             input_shape: tuple[int, ...]) -> Network:
        """A network of ``config`` for inputs of ``input_shape`` holding the weights
        :meth:`save` wrote (train/finetune.py: WarmStartFailed when they do not load)."""
        from train import finetune  # see fit

        network = cls(config, name)
        network.model = finetune.start_model(Path(path), input_shape, config)
        return network

    @staticmethod
    def _forecast_with(model, outcome: FitOutcome | None, dataset: Dataset,
                       options: TrainConfig) -> Forecast:
        """The fitted ``model``'s forecasts of validation, test and the next candle (one
        predict call), priced with the calibration fitted on the calibration slice."""
        split = dataset.split
        # The newest candle's one-step forecast is the newest test sample's first step when
        # that sample's first target is the newest candle (one step ahead); otherwise its
        # input is one more row of the same predict call.
        covered = int(split.test[-1]) == len(dataset.open_times) - 1
        previous_input = None if covered else dataset.previous_input()
        extra = [] if previous_input is None else [previous_input]
        held_out = [split.calibration] if split.separate_calibration else []
        inputs = np.concatenate([dataset.inputs(split.val), dataset.inputs(split.test),
                                 *(dataset.inputs(rows) for rows in held_out), *extra,
                                 dataset.next_input()])
        outputs = predict(model, inputs, options.batch_size)
        if outcome is not None and outcome.start_val_loss is None:
            # a full fit: the next hours' warm steps, now
            from train.steps import compiled  # see fit

            compiled.prepare(tuple(inputs.shape[1:]), options, backend.step_cache_dir(),
                                   val_rows=len(split.val), predict_rows=len(inputs))
        n_val, n_test = len(split.val), len(split.test)
        val_out, test_out = outputs[:n_val], outputs[n_val:n_val + n_test]
        n_cal = len(split.calibration) if held_out else 0
        cal_out = outputs[n_val + n_test:n_val + n_test + n_cal] if held_out else val_out
        # The shrinkage reads the calibration slice: rows early stopping never watched.
        calibration = dataset.calibrate(split.calibration, cal_out)
        formulation, factor = dataset.formulation, calibration.factor
        test_predictions = formulation.to_price(test_out, dataset.price_bases(split.test),
                                                factor)
        previous = None
        if covered:
            previous = float(test_predictions[-1, 0])
        elif previous_input is not None:
            previous = float(formulation.to_price(outputs[-2:-1], dataset.newest_base(back=1),
                                                  factor)[0, 0])
        return Forecast(
            val_predictions=formulation.to_price(val_out, dataset.price_bases(split.val),
                                                 factor),
            test_predictions=test_predictions,
            next_closes=formulation.to_price(outputs[-1:], dataset.newest_base(), factor)[0],
            previous_close=previous, calibration=calibration, model=model, outcome=outcome,
            calibration_predictions=(formulation.to_price(
                cal_out, dataset.price_bases(split.calibration), factor) if held_out else None))
