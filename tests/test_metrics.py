import math

import numpy as np
import pytest
import torch

import helpers as H
from helpers.metrics import layer_gaps


def test_layer_gaps_on_constructed_weights():
    L = 5
    V = torch.arange(L, dtype=torch.float64).reshape(L, 1, 1).expand(L, 2, 2).clone()  # ||dV|| = 2
    W = torch.zeros(L, 2, 2, dtype=torch.float64)
    W[3] = 1.0                                                                           # ||dW|| = 2 twice
    assert torch.allclose(layer_gaps(V, W), torch.tensor([2.0, 2.0, 4.0, 4.0], dtype=torch.float64))
    assert H.max_layer_gap(V, W) == 4.0
    assert H.max_layer_gap(V[:1], W[:1]) == 0.0


def test_max_gap_of_a_sampled_linear_function_is_slope_over_L():
    for L in (10, 100):
        s = torch.arange(1, L + 1, dtype=torch.float64) / L
        V = (3 * s).reshape(L, 1, 1)
        assert H.max_layer_gap(V, torch.zeros_like(V)) == pytest.approx(3 / L)


def test_depth_distance():
    L_ref, L = 64, 8
    s_ref = torch.arange(1, L_ref + 1, dtype=torch.float64) / L_ref
    V_ref = s_ref.reshape(-1, 1, 1)
    V = V_ref[L_ref // L - 1::L_ref // L]                     # the same function at s = k/L
    zeros = torch.zeros_like
    assert H.depth_distance(V, zeros(V), V_ref, zeros(V_ref)) == 0
    assert H.depth_distance(V + 0.5, zeros(V), V_ref, zeros(V_ref)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="multiple of L"):
        H.depth_distance(V[:7], zeros(V[:7]), V_ref, zeros(V_ref))


def test_fit_loglog_slope_recovers_a_power_law_with_uncertainty():
    x = np.array([2, 4, 8, 16, 32.0])
    fit = H.fit_loglog_slope(x, 3 * x**-1.5)
    assert fit.slope == pytest.approx(-1.5) and fit.stderr == pytest.approx(0, abs=1e-10)
    assert np.allclose(fit.predict(x), 3 * x**-1.5)
    noisy = H.fit_loglog_slope(x, 3 * x**-1.5 * np.array([1.1, 0.9, 1.05, 0.97, 1.02]))
    assert noisy.stderr > 0 and abs(noisy.slope + 1.5) < 3 * noisy.stderr + 0.05
    assert math.isnan(H.fit_loglog_slope([1, 2], [1, 2]).stderr)
    assert "slope -1.50" in str(fit)


@pytest.mark.parametrize("x,y,match", [([1, 2, 3], [1, 0, 2], "positive"), ([1], [1], "at least 2"),
                                       ([1, 2], [1, 2, 3], "same length"), ([2, 2], [1, 3], "two different")])
def test_fit_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        H.fit_loglog_slope(x, y)
