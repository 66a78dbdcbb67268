import pytest
import torch

import helpers as H


def test_gaussian_data_shapes_and_seed():
    x, y = H.gaussian_data(100, 16, seed=0)
    assert x.shape == (100, 16) and y.shape == (100, 16) and x.dtype == torch.float64
    assert torch.equal(x, H.gaussian_data(100, 16, seed=0)[0])
    assert H.gaussian_data(5, 3, 2, seed=0, dtype=torch.float32)[1].shape == (5, 2)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got -1"):
        H.gaussian_data(-1, 3, seed=0)


def test_digits_ship_with_scikit_learn():
    data = H.digits_data(200, seed=0)
    assert data.x.shape == (200, 64) and data.y.shape == (200, 10) and data.images.shape == (200, 8, 8)
    assert torch.equal(data.y.argmax(1), data.labels)
    assert abs(float(H.digits_data(seed=0).x.mean())) < 1e-6
    with pytest.raises(ValueError, match="n must be <= 1797"):
        H.digits_data(5000, seed=0)


def test_integer_dtype_is_refused():
    with pytest.raises(TypeError, match="dtype"):
        H.gaussian_data(4, 2, seed=0, dtype=torch.int64)
    with pytest.raises(TypeError, match="dtype"):
        H.digits_data(4, seed=0, dtype=torch.int32)
