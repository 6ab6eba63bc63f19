"""Training one model: early stopping on the validation slice, best weights kept, timed.

The test slice never reaches this module: early stopping watches the validation slice only,
so the test figures are figures on data the fit never saw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

#: EarlyStopping of the reference model (SPEC.md): any improvement counts.
MIN_DELTA = 1e-15
#: Training steps per compiled call on JAX and TensorFlow. At the reference model's size a
#: step is about a millisecond of arithmetic, so Keras' per-step Python dispatch is a large
#: share of the fit; 16 steps per call cut the fit of a full pair from 7.5 s to about 5 s on
#: JAX (bench/train_one.py) with the same weights. PyTorch's trainer only accepts 1.
STEPS_PER_EXECUTION = 16


@dataclass
class FitOutcome:
    """What the fit did: epochs actually run, the best epoch, losses, seconds."""

    epochs_run: int
    best_epoch: int
    train_seconds: float
    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    #: A warm start's (train/finetune.py): the validation loss of the weights it started
    #: from; None for a fit from scratch.
    start_val_loss: float | None = None


def fit_model(model, train_inputs: np.ndarray, train_targets: np.ndarray,
              val_inputs: np.ndarray, val_targets: np.ndarray, *, epochs: int,
              batch_size: int, patience: int) -> FitOutcome:
    """Fit in time order (shuffle off), stop when val_loss stalls, restore the best weights."""
    import keras

    batch_per_call(model)
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=MIN_DELTA,
                                            patience=patience, restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(train_inputs, train_targets, epochs=epochs, batch_size=batch_size,
                        validation_data=(val_inputs, val_targets), shuffle=False,
                        callbacks=[stopper], verbose=0)
    seconds = time.perf_counter() - started
    loss = [float(v) for v in history.history.get("loss", [])]
    val_loss = [float(v) for v in history.history.get("val_loss", [])]
    best_epoch = int(np.argmin(val_loss)) + 1 if val_loss else len(loss)
    return FitOutcome(epochs_run=len(loss), best_epoch=best_epoch, train_seconds=seconds,
                      loss=loss, val_loss=val_loss)


def batch_per_call(model) -> None:
    """Run :data:`STEPS_PER_EXECUTION` steps per compiled call where the backend allows."""
    import keras

    if keras.backend.backend() != "torch":
        model.steps_per_execution = STEPS_PER_EXECUTION


def predict(model, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's outputs as float64 (samples, K), K = 1 included."""
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0),
                      dtype=np.float64).reshape(len(inputs), -1)
