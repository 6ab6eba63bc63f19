"""Whole batches (train/fit.py): padded predict and validation give the unpadded figures, with
one compiled step per function instead of one per batch shape.

Real parts only: the reference LSTM of train/models.py on JAX, real Keras predict, evaluate
and fit on random inputs whose row counts are not multiples of the batch size. The compiled
steps are counted from JAX's own compile log (``jax.log_compiles``).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from coinlstm.app.jobs.pair_job import TrainOptions
from coinlstm.core import config
from tests.helpers import REPO
from train import fit
from train.models import build_model

BATCH = 32
WINDOW, FEATURES = 8, 3


@pytest.fixture
def model():
    from train import backend

    backend.prepare("jax", config.load(env={"COINLSTM_HOME": str(REPO)}).cache_dir)
    keras = backend.load_keras("jax")
    keras.backend.clear_session()
    backend.seed(7, "jax")
    return build_model("lstm", (WINDOW, FEATURES), TrainOptions(units=8))


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(rows, WINDOW, FEATURES)).astype(np.float32)
    return inputs, rng.normal(size=(rows, 1)).astype(np.float32)


def _compiled(caplog, step: str) -> int:
    """How many times JAX compiled (traced and lowered) ``step`` since the log was cleared."""
    return sum(f"Compiling jit({step})" in record.getMessage() for record in caplog.records)


def test_predict_pads_to_whole_batches_with_the_unpadded_outputs(model, caplog):
    import jax

    inputs, _ = _data(3 * BATCH + 5, seed=1)
    unpadded = np.asarray(model.predict(inputs, batch_size=BATCH, verbose=0), dtype=np.float64)
    model.predict_function = None  # a fresh compiled step: count only what follows
    caplog.set_level(logging.WARNING, logger="jax")
    with jax.log_compiles(True):
        outputs = fit.predict(model, inputs, BATCH)
        single = fit.predict(model, inputs[-1:], BATCH)
    assert outputs.shape == (len(inputs), 1)
    np.testing.assert_allclose(outputs, unpadded, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(single, unpadded[-1:], rtol=1e-6, atol=1e-7)
    # 101 rows and 1 row: one predict step (before, 32 and 5, then 1: three).
    assert _compiled(caplog, "predict_step") == 1


def test_padded_validation_loss_is_the_unpadded_one_with_one_compiled_step(model, caplog):
    import jax

    inputs, targets = _data(2 * BATCH + 9, seed=2)
    unpadded = model.evaluate(inputs, targets, batch_size=BATCH, verbose=0)
    validation = fit.whole_batches(inputs, targets, BATCH)
    assert len(validation.inputs) == 3 * BATCH and validation.rows == len(inputs)
    assert validation.weights.sum() == len(inputs) and not validation.weights[len(inputs):].any()
    model.test_function = None
    caplog.set_level(logging.WARNING, logger="jax")
    with jax.log_compiles(True):
        padded = model.evaluate(validation.inputs, validation.targets,
                                sample_weight=validation.weights, batch_size=BATCH, verbose=0)
    # Keras divides a padded batch's loss by its full size: scaled back, the same loss.
    assert padded != pytest.approx(unpadded, rel=1e-3)
    assert validation.loss(padded) == pytest.approx(unpadded, rel=1e-6)
    assert _compiled(caplog, "test_step") == 1


def test_fit_reports_the_unpadded_validation_loss(model):
    train_inputs, train_targets = _data(4 * BATCH, seed=3)
    val_inputs, val_targets = _data(BATCH + 7, seed=4)
    outcome = fit.fit_model(model, train_inputs, train_targets, val_inputs, val_targets,
                            epochs=2, batch_size=BATCH, patience=5)
    # The best epoch's weights are restored: its figure is the loss of the model as it is.
    final = model.evaluate(val_inputs, val_targets, batch_size=BATCH, verbose=0)
    assert outcome.val_loss[outcome.best_epoch - 1] == pytest.approx(final, rel=1e-6)
