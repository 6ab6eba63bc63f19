"""The initial kernels drawn with numpy (train/models.py) follow Keras' default
distributions: Glorot uniform within its limit, with its variance, fans counting a
convolution's receptive field; orthogonal recurrent kernels; the draw seeded by numpy's
global generator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from train.models import NumpyDraw, glorot_uniform, orthogonal


@pytest.mark.parametrize(("shape", "fans"), [((8, 256), (8, 256)), ((64, 16), (64, 16)),
                                              ((3, 8, 64), (24, 192))])
def test_glorot_uniform_is_within_its_limit_with_its_variance(shape, fans):
    np.random.seed(3)
    values = glorot_uniform(shape)
    limit = math.sqrt(6 / sum(fans))
    assert values.shape == shape
    assert np.abs(values).max() <= limit
    assert values.std() == pytest.approx(limit / math.sqrt(3), rel=0.1)


@pytest.mark.parametrize("shape", [(64, 256), (256, 64), (32, 32)])
def test_orthogonal_kernels_have_orthonormal_rows_or_columns(shape):
    np.random.seed(4)
    values = orthogonal(shape)
    assert values.shape == shape
    small = min(shape)
    gram = values @ values.T if shape[0] <= shape[1] else values.T @ values
    assert np.allclose(gram, np.eye(small), atol=1e-10)


def test_a_draw_is_the_seeds_and_of_the_variables_dtype():
    draw = NumpyDraw("GlorotUniform", glorot_uniform)
    np.random.seed(5)
    first = draw((4, 6), dtype="float32")
    np.random.seed(5)
    assert np.array_equal(first, draw([4, 6], dtype="float32"))
    assert first.dtype == np.float32
    assert not np.array_equal(first, draw((4, 6)))
