"""The early-stopping rule (train/stopping.py) decides as Keras' own
``keras.callbacks.EarlyStopping`` of the same settings: the same epochs run, the same best
epoch, the same weights restored, on loss sequences with ties, NaN, infinities and min_delta
at its boundary, and on random ones with many ties.

Real parts: Keras on JAX, its EarlyStopping and the rule's callback (train/keras_stopping.py)
driven through the hooks ``fit`` calls, with the figures ``fit`` hands them (Python floats of
float32 losses), on a stand-in model whose "weights" name the epoch they were taken at.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from coinlstm.core import config
from tests.helpers import REPO
from train import backend
from train.stopping import MIN_DELTA, EarlyStopping

NAN, INF = math.nan, math.inf


@pytest.fixture(scope="module")
def keras():
    backend.prepare("jax", config.load(env={"COINLSTM_HOME": str(REPO)}).cache_dir)
    return backend.load_keras("jax")


class _Model:
    """What the callbacks touch of a model: its weights (the epoch they were taken at), the
    stop flag, and the weights put back at the end."""

    def __init__(self) -> None:
        self.epoch: int | None = None
        self.stop_training = False
        self.restored: int | None = None

    def get_weights(self) -> list:
        return [self.epoch]

    def set_weights(self, weights: list) -> None:
        self.restored = weights[0]


def _drive(callback, losses: list[float], epochs: int) -> tuple[int, int | None]:
    """``fit``'s calls of ``callback`` over at most ``epochs`` epochs: the epochs run and the
    epoch whose weights were restored."""
    model = _Model()
    callback.set_model(model)
    callback.on_train_begin()
    run = 0
    for epoch, loss in enumerate(losses[:epochs]):
        model.epoch, run = epoch, run + 1
        callback.on_epoch_end(epoch, {"loss": 1.0, "val_loss": loss})
        if model.stop_training:
            break
    callback.on_train_end()
    return run, model.restored


def _float32(values) -> list[float]:
    return [float(np.float32(v)) for v in values]


def _sequences() -> list[tuple[int, float, list[float]]]:
    worked = [
        (1, MIN_DELTA, [4.0, 2.0, 1.0]),
        (2, MIN_DELTA, [1.0, 1.0, 1.0, 0.5]),
        (2, MIN_DELTA, [2.0, 1.0, 1.0, 0.5, 0.5, 0.5]),
        (0, MIN_DELTA, [1.0, 2.0, 0.5]),
        (0, MIN_DELTA, [1.0, 0.5, 0.25]),
        (2, MIN_DELTA, [3.0, 4.0, 2.0, 5.0, 5.0, 1.0]),
        (1, MIN_DELTA, [NAN, 1.0, 0.5]),
        (2, MIN_DELTA, [1.0, NAN, 0.5, NAN, NAN, 0.25]),
        (3, MIN_DELTA, [NAN, NAN, NAN, NAN]),
        (3, MIN_DELTA, [INF, 1.0, INF, 0.5]),
        (1, 0.25, [1.0, 0.75, 0.625]),
        (2, 0.25, [1.0, 0.75, 0.625, 0.5]),
        (5, 0.0, [1.0, 1.0, 0.9999999]),
        (1, MIN_DELTA, [1.0, 1.0 - 2.0 ** -24, 1.0 - 2.0 ** -24]),
        (1, MIN_DELTA, [1e-3, 1e-3 * (1 - 2.0 ** -23), 1e-3]),
    ]
    rng = np.random.default_rng(5)
    drawn = [(int(rng.integers(0, 4)), float(rng.choice([MIN_DELTA, 0.0, 0.125])),
              list(np.round(rng.uniform(0.5, 1.5, size=12) * 8) / 8)) for _ in range(40)]
    return [(p, d, _float32(losses)) for p, d, losses in worked + drawn]


@pytest.mark.parametrize(("patience", "min_delta", "losses"), _sequences())
@pytest.mark.parametrize("epochs", [3, 50])
def test_the_rule_decides_as_keras_early_stopping(keras, patience, min_delta, losses,
                                                  epochs):
    from train.keras_stopping import StopEarly  # imports Keras: after the fixture chose JAX

    rule = EarlyStopping(patience=patience, min_delta=min_delta)
    reference = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=rule.min_delta,
                                              patience=rule.patience,
                                              restore_best_weights=rule.restore_best)
    ours = StopEarly(rule)
    assert _drive(ours, losses, epochs) == _drive(reference, losses, epochs)
    assert ours.watch.best_epoch == reference.best_epoch
