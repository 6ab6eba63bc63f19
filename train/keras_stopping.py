"""The early-stopping rule (train/stopping.py) as a Keras callback, for ``model.fit``.

A module of its own because it imports Keras at the top (the callback subclasses Keras'):
train/fit.py imports it only when it fits with Keras.
"""

from __future__ import annotations

import keras

from train.stopping import EarlyStopping, Watch


class StopEarly(keras.callbacks.Callback):
    """``rule`` on ``val_loss`` at the end of every epoch: stops the fit when the rule says so
    and, at the end, puts the best epoch's weights back when the rule restores them. After
    the fit, :attr:`watch` holds the rule's state (the best epoch)."""

    def __init__(self, rule: EarlyStopping) -> None:
        super().__init__()
        self.rule = rule
        self.watch: Watch = rule.watch()
        self.best_weights: list | None = None

    def on_train_begin(self, logs=None) -> None:
        self.watch = self.rule.watch()
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None) -> None:
        loss = (logs or {}).get("val_loss")
        if loss is None:  # no validation figure: nothing to watch, as in Keras' own
            return
        verdict = self.watch.after_epoch(float(loss))
        if verdict.improved and self.rule.restore_best:
            self.best_weights = self.model.get_weights()
        if verdict.stop:
            self.model.stop_training = True

    def on_train_end(self, logs=None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
