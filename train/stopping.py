"""The early-stopping rule of every fit: when to stop, which epoch's weights to keep.

One rule for both training paths: Keras' ``fit`` runs it as a callback
(train/keras_stopping.py) and the compiled steps' epoch loop (train/steps/compiled.py) calls it
directly, so the two make the same decisions from the same validation losses.

The rule is Keras' ``EarlyStopping(monitor="val_loss", min_delta, patience,
restore_best_weights=True)`` as the reference model uses it:

- an epoch improves when its loss plus ``min_delta`` is below the best loss so far; the first
  epoch always does (there is no best yet), even when its loss is NaN, and a NaN never
  improves on a number (nor a number on a NaN best: every comparison with NaN is false);
- after an epoch that does not improve, training stops when ``patience`` or more epochs in a
  row have not improved, never after the first epoch;
- at the end, the best epoch's weights are put back (:attr:`EarlyStopping.restore_best`).

Keras compares ``loss + min_delta`` with the best in float32, this rule in float64: on the
float32 figures both paths report they decide alike unless ``min_delta`` is not a whole
number of float32 steps at the loss's scale and within one step of the gap (the default
:data:`MIN_DELTA` is far below a step for any loss above 1e-7).
tests/unit/test_stopping.py runs both on the same loss sequences.

A warm fine-tune adds one more rule (:func:`beats_start`): the weights it started from count
as epoch 0, and are kept when the epoch the rule kept does not beat them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

#: Any improvement counts: the reference model's min_delta.
MIN_DELTA = 1e-15


class Verdict(NamedTuple):
    """What an epoch's validation loss decided: whether it is the best so far (its weights
    are the ones to keep), and whether training stops after it."""

    improved: bool
    stop: bool


@dataclass(frozen=True)
class EarlyStopping:
    """The rule's parameters (module doc)."""

    patience: int
    min_delta: float = MIN_DELTA
    #: Put the best epoch's weights back at the end (the model's weights, not the
    #: optimizer's state, which stays at the last epoch run).
    restore_best: bool = True

    def __post_init__(self) -> None:
        if self.patience < 0 or not self.min_delta >= 0:
            raise ValueError(f"early stopping needs patience >= 0 and min_delta >= 0, got "
                             f"{self.patience} and {self.min_delta}")

    def improves(self, loss: float, best: float | None) -> bool:
        """Whether an epoch of validation ``loss`` beats ``best`` (None: no epoch yet)."""
        return best is None or loss + self.min_delta < best

    def watch(self) -> Watch:
        """A fit's state under this rule, before its first epoch."""
        return Watch(self)


@dataclass
class Watch:
    """One fit's state under an :class:`EarlyStopping` rule: feed it every epoch's validation
    loss in order (:meth:`after_epoch`)."""

    rule: EarlyStopping
    #: The best validation loss so far and its epoch (0-based); None before the first epoch.
    best: float | None = None
    best_epoch: int | None = None
    #: Epochs run, and epochs in a row since the last improvement.
    epochs: int = 0
    wait: int = 0

    def after_epoch(self, loss: float) -> Verdict:
        """The verdict of the next epoch, of validation ``loss``."""
        epoch, self.epochs = self.epochs, self.epochs + 1
        self.wait += 1
        if self.rule.improves(loss, self.best):
            self.best, self.best_epoch, self.wait = loss, epoch, 0
            return Verdict(improved=True, stop=False)
        return Verdict(improved=False, stop=self.wait >= self.rule.patience and epoch > 0)

    def kept_epoch(self, epochs_run: int) -> int:
        """The 1-based epoch whose weights the fit ends with: the best one, or the last of
        ``epochs_run`` when the rule does not restore or no validation loss was watched."""
        if self.rule.restore_best and self.best_epoch is not None:
            return self.best_epoch + 1
        return epochs_run


def beats_start(start_loss: float, val_loss: list[float], kept_epoch: int) -> bool:
    """A fine-tune's rule: whether the epoch the fit kept (1-based ``kept_epoch`` of the
    epochs' validation losses ``val_loss``) beats the starting weights' ``start_loss``
    (epoch 0); if not, the starting weights are put back. A NaN beats nothing."""
    return 0 < kept_epoch <= len(val_loss) and val_loss[kept_epoch - 1] < start_loss
