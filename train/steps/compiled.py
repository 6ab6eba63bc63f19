"""Fits and fine-tunes on compiled steps: where they apply, and the epoch loop around them.

The loop is ``fit``'s: at most ``epochs`` epochs in order (shuffle off), the validation
slice's loss after each, stopped and the best epoch's weights restored by train/stopping.py's
rule (the same object Keras' ``fit`` runs as a callback on the other path), and, for a
fine-tune, the starting weights as epoch 0. Keras builds the optimizer before its first step:
so does :func:`fit`.

Where the steps apply (:func:`applies`; elsewhere the callers take the Keras path): the JAX
backend, no dropout (the seed generators' state is not in the ``.weights.h5``: with dropout a
fresh process would draw other masks), and a JAX with
``jax.experimental.serialize_executable``.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coinlstm.core.errors import one_line
from train.fit import FitOutcome, Validation, batch_per_call, whole_batches
from train.steps.cache import network_key
from train.steps.executables import StepCache, StepSignature
from train.steps.layout import NotCompilable, state_variables
from train.steps.network import CompiledNetwork, epoch_calls
from train.stopping import EarlyStopping, beats_start

if TYPE_CHECKING:
    from train.config import TrainConfig


def applies(options: TrainConfig, cache_root: Path | None) -> bool:
    """Whether this network trains on compiled steps (module doc)."""
    if cache_root is None or options.dropout:
        return False
    import keras  # seconds to import: asked only once a fit is coming

    return (keras.backend.backend() == "jax"
            and importlib.util.find_spec("jax.experimental.serialize_executable") is not None)


def prepare(input_shape: tuple[int, ...], options: TrainConfig, cache_root: Path | None,
            val_rows: int, predict_rows: int) -> list[str]:
    """Compile now, where missing, the steps the next warm runs of this network will load:
    a fine-tune of ``options.warm_samples``, a validation slice of ``val_rows`` and a predict
    call of ``predict_rows`` (both padded to whole batches, as train/fit.py pads them). A full
    fit calls it, so that the first warm hour of a market loads its steps instead of
    compiling them in every worker. The names of the files compiled; a failure costs only
    the saving (reported in one line on stderr)."""
    if not applies(options, cache_root):
        return []
    try:
        return _prepare(input_shape, options, cache_root, val_rows, predict_rows)
    except Exception as exc:  # noqa: BLE001 - a saving only: the warm run compiles instead
        print(f"warm steps not compiled ahead: {one_line(exc)}", file=sys.stderr)
        return []


def _prepare(input_shape: tuple[int, ...], options: TrainConfig, cache_root: Path,
             val_rows: int, predict_rows: int) -> list[str]:
    batch = options.batch_size
    cache = StepCache(cache_root / network_key(options, input_shape), options, input_shape)

    def batched(rows: int, *shape: int, size: int = batch) -> tuple[int, ...]:
        return (-(-rows // size), size, *shape)

    n_state = sum(cache.layout().counts) + len(cache.layout().metrics)
    train_calls = {(stop - start, min(batch, stop - start))
                   for start, stop in epoch_calls(options.warm_samples, batch)}
    signatures = [
        *(StepSignature.train(batched(rows, *input_shape, size=size),
                              batched(rows, options.horizon, size=size), n_state)
          for rows, size in sorted(train_calls)),
        StepSignature.test(batched(val_rows, *input_shape), batched(val_rows, options.horizon)),
        StepSignature.predict(batched(predict_rows, *input_shape))]
    missing = [s for s in signatures if not cache.has(s)]
    for signature in missing:
        cache.executable(signature)
    return [signature.file_name() for signature in missing]


def load(start, input_shape: tuple[int, ...], options: TrainConfig, cache_root: Path | None,
         train_rows: int) -> CompiledNetwork | None:
    """The saved network ``start`` on compiled steps, or None where they do not apply (module
    doc). ValueError, KeyError or OSError if the weights file does not hold this network."""
    if not isinstance(start, str | Path) or not applies(options, cache_root) or not train_rows:
        return None
    cache = StepCache(cache_root / network_key(options, input_shape), options, input_shape)
    try:
        layout = cache.layout()
    except NotCompilable:
        return None
    state, image = layout.read(start)
    return CompiledNetwork(cache, state, Path(start), layout.architecture, image)


def fit_epochs(network: CompiledNetwork, train_inputs: np.ndarray, train_targets: np.ndarray,
               validation: Validation, epochs: int, batch_size: int,
               rule: EarlyStopping) -> tuple[list[float], list[float], int]:
    """``fit_model``'s loop (train/fit.py) on ``network``: at most ``epochs`` epochs, the
    padded validation slice's loss after each, watched by ``rule`` (on Keras' figure of the
    padded slice, as the callback watches it). The epochs' losses, (unpadded) validation
    losses, and the 1-based epoch whose weights the network ends with."""
    loss, val_loss = [], []
    watch, best_weights = rule.watch(), None
    for _ in range(epochs):
        loss.append(network.train_epoch(train_inputs, train_targets, batch_size))
        current = network.evaluate(validation.inputs, validation.targets, validation.weights,
                                   batch_size)
        val_loss.append(validation.loss(current))
        verdict = watch.after_epoch(current)
        if verdict.improved and rule.restore_best:
            best_weights = network.weights()
        if verdict.stop:
            break
    if best_weights is not None:
        network.set_weights(best_weights)
    return loss, val_loss, watch.kept_epoch(len(loss))


def fit(model, train_inputs: np.ndarray, train_targets: np.ndarray, val_inputs: np.ndarray,
        val_targets: np.ndarray, options: TrainConfig, cache_root: Path | None
        ) -> FitOutcome | None:
    """``fit_model`` (train/fit.py) of a built Keras ``model`` on compiled steps, its state
    written back into the model; None where the steps do not apply (the caller fits with
    Keras)."""
    if not applies(options, cache_root) or not len(train_inputs):
        return None
    input_shape = tuple(train_inputs.shape[1:])
    cache = StepCache(cache_root / network_key(options, input_shape), options, input_shape)
    try:
        layout = cache.layout()
    except NotCompilable:
        return None
    model.optimizer.build(model.trainable_variables)
    variables = state_variables(model)
    if [list(v.shape) for v in variables] != layout.shapes:
        return None
    # As fit_model sets it: Keras makes its predict and train functions for the model's
    # steps_per_execution of that moment, and a fine-tune of this model in memory (evaluate's
    # warm schedule) goes on with fit_model's.
    batch_per_call(model)
    started = time.perf_counter()
    network = CompiledNetwork(cache, [np.asarray(v.value) for v in variables], Path(),
                              layout.architecture)
    validation = whole_batches(val_inputs, val_targets, options.batch_size)
    loss, val_loss, kept = fit_epochs(network, train_inputs, train_targets, validation,
                                      options.epochs, options.batch_size,
                                      EarlyStopping(patience=options.patience))
    for variable, value in zip(variables, network.state, strict=True):
        variable.assign(value)
    return FitOutcome(epochs_run=len(loss), best_epoch=kept,
                      train_seconds=time.perf_counter() - started, loss=loss,
                      val_loss=val_loss)


def fine_tune(network: CompiledNetwork, dataset, options: TrainConfig) -> FitOutcome:
    """train/finetune.py's fine-tune on compiled steps: the starting weights' validation loss
    (epoch 0), then at most ``options.fine_tune_epochs`` epochs of :func:`fit_epochs`, and the
    starting weights put back when no epoch beats them (best epoch 0)."""
    split, batch = dataset.split, options.batch_size
    started = time.perf_counter()
    validation = whole_batches(dataset.inputs(split.val), dataset.scaled_targets(split.val),
                               batch)
    start_weights = network.weights()
    start_loss = validation.loss(network.evaluate(validation.inputs, validation.targets,
                                                  validation.weights, batch))
    loss, val_loss, kept = fit_epochs(network, dataset.inputs(split.train),
                                      dataset.scaled_targets(split.train), validation,
                                      options.fine_tune_epochs, batch,
                                      EarlyStopping(patience=options.patience))
    if not beats_start(start_loss, val_loss, kept):
        network.set_weights(start_weights)
        kept = 0
    return FitOutcome(epochs_run=len(loss), best_epoch=kept,
                      train_seconds=time.perf_counter() - started, loss=loss,
                      val_loss=val_loss, start_val_loss=start_loss)
