"""Which variable of the step functions is which dataset of a network's ``.weights.h5``.

The compiled steps take the network's state as flat arrays in one order: trainable variables,
non-trainable ones, the optimizer's (:func:`state_variables`). :class:`Layout` names, for each,
the dataset of Keras' ``save_weights`` file that holds it, so a warm run reads the state
straight from the saved file with h5py (:meth:`Layout.read_state`) and writes it back the same
way, without building a Keras network. It is found once per network (:func:`layout_of`) and
kept in the cache folder as JSON.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from coinlstm.core.errors import CoinlstmError
from train.steps.cache import FORMAT


class NotCompilable(CoinlstmError):
    """This network cannot run on compiled steps: the caller takes the Keras path."""


@dataclass(frozen=True)
class Layout:
    """The step functions' state, in their argument order: trainable variables, non-trainable
    ones, the optimizer's; for each the ``.weights.h5`` dataset holding it, or None (a seed
    generator's state, which Keras does not save) with the value to use instead."""

    paths: list[str | None]
    shapes: list[list[int]]
    dtypes: list[str]
    #: How many of the state arrays are trainable, non-trainable and the optimizer's.
    counts: tuple[int, int, int]
    #: Indices of ``model.weights`` (what early stopping saves and restores).
    weights: list[int]
    unsaved: dict[int, list]
    #: The loss tracker's variables (shape, dtype): reset before every epoch and evaluate.
    metrics: list[tuple[list[int], str]]
    #: ``model.to_json()`` of the network (built blank, as a warm start builds it).
    architecture: str

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "paths": self.paths, "shapes": self.shapes,
                           "dtypes": self.dtypes, "counts": list(self.counts),
                           "weights": self.weights,
                           "unsaved": {str(k): v for k, v in self.unsaved.items()},
                           "metrics": self.metrics, "architecture": self.architecture})

    @classmethod
    def from_json(cls, text: str) -> Layout:
        """The layout :meth:`to_json` wrote; ValueError for another format."""
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError("another format")
        return cls(paths=data["paths"], shapes=data["shapes"], dtypes=data["dtypes"],
                   counts=tuple(data["counts"]), weights=data["weights"],
                   unsaved={int(k): v for k, v in data["unsaved"].items()},
                   metrics=[(shape, dtype) for shape, dtype in data["metrics"]],
                   architecture=data["architecture"])

    def read_state(self, h5_path: str | Path) -> list[np.ndarray]:
        """Every state array from the saved ``.weights.h5`` (ValueError if one has another
        shape or type, KeyError if one is missing)."""
        arrays = []
        with h5py.File(h5_path, "r") as h5:
            for index, path in enumerate(self.paths):
                shape, dtype = tuple(self.shapes[index]), np.dtype(self.dtypes[index])
                if path is None:
                    arrays.append(np.asarray(self.unsaved[index], dtype=dtype).reshape(shape))
                    continue
                value = np.asarray(h5[path][()])
                if value.shape != shape or value.dtype != dtype:
                    raise ValueError(f"{path} holds {value.dtype}{list(value.shape)}, the "
                                     f"network {dtype}{list(shape)}")
                arrays.append(value)
        return arrays

    def write_state(self, h5_path: str | Path, state: list[np.ndarray]) -> None:
        """Every saved variable of ``state`` into the ``.weights.h5`` at ``h5_path`` (a copy
        of one this network saved: its datasets are overwritten in place)."""
        with h5py.File(h5_path, "r+") as h5:
            for index, dataset in enumerate(self.paths):
                if dataset is not None:
                    h5[dataset][...] = np.asarray(state[index])


def state_variables(model) -> list:
    """The Keras model's variables in the steps' argument order (:class:`Layout`)."""
    return [*model.trainable_variables, *model.non_trainable_variables,
            *model.optimizer.variables]


def layout_of(model) -> Layout:
    """The layout of a built Keras ``model`` (its optimizer built): every variable set to its
    own index + 1, the file written and read back (Keras' public API only), the variables
    put back. NotCompilable if a dataset does not tell one variable, or a trainable or
    optimizer variable is not saved."""
    variables = state_variables(model)
    initial = [np.asarray(v.value) for v in variables]
    for index, variable in enumerate(variables):
        variable.assign(np.full(variable.shape, index + 1, dtype=variable.dtype))
    try:
        paths = _saved_paths(model, len(variables))
    finally:
        for variable, value in zip(variables, initial, strict=True):
            variable.assign(value)
    n_trainable = len(model.trainable_variables)
    n_non_trainable = len(model.non_trainable_variables)
    if None in paths[:n_trainable] or None in paths[n_trainable + n_non_trainable:]:
        raise NotCompilable("a trainable or optimizer variable is not in the weights file")
    index_of = {id(v): i for i, v in enumerate(variables)}
    return Layout(
        paths=paths, shapes=[list(v.shape) for v in variables],
        dtypes=[str(np.dtype(v.dtype)) for v in variables],
        counts=(n_trainable, n_non_trainable, len(model.optimizer.variables)),
        weights=[index_of[id(w)] for w in model.weights],
        unsaved={i: initial[i].tolist() for i, p in enumerate(paths) if p is None},
        metrics=[(list(v.shape), str(np.dtype(v.dtype))) for v in model.metrics_variables],
        architecture=model.to_json())


def _saved_paths(model, count: int) -> list[str | None]:
    """For each of ``count`` variables, each holding its index + 1 everywhere, the dataset of
    ``save_weights``' file that holds it (None: not saved)."""
    paths: list[str | None] = [None] * count

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            values = np.unique(np.asarray(item[()]))
            if len(values) != 1 or not 1 <= int(values[0]) <= count \
                    or paths[int(values[0]) - 1] is not None:
                raise NotCompilable(f"cannot tell which variable {name} holds")
            paths[int(values[0]) - 1] = name

    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "layout.weights.h5"
        model.save_weights(str(file))
        with h5py.File(file, "r") as h5:
            h5.visititems(visit)
    return paths
