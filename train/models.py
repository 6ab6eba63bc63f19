"""Model builders: one short function per architecture, each returning a compiled model.

Builders are side by side so a reader can compare them, and chosen by name
(``build_model("gru", ...)``); a new architecture is one more function and one more entry in
:data:`BUILDERS`. Keras is imported inside the builders: importing this module (e.g. for
:data:`MODEL_NAMES` in the CLI) costs nothing.

Every builder takes ``(input_shape, options)``, ``options`` being a TrainConfig
(train/config.py) seen as :class:`NetworkOptions`, and honours the same flags, with one rule
for all of them:

- ``--dropout RATE``: a Dropout(RATE) layer after each recurrent or convolutional layer.
  0, the default, adds no layer, so the default graph is the tutorial's reference graph
  unchanged. Dropout comes only from this flag: no model has a dropout of its own, not even
  ``lstm-leaky`` (whose tutorial had one: pass ``--dropout`` for it), so one flag tells
  every model's regularisation.
- ``--l1 F`` / ``--l2 F``: an L1/L2 penalty on the kernel of every recurrent, convolutional
  and dense layer; ``--bias-l1``/``--bias-l2`` on their biases, ``--activity-l1``/
  ``--activity-l2`` on their outputs, ``--recurrent-l1``/``--recurrent-l2`` on the
  recurrent kernels of the recurrent layers. 0, the default, sets no regulariser.
- ``--layers N``: N stacked recurrent layers (lstm, gru) or convolutions (cnn), 1 to 4;
  2, the default, is the reference graph. lstm-leaky keeps the tutorial's one LSTM.
- ``--horizon K``: every model ends in Dense(K), one output per forecast step (the tutorial's
  Dense(16) for 16 steps). K = 1, the default, is the reference's Dense(1).

All models are compiled alike (mse, adam), so their figures differ by architecture only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from coinlstm.core.errors import BadInput

#: The tutorial's reference network: LSTM(64, return_sequences) -> LSTM(64) -> Dense(1).
DEFAULT_MODEL = "lstm"
DEFAULT_UNITS = 64
#: Recurrent layers of lstm and gru, convolutions of cnn (--layers): the reference's 2.
DEFAULT_LAYERS = 2
MAX_LAYERS = 4
#: Widest 1-D convolution of ``cnn``; narrower when the window is shorter.
CNN_KERNEL = 3
#: (keyword of a Keras layer, the options of its L1 and L2 factors): the --l1/--l2 family.
_REGULARISERS = (("kernel_regularizer", "l1", "l2"),
                 ("bias_regularizer", "bias_l1", "bias_l2"),
                 ("activity_regularizer", "activity_l1", "activity_l2"))
_RECURRENT_REGULARISER = ("recurrent_regularizer", "recurrent_l1", "recurrent_l2")


class NetworkOptions(Protocol):
    """What the builders read of a TrainConfig: its sizes and dropout, and the penalty
    factors named in _REGULARISERS and _RECURRENT_REGULARISER (read by name). A Protocol, not
    the class: train/config.py takes the model names and the size defaults from here, so
    this module must not import it back."""

    units: int
    layers: int
    horizon: int
    dropout: float


def _regulariser(options: NetworkOptions, keyword: str, l1_name: str, l2_name: str
                 ) -> dict[str, Any]:
    """``{keyword: L1L2(...)}`` for non-zero factors, else nothing (the default layers stay
    as they were)."""
    l1, l2 = getattr(options, l1_name), getattr(options, l2_name)
    if not l1 and not l2:
        return {}
    import keras

    return {keyword: keras.regularizers.L1L2(l1=l1, l2=l2)}


def _kernel_args(options: NetworkOptions, blank: bool = False) -> dict[str, Any]:
    """Every layer's regularisers (kernel, bias, activity), or nothing; with ``blank``, zero
    kernels (see :func:`build_model`)."""
    args: dict[str, Any] = {"kernel_initializer": "zeros"} if blank else {}
    for keyword, l1_name, l2_name in _REGULARISERS:
        args.update(_regulariser(options, keyword, l1_name, l2_name))
    return args


def _recurrent_args(options: NetworkOptions, blank: bool) -> dict[str, Any]:
    """A recurrent layer's extra arguments: its recurrent kernel's regulariser (--recurrent-l1,
    --recurrent-l2), zero recurrent kernels when ``blank``."""
    args: dict[str, Any] = {"recurrent_initializer": "zeros"} if blank else {}
    return {**args, **_regulariser(options, *_RECURRENT_REGULARISER)}


def _dropout(options: NetworkOptions) -> list[Any]:
    """A Dropout layer for --dropout, or no layer at all (so the default graph is unchanged)."""
    if not options.dropout:
        return []
    import keras

    return [keras.layers.Dropout(options.dropout)]


def _compiled(model):
    model.compile(loss="mse", optimizer="adam")
    return model


def _stacked(cell, options: NetworkOptions, blank: bool) -> list[Any]:
    """``options.layers`` recurrent layers of ``cell`` (each but the last returning its
    sequence), each followed by --dropout's layer."""
    reg = {**_kernel_args(options, blank), **_recurrent_args(options, blank)}
    layers: list[Any] = []
    for index in range(options.layers):
        layers += [cell(options.units, return_sequences=index < options.layers - 1, **reg),
                   *_dropout(options)]
    return layers


def _recurrent(cell: str, input_shape: tuple[int, int], options: NetworkOptions, blank: bool):
    """Stacked recurrent layers of Keras' ``cell`` (LSTM, GRU) and a linear output, mse,
    adam; the model is named after the cell."""
    import keras

    return _compiled(keras.Sequential([
        keras.Input(shape=input_shape),
        *_stacked(getattr(keras.layers, cell), options, blank),
        keras.layers.Dense(options.horizon, **_kernel_args(options, blank)),
    ], name=cell.lower()))


def build_lstm(input_shape: tuple[int, int], options: NetworkOptions,
               blank: bool = False):
    """The tutorial's reference model: stacked LSTMs (two by default) and a linear output,
    mse, adam."""
    return _recurrent("LSTM", input_shape, options, blank)


def build_gru(input_shape: tuple[int, int], options: NetworkOptions,
              blank: bool = False):
    """The reference model with GRU cells: a third fewer weights, often as good (tutorials)."""
    return _recurrent("GRU", input_shape, options, blank)


def build_cnn(input_shape: tuple[int, int], options: NetworkOptions,
              blank: bool = False):
    """Causal 1-D convolutions (two by default), flattened, and a linear output: no
    recurrence, fast.

    The kernel spans ``min(3, window)`` candles, so window 1 (the default) works: each
    convolution is then a per-candle dense layer. Causal padding keeps every output step from
    seeing later candles. Flatten rather than global pooling, because where a candle sits in
    the window (the newest or an old one) matters to the next close.
    """
    import keras

    units, reg = options.units, _kernel_args(options, blank)
    kernel = min(CNN_KERNEL, input_shape[0])
    convolutions: list[Any] = []
    for _ in range(options.layers):
        convolutions += [keras.layers.Conv1D(units, kernel, padding="causal", activation="relu",
                                             **reg),
                         *_dropout(options)]
    return _compiled(keras.Sequential([
        keras.Input(shape=input_shape),
        *convolutions,
        keras.layers.Flatten(),
        keras.layers.Dense(options.horizon, **reg),
    ], name="cnn"))


def build_lstm_leaky(input_shape: tuple[int, int], options: NetworkOptions,
                     blank: bool = False):
    """The tutorial's variant: LSTM(tanh) -> Dense -> LeakyReLU -> Dense(K).

    The tutorial's Dense(16) of a 16-step forecast becomes Dense(units) plus an output of
    --horizon steps here; its dropout comes from --dropout like every model's (module doc).
    Its layout is the tutorial's: one LSTM whatever --layers says.
    """
    import keras

    units, reg = options.units, _kernel_args(options, blank)
    return _compiled(keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.LSTM(units, activation="tanh", **reg, **_recurrent_args(options, blank)),
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


def build_model(name: str, input_shape: tuple[int, int], options: NetworkOptions,
                blank: bool = False):
    """A compiled model named ``name`` for inputs of ``input_shape`` (window, features).

    ``blank``: for weights that are loaded right after (a warm start, train/finetune.py):
    every kernel starts at zero instead of a random draw. The random initialisers (an
    orthogonal matrix per recurrent kernel) are compiled on first use in every process, most
    of the build's time (docs/performance.md), for values load_weights overwrites. (Its saved
    architecture JSON then names zero initialisers; nothing fits from it.)
    """
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise BadInput(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}") \
            from None
    return builder(input_shape, options, blank)
