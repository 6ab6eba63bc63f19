"""Which variable of the step functions is which dataset of a network's ``.weights.h5``.

The compiled steps take the network's state as flat arrays in one order: trainable variables,
non-trainable ones, the optimizer's (:func:`state_variables`). :class:`Layout` names, for each,
the dataset of Keras' ``save_weights`` file that holds it, so a warm run reads the state
straight from the saved file with h5py (:meth:`Layout.read_state`) and writes it back the same
way, without building a Keras network. It is found once per network (:func:`layout_of`) and
kept in the cache folder as JSON.

Writing the state back: Keras stores each variable as a contiguous, unfiltered dataset, so a
file with new values differs from the one read only in those datasets' raw bytes.
:class:`StateImage` keeps the read file's bytes and where each dataset's bytes lie, and makes
the new file by replacing them (the bytes h5py would write in place, without opening the file
with HDF5 again: a warm run writes its state every hour, the backfill hundreds of times).
"""

from __future__ import annotations

import io
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
        return self.read(h5_path)[0]

    def read(self, h5_path: str | Path) -> tuple[list[np.ndarray], StateImage | None]:
        """:meth:`read_state`'s arrays and the file's :class:`StateImage` (None where a
        dataset's bytes cannot be replaced in place: the caller writes with h5py). Both come
        from one read of the file's bytes."""
        data = Path(h5_path).read_bytes()
        arrays, spans, plain = [], [], True
        with h5py.File(io.BytesIO(data), "r") as h5:
            for index, path in enumerate(self.paths):
                shape, dtype = tuple(self.shapes[index]), np.dtype(self.dtypes[index])
                if path is None:
                    arrays.append(np.asarray(self.unsaved[index], dtype=dtype).reshape(shape))
                    spans.append(None)
                    continue
                dataset = h5[path]
                value = np.asarray(dataset[()])
                if value.shape != shape or value.dtype != dtype:
                    raise ValueError(f"{path} holds {value.dtype}{list(value.shape)}, the "
                                     f"network {dtype}{list(shape)}")
                arrays.append(value)
                spans.append(_raw_span(dataset, value, data))
                plain = plain and spans[-1] is not None
        return arrays, StateImage(data, spans) if plain else None

    def write_state(self, h5_path: str | Path, state: list[np.ndarray]) -> None:
        """Every saved variable of ``state`` into the ``.weights.h5`` at ``h5_path`` (a copy
        of one this network saved: its datasets are overwritten in place)."""
        with h5py.File(h5_path, "r+") as h5:
            for index, dataset in enumerate(self.paths):
                if dataset is not None:
                    h5[dataset][...] = np.asarray(state[index])


#: Where a saved variable's raw bytes lie in a weights file: (offset, size, the file's dtype).
Span = tuple[int, int, str]


@dataclass(frozen=True)
class StateImage:
    """A weights file's bytes and, per state array (the layout's order), where its dataset's
    raw bytes lie (None: not saved)."""

    data: bytes
    spans: list[Span | None]

    def with_state(self, state: list) -> bytes:
        """The file's bytes holding ``state`` instead: each saved array in its dataset's
        dtype (ValueError if one does not fill its dataset's bytes exactly)."""
        out = bytearray(self.data)
        for value, span in zip(state, self.spans, strict=True):
            if span is None:
                continue
            offset, size, dtype = span
            raw = np.ascontiguousarray(value, dtype=np.dtype(dtype)).tobytes()
            if len(raw) != size:
                raise ValueError(f"{len(raw)} bytes for a dataset of {size}")
            out[offset:offset + size] = raw
        return bytes(out)


def _raw_span(dataset, value: np.ndarray, data: bytes) -> Span | None:
    """Where ``dataset``'s raw bytes lie in the file's ``data``, checked against ``value``
    (what h5py read from it); None for a dataset that is not stored as one run of plain
    bytes (chunked, compact, filtered, external, not allocated) or whose bytes differ."""
    plist = dataset.id.get_create_plist()
    offset = dataset.id.get_offset()
    if (plist.get_layout() != h5py.h5d.CONTIGUOUS or plist.get_nfilters()
            or plist.get_external_count() or offset is None):
        return None
    raw = np.ascontiguousarray(value, dtype=dataset.dtype).tobytes()
    if dataset.id.get_storage_size() != len(raw) or data[offset:offset + len(raw)] != raw:
        return None
    return (offset, len(raw), dataset.dtype.str)


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
