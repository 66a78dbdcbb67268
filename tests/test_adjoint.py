import pytest
import torch

import helpers as H

F64 = torch.float64


def _rel(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


@pytest.mark.parametrize("L,d,m,activation", [(1, 3, 2, "tanh"), (5, 4, 7, "gelu"), (12, 6, 3, "relu"),
                                              (9, 2, 5, "identity"), (30, 8, 16, "tanh")])
@pytest.mark.parametrize("form", ["simple", "paper"])
@pytest.mark.parametrize("normalization", ["n", "nd"])
def test_hand_gradient_equals_autograd_float64(L, d, m, activation, form, normalization):
    gen = torch.Generator().manual_seed(L * 100 + m)
    q = d if form == "simple" else 2 * d + 1
    V = torch.randn(L, q, m, generator=gen, dtype=F64)
    W = torch.randn(L, m, q, generator=gen, dtype=F64)
    if form == "simple":
        net = H.ResNet.simple(V, W, activation)
        x = torch.randn(11, d, generator=gen, dtype=F64)
        y = torch.randn(11, d, generator=gen, dtype=F64)
    else:
        A, B = torch.randn(q, d, generator=gen, dtype=F64), torch.randn(d + 1, q, generator=gen, dtype=F64)
        net = H.ResNet.paper(V, W, A, B, activation)
        x = torch.randn(11, d, generator=gen, dtype=F64)
        y = torch.randn(11, d + 1, generator=gen, dtype=F64)
    loss, g = H.loss_and_gradients(net, x, y, normalization)
    loss_ref, g_ref = H.autograd_gradients(net, x, y, normalization)
    assert abs(loss - loss_ref) <= 1e-12 * abs(loss_ref)
    for name in ("V", "W", "A", "B"):
        a, b = getattr(g, name), getattr(g_ref, name)
        assert (a is None) == (b is None)
        if a is not None:
            assert _rel(a, b) <= 1e-10, name


@pytest.mark.parametrize("activation,keep_u", [("gelu", True), ("gelu", False), ("tanh", True)])
@pytest.mark.parametrize("form", ["simple", "paper"])
def test_hand_gradient_over_several_blocks(activation, form, keep_u, monkeypatch):
    # n * m = 8192 entries per layer: blocks of 32 layers, so L = 70 runs three blocks (the last one short);
    # large W puts the pre-activations over the whole range of erf (GELU's composed path). keep_u=False: a
    # network too large to keep u, which the backward pass then recomputes.
    if not keep_u:
        monkeypatch.setattr(H.adjoint.AdjointWorkspace, "U_MAX_ENTRIES", 0)
    gen = torch.Generator().manual_seed(7)
    L, d, n, m = 70, 3, 128, 64
    q = d if form == "simple" else 2 * d
    V, W = torch.randn(L, q, m, generator=gen, dtype=F64), 3 * torch.randn(L, m, q, generator=gen, dtype=F64)
    if form == "simple":
        net = H.ResNet.simple(V, W, activation)
    else:
        A, B = torch.randn(q, d, generator=gen, dtype=F64), torch.randn(d, q, generator=gen, dtype=F64)
        net = H.ResNet.paper(V, W, A, B, activation)
    x, y = torch.randn(n, d, generator=gen, dtype=F64), torch.randn(n, d, generator=gen, dtype=F64)
    assert (H.adjoint.AdjointWorkspace(net, x, y, "n").U is not None) == (keep_u and activation == "gelu")
    loss, g = H.loss_and_gradients(net, x, y, "n")
    loss_ref, g_ref = H.autograd_gradients(net, x, y, "n")
    assert abs(loss - loss_ref) <= 1e-12 * abs(loss_ref)
    assert _rel(g.V, g_ref.V) <= 1e-10 and _rel(g.W, g_ref.W) <= 1e-10
    assert g.V.is_contiguous() and g.W.is_contiguous()
    # every layer, not only on average: the first block's gradients are the last ones computed
    per_layer = (g.W - g_ref.W).norm(dim=(1, 2)) / g_ref.W.norm(dim=(1, 2))
    assert float(per_layer.max()) <= 1e-9


def test_float32_gradient_close_to_float64():
    V, W = H.init_weights(16, 4, 6, kind="smooth", seed=1)
    x, y = H.gaussian_data(20, 4, seed=0)
    _, g64 = H.loss_and_gradients(H.ResNet.simple(V, W, "gelu"), x, y, "n")
    _, g32 = H.loss_and_gradients(H.ResNet.simple(V.float(), W.float(), "gelu"), x.float(), y.float(), "n")
    assert g32.V.dtype == torch.float32
    assert _rel(g32.V.double(), g64.V) < 1e-4 and _rel(g32.W.double(), g64.W) < 1e-4


def test_gradient_of_layer_scales_like_one_over_L():
    # dloss/dZ_k carries the factor 1/L of the residual: per-layer norms halve when L doubles
    x, y = H.gaussian_data(10, 4, seed=0)
    norms = []
    for L in (16, 32, 64, 128):
        V, W = H.init_weights(L, 4, 6, kind="smooth", seed=3)
        _, g = H.loss_and_gradients(H.ResNet.simple(V, W, "tanh"), x, y, "n")
        norms.append(float(g.W.norm(dim=(1, 2)).mean()))
    assert abs(H.fit_loglog_slope([16, 32, 64, 128], norms).slope + 1) < 0.05


def test_mismatched_dtypes_raise_type_error():
    V, W = H.init_weights(4, 3, 2, kind="iid", seed=0)
    x, y = H.gaussian_data(5, 3, seed=0, dtype=torch.float32)
    with pytest.raises(TypeError, match="dtype"):
        H.loss_and_gradients(H.ResNet.simple(V, W), x, y, "n")


def test_bad_target_shape_and_normalization():
    V, W = H.init_weights(4, 3, 2, kind="iid", seed=0)
    x, y = H.gaussian_data(5, 3, seed=0)
    net = H.ResNet.simple(V, W)
    with pytest.raises(ValueError, match="y must have shape"):
        H.loss_and_gradients(net, x, y[:, :2], "n")
    with pytest.raises(ValueError, match="normalization"):
        H.loss_and_gradients(net, x, y, "mean")


def test_forward_backward_states_record():
    net = H.make_resnet(6, 4, 5, kind="smooth", seed=0, activation="tanh")
    x, y = H.gaussian_data(7, 4, seed=1)
    st = H.forward_backward_states(net, x, y, "n")
    assert st.L == 6 and st.H.shape == st.P.shape == (7, 7, 4)
    out, states = net(x, return_states=True)
    assert torch.allclose(st.H, states) and st.loss == pytest.approx(float(net.loss(x, y, "n")))
    loss, g = H.loss_and_gradients(net, x, y, "n")
    assert torch.allclose(st.grads.V, g.V) and torch.allclose(st.P[-1], 2 * (out - y) / 7)
    with pytest.raises(TypeError, match="net"):
        H.forward_backward_states("net", x, y, "n")


def test_relative_error_of_gradients():
    from helpers.adjoint import Gradients
    V, W = torch.ones(2, 3, 4, dtype=F64), torch.ones(2, 4, 3, dtype=F64)
    ref = Gradients(V, W)
    assert Gradients(V.clone(), W.clone()).relative_error(ref) == 0.0
    # V off by 1 in each of its 24 entries: ||dg|| = sqrt(24) over ||g|| = sqrt(48), all weights pooled
    assert Gradients(2 * V, W).relative_error(ref) == pytest.approx(0.5 ** 0.5)
    with pytest.raises(ValueError, match="gradient A is present in one set"):
        Gradients(V, W, A=torch.ones(3, 3, dtype=F64)).relative_error(ref)
    with pytest.raises(ValueError, match="gradient V has shape"):
        Gradients(V[:1], W).relative_error(ref)
    zero = Gradients(0 * V, 0 * W)
    with pytest.raises(ValueError, match="reference gradient is zero"):
        ref.relative_error(zero)
    assert zero.relative_error(zero) == 0.0
    assert Gradients(V.float(), W.float()).relative_error(ref) == 0.0      # dtypes may differ
    with pytest.raises(TypeError, match="reference must be a helpers.Gradients"):
        ref.relative_error((V, W))


def test_relative_error_accepts_states_as_reference():
    x, y = H.gaussian_data(5, 3, seed=0)
    st = H.forward_backward_states(H.make_resnet(4, 3, 2, kind="iid", seed=0), x, y, "n")
    assert st.grads.relative_error(st) == 0.0
    _, g_auto = H.autograd_gradients(H.make_resnet(4, 3, 2, kind="iid", seed=0), x, y, "n")
    assert st.grads.relative_error(g_auto) < 1e-13
