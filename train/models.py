"""Model builders: one short function per architecture, each returning a compiled model.

Builders are side by side so a reader can compare them, and chosen by name
(``build_model("gru", ...)``); a new architecture is one more function and one more entry in
:data:`BUILDERS`. Keras is imported inside the builders: importing this module (e.g. for
:data:`MODEL_NAMES` in the CLI) costs nothing.

Every builder takes ``(input_shape, options)``, ``options`` being a TrainOptions, and honours
the same regularisation flags, with one rule for all of them:

- ``--dropout RATE``: a Dropout(RATE) layer after each recurrent or convolutional layer.
  0, the default, adds no layer, so the default graph is the reference graph of SPEC.md
  unchanged. Dropout comes only from this flag: no model has a dropout of its own, not even
  ``lstm-leaky`` (whose tutorial had one: pass ``--dropout`` for it), so one flag tells
  every model's regularisation.
- ``--l1 F`` / ``--l2 F``: an L1/L2 penalty on the kernel of every recurrent, convolutional
  and dense layer. 0, the default, sets no regulariser.
- ``--horizon K``: every model ends in Dense(K), one output per forecast step (the tutorial's
  Dense(16) for 16 steps). K = 1, the default, is the reference's Dense(1).

All models are compiled alike (mse, adam), so their figures differ by architecture only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

#: The reference network of SPEC.md: LSTM(64, return_sequences) -> LSTM(64) -> Dense(1).
DEFAULT_MODEL = "lstm"
DEFAULT_UNITS = 64
#: Widest 1-D convolution of ``cnn``; narrower when the window is shorter.
CNN_KERNEL = 3


class ModelOptions(Protocol):
    """What builders read from a TrainOptions (a Protocol: no import of the pipeline here)."""

    units: int
    dropout: float
    l1: float
    l2: float
    horizon: int


def _kernel_args(options: ModelOptions, blank: bool = False) -> dict[str, Any]:
    """``kernel_regularizer`` for --l1/--l2, or nothing: the default layers stay as they were;
    with ``blank``, zero kernels (see :func:`build_model`)."""
    args: dict[str, Any] = {"kernel_initializer": "zeros"} if blank else {}
    if not options.l1 and not options.l2:
        return args
    import keras

    return {**args,
            "kernel_regularizer": keras.regularizers.L1L2(l1=options.l1, l2=options.l2)}


def _recurrent_args(blank: bool) -> dict[str, Any]:
    """A recurrent layer's extra arguments: zero recurrent kernels when ``blank``."""
    return {"recurrent_initializer": "zeros"} if blank else {}


def _dropout(options: ModelOptions) -> list[Any]:
    """A Dropout layer for --dropout, or no layer at all (so the default graph is unchanged)."""
    if not options.dropout:
        return []
    import keras

    return [keras.layers.Dropout(options.dropout)]


def _compiled(model):
    model.compile(loss="mse", optimizer="adam")
    return model


def build_lstm(input_shape: tuple[int, int], options: ModelOptions,
               blank: bool = False):
    """The reference model (SPEC.md): two stacked LSTMs and a linear output, mse, adam."""
    import keras

    units, reg = options.units, _kernel_args(options, blank)
    return _compiled(keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.LSTM(units, return_sequences=True, **reg, **_recurrent_args(blank)),
        *_dropout(options),
        keras.layers.LSTM(units, **reg, **_recurrent_args(blank)),
        *_dropout(options),
        keras.layers.Dense(options.horizon, **reg),
    ], name="lstm"))


def build_gru(input_shape: tuple[int, int], options: ModelOptions,
              blank: bool = False):
    """The reference model with GRU cells: a third fewer weights, often as good (tutorials)."""
    import keras

    units, reg = options.units, _kernel_args(options, blank)
    return _compiled(keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.GRU(units, return_sequences=True, **reg, **_recurrent_args(blank)),
        *_dropout(options),
        keras.layers.GRU(units, **reg, **_recurrent_args(blank)),
        *_dropout(options),
        keras.layers.Dense(options.horizon, **reg),
    ], name="gru"))


def build_cnn(input_shape: tuple[int, int], options: ModelOptions,
              blank: bool = False):
    """Two causal 1-D convolutions, flattened, and a linear output: no recurrence, fast.

    The kernel spans ``min(3, window)`` candles, so window 1 (the default) works: each
    convolution is then a per-candle dense layer. Causal padding keeps every output step from
    seeing later candles. Flatten rather than global pooling, because where a candle sits in
    the window (the newest or an old one) matters to the next close.
    """
    import keras

    units, reg = options.units, _kernel_args(options, blank)
    kernel = min(CNN_KERNEL, input_shape[0])
    return _compiled(keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv1D(units, kernel, padding="causal", activation="relu", **reg),
        *_dropout(options),
        keras.layers.Conv1D(units, kernel, padding="causal", activation="relu", **reg),
        *_dropout(options),
        keras.layers.Flatten(),
        keras.layers.Dense(options.horizon, **reg),
    ], name="cnn"))


def build_lstm_leaky(input_shape: tuple[int, int], options: ModelOptions,
                     blank: bool = False):
    """The tutorial variant (SPEC.md, "Variants"): LSTM(tanh) -> Dense -> LeakyReLU -> Dense(K).

    The tutorial's Dense(16) of a 16-step forecast becomes Dense(units) plus an output of
    --horizon steps here; its dropout comes from --dropout like every model's (module doc).
    """
    import keras

    units, reg = options.units, _kernel_args(options, blank)
    return _compiled(keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.LSTM(units, activation="tanh", **reg, **_recurrent_args(blank)),
        *_dropout(options),
        keras.layers.Dense(units, **reg),
        keras.layers.LeakyReLU(),
        keras.layers.Dense(options.horizon, **reg),
    ], name="lstm_leaky"))


#: name -> builder(input_shape, options, blank). The CLI's --model choices, in this order.
BUILDERS: dict[str, Callable[..., Any]] = {
    "lstm": build_lstm,
    "gru": build_gru,
    "cnn": build_cnn,
    "lstm-leaky": build_lstm_leaky,
}
MODEL_NAMES: tuple[str, ...] = tuple(BUILDERS)


def build_model(name: str, input_shape: tuple[int, int], options: ModelOptions,
                blank: bool = False):
    """A compiled model named ``name`` for inputs of ``input_shape`` (window, features).

    ``blank``: for weights that are loaded right after (a warm start, train/finetune.py):
    every kernel starts at zero instead of a random draw. The random initialisers (an
    orthogonal matrix per recurrent kernel) are compiled on first use in every process: the
    reference network took 1.9 s to build with them and 0.3 s without (medians of 3 fresh
    processes, 2026-12-01, a loaded machine), for values load_weights overwrites. (Its saved
    architecture JSON then names zero initialisers; nothing fits from it.)
    """
    try:
        builder = BUILDERS[name]
    except KeyError:
        from coinlstm.core.errors import BadInput

        raise BadInput(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}") \
            from None
    return builder(input_shape, options, blank)
