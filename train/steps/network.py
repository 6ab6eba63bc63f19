"""A saved network's state as arrays, stepped by the compiled executables: what a fit or a
fine-tune on compiled steps trains, in place of a Keras model.

:class:`CompiledNetwork` answers what the pipeline asks of a Keras model after a fit
(``predict``, ``to_json``, ``save_weights``, ``input_shape``), so the forecast, the artifacts
and the rows are made by the same code either way, and what an epoch loop asks of it
(``train_epoch``, ``evaluate``, ``weights``, ``set_weights``).

An epoch is cut into calls of :data:`CHUNK` whole batches, of one batch, and of the partial
last batch (:func:`epoch_calls`), so that every pair's epochs share a few executables.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from train.steps.executables import StepCache, StepSignature
from train.steps.layout import NotCompilable, StateImage

#: Batches per call of a long epoch (a full fit's): one executable for every pair's chunks,
#: the remaining whole batches in one call each and a partial last batch in another.
CHUNK = 16


def epoch_calls(rows: int, batch_size: int) -> list[tuple[int, int]]:
    """The row ranges of an epoch's executable calls: chunks of :data:`CHUNK` whole batches,
    then one call per whole batch left, then the partial last batch. Three executables serve
    every epoch of a network (a chunk, one batch, the part), the part's shape aside: a call
    of the few batches left would need one executable per count."""
    whole = rows // batch_size * batch_size
    chunked = whole - whole % (CHUNK * batch_size)
    calls = [(a, a + CHUNK * batch_size) for a in range(0, chunked, CHUNK * batch_size)]
    calls += [(a, a + batch_size) for a in range(chunked, whole, batch_size)]
    return calls + ([(whole, rows)] if rows > whole else [])


def batched(array: np.ndarray, batch_size: int) -> np.ndarray:
    """``array`` as float32 batches (batches, ``batch_size``, ...): whole batches only
    (NotCompilable otherwise)."""
    if len(array) % batch_size:
        raise NotCompilable(f"{len(array)} rows are not whole batches of {batch_size}")
    return np.ascontiguousarray(array, dtype=np.float32).reshape(
        len(array) // batch_size, batch_size, *array.shape[1:])


class CompiledNetwork:
    """A network's state as arrays (the layout's order), stepped by ``cache``'s executables.

    ``source``: the ``.weights.h5`` the state was read from (:meth:`save_weights` copies it
    and overwrites its datasets), and ``image`` its bytes as read (train/steps/layout.py
    ``StateImage``; None: rewritten with h5py); ``architecture``: the blank network's JSON,
    as the Keras path's warm start saves it.
    """

    def __init__(self, cache: StepCache, state: list[np.ndarray], source: Path,
                 architecture: str, image: StateImage | None = None) -> None:
        self.cache = cache
        self.state = state
        self.source = source
        self.image = image
        self.architecture = architecture
        self.input_shape = (None, *cache.input_shape)

    # What the pipeline reads.
    def to_json(self) -> str:
        return self.architecture

    def save_weights(self, path: str) -> None:
        """The source file with every saved variable replaced: the same datasets and
        attributes ``model.save_weights`` would write for this network (from the source's
        image where it has one: the same bytes as h5py's rewrite)."""
        if self.image is not None:
            Path(path).write_bytes(self.image.with_state(self.state))
            return
        shutil.copyfile(self.source, path)
        self.cache.layout().write_state(path, self.state)

    def predict(self, inputs: np.ndarray, batch_size: int, verbose: int = 0) -> np.ndarray:
        """Outputs of ``inputs`` (whole batches: train/fit.py pads them)."""
        batches = batched(inputs, batch_size)
        signature = StepSignature.predict(batches.shape)
        n_t, n_n, _ = self.cache.layout().counts
        (outputs,) = self.cache.call(signature, *self.state[:n_t + n_n], batches)
        outputs = np.asarray(outputs)
        return outputs.reshape(len(inputs), *outputs.shape[2:])

    # What an epoch loop does.
    def weights(self) -> list[np.ndarray]:
        """The model's weights (what early stopping keeps and restores; not the optimizer's
        state)."""
        return [self.state[i] for i in self.cache.layout().weights]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        for index, value in zip(self.cache.layout().weights, weights, strict=True):
            self.state[index] = value

    def train_epoch(self, inputs: np.ndarray, targets: np.ndarray, batch_size: int) -> float:
        """One epoch in order (shuffle off), a partial last batch included, as ``fit`` runs
        it: Keras' loss figure of the epoch (its loss tracker, carried from call to call)."""
        metrics = self._metrics()
        n_state = len(self.state)
        loss = float("nan")
        for start, stop in epoch_calls(len(inputs), batch_size):
            size = min(batch_size, stop - start)
            xs, ys = batched(inputs[start:stop], size), batched(targets[start:stop], size)
            signature = StepSignature.train(xs.shape, ys.shape, n_state + len(metrics))
            *state, loss = self.cache.call(signature, *self.state, *metrics, xs, ys)
            self.state, metrics = state[:n_state], state[n_state:]
        return float(loss)

    def evaluate(self, inputs: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                 batch_size: int) -> float:
        """Keras' ``evaluate`` figure of whole batches with sample weights."""
        xs, ys = batched(inputs, batch_size), batched(targets, batch_size)
        ws = batched(weights, batch_size)
        signature = StepSignature.test(xs.shape, ys.shape)
        n_t, n_n, _ = self.cache.layout().counts
        (loss,) = self.cache.call(signature, *self.state[:n_t + n_n], *self._metrics(),
                                  xs, ys, ws)
        return float(loss)

    def _metrics(self) -> list[np.ndarray]:
        """The loss tracker reset, as Keras resets it before every epoch and evaluate."""
        return [np.zeros(shape, dtype=dtype) for shape, dtype in self.cache.layout().metrics]
