"""A warm start's fine-tune: the saved (or the previous hour's) weights, a few more epochs.

The decision whether a run is warm is train/warmstart.py's; this module is what a warm run
does with a Keras network (train/forecasters/keras_model.py calls it):

- :func:`start_model`: the network of the run's settings, compiled as a full fit compiles it
  (train/models.py), holding the weights it continues from: a saved ``.weights.h5`` (the
  hourly run) or a model still in memory (evaluate's simulated schedule, which keeps the
  model object, so its compiled functions are reused). Either way the optimizer goes on
  from its state (Adam's step count and moments): Keras saves it with the weights.
- :func:`fine_tune`: at most ``options.fine_tune_epochs`` epochs (--warm-epochs, capped by
  --epochs) on the dataset's training slice
  (a warm dataset holds only the newest samples), early stopping on its validation slice.
  The starting weights count as epoch 0: their validation loss is measured first, and when
  the epoch early stopping kept does not beat it they are put back (train/stopping.py's
  ``beats_start``, on both paths). So a fine-tune can only keep or improve the validation
  loss, never trade a good model for a worse one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from coinlstm.core.errors import CoinlstmError, one_line
from train import backend
from train.dataset import Dataset
from train.fit import FitOutcome, batch_per_call, fit_model, whole_batches
from train.models import build_model
from train.steps import compiled
from train.steps.network import CompiledNetwork
from train.stopping import beats_start

if TYPE_CHECKING:
    from train.config import TrainConfig


class WarmStartFailed(CoinlstmError):
    """The weights to continue from could not be loaded: the caller fits from scratch."""


def start_model(start, input_shape: tuple[int, ...], options: TrainConfig,
                train_rows: int = 0):
    """A compiled network of ``options`` holding the weights of ``start`` (a weights file
    path, or a fitted model of the same network) and its optimizer's state; WarmStartFailed
    if they do not load. From a weights file, on JAX, that is the saved state on compiled
    steps (train/steps) where they apply to the fine-tune of ``train_rows`` samples (none
    given: a Keras model, which predicts as Keras does), else a Keras model."""
    if isinstance(start, str | Path):
        try:
            network = compiled.load(start, input_shape, options, backend.step_cache_dir(),
                                    train_rows)
        except (OSError, ValueError, KeyError) as exc:
            raise WarmStartFailed(f"weights of {Path(start).name} do not load: "
                                  f"{one_line(exc)}") from None
        if network is not None:
            return network
        model = build_model(options.model, input_shape, options, blank=True)
        # Keras saves the optimizer's variables with the weights, and loads them only into
        # an optimizer that is built: Adam's moments go on where the last fit left them.
        model.optimizer.build(model.trainable_variables)
        try:
            model.load_weights(str(start))
        except Exception as exc:  # any unreadable or mismatched file: a full fit instead
            raise WarmStartFailed(f"weights of {Path(start).name} do not load: "
                                  f"{one_line(exc)}") from None
        return model
    if tuple(start.input_shape[1:]) != tuple(input_shape):
        raise WarmStartFailed(f"the model reads {start.input_shape[1:]}, the data "
                              f"{tuple(input_shape)}")
    return start


def fine_tune(model, dataset: Dataset, options: TrainConfig) -> FitOutcome:
    """Fine-tune ``model`` on the dataset's training slice (module doc); its outcome's
    ``best_epoch`` is 0 when the starting weights were kept, its seconds include measuring
    them."""
    if isinstance(model, CompiledNetwork):
        return compiled.fine_tune(model, dataset, options)
    split = dataset.split
    val_inputs, val_targets = dataset.inputs(split.val), dataset.scaled_targets(split.val)
    started = time.perf_counter()
    batch_per_call(model)
    start_weights = model.get_weights()
    # Padded as the fit pads its validation slice: the same compiled evaluate step, and
    # the same (unpadded) loss.
    validation = whole_batches(val_inputs, val_targets, options.batch_size)
    start_loss = validation.loss(_loss(model.evaluate(
        validation.inputs, validation.targets, sample_weight=validation.weights,
        batch_size=options.batch_size, verbose=0)))
    outcome = fit_model(model, dataset.inputs(split.train), dataset.scaled_targets(split.train),
                        val_inputs, val_targets, epochs=options.fine_tune_epochs,
                        batch_size=options.batch_size, patience=options.patience)
    outcome.start_val_loss = start_loss
    outcome.train_seconds = time.perf_counter() - started
    if not beats_start(start_loss, outcome.val_loss, outcome.best_epoch):
        model.set_weights(start_weights)
        outcome.best_epoch = 0
    return outcome


def _loss(value) -> float:
    """Keras' evaluate gives a float, or a list whose first item is the loss."""
    return float(value[0] if isinstance(value, list | tuple) else value)
