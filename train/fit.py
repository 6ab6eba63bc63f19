"""Training one model: early stopping on the validation slice, best weights kept, timed.

The test slice never reaches this module: early stopping watches the validation slice only,
so the test figures are figures on data the fit never saw. The stopping rule is
train/stopping.py's, the same on Keras' ``fit`` (here) and on the compiled steps
(train/steps/compiled.py).

Keras compiles its train, evaluate and predict steps once per batch shape, and a slice whose
size is not a multiple of the batch size ends in a partial batch: a second compile of the
same step (on JAX a trace and a lowering even when the executable is in the persistent
cache). So the validation slice and every predict call are padded here to whole batches
(:func:`whole_batches`, :func:`predict`), and each evaluate and predict step has one shape.
Training batches are not padded: a padded row in a training batch would change the
gradient's scale (Keras divides the loss by the batch size), so the warm fine-tune's default
sample count is a multiple of the batch size instead (train/warmstart.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from train.stopping import EarlyStopping

#: Keras' ``steps_per_execution`` on JAX and TensorFlow: at the reference model's size a step
#: is little arithmetic, so Keras' per-step Python work is a large share of the fit
#: (docs/benchmarks.md). Keras 3's JAX trainer still calls its jitted step once per batch,
#: from a Python loop: JAX fits without dropout run on train/steps instead, which scans the
#: batches inside one call. PyTorch's trainer only accepts 1.
STEPS_PER_EXECUTION = 16


@dataclass(frozen=True)
class Validation:
    """A validation slice padded to whole batches: the padded rows weigh 0.

    Keras' loss of a batch is the weighted sum over the batch's rows divided by the batch's
    size, and its epoch figure the mean of the batches' losses weighted by their sizes: the
    padded slice's loss is the real rows' summed loss over ``len(inputs)`` rows instead of
    ``rows``. :meth:`loss` scales it back, so the figures are the unpadded loss's (up to
    float32 round-off in the summation order).
    """

    inputs: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    rows: int

    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What Keras' ``validation_data`` takes."""
        return self.inputs, self.targets, self.weights

    def loss(self, keras_loss: float) -> float:
        """The unpadded slice's loss from Keras' loss of the padded slice."""
        return float(keras_loss) * len(self.inputs) / self.rows


def whole_batches(inputs: np.ndarray, targets: np.ndarray, batch_size: int) -> Validation:
    """``inputs`` and ``targets`` padded to a multiple of ``batch_size`` rows by repeating the
    last row, with sample weights 1 for the real rows and 0 for the padding."""
    rows = len(inputs)
    pad = _padding(rows, batch_size)
    weights = np.ones(rows + pad, dtype=np.float32)
    weights[rows:] = 0.0
    return Validation(_repeat_last(inputs, pad), _repeat_last(targets, pad), weights, rows)


def _padding(rows: int, batch_size: int) -> int:
    """Rows to add so that ``rows`` fills whole batches (0 for an empty slice)."""
    return -rows % batch_size if rows else 0


def _repeat_last(array: np.ndarray, pad: int) -> np.ndarray:
    """``array`` with its last row repeated ``pad`` more times."""
    if not pad:
        return array
    return np.concatenate([array, np.repeat(array[-1:], pad, axis=0)])


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
    """Fit in time order (shuffle off), stopped early and the best weights restored by
    :class:`~train.stopping.EarlyStopping` of ``patience``. The validation slice is padded
    to whole batches (:func:`whole_batches`); the losses reported are the unpadded slice's,
    the best epoch the rule's (1-based)."""
    # Keras costs seconds to import: only a fit on Keras' path pays for it here.
    from train.keras_stopping import StopEarly

    batch_per_call(model)
    validation = whole_batches(val_inputs, val_targets, batch_size)
    stopper = StopEarly(EarlyStopping(patience=patience))
    started = time.perf_counter()
    history = model.fit(train_inputs, train_targets, epochs=epochs, batch_size=batch_size,
                        validation_data=validation.data(), shuffle=False,
                        callbacks=[stopper], verbose=0)
    seconds = time.perf_counter() - started
    loss = [float(v) for v in history.history.get("loss", [])]
    # Scaled back by one constant: early stopping, which watched the padded figures, picks
    # the same epochs.
    val_loss = [validation.loss(v) for v in history.history.get("val_loss", [])]
    return FitOutcome(epochs_run=len(loss), best_epoch=stopper.watch.kept_epoch(len(loss)),
                      train_seconds=seconds, loss=loss, val_loss=val_loss)


def batch_per_call(model) -> None:
    """Run :data:`STEPS_PER_EXECUTION` steps per compiled call where the backend allows."""
    import keras  # seconds to import: this module is imported where no Keras is needed

    if keras.backend.backend() != "torch":
        model.steps_per_execution = STEPS_PER_EXECUTION


def predict(model, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's outputs as float64 (samples, K), K = 1 included. The inputs are padded to
    whole batches (the last row repeated) and the padding's outputs dropped: one compiled
    predict step. A row's output can differ in its last float32 bits from the unpadded
    call's (a batch of other size takes other kernels' summation orders), never more."""
    rows = len(inputs)
    padded = _repeat_last(inputs, _padding(rows, batch_size))
    outputs = np.asarray(model.predict(padded, batch_size=batch_size, verbose=0),
                         dtype=np.float64)
    return outputs[:rows].reshape(rows, -1)
