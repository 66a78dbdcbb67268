import math

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


def test_sphere_data_puts_inputs_on_the_sphere_of_radius_sqrt_q():
    x, y = H.sphere_data(2000, 4, 2, q=7, target_scale=0.3, seed=1)
    assert x.shape == (2000, 4) and y.shape == (2000, 2) and x.dtype == torch.float64
    assert torch.allclose(x.norm(dim=1), torch.full((2000,), math.sqrt(7.0), dtype=torch.float64))
    assert abs(float(y.std()) - 0.3) < 0.02
    assert abs(float(x.mean(dim=0).abs().max())) < 0.15          # uniform on the sphere: centred
    x2, y2 = H.sphere_data(2000, 4, 2, q=7, target_scale=0.3, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, H.sphere_data(2000, 4, 2, q=7, target_scale=0.3, seed=2)[0])
    x32, y32 = H.sphere_data(3, 2, 1, q=3, target_scale=1.0, seed=0, dtype=torch.float32)
    assert x32.dtype == y32.dtype == torch.float32


def test_sphere_data_keeps_its_random_stream():
    """The inputs are the normalised first n*d Gaussians of the seed's stream, the targets the next n*d_out."""
    gen = torch.Generator().manual_seed(3)
    g = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    t = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    x, y = H.sphere_data(5, 4, 2, q=6, target_scale=0.5, seed=3)
    assert torch.allclose(x, g / g.norm(dim=1, keepdim=True) * math.sqrt(6), rtol=1e-15, atol=0)
    assert torch.equal(y, 0.5 * t)


@pytest.mark.parametrize("kw, error, match", [
    (dict(q=5), ValueError, "q must be >= d \\+ d_out"),
    (dict(target_scale=0.0), ValueError, "target_scale"),
    (dict(n=0), ValueError, "n must"),
    (dict(d_out=1.5), TypeError, "d_out must"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(dtype=torch.int64), TypeError, "dtype"),
])
def test_sphere_data_refuses_bad_arguments(kw, error, match):
    args = dict(n=8, d=4, d_out=2, q=6, target_scale=1.0, seed=0) | kw
    with pytest.raises(error, match=match):
        H.sphere_data(args.pop("n"), args.pop("d"), args.pop("d_out"), **args)


def test_sphere_data_takes_q_by_keyword():
    with pytest.raises(TypeError):
        H.sphere_data(8, 4, 2, 6, target_scale=1.0, seed=0)


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
