import math

import pytest
import torch

import helpers as H
from helpers.resnet import theory_input_output_maps


def test_forward_shapes_and_states():
    V, W = H.init_weights(6, 4, 5, kind="iid", seed=0)
    net = H.ResNet.simple(V, W, "tanh")
    x, _ = H.gaussian_data(7, 4, seed=0)
    out, states = net(x, return_states=True)
    assert out.shape == (7, 4) and states.shape == (7, 7, 4)
    assert torch.equal(states[0], x) and torch.allclose(states[-1], out)


def test_forward_matches_one_explicit_step():
    V, W = H.init_weights(1, 3, 2, kind="iid", seed=0)
    x, _ = H.gaussian_data(4, 3, seed=1)
    out = H.ResNet.simple(V, W, "gelu")(x)
    expected = x + torch.nn.functional.gelu(x @ W[0].T) @ V[0].T / 1
    assert torch.allclose(out, expected)


def test_paper_form_normalisations_and_maps():
    L, d, m = 5, 2, 3
    q = 2 * d
    A, B = theory_input_output_maps(d, d, q)
    assert torch.equal(A[:d], torch.eye(d, dtype=torch.float64)) and A[d:].abs().sum() == 0
    V, W = H.init_weights(L, q, m, kind="iid", seed=0)
    net = H.ResNet.paper(V, W, A, B, "tanh")
    assert math.isclose(net.residual_scale, 1 / (L * math.sqrt(m)))
    assert math.isclose(net.inner_scale, 1 / math.sqrt(q))
    x, _ = H.gaussian_data(3, d, seed=0)
    h = x @ A.T
    for k in range(L):
        h = h + torch.tanh(h @ W[k].T / math.sqrt(q)) @ V[k].T / (L * math.sqrt(m))
    assert torch.allclose(net(x), h @ B.T)


def test_theory_initialisation_is_the_identity_on_inputs_then_zero_output():
    # V = 0: the network is the trivial ODE dH/ds = 0; B picks coordinates A does not fill -> F(x) = 0
    d = 3
    A, B = theory_input_output_maps(d, d, 2 * d)
    V, W = H.init_weights(8, 2 * d, 5, kind="tied", V="zero", seed=0)
    x, _ = H.gaussian_data(4, d, seed=0)
    assert H.ResNet.paper(V, W, A, B)(x).abs().max() == 0


def test_mse_loss_normalizations():
    out, y = torch.ones(4, 3), torch.zeros(4, 3)
    assert float(H.mse_loss(out, y, "n")) == 3.0
    assert float(H.mse_loss(out, y, "nd")) == 1.0


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(V=torch.zeros(0, 3, 2), W=torch.zeros(0, 2, 3)), ValueError, "depth L"),
    (dict(V=torch.zeros(4, 3, 2), W=torch.zeros(4, 3, 2)), ValueError, r"W must have shape \(4, 2, 3\)"),
    (dict(V=torch.zeros(4, 3, 2), W=torch.zeros(4, 2, 3), activation="softsign"), ValueError, "activation"),
    (dict(V=torch.zeros(4, 3, 2), W=torch.zeros(4, 2, 3, dtype=torch.float64)), TypeError, "dtype"),
    (dict(V=torch.zeros(4, 3, 2, dtype=torch.int64), W=torch.zeros(4, 2, 3)), TypeError, "floating-point"),
    (dict(V=torch.full((4, 3, 2), float("nan")), W=torch.zeros(4, 2, 3)), ValueError, "NaN"),
    (dict(V=[[0.0]], W=torch.zeros(4, 2, 3)), TypeError, "torch.Tensor"),
])
def test_bad_networks_raise_clear_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        H.ResNet(**kwargs)


def test_bad_inputs_raise_clear_errors():
    V, W = H.init_weights(3, 4, 2, kind="iid", seed=0)
    net = H.ResNet.simple(V, W)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 4\)"):
        net(torch.zeros(5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        net(torch.full((5, 4), float("nan"), dtype=torch.float64))
    with pytest.raises(TypeError, match="dtype"):
        net(torch.zeros(5, 4))
    with pytest.raises(ValueError, match="q must be >= d \\+ d_out"):
        theory_input_output_maps(3, 3, 5)
    with pytest.raises(ValueError, match="needs both maps"):
        H.ResNet.paper(V, W, None, None)


def test_make_resnet_is_the_one_factory():
    net = H.make_resnet(8, 4, 6, kind="tied", V="zero", seed=3)
    V, W = H.init_weights(8, 4, 6, kind="tied", V="zero", seed=3)
    assert torch.equal(net.V, V) and torch.equal(net.W, W) and not net.normalized and net.A is None
    norm = H.make_resnet(8, 4, 6, kind="iid", scaling="1/sqrt(L)", form="normalized", seed=1, activation="tanh")
    assert norm.normalized and norm.A is None and norm.activation == "tanh"
    paper = H.make_resnet(8, 6, 5, kind="smooth", form="paper", d=2, d_out=3, seed=0)
    A, B = theory_input_output_maps(2, 3, 6)
    assert torch.equal(paper.A, A) and torch.equal(paper.B, B) and paper.normalized
    assert H.make_resnet(4, 3, 2, kind="iid", seed=0, dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(form="wide"), ValueError, "form"),
    (dict(form="paper"), ValueError, "d_out"),
    (dict(d=2), ValueError, "d and d_out"),
    (dict(activation="swish"), ValueError, "activation"),
    (dict(kind="gaussian"), ValueError, "kind"),
    (dict(dtype=torch.int32), TypeError, "dtype"),
])
def test_make_resnet_bad_arguments(kwargs, exc, name):
    args = dict(kind="tied", seed=0) | kwargs
    with pytest.raises(exc, match=name):
        H.make_resnet(4, 6, 2, **args)


def test_mse_loss_names_a_list():
    with pytest.raises(TypeError, match="y"):
        H.mse_loss(torch.zeros(2, 2), [[0.0, 0.0], [0.0, 0.0]], "n")
