import math

import pytest
import torch

import helpers as H
from helpers.init import smooth_function


def test_tied_weights_are_equal_across_layers():
    V, W = H.init_weights(10, 4, 6, kind="tied", seed=0)
    assert torch.equal(W, W[:1].expand_as(W)) and torch.equal(V, V[:1].expand_as(V))
    assert H.max_layer_gap(V, W) == 0


def test_zero_V_option_and_explicit_seed():
    V, W = H.init_weights(5, 4, 6, kind="iid", V="zero", seed=3)
    assert V.abs().sum() == 0
    assert torch.equal(W, H.init_weights(5, 4, 6, kind="iid", seed=3)[1])
    assert not torch.equal(W, H.init_weights(5, 4, 6, kind="iid", seed=4)[1])


def test_smooth_weights_discretize_one_function_of_depth():
    Vf, Wf = H.smooth_weight_functions(4, 6, seed=2)
    for L in (3, 17):
        V, W = H.init_weights(L, 4, 6, kind="smooth", seed=2)
        s = torch.arange(1, L + 1, dtype=torch.float64) / L
        assert torch.allclose(V, Vf(s)) and torch.allclose(W, Wf(s))
    # Lipschitz in s: neighbouring layers differ by O(1/L)
    gaps = [H.max_layer_gap(*H.init_weights(L, 4, 6, kind="smooth", seed=2)) for L in (32, 64, 128, 256)]
    assert abs(H.fit_loglog_slope([32, 64, 128, 256], gaps).slope + 1) < 0.05


def test_smooth_entries_have_unit_variance_on_average():
    V = smooth_function((60, 60), seed=0)(torch.linspace(0, 1, 50))
    assert abs(float(V.var()) - 1) < 0.15


def test_iid_scalings():
    V1, _ = H.init_weights(64, 8, 8, kind="iid", seed=0)
    V2, _ = H.init_weights(64, 8, 8, kind="iid", scaling="1/sqrt(L)", seed=0)
    assert torch.allclose(V2, V1 * math.sqrt(64))
    assert H.max_layer_gap(V1, torch.zeros(64, 8, 8, dtype=torch.float64)) > 5  # rough: O(1) gaps


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(L=0, q=3, m=2, kind="iid", seed=0), ValueError, "L must be an integer >= 1, got 0"),
    (dict(L=4, q=3, m=-2, kind="iid", seed=0), ValueError, "m must be an integer >= 1, got -2"),
    (dict(L=4.5, q=3, m=2, kind="iid", seed=0), TypeError, "L must be an integer"),
    (dict(L=4, q=3, m=2, kind="random", seed=0), ValueError, "kind must be one of"),
    (dict(L=4, q=3, m=2, kind="iid", V="small", seed=0), ValueError, "V must be one of"),
    (dict(L=4, q=3, m=2, kind="iid", seed=0, dtype=torch.int64), TypeError, "dtype"),
    (dict(L=4, q=3, m=2, kind="iid", seed=-1), ValueError, "seed must be an integer >= 0"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        H.init_weights(**kwargs)


def test_sqrt_L_scaling_multiplies_V_for_every_kind():
    for kind in ("tied", "smooth", "iid"):
        V1, W1 = H.init_weights(16, 3, 2, kind=kind, seed=1)
        V2, W2 = H.init_weights(16, 3, 2, kind=kind, seed=1, scaling="1/sqrt(L)")
        assert torch.allclose(V2, 4.0 * V1) and torch.equal(W1, W2)
