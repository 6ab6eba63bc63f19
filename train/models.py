"""Model builders: one short function per architecture, each returning a compiled model.

Builders are side by side so a reader can compare them, and chosen by name
(``build_model("lstm", ...)``); a new architecture (``gru``, ``cnn``) is one more function
and one more entry in :data:`BUILDERS`. Keras is imported inside the builders: importing this
module (e.g. for :data:`MODEL_NAMES` in the CLI) costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The reference network of SPEC.md: LSTM(64, return_sequences) -> LSTM(64) -> Dense(1).
DEFAULT_MODEL = "lstm"
DEFAULT_UNITS = 64


def build_lstm(input_shape: tuple[int, int], units: int = DEFAULT_UNITS):
    """The reference model (SPEC.md): two stacked LSTMs and a linear output, mse, adam."""
    import keras

    model = keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.LSTM(units, return_sequences=True),
        keras.layers.LSTM(units),
        keras.layers.Dense(1),
    ], name="lstm")
    model.compile(loss="mse", optimizer="adam")
    return model


#: name -> builder(input_shape, units). Add "gru", "cnn" here next to "lstm".
BUILDERS: dict[str, Callable[..., Any]] = {
    "lstm": build_lstm,
}
MODEL_NAMES: tuple[str, ...] = tuple(BUILDERS)


def build_model(name: str, input_shape: tuple[int, int], options: Any):
    """A compiled model named ``name`` for inputs of ``input_shape`` (window, features).

    ``options`` is a TrainOptions (anything with ``units``): builders read what they need.
    """
    try:
        builder = BUILDERS[name]
    except KeyError:
        from coinlstm.errors import BadInput

        raise BadInput(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}") \
            from None
    return builder(input_shape, units=options.units)
