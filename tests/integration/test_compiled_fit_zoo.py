"""Every network of the zoo that trains on compiled steps (train/steps) fits as Keras' ``fit``
does: from the same initial weights, the same weights, optimizer state, loss history, epochs
run and kept epoch, up to float32 round-off.

Real parts: each builder of train/models.py on JAX, Keras' own ``fit`` through train/fit.py
(the early-stopping rule as its callback) against the compiled steps' epoch loop, on tiny
random data whose training slice ends in a partial batch and whose validation slice is
padded. The steps' cache is the pytest worker's (tests.helpers.TEST_HOME): its key holds the
source of the steps and the networks, so a run after a change compiles anew, and a run of an
unchanged checkout loads the executables a fresh compile wrote (what a warm market hour does),
instead of compiling every network again (most of this test's CPU time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coinlstm.core import config
from tests.helpers import TEST_HOME
from train import backend
from train.config import TrainConfig
from train.fit import fit_model
from train.models import MODEL_NAMES, build_model
from train.steps import compiled

WINDOW, FEATURES, BATCH = 4, 3, 16


@pytest.fixture(scope="module")
def keras():
    backend.prepare("jax", config.load(env={"COINLSTM_HOME": str(TEST_HOME)}).cache_dir)
    return backend.load_keras("jax")


@pytest.fixture(scope="module")
def step_cache(keras) -> Path:
    """The compiled steps' cache of this pytest worker (module doc)."""
    return backend.step_cache_dir()


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(rows, WINDOW, FEATURES)).astype(np.float32)
    # Targets that the inputs partly explain: the loss moves, and can turn on validation.
    targets = inputs[:, -1, :1] * 0.5 + rng.normal(scale=0.3, size=(rows, 1))
    return inputs, targets.astype(np.float32)


def _built(keras, options: TrainConfig, start: list[np.ndarray] | None = None):
    keras.backend.clear_session()
    backend.seed(11, "jax")
    model = build_model(options.model, (WINDOW, FEATURES), options)
    if start is not None:
        model.set_weights(start)
    return model


def _state(model) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in [*model.weights, *model.optimizer.variables]]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_compiled_fit_of_every_network_equals_keras_fit(keras, step_cache, name):
    options = TrainConfig(model=name, units=4, batch_size=BATCH, epochs=3, patience=1)
    assert compiled.applies(options, step_cache), "every network of the zoo runs compiled"
    train = _data(3 * BATCH + 5, seed=1)
    val = _data(BATCH + 5, seed=2)

    on_steps = _built(keras, options)
    start = on_steps.get_weights()
    steps_outcome = compiled.fit(on_steps, *train, *val, options, step_cache)
    assert steps_outcome is not None, "the compiled steps did not take the fit"
    on_keras = _built(keras, options, start)
    keras_outcome = fit_model(on_keras, *train, *val, epochs=options.epochs,
                              batch_size=BATCH, patience=options.patience)

    assert (steps_outcome.epochs_run, steps_outcome.best_epoch) == \
        (keras_outcome.epochs_run, keras_outcome.best_epoch)
    np.testing.assert_allclose(steps_outcome.loss, keras_outcome.loss, rtol=1e-5)
    np.testing.assert_allclose(steps_outcome.val_loss, keras_outcome.val_loss, rtol=1e-5)
    assert len(set(keras_outcome.loss)) == len(keras_outcome.loss)  # it trained
    steps_state, keras_state = _state(on_steps), _state(on_keras)
    assert len(steps_state) == len(keras_state)
    for index, (got, want) in enumerate(zip(steps_state, keras_state, strict=True)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=f"{name} #{index}")
    assert not all(np.array_equal(a, b) for a, b in zip(start, on_keras.get_weights(),
                                                          strict=True))


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_a_convolutional_train_step_is_unrolled_a_recurrent_one_scanned(keras, model):
    """The loops in a train step's program: none in the convolutional network's (one step per
    batch: XLA's CPU backend runs a convolution's gradient inside a loop tens of times
    slower), the batch scan around the recurrent networks' own time loop in theirs; a single
    batch is one step in every network."""
    import jax

    from train.steps.executables import has_convolution, scan_steps
    from train.steps.layout import layout_of

    network = build_model(model, (WINDOW, FEATURES), TrainConfig(model=model), blank=True)
    network.optimizer.build(network.trainable_variables)
    layout = layout_of(network)
    state = [jax.ShapeDtypeStruct(tuple(shape), dtype)
             for shape, dtype in [*zip(layout.shapes, layout.dtypes, strict=True),
                                  *layout.metrics]]

    def loops(batches: int) -> int:
        data = [jax.ShapeDtypeStruct((batches, BATCH, WINDOW, FEATURES), np.float32),
                jax.ShapeDtypeStruct((batches, BATCH, 1), np.float32)]
        program = jax.jit(scan_steps(network, "train", layout.counts)).lower(*state, *data)
        return program.as_text().count("stablehlo.while")

    assert has_convolution(network) == (model == "cnn")
    if model == "cnn":
        assert loops(1) == loops(3) == 0
    else:  # the recurrent layer's loops over the window (forward, gradient), once each
        assert loops(1) >= 2
        assert loops(3) == loops(1) + 1
