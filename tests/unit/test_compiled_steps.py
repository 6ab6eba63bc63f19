"""The compiled steps' cache files (train/compiled_steps.py), without Keras or JAX: the layout's
round trip, the checksummed executable files, the file names of the step signatures."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from train import compiled_steps
from train.compiled_steps import Layout, StepSignature


def _layout() -> Layout:
    return Layout(paths=["layers/dense/vars/0", None, "optimizer/vars/0"],
                  shapes=[[3, 1], [2], []], dtypes=["float32", "uint32", "int32"],
                  counts=(1, 1, 1), weights=[0], unsaved={1: [7, 9]},
                  metrics=[([], "float32"), ([], "float32")], architecture='{"a": 1}')


def test_the_layout_round_trips_and_refuses_another_format():
    layout = _layout()
    assert Layout.from_json(layout.to_json()) == layout
    other = layout.to_json().replace(f'"format": {compiled_steps.FORMAT}', '"format": 0')
    with pytest.raises(ValueError):
        Layout.from_json(other)


def test_the_state_is_read_from_the_weights_file_and_checked(tmp_path):
    import h5py

    path = tmp_path / "w.weights.h5"
    with h5py.File(path, "w") as h5:
        h5["layers/dense/vars/0"] = np.arange(3, dtype=np.float32).reshape(3, 1)
        h5["optimizer/vars/0"] = np.int32(12)
    kernel, seed, steps = _layout().read_state(path)
    assert kernel.tolist() == [[0.0], [1.0], [2.0]] and steps == 12
    assert seed.dtype == np.uint32 and seed.tolist() == [7, 9]  # not saved: the layout's
    with h5py.File(path, "r+") as h5:
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars/0"] = np.zeros((4, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="layers/dense/vars/0 holds float32"):
        _layout().read_state(path)


def test_a_cache_file_that_fails_its_checksum_reads_as_missing(tmp_path):
    path = tmp_path / "steps" / "train-1x128x1x8_1x128x1.xla"
    payload = b"an executable" * 100
    compiled_steps._write_atomically(path, hashlib.sha256(payload).digest() + payload)
    assert compiled_steps._read_checked(path) == payload
    assert list(path.parent.iterdir()) == [path]  # no temporary left
    data = bytearray(path.read_bytes())
    data[40] ^= 1
    path.write_bytes(bytes(data))
    assert compiled_steps._read_checked(path) is None
    assert compiled_steps._read_checked(tmp_path / "missing.xla") is None


def test_step_file_names_say_the_step_and_its_shapes():
    assert StepSignature.train((6, 128, 1, 8), (6, 128, 1), 26).file_name() == \
        "train-6x128x1x8_6x128x1.xla"
    test = StepSignature.test((4, 128, 1, 8), (4, 128, 1))
    assert test.file_name() == "test-4x128x1x8_4x128x1_4x128.xla" and test.n_outputs == 1
    assert StepSignature.predict((12, 128, 1, 8)).file_name() == "predict-12x128x1x8.xla"
